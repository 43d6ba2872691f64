//! Write and read OVA packages as VMware and VirtualBox import them.
//!
//! An OVA is a ustar archive whose members are, in order, the OVF
//! descriptor, the manifest and the disk — here a streamOptimized VMDK made
//! by the `vmdk` crate. The manifest's digest follows the virtual hardware
//! version (up to 12 SHA-1, 13–14 SHA-256, newer SHA-512), and the OVF
//! describes a VM (CPUs, memory, disk controller, disk, network adapter,
//! EFI or BIOS firmware) with defaults for a 64-bit Linux guest.
//!
//! The reader lists the archive, refuses member names that are not plain
//! file names, verifies the manifest, and reads the disk in place.
//!
//! # Example
//!
//! ```
//! use blocksink::{convert, BlockSource, BuildStamp, Destination, MemSource};
//! use ova_tar::{OvaReader, OvaWriter, VmSettings};
//!
//! let mut disk = vec![0u8; 4 << 20];
//! disk[..4].copy_from_slice(b"boot");
//! let out = tempfile::tempfile()?;
//! let mut writer = OvaWriter::new(
//!     Destination::file(out.try_clone()?),
//!     VmSettings::linux("demo"),
//!     BuildStamp::fixed(1_700_000_000, "example"),
//! )?;
//! convert(&mut MemSource::new(disk.clone()), &mut [&mut writer], &mut |_, _| {})?;
//!
//! let mut ova = OvaReader::open(std::sync::Arc::new(out))?;
//! let names: Vec<&str> = ova.members.iter().map(|m| m.name.as_str()).collect();
//! assert_eq!(names, ["demo.ovf", "demo.mf", "demo-disk1.vmdk"]);
//! let mut back = vec![0u8; disk.len()];
//! ova.read_at(0, &mut back)?;
//! assert_eq!(back, disk);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod image;
pub mod ovf;
mod reader;
mod spec;
mod writer;

pub use error::{Error, ErrorKind, Result};
pub use image::READER;
pub use ovf::{envelope, Descriptor, DiskFacts, OvfDisk, OvfFile, VmSettings, STREAM_OPTIMIZED};
pub use reader::{members, Member, OvaReader};
pub use spec::{OPTIONS, WRITER, WRITERS};
pub use writer::{ManifestHash, OvaWriter};
