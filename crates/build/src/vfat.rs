//! FAT file systems (an EFI system partition): the partition's files are
//! gathered in a scratch directory as the rootfs is read, then laid out by
//! the `iso9660` crate's FAT writer — FAT12, 16 or 32 by size, as
//! `mkfs.vfat` chooses — into an image file.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use blocksink::{BuildStamp, Destination, RawFile};
use iso9660::fat::{FatTree, FatType};

use crate::config::FsType;
use crate::rootfs::{Entry, EntryKind};
use crate::{Error, Result};

/// A FAT file system's files, gathered.
pub(crate) struct FatMaker {
    what: String,
    fs: FsType,
    /// The file system's size; 0 for the smallest whole MiB that holds
    /// the files.
    size: u64,
    dir: tempfile::TempDir,
    work: PathBuf,
    /// Where the file system is mounted in the tree (`/boot/efi`), to name
    /// its files in errors.
    shown_root: String,
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
    ) -> Result<FatMaker> {
        let dir = tempfile::Builder::new()
            .prefix("fat-")
            .tempdir_in(work)
            .map_err(|e| Error::io(work, e))?;
        Ok(FatMaker {
            what: what.to_string(),
            fs,
            size,
            dir,
            work: work.to_path_buf(),
            shown_root: match mount {
                Some(m) => format!("/{m}"),
                None => format!("({what})"),
            },
        })
    }

    /// Adds `entry` at `path` (relative to this file system's root; checked
    /// free of `..` and absolute parts by the reader).
    pub(crate) fn add(&mut self, path: &str, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        let refuse = |what: &str| {
            Error::Layout(format!(
                "{}: {path} is {what}, which a FAT file system cannot hold",
                self.what
            ))
        };
        if path.is_empty() {
            return Ok(());
        }
        let dest = self.dir.path().join(path);
        match &entry.kind {
            EntryKind::Dir => fs::create_dir_all(&dest).map_err(|e| Error::io(&dest, e)),
            EntryKind::File { .. } => {
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                let mut f = File::create(&dest).map_err(|e| Error::io(&dest, e))?;
                io::copy(data, &mut f).map_err(|e| Error::io(&dest, e))?;
                Ok(())
            }
            EntryKind::HardLink { target } => {
                // FAT has no links: the file's bytes again.
                let from = self.dir.path().join(target);
                fs::copy(&from, &dest).map_err(|e| Error::io(&from, e))?;
                Ok(())
            }
            EntryKind::Symlink { .. } => Err(refuse("a symbolic link")),
            EntryKind::Char { .. } | EntryKind::Block { .. } => Err(refuse("a device node")),
            EntryKind::Fifo => Err(refuse("a named pipe")),
        }
    }

    /// Lays the files out in a file system of the partition's size.
    pub(crate) fn finish(self, label: &str, stamp: &BuildStamp) -> Result<FatMade> {
        // The writer names files by their scratch path; the user knows them
        // by their place in the tree.
        let scratch = self.dir.path().display().to_string();
        let shown = |e: iso9660::Error| {
            let message = e.to_string().replace(&scratch, &self.shown_root);
            Error::Layout(format!("{}: {message}", self.what))
        };
        let tree = FatTree::from_dir(self.dir.path()).map_err(shown)?;
        let size = match self.size {
            0 => tree.size_needed(label, 0).map_err(shown)?,
            size => size,
        };
        let fat = tree.build(size, label, stamp).map_err(shown)?;
        let got = fat.geometry().fat_type;
        let note = match (self.fs, got) {
            (FsType::Fat32, FatType::Fat12 | FatType::Fat16) | (FsType::Fat16, FatType::Fat32) => {
                Some(format!(
                    "{}: {} bytes hold {:?} as mkfs.vfat makes it (FAT32 from 512 MiB)",
                    self.what, size, got
                ))
            }
            _ => None,
        };
        let file = tempfile::tempfile_in(&self.work).map_err(|e| Error::io(&self.work, e))?;
        file.set_len(size).map_err(|e| Error::io("FAT image", e))?;
        let mut dest = Destination::file(file.try_clone().map_err(|e| Error::io("FAT image", e))?);
        fat.write(&mut dest, 0)
            .map_err(|e| Error::Layout(format!("{}: {e}", self.what)))?;
        drop(dest);
        Ok(FatMade {
            image: RawFile::new(file).map_err(|e| Error::io("FAT image", e))?,
            size,
            volume_id: fat.volume_id(),
            note,
        })
    }
}
