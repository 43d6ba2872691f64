//! FAT12, FAT16 and FAT32 file systems built from a directory tree without
//! mounting anything: the UEFI El Torito image of an ISO (`efiboot.img`
//! holding `EFI/BOOT/BOOTX64.EFI`), or an EFI system partition.
//!
//! The layout is the one `mkfs.fat` (dosfstools 4.2) gives a file system of
//! the same size on a fixed disk: FAT type, sectors per cluster, reserved
//! sectors, FAT length, root directory slots and the sector count (whole
//! tracks) all come out as `mkfs.fat -C FILE KIB` would make them. Sizes
//! below 512 MiB get FAT12 or FAT16 (whichever gives more clusters, starting
//! from 2 KiB clusters), 512 MiB and up get FAT32 with 4 KiB to 32 KiB
//! clusters. (For the floppy sizes 360/720/1200/1440/2880 KiB `mkfs.fat`
//! uses floppy parameters instead; this module does not.)
//!
//! The tree is placed in one pass, each directory and file in one
//! contiguous run of clusters, in the order a depth-first walk of the sorted
//! tree meets them. Every directory starts with its `.` and `..` entries
//! (Microsoft FAT specification, "FAT Directory Structure"; `..` of a
//! directory in the root names cluster 0); a name that is not already an
//! upper-case 8.3 name gets VFAT long-name entries before its short entry,
//! and a generated short name with a `~N` tail unique in its directory.
//! The volume id and every time come from a [`BuildStamp`], so the same tree
//! gives the same bytes.
//!
//! # Example
//!
//! ```
//! use blocksink::BuildStamp;
//! use iso9660::fat::{FatImage, FatType};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join("EFI/BOOT"))?;
//! std::fs::write(dir.path().join("EFI/BOOT/BOOTX64.EFI"), b"MZ")?;
//!
//! let stamp = BuildStamp::fixed(1_700_000_000, "example");
//! let fs = FatImage::from_dir(dir.path(), 64 << 20, "ESP", &stamp)?;
//! assert_eq!(fs.geometry().fat_type, FatType::Fat16);
//! assert_eq!(fs.to_vec()?.len(), 64 << 20);
//!
//! // Too small: the error names the size that holds the tree.
//! std::fs::write(dir.path().join("big.bin"), vec![1u8; 3 << 20])?;
//! let err = FatImage::from_dir(dir.path(), 2 << 20, "ESP", &stamp).unwrap_err();
//! assert!(err.to_string().contains("4194304 bytes (4 MiB)"), "{err}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use blocksink::{BuildStamp, Destination};

use crate::format::utc;
use crate::{Error, Result};

const SECTOR: u64 = 512;
const MIB: u64 = 1 << 20;
/// Two copies of the FAT, as every formatter writes them.
const NUM_FATS: u64 = 2;
/// Fixed disk.
const MEDIA: u8 = 0xF8;
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

// Cluster counts as dosfstools bounds them: Windows reads fewer than 4087
// clusters as FAT12 and Linux fewer than 4085, so FAT16 starts at 4087; a
// FAT32 has at least 65 525 clusters and at most 2^28 - 10.
const MAX_CLUSTERS_12: u64 = 4084;
const MIN_CLUSTERS_16: u64 = 4087;
const MAX_CLUSTERS_16: u64 = 65_524;
const MIN_CLUSTERS_32: u64 = 65_525;
const MAX_CLUSTERS_32: u64 = 268_435_446;

const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_LONG_NAME: u8 = 0x0F;

/// Characters other than `A`–`Z` and `0`–`9` allowed in a short name (FAT
/// specification, "Short Name Requirements").
const SHORT_SPECIALS: &[u8] = b"!#$%&'()-@^_`{}~";

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
    fn end_of_chain(self) -> u32 {
        match self {
            FatType::Fat12 => 0xFFF,
            FatType::Fat16 => 0xFFFF,
            FatType::Fat32 => 0x0FFF_FFFF,
        }
    }

    /// The informational type string of the boot sector (`BS_FilSysType`).
    fn type_string(self) -> &'static [u8; 8] {
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
            return Err(Error::InvalidFat(format!(
                "a size of {size} bytes is not a whole number of 512-byte sectors"
            )));
        }
        if size > MAX_SIZE {
            return Err(Error::InvalidFat(format!(
                "a size of {size} bytes is more than FAT's 2^32 - 1 sectors"
            )));
        }
        Self::plan(size).ok_or_else(|| {
            Error::InvalidFat(format!(
                "{size} bytes is too small for a FAT file system (mkfs.fat makes none this small)"
            ))
        })
    }

    /// `mkfs.fat`'s choice for `size` bytes (checked by the caller), or None
    /// when no FAT fits.
    fn plan(size: u64) -> Option<FatGeometry> {
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
    fn root_offset(&self) -> u64 {
        (u64::from(self.reserved_sectors) + NUM_FATS * u64::from(self.fat_sectors)) * SECTOR
    }

    /// Byte offset of cluster 2, the first of the data area.
    pub fn data_offset(&self) -> u64 {
        self.root_offset() + u64::from(self.root_entries) * ENTRY
    }

    fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data_offset() + u64::from(cluster - 2) * self.cluster_bytes()
    }
}

