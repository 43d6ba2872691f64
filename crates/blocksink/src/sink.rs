use std::io;

use bytes::Bytes;

use crate::{Destination, Extent};

/// What a sink wrote, as [`BlockSink::finish`] says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finished {
    /// Bytes of the output (of all its files, when it has companions).
    pub bytes: u64,
    /// What the user should know about the output (a table moved, a size
    /// rounded), one sentence each.
    pub notes: Vec<String>,
}

impl Finished {
    /// `bytes` written, nothing to add.
    pub fn new(bytes: u64) -> Self {
        Finished {
            bytes,
            notes: Vec::new(),
        }
    }
    /// The same with `note` added.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

/// One output format being written.
///
/// The fan-out calls [`begin`](Self::begin) once, then
/// [`write`](Self::write) with data in ascending offset order, then
/// [`finish`](Self::finish). All-zero blocks of [`crate::ZERO_GRANULARITY`]
/// never arrive: what is not written reads as zeros.
pub trait BlockSink {
    /// Once, before any data: the virtual size and the plan, the ascending
    /// ranges outside which no data will arrive.
    fn begin(&mut self, size: u64, plan: &[Extent]) -> io::Result<()>;

    /// Data at `offset`, after every earlier write's range and inside the plan.
    fn write(&mut self, offset: u64, data: Bytes) -> io::Result<()>;

    /// Writes everything that makes the file whole (tables, footers),
    /// flushes, and says what was written.
    fn finish(&mut self) -> io::Result<Finished>;

    /// Whether this sink must know, before data arrives, exactly which blocks
    /// hold non-zero data — a format that lays out its tables first and is
    /// written to a stream. The fan-out then runs a scanning pass first so
    /// the plan holds only non-zero blocks.
    fn wants_exact_plan(&self) -> bool {
        false
    }
}

impl<T: BlockSink + ?Sized> BlockSink for Box<T> {
    fn begin(&mut self, size: u64, plan: &[Extent]) -> io::Result<()> {
        (**self).begin(size, plan)
    }
    fn write(&mut self, offset: u64, data: Bytes) -> io::Result<()> {
        (**self).write(offset, data)
    }
    fn finish(&mut self) -> io::Result<Finished> {
        (**self).finish()
    }
    fn wants_exact_plan(&self) -> bool {
        (**self).wants_exact_plan()
    }
}

/// Writes a raw disk image: data where it arrives, holes (or, on a stream,
/// zeros) everywhere else.
#[derive(Debug)]
pub struct RawSink {
    dest: Destination,
    size: u64,
}

impl RawSink {
    /// A raw image written into `dest`.
    pub fn new(dest: Destination) -> Self {
        RawSink { dest, size: 0 }
    }
}

impl BlockSink for RawSink {
    fn begin(&mut self, size: u64, _plan: &[Extent]) -> io::Result<()> {
        self.size = size;
        Ok(())
    }
    fn write(&mut self, offset: u64, data: Bytes) -> io::Result<()> {
        self.dest.write_bytes_at(offset, data)
    }
    fn finish(&mut self) -> io::Result<Finished> {
        self.dest.finish(self.size)
    }
}
