//! A root filesystem's other artifacts: the tree itself as a tar archive
//! (plain, gzip or zstd) or as a container image (OCI layout, OCI archive,
//! docker archive), with the configuration's generated files — the host
//! name and the additional files — as on a disk, and no `/etc/fstab`.

use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use blocksink::PendingFile;
use container::{Compression, ImageOptions, ImageWriter, Layout, WrittenImage};

use crate::custom::Customized;
use crate::error;
use crate::live::{write_live_iso, LiveOptions};
use crate::rootfs::{missing_parents, Entry, EntryKind, EntrySource};
use crate::BuildOptions;
use crate::{Error, Result};
use rootfs::TarWriter;

/// What a tree output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeKind {
    /// The rootfs as one tar, so compressed.
    Archive(Compression),
    /// A container image in this layout.
    Image(Layout),
    /// A bootable live ISO: the tree as a squashfs image, booted by the
    /// tree's own boot loaders.
    LiveIso,
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
        matches!(self.kind, TreeKind::Archive(_) | TreeKind::LiveIso)
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
    TreeFormat {
        name: "iso",
        aliases: &["live-iso"],
        extension: "iso",
        description: "a live ISO: the tree as LiveOS/squashfs.img, booted by its GRUB or systemd-boot (BIOS and UEFI, CD or USB stick)",
        kind: TreeKind::LiveIso,
    },
];

/// The tree format called `name` (or one of its aliases).
pub fn tree_format(name: &str) -> Option<&'static TreeFormat> {
    TREE_FORMATS.iter().find(|f| f.is_called(name))
}

/// The tar archive format a file name asks for by its suffix
/// ([`Compression::from_file_name`]: `.gz` and `.tgz` gzip, `.zst` and
/// `.tzst` zstd, anything else none).
pub fn archive_format(name: &str) -> &'static TreeFormat {
    let kind = TreeKind::Archive(Compression::from_file_name(name));
    TREE_FORMATS
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or(&TREE_FORMATS[0])
}

/// Where a tree output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeTarget {
    /// A file (or, for an OCI layout, a directory), made under a temporary
    /// name and placed when complete.
    Path(PathBuf),
    /// Standard output (archives only).
    Stdout,
}

/// How tree outputs are stamped and described.
#[derive(Clone, Debug, Default)]
pub struct TreeOptions {
    /// Modification time of the generated files, seconds since 1970.
    pub time: i64,
    /// A container image's configuration, reference and layer compression
    /// (its layout comes from the format).
    pub image: ImageOptions,
    /// A live ISO's stamp and scratch directory.
    pub build: BuildOptions,
    /// A live ISO's volume id and root image compression.
    pub live: LiveOptions,
}

/// What [`write_tree`] wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WrittenTree {
    /// The format's name.
    pub format: &'static str,
    /// Where (`None`: standard output).
    pub path: Option<PathBuf>,
    /// Bytes written (a directory's files together).
    pub bytes: u64,
    /// Entries in the tree.
    pub entries: u64,
    /// The image's manifest, config and layers, for a container image.
    pub image: Option<WrittenImage>,
}

/// Writes `tree` as `format` to `target`.
pub fn write_tree(
    tree: &Customized<'_>,
    format: &TreeFormat,
    target: &TreeTarget,
    options: &TreeOptions,
) -> Result<WrittenTree> {
    let config = tree.config();
    let source: &dyn EntrySource = tree;
    let shown = match target {
        TreeTarget::Path(p) => p.clone(),
        TreeTarget::Stdout => PathBuf::from("<stdout>"),
    };
    let io_err = |e: io::Error| Error::file(&shown, e);
    match (format.kind, target) {
        (TreeKind::Archive(compression), TreeTarget::Stdout) => {
            let out = Counted::new(BufWriter::with_capacity(1 << 20, io::stdout()));
            let (out, entries) = archive(source, compression, out, &shown)?;
            Ok(WrittenTree {
                format: format.name,
                path: None,
                bytes: out.count,
                entries,
                image: None,
            })
        }
        (TreeKind::Archive(compression), TreeTarget::Path(path)) => {
            let pending = PendingFile::create(path).map_err(io_err)?;
            let file = pending.file().map_err(io_err)?;
            let out = Counted::new(BufWriter::with_capacity(1 << 20, file));
            let (out, entries) = archive(source, compression, out, &shown)?;
            drop(out.inner);
            pending.commit().map_err(io_err)?;
            Ok(WrittenTree {
                format: format.name,
                path: Some(path.clone()),
                bytes: out.count,
                entries,
                image: None,
            })
        }
        (TreeKind::LiveIso, target) => {
            write_live_iso(config, source, target, &options.build, &options.live)
        }
        (TreeKind::Image(_), TreeTarget::Stdout) => Err(error::layout(format!(
            "{} cannot be written to a pipe (each blob's header is written once its digest is known); name a file",
            format.name
        ))),
        (TreeKind::Image(layout), TreeTarget::Path(path)) => {
            let image_options = ImageOptions {
                layout: Some(layout),
                ..options.image.clone()
            };
            let mut image = ImageWriter::create(path, image_options)?;
            let mut layer = image.layer()?;
            let mut tar = TarWriter::new(&mut layer);
            let entries = emit(source, &mut tar, &shown)?;
            tar.finish().map_err(io_err)?;
            layer.finish()?;
            let written = image.finish()?;
            Ok(WrittenTree {
                format: format.name,
                path: Some(path.clone()),
                bytes: written.bytes,
                entries,
                image: Some(written),
            })
        }
    }
}