/// A directory tree read for a FAT file system: names checked and given
/// their 8.3 forms, sizes known, nothing placed yet.
#[derive(Debug)]
pub struct FatTree {
    source: PathBuf,
    /// The root first, then each directory's entries in name order as a
    /// depth-first walk reaches them.
    nodes: Vec<Node>,
    /// Clusters every node but the root needs, for clusters of 512 << k bytes.
    clusters_needed: [u64; 8],
    /// Bytes of all files.
    file_bytes: u64,
}

#[derive(Debug)]
struct Node {
    /// The path below the source, `/`-separated ("" for the root).
    rel: String,
    parent: usize,
    /// The 8.3 name, space-padded, as stored.
    short: [u8; 11],
    /// The name in UTF-16 when it needs long-name entries.
    long: Option<Vec<u16>>,
    kind: NodeKind,
}

#[derive(Debug)]
enum NodeKind {
    /// Entries in name order and the 32-byte slots they take (with `.` and
    /// `..`, and long names; the root's volume label is not counted).
    Dir {
        children: Vec<usize>,
        slots: u64,
    },
    File {
        len: u64,
    },
}

impl Node {
    /// Slots the node's entry takes in its parent.
    fn slots(&self) -> u64 {
        1 + self
            .long
            .as_ref()
            .map_or(0, |u| u.len().div_ceil(LFN_UNITS) as u64)
    }

    /// Clusters the node's contents take.
    fn clusters(&self, cluster: u64) -> u64 {
        match &self.kind {
            NodeKind::File { len } => len.div_ceil(cluster),
            NodeKind::Dir { slots, .. } => (slots * ENTRY).div_ceil(cluster).max(1),
        }
    }
}

impl FatTree {
    /// Reads the tree under `dir`: directories and regular files only (a
    /// symlink or special file is an error, as is a name FAT cannot hold
    /// or two names that differ only in case).
    pub fn from_dir(dir: &Path) -> Result<FatTree> {
        let meta = fs::metadata(dir)
            .map_err(|e| Error::at_path(dir.display().to_string(), e.to_string()))?;
        if !meta.is_dir() {
            return Err(Error::at_path(
                dir.display().to_string(),
                "a FAT image is built from a directory",
            ));
        }
        let mut nodes = vec![Node {
            rel: String::new(),
            parent: 0,
            short: [b' '; 11],
            long: None,
            kind: NodeKind::Dir {
                children: Vec::new(),
                slots: 0,
            },
        }];
        let mut file_bytes = 0u64;
        let mut stack = vec![0usize];
        while let Some(at) = stack.pop() {
            let here = dir.join(&nodes[at].rel);
            let shown = || here.display().to_string();
            let mut entries = fs::read_dir(&here)
                .and_then(|d| d.collect::<io::Result<Vec<_>>>())
                .map_err(|e| Error::at_path(shown(), e.to_string()))?;
            entries.sort_by_key(|e| e.file_name());
            let mut children = Vec::with_capacity(entries.len());
            let mut subdirs = Vec::new();
            for e in entries {
                let path = e.path();
                let shown = || path.display().to_string();
                let name = e
                    .file_name()
                    .into_string()
                    .map_err(|_| Error::at_path(shown(), "a FAT name must be valid UTF-8"))?;
                let units = long_name(&name).map_err(|why| Error::at_path(shown(), why))?;
                let ft = e
                    .file_type()
                    .map_err(|e| Error::at_path(shown(), e.to_string()))?;
                let kind = if ft.is_dir() {
                    NodeKind::Dir {
                        children: Vec::new(),
                        slots: 0,
                    }
                } else if ft.is_file() {
                    let len = e
                        .metadata()
                        .map_err(|e| Error::at_path(shown(), e.to_string()))?
                        .len();
                    if len > MAX_FILE {
                        return Err(Error::at_path(
                            shown(),
                            format!("{len} bytes is more than a FAT file can hold (4 GiB - 1)"),
                        ));
                    }
                    file_bytes += len;
                    NodeKind::File { len }
                } else {
                    return Err(Error::at_path(
                        shown(),
                        "only directories and regular files can go into a FAT image",
                    ));
                };
                let rel = if at == 0 {
                    name
                } else {
                    format!("{}/{name}", nodes[at].rel)
                };
                if matches!(kind, NodeKind::Dir { .. }) {
                    subdirs.push(nodes.len());
                }
                children.push(nodes.len());
                nodes.push(Node {
                    rel,
                    parent: at,
                    short: [b' '; 11],
                    long: Some(units),
                    kind,
                });
            }
            assign_short_names(&mut nodes, &children)
                .map_err(|why| Error::at_path(shown(), why))?;
            let own = if at == 0 { 0 } else { 2 };
            let slots = own + children.iter().map(|&c| nodes[c].slots()).sum::<u64>();
            // The root of FAT32 is bounded the same way; one slot is kept
            // for the volume label.
            if slots + u64::from(at == 0) > MAX_DIR_ENTRIES {
                return Err(Error::at_path(
                    shown(),
                    format!(
                        "{} entries need {slots} directory slots, more than FAT's {MAX_DIR_ENTRIES}",
                        children.len()
                    ),
                ));
            }
            nodes[at].kind = NodeKind::Dir { children, slots };
            stack.extend(subdirs.into_iter().rev());
        }
        let mut clusters_needed = [0u64; 8];
        for (k, n) in clusters_needed.iter_mut().enumerate() {
            *n = nodes[1..].iter().map(|x| x.clusters(SECTOR << k)).sum();
        }
        Ok(FatTree {
            source: dir.to_path_buf(),
            nodes,
            clusters_needed,
            file_bytes,
        })
    }

