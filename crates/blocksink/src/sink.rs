use std::io;

use bytes::Bytes;

use crate::{Destination, Extent};

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

    /// Writes everything that makes the file whole (tables, footers) and flushes.
    fn finish(&mut self) -> io::Result<()>;

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
    fn finish(&mut self) -> io::Result<()> {
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
    fn finish(&mut self) -> io::Result<()> {
        self.dest.finish(self.size)
    }
}