/// The tree as a tar archive so compressed into `out`; returns `out` and
/// the number of entries.
fn archive<W: Write>(
    source: &dyn EntrySource,
    compression: Compression,
    out: W,
    shown: &Path,
) -> Result<(W, u64)> {
    let io_err = |e: io::Error| Error::file(shown, e);
    let mut tar = TarWriter::new(compression.encoder(out).map_err(io_err)?);
    let entries = emit(source, &mut tar, shown)?;
    let mut out = tar.finish().and_then(|e| e.finish()).map_err(io_err)?;
    out.flush().map_err(io_err)?;
    Ok((out, entries))
}

/// Every entry of `source` into `tar`; a parent directory the tree lacks
/// is added before its first child (root's, mode 0755), as an unpacker
/// would make it.
pub(crate) fn emit<W: Write>(
    source: &dyn EntrySource,
    tar: &mut TarWriter<W>,
    shown: &Path,
) -> Result<u64> {
    let mut out = Emitter {
        tar,
        shown,
        source: source.name().display().to_string(),
        dirs: HashSet::new(),
        entries: 0,
    };
    source.walk(&mut |entry, data| out.put(entry, data))?;
    Ok(out.entries)
}

/// Entries going into a tar, parents first.
struct Emitter<'a, W: Write> {
    tar: &'a mut TarWriter<W>,
    shown: &'a Path,
    /// The source's name, for an error reading an entry's data.
    source: String,
    dirs: HashSet<String>,
    entries: u64,
}

impl<W: Write> Emitter<'_, W> {
    fn put(&mut self, entry: &Entry, data: &mut dyn io::Read) -> Result<()> {
        let io_err = |e: io::Error| Error::file(self.shown, e);
        for dir in missing_parents(&entry.path, |d| self.dirs.contains(d)) {
            let parent = Entry::implied_dir(dir.clone(), entry.mtime);
            self.tar
                .append(&dir, &parent, &mut io::empty())
                .map_err(io_err)?;
            self.dirs.insert(dir);
            self.entries += 1;
        }
        if entry.kind == EntryKind::Dir {
            self.dirs.insert(entry.path.clone());
        }
        let mut watched = Watched {
            inner: data,
            failed: false,
        };
        self.tar
            .append(&entry.path, entry, &mut watched)
            .map_err(|e| match watched.failed {
                // Reading the tree failed, not writing the output.
                true => Error::file(format!("{} ({})", self.source, entry.path), e),
                false => io_err(e),
            })?;
        self.entries += 1;
        Ok(())
    }
}

/// A reader that remembers whether it failed.
struct Watched<'a> {
    inner: &'a mut dyn io::Read,
    failed: bool,
}

impl io::Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        self.failed |= r.is_err();
        r
    }
}

/// A writer that counts the bytes through it.
struct Counted<W> {
    inner: W,
    count: u64,
}

impl<W> Counted<W> {
    fn new(inner: W) -> Self {
        Counted { inner, count: 0 }
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
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

    #[test]
    fn an_archive_name_picks_the_format_of_its_compression() {
        for (name, format) in [
            ("rootfs.tar", "tar"),
            ("rootfs", "tar"),
            ("", "tar"),
            ("rootfs.tar.gz", "tar.gz"),
            ("rootfs.tgz", "tar.gz"),
            ("rootfs.tar.zst", "tar.zst"),
            ("rootfs.tzst", "tar.zst"),
        ] {
            let f = archive_format(name);
            assert_eq!(f.name, format, "{name}");
            assert_eq!(f.kind, TreeKind::Archive(Compression::from_file_name(name)));
        }
    }
}
