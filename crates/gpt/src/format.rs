//! On-disk structures (UEFI specification, chapter 5).

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `EFI PART`.
pub const SIGNATURE: [u8; 8] = *b"EFI PART";
/// GPT revision 1.0.
pub const REVISION: u32 = 0x0001_0000;
/// Bytes of the header that the CRC covers (the rest of the sector is zero).
pub const HEADER_SIZE: u32 = 92;
/// Logical block size this crate reads and writes.
pub const SECTOR: u64 = 512;

/// The GPT header, at LBA 1 (primary) and at the last LBA (backup).
#[derive(Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Header {
    /// `EFI PART`.
    pub signature: [u8; 8],
    /// 0x00010000.
    pub revision: U32,
    /// Size of the header in bytes (92).
    pub header_size: U32,
    /// CRC-32 of the header with this field zeroed.
    pub header_crc32: U32,
    /// Zero.
    pub reserved: U32,
    /// LBA of this header.
    pub my_lba: U64,
    /// LBA of the other header.
    pub alternate_lba: U64,
    /// First LBA a partition may use.
    pub first_usable_lba: U64,
    /// Last LBA a partition may use.
    pub last_usable_lba: U64,
    /// Identifies the disk, mixed-endian.
    pub disk_guid: [u8; 16],
    /// First LBA of this header's partition entry array.
    pub partition_entry_lba: U64,
    /// Number of entries in the array.
    pub num_partition_entries: U32,
    /// Size of each entry (128 × 2^n).
    pub size_of_partition_entry: U32,
    /// CRC-32 of the entry array.
    pub partition_entry_array_crc32: U32,
}

const _: () = assert!(size_of::<Header>() == HEADER_SIZE as usize);

/// One partition entry (the first 128 bytes of each array slot).
#[derive(Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Entry {
    /// Partition type GUID, mixed-endian; all zero for an unused entry.
    pub type_guid: [u8; 16],
    /// Unique partition GUID, mixed-endian.
    pub unique_guid: [u8; 16],
    /// First LBA.
    pub starting_lba: U64,
    /// Last LBA, inclusive.
    pub ending_lba: U64,
    /// Attribute bits (0: required, 1: no block IO protocol, 2: legacy BIOS bootable).
    pub attributes: U64,
    /// Name, UTF-16LE, NUL padded.
    pub name: [u8; 72],
}

const _: () = assert!(size_of::<Entry>() == 128);

/// One of the four partition records of an MBR.
#[derive(Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct MbrRecord {
    /// 0x80 bootable; 0 for the protective record.
    pub boot_indicator: u8,
    /// CHS of the first sector.
    pub starting_chs: [u8; 3],
    /// 0xEE for a GPT protective partition.
    pub os_type: u8,
    /// CHS of the last sector.
    pub ending_chs: [u8; 3],
    /// First LBA.
    pub starting_lba: U32,
    /// Number of sectors.
    pub size_in_lba: U32,
}

/// The protective MBR at LBA 0.
#[derive(Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct ProtectiveMbr {
    /// Boot code (unused by UEFI).
    pub boot_code: [u8; 440],
    /// Disk signature (unused).
    pub disk_signature: [u8; 4],
    /// Zero.
    pub unknown: [u8; 2],
    /// Partition records; the first covers the disk with type 0xEE.
    pub records: [MbrRecord; 4],
    /// 0x55, 0xAA.
    pub signature: [u8; 2],
}

const _: () = assert!(size_of::<ProtectiveMbr>() == 512);

/// MBR partition type of the protective partition.
pub const PROTECTIVE_TYPE: u8 = 0xee;
