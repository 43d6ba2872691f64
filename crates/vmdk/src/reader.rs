//! The VMDK reader: a [`BlockSource`] over one or more extents.

use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

use blocksink::{merge_extents, BlockSource, Extent, ReadAt};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use crate::descriptor::{Descriptor, ExtentKind, MAX_DESCRIPTOR};
use crate::format::*;
use crate::{error::F, Error, Result};

/// Storage an extent is read from.
pub type Storage = Box<dyn ReadAt + Send>;

/// A hosted sparse extent: monolithicSparse, streamOptimized (with or
/// without footer), or one piece of a split sparse disk.
pub struct SparseExtent {
    io: Storage,
    file_len: u64,
    /// The header in force (the footer's, for a stream with GD at the end).
    pub header: SparseExtentHeader,
    capacity: u64,
    grain: u64,
    per_gt: u64,
    /// Byte offset of the grain directory, and its number of entries. The
    /// directory and its tables stay in the file and are read as needed.
    gd_at: u64,
    num_gts: u64,
    /// The grain table last used: (directory index, entries or `None`
    /// where the directory has no table).
    gt_cache: Option<(u64, Option<Box<[u32]>>)>,
    /// The embedded descriptor, if any.
    pub descriptor: Option<Descriptor>,
    cache: Option<(u64, Vec<u8>)>,
    inflater: libdeflater::Decompressor,
}

/// Grain directory entries read at a time when the whole directory is walked.
const GD_CHUNK: u64 = 16 << 10;

/// The grain directory: little-endian sector numbers of the grain tables,
/// read a piece at a time.
type GrainDirectory = blocksink::PagedTable<zerocopy::little_endian::U32>;

fn le32s(raw: &[u8]) -> impl Iterator<Item = u32> + '_ {
    raw.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

fn read_header(io: &Storage, at: u64) -> Result<SparseExtentHeader> {
    let mut raw = [0u8; 512];
    io.read_exact_at(&mut raw, at)?;
    SparseExtentHeader::read_from_bytes(&raw[..]).map_err(|_| F.corrupt("header unreadable"))
}

impl SparseExtent {
    /// Opens the sparse extent in `io`, checking its header, directory and tables.
    pub fn open(io: Storage) -> Result<Self> {
        let file_len = io.size()?;
        if file_len < 512 {
            return Err(F.not_this(
                "no `KDMV` sparse extent header and no `# Disk DescriptorFile` at offset 0",
            ));
        }
        let mut header = read_header(&io, 0)?;
        if header.magic_number.get() != MAGIC {
            return Err(F.not_this(
                "no `KDMV` sparse extent header and no `# Disk DescriptorFile` at offset 0",
            ));
        }
        let version = header.version.get();
        if !(1..=3).contains(&version) {
            return Err(F.header("version", version.into(), "must be 1, 2 or 3"));
        }
        let descriptor = Self::embedded_descriptor(&io, &header, file_len)?;
        if let Some(d) = &descriptor {
            d.refuse_parent("embedded descriptor")?;
        }
        if header.gd_offset.get() == GD_AT_END {
            // Stream-optimized: the footer, before the end-of-stream marker, has the directory.
            if file_len < 3 * SECTOR {
                return Err(F.corrupt("grain directory at the end, but no room for a footer"));
            }
            let mut marker = Marker::new_zeroed();
            io.read_exact_at(marker.as_mut_bytes(), file_len - 3 * SECTOR)?;
            let kind = marker.kind.get();
            let footer = read_header(&io, file_len - 2 * SECTOR)?;
            if kind != MARKER_FOOTER
                || footer.magic_number.get() != MAGIC
                || footer.gd_offset.get() == GD_AT_END
            {
                return Err(F.corrupt(
                    "the header puts the grain directory at the end, but there is no footer before the end-of-stream marker",
                ));
            }
            header = footer;
        }
        let flags = header.flags.get();
        let grain_sectors = header.grain_size.get();
        if !grain_sectors.is_power_of_two()
            || grain_sectors > 128
            || grain_sectors < 8 && flags & FLAG_COMPRESSED != 0
        {
            return Err(F.header(
                "grainSize",
                grain_sectors,
                "must be a power of two up to 128 sectors",
            ));
        }
        let per_gt = u64::from(header.num_gtes_per_gt.get());
        if !per_gt.is_power_of_two() || !(128..=65536).contains(&per_gt) {
            return Err(F.header(
                "numGTEsPerGT",
                per_gt,
                "must be a power of two from 128 to 65536",
            ));
        }
        if flags & FLAG_COMPRESSED != 0 && header.compress_algorithm.get() != COMPRESSION_DEFLATE {
            return Err(F.unsupported(format!(
                "compression algorithm {}",
                header.compress_algorithm.get()
            )));
        }
        let capacity = header.capacity.get();
        if capacity > u64::MAX / SECTOR / 2 {
            return Err(F.header("capacity", capacity, "larger than any disk"));
        }
        let grain = grain_sectors * SECTOR;
        let grains = capacity.div_ceil(grain_sectors);
        let num_gts = grains.div_ceil(per_gt);
        if num_gts > MAX_GD_ENTRIES {
            return Err(F.header(
                "capacity",
                capacity,
                "needs a grain directory of more than 2^29 entries (qemu's limit)",
            ));
        }
        let gd_at = header.gd_offset.get().checked_mul(SECTOR);
        let gd_bytes = num_gts * 4;
        let Some(gd_at) = gd_at.filter(|&a| a.checked_add(gd_bytes).is_some_and(|e| e <= file_len))
        else {
            return Err(F.corrupt(format!(
                "gdOffset: grain directory at sector {} with {num_gts} entries runs past the end of the file ({file_len} bytes)",
                header.gd_offset.get()
            )));
        };
        Self::check_directory(&io, file_len, gd_at, num_gts, per_gt)?;
        Ok(SparseExtent {
            io,
            file_len,
            header,
            capacity,
            grain,
            per_gt,
            gd_at,
            num_gts,
            gt_cache: None,
            descriptor,
            cache: None,
            inflater: libdeflater::Decompressor::new(),
        })
    }

