//! The VHDX writer: a [`BlockSink`].

use std::io;

use blocksink::{
    split_at_blocks, BlockAllocator, BlockLayout, BlockSink, BuildStamp, Bytes, Destination,
    Extent, Finished,
};
use zerocopy::{little_endian::U64, FromZeros, IntoBytes};

use crate::format::*;
use crate::{error::F, Result};

/// Options of a VHDX being written, named as qemu-img names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VhdxOptions {
    /// Fixed (every block allocated) rather than dynamic.
    pub fixed: bool,
    /// Bytes per payload block: a power of two from 1 MiB to 256 MiB. The
    /// default, 2 MiB, is what Azure Linux's image tooling asks for: larger
    /// blocks (qemu chooses 32 MiB) allocate whole blocks around small
    /// writes and make a much larger file.
    pub block_size: u32,
    /// Creation identity: file, data-write and virtual disk GUIDs.
    pub stamp: BuildStamp,
}

impl VhdxOptions {
    /// A dynamic VHDX with 2 MiB blocks.
    pub fn dynamic(stamp: BuildStamp) -> Self {
        VhdxOptions {
            fixed: false,
            block_size: 2 << 20,
            stamp,
        }
    }

    /// A fixed VHDX.
    pub fn fixed(stamp: BuildStamp) -> Self {
        VhdxOptions {
            fixed: true,
            ..Self::dynamic(stamp)
        }
    }
}

/// Logical sector size written into the metadata.
const LOGICAL_SECTOR: u64 = 512;
/// Physical sector size written into the metadata.
const PHYSICAL_SECTOR: u32 = 4096;
const LOG_OFFSET: u64 = MIB;
const LOG_LENGTH: u64 = MIB;
const METADATA_OFFSET: u64 = 2 * MIB;
const BAT_OFFSET: u64 = 3 * MIB;

/// Writes a dynamic or fixed VHDX (MS-VHDX v1.0) into a [`Destination`]:
/// file identifier, both headers, both region tables, an empty 1 MiB log,
/// the metadata region and the BAT, then the payload blocks.
///
/// Dynamic disks allocate a block only where data arrives; on a stream the
/// writer asks for an exact plan so the BAT can precede the blocks. An
/// empty disk (0 bytes) gets the BAT region qemu expects of it (qemu counts
/// 2^32 - 1 blocks there): 16 MiB for 2 MiB blocks, left a hole.
#[derive(Debug)]
pub struct VhdxWriter {
    dest: Destination,
    opts: VhdxOptions,
    size: u64,
    chunk_ratio: u64,
    /// Where each payload block goes, from `begin` on.
    blocks: Option<BlockAllocator>,
    data_start: u64,
    bat_written: bool,
}

impl VhdxWriter {
    /// A writer with `opts` into `dest`; fails on invalid options.
    pub fn new(dest: Destination, opts: VhdxOptions) -> Result<Self> {
        let bs = opts.block_size;
        if !bs.is_power_of_two() || !(1 << 20..=256 << 20).contains(&bs) {
            return Err(F.option(format!(
                "block_size {bs} must be a power of two from 1 MiB to 256 MiB"
            )));
        }
        Ok(VhdxWriter {
            dest,
            chunk_ratio: chunk_ratio(LOGICAL_SECTOR, u64::from(bs)),
            opts,
            size: 0,
            blocks: None,
            data_start: 0,
            bat_written: false,
        })
    }

    fn bs(&self) -> u64 {
        u64::from(self.opts.block_size)
    }

    /// The BAT region: its entries, in whole MiB. qemu counts the entries
    /// of an empty disk as if it had 2^32 - 1 blocks (a 32-bit
    /// `data_blocks - 1` in vhdx_calc_bat_entries) and refuses a smaller
    /// region, so an empty disk gets a region that large (left a hole), as
    /// `qemu-img create` makes it.
    fn bat_region_len(&self) -> u64 {
        let mut entries = bat_entries(self.size, self.bs(), self.chunk_ratio);
        if entries == 0 {
            entries = u64::from(u32::MAX) >> self.chunk_ratio.trailing_zeros();
        }
        (entries * 8).next_multiple_of(MIB).max(MIB)
    }

