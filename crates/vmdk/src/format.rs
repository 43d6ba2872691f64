//! On-disk structures (VMware Virtual Disk Format 1.1 and 5.0).

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `KDMV` read as a little-endian number: the sparse extent magic.
pub const MAGIC: u32 = 0x564d_444b;
/// Header flag: the newline-detection characters are valid.
pub const FLAG_NL_TEST: u32 = 1 << 0;
/// Header flag: a redundant grain directory and tables exist.
pub const FLAG_REDUNDANT_GT: u32 = 1 << 1;
/// Header flag: grain table entry 1 means a zeroed grain.
pub const FLAG_ZEROED_GTE: u32 = 1 << 2;
/// Header flag: grains are compressed.
pub const FLAG_COMPRESSED: u32 = 1 << 16;
/// Header flag: grains and metadata are preceded by markers.
pub const FLAG_MARKERS: u32 = 1 << 17;
/// `gdOffset` of a stream-optimized header: the grain directory is at the
/// end, found through the footer.
pub const GD_AT_END: u64 = u64::MAX;
/// Compression algorithm: deflate in a zlib stream.
pub const COMPRESSION_DEFLATE: u16 = 1;
/// Metadata marker types.
pub const MARKER_EOS: u32 = 0;
/// Grain table marker.
pub const MARKER_GT: u32 = 1;
/// Grain directory marker.
pub const MARKER_GD: u32 = 2;
/// Footer marker.
pub const MARKER_FOOTER: u32 = 3;
/// Bytes per sector.
pub const SECTOR: u64 = 512;
/// The most grain directory entries a sparse extent may have: qemu's limit
/// ("L1 size too big"), 16 PiB of 64 KiB grains in 512-entry tables.
pub const MAX_GD_ENTRIES: u64 = 1 << 29;

/// The sparse extent header at sector 0 (and, in a stream-optimized file,
/// again as the footer).
#[derive(Clone, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct SparseExtentHeader {
    /// `KDMV`.
    pub magic_number: U32,
    /// 1, 2 or 3 (3: stream-optimized).
    pub version: U32,
    /// `FLAG_*` bits.
    pub flags: U32,
    /// Capacity of the extent in sectors.
    pub capacity: U64,
    /// Sectors per grain (128: 64 KiB).
    pub grain_size: U64,
    /// Sector of the embedded descriptor, or 0.
    pub descriptor_offset: U64,
    /// Sectors reserved for the embedded descriptor.
    pub descriptor_size: U64,
    /// Entries per grain table (512).
    pub num_gtes_per_gt: U32,
    /// Sector of the redundant grain directory, or 0.
    pub rgd_offset: U64,
    /// Sector of the grain directory, or `GD_AT_END`.
    pub gd_offset: U64,
    /// Sectors before the first grain.
    pub over_head: U64,
    /// 1 when the extent was not closed cleanly.
    pub unclean_shutdown: u8,
    /// `\n`.
    pub single_end_line_char: u8,
    /// ` `.
    pub non_end_line_char: u8,
    /// `\r`.
    pub double_end_line_char1: u8,
    /// `\n`.
    pub double_end_line_char2: u8,
    /// 0 none, 1 deflate.
    pub compress_algorithm: U16,
    /// Zeros.
    pub pad: [u8; 433],
}

const _: () = assert!(size_of::<SparseExtentHeader>() == 512);

/// The marker before a compressed grain: its first sector (LBA) and the
/// length of the compressed data that follows.
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct GrainMarker {
    /// The grain's first sector in the virtual disk.
    pub lba: U64,
    /// Bytes of compressed data after the marker.
    pub size: U32,
}

const _: () = assert!(size_of::<GrainMarker>() == 12);

/// A marker (stream-optimized extents): before a grain, `value` is its
/// first sector and `size` its compressed length; before metadata, `value`
/// is the number of sectors that follow, `size` is 0 and `kind` says what.
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Marker {
    /// Grain: its LBA. Metadata: sectors that follow.
    pub value: U64,
    /// Grain: compressed bytes. Metadata: 0.
    pub size: U32,
    /// Metadata: `MARKER_*`.
    pub kind: U32,
}