    /// Slots the root directory takes, with the volume label's.
    fn root_slots(&self, labelled: bool) -> u64 {
        match self.nodes[0].kind {
            NodeKind::Dir { slots, .. } => slots + u64::from(labelled),
            NodeKind::File { .. } => unreachable!("the root is a directory"),
        }
    }

    /// Whether the tree fits in a file system laid out as `g`.
    fn fits(&self, g: &FatGeometry, labelled: bool) -> bool {
        let cluster = g.cluster_bytes();
        let k = (cluster / SECTOR).trailing_zeros() as usize;
        let root = self.root_slots(labelled);
        let (root_clusters, root_ok) = match g.fat_type {
            FatType::Fat32 => ((root * ENTRY).div_ceil(cluster).max(1), true),
            _ => (0, root <= u64::from(g.root_entries)),
        };
        root_ok && self.clusters_needed[k] + root_clusters <= u64::from(g.clusters)
    }

    /// The smallest size, `at_least` or more in whole MiB, whose file system
    /// holds the tree with volume label `label`. (Not always the smallest of
    /// all: a bigger size can mean bigger clusters and more slack.)
    pub fn size_needed(&self, label: &str, at_least: u64) -> Result<u64> {
        let labelled = volume_label(label)?.is_some();
        let start = at_least.max(self.file_bytes).max(MIB).next_multiple_of(MIB);
        let mut size = start;
        while size <= MAX_SIZE {
            if let Some(g) = FatGeometry::plan(size) {
                if self.fits(&g, labelled) {
                    return Ok(size);
                }
            }
            size += MIB;
        }
        Err(Error::at_path(
            self.source.display().to_string(),
            "does not fit in a FAT file system of any size",
        ))
    }

    /// Places the tree in a file system of exactly `size` bytes with volume
    /// `label` (up to 11 characters from `A`–`Z`, `0`–`9`, space and
    /// ``!#$%&'()-@^_`{}~``; empty for none); the volume id and times come
    /// from `stamp`. A tree that does not fit is an
    /// [`Error::FatTooSmall`] naming the size that would hold it.
    pub fn build(self, size: u64, label: &str, stamp: &BuildStamp) -> Result<FatImage> {
        let label = volume_label(label)?;
        let labelled = label.is_some();
        let too_small = |tree: &FatTree| -> Result<Error> {
            Ok(Error::FatTooSmall {
                path: tree.source.display().to_string(),
                size,
                needed: tree.size_needed(&label_str(label), size)?,
            })
        };
        let geometry = match FatGeometry::for_size(size) {
            Ok(g) => g,
            Err(_) if size % SECTOR == 0 && size <= MAX_SIZE => return Err(too_small(&self)?),
            Err(e) => return Err(e),
        };
        if !self.fits(&geometry, labelled) {
            return Err(too_small(&self)?);
        }

        // Clusters in node order: the FAT32 root first, at cluster 2.
        let cluster = geometry.cluster_bytes();
        let mut next = 2u32;
        let mut chains = Vec::with_capacity(self.nodes.len());
        for (i, n) in self.nodes.iter().enumerate() {
            let count = match (i, geometry.fat_type) {
                (0, FatType::Fat32) => (self.root_slots(labelled) * ENTRY).div_ceil(cluster).max(1),
                (0, _) => 0,
                _ => n.clusters(cluster),
            } as u32;
            chains.push(Chain {
                first: if count == 0 { 0 } else { next },
                count,
            });
            next += count;
        }
        let volume_id = u32::from_le_bytes(
            stamp.uuid("fat volume id").as_bytes()[..4]
                .try_into()
                .expect("4 bytes"),
        );
        Ok(FatImage {
            tree: self,
            geometry,
            label,
            volume_id,
            time: dos_time(stamp.unix_time()),
            chains,
            used: next - 2,
        })
    }
}

/// One node's run of clusters (`first` is 0 when there are none).
#[derive(Clone, Copy, Debug)]
struct Chain {
    first: u32,
    count: u32,
}

