//! On-disk structures (Microsoft Virtual Hard Disk Image Format Specification).

use zerocopy::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `conectix`: the footer cookie.
pub const FOOTER_COOKIE: [u8; 8] = *b"conectix";
/// `cxsparse`: the dynamic disk header cookie.
pub const DYNAMIC_COOKIE: [u8; 8] = *b"cxsparse";
/// Disk type of a fixed hard disk.
pub const DISK_FIXED: u32 = 2;
/// Disk type of a dynamic hard disk.
pub const DISK_DYNAMIC: u32 = 3;
/// Disk type of a differencing hard disk.
pub const DISK_DIFFERENCING: u32 = 4;
/// A BAT entry for a block that is not allocated.
pub const BAT_UNUSED: u32 = 0xffff_ffff;
/// VHD timestamps count seconds from 2000-01-01 00:00:00 UTC.
pub const EPOCH_2000: u64 = 946_684_800;
/// The largest VHD the spec allows: 2040 GiB.
pub const MAX_SIZE: u64 = 2040 << 30;
/// The most BAT entries a reader accepts: qemu's limit (`INT_MAX / 4`).
/// Hyper-V's largest disk, 2040 GiB of 2 MiB blocks, needs 1,044,480.
pub const MAX_BAT_ENTRIES: u64 = 0x1fff_ffff;
/// The largest CHS geometry; qemu then trusts `current_size`.
pub const MAX_CHS_SECTORS: u64 = 65535 * 16 * 255;

/// The 512-byte footer at the end of every VHD (and copied to offset 0 of
/// dynamic ones).
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct Footer {
    /// `conectix`.
    pub cookie: [u8; 8],
    /// Feature flags; bit 1 (reserved) is always set.
    pub features: U32,
    /// 0x00010000.
    pub file_format_version: U32,
    /// Offset of the dynamic disk header; all ones for fixed disks.
    pub data_offset: U64,
    /// Creation time, seconds since 2000-01-01 UTC.
    pub timestamp: U32,
    /// The application that created the image.
    pub creator_application: [u8; 4],
    /// Its version.
    pub creator_version: U32,
    /// The host OS it ran on (`Wi2k`).
    pub creator_host_os: U32,
    /// Size of the disk when created.
    pub original_size: U64,
    /// Current size of the disk.
    pub current_size: U64,
    /// CHS geometry: cylinders.
    pub cylinders: U16,
    /// CHS geometry: heads.
    pub heads: u8,
    /// CHS geometry: sectors per track.
    pub sectors_per_track: u8,
    /// 2 fixed, 3 dynamic, 4 differencing.
    pub disk_type: U32,
    /// One's complement of the byte sum of the footer without this field.
    pub checksum: U32,
    /// Identifies the disk.
    pub unique_id: [u8; 16],
    /// 1 when the disk is in a saved state.
    pub saved_state: u8,
    /// Zeros.
    pub reserved: [u8; 427],
}

const _: () = assert!(size_of::<Footer>() == 512);

/// The 1024-byte dynamic disk header.
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct DynamicHeader {
    /// `cxsparse`.
    pub cookie: [u8; 8],
    /// Unused: all ones.
    pub data_offset: U64,
    /// Offset of the block allocation table.
    pub table_offset: U64,
    /// 0x00010000.
    pub header_version: U32,
    /// Entries in the BAT.
    pub max_table_entries: U32,
    /// Bytes of data per block (2 MiB by default).
    pub block_size: U32,
    /// One's complement of the byte sum of the header without this field.
    pub checksum: U32,
    /// Differencing disks: the parent's unique id.
    pub parent_unique_id: [u8; 16],
    /// Differencing disks: the parent's modification time.
    pub parent_timestamp: U32,
    /// Zero.
    pub reserved1: U32,
    /// Differencing disks: the parent's name, UTF-16BE.
    pub parent_unicode_name: [u8; 512],
    /// Differencing disks: eight parent locator entries of 24 bytes.
    pub parent_locators: [u8; 192],
    /// Zeros.
    pub reserved2: [u8; 256],
}

const _: () = assert!(size_of::<DynamicHeader>() == 1024);

/// The VHD checksum: one's complement of the byte sum, with the checksum
/// field (at `field`) counted as zero.
pub fn checksum(bytes: &[u8], field: usize) -> u32 {
    let sum = bytes
        .iter()
        .enumerate()
        .filter(|(i, _)| !(field..field + 4).contains(i))
        .fold(0u32, |s, (_, &b)| s.wrapping_add(u32::from(b)));
    !sum
}

/// Offset of the checksum field in the footer.
pub const FOOTER_CHECKSUM_AT: usize = 64;
/// Offset of the checksum field in the dynamic header.
pub const DYNAMIC_CHECKSUM_AT: usize = 36;

/// CHS geometry (cylinders, heads, sectors per track) for a disk of
/// `total_sectors`, by the algorithm of the spec's appendix.
pub fn geometry(total_sectors: u64) -> (u16, u8, u8) {
    let ts = total_sectors.min(MAX_CHS_SECTORS);
    let (spt, heads, cth);
    if ts >= 65535 * 16 * 63 {
        spt = 255;
        heads = 16;
        cth = ts / spt;
    } else {
        let mut s = 17;
        let mut c = ts / s;
        let mut h = c.div_ceil(1024).max(4);
        if c >= h * 1024 || h > 16 {
            s = 31;
            h = 16;
            c = ts / s;
        }
        if c >= h * 1024 {
            s = 63;
            h = 16;
            c = ts / s;
        }
        spt = s;
        heads = h;
        cth = c;
    }
    ((cth / heads) as u16, heads as u8, spt as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_known_disks() {
        // 127 GiB and the maximum, as Hyper-V and qemu compute them.
        assert_eq!(geometry(127 * (1 << 30) / 512), (65278, 16, 255));
        assert_eq!(geometry(MAX_CHS_SECTORS * 2), (65535, 16, 255));
        // 20 MiB: 40960 sectors.
        assert_eq!(geometry(40960), (602, 4, 17));
    }

    #[test]
    fn checksum_skips_its_field() {
        let mut b = [1u8; 16];
        b[4..8].copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(checksum(&b, 4), !12u32);
    }
}
