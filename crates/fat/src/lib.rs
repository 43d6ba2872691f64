//! FAT12, FAT16 and FAT32 file systems written without mounting anything:
//! the EFI system partition of a disk, or the UEFI El Torito image of an
//! ISO (`efiboot.img` holding `EFI/BOOT/BOOTX64.EFI`).
//!
//! A format crate beside `gpt`: it stands on `blocksink` (the build stamp,
//! the destination it writes to, the shared error model) and on nothing of
//! `iso9660` or the build stage — both use it, the ISO for its EFI image
//! and the disk build for the ESP.
//!
//! Files come in as a stream: [`FatTree::add_dir`] and
//! [`FatTree::add_file`] (a length and a reader of the bytes) take each
//! entry as a tar archive or a tree walk meets it, with paths relative to
//! the file system's root; [`FatTree::add_copy`] gives a file the bytes of
//! one added before (a hard link). The bytes wait for the layout in one
//! unnamed temporary file, in memory while small, never in a scratch
//! directory; [`FatTree::from_dir`] adds a host directory's entries the same
//! way. Errors name files as the caller names the root (`/boot/efi`,
//! `(esp)`).
//!
//! The layout is the one `mkfs.fat` (dosfstools 4.2) gives a file system of
//! the same size on a fixed disk: FAT type, sectors per cluster, reserved
//! sectors, FAT length, root directory slots and the sector count (whole
//! tracks) all come out as `mkfs.fat -C FILE KIB` would make them. Sizes
//! below 512 MiB get FAT12 or FAT16 (whichever gives more clusters, starting
//! from 2 KiB clusters), 512 MiB and up get FAT32 with 4 KiB to 32 KiB
//! clusters. (For the floppy sizes 360/720/1200/1440/2880 KiB `mkfs.fat`
//! uses floppy parameters instead; this crate does not.)
//!
//! The tree is placed in one pass, each directory and file in one
//! contiguous run of clusters, in the order a depth-first walk of the sorted
//! tree meets them — whatever order the entries came in. Every directory
//! starts with its `.` and `..` entries (Microsoft FAT specification, "FAT
//! Directory Structure"; `..` of a directory in the root names cluster 0); a
//! name that is not already an upper-case 8.3 name gets VFAT long-name
//! entries before its short entry, and a generated short name with a `~N`
//! tail unique in its directory. The volume id and every time come from a
//! [`BuildStamp`](blocksink::BuildStamp), so the same tree gives the same
//! bytes.
//!
//! # Example
//!
//! ```
//! use blocksink::BuildStamp;
//! use fat::{FatImage, FatTooSmall, FatTree, FatType};
//!
//! // Entries as a stream, in any order, named in errors under `/boot/efi`.
//! let mut tree = FatTree::new("/boot/efi");
//! let loader = b"MZ loader";
//! tree.add_file("EFI/BOOT/BOOTX64.EFI", loader.len() as u64, &mut &loader[..])?;
//! tree.add_dir("EFI/Linux")?;
//! tree.add_copy("EFI/Linux/fallback.efi", "EFI/BOOT/BOOTX64.EFI")?;
//!
//! let stamp = BuildStamp::fixed(1_700_000_000, "example");
//! let size = tree.size_needed("ESP", 0)?;
//! assert_eq!(size, 1 << 20);
//! let fs = tree.build(64 << 20, "ESP", &stamp)?;
//! assert_eq!(fs.geometry().fat_type, FatType::Fat16);
//! assert_eq!(fs.to_vec()?.len(), 64 << 20);
//!
//! // Too small: the error names the tree and the size that holds it.
//! let mut big = FatTree::new("/boot/efi");
//! big.add_file("big.bin", 3 << 20, &mut std::io::repeat(1))?;
//! let err = big.build(2 << 20, "ESP", &stamp).unwrap_err();
//! assert_eq!(err.detail::<FatTooSmall>().map(|d| d.needed), Some(4 << 20));
//! assert!(err.to_string().starts_with("/boot/efi: needs a FAT file system of 4194304 bytes (4 MiB)"));
//!
//! // From a directory on the host.
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join("EFI/BOOT"))?;
//! std::fs::write(dir.path().join("EFI/BOOT/BOOTX64.EFI"), b"MZ")?;
//! let fs = FatImage::from_dir(dir.path(), 8 << 20, "EFIBOOT", &stamp)?;
//! assert_eq!(fs.geometry().fat_type, FatType::Fat12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod geometry;
mod image;
mod names;
mod time;
mod tree;

pub use error::{Error, ErrorKind, FatTooSmall, Result};
pub use geometry::{FatGeometry, FatType};
pub use image::FatImage;
pub use tree::FatTree;

/// Bytes of file data a [`FatTree`] keeps in memory; beyond them the bytes
/// go to one unnamed temporary file.
pub const SPOOL_IN_MEMORY: usize = 8 << 20;

const SECTOR: u64 = 512;
const MIB: u64 = 1 << 20;
/// Two copies of the FAT, as every formatter writes them.
const NUM_FATS: u64 = 2;
/// Bytes in a directory entry.
const ENTRY: u64 = 32;
/// FAT specification: a directory holds at most 65 536 entries (2 MiB).
const MAX_DIR_ENTRIES: u64 = 65_536;
/// UTF-16 units in one long-name entry.
const LFN_UNITS: usize = 13;
/// Largest file FAT can hold (the size field is 32 bits).
const MAX_FILE: u64 = u32::MAX as u64;
/// Largest file system: the sector count is 32 bits.
const MAX_SIZE: u64 = u32::MAX as u64 * SECTOR;
