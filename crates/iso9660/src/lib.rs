//! Write and read ISO 9660 (ECMA-119) images, as installer and live media
//! use them: Rock Ridge (POSIX names, permissions, owners, symlinks, hard
//! links, device nodes, times), Joliet (Unicode names), files of 4 GiB and
//! more, El Torito boot entries for BIOS (with the boot information table
//! isolinux needs) and UEFI (a FAT image, given or built from a directory),
//! and a hybrid MBR + GPT so the same image boots from a USB stick.
//!
//! Images are written front to back — a pipe will do — and the same tree
//! with `SOURCE_DATE_EPOCH` set gives a byte-identical image (times later
//! than the epoch are clamped to it, as reproducible-build tools expect).
//!
//! Choices, and what they match:
//! - ISO 9660 names follow interchange level 2 (31 d-characters, `mkisofs
//!   -l`); Joliet names keep up to 103 UTF-16 units (`-joliet-long`) and,
//!   as libisofs writes them, carry no `;1`. Symlinks and special files
//!   appear in the Rock Ridge tree only.
//! - Directories deeper than ISO 9660's eight levels stay where they are
//!   rather than being moved to `rr_moved` (`mkisofs -D`, as Azure Linux's
//!   installer uses it); Linux, xorriso and 7-Zip read them. The reader
//!   follows relocated directories (RRIP CL/RE) in images other tools made.
//! - Rock Ridge is RRIP 1.10 (`RRIP_1991A`), with device numbers split in
//!   high and low 32 bits as libisofs writes them.
//! - The hybrid layout is xorriso's `-isohybrid-mbr … -isohybrid-gpt-basdat`:
//!   MBR partition 1 (type 0x00, bootable) over the whole image and 2
//!   (0xEF) over the EFI image; GPT basic-data partitions over the same
//!   ranges; the image padded to a whole MiB with the backup GPT at the end.
//!   The MBR code is isolinux's `isohdpfx.bin` or GRUB's `boot_hybrid.img`
//!   (`--grub2-mbr`, with `--grub2-boot-info` patching the GRUB El Torito
//!   image), each told where its loader is as xorriso tells it.
//! - An EFI image built from a directory is FAT12/16/32 as `mkfs.fat` lays
//!   out a file system of its size (the smallest whole MiB that holds the
//!   tree); the [`fat`] crate (re-exported here) builds such file systems
//!   of any size, for EFI system partitions too.
//!
//! # Example
//!
//! ```
//! use blocksink::{BuildStamp, Destination};
//! use iso9660::{EntryKind, FileData, IsoImage, IsoOptions, IsoWriter, Metadata, Tree};
//!
//! let mut tree = Tree::new(Metadata::new(0o755, 1_700_000_000));
//! let hello = FileData::Bytes(b"hello\n".to_vec().into());
//! tree.insert("docs/hello.txt", EntryKind::File(hello), Metadata::new(0o644, 1_700_000_000))?;
//! tree.insert("latest", EntryKind::Symlink(b"docs/hello.txt".to_vec()), Metadata::new(0o777, 0))?;
//!
//! let opts = IsoOptions { volume_id: "EXAMPLE".into(), ..IsoOptions::default() };
//! let writer = IsoWriter::new(tree, opts, &BuildStamp::fixed(1_700_000_000, "example"))?;
//! let file = tempfile::tempfile()?;
//! writer.write(&mut Destination::file(file.try_clone()?), &mut |_| {})?;
//!
//! let iso = IsoImage::open(file)?;
//! assert_eq!(iso.primary.volume_id, "EXAMPLE");
//! let paths: Vec<String> = iso.entries()?.iter().map(|e| e.display_path()).collect();
//! assert_eq!(paths, ["/docs", "/docs/hello.txt", "/latest"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod disk;
mod efi;
mod eltorito;
mod error;
pub mod format;
mod hybrid;
mod names;
mod reader;
mod susp;
mod tree;
mod writer;

pub use disk::{IsoDisk, READER};
pub use efi::fat_image_from_dir;
pub use eltorito::{BootEntry, PLATFORM_BIOS, PLATFORM_EFI};
pub use error::{Error, ErrorKind, Result};
/// FAT12/16/32 file systems, as the EFI image and EFI system partitions
/// use them: the `fat` crate (`diskimg-fat`).
pub use fat;
pub use hybrid::ISOLINUX_HYBRID_MAGIC;
pub use reader::{ExtractSummary, IsoEntry, IsoImage, IsoKind, Naming, VolumeInfo};
pub use tree::{EntryKind, FileData, Metadata, Node, Tree, MAX_ENTRIES};
pub use writer::{BiosBoot, Hybrid, IsoOptions, IsoSummary, IsoWriter, MbrKind, MAX_SECTION};

/// Whether `head` (the first 32 KiB + 6 bytes of an input at least) holds an
/// ISO 9660 volume descriptor at sector 16.
pub fn is_iso(head: &[u8]) -> bool {
    head.get(32769..32774) == Some(format::CD001.as_slice())
}
