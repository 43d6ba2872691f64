//! The VHD reader: a [`BlockSource`].

use std::io;

use blocksink::{merge_extents, BlockSource, Extent, PagedTable, ReadAt};
use zerocopy::FromBytes;

use crate::format::*;
use crate::{error::F, Result};

/// What the footer (and dynamic header) say, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VhdInfo {
    /// Fixed or dynamic.
    pub disk_type: u32,
    /// Virtual size as qemu computes it (see [`VhdReader`]).
    pub size: u64,
    /// `current_size` from the footer.
    pub current_size: u64,
    /// Size from the CHS geometry.
    pub chs_size: u64,
    /// The creator application, e.g. `qem2`, `win `, `vpc `.
    pub creator: String,
    /// CHS geometry: (cylinders, heads, sectors per track).
    pub geometry: (u16, u8, u8),
    /// Dynamic disks: bytes per block.
    pub block_size: Option<u32>,
    /// The footer's unique id.
    pub unique_id: [u8; 16],
}

/// Reads the disk of a fixed or dynamic VHD from any [`ReadAt`].
///
/// The virtual size is decided as qemu decides it: from `current_size` when
/// the creator is Hyper-V (`win `), qemu with `force_size` (`qem2`), Disk2vhd,
/// XenServer or XenConverter, or when the geometry is the maximum; from the
/// CHS geometry otherwise (Virtual PC, older qemu).
pub struct VhdReader<R> {
    io: R,
    info: VhdInfo,
    kind: Kind,
}

enum Kind {
    /// Data at the start of the file.
    Fixed,
    /// Blocks through the BAT.
    Dynamic {
        block_size: u64,
        bitmap_bytes: u64,
        bat: Bat,
        /// The sector bitmap of the most recently read block.
        bitmap_cache: Option<(u64, Vec<u8>)>,
    },
}

/// BAT entries read at a time.
const BAT_PIECE: u64 = 16 << 10;

/// The block allocation table: big-endian sector numbers. It stays in the
/// file (a 2040 GiB disk of 512-byte blocks has a 16 GiB table) and is read
/// a piece at a time.
type Bat = PagedTable<zerocopy::big_endian::U32>;

/// Entry `i` of `bat` (`BAT_UNUSED` past the table).
fn bat_entry<R: ReadAt>(bat: &mut Bat, io: &R, i: u64) -> io::Result<u32> {
    Ok(bat.get(io, i)?.map_or(BAT_UNUSED, |e| e.get()))
}

/// Calls `f(index, sector)` for every allocated block, in disk order.
fn each_block<R: ReadAt>(
    bat: &Bat,
    io: &R,
    mut f: impl FnMut(u64, u32) -> Result<()>,
) -> Result<()> {
    bat.for_each(io, |i, e| match e.get() {
        BAT_UNUSED => Ok(()),
        sector => f(i, sector),
    })
}

impl<R> std::fmt::Debug for VhdReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VhdReader")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Whether the 512 bytes at the end of a file (or at offset 0) look like a
/// VHD footer.
pub fn is_vhd_footer(data: &[u8]) -> bool {
    data.len() >= 8 && data[..8] == FOOTER_COOKIE
}

