//! On-disk structures (MS-VHDX v1.0, section 2).

use uuid::{uuid, Uuid};
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `vhdxfile`: the file type identifier at offset 0.
pub const FILE_SIGNATURE: [u8; 8] = *b"vhdxfile";
/// `head`.
pub const HEADER_SIGNATURE: [u8; 4] = *b"head";
/// `regi`.
pub const REGION_SIGNATURE: [u8; 4] = *b"regi";
/// `metadata`.
pub const METADATA_SIGNATURE: [u8; 8] = *b"metadata";
/// `loge`: a log entry header.
pub const LOG_SIGNATURE: [u8; 4] = *b"loge";

/// 1 MiB: the alignment of regions, and the unit of BAT file offsets.
pub const MIB: u64 = 1 << 20;
/// Offsets of the two headers (2.2.2) and the two region tables (2.2.3).
pub const HEADER_OFFSETS: [u64; 2] = [64 << 10, 128 << 10];
/// Offsets of the two region tables.
pub const REGION_TABLE_OFFSETS: [u64; 2] = [192 << 10, 256 << 10];
/// Size of a header structure (the CRC covers all of it).
pub const HEADER_SIZE: usize = 4096;
/// Size of a region table (the CRC covers all of it).
pub const REGION_TABLE_SIZE: usize = 64 << 10;
/// Size of the metadata table at the start of the metadata region.
pub const METADATA_TABLE_SIZE: usize = 64 << 10;

/// Region GUID of the block allocation table.
pub const BAT_REGION: Uuid = uuid!("2dc27766-f623-4200-9d64-115e9bfd4a08");
/// Region GUID of the metadata region.
pub const METADATA_REGION: Uuid = uuid!("8b7ca206-4790-4b9a-b8fe-575f050f886e");
/// Metadata item: file parameters (block size, flags).
pub const FILE_PARAMETERS: Uuid = uuid!("caa16737-fa36-4d43-b3b6-33f0aa44e76b");
/// Metadata item: virtual disk size.
pub const VIRTUAL_DISK_SIZE: Uuid = uuid!("2fa54224-cd1b-4876-b211-5dbed83bf4b8");
/// Metadata item: virtual disk id.
pub const VIRTUAL_DISK_ID: Uuid = uuid!("beca12ab-b2e6-4523-93ef-c309e000c746");
/// Metadata item: logical sector size.
pub const LOGICAL_SECTOR_SIZE: Uuid = uuid!("8141bf1d-a96f-4709-ba47-f233a8faab5f");
/// Metadata item: physical sector size.
pub const PHYSICAL_SECTOR_SIZE: Uuid = uuid!("cda348c7-445d-4471-9cc9-e9885251c556");
/// Metadata item: parent locator (differencing disks).
pub const PARENT_LOCATOR: Uuid = uuid!("a8d35f2d-b30b-454d-abf7-d3d84834ab0c");

/// Payload block state: not present (reads as zeros without a parent).
pub const PAYLOAD_NOT_PRESENT: u64 = 0;
/// Payload block state: undefined contents.
pub const PAYLOAD_UNDEFINED: u64 = 1;
/// Payload block state: reads as zeros.
pub const PAYLOAD_ZERO: u64 = 2;
/// Payload block state: unmapped.
pub const PAYLOAD_UNMAPPED: u64 = 3;
/// Payload block state: all of the block is in the file.
pub const PAYLOAD_FULLY_PRESENT: u64 = 6;
/// Payload block state: partly in the file (differencing disks).
pub const PAYLOAD_PARTIALLY_PRESENT: u64 = 7;

/// The header (2.2.2), 4 KiB, twice in the file.
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Header {
    /// `head`.
    pub signature: [u8; 4],
    /// CRC-32C of the 4 KiB header with this field zero.
    pub checksum: U32,
    /// The valid header with the larger sequence number is current.
    pub sequence_number: U64,
    /// Changes whenever the file is written.
    pub file_write_guid: [u8; 16],
    /// Changes whenever the virtual disk's data is written.
    pub data_write_guid: [u8; 16],
    /// Zero when the log is empty; else the id of the log entries to replay.
    pub log_guid: [u8; 16],
    /// 0.
    pub log_version: U16,
    /// 1.
    pub version: U16,
    /// Size of the log in bytes (a multiple of 1 MiB).
    pub log_length: U32,
    /// Offset of the log (1 MiB aligned).
    pub log_offset: U64,
    /// Zeros.
    pub reserved: [u8; 4016],
}

const _: () = assert!(size_of::<Header>() == HEADER_SIZE);

/// The region table header (2.2.3).
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct RegionTableHeader {
    /// `regi`.
    pub signature: [u8; 4],
    /// CRC-32C of the 64 KiB table with this field zero.
    pub checksum: U32,
    /// Number of entries (at most 2047).
    pub entry_count: U32,
    /// Zero.
    pub reserved: U32,
}

/// A region table entry.
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct RegionEntry {
    /// Which region.
    pub guid: [u8; 16],
    /// Offset in the file (1 MiB aligned).
    pub file_offset: U64,
    /// Length (a multiple of 1 MiB).
    pub length: U32,
    /// Bit 0: an implementation must understand this region.
    pub required: U32,
}

/// The metadata table header (2.6.1).
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct MetadataTableHeader {
    /// `metadata`.
    pub signature: [u8; 8],
    /// Zero.
    pub reserved: U16,
    /// Number of entries (at most 2047).
    pub entry_count: U16,
    /// Zeros.
    pub reserved2: [u8; 20],
}

/// A metadata table entry.
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct MetadataEntry {
    /// Which item.
    pub item_id: [u8; 16],
    /// Offset of the item from the start of the metadata region (≥ 64 KiB).
    pub offset: U32,
    /// Length of the item.
    pub length: U32,
    /// Bit 0 IsUser, bit 1 IsVirtualDisk, bit 2 IsRequired.
    pub flags: U32,
    /// Zero.
    pub reserved: U32,
}

/// Metadata entry flag: the item describes the virtual disk.
pub const META_IS_VIRTUAL_DISK: u32 = 1 << 1;
/// Metadata entry flag: an implementation must understand the item.
pub const META_IS_REQUIRED: u32 = 1 << 2;

const _: () = assert!(size_of::<RegionEntry>() == 32 && size_of::<MetadataEntry>() == 32);

/// CRC-32C of `bytes` with the 4-byte checksum field at `field` taken as zero.
pub fn checksum(bytes: &[u8], field: usize) -> u32 {
    let c = crc32c::crc32c(&bytes[..field]);
    let c = crc32c::crc32c_append(c, &[0; 4]);
    crc32c::crc32c_append(c, &bytes[field + 4..])
}

/// Payload blocks per sector bitmap block: 2^23 sectors' worth of blocks.
pub fn chunk_ratio(logical_sector: u64, block_size: u64) -> u64 {
    ((1u64 << 23) * logical_sector) / block_size
}

/// Number of BAT entries of a dynamic or fixed disk.
pub fn bat_entries(size: u64, block_size: u64, chunk_ratio: u64) -> u64 {
    let payload = size.div_ceil(block_size);
    if payload == 0 {
        return 0;
    }
    payload + (payload - 1) / chunk_ratio
}

/// Index in the BAT of payload block `i`: sector bitmap entries interleave.
pub fn bat_index(i: u64, chunk_ratio: u64) -> u64 {
    i + i / chunk_ratio
}
