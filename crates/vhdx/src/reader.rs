//! The VHDX reader: a [`BlockSource`].

use std::io;

use blocksink::{merge_extents, BlockSource, Extent, PagedTable, ReadAt};
use uuid::Uuid;
use zerocopy::FromBytes;

use crate::format::*;
use crate::{error::F, Result};

/// What the headers and metadata say, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VhdxInfo {
    /// Virtual disk size in bytes.
    pub size: u64,
    /// Bytes per payload block.
    pub block_size: u32,
    /// Logical sector size (512 or 4096).
    pub logical_sector_size: u32,
    /// Physical sector size (512 or 4096).
    pub physical_sector_size: u32,
    /// The virtual disk id.
    pub disk_id: Uuid,
    /// Whether blocks stay allocated (a fixed disk).
    pub leave_blocks_allocated: bool,
    /// Which header is current (1 or 2) and its sequence number.
    pub header: (u8, u64),
    /// Length of the log region.
    pub log_length: u32,
}

/// Reads the disk of a dynamic or fixed VHDX from any [`ReadAt`].
///
/// Headers, region tables and metadata are checked (CRC-32C, bounds,
/// required items); a VHDX whose log still holds entries to replay is
/// refused rather than read as if the log were empty, and differencing
/// disks are refused (their parent is never opened).
pub struct VhdxReader<R> {
    io: R,
    info: VhdxInfo,
    chunk_ratio: u64,
    bat: Bat,
}

/// BAT entries read at a time.
const BAT_PIECE: u64 = 8 << 10;

/// The block allocation table: little-endian entries. It stays in the file
/// (a 64 TiB disk of 1 MiB blocks has a 512 MiB table) and is read a piece
/// at a time.
type Bat = PagedTable<zerocopy::little_endian::U64>;

/// Entry `i` of `bat` (0, not present, past the table).
fn bat_entry<R: ReadAt>(bat: &mut Bat, io: &R, i: u64) -> io::Result<u64> {
    Ok(bat.get(io, i)?.map_or(0, |e| e.get()))
}

impl<R> std::fmt::Debug for VhdxReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VhdxReader")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Whether `data` starts like a VHDX file.
pub fn is_vhdx(data: &[u8]) -> bool {
    data.len() >= 8 && data[..8] == FILE_SIGNATURE
}