impl<R: ReadAt> VhdReader<R> {
    /// Opens the VHD in `io`, checking footer, header and BAT.
    pub fn open(io: R) -> Result<Self> {
        let file_len = io.size()?;
        if file_len < 512 {
            return Err(F.not_this("no `conectix` footer at the end of the file or at offset 0"));
        }
        let mut raw = [0u8; 512];
        io.read_exact_at(&mut raw, file_len - 512)?;
        if !is_vhd_footer(&raw) {
            // Dynamic disks keep a copy at offset 0 (qemu falls back to it too).
            io.read_exact_at(&mut raw, 0)?;
            if !is_vhd_footer(&raw) {
                return Err(
                    F.not_this("no `conectix` footer at the end of the file or at offset 0")
                );
            }
        }
        let (f, _) = Footer::ref_from_prefix(&raw[..]).map_err(|_| {
            F.not_this("no `conectix` footer at the end of the file or at offset 0")
        })?;
        let sum = checksum(&raw, FOOTER_CHECKSUM_AT);
        if sum != f.checksum.get() {
            return Err(F.corrupt(format!(
                "footer checksum is {:#010x}, but the footer sums to {sum:#010x}",
                f.checksum.get()
            )));
        }
        let geometry = (f.cylinders.get(), f.heads, f.sectors_per_track);
        let chs_sectors = u64::from(geometry.0) * u64::from(geometry.1) * u64::from(geometry.2);
        let creator = f.creator_application;
        let trust_size = [*b"win ", *b"qem2", *b"d2v ", *b"CTXS", *b"tap\0"].contains(&creator)
            || chs_sectors == MAX_CHS_SECTORS;
        let current_size = f.current_size.get();
        let size = if trust_size {
            current_size / 512 * 512
        } else {
            chs_sectors * 512
        };
        if size > MAX_SIZE {
            return Err(F.header(
                if trust_size {
                    "current_size"
                } else {
                    "geometry"
                },
                size,
                "larger than the 2040 GiB a VHD can hold",
            ));
        }
        let disk_type = f.disk_type.get();
        let mut info = VhdInfo {
            disk_type,
            size,
            current_size,
            chs_size: chs_sectors * 512,
            creator: String::from_utf8_lossy(&creator).into_owned(),
            geometry,
            block_size: None,
            unique_id: f.unique_id,
        };
        let kind = match disk_type {
            DISK_FIXED => {
                if size > file_len - 512 {
                    return Err(F.header(
                        "current_size",
                        size,
                        "larger than the data the fixed VHD holds",
                    ));
                }
                Kind::Fixed
            }
            DISK_DYNAMIC => {
                let k = Self::open_dynamic(&io, file_len, f.data_offset.get(), size)?;
                if let Kind::Dynamic { block_size, .. } = &k {
                    info.block_size = Some(*block_size as u32);
                }
                k
            }
            DISK_DIFFERENCING => {
                return Err(F.unsupported(
                    "differencing VHD: its parent disk is not opened; merge it first",
                ))
            }
            t => return Err(F.header("disk_type", t.into(), "must be 2 (fixed) or 3 (dynamic)")),
        };
        Ok(VhdReader { io, info, kind })
    }

    fn open_dynamic(io: &R, file_len: u64, data_offset: u64, size: u64) -> Result<Kind> {
        if data_offset.checked_add(1024).is_none_or(|e| e > file_len) {
            return Err(F.header(
                "data_offset",
                data_offset,
                "dynamic header past the end of the file",
            ));
        }
        let mut raw = [0u8; 1024];
        io.read_exact_at(&mut raw, data_offset)?;
        let (h, _) = DynamicHeader::ref_from_prefix(&raw[..]).map_err(|_| {
            F.not_this("no `conectix` footer at the end of the file or at offset 0")
        })?;
        if h.cookie != DYNAMIC_COOKIE {
            return Err(F.corrupt(format!(
                "no `cxsparse` dynamic header at offset {data_offset}"
            )));
        }
        let sum = checksum(&raw, DYNAMIC_CHECKSUM_AT);
        if sum != h.checksum.get() {
            return Err(F.corrupt(format!(
                "dynamic header checksum is {:#010x}, but the header sums to {sum:#010x}",
                h.checksum.get()
            )));
        }
        let block_size = u64::from(h.block_size.get());
        if block_size < 512 || block_size % 512 != 0 || block_size > 1 << 30 {
            return Err(F.header(
                "block_size",
                block_size,
                "must be a multiple of 512 up to 1 GiB",
            ));
        }
        let entries = u64::from(h.max_table_entries.get());
        if entries > MAX_BAT_ENTRIES {
            return Err(F.header(
                "max_table_entries",
                entries,
                "more than the 2^29 - 1 entries qemu reads",
            ));
        }
        if entries < size.div_ceil(block_size) {
            return Err(F.header(
                "max_table_entries",
                entries,
                "too few blocks for the disk size",
            ));
        }
        let table = h.table_offset.get();
        // Only the entries that cover the disk are read.
        let used = size.div_ceil(block_size);
        if table.checked_add(used * 4).is_none_or(|e| e > file_len) {
            return Err(F.header(
                "table_offset",
                table,
                "the BAT entries that cover the disk run past the end of the file",
            ));
        }
        let bitmap_bytes = (block_size / 512).div_ceil(8).next_multiple_of(512);
        let bat = Bat::new(table, used, BAT_PIECE);
        // Blocks lie in the file and, together, fit in it: a table whose
        // blocks pile onto one another would make a small file a huge disk.
        let span = bitmap_bytes + block_size;
        let room = file_len / span;
        let mut allocated = 0u64;
        each_block(&bat, io, |i, e| {
            let start = u64::from(e) * 512;
            if start + span > file_len {
                return Err(F.corrupt(format!(
                    "BAT entry {i} (offset {}) points to sector {e} (offset {start}), whose block runs past the end of the file ({file_len} bytes)",
                    table + i * 4
                )));
            }
            allocated += 1;
            if allocated > room {
                return Err(F.corrupt(format!(
                    "BAT entry {i} (offset {}) makes {allocated} allocated blocks, but a file of {file_len} bytes holds at most {room} blocks of {span} bytes: blocks overlap",
                    table + i * 4
                )));
            }
            Ok(())
        })?;
        Ok(Kind::Dynamic {
            block_size,
            bitmap_bytes,
            bat,
            bitmap_cache: None,
        })
    }

