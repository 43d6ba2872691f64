//! What a format crate offers a program that writes images of any format:
//! a name for each of its writers, what the writer can do, and a
//! constructor. A program keeps a list of [`WriterSpec`]s and walks it by
//! name, as it walks [`ReaderSpec`](crate::ReaderSpec)s to open images;
//! adding a format is one more entry.
//!
//! Options reach writers through [`WriterOptions`], a map keyed by type:
//! each format crate defines the plain struct its writers read (qcow2's
//! `Qcow2Options`, a VMDK's disk database), the program sets the ones it
//! has values for, and a writer looks up only its own, falling back to its
//! defaults. This crate knows no format's options.

use std::any::{Any, TypeId};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{BlockSink, BuildStamp, Destination, RawSink, Result};

/// How a writer lays out its file, which decides where it can go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Front to back as the data arrives: streams to a pipe.
    Forward,
    /// Front to back once it knows exactly which blocks hold data, because
    /// its tables come before the data: streams to a pipe after the
    /// fan-out's scanning pass (the sink says
    /// [`wants_exact_plan`](BlockSink::wants_exact_plan) on a stream).
    ForwardAfterScan,
    /// Goes back to fill in tables: needs a seekable file, and reaches a
    /// pipe only through a temporary copy ([`Destination::seekable`]).
    Seeks,
}

impl Layout {
    /// Whether the writer streams to a pipe without a temporary copy.
    pub fn streams(self) -> bool {
        self != Layout::Seeks
    }
}

/// How a format crate offers one of its writers to a program that writes
/// any format: `imgconv --to NAME`.
#[derive(Clone, Copy, Debug)]
pub struct WriterSpec {
    /// The name a program selects it by (`"vmdk-stream"`): lowercase,
    /// unique among every format's writers.
    pub name: &'static str,
    /// Other names accepted for it (qemu-img's, say).
    pub aliases: &'static [&'static str],
    /// The file name extension an output gets, without the leading dot
    /// (`"stream.vmdk"`), unique too so outputs of one disk never clash.
    pub extension: &'static str,
    /// What it writes and what for, in one line.
    pub description: &'static str,
    /// How the writer lays out its file under `options`.
    pub layout: fn(options: &WriterOptions) -> Layout,
    /// The second file it writes beside the main one at `path`, if it
    /// writes one (a monolithicFlat VMDK's data); the constructor then gets
    /// it as [`WriterContext::companion`].
    pub companion: Option<fn(path: &Path) -> PathBuf>,
    /// The virtual size it gives a disk of `size` bytes, when it rounds the
    /// disk up (a fixed VHD for Azure): a program may then move a GPT's
    /// backup table to the new end.
    pub grows_disk: Option<fn(size: u64) -> u64>,
    /// Makes the writer into `dest`.
    pub make: fn(dest: Destination, ctx: WriterContext<'_>) -> Result<Box<dyn BlockSink>>,
}

impl WriterSpec {
    /// Whether `name` is this writer's name or one of its aliases.
    pub fn is_called(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }

    /// The second file written beside `path`, if any.
    pub fn companion_path(&self, path: &Path) -> Option<PathBuf> {
        self.companion.map(|f| f(path))
    }
}

/// What a writer may need besides the destination of its bytes.
#[derive(Debug)]
#[non_exhaustive]
pub struct WriterContext<'a> {
    /// Timestamps and identifiers to write.
    pub stamp: BuildStamp,
    /// The file name the output calls itself by (a VMDK descriptor names
    /// its extent, an OVA its virtual machine); for standard output, a
    /// made-up `disk.<extension>`.
    pub file_name: String,
    /// Where the second file goes, for a writer whose spec has a
    /// [`companion`](WriterSpec::companion).
    pub companion: Option<Destination>,
    /// Every format's options; a writer reads its own.
    pub options: &'a WriterOptions,
}

impl<'a> WriterContext<'a> {
    /// A context for an output named `file_name`, with no companion.
    pub fn new(
        stamp: BuildStamp,
        file_name: impl Into<String>,
        options: &'a WriterOptions,
    ) -> Self {
        WriterContext {
            stamp,
            file_name: file_name.into(),
            companion: None,
            options,
        }
    }

    /// The same with the companion file's destination.
    #[must_use]
    pub fn with_companion(mut self, companion: Destination) -> Self {
        self.companion = Some(companion);
        self
    }
}

/// The options of every format, one value per type: a format crate defines
/// a plain struct for its writers' options and looks it up with
/// [`get`](Self::get); absent, the writer uses its defaults.
#[derive(Clone, Default)]
pub struct WriterOptions {
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    type_id: TypeId,
    type_name: &'static str,
    value: Arc<dyn Any + Send + Sync>,
}

impl WriterOptions {
    /// No options: every writer uses its defaults.
    pub fn new() -> Self {
        WriterOptions::default()
    }

    /// Sets the options of type `T`, replacing any set before.
    pub fn set<T: Any + Send + Sync>(&mut self, value: T) -> &mut Self {
        let entry = Entry {
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
            value: Arc::new(value),
        };
        match self.entries.iter_mut().find(|e| e.type_id == entry.type_id) {
            Some(e) => *e = entry,
            None => self.entries.push(entry),
        }
        self
    }

    /// The same with the options of type `T` set.
    #[must_use]
    pub fn with<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.set(value);
        self
    }

    /// The options of type `T`, if set.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.entries
            .iter()
            .find(|e| e.type_id == TypeId::of::<T>())
            .and_then(|e| e.value.downcast_ref())
    }
}

impl fmt::Debug for WriterOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.entries.iter().map(|e| e.type_name))
            .finish()
    }
}

/// Raw images: the disk's bytes, sparse where it is zero (on a stream,
/// zeros are written).
pub const RAW_WRITER: WriterSpec = WriterSpec {
    name: "raw",
    aliases: &[],
    extension: "raw",
    description: "raw disk image (sparse where the disk is zero)",
    layout: |_| Layout::Forward,
    companion: None,
    grows_disk: None,
    make: |dest, _| Ok(Box::new(RawSink::new(dest))),
};

/// This crate's writers: raw.
pub const WRITERS: &[WriterSpec] = &[RAW_WRITER];

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct ClusterSize(u32);
    #[derive(Debug, PartialEq)]
    struct Fixed(bool);

    #[test]
    fn options_are_found_by_type_and_replaced() {
        let mut o = WriterOptions::new().with(ClusterSize(4096));
        assert_eq!(o.get::<ClusterSize>(), Some(&ClusterSize(4096)));
        assert_eq!(o.get::<Fixed>(), None);
        o.set(Fixed(true)).set(ClusterSize(512));
        assert_eq!(o.get::<ClusterSize>(), Some(&ClusterSize(512)));
        assert_eq!(o.get::<Fixed>(), Some(&Fixed(true)));
        assert_eq!(format!("{o:?}").matches("ClusterSize").count(), 1);
    }
}