    /// File identifier, headers, region tables, log and metadata: the first
    /// 3 MiB of the file.
    fn write_head(&mut self) -> Result<()> {
        let mut head = vec![0u8; BAT_OFFSET as usize];
        head[..8].copy_from_slice(&FILE_SIGNATURE);
        let creator: Vec<u8> = concat!("imgconv ", env!("CARGO_PKG_VERSION"))
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        head[8..8 + creator.len()].copy_from_slice(&creator);

        let stamp = &self.opts.stamp;
        for (i, at) in HEADER_OFFSETS.iter().enumerate() {
            let mut h = Header::new_zeroed();
            h.signature = HEADER_SIGNATURE;
            h.sequence_number = (i as u64 + 1).into();
            h.file_write_guid = stamp.uuid("vhdx file write guid").to_bytes_le();
            h.data_write_guid = stamp.uuid("vhdx data write guid").to_bytes_le();
            h.version = 1.into();
            h.log_length = (LOG_LENGTH as u32).into();
            h.log_offset = LOG_OFFSET.into();
            let mut bytes = h.as_bytes().to_vec();
            let c = checksum(&bytes, 4);
            bytes[4..8].copy_from_slice(&c.to_le_bytes());
            head[*at as usize..*at as usize + HEADER_SIZE].copy_from_slice(&bytes);
        }

        let mut table = vec![0u8; REGION_TABLE_SIZE];
        let rh = RegionTableHeader {
            signature: REGION_SIGNATURE,
            checksum: 0.into(),
            entry_count: 2.into(),
            reserved: 0.into(),
        };
        table[..16].copy_from_slice(rh.as_bytes());
        let regions = [
            (BAT_REGION, BAT_OFFSET, self.bat_region_len()),
            (METADATA_REGION, METADATA_OFFSET, MIB),
        ];
        for (k, (guid, offset, len)) in regions.iter().enumerate() {
            let e = RegionEntry {
                guid: guid.to_bytes_le(),
                file_offset: (*offset).into(),
                length: u32::try_from(*len)
                    .map_err(|_| F.option("BAT region too large"))?
                    .into(),
                required: 1.into(),
            };
            table[16 + 32 * k..48 + 32 * k].copy_from_slice(e.as_bytes());
        }
        let c = checksum(&table, 4);
        table[4..8].copy_from_slice(&c.to_le_bytes());
        for at in REGION_TABLE_OFFSETS {
            head[at as usize..at as usize + REGION_TABLE_SIZE].copy_from_slice(&table);
        }

        // Metadata: the table, then the items packed from 64 KiB on.
        let meta = &mut head[METADATA_OFFSET as usize..BAT_OFFSET as usize];
        let mh = MetadataTableHeader {
            signature: METADATA_SIGNATURE,
            reserved: 0.into(),
            entry_count: 5.into(),
            reserved2: [0; 20],
        };
        meta[..32].copy_from_slice(mh.as_bytes());
        let disk_id = stamp.uuid("vhdx virtual disk id").to_bytes_le();
        let items: [(uuid::Uuid, Vec<u8>, u32); 5] = [
            (
                FILE_PARAMETERS,
                [self.opts.block_size.to_le_bytes(), 0u32.to_le_bytes()].concat(),
                META_IS_REQUIRED,
            ),
            (
                VIRTUAL_DISK_SIZE,
                self.size.to_le_bytes().to_vec(),
                META_IS_VIRTUAL_DISK | META_IS_REQUIRED,
            ),
            (
                VIRTUAL_DISK_ID,
                disk_id.to_vec(),
                META_IS_VIRTUAL_DISK | META_IS_REQUIRED,
            ),
            (
                LOGICAL_SECTOR_SIZE,
                (LOGICAL_SECTOR as u32).to_le_bytes().to_vec(),
                META_IS_VIRTUAL_DISK | META_IS_REQUIRED,
            ),
            (
                PHYSICAL_SECTOR_SIZE,
                PHYSICAL_SECTOR.to_le_bytes().to_vec(),
                META_IS_VIRTUAL_DISK | META_IS_REQUIRED,
            ),
        ];
        let mut at = METADATA_TABLE_SIZE;
        for (k, (id, value, flags)) in items.iter().enumerate() {
            let e = MetadataEntry {
                item_id: id.to_bytes_le(),
                offset: (at as u32).into(),
                length: (value.len() as u32).into(),
                flags: (*flags).into(),
                reserved: 0.into(),
            };
            meta[32 + 32 * k..64 + 32 * k].copy_from_slice(e.as_bytes());
            meta[at..at + value.len()].copy_from_slice(value);
            at += value.len();
        }
        self.dest.write_at(0, &head)?;
        Ok(())
    }

