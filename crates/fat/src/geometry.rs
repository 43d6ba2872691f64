//! The layout `mkfs.fat` gives a file system of a given size.

use crate::error::invalid_fat;
use crate::{Result, ENTRY, MAX_SIZE, MIB, NUM_FATS, SECTOR};

// Cluster counts as dosfstools bounds them: Windows reads fewer than 4087
// clusters as FAT12 and Linux fewer than 4085, so FAT16 starts at 4087; a
// FAT32 has at least 65 525 clusters and at most 2^28 - 10.
const MAX_CLUSTERS_12: u64 = 4084;
const MIN_CLUSTERS_16: u64 = 4087;
const MAX_CLUSTERS_16: u64 = 65_524;
const MIN_CLUSTERS_32: u64 = 65_525;
const MAX_CLUSTERS_32: u64 = 268_435_446;

/// Which FAT a file system uses, by the width of its table entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FatType {
    /// 12-bit entries, at most 4084 clusters.
    Fat12,
    /// 16-bit entries, 4087 to 65 524 clusters.
    Fat16,
    /// 28-bit entries in 32 bits, 65 525 clusters or more.
    Fat32,
}

impl FatType {
    /// Bits per table entry: 12, 16 or 32.
    pub fn bits(self) -> u64 {
        match self {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        }
    }

    /// The end-of-chain mark.
    pub(crate) fn end_of_chain(self) -> u32 {
        match self {
            FatType::Fat12 => 0xFFF,
            FatType::Fat16 => 0xFFFF,
            FatType::Fat32 => 0x0FFF_FFFF,
        }
    }

    /// The informational type string of the boot sector (`BS_FilSysType`).
    pub(crate) fn type_string(self) -> &'static [u8; 8] {
        match self {
            FatType::Fat12 => b"FAT12   ",
            FatType::Fat16 => b"FAT16   ",
            FatType::Fat32 => b"FAT32   ",
        }
    }
}

/// Where everything of a FAT file system of a given size goes, as
/// `mkfs.fat` lays it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FatGeometry {
    /// FAT12, FAT16 or FAT32.
    pub fat_type: FatType,
    /// Bytes the file system was asked to fill.
    pub size: u64,
    /// 512-byte sectors the file system covers (`BPB_TotSec16/32`): the
    /// size in whole tracks, as `mkfs.fat` rounds it.
    pub sectors: u32,
    /// Sectors per cluster (`BPB_SecPerClus`).
    pub sectors_per_cluster: u32,
    /// Sectors before the first FAT (`BPB_RsvdSecCnt`).
    pub reserved_sectors: u32,
    /// Sectors of one FAT (`BPB_FATSz16` or `BPB_FATSz32`).
    pub fat_sectors: u32,
    /// Slots of the fixed root directory of FAT12/16 (`BPB_RootEntCnt`); 0
    /// for FAT32, whose root directory is a cluster chain.
    pub root_entries: u32,
    /// Data clusters, numbered from 2.
    pub clusters: u32,
    /// CHS sectors per track (`BPB_SecPerTrk`).
    pub sectors_per_track: u16,
    /// CHS heads (`BPB_NumHeads`).
    pub heads: u16,
}

impl FatGeometry {
    /// The layout `mkfs.fat` gives a file system of `size` bytes (a whole
    /// number of 512-byte sectors, at most 2 TiB).
    pub fn for_size(size: u64) -> Result<FatGeometry> {
        if size % SECTOR != 0 {
            return Err(invalid_fat(format!(
                "a size of {size} bytes is not a whole number of 512-byte sectors"
            )));
        }
        if size > MAX_SIZE {
            return Err(invalid_fat(format!(
                "a size of {size} bytes is more than FAT's 2^32 - 1 sectors"
            )));
        }
        Self::plan(size).ok_or_else(|| {
            invalid_fat(format!(
                "{size} bytes is too small for a FAT file system (mkfs.fat makes none this small)"
            ))
        })
    }