/// A FAT file system laid out over a [`FatTree`], ready to be written.
#[derive(Debug)]
pub struct FatImage {
    tree: FatTree,
    geometry: FatGeometry,
    label: Option<[u8; 11]>,
    volume_id: u32,
    /// (date, time) in FAT's encoding.
    time: (u16, u16),
    /// Per node, as `tree.nodes`.
    chains: Vec<Chain>,
    /// Clusters in use.
    used: u32,
}

impl FatImage {
    /// A file system of exactly `size` bytes holding the tree under `dir`,
    /// with volume `label`, times and volume id from `stamp`; see
    /// [`FatTree::from_dir`] and [`FatTree::build`].
    pub fn from_dir(dir: &Path, size: u64, label: &str, stamp: &BuildStamp) -> Result<FatImage> {
        FatTree::from_dir(dir)?.build(size, label, stamp)
    }

    /// The layout.
    pub fn geometry(&self) -> &FatGeometry {
        &self.geometry
    }

    /// Bytes of the image.
    pub fn size(&self) -> u64 {
        self.geometry.size
    }

    /// The volume serial number (`BS_VolID`), shown by `blkid` as the
    /// file system's UUID `XXXX-XXXX`.
    pub fn volume_id(&self) -> u32 {
        self.volume_id
    }

    /// Clusters the tree takes (for FAT32 with the root directory's).
    pub fn clusters_used(&self) -> u32 {
        self.used
    }

    /// Writes the file system front to back at `offset` of `dest` (so a
    /// stream will do). Free clusters are skipped, left as holes in a new
    /// file or zeros in a stream; everything else, the slack after each
    /// file included, is written in full.
    pub fn write(&self, dest: &mut Destination, offset: u64) -> Result<()> {
        self.emit(&mut DestinationOut { dest, base: offset })
    }