    /// Walks the grain directory in pieces: every table it names must lie
    /// in the file, and no two may overlap — so the tables of a file are
    /// at most as many as it can hold, and a scan of the disk costs no
    /// more than reading the file.
    fn check_directory(
        io: &Storage,
        file_len: u64,
        gd_at: u64,
        num_gts: u64,
        per_gt: u64,
    ) -> Result<()> {
        let gt_bytes = per_gt * 4;
        let room = file_len / gt_bytes;
        let mut seen: Vec<u32> = Vec::new();
        let gd = GrainDirectory::new(gd_at, num_gts, GD_CHUNK);
        let mut first = 0u64;
        while first < num_gts {
            let piece = gd.read_piece(io, first)?;
            let n = piece.len() as u64;
            for (k, s) in piece.into_iter().map(|e| e.get()).enumerate() {
                if s == 0 {
                    continue;
                }
                let i = first + k as u64;
                let at = u64::from(s) * SECTOR;
                if at + gt_bytes > file_len {
                    return Err(F.corrupt(format!(
                        "grain directory entry {i} (offset {}) points to sector {s}, past the end of the file ({file_len} bytes)",
                        gd_at + i * 4
                    )));
                }
                if seen.len() as u64 >= room {
                    return Err(F.corrupt(format!(
                        "grain directory entry {i} (offset {}) names grain table {}, but a file of {file_len} bytes holds at most {room} tables of {gt_bytes} bytes",
                        gd_at + i * 4,
                        seen.len() + 1
                    )));
                }
                seen.push(s);
            }
            first += n;
        }
        // A table named twice would let a small file claim a huge disk.
        seen.sort_unstable();
        let gt_sectors = gt_bytes.div_ceil(SECTOR);
        if let Some(w) = seen
            .windows(2)
            .find(|w| u64::from(w[1] - w[0]) < gt_sectors)
        {
            return Err(F.corrupt(format!(
                "grain directory entries point to grain tables at sectors {} and {}, which overlap",
                w[0], w[1]
            )));
        }
        Ok(())
    }