    /// `mkfs.fat`'s choice for `size` bytes (checked by the caller), or None
    /// when no FAT fits.
    pub(crate) fn plan(size: u64) -> Option<FatGeometry> {
        let total = size / SECTOR;
        // Geometry for disks without one: the SD card specification's CHS
        // values up to 256 MiB, LBA-assist translation above.
        let (heads, per_track): (u64, u64) = if total <= 524_288 {
            let heads = match total {
                0..=32_768 => 2,
                32_769..=65_536 => 4,
                65_537..=262_144 => 8,
                _ => 16,
            };
            (heads, if total <= 4096 { 16 } else { 32 })
        } else {
            let heads = [16, 32, 64, 128]
                .into_iter()
                .find(|h| total <= h * 63 * 1024)
                .unwrap_or(255);
            (heads, 63)
        };
        // mkfs.fat keeps whole tracks (DOS and mtools want them), and aligns
        // its structures to the cluster size unless the disk is floppy-sized.
        let sectors = total / per_track * per_track;
        let aligned = sectors > 8192;
        let align = |n: u64, spc: u64| if aligned { n.next_multiple_of(spc) } else { n };

        let fat32 = size >= 512 * MIB;
        let reserved = if fat32 { 32 } else { 1 };
        let root_sectors = if fat32 { 0 } else { 512 * ENTRY / SECTOR };
        // FAT32 cluster sizes as Microsoft's format picks them; FAT12/16 start
        // at 2 KiB and double until a table fits.
        let mut spc: u64 = match total {
            _ if !fat32 => 4,
            t if t > 64 << 20 => 64,
            t if t > 32 << 20 => 32,
            t if t > 16 << 20 => 16,
            t if t > 260 * 2048 => 8,
            _ => 1,
        };
        let (fat_type, clusters, fat_sectors) = loop {
            if spc > 128 {
                return None;
            }
            let data32 = sectors.checked_sub(align(reserved, spc));
            let data16 = data32.and_then(|d| d.checked_sub(align(root_sectors, spc)));
            let fit = |t| Self::fit(t, data16, spc, &align);
            let found = if fat32 {
                Self::fit(FatType::Fat32, data32, spc, &align).map(|(c, f)| (FatType::Fat32, c, f))
            } else {
                match (fit(FatType::Fat12), fit(FatType::Fat16)) {
                    (Some(a), Some(b)) if b.0 <= a.0 => Some((FatType::Fat12, a.0, a.1)),
                    (_, Some(b)) => Some((FatType::Fat16, b.0, b.1)),
                    (Some(a), None) => Some((FatType::Fat12, a.0, a.1)),
                    (None, None) => None,
                }
            };
            if let Some(f) = found {
                break f;
            }
            spc *= 2;
        };
        let reserved = align(reserved, spc);
        let root_entries = if fat32 {
            0
        } else {
            align(root_sectors, spc) * SECTOR / ENTRY
        };
        // mkfs.fat wants at least 32 KiB past the start of the data area.
        let data_start = reserved + NUM_FATS * fat_sectors + root_entries * ENTRY / SECTOR;
        if size / 1024 < data_start.div_ceil(2) + 32 {
            return None;
        }
        Some(FatGeometry {
            fat_type,
            size,
            sectors: sectors as u32,
            sectors_per_cluster: spc as u32,
            reserved_sectors: reserved as u32,
            fat_sectors: fat_sectors as u32,
            root_entries: root_entries as u32,
            clusters: clusters as u32,
            sectors_per_track: per_track as u16,
            heads: heads as u16,
        })
    }

    /// Clusters and FAT sectors of a `fat_type` table over `data` sectors
    /// (FATs and clusters) at `spc` sectors per cluster, if the count is in
    /// the type's range: first an estimate that shares the bytes between
    /// clusters and their FAT entries, then the count the rounded-up FAT
    /// really leaves.
    fn fit(
        fat_type: FatType,
        data: Option<u64>,
        spc: u64,
        align: &dyn Fn(u64, u64) -> u64,
    ) -> Option<(u64, u64)> {
        let data = data?;
        let bytes = data * SECTOR;
        let cluster = spc * SECTOR;
        let (estimate, fat_bytes): (u64, fn(u64) -> u64) = match fat_type {
            FatType::Fat12 => (
                2 * (bytes + NUM_FATS * 3) / (2 * cluster + NUM_FATS * 3),
                |c| ((c + 2) * 3).div_ceil(2),
            ),
            FatType::Fat16 => ((bytes + NUM_FATS * 4) / (cluster + NUM_FATS * 2), |c| {
                (c + 2) * 2
            }),
            FatType::Fat32 => ((bytes + NUM_FATS * 8) / (cluster + NUM_FATS * 4), |c| {
                (c + 2) * 4
            }),
        };
        let fat_sectors = align(fat_bytes(estimate).div_ceil(SECTOR), spc);
        let clusters = data.checked_sub(NUM_FATS * fat_sectors)? / spc;
        let entries = fat_sectors * SECTOR * 8 / fat_type.bits();
        let (min, max) = match fat_type {
            FatType::Fat12 => (1, MAX_CLUSTERS_12),
            FatType::Fat16 => (MIN_CLUSTERS_16, MAX_CLUSTERS_16),
            FatType::Fat32 => (MIN_CLUSTERS_32, MAX_CLUSTERS_32),
        };
        (clusters >= min && clusters <= entries.min(max)).then_some((clusters, fat_sectors))
    }

    /// Bytes per cluster.
    pub fn cluster_bytes(&self) -> u64 {
        u64::from(self.sectors_per_cluster) * SECTOR
    }

    /// Byte offset of the FAT12/16 root directory (or, for FAT32, of where
    /// it would be: the data area).
    pub(crate) fn root_offset(&self) -> u64 {
        (u64::from(self.reserved_sectors) + NUM_FATS * u64::from(self.fat_sectors)) * SECTOR
    }

    /// Byte offset of cluster 2, the first of the data area.
    pub fn data_offset(&self) -> u64 {
        self.root_offset() + u64::from(self.root_entries) * ENTRY
    }

    pub(crate) fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data_offset() + u64::from(cluster - 2) * self.cluster_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_that_are_not_sectors_or_too_small_are_refused() {
        let err = FatGeometry::for_size(1_000_000).unwrap_err().to_string();
        assert!(
            err.contains("not a whole number of 512-byte sectors"),
            "{err}"
        );
        let err = FatGeometry::for_size(16 * 1024).unwrap_err().to_string();
        assert!(err.contains("too small"), "{err}");
        assert!(FatGeometry::for_size(MAX_SIZE + SECTOR).is_err());
        assert_eq!(
            FatGeometry::for_size(MAX_SIZE).unwrap().fat_type,
            FatType::Fat32
        );
    }
}
