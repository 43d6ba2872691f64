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

/// What a tree output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeKind {
    /// The rootfs as one tar, so compressed.
    Archive(Compression),
    /// A container image in this layout.
    Image(Layout),
}

/// An output made from a root filesystem rather than from a disk.
#[derive(Debug, PartialEq, Eq)]
pub struct TreeFormat {
    /// The name a program selects it by, unique among every format's.
    pub name: &'static str,
    /// Other names accepted for it.
    pub aliases: &'static [&'static str],
    /// The output's name extension (`<stem>.<extension>`), without the dot.
    pub extension: &'static str,
    /// What it is, in one line.
    pub description: &'static str,
    /// What is written.
    pub kind: TreeKind,
}

impl TreeFormat {
    /// Whether `name` is this format's name or one of its aliases.
    pub fn is_called(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }

    /// Whether the output can be written to a pipe (image archives need to
    /// go back to a blob's header once its digest is known).
    pub fn streams(&self) -> bool {
        matches!(self.kind, TreeKind::Archive(_))
    }
}

/// Every tree output, in the order `--help` lists them.
pub const TREE_FORMATS: &[TreeFormat] = &[
    TreeFormat {
        name: "tar",
        aliases: &["rootfs-tar"],
        extension: "tar",
        description: "the root filesystem as a tar archive (owners, modes, links, devices, xattrs)",
        kind: TreeKind::Archive(Compression::None),
    },
    TreeFormat {
        name: "tar.gz",
        aliases: &["tgz", "tar-gz"],
        extension: "tar.gz",
        description: "the root filesystem as a gzip tar, compressed on every core (Azure Linux's container artifact)",
        kind: TreeKind::Archive(Compression::GZIP),
    },
    TreeFormat {
        name: "tar.zst",
        aliases: &["tzst", "tar-zst"],
        extension: "tar.zst",
        description: "the root filesystem as a zstd tar",
        kind: TreeKind::Archive(Compression::ZSTD),
    },
    TreeFormat {
        name: "oci",
        aliases: &["oci-dir"],
        extension: "oci",
        description: "an OCI image layout directory (skopeo oci:, umoci)",
        kind: TreeKind::Image(Layout::Directory),
    },
    TreeFormat {
        name: "oci-archive",
        aliases: &[],
        extension: "oci.tar",
        description: "an OCI image layout as one tar (skopeo oci-archive:, podman load)",
        kind: TreeKind::Image(Layout::OciArchive),
    },
    TreeFormat {
        name: "docker-archive",
        aliases: &["docker"],
        extension: "docker.tar",
        description: "a docker archive with uncompressed layers (docker load, podman load)",
        kind: TreeKind::Image(Layout::DockerArchive),
    },
];

/// The tree format called `name` (or one of its aliases).
pub fn tree_format(name: &str) -> Option<&'static TreeFormat> {
    TREE_FORMATS.iter().find(|f| f.is_called(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_extensions_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in TREE_FORMATS {
            for n in std::iter::once(&f.name).chain(f.aliases) {
                assert!(seen.insert(*n), "{n} twice");
            }
            assert_eq!(tree_format(f.name), Some(f));
        }
        let ext: std::collections::HashSet<_> = TREE_FORMATS.iter().map(|f| f.extension).collect();
        assert_eq!(ext.len(), TREE_FORMATS.len());
    }
}
