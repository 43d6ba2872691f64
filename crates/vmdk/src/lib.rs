//! Read and write VMDK disk images, the format of VMware's hypervisors.
//!
//! * **streamOptimized** — what ESXi, vSphere, AWS VM Import and OVA
//!   packages take. Written as VMware's specification lays it out for
//!   streaming: header with `gdOffset = GD_AT_END` and the descriptor, zlib
//!   grains behind grain markers, grain tables and the grain directory behind
//!   their metadata markers, then the footer (a header copy with the real
//!   `gdOffset`) and the end-of-stream marker — the parts qemu-img leaves out.
//!   It is written strictly in order, so it can go to a pipe, and its grains
//!   are compressed on every core.
//! * **monolithicSparse** — qemu-img's default, for VMware Workstation and
//!   Fusion: one file, redundant and primary grain tables up front.
//! * **monolithicFlat** — ESXi datastores: a text descriptor and a flat
//!   extent holding the disk's bytes ([`VmdkFlatWriter`]).
//!
//! The reader opens every variant qemu-img writes — monolithicSparse,
//! streamOptimized (with or without footer), monolithicFlat,
//! twoGbMaxExtentSparse, twoGbMaxExtentFlat — and resolves extent files only
//! inside the descriptor's own directory. Delta disks (a `parentCID` other
//! than `ffffffff`, or a `parentFileNameHint`) are refused: their parent is
//! never opened, and without it they would read as zeros.
//!
//! # Example
//!
//! ```
//! use blocksink::{convert, BlockSource, BuildStamp, Destination, MemSource};
//! use vmdk::{VmdkOptions, VmdkReader, VmdkSubformat, VmdkWriter};
//!
//! let mut disk = vec![0u8; 4 << 20];
//! disk[3 << 20..(3 << 20) + 4].copy_from_slice(b"data");
//! let file = tempfile::tempfile()?;
//! let opts = VmdkOptions::new(VmdkSubformat::StreamOptimized, "disk.vmdk", BuildStamp::fixed(0, "x"));
//! let mut writer = VmdkWriter::new(Destination::file(file.try_clone()?), opts)?;
//! convert(&mut MemSource::new(disk.clone()), &mut [&mut writer], &mut |_, _| {})?;
//!
//! let mut reader = VmdkReader::open(Box::new(file))?;
//! let mut back = vec![0u8; disk.len()];
//! reader.read_at(0, &mut back)?;
//! assert_eq!(back, disk);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod descriptor;
mod error;
pub mod format;
mod image;
mod reader;
mod spec;
mod writer;

pub use descriptor::{Descriptor, ExtentKind, ExtentLine};
pub use error::{Error, ErrorKind, Result};
pub use image::READER;
pub use reader::{is_vmdk, resolve_inside, SparseExtent, Storage, VmdkReader};
pub use spec::{
    flat_extent_path, DiskDatabase, FLAT_WRITER, OPTIONS, SPARSE_WRITER, STREAM_WRITER, WRITERS,
};
pub use writer::{descriptor_text, VmdkFlatWriter, VmdkOptions, VmdkSubformat, VmdkWriter};
