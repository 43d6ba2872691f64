//! Read and write VHD disk images (Microsoft Virtual Hard Disk format 1.0).
//!
//! * **Fixed** — the disk's bytes followed by a 512-byte footer: what Azure
//!   imports. [`VhdOptions::fixed`] rounds the virtual size up to a whole
//!   MiB, as Azure requires, so the file is exactly that size plus 512.
//! * **Dynamic** — footer copy, `cxsparse` header, block allocation table,
//!   2 MiB blocks each behind its sector bitmap, footer: what Hyper-V Gen1
//!   and `qemu-img convert -O vpc` make.
//!
//! Footers name creator `qem2`, so qemu takes the size from `current_size`
//! like Hyper-V and Azure do, and every reader agrees on it. The reader
//! handles fixed and dynamic disks from qemu-img (with and without
//! `force_size`), Hyper-V and this crate, deciding the size as qemu does.
//!
//! # Example
//!
//! ```
//! use blocksink::{convert, BlockSource, BuildStamp, Destination, MemSource};
//! use vhd::{VhdOptions, VhdReader, VhdWriter};
//!
//! let disk = vec![7u8; 3 << 20];
//! let file = tempfile::tempfile()?;
//! let opts = VhdOptions::fixed(BuildStamp::fixed(1_700_000_000, "example"));
//! let mut writer = VhdWriter::new(Destination::file(file.try_clone()?), opts)?;
//! convert(&mut MemSource::new(disk.clone()), &mut [&mut writer], &mut |_, _| {})?;
//! assert_eq!(file.metadata()?.len(), (3 << 20) + 512);
//!
//! let mut reader = VhdReader::open(file)?;
//! let mut back = vec![0u8; disk.len()];
//! reader.read_at(0, &mut back)?;
//! assert_eq!(back, disk);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
pub mod format;
mod image;
mod reader;
mod spec;
mod writer;

pub use error::{Error, ErrorKind, Result};
pub use image::READER;
pub use reader::{is_vhd_footer, VhdInfo, VhdReader};
pub use spec::{VhdBlockSize, DYNAMIC_WRITER, FIXED_WRITER, OPTIONS, WRITERS};
pub use writer::{VhdKind, VhdOptions, VhdWriter};