    fn embedded_descriptor(
        io: &Storage,
        h: &SparseExtentHeader,
        file_len: u64,
    ) -> Result<Option<Descriptor>> {
        let (off, len) = (h.descriptor_offset.get(), h.descriptor_size.get());
        if off == 0 || len == 0 {
            return Ok(None);
        }
        let bytes = len.saturating_mul(SECTOR).min(MAX_DESCRIPTOR as u64);
        let at = off.saturating_mul(SECTOR);
        if at.checked_add(bytes).is_none_or(|e| e > file_len) {
            return Err(F.corrupt(format!(
                "embedded descriptor at sector {off} runs past the end of the file"
            )));
        }
        let mut raw = vec![0u8; bytes as usize];
        io.read_exact_at(&mut raw, at)?;
        Descriptor::parse(&raw).map(Some)
    }

    /// Capacity in bytes.
    pub fn size(&self) -> u64 {
        self.capacity * SECTOR
    }

    /// Reads the grain table at `sector` (its place was checked at open).
    fn read_gt(&self, sector: u32) -> Result<Box<[u32]>> {
        let mut raw = vec![0u8; (self.per_gt * 4) as usize];
        self.io
            .read_exact_at(&mut raw, u64::from(sector) * SECTOR)?;
        Ok(le32s(&raw).collect())
    }

    /// Sector of grain `g` (0: unallocated, 1: zeroed).
    fn gte(&mut self, g: u64) -> Result<u32> {
        let t = g / self.per_gt;
        if t >= self.num_gts {
            return Ok(0);
        }
        if !matches!(&self.gt_cache, Some((c, _)) if *c == t) {
            let mut e = [0u8; 4];
            self.io.read_exact_at(&mut e, self.gd_at + t * 4)?;
            let sector = u32::from_le_bytes(e);
            let table = if sector == 0 {
                None
            } else {
                Some(self.read_gt(sector)?)
            };
            self.gt_cache = Some((t, table));
        }
        Ok(match &self.gt_cache {
            Some((_, Some(table))) => table[(g % self.per_gt) as usize],
            _ => 0,
        })
    }

    /// Grains that hold data, from the directory and tables read in pieces.
    fn data_extents(&mut self) -> Result<Vec<Extent>> {
        let size = self.size();
        let grains = size.div_ceil(self.grain);
        let mut v: Vec<Extent> = Vec::new();
        let gd = GrainDirectory::new(self.gd_at, self.num_gts, GD_CHUNK);
        let mut first = 0u64;
        while first < self.num_gts {
            let piece = gd.read_piece(&self.io, first)?;
            let n = piece.len() as u64;
            for (k, sector) in piece.into_iter().map(|e| e.get()).enumerate() {
                if sector == 0 {
                    continue;
                }
                let t = first + k as u64;
                for (j, e) in self.read_gt(sector)?.iter().enumerate() {
                    let g = t * self.per_gt + j as u64;
                    if g < grains && *e > 1 {
                        let start = g * self.grain;
                        v.push(Extent::new(start, self.grain.min(size - start)));
                    }
                }
                if v.len() > 1 << 16 {
                    v = merge_extents(v);
                }
            }
            first += n;
        }
        Ok(merge_extents(v))
    }

    fn read_grain(&mut self, g: u64, within: u64, buf: &mut [u8]) -> Result<()> {
        let s = self.gte(g)?;
        if s <= 1 {
            buf.fill(0);
            return Ok(());
        }
        let at = u64::from(s) * SECTOR;
        let flags = self.header.flags.get();
        if flags & FLAG_COMPRESSED == 0 {
            if at + within + buf.len() as u64 > self.file_len {
                return Err(F.corrupt(format!(
                    "grain {g} at sector {s} runs past the end of the file"
                )));
            }
            return Ok(self.io.read_exact_at(buf, at + within)?);
        }
        if !matches!(&self.cache, Some((c, _)) if *c == g) {
            let head = if flags & FLAG_MARKERS != 0 { 12 } else { 4 };
            let mut h = [0u8; 12];
            if at + head > self.file_len {
                return Err(F.corrupt(format!(
                    "grain {g} at sector {s} is past the end of the file"
                )));
            }
            self.io.read_exact_at(&mut h[..head as usize], at)?;
            let size = if head == 12 {
                let marker = GrainMarker::read_from_bytes(&h[..]).map_err(|_| {
                    F.corrupt(format!("grain {g} at sector {s}: unreadable marker"))
                })?;
                let lba = marker.lba.get();
                if lba != g * (self.grain / SECTOR) {
                    return Err(F.corrupt(format!(
                        "grain {g} at sector {s}: its marker says LBA {lba}"
                    )));
                }
                u64::from(marker.size.get())
            } else {
                // Compressed grains without markers start with their size.
                u64::from(u32::from_le_bytes([h[0], h[1], h[2], h[3]]))
            };
            if size == 0 || size > 2 * self.grain + 4096 || at + head + size > self.file_len {
                return Err(F.corrupt(format!(
                    "grain {g} at sector {s}: compressed size {size} is impossible here"
                )));
            }
            let mut src = vec![0u8; size as usize];
            self.io.read_exact_at(&mut src, at + head)?;
            let mut out = vec![0u8; self.grain as usize];
            let n = self.inflater.zlib_decompress(&src, &mut out).map_err(|e| {
                F.corrupt(format!(
                    "grain {g} at sector {s}: zlib data is invalid ({e})"
                ))
            })?;
            // The last grain of a disk may hold only the bytes up to its end.
            let needed = self.grain.min(self.size() - g * self.grain);
            if (n as u64) < needed {
                return Err(F.corrupt(format!(
                    "grain {g} at sector {s}: decompressed to {n} bytes, {needed} needed"
                )));
            }
            self.cache = Some((g, out));
        }
        if let Some((_, data)) = &self.cache {
            buf.copy_from_slice(&data[within as usize..within as usize + buf.len()]);
        }
        Ok(())
    }

