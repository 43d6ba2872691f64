//! On-disk structures (qemu docs/interop/qcow2.txt).

use zerocopy::big_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `QFI\xfb`.
pub const MAGIC: u32 = 0x5146_49fb;

/// The image header at offset 0, as version 3 lays it out (version 2 stops
/// after `snapshots_offset`).
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Header {
    /// `QFI\xfb`.
    pub magic: U32,
    /// 2 or 3.
    pub version: U32,
    /// Offset of the backing file name, or 0 when there is none.
    pub backing_file_offset: U64,
    /// Length of the backing file name in bytes.
    pub backing_file_size: U32,
    /// log2 of the cluster size (9 ..= 21).
    pub cluster_bits: U32,
    /// Virtual disk size in bytes.
    pub size: U64,
    /// 0 for no encryption.
    pub crypt_method: U32,
    /// Number of entries in the active L1 table.
    pub l1_size: U32,
    /// Offset of the active L1 table (cluster aligned).
    pub l1_table_offset: U64,
    /// Offset of the refcount table (cluster aligned).
    pub refcount_table_offset: U64,
    /// Number of clusters the refcount table occupies.
    pub refcount_table_clusters: U32,
    /// Number of snapshots.
    pub nb_snapshots: U32,
    /// Offset of the snapshot table.
    pub snapshots_offset: U64,
    /// Features an implementation must understand to open the image.
    pub incompatible_features: U64,
    /// Features that may be ignored.
    pub compatible_features: U64,
    /// Features whose extension data is invalid once the image is written by
    /// someone who does not know them.
    pub autoclear_features: U64,
    /// log2 of the refcount width in bits (16-bit refcounts: 4).
    pub refcount_order: U32,
    /// Length of this header structure in bytes.
    pub header_length: U32,
    /// 0 deflate, 1 zstd (only with the compression type feature bit).
    pub compression_type: u8,
    /// Pads the header to a multiple of 8 bytes.
    pub padding: [u8; 7],
}

const _: () = assert!(size_of::<Header>() == 112);

/// Length of a version 2 header.
pub const V2_HEADER_LENGTH: u32 = 72;
/// Length of a version 3 header without the compression type byte.
pub const V3_MIN_HEADER_LENGTH: u32 = 104;

/// Incompatible feature: the refcounts may be stale (lazy refcounts).
pub const INCOMPAT_DIRTY: u64 = 1 << 0;
/// Incompatible feature: the image was found corrupt by qemu.
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
/// Incompatible feature: guest data lives in an external data file.
pub const INCOMPAT_DATA_FILE: u64 = 1 << 2;
/// Incompatible feature: the compression type field is valid.
pub const INCOMPAT_COMPRESSION: u64 = 1 << 3;
/// Incompatible feature: L2 entries are 128 bits with subcluster bitmaps.
pub const INCOMPAT_EXTL2: u64 = 1 << 4;
/// Every incompatible feature this crate understands.
pub const INCOMPAT_KNOWN: u64 =
    INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

/// Compatible feature: lazy refcounts.
pub const COMPAT_LAZY_REFCOUNTS: u64 = 1 << 0;

/// L1 entry bits 9–55: offset of the L2 table.
pub const L1E_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// L2 entry bits 9–55: offset of a standard cluster.
pub const L2E_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Bit 63 of L1 and standard L2 entries: refcount is exactly one.
pub const OFLAG_COPIED: u64 = 1 << 63;
/// Bit 62 of an L2 entry: the cluster is compressed.
pub const OFLAG_COMPRESSED: u64 = 1 << 62;
/// Bit 0 of a standard L2 entry: the cluster reads as zeros.
pub const OFLAG_ZERO: u64 = 1;

/// qemu's limit on the L1 table (QCOW_MAX_L1_SIZE): 32 MiB.
pub const MAX_L1_BYTES: u64 = 32 << 20;
/// qemu's limit on the refcount table (QCOW_MAX_REFTABLE_SIZE): 8 MiB.
pub const MAX_REFTABLE_BYTES: u64 = 8 << 20;

/// The compression a compressed cluster uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompressionType {
    /// Raw deflate (RFC 1951), qemu's default.
    Deflate,
    /// A zstd frame.
    Zstd,
}

/// Where a compressed cluster's data lies, decoded from its L2 entry.
/// `x = 62 - (cluster_bits - 8)` splits offset and sector count.
pub fn compressed_location(entry: u64, cluster_bits: u32) -> (u64, u64) {
    let x = 62 - (cluster_bits - 8);
    let offset = entry & ((1u64 << x) - 1);
    let sectors = ((entry >> x) & ((1u64 << (cluster_bits - 8)) - 1)) + 1;
    let len = sectors * 512 - (offset & 511);
    (offset, len)
}

/// The L2 entry of a compressed cluster of `len` bytes at host `offset`.
pub fn compressed_entry(offset: u64, len: u64, cluster_bits: u32) -> u64 {
    let x = 62 - (cluster_bits - 8);
    let extra_sectors = (offset + len - 1) / 512 - offset / 512;
    OFLAG_COMPRESSED | (extra_sectors << x) | offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_entries_round_trip() {
        for bits in [9u32, 16, 21] {
            let want = 3000u64.min((1 << bits) - 1);
            let e = compressed_entry(123_457, want, bits);
            let (off, len) = compressed_location(e, bits);
            assert_eq!(off, 123_457);
            assert!(len >= want && len < want + 512);
        }
    }
}
