//! A laid-out FAT file system, written front to back.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use blocksink::{BuildStamp, Destination};

use crate::error::invalid_fat;
use crate::geometry::{FatGeometry, FatType};
use crate::tree::{FatTree, Node, NodeKind};
use crate::{Error, Result, ENTRY, LFN_UNITS, NUM_FATS, SECTOR};

/// Fixed disk.
const MEDIA: u8 = 0xF8;
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_LONG_NAME: u8 = 0x0F;

/// One node's run of clusters (`first` is 0 when there are none).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chain {
    pub(crate) first: u32,
    pub(crate) count: u32,
}

/// A FAT file system laid out over a [`FatTree`], ready to be written.
#[derive(Debug)]
pub struct FatImage {
    /// The tree's root as the caller names it, to name files in errors.
    pub(crate) shown: String,
    /// The root first, then each directory's entries in name order as a
    /// depth-first walk reaches them.
    pub(crate) nodes: Vec<Node>,
    /// The files' bytes.
    pub(crate) data: Spooled,
    pub(crate) geometry: FatGeometry,
    pub(crate) label: Option<[u8; 11]>,
    pub(crate) volume_id: u32,
    /// (date, time) in FAT's encoding.
    pub(crate) time: (u16, u16),
    /// Per node, as `nodes`.
    pub(crate) chains: Vec<Chain>,
    /// Clusters in use.
    pub(crate) used: u32,
}

/// Where the files' bytes wait for the layout: in memory, or in one
/// unnamed temporary file.
pub(crate) enum Spooled {
    Memory(Vec<u8>),
    File(File),
}

impl fmt::Debug for Spooled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spooled::Memory(bytes) => write!(f, "Memory({} bytes)", bytes.len()),
            Spooled::File(file) => f.debug_tuple("File").field(file).finish(),
        }
    }
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
        let len = usize::try_from(self.size())
            .map_err(|_| invalid_fat(format!("{} bytes do not fit in memory", self.size())))?;
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
        for (i, (node, chain)) in self.nodes.iter().zip(&self.chains).enumerate() {
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
                NodeKind::File { len, at: from } => {
                    let unreadable =
                        |e: io::Error| Error::file(crate::tree::shown(&self.shown, &node.rel), e);
                    match &self.data {
                        Spooled::Memory(bytes) => {
                            let bytes = usize::try_from(from)
                                .ok()
                                .zip(usize::try_from(from + len).ok())
                                .and_then(|(a, b)| bytes.get(a..b))
                                .ok_or_else(|| unreadable(io::ErrorKind::UnexpectedEof.into()))?;
                            out.put(at, bytes)?;
                        }
                        Spooled::File(file) => {
                            out.put_range(at, file, from, len).map_err(unreadable)?;
                        }
                    }
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
        let node = &self.nodes[i];
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
            let child = &self.nodes[c];
            if let Some(units) = &child.long {
                push_long_name(&mut out, units, &child.short);
            }
            let (attr, len) = match child.kind {
                NodeKind::Dir { .. } => (ATTR_DIRECTORY, 0),
                NodeKind::File { len, .. } => (ATTR_ARCHIVE, len as u32),
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
    /// `len` bytes from offset `from` of `file`.
    fn put_range(&mut self, at: u64, file: &File, from: u64, len: u64) -> io::Result<()>;
}

struct SliceOut<'a>(&'a mut [u8]);

impl Out for SliceOut<'_> {
    fn put(&mut self, at: u64, bytes: &[u8]) -> io::Result<()> {
        self.0[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    fn put_range(&mut self, at: u64, file: &File, from: u64, len: u64) -> io::Result<()> {
        file.read_exact_at(&mut self.0[at as usize..(at + len) as usize], from)
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

    fn put_range(&mut self, at: u64, file: &File, from: u64, len: u64) -> io::Result<()> {
        self.dest.copy_range_from(self.base + at, file, from, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
