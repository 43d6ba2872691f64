//! Container images and root filesystem archives, written in one pass.
//!
//! A root filesystem's other artifacts beside a disk: the rootfs as a tar
//! (plain, gzip or zstd — Azure Linux's container artifact), and container
//! images — an OCI image layout, the same as one tar (`oci-archive`), or a
//! docker archive (`docker load`). Layers are tar streams written into a
//! [`LayerWriter`]: gzip runs on every core ([`gzip::ParallelGzip`]), and
//! digests are computed as the bytes pass, so nothing is read twice.
//! [`ImageReader`] reads such images back, layer by layer, digests checked.
//!
//! # Example
//!
//! ```no_run
//! use std::io::Write;
//! use container::{ImageOptions, ImageWriter, Layout, Reference};
//!
//! let options = ImageOptions {
//!     layout: Some(Layout::OciArchive),
//!     reference: Some(Reference::parse("example/os:1.0")?),
//!     ..Default::default()
//! };
//! let mut image = ImageWriter::create("os.oci.tar".as_ref(), options)?;
//! let mut layer = image.layer()?;
//! let mut tar = tar::Builder::new(&mut layer);
//! tar.append_dir_all(".", "rootfs")?;
//! tar.into_inner()?;
//! layer.finish()?;
//! let written = image.finish()?;
//! println!("{}", written.manifest.digest);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compress;
pub mod gzip;
mod image;
mod read;

pub use compress::{Compression, Encoder};
pub use image::{
    ContainerConfig, Descriptor, ImageOptions, ImageWriter, LayerInfo, LayerWriter, Layout,
    Reference, WrittenImage,
};
pub use read::{ImageLayer, ImageReader, ImageSource, LayerStream, JSON_LIMIT, MAX_LAYERS};
