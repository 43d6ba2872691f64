//! A bootable OS disk from a root filesystem, without root.
//!
//! The image-generation stage of a distribution build: a root filesystem
//! (a directory, or a tar archive as any tool makes one) and an image
//! configuration become a partitioned disk, read by the `imgconv` fan-out
//! straight into every output format.
//!
//! # Example
//!
//! ```no_run
//! use blocksink::{convert, Destination};
//! use imgbuild::{build_disk, BuildOptions, ImageConfig, Rootfs};
//!
//! let config = ImageConfig::load("core-efi.json")?;
//! let rootfs = Rootfs::open("rootfs.tar.zst")?;
//! let mut built = build_disk(&config, &rootfs, &BuildOptions::default())?;
//! // The disk is a BlockSource: any writer reads it, several at once.
//! let out = Destination::file(std::fs::File::create("core.qcow2")?);
//! let mut qcow2 = qcow2::Qcow2Writer::new(out, Default::default())?;
//! convert(&mut built.disk, &mut [&mut qcow2], &mut |_, _| {})?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`config`] reads Azure Linux's two configuration formats into one model,
//! [`ImageConfig`]: the toolkit's image configuration JSON and Image
//! Customizer's YAML. A field the build does not honour is an error naming
//! the field and the file, never silently dropped.

mod boot;
pub mod config;
mod disk;
mod edit;
mod error;
pub mod ext;
pub mod layers;
pub mod live;
pub mod rootfs;
mod tree;
mod vfat;

pub use config::{
    AdditionalFile, Artifact, BootLoader, BootType, FileSource, FsType, ImageConfig, KernelModule,
    ModuleLoad, Mount, MountIdentifier, PartitionRole, PartitionSpec,
};
pub use disk::{build_disk, BuildOptions, BuiltDisk, BuiltPartition, InstalledLoader};
pub use error::{Error, Result};
pub use live::LiveOptions;
pub use rootfs::TarWriter;
pub use rootfs::{open_rootfs, EntrySource, Rootfs};
pub use tree::{
    tree_format, write_tree, TreeFormat, TreeKind, TreeOptions, TreeTarget, WrittenTree,
    TREE_FORMATS,
};