    /// The whole image in memory.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let len = usize::try_from(self.size()).map_err(|_| {
            Error::InvalidFat(format!("{} bytes do not fit in memory", self.size()))
        })?;
        let mut bytes = vec![0u8; len];
        self.emit(&mut SliceOut(&mut bytes))?;
        Ok(bytes)
    }

    fn emit(&self, out: &mut dyn Out) -> Result<()> {
        let g = &self.geometry;
        out.put(0, &self.reserved_area())?;
        let fat_len = u64::from(g.fat_sectors) * SECTOR;
        let fat_at = u64::from(g.reserved_sectors) * SECTOR;
        for copy in 0..NUM_FATS {
            self.write_fat(out, fat_at + copy * fat_len)?;
        }
        if g.fat_type != FatType::Fat32 {
            let mut root = self.directory(0);
            root.resize((u64::from(g.root_entries) * ENTRY) as usize, 0);
            out.put(g.root_offset(), &root)?;
        }
        let cluster = g.cluster_bytes();
        for (i, (node, chain)) in self.tree.nodes.iter().zip(&self.chains).enumerate() {
            if chain.count == 0 {
                continue;
            }
            let at = g.cluster_offset(chain.first);
            let span = u64::from(chain.count) * cluster;
            match node.kind {
                NodeKind::Dir { .. } => {
                    let mut bytes = self.directory(i);
                    bytes.resize(span as usize, 0);
                    out.put(at, &bytes)?;
                }
                NodeKind::File { len } => {
                    let path = self.tree.source.join(&node.rel);
                    let shown = || path.display().to_string();
                    let file =
                        File::open(&path).map_err(|e| Error::at_path(shown(), e.to_string()))?;
                    let now = file
                        .metadata()
                        .map_err(|e| Error::at_path(shown(), e.to_string()))?
                        .len();
                    if now != len {
                        return Err(Error::at_path(
                            shown(),
                            format!("changed size while the FAT image was made ({len} bytes, now {now})"),
                        ));
                    }
                    out.put_file(at, &file, len)
                        .map_err(|e| Error::at_path(shown(), e.to_string()))?;
                    // The slack after a file's end is written too, so nothing
                    // stale stays behind in a destination written before.
                    let slack = (span - len) as usize;
                    if slack > 0 {
                        out.put(at + len, &vec![0u8; slack])?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The boot sector, and for FAT32 the FSInfo sector and their backups.
    fn reserved_area(&self) -> Vec<u8> {
        let g = &self.geometry;
        let mut area = vec![0u8; g.reserved_sectors as usize * SECTOR as usize];
        let b = &mut area[..SECTOR as usize];
        let fat32 = g.fat_type == FatType::Fat32;
        // A short jump over the BPB to code that asks the BIOS for the next
        // boot device (int 18h) and halts.
        let code_at: usize = if fat32 { 90 } else { 62 };
        b[..3].copy_from_slice(&[0xEB, (code_at - 2) as u8, 0x90]);
        b[3..11].copy_from_slice(b"MSWIN4.1");
        b[11..13].copy_from_slice(&(SECTOR as u16).to_le_bytes());
        b[13] = g.sectors_per_cluster as u8;
        b[14..16].copy_from_slice(&(g.reserved_sectors as u16).to_le_bytes());
        b[16] = NUM_FATS as u8;
        b[17..19].copy_from_slice(&(g.root_entries as u16).to_le_bytes());
        if g.sectors < 65_536 {
            b[19..21].copy_from_slice(&(g.sectors as u16).to_le_bytes());
        } else {
            b[32..36].copy_from_slice(&g.sectors.to_le_bytes());
        }
        b[21] = MEDIA;
        b[24..26].copy_from_slice(&g.sectors_per_track.to_le_bytes());
        b[26..28].copy_from_slice(&g.heads.to_le_bytes());
        let ext = if fat32 {
            b[36..40].copy_from_slice(&g.fat_sectors.to_le_bytes());
            b[44..48].copy_from_slice(&2u32.to_le_bytes()); // root cluster
            b[48..50].copy_from_slice(&1u16.to_le_bytes()); // FSInfo sector
            b[50..52].copy_from_slice(&6u16.to_le_bytes()); // backup boot sector
            64
        } else {
            b[22..24].copy_from_slice(&(g.fat_sectors as u16).to_le_bytes());
            36
        };
        b[ext] = 0x80; // drive number
        b[ext + 2] = 0x29; // extended boot signature: the next three fields are valid
        b[ext + 3..ext + 7].copy_from_slice(&self.volume_id.to_le_bytes());
        b[ext + 7..ext + 18].copy_from_slice(&self.label.unwrap_or(*b"NO NAME    "));
        b[ext + 18..ext + 26].copy_from_slice(g.fat_type.type_string());
        b[code_at..code_at + 5].copy_from_slice(&[0xCD, 0x18, 0xF4, 0xEB, 0xFD]);
        b[510..512].copy_from_slice(&[0x55, 0xAA]);
        if fat32 {
            let boot: Vec<u8> = b.to_vec();
            let mut info = [0u8; SECTOR as usize];
            info[..4].copy_from_slice(b"RRaA");
            info[484..488].copy_from_slice(b"rrAa");
            let free = g.clusters - self.used;
            info[488..492].copy_from_slice(&free.to_le_bytes());
            // The last cluster allocated, where a driver starts looking.
            info[492..496].copy_from_slice(&(self.used + 1).to_le_bytes());
            info[508..512].copy_from_slice(&[0, 0, 0x55, 0xAA]);
            let s = SECTOR as usize;
            area[s..2 * s].copy_from_slice(&info);
            area[6 * s..7 * s].copy_from_slice(&boot);
            area[7 * s..8 * s].copy_from_slice(&info);
        }
        area
    }

    /// Writes one copy of the FAT at `at`: every chain contiguous, ending in
    /// the end-of-chain mark; entry 0 holds the media byte and entry 1 an
    /// end-of-chain mark with the clean-unmount bits set.
    fn write_fat(&self, out: &mut dyn Out, at: u64) -> Result<()> {
        let t = self.geometry.fat_type;
        let eoc = t.end_of_chain();
        let first = eoc & !0xFF | u32::from(MEDIA);
        // Last cluster of each chain, in ascending order.
        let ends: Vec<u32> = self
            .chains
            .iter()
            .filter(|c| c.count > 0)
            .map(|c| c.first + c.count - 1)
            .collect();
        let used_end = 2 + self.used;
        let mut next_end = 0usize;
        let mut value = |c: u32| -> u32 {
            match c {
                0 => first,
                1 => eoc,
                c if c >= used_end => 0,
                c if c == ends[next_end] => {
                    next_end += 1;
                    eoc
                }
                c => c + 1,
            }
        };
        let total = u64::from(self.geometry.fat_sectors) * SECTOR;
        // Entries per chunk: even, so FAT12's pairs of entries stay whole.
        const CHUNK: u32 = 8192;
        let mut written = 0u64;
        let mut c = 0u32;
        let mut buf = Vec::with_capacity(CHUNK as usize * 4);
        while written < total {
            buf.clear();
            if c >= used_end {
                buf.resize((total - written).min(1 << 20) as usize, 0);
            } else {
                for _ in 0..CHUNK / 2 {
                    let (a, b) = (value(c), value(c + 1));
                    c += 2;
                    match t {
                        FatType::Fat12 => buf.extend_from_slice(&[
                            a as u8,
                            ((a >> 8) & 0x0F | (b & 0x0F) << 4) as u8,
                            (b >> 4) as u8,
                        ]),
                        FatType::Fat16 => {
                            buf.extend_from_slice(&(a as u16).to_le_bytes());
                            buf.extend_from_slice(&(b as u16).to_le_bytes());
                        }
                        FatType::Fat32 => {
                            buf.extend_from_slice(&a.to_le_bytes());
                            buf.extend_from_slice(&b.to_le_bytes());
                        }
                    }
                }
            }
            let n = (buf.len() as u64).min(total - written);
            out.put(at + written, &buf[..n as usize])?;
            written += n;
        }
        Ok(())
    }

    /// The entries of directory node `i` (the root: the volume label first).
    fn directory(&self, i: usize) -> Vec<u8> {
        let node = &self.tree.nodes[i];
        let NodeKind::Dir { children, slots } = &node.kind else {
            unreachable!("node {i} is a directory");
        };
        let mut out = Vec::with_capacity((*slots as usize + 1) * ENTRY as usize);
        if i == 0 {
            if let Some(label) = self.label {
                out.extend_from_slice(&self.short_entry(&label, ATTR_VOLUME_ID, 0, 0));
            }
        } else {
            let own = self.chains[i].first;
            let parent = if node.parent == 0 {
                0
            } else {
                self.chains[node.parent].first
            };
            out.extend_from_slice(&self.short_entry(b".          ", ATTR_DIRECTORY, own, 0));
            out.extend_from_slice(&self.short_entry(b"..         ", ATTR_DIRECTORY, parent, 0));
        }
        for &c in children {
            let child = &self.tree.nodes[c];
            if let Some(units) = &child.long {
                push_long_name(&mut out, units, &child.short);
            }
            let (attr, len) = match child.kind {
                NodeKind::Dir { .. } => (ATTR_DIRECTORY, 0),
                NodeKind::File { len } => (ATTR_ARCHIVE, len as u32),
            };
            out.extend_from_slice(&self.short_entry(&child.short, attr, self.chains[c].first, len));
        }
        out
    }

    /// A 32-byte short entry (FAT specification, "Directory Structure"),
    /// created, written and accessed at the stamp's time.
    fn short_entry(&self, name: &[u8; 11], attr: u8, cluster: u32, len: u32) -> [u8; 32] {
        let (date, time) = self.time;
        let mut e = [0u8; 32];
        e[..11].copy_from_slice(name);
        e[11] = attr;
        e[14..16].copy_from_slice(&time.to_le_bytes());
        e[16..18].copy_from_slice(&date.to_le_bytes());
        e[18..20].copy_from_slice(&date.to_le_bytes());
        e[20..22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
        e[22..24].copy_from_slice(&time.to_le_bytes());
        e[24..26].copy_from_slice(&date.to_le_bytes());
        e[26..28].copy_from_slice(&(cluster as u16).to_le_bytes());
        e[28..32].copy_from_slice(&len.to_le_bytes());
        e
    }
}

/// Long-name entries for `units`, last part first, each carrying the
/// checksum of the short name that follows them (FAT specification, "Long
/// File Name Implementation").
fn push_long_name(out: &mut Vec<u8>, units: &[u16], short: &[u8; 11]) {
    let sum = short
        .iter()
        .fold(0u8, |s, &b| s.rotate_right(1).wrapping_add(b));
    let parts = units.len().div_ceil(LFN_UNITS);
    for n in (1..=parts).rev() {
        let mut part = [0xFFFFu16; LFN_UNITS];
        let chunk = &units[(n - 1) * LFN_UNITS..units.len().min(n * LFN_UNITS)];
        part[..chunk.len()].copy_from_slice(chunk);
        if chunk.len() < LFN_UNITS {
            part[chunk.len()] = 0;
        }
        let mut e = [0u8; 32];
        e[0] = n as u8 | if n == parts { 0x40 } else { 0 };
        e[11] = ATTR_LONG_NAME;
        e[13] = sum;
        let fields = (1..11)
            .step_by(2)
            .chain((14..26).step_by(2))
            .chain((28..32).step_by(2));
        for (at, u) in fields.zip(part) {
            e[at..at + 2].copy_from_slice(&u.to_le_bytes());
        }
        out.extend_from_slice(&e);
    }
}

/// Where [`FatImage`] puts its bytes, in ascending offsets.
trait Out {
    fn put(&mut self, at: u64, bytes: &[u8]) -> io::Result<()>;
    fn put_file(&mut self, at: u64, file: &File, len: u64) -> io::Result<()>;
}

struct SliceOut<'a>(&'a mut [u8]);

impl Out for SliceOut<'_> {
    fn put(&mut self, at: u64, bytes: &[u8]) -> io::Result<()> {
        self.0[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    fn put_file(&mut self, at: u64, mut file: &File, len: u64) -> io::Result<()> {
        file.read_exact(&mut self.0[at as usize..(at + len) as usize])
    }
}

struct DestinationOut<'a> {
    dest: &'a mut Destination,
    base: u64,
}

impl Out for DestinationOut<'_> {
    fn put(&mut self, at: u64, bytes: &[u8]) -> io::Result<()> {
        self.dest.write_at(self.base + at, bytes)
    }

    fn put_file(&mut self, at: u64, file: &File, len: u64) -> io::Result<()> {
        self.dest.copy_from(self.base + at, file, len)
    }
}

/// The UTF-16 long name for `name`, or why FAT cannot hold it (FAT
/// specification, "Long File Name Implementation": no control characters
/// or `"*/:<>?\|`, no trailing dot or space, 255 units at most).
fn long_name(name: &str) -> Result<Vec<u16>, String> {
    if let Some(c) = name
        .chars()
        .find(|&c| c < ' ' || c == '\x7f' || "\"*/:<>?\\|".contains(c))
    {
        return Err(format!("a FAT name cannot hold {c:?}"));
    }
    if name.ends_with(['.', ' ']) {
        return Err("a FAT name cannot end in a dot or a space".into());
    }
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > 255 {
        return Err(format!(
            "a FAT name holds at most 255 UTF-16 units, not {}",
            units.len()
        ));
    }
    Ok(units)
}

fn short_char_ok(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || SHORT_SPECIALS.contains(&b)
}

/// `name` as a stored 8.3 name, if it already is one: 1–8 characters, maybe
/// a dot and 1–3 more, all allowed in short names (so upper case).
fn as_short_name(name: &str) -> Option<[u8; 11]> {
    let (base, ext) = name.split_once('.').unwrap_or((name, ""));
    let ok = |s: &str, max| s.len() <= max && s.bytes().all(short_char_ok);
    if base.is_empty() || !ok(base, 8) || !ok(ext, 3) || (name.contains('.') && ext.is_empty()) {
        return None;
    }
    let mut short = [b' '; 11];
    short[..base.len()].copy_from_slice(base.as_bytes());
    short[8..8 + ext.len()].copy_from_slice(ext.as_bytes());
    Some(short)
}

/// The base and extension a short name is made from (FAT specification,
/// "Basis-Name Generation Algorithm"): spaces and leading dots dropped, the
/// extension after the last dot, letters in upper case and anything short
/// names cannot hold as `_`; the base is cut to 8 later, with its tail.
fn basis(name: &str) -> (Vec<u8>, Vec<u8>) {
    let squeezed: String = name.chars().filter(|&c| c != ' ').collect();
    let trimmed = squeezed.trim_start_matches('.');
    let (base, ext) = trimmed.rsplit_once('.').unwrap_or((trimmed, ""));
    let map = |s: &str| -> Vec<u8> {
        s.chars()
            .filter(|&c| c != '.')
            .map(|c| {
                let b = c.to_ascii_uppercase();
                if b.is_ascii() && short_char_ok(b as u8) {
                    b as u8
                } else {
                    b'_'
                }
            })
            .collect()
    };
    let mut base = map(base);
    if base.is_empty() {
        base.push(b'_');
    }
    let mut ext = map(ext);
    ext.truncate(3);
    (base, ext)
}

/// Gives each of `children` its short name, unique in the directory: names
/// that already are 8.3 keep it (and no long name), names that only differ
/// from one in case take its upper-case form if free, the rest get a `~N`
/// tail. Long names must differ other than in case, as FAT compares them.
fn assign_short_names(nodes: &mut [Node], children: &[usize]) -> Result<(), String> {
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(children.len());
    for &c in children {
        let name = leaf(&nodes[c].rel);
        let key: String = name
            .chars()
            .map(|ch| {
                let mut up = ch.to_uppercase();
                match (up.next(), up.next()) {
                    (Some(u), None) => u,
                    _ => ch,
                }
            })
            .collect();
        if let Some(&other) = seen.get(&key) {
            return Err(format!(
                "`{}` and `{name}` differ only in case, which FAT does not tell apart",
                leaf(&nodes[other].rel)
            ));
        }
        seen.insert(key, c);
    }
    let mut taken: HashSet<[u8; 11]> = HashSet::with_capacity(children.len());
    for &c in children {
        if let Some(short) = as_short_name(leaf(&nodes[c].rel)) {
            nodes[c].short = short;
            nodes[c].long = None;
            taken.insert(short);
        }
    }
    let mut rest = Vec::new();
    for &c in children {
        if nodes[c].long.is_none() {
            continue;
        }
        let name = leaf(&nodes[c].rel);
        match as_short_name(&name.to_ascii_uppercase()).filter(|s| !taken.contains(s)) {
            Some(short) if name.is_ascii() => {
                nodes[c].short = short;
                taken.insert(short);
            }
            _ => rest.push(c),
        }
    }
    for c in rest {
        let (base, ext) = basis(leaf(&nodes[c].rel));
        let mut short = None;
        for n in 1..=999_999u32 {
            let tail = format!("~{n}");
            let keep = base.len().min(8 - tail.len());
            let mut s = [b' '; 11];
            s[..keep].copy_from_slice(&base[..keep]);
            s[keep..keep + tail.len()].copy_from_slice(tail.as_bytes());
            s[8..8 + ext.len()].copy_from_slice(&ext);
            if taken.insert(s) {
                short = Some(s);
                break;
            }
        }
        nodes[c].short = short.ok_or("more than 999 999 names share a short-name basis")?;
    }
    Ok(())
}

fn leaf(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// The 11-byte volume label for `label`, None when empty.
fn volume_label(label: &str) -> Result<Option<[u8; 11]>> {
    if label.is_empty() {
        return Ok(None);
    }
    let ok = label.len() <= 11
        && !label.starts_with(' ')
        && label.bytes().all(|b| b == b' ' || short_char_ok(b));
    if !ok {
        return Err(Error::InvalidFat(format!(
            "volume label `{label}`: up to 11 characters from A-Z, 0-9, space and \
             !#$%&'()-@^_`{{}}~, not starting with a space"
        )));
    }
    let mut l = [b' '; 11];
    l[..label.len()].copy_from_slice(label.as_bytes());
    Ok(Some(l))
}

fn label_str(label: Option<[u8; 11]>) -> String {
    label.map_or(String::new(), |l| {
        String::from_utf8_lossy(&l).trim_end().to_string()
    })
}

/// FAT's (date, time) for `unix`, clamped to what it can say: 1980-01-01
/// to 2107-12-31 23:59:58, in two-second steps.
fn dos_time(unix: u64) -> (u16, u16) {
    const FIRST: u64 = 315_532_800; // 1980-01-01
    const LAST: u64 = 4_354_819_198; // 2107-12-31 23:59:58
    let (y, mo, d, h, mi, s) = utc(unix.clamp(FIRST, LAST) as i64);
    let date = ((y - 1980) as u16) << 9 | (mo as u16) << 5 | d as u16;
    let time = (h as u16) << 11 | (mi as u16) << 5 | (s / 2) as u16;
    (date, time)
}

/// The FAT image for the UEFI El Torito entry: the tree under `dir` in the
/// smallest whole number of MiB that holds it, labelled `EFIBOOT`, laid
/// out as `mkfs.fat` would for that size.
pub fn fat_image_from_dir(dir: &Path, stamp: &BuildStamp) -> Result<Vec<u8>> {
    const LABEL: &str = "EFIBOOT";
    let tree = FatTree::from_dir(dir)?;
    let size = tree.size_needed(LABEL, 0)?;
    if size > 4 << 30 {
        return Err(Error::InvalidOption(format!(
            "{}: {size} bytes is too large for an EFI boot image",
            dir.display()
        )));
    }
    tree.build(size, LABEL, stamp)?.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_clamp_to_fat_range() {
        assert_eq!(dos_time(0), (1 << 5 | 1, 0));
        // 2023-11-14 22:13:20 UTC
        assert_eq!(
            dos_time(1_700_000_000),
            (43 << 9 | 11 << 5 | 14, 22 << 11 | 13 << 5 | 10)
        );
        assert_eq!(
            dos_time(u64::MAX),
            (127 << 9 | 12 << 5 | 31, 23 << 11 | 59 << 5 | 29)
        );
    }

    #[test]
    fn short_names_follow_the_basis_rules() {
        assert_eq!(as_short_name("BOOTX64.EFI"), Some(*b"BOOTX64 EFI"));
        assert_eq!(as_short_name("bootx64.efi"), None);
        assert_eq!(as_short_name("A.B.C"), None);
        assert_eq!(as_short_name("ABC."), None);
        assert_eq!(as_short_name("NINECHARS"), None);
        assert_eq!(basis("Program Files"), (b"PROGRAMFILES".to_vec(), vec![]));
        assert_eq!(basis(".hidden"), (b"HIDDEN".to_vec(), vec![]));
        assert_eq!(basis("a+b.c.txt.gz"), (b"A_BCTXT".to_vec(), b"GZ".to_vec()));
        assert_eq!(basis("Grüße.html"), (b"GR__E".to_vec(), b"HTM".to_vec()));
    }

    #[test]
    fn long_names_refused_with_the_reason() {
        assert!(long_name("a:b").unwrap_err().contains("':'"));
        assert!(long_name("trailing.").unwrap_err().contains("end in a dot"));
        assert!(long_name(&"x".repeat(256)).unwrap_err().contains("256"));
        assert_eq!(long_name("日本").unwrap(), vec![0x65E5, 0x672C]);
    }

    #[test]
    fn long_name_entries_carry_the_checksum_and_padding() {
        let mut out = Vec::new();
        let units: Vec<u16> = "A Long File Name.txt".encode_utf16().collect();
        push_long_name(&mut out, &units, b"ALONGF~1TXT");
        assert_eq!(out.len(), 64);
        // Second (last) part first, flagged 0x40; 7 units, a NUL, then 0xFFFF.
        assert_eq!(out[0], 0x42);
        assert_eq!(out[32], 0x01);
        assert_eq!(out[11], ATTR_LONG_NAME);
        assert_eq!(&out[1..3], &[b'a', 0]);
        assert_eq!(&out[28..32], &[0xFF; 4]);
        let sum = b"ALONGF~1TXT".iter().fold(0u8, |s, &b| {
            ((s & 1) << 7).wrapping_add(s >> 1).wrapping_add(b)
        });
        assert_eq!(out[13], sum);
        assert_eq!(out[45], sum);
    }

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