    /// Reads extent bytes `[offset, offset + buf.len())`.
    pub fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut pos = 0usize;
        while pos < buf.len() {
            let o = offset + pos as u64;
            let n = ((self.grain - o % self.grain) as usize).min(buf.len() - pos);
            self.read_grain(o / self.grain, o % self.grain, &mut buf[pos..pos + n])?;
            pos += n;
        }
        Ok(())
    }
}

enum Piece {
    Sparse(Box<SparseExtent>),
    Flat { io: Storage, offset: u64 },
    Zero,
}

/// Reads a VMDK disk: a single sparse file (monolithicSparse,
/// streamOptimized) or a descriptor naming sparse, flat and zero extents
/// (monolithicFlat, twoGbMaxExtentSparse, twoGbMaxExtentFlat).
pub struct VmdkReader {
    /// The descriptor (embedded or standalone).
    pub descriptor: Option<Descriptor>,
    /// (start byte, length, piece), in disk order.
    pieces: Vec<(u64, u64, Piece)>,
    size: u64,
}

impl std::fmt::Debug for VmdkReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmdkReader")
            .field("size", &self.size)
            .field("extents", &self.pieces.len())
            .finish_non_exhaustive()
    }
}

/// Whether `data` starts like a VMDK: a sparse extent header, or a text descriptor.
pub fn is_vmdk(data: &[u8]) -> bool {
    (data.len() >= 4 && u32::from_le_bytes([data[0], data[1], data[2], data[3]]) == MAGIC)
        || data.starts_with(b"# Disk DescriptorFile")
}

/// `name`, joined to `dir`, if it stays inside `dir`: no absolute path, no
/// `..`, and no symlink that leads out.
pub fn resolve_inside(dir: &Path, name: &str) -> Result<PathBuf> {
    let rel = Path::new(name);
    if rel
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(F.unsupported(format!(
            "extent file {name:?} is not a plain name inside the image's directory"
        )));
    }
    let path = dir.join(rel);
    let canon_dir = std::fs::canonicalize(dir)?;
    let canon = std::fs::canonicalize(&path).map_err(|e| {
        Error::from(io::Error::new(
            e.kind(),
            format!("extent file {}: {e}", path.display()),
        ))
    })?;
    if !canon.starts_with(&canon_dir) {
        return Err(F.unsupported(format!(
            "extent file {name:?} leads outside the image's directory (to {})",
            canon.display()
        )));
    }
    Ok(path)
}

impl VmdkReader {
    /// Reads the single-file VMDK (a sparse extent) in `io`.
    pub fn open(io: Storage) -> Result<Self> {
        let extent = SparseExtent::open(io)?;
        let size = extent.size();
        Ok(VmdkReader {
            descriptor: extent.descriptor.clone(),
            pieces: vec![(0, size, Piece::Sparse(Box::new(extent)))],
            size,
        })
    }

