//! Convert one raw disk into every image format a Linux distribution
//! publishes — in one pass over the input.
//!
//! This crate composes the format crates (`qcow2`, `vhd`, `gpt`, …) behind
//! the `imgconv` command line: it opens any image the readers understand,
//! fans its data out to many writers at once, writes each output to a
//! temporary file renamed only when complete, and answers `info`, `compare`
//! and `check` the way qemu-img does.
//!
//! # Example
//!
//! ```
//! use imgconv::{convert, ConvertJob, OutputFormat, OutputSpec, OutputTarget, FormatOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let raw = dir.path().join("disk.raw");
//! let mut disk = vec![0u8; 8 << 20];
//! disk[..11].copy_from_slice(b"hello, disk");
//! std::fs::write(&raw, &disk)?;
//!
//! let job = ConvertJob {
//!     input: raw.clone(),
//!     outputs: vec![OutputSpec {
//!         format: OutputFormat::parse("qcow2")?,
//!         target: OutputTarget::Path(dir.path().join("disk.qcow2")),
//!     }],
//!     options: FormatOptions::default(),
//! };
//! let report = convert(&job, &mut |_, _| {})?;
//! assert_eq!(report.virtual_size, 8 << 20);
//! assert!(dir.path().join("disk.qcow2").exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod compare;
mod convert;
mod error;
mod formats;
mod gpt_grow;
mod info;
mod iso;

pub use check::{check, CheckReport};
pub use compare::{compare, Comparison};
pub use convert::same_file;
pub use convert::{
    check_outputs, convert, convert_disk, default_output_path, ConvertJob, ConvertReport,
    OutputReport, OutputSpec, OutputTarget,
};
pub use error::{Cause, Error, Result};
pub use formats::{
    open_image, FormatOptions, FormatValues, Image, InputFormat, OutputFormat, OPTIONS, READERS,
    WRITERS,
};
pub use info::{info, ImageInfo, PartitionInfo};
pub use iso::{build_iso, extract_iso, is_iso_file, iso_info, BootInfo, IsoInfo, IsoJob};
// What build_iso and extract_iso return, nameable without the iso9660 crate.
pub use iso9660::{ExtractSummary, IsoSummary};