    fn allocator(&mut self) -> Result<&mut BlockAllocator> {
        self.blocks
            .as_mut()
            .ok_or_else(|| F.unsupported("data before the disk size was given"))
    }

    /// Writes the BAT entries: each chunk's payload entries, then (before
    /// the next chunk) its sector bitmap entry, never present in a disk
    /// without a parent (MS-VHDX 2.5.1). The rest of the region is left a
    /// hole (zeros on a stream).
    fn write_bat(&mut self) -> Result<()> {
        let ratio = self.chunk_ratio;
        let blocks = self.allocator()?;
        let payload = blocks.layout().blocks();
        let mut bat = Vec::new();
        for first in (0..payload).step_by(ratio as usize) {
            if first > 0 {
                bat.push(U64::new(PAYLOAD_NOT_PRESENT));
            }
            let n = ratio.min(payload - first);
            bat.extend(blocks.table(first, n, |at| {
                U64::new(at.map_or(PAYLOAD_NOT_PRESENT, |at| at | PAYLOAD_FULLY_PRESENT))
            }));
        }
        self.dest.write_at(BAT_OFFSET, bat.as_bytes())?;
        Ok(())
    }

    /// Places a run of data in its blocks, allocating each when data first
    /// reaches it; the rest of a block is a hole in the file.
    fn write_run(&mut self, offset: u64, data: Bytes) -> Result<()> {
        for (b, within, piece) in split_at_blocks(offset, data, self.bs()) {
            let at = self.allocator()?.allocate(b)?;
            self.dest.write_bytes_at(at + within, piece)?;
        }
        Ok(())
    }
}

impl BlockSink for VhdxWriter {
    fn begin(&mut self, size: u64, plan: &[Extent]) -> io::Result<()> {
        // Whole logical sectors, as qemu rounds them.
        self.size = size.next_multiple_of(LOGICAL_SECTOR);
        if self.size > 64 << 40 {
            return Err(F
                .option(format!(
                    "a VHDX holds at most 64 TiB; this disk is {} bytes",
                    self.size
                ))
                .into());
        }
        // qemu reads the whole BAT region in one request of at most 2 GiB - 1.
        if self.bat_region_len() > i32::MAX as u64 {
            return Err(F.unsupported(format!(
                "a VHDX of {} MiB blocks cannot hold an empty disk as qemu reads it: qemu counts 2^32 - 1 blocks for an empty disk, so the BAT region would be {} bytes, more than it reads; use blocks of 128 MiB or less",
                self.bs() >> 20,
                self.bat_region_len()
            ))
            .into());
        }
        self.data_start = BAT_OFFSET + self.bat_region_len();
        self.write_head()?;
        // Payload blocks lie after the BAT region, at whole MiB (the BAT
        // entry's FileOffsetMB).
        let layout = BlockLayout {
            first: self.data_start,
            align: MIB,
            ..BlockLayout::new(F, "BAT", self.bs(), self.size)
        };
        let mut blocks = BlockAllocator::new(layout)?;
        if self.opts.fixed {
            blocks.preallocate(&[Extent::new(0, self.size)])?;
        } else if !self.dest.is_seekable() {
            blocks.preallocate(plan)?;
        }
        self.blocks = Some(blocks);
        if self.opts.fixed || !self.dest.is_seekable() {
            self.write_bat()?;
            self.bat_written = true;
        }
        Ok(())
    }

    fn write(&mut self, offset: u64, data: Bytes) -> io::Result<()> {
        if self.opts.fixed {
            // Blocks lie in order from data_start: the data goes in place.
            return self.dest.write_bytes_at(self.data_start + offset, data);
        }
        Ok(self.write_run(offset, data)?)
    }

    fn finish(&mut self) -> io::Result<Finished> {
        if !self.bat_written {
            self.write_bat()?;
        }
        let end = self.allocator()?.end();
        self.dest.finish(end)
    }

    fn wants_exact_plan(&self) -> bool {
        !self.opts.fixed && !self.dest.is_seekable()
    }
}