    /// Opens the VMDK at `path`: a sparse file, or a descriptor whose
    /// extent files are opened from the same directory only.
    pub fn open_path(path: &Path) -> Result<Self> {
        let file = File::open(path)?;
        let mut head = [0u8; 4];
        let n = ReadAt::size(&file)?.min(4) as usize;
        file.read_exact_at(&mut head[..n], 0)?;
        if u32::from_le_bytes(head) == MAGIC {
            return Self::open(Box::new(file));
        }
        let len = ReadAt::size(&file)?;
        if len > MAX_DESCRIPTOR as u64 {
            return Err(F.not_this(
                "no `KDMV` sparse extent header and no `# Disk DescriptorFile` at offset 0",
            ));
        }
        let mut raw = vec![0u8; len as usize];
        file.read_exact_at(&mut raw, 0)?;
        if !raw.starts_with(b"# Disk DescriptorFile")
            && !raw.windows(10).any(|w| w == b"createType")
        {
            return Err(F.not_this(
                "no `KDMV` sparse extent header and no `# Disk DescriptorFile` at offset 0",
            ));
        }
        let d = Descriptor::parse(&raw)?;
        d.refuse_parent("descriptor")?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut pieces = Vec::new();
        let mut start = 0u64;
        for (i, e) in d.extents.iter().enumerate() {
            let len = e
                .sectors
                .checked_mul(SECTOR)
                .ok_or_else(|| F.corrupt(format!("extent {i} is too large")))?;
            let piece = match (e.kind, &e.file) {
                (ExtentKind::Zero, _) => Piece::Zero,
                (kind, Some(name)) => {
                    let f = File::open(resolve_inside(dir, name)?)?;
                    if kind == ExtentKind::Sparse {
                        let s = SparseExtent::open(Box::new(f))?;
                        if s.size() < len {
                            return Err(F.corrupt(format!(
                                "extent {name:?} holds {} bytes, the descriptor says {len}",
                                s.size()
                            )));
                        }
                        Piece::Sparse(Box::new(s))
                    } else {
                        let offset = e
                            .offset
                            .checked_mul(SECTOR)
                            .ok_or_else(|| F.corrupt(format!("extent {i} offset too large")))?;
                        Piece::Flat {
                            io: Box::new(f),
                            offset,
                        }
                    }
                }
                (_, None) => return Err(F.corrupt(format!("extent {i} names no file"))),
            };
            pieces.push((start, len, piece));
            start = start
                .checked_add(len)
                .ok_or_else(|| F.corrupt("disk size overflows"))?;
        }
        Ok(VmdkReader {
            descriptor: Some(d),
            pieces,
            size: start,
        })
    }

    /// The `createType` of the descriptor, if there is one.
    pub fn create_type(&self) -> Option<&str> {
        self.descriptor.as_ref().map(|d| d.create_type.as_str())
    }
}

impl BlockSource for VmdkReader {
    fn size(&self) -> u64 {
        self.size
    }

    fn extents(&mut self) -> io::Result<Vec<Extent>> {
        let mut v = Vec::new();
        for (start, len, piece) in &mut self.pieces {
            let (start, len) = (*start, *len);
            match piece {
                Piece::Zero => {}
                Piece::Flat { io, offset } => {
                    let offset = *offset;
                    for r in io.data_ranges(offset, offset + len)? {
                        v.push(Extent::new(start + r.offset - offset, r.len));
                    }
                }
                Piece::Sparse(s) => {
                    for r in s.data_extents()? {
                        if r.offset < len {
                            v.push(Extent::new(start + r.offset, r.len.min(len - r.offset)));
                        }
                    }
                }
            }
        }
        Ok(merge_extents(v))
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        blocksink::check_read(offset, buf.len(), self.size)?;
        let mut pos = 0usize;
        while pos < buf.len() {
            let o = offset + pos as u64;
            let i = self.pieces.partition_point(|(s, l, _)| s + l <= o);
            let Some((start, len, piece)) = self.pieces.get_mut(i) else {
                return Err(io::Error::other("read outside every extent"));
            };
            let within = o - *start;
            let n = ((*len - within) as usize).min(buf.len() - pos);
            let part = &mut buf[pos..pos + n];
            match piece {
                Piece::Zero => part.fill(0),
                Piece::Flat { io, offset } => io.read_exact_at(part, *offset + within)?,
                Piece::Sparse(s) => s.read_at(within, part)?,
            }
            pos += n;
        }
        Ok(())
    }
}
