//! Read, verify and write GUID partition tables (UEFI specification,
//! chapter 5): protective MBR, primary and backup headers and entry arrays,
//! IEEE CRC-32 checksums, UTF-16LE names, mixed-endian GUIDs.
//!
//! Partition types can be named as the Discoverable Partitions
//! Specification names them (`esp`, `linux-root-x86-64`, `swap`, …) or by
//! sgdisk code (`ef00`); partitions are aligned to 1 MiB by default and the
//! last one may grow to fill the disk. [`Gpt::relocated`] moves the backup
//! table to the end of a disk that grew, as `sgdisk -e` does.
//!
//! # Example
//!
//! ```
//! use blocksink::MemSource;
//! use gpt::{Gpt, PartitionSpec};
//! use uuid::Uuid;
//!
//! let mut gpt = Gpt::new(64 << 20, Uuid::from_u128(1))?;
//! gpt.add_partitions(
//!     &[
//!         PartitionSpec { name: "EFI System".into(), type_name: "esp".into(), size: Some(16 << 20) },
//!         PartitionSpec { name: "root".into(), type_name: "linux-root-x86-64".into(), size: None },
//!     ],
//!     1 << 20,
//!     |i| Uuid::from_u128(100 + i as u128),
//! )?;
//! let mut disk = vec![0u8; 64 << 20];
//! for (offset, bytes) in gpt.regions()? {
//!     disk[offset as usize..offset as usize + bytes.len()].copy_from_slice(&bytes);
//! }
//! let mut src = MemSource::new(disk);
//! assert!(Gpt::verify(&mut src)?.is_empty());
//! assert_eq!(Gpt::read(&mut src)?.partitions[1].first_lba, 34816);
//! # Ok::<(), gpt::Error>(())
//! ```

mod error;
pub mod format;
mod table;
mod types;

pub use error::{Error, ErrorKind, Result};
pub use table::{Gpt, Partition, PartitionSpec, MAX_ARRAY_BYTES};
pub use types::{type_by_name, type_name, KNOWN_TYPES};