impl<R: ReadAt> VhdxReader<R> {
    /// Opens the VHDX in `io`.
    pub fn open(io: R) -> Result<Self> {
        let file_len = io.size()?;
        if file_len < 3 * MIB {
            let mut sig = [0u8; 8];
            if file_len >= 8 {
                io.read_exact_at(&mut sig, 0)?;
            }
            return Err(if is_vhdx(&sig) {
                F.corrupt(format!(
                    "file is {file_len} bytes, too short for the VHDX headers"
                ))
            } else {
                F.not_this("no `vhdxfile` signature at offset 0")
            });
        }
        let mut sig = [0u8; 8];
        io.read_exact_at(&mut sig, 0)?;
        if !is_vhdx(&sig) {
            return Err(F.not_this("no `vhdxfile` signature at offset 0"));
        }
        // The current header: valid, with the larger sequence number.
        let mut best: Option<(u8, Header)> = None;
        let mut why = Vec::new();
        for (k, at) in HEADER_OFFSETS.iter().enumerate() {
            let mut raw = vec![0u8; HEADER_SIZE];
            io.read_exact_at(&mut raw, *at)?;
            let (h, _) =
                Header::read_from_prefix(&raw).map_err(|_| F.corrupt("header unreadable"))?;
            if h.signature != HEADER_SIGNATURE {
                why.push(format!("header {} at {at}: no `head` signature", k + 1));
                continue;
            }
            let c = checksum(&raw, 4);
            if c != h.checksum.get() {
                why.push(format!(
                    "header {} at {at}: CRC-32C is {:#010x}, but the header hashes to {c:#010x}",
                    k + 1,
                    h.checksum.get()
                ));
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|(_, b)| h.sequence_number.get() > b.sequence_number.get())
            {
                best = Some((k as u8 + 1, h));
            }
        }
        let Some((which, header)) = best else {
            return Err(F.corrupt(format!("no valid header: {}", why.join("; "))));
        };
        if header.version.get() != 1 {
            return Err(F.unsupported(format!("header version {}", header.version.get())));
        }
        if header.log_guid != [0; 16] {
            return Err(F.unsupported(format!(
                "the log holds entries to replay (log GUID {}); the image was not closed cleanly — open it once in Hyper-V, or repair a copy with `qemu-img check -r all`",
                Uuid::from_bytes_le(header.log_guid)
            )));
        }
        let (bat_region, meta_region) = Self::regions(&io, file_len)?;
        let meta = Self::metadata(&io, meta_region)?;
        let (block_size, flags, size, logical, physical, disk_id) = meta;
        if flags & 2 != 0 {
            return Err(
                F.unsupported("differencing VHDX: its parent disk is not opened; merge it first")
            );
        }
        let bs = u64::from(block_size);
        let chunk_ratio = chunk_ratio(u64::from(logical), bs);
        let entries = bat_entries(size, bs, chunk_ratio);
        if entries * 8 > bat_region.1 {
            return Err(F.corrupt(format!(
                "the BAT region holds {} bytes, but {entries} entries are needed for the disk size",
                bat_region.1
            )));
        }
        let mut bat = Bat::new(bat_region.0, entries, BAT_PIECE);
        // Blocks lie in the file and, together, fit in it: a table whose
        // blocks pile onto one another would make a small file a huge disk.
        let room = file_len / bs;
        let mut present = 0u64;
        let payload = size.div_ceil(bs);
        for b in 0..payload {
            let i = bat_index(b, chunk_ratio);
            let e = bat_entry(&mut bat, &io, i)?;
            match e & 7 {
                PAYLOAD_FULLY_PRESENT => {
                    let off = e & !(MIB - 1);
                    if off < 3 * MIB || off.checked_add(bs).is_none_or(|end| end > file_len) {
                        return Err(F.corrupt(format!(
                            "BAT entry {i} (offset {}) of block {b} points to offset {off}, outside the file ({file_len} bytes)",
                            bat_region.0 + i * 8
                        )));
                    }
                    present += 1;
                    if present > room {
                        return Err(F.corrupt(format!(
                            "BAT entry {i} (offset {}) of block {b} makes {present} present blocks, but a file of {file_len} bytes holds at most {room} blocks of {bs} bytes: blocks overlap",
                            bat_region.0 + i * 8
                        )));
                    }
                }
                PAYLOAD_PARTIALLY_PRESENT => {
                    return Err(F.corrupt(format!(
                        "block {b} is partially present in a disk without a parent"
                    )))
                }
                PAYLOAD_NOT_PRESENT | PAYLOAD_UNDEFINED | PAYLOAD_ZERO | PAYLOAD_UNMAPPED => {}
                s => {
                    return Err(F.corrupt(format!("BAT entry of block {b} has reserved state {s}")))
                }
            }
        }
        Ok(VhdxReader {
            io,
            info: VhdxInfo {
                size,
                block_size,
                logical_sector_size: logical,
                physical_sector_size: physical,
                disk_id,
                leave_blocks_allocated: flags & 1 != 0,
                header: (which, header.sequence_number.get()),
                log_length: header.log_length.get(),
            },
            chunk_ratio,
            bat,
        })
    }