    /// Structural problems `open` tolerates: blocks that overlap each other
    /// (as long as no more blocks are allocated than the file can hold) or
    /// the BAT, and (dynamic disks) a footer copy at offset 0 that differs
    /// from the footer at the end.
    pub fn check(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let Kind::Dynamic {
            block_size,
            bitmap_bytes,
            bat,
            ..
        } = &self.kind
        else {
            return Ok(problems);
        };
        let file_len = self.io.size()?;
        let mut head = [0u8; 512];
        let mut tail = [0u8; 512];
        self.io.read_exact_at(&mut head, 0)?;
        self.io.read_exact_at(&mut tail, file_len - 512)?;
        if head != tail {
            problems.push("the footer copy at offset 0 differs from the footer at the end".into());
        }
        let span = bitmap_bytes + block_size;
        let bat_end = 1536 + (bat.len() * 4).next_multiple_of(512);
        // (sector, index): as many as the file holds blocks (checked at open).
        let mut blocks: Vec<(u32, u32)> = Vec::new();
        each_block(bat, &self.io, |i, e| {
            blocks.push((e, i as u32));
            Ok(())
        })?;
        blocks.sort_unstable();
        for w in blocks.windows(2) {
            if u64::from(w[0].0) * 512 + span > u64::from(w[1].0) * 512 {
                problems.push(format!(
                    "blocks {} and {} overlap in the file",
                    w[0].1, w[1].1
                ));
            }
        }
        if let Some((first, i)) = blocks.first() {
            if u64::from(*first) * 512 < bat_end.min(1536) {
                problems.push(format!("block {i} overlaps the headers"));
            }
        }
        Ok(problems)
    }

    /// The checked footer fields.
    pub fn info(&self) -> &VhdInfo {
        &self.info
    }
}

impl<R: ReadAt + Send> BlockSource for VhdReader<R> {
    fn size(&self) -> u64 {
        self.info.size
    }

    fn extents(&mut self) -> io::Result<Vec<Extent>> {
        let size = self.info.size;
        match &self.kind {
            Kind::Fixed => self.io.data_ranges(0, size),
            Kind::Dynamic {
                block_size, bat, ..
            } => {
                let mut v: Vec<Extent> = Vec::new();
                each_block(bat, &self.io, |i, _| {
                    match v.last_mut() {
                        Some(last) if last.end() == i * *block_size => last.len += *block_size,
                        _ => v.push(Extent::new(i * *block_size, *block_size)),
                    }
                    Ok(())
                })?;
                v = merge_extents(v);
                if let Some(last) = v.last_mut() {
                    last.len = last.end().min(size) - last.offset;
                }
                Ok(v)
            }
        }
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        blocksink::check_read(offset, buf.len(), self.info.size)?;
        let Kind::Dynamic {
            block_size,
            bitmap_bytes,
            bat,
            bitmap_cache,
        } = &mut self.kind
        else {
            return self.io.read_exact_at(buf, offset);
        };
        let bs = *block_size;
        let mut pos = 0usize;
        while pos < buf.len() {
            let o = offset + pos as u64;
            let b = o / bs;
            let n = ((bs - o % bs) as usize).min(buf.len() - pos);
            let part = &mut buf[pos..pos + n];
            let entry = bat_entry(bat, &self.io, b)?;
            if entry == BAT_UNUSED {
                part.fill(0);
            } else {
                let start = u64::from(entry) * 512;
                if !matches!(bitmap_cache, Some((cb, _)) if *cb == b) {
                    let mut bm = vec![0u8; *bitmap_bytes as usize];
                    self.io.read_exact_at(&mut bm, start)?;
                    *bitmap_cache = Some((b, bm));
                }
                let bm = bitmap_cache
                    .as_ref()
                    .map(|(_, m)| m.as_slice())
                    .unwrap_or(&[]);
                self.io
                    .read_exact_at(part, start + *bitmap_bytes + o % bs)?;
                // A sector the bitmap marks absent reads as zeros.
                let mut within = o % bs;
                let mut i = 0usize;
                while i < part.len() {
                    let sector = within / 512;
                    let m = ((512 - within % 512) as usize).min(part.len() - i);
                    let present = bm
                        .get((sector / 8) as usize)
                        .is_some_and(|byte| byte & (0x80 >> (sector % 8)) != 0);
                    if !present {
                        part[i..i + m].fill(0);
                    }
                    i += m;
                    within += m as u64;
                }
            }
            pos += n;
        }
        Ok(())
    }
}
