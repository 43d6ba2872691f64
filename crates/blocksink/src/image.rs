//! What a format crate offers a program that opens images of any format:
//! a probe, an opener, and, once open, the headers' facts and the format's
//! own consistency check. A program keeps a list of [`ReaderSpec`]s and
//! walks it; adding a format is one more entry.

use std::fs::File;
use std::path::Path;

use crate::{BlockSource, RawFile, Result};

/// How many of a file's first bytes a probe is shown: enough for an ISO
/// 9660 volume descriptor at 32 KiB.
pub const PROBE_HEAD: usize = 64 << 10;

/// A virtual disk opened from an image file: its data, and what the
/// format's headers say about it.
pub trait DiskImage: BlockSource {
    /// The format's name, as `info` prints it (`"qcow2"`).
    fn format_name(&self) -> &'static str;

    /// Format options read from the headers, as (name, value) pairs.
    fn details(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The format's own consistency check (tables against each other,
    /// reference counts), beyond reading every data extent, which the
    /// caller does through [`BlockSource`].
    fn check_structure(&mut self) -> Result<Structure> {
        Ok(Structure::default())
    }
}

impl<T: DiskImage + ?Sized> DiskImage for Box<T> {
    fn format_name(&self) -> &'static str {
        (**self).format_name()
    }
    fn details(&self) -> Vec<(String, String)> {
        (**self).details()
    }
    fn check_structure(&mut self) -> Result<Structure> {
        (**self).check_structure()
    }
}

/// What a format's own consistency check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Structure {
    /// Problems that make data unreadable or wrong (qemu-img's "corruptions").
    pub errors: Vec<String>,
    /// Clusters allocated but unused, as qemu-img counts leaks.
    pub leaked_clusters: u64,
    /// What was checked or skipped, in words.
    pub notes: Vec<String>,
}

impl Structure {
    /// A report of `errors`.
    pub fn errors(errors: Vec<String>) -> Self {
        Structure {
            errors,
            ..Default::default()
        }
    }
    /// A clean report saying `note`.
    pub fn note(note: impl Into<String>) -> Self {
        Structure {
            notes: vec![note.into()],
            ..Default::default()
        }
    }
}

/// How a format crate offers its reader to a program that detects formats.
#[derive(Clone, Copy, Debug)]
pub struct ReaderSpec {
    /// The format's name (`"vhdx"`).
    pub name: &'static str,
    /// Whether a file whose first bytes are `head` (up to [`PROBE_HEAD`])
    /// and last 512 are `tail` (empty when the file is shorter) is this format.
    pub probe: fn(head: &[u8], tail: &[u8]) -> bool,
    /// Opens the image in `file`, found at `path` (a format whose data
    /// lives in several files opens them beside it).
    pub open: fn(path: &Path, file: File) -> Result<Box<dyn DiskImage>>,
}

/// Raw images: any file, read as the disk it is. The last entry of a list.
pub const RAW: ReaderSpec = ReaderSpec {
    name: "raw",
    probe: |_, _| true,
    open: |_, file| Ok(Box::new(RawFile::new(file)?)),
};

impl DiskImage for RawFile {
    fn format_name(&self) -> &'static str {
        RAW.name
    }
    fn check_structure(&mut self) -> Result<Structure> {
        Ok(Structure::note("a raw image has no structure to check"))
    }
}
