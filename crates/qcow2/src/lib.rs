//! Read and write QCOW2 disk images, the format of qemu and KVM.
//!
//! The writer makes version 3 images (compat 1.1) with 16-bit refcounts, as
//! `qemu-img convert -O qcow2` does: any cluster size from 512 bytes to
//! 2 MiB, and optional compression — raw deflate as qemu writes it (its
//! 4 KiB window, so piecewise inflaters read it too), or zstd — spread over
//! every core. Written to a file, clusters are appended as data arrives and
//! the tables follow; written to a pipe, the tables come first (the fan-out
//! then scans the input for the exact allocation).
//!
//! The reader handles what qemu-img writes: versions 2 and 3, every cluster
//! size, deflate and zstd clusters, lazy refcounts, extended L2 entries
//! (subclusters) and preallocated metadata. Backing files, external data
//! files and encryption are refused with a clear error.
//!
//! # Example
//!
//! ```
//! use blocksink::{convert, Destination, MemSource, BlockSource};
//! use qcow2::{Compression, Qcow2Options, Qcow2Reader, Qcow2Writer};
//!
//! let mut disk = vec![0u8; 4 << 20];
//! disk[1 << 20..(1 << 20) + 5].copy_from_slice(b"hello");
//!
//! let file = tempfile::tempfile()?;
//! let opts = Qcow2Options { compression: Some(Compression::DEFLATE), ..Default::default() };
//! let mut writer = Qcow2Writer::new(Destination::file(file.try_clone()?), opts)?;
//! convert(&mut MemSource::new(disk.clone()), &mut [&mut writer], &mut |_, _| {})?;
//!
//! let mut reader = Qcow2Reader::open(file)?;
//! let mut back = vec![0u8; disk.len()];
//! reader.read_at(0, &mut back)?;
//! assert_eq!(back, disk);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod error;
pub mod format;
mod image;
mod reader;
mod spec;
mod writer;

pub use check::CheckReport;
pub use error::{Error, ErrorKind, Result};
pub use format::CompressionType;
pub use image::READER;
pub use reader::{is_qcow2, Qcow2Info, Qcow2Reader};
pub use spec::{OPTIONS, WRITER, WRITERS};
pub use writer::{Compression, Qcow2Options, Qcow2Writer};
