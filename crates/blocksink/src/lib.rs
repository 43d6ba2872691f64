//! The shared vocabulary of the imgconv disk-image crates.
//!
//! Every format crate (`vhd`, `qcow2`, `gpt`, …) speaks in these terms:
//!
//! * a [`BlockSource`] is a virtual disk to read — a raw file, or any format's
//!   reader — that says where its data may be ([`Extent`]s) and reads bytes at
//!   an offset;
//! * a [`BlockSink`] is one output format being written: it learns the virtual
//!   size and a plan of where data can come, receives non-zero data in
//!   ascending order as shared [`bytes::Bytes`] buffers, and finishes the file;
//! * [`convert`] reads a source once, detects zero blocks once, and hands the
//!   same buffers to every sink (the fan-out);
//! * [`BlockAllocator`] decides where a sparse format's data blocks go in
//!   its file, on first write or up front from the plan;
//! * [`Destination`] is where a sink's bytes go, a seekable file or a
//!   forward-only stream such as a pipe, and [`PendingFile`] makes an output
//!   appear under its name only once it is complete;
//! * [`ReaderSpec`] and [`WriterSpec`] are how a format crate lists its
//!   reader and writers for a program that handles every format, and
//!   [`FormatOptionSet`] how it declares its writers' options;
//! * [`tool::Tool`] runs an external program (`mke2fs`, `tar2sqfs` …),
//!   its failures a [`tool::ToolError`] naming what to install, and
//!   [`tool::TOOLS`] lists every program the crates run.
//!
//! # Example
//!
//! Copy a sparse in-memory disk into a raw image held in memory:
//!
//! ```
//! use blocksink::{convert, Destination, MemSource, RawSink};
//!
//! let mut disk = vec![0u8; 1 << 20];
//! disk[4096..8192].fill(0xab);
//! let mut source = MemSource::new(disk.clone());
//!
//! let out = tempfile::tempfile()?;
//! let mut sink = RawSink::new(Destination::file(out.try_clone()?));
//! let stats = convert(&mut source, &mut [&mut sink], &mut |_, _| {})?;
//! assert_eq!(stats.data_bytes, 4096);
//!
//! let mut written = Vec::new();
//! std::io::Read::read_to_end(&mut &out, &mut written)?;
//! assert_eq!(written, disk);
//! # Ok::<(), std::io::Error>(())
//! ```

mod alloc;
mod assemble;
mod compose;
mod dest;
mod error;
mod extent;
mod fanout;
mod image;
mod parallel;
mod pending;
mod sink;
mod source;
mod stamp;
mod table;
mod tarindex;
pub mod tool;
mod writer;
mod zero;

pub use alloc::{BlockAllocator, BlockLayout};
pub use assemble::{place_run, split_at_blocks, Block, BlockAssembler};
pub use bytes::Bytes;
pub use compose::AssembledDisk;
pub use dest::Destination;
pub use error::{chain, Error, ErrorKind, Format, Result, Side};
pub use extent::{merge_extents, Extent};
pub use fanout::{convert, scan_data, ConvertStats, CHUNK_SIZE};
pub use image::{DiskImage, ReaderSpec, Structure, PROBE_HEAD, RAW};
pub use parallel::{Codec, Compressed, ParallelCodec, ParallelCompressor};
pub use pending::{commit_all, remove_pending_files, remove_tree, PendingFile, Scratch};
pub use sink::{BlockSink, Finished, RawSink};
pub use source::{check_read, BlockSource, MemSource, RawFile, ReadAt, ReadAtCursor, Window};
pub use stamp::{civil_from_days, BuildStamp};
pub use table::PagedTable;
pub use tarindex::{tar_members, TarMember, EXTENSION_LIMIT};
pub use writer::{
    FormatOptionSet, Layout, OptionKind, OptionSpec, OptionValues, WriterContext, WriterOptions,
    WriterSpec, RAW_WRITER, WRITERS,
};
pub use zero::{is_zero, nonzero_runs, ZERO_GRANULARITY};