    /// The (offset, length) of the BAT and metadata regions, from the first
    /// valid region table.
    fn regions(io: &R, file_len: u64) -> Result<((u64, u64), (u64, u64))> {
        let mut why = Vec::new();
        for at in REGION_TABLE_OFFSETS {
            let mut raw = vec![0u8; REGION_TABLE_SIZE];
            io.read_exact_at(&mut raw, at)?;
            let (h, _) = RegionTableHeader::read_from_prefix(&raw)
                .map_err(|_| F.corrupt("region table unreadable"))?;
            let c = checksum(&raw, 4);
            if h.signature != REGION_SIGNATURE || c != h.checksum.get() {
                why.push(format!("region table at {at}: bad signature or CRC-32C"));
                continue;
            }
            let count = h.entry_count.get();
            if count > 2047 {
                return Err(F.corrupt(format!(
                    "region table at {at}: {count} entries, more than 2047"
                )));
            }
            let (mut bat, mut meta) = (None, None);
            for k in 0..count as usize {
                let (e, _) = RegionEntry::read_from_prefix(&raw[16 + 32 * k..])
                    .map_err(|_| F.corrupt("region entry unreadable"))?;
                let guid = Uuid::from_bytes_le(e.guid);
                let (off, len) = (e.file_offset.get(), u64::from(e.length.get()));
                if off % MIB != 0
                    || off < MIB
                    || off.checked_add(len).is_none_or(|end| end > file_len)
                {
                    return Err(F.corrupt(format!(
                        "region {guid} at offset {off} (+{len}) is unaligned or outside the file ({file_len} bytes)"
                    )));
                }
                if guid == BAT_REGION {
                    bat = Some((off, len));
                } else if guid == METADATA_REGION {
                    meta = Some((off, len));
                } else if e.required.get() & 1 != 0 {
                    return Err(F.unsupported(format!("unknown required region {guid}")));
                }
            }
            return match (bat, meta) {
                (Some(b), Some(m)) => Ok((b, m)),
                _ => Err(F.corrupt("region table lacks the BAT or metadata region")),
            };
        }
        Err(F.corrupt(format!("no valid region table: {}", why.join("; "))))
    }

    /// (block size, file parameter flags, disk size, logical and physical
    /// sector size, disk id) from the metadata region.
    fn metadata(io: &R, (off, len): (u64, u64)) -> Result<(u32, u32, u64, u32, u32, Uuid)> {
        if len < METADATA_TABLE_SIZE as u64 {
            return Err(F.corrupt(format!("metadata region of {len} bytes is too small")));
        }
        let mut table = vec![0u8; METADATA_TABLE_SIZE];
        io.read_exact_at(&mut table, off)?;
        let (h, _) = MetadataTableHeader::read_from_prefix(&table)
            .map_err(|_| F.corrupt("metadata unreadable"))?;
        if h.signature != METADATA_SIGNATURE {
            return Err(F.corrupt(format!("no `metadata` signature at offset {off}")));
        }
        let count = h.entry_count.get();
        if count > 2047 {
            return Err(F.corrupt(format!("metadata table: {count} entries, more than 2047")));
        }
        // (item, offset in the region, length): read only as far as used.
        let mut items: Vec<(Uuid, u64, u64)> = Vec::new();
        for k in 0..count as usize {
            let (e, _) = MetadataEntry::read_from_prefix(&table[32 + 32 * k..])
                .map_err(|_| F.corrupt("metadata entry unreadable"))?;
            let id = Uuid::from_bytes_le(e.item_id);
            let (ioff, ilen) = (u64::from(e.offset.get()), u64::from(e.length.get()));
            let known = [
                FILE_PARAMETERS,
                VIRTUAL_DISK_SIZE,
                VIRTUAL_DISK_ID,
                LOGICAL_SECTOR_SIZE,
                PHYSICAL_SECTOR_SIZE,
                PARENT_LOCATOR,
            ];
            if !known.contains(&id) {
                if e.flags.get() & META_IS_REQUIRED != 0 {
                    return Err(F.unsupported(format!("unknown required metadata item {id}")));
                }
                continue;
            }
            if ilen > 64 << 10 || ioff < METADATA_TABLE_SIZE as u64 || ioff + ilen > len {
                return Err(F.corrupt(format!(
                    "metadata item {id} at +{ioff} (+{ilen}) is outside the metadata region"
                )));
            }
            // MS-VHDX 2.6.1.2: an item id appears once.
            if items.iter().any(|(i, _, _)| *i == id) {
                return Err(F.corrupt(format!(
                    "metadata table entry {k} (offset {}): item {id} appears twice",
                    off + 32 + 32 * k as u64
                )));
            }
            items.push((id, ioff, ilen));
        }
        let item = |id: Uuid, want: usize, name: &str| -> Result<Vec<u8>> {
            let &(_, ioff, _) = items
                .iter()
                .find(|(i, _, l)| *i == id && *l >= want as u64)
                .ok_or_else(|| F.corrupt(format!("metadata item {name} is missing or short")))?;
            let mut v = vec![0u8; want];
            io.read_exact_at(&mut v, off + ioff)?;
            Ok(v)
        };
        let u32_at =
            |v: &[u8], at: usize| u32::from_le_bytes([v[at], v[at + 1], v[at + 2], v[at + 3]]);
        let fp = item(FILE_PARAMETERS, 8, "file parameters")?;
        let (block_size, flags) = (u32_at(&fp, 0), u32_at(&fp, 4));
        if !block_size.is_power_of_two() || !(1 << 20..=256 << 20).contains(&block_size) {
            return Err(F.header(
                "block_size",
                block_size.into(),
                "must be a power of two from 1 MiB to 256 MiB",
            ));
        }
        let sz = item(VIRTUAL_DISK_SIZE, 8, "virtual disk size")?;
        let size = u64::from_le_bytes(sz[..8].try_into().unwrap_or([0; 8]));
        let logical = u32_at(&item(LOGICAL_SECTOR_SIZE, 4, "logical sector size")?, 0);
        let physical = u32_at(&item(PHYSICAL_SECTOR_SIZE, 4, "physical sector size")?, 0);
        if logical != 512 && logical != 4096 {
            return Err(F.header("logical_sector_size", logical.into(), "must be 512 or 4096"));
        }
        if size > 64 << 40 || size % u64::from(logical) != 0 {
            return Err(F.header(
                "virtual_disk_size",
                size,
                "must be a whole number of sectors up to 64 TiB",
            ));
        }
        let id = item(VIRTUAL_DISK_ID, 16, "virtual disk id")?;
        let disk_id = Uuid::from_bytes_le(id[..16].try_into().unwrap_or([0; 16]));
        Ok((block_size, flags, size, logical, physical, disk_id))
    }

