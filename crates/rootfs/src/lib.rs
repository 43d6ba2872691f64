//! The root filesystem as a stream of entries: the model both stages
//! share.
//!
//! The package stage (`diskimg-pkg`) makes a tree as entries; the build
//! stage (`diskimg-build`) reads entries into file systems, archives and
//! container layers. Between them sits this crate: an [`Entry`] (path,
//! kind, owner, mode, time, xattrs), the [`EntrySource`] trait anything
//! that yields entries implements, the readers of a directory or a tar
//! archive ([`Rootfs`]), the tar writer ([`TarWriter`]), and the path rules
//! every one of them keeps ([`paths`]): no absolute names, no `..`, and a
//! symbolic link never followed out of the root. It knows neither packages
//! nor disks; it depends only on `diskimg-blocksink`, whose [`Error`] it
//! reports with.
//!
//! From an archive, owners, modes, times, links, device nodes and extended
//! attributes are taken as the archive records them (pax `SCHILY.xattr.*`
//! and `LIBARCHIVE.xattr.*` records), never from the user reading it. From a
//! directory they are what `lstat` and `llistxattr` report. Either way every
//! path is relative to the root, with no `.` or `..` component: an absolute
//! member or one that climbs out is an error naming it.
//!
//! # Example
//!
//! ```no_run
//! use rootfs::{EntrySource, Rootfs, TarWriter};
//!
//! // A directory (or a tar archive, compressed or not) to a tar archive.
//! let tree = Rootfs::open("/srv/tree")?;
//! let mut tar = TarWriter::new(std::fs::File::create("tree.tar")?);
//! tree.walk(&mut |entry, data| {
//!     tar.append(&entry.path, entry, data)
//!         .map_err(|e| rootfs::Error::file("tree.tar", e))
//! })?;
//! tar.finish()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use blocksink::{Error, Result};

mod archive;
mod dir;
pub mod paths;
mod write;

pub use dir::walk_dir_with;
pub use paths::{missing_parents, normalize, note_parents, resolve_parents, under};
pub use write::TarWriter;

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file of `len` bytes (its bytes follow in the stream).
    File {
        /// Its length.
        len: u64,
    },
    /// A symbolic link to `target`, kept as written.
    Symlink {
        /// What it points at.
        target: String,
    },
    /// A hard link to an earlier entry, by its relative path.
    HardLink {
        /// The earlier entry.
        target: String,
    },
    /// A character device.
    Char {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    Block {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// One file of the tree, as the source records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The path below the root, `/`-separated, without a leading `/`; empty
    /// for the root itself.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits with set-id and sticky bits (`0o7777` at most).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since 1970.
    pub mtime: i64,
    /// Extended attributes by full name (`security.capability`, …), in the
    /// order recorded.
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Entry {
    /// A directory no source lists but a path below it needs: 0755,
    /// root's, with `mtime`.
    pub fn implied_dir(path: String, mtime: i64) -> Entry {
        Entry {
            path,
            kind: EntryKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime,
            xattrs: Vec::new(),
        }
    }
}

/// Where a root filesystem is read from.
#[derive(Debug)]
pub struct Rootfs {
    path: PathBuf,
    dir: bool,
}

impl Rootfs {
    /// Opens `path`, a directory or a tar archive (compression detected by
    /// its first bytes).
    pub fn open(path: impl AsRef<Path>) -> Result<Rootfs> {
        let path = path.as_ref();
        let meta = fs::metadata(path).map_err(|e| {
            rootfs_error(
                path,
                None,
                format!("cannot be read as a root filesystem: {e}"),
            )
        })?;
        Ok(Rootfs {
            path: path.to_path_buf(),
            dir: meta.is_dir(),
        })
    }

    /// The directory or archive.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Calls `visit` with every entry in order, parents before their
    /// children when the source lists them so, and a regular file's bytes
    /// (exactly its length: a shorter member is a truncated archive).
    pub fn walk(&self, visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>) -> Result<()> {
        if self.dir {
            dir::walk_dir(&self.path, visit)
        } else {
            archive::walk_archive(&self.path, visit)
        }
    }
}

/// Where a root filesystem's entries come from: a [`Rootfs`] (directory
/// or archive), or anything else that makes them as a stream — packages
/// being unpacked, say — in the order a tar archive would hold them.
pub trait EntrySource {
    /// What the entries come from, as errors name it.
    fn name(&self) -> &Path;
    /// Calls `visit` with every entry in order, a regular file's bytes after
    /// it (exactly its length).
    fn walk(&self, visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>) -> Result<()>;
}

impl EntrySource for Rootfs {
    fn name(&self) -> &Path {
        &self.path
    }

    fn walk(&self, visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>) -> Result<()> {
        Rootfs::walk(self, visit)
    }
}

/// An error about `member` of the entries `source` gives.
pub fn source_error(
    source: &dyn EntrySource,
    member: Option<&str>,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Error {
    rootfs_error(source.name(), member, message)
}

/// An error about `member` of the directory or archive `path`.
pub fn rootfs_error(
    path: &Path,
    member: Option<&str>,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Error {
    let e = Error::corrupt("", message).path(path);
    match member {
        Some(m) => e.member(m),
        None => e,
    }
}
