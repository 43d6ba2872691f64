//! FAT file systems (an EFI system partition): the partition's files go
//! straight into the `fat` crate's tree as the rootfs is read (their bytes
//! kept in one unnamed temporary file until the layout is known), then are
//! laid out — FAT12, 16 or 32 by size, as `mkfs.vfat` chooses — into an
//! image file.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use blocksink::{BuildStamp, Destination, RawFile};
use fat::{ErrorKind, FatTree, FatType};

use crate::config::FsType;
use crate::error;
use crate::rootfs::{Entry, EntryKind};
use crate::{Error, Result};

/// A FAT file system's files, gathered.
pub(crate) struct FatMaker {
    what: String,
    fs: FsType,
    /// The file system's size; 0 for the smallest whole MiB that holds
    /// the files.
    size: u64,
    /// The files, named in errors where the file system is mounted in the
    /// tree (`/boot/efi`).
    tree: FatTree,
    work: PathBuf,
}

/// A finished FAT image.
pub(crate) struct FatMade {
    pub(crate) image: RawFile,
    pub(crate) size: u64,
    pub(crate) volume_id: u32,
    pub(crate) note: Option<String>,
}

impl FatMaker {
    pub(crate) fn new(
        what: &str,
        fs: FsType,
        size: u64,
        mount: Option<&str>,
        work: &Path,
    ) -> FatMaker {
        let shown_root = match mount {
            Some(m) => format!("/{m}"),
            None => format!("({what})"),
        };
        FatMaker {
            what: what.to_string(),
            fs,
            size,
            tree: FatTree::new_in(shown_root, work),
            work: work.to_path_buf(),
        }
    }

    /// Adds `entry` at `path` (relative to this file system's root; checked
    /// free of `..` and absolute parts by the reader).
    pub(crate) fn add(&mut self, path: &str, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        let refuse = |what: &str| {
            error::layout(format!(
                "{}: {path} is {what}, which a FAT file system cannot hold",
                self.what
            ))
        };
        if path.is_empty() {
            return Ok(());
        }
        let mut data = Kept { data, error: None };
        let added = match &entry.kind {
            EntryKind::Dir => self.tree.add_dir(path),
            EntryKind::File { len } => self.tree.add_file(path, *len, &mut data),
            // FAT has no links: the file's bytes again.
            EntryKind::HardLink { target } => self.tree.add_copy(path, target),
            EntryKind::Symlink { .. } => return Err(refuse("a symbolic link")),
            EntryKind::Char { .. } | EntryKind::Block { .. } => {
                return Err(refuse("a device node"))
            }
            EntryKind::Fifo => return Err(refuse("a named pipe")),
        };
        added.map_err(|e| match e.io_error() {
            // Reading the source failed: the source's error, as the ext
            // maker names it.
            Some(io) if e.kind() == ErrorKind::Io => Error::file(
                format!("{} ({path})", self.what),
                data.error
                    .take()
                    .unwrap_or_else(|| io::Error::new(io.kind(), io.to_string())),
            ),
            _ => self.layout(e),
        })
    }

    fn layout(&self, e: fat::Error) -> Error {
        error::layout(format!("{}: {e}", self.what))
    }

    /// Lays the files out in a file system of the partition's size.
    pub(crate) fn finish(self, label: &str, stamp: &BuildStamp) -> Result<FatMade> {
        let size = match self.size {
            0 => self
                .tree
                .size_needed(label, 0)
                .map_err(|e| self.layout(e))?,
            size => size,
        };
        let what = self.what;
        let shown = |e: fat::Error| error::layout(format!("{what}: {e}"));
        let fat = self.tree.build(size, label, stamp).map_err(shown)?;
        let got = fat.geometry().fat_type;
        let note = match (self.fs, got) {
            (FsType::Fat32, FatType::Fat12 | FatType::Fat16) | (FsType::Fat16, FatType::Fat32) => {
                Some(format!(
                    "{what}: {size} bytes hold {got:?} as mkfs.vfat makes it (FAT32 from 512 MiB)"
                ))
            }
            _ => None,
        };
        let file = tempfile::tempfile_in(&self.work).map_err(|e| Error::file(&self.work, e))?;
        file.set_len(size)
            .map_err(|e| Error::file("FAT image", e))?;
        let mut dest =
            Destination::file(file.try_clone().map_err(|e| Error::file("FAT image", e))?);
        fat.write(&mut dest, 0).map_err(shown)?;
        drop(dest);
        Ok(FatMade {
            image: RawFile::new(file).map_err(|e| Error::file("FAT image", e))?,
            size,
            volume_id: fat.volume_id(),
            note,
        })
    }
}

/// A file's bytes as the FAT tree reads them, the source's error kept
/// whole: the tree's error names the file, the build's is the source's.
struct Kept<'a> {
    data: &'a mut dyn Read,
    error: Option<io::Error>,
}

impl Read for Kept<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.data.read(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                return e;
            }
            let told = io::Error::new(e.kind(), e.to_string());
            self.error = Some(e);
            told
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that fails as a package's payload or an archive can.
    struct Failing;

    #[derive(Debug)]
    struct Cut;

    impl std::fmt::Display for Cut {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("the payload is cut short")
        }
    }

    impl std::error::Error for Cut {}

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::InvalidData, Cut))
        }
    }

    #[test]
    fn a_file_that_cannot_be_read_is_the_sources_error_naming_the_file() {
        let work = tempfile::tempdir().unwrap();
        let mut esp = FatMaker::new("the ESP", FsType::Vfat, 0, Some("boot/efi"), work.path());
        let entry = Entry {
            path: "boot/efi/EFI/BOOT/BOOTX64.EFI".into(),
            kind: EntryKind::File { len: 10 },
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: Vec::new(),
        };
        let err = esp
            .add("EFI/BOOT/BOOTX64.EFI", &entry, &mut Failing)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the ESP (EFI/BOOT/BOOTX64.EFI): the payload is cut short"
        );
        // The source's own error, whole.
        let Some(source) = err.io_error() else {
            panic!("{err:?}")
        };
        assert!(
            source.get_ref().is_some_and(|e| e.is::<Cut>()),
            "{source:?}"
        );

        // Data that ends early: the FAT tree's own words.
        let err = esp
            .add("EFI/BOOT/BOOTX64.EFI", &entry, &mut &b"MZ"[..])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the ESP (EFI/BOOT/BOOTX64.EFI): the data ends after 2 of its 10 bytes"
        );
    }
}