    /// The checked header and metadata fields.
    pub fn info(&self) -> &VhdxInfo {
        &self.info
    }

    fn block_host(&mut self, b: u64) -> io::Result<Option<u64>> {
        let e = bat_entry(&mut self.bat, &self.io, bat_index(b, self.chunk_ratio))?;
        Ok((e & 7 == PAYLOAD_FULLY_PRESENT).then_some(e & !(MIB - 1)))
    }
}

impl<R: ReadAt + Send> BlockSource for VhdxReader<R> {
    fn size(&self) -> u64 {
        self.info.size
    }

    fn extents(&mut self) -> io::Result<Vec<Extent>> {
        let bs = u64::from(self.info.block_size);
        let size = self.info.size;
        let mut v = Vec::new();
        for b in 0..size.div_ceil(bs) {
            if let Some(host) = self.block_host(b)? {
                let len = bs.min(size - b * bs);
                // A fixed disk's blocks may be holes in the file.
                for r in self.io.data_ranges(host, host + len)? {
                    v.push(Extent::new(b * bs + (r.offset - host), r.len));
                }
            }
        }
        Ok(merge_extents(v))
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        blocksink::check_read(offset, buf.len(), self.info.size)?;
        let bs = u64::from(self.info.block_size);
        let mut pos = 0usize;
        while pos < buf.len() {
            let o = offset + pos as u64;
            let n = ((bs - o % bs) as usize).min(buf.len() - pos);
            match self.block_host(o / bs)? {
                Some(host) => self
                    .io
                    .read_exact_at(&mut buf[pos..pos + n], host + o % bs)?,
                None => buf[pos..pos + n].fill(0),
            }
            pos += n;
        }
        Ok(())
    }
}
