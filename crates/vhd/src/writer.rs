//! The VHD writer: a [`BlockSink`].

use std::io;

use blocksink::{
    split_at_blocks, BlockAllocator, BlockLayout, BlockSink, BuildStamp, Bytes, Destination,
    Extent, Finished,
};
use zerocopy::{big_endian::U32, FromZeros, IntoBytes};

use crate::format::*;
use crate::{error::F, Result};

/// Which kind of VHD to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VhdKind {
    /// Data then footer; what Azure requires.
    Fixed,
    /// Footer copy, header, BAT, allocated blocks, footer: Hyper-V Gen1.
    Dynamic,
}

/// Options of a VHD being written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VhdOptions {
    /// Fixed or dynamic.
    pub kind: VhdKind,
    /// Dynamic disks: bytes per block (a power of two from 512 KiB to 256 MiB; default 2 MiB).
    pub block_size: u32,
    /// Round the virtual size up to a whole MiB, as Azure requires of every
    /// VHD it imports (default: on for fixed disks).
    pub align_to_mib: bool,
    /// Creation time and unique id source.
    pub stamp: BuildStamp,
}

impl VhdOptions {
    /// A fixed VHD as Azure accepts it: a whole number of MiB.
    pub fn fixed(stamp: BuildStamp) -> Self {
        VhdOptions {
            kind: VhdKind::Fixed,
            block_size: 2 << 20,
            align_to_mib: true,
            stamp,
        }
    }

    /// A dynamic VHD with 2 MiB blocks, sized to the sector.
    pub fn dynamic(stamp: BuildStamp) -> Self {
        VhdOptions {
            kind: VhdKind::Dynamic,
            block_size: 2 << 20,
            align_to_mib: false,
            stamp,
        }
    }

    /// The virtual size a disk of `size` bytes gets.
    pub fn virtual_size(&self, size: u64) -> u64 {
        if self.align_to_mib {
            size.next_multiple_of(1 << 20)
        } else {
            size.next_multiple_of(512)
        }
    }
}

/// Writes a fixed or dynamic VHD into a [`Destination`].
///
/// The footer says creator `qem2`, which tells qemu (like Hyper-V and
/// Azure) to take the size from `current_size` rather than from the CHS
/// geometry, so every reader sees the same size. Both kinds can be written to
/// a stream: a fixed disk is already in order, and a dynamic one asks for an
/// exact plan so that its BAT can come first. An empty disk (0 bytes) is a
/// dynamic VHD only: a fixed one would be its footer alone, at offset 0,
/// which qemu takes for a dynamic disk's footer copy.
#[derive(Debug)]
pub struct VhdWriter {
    dest: Destination,
    opts: VhdOptions,
    size: u64,
    /// The block the last data went to.
    touched: Option<u64>,
    /// Dynamic: where each block goes, from `begin` on.
    blocks: Option<BlockAllocator>,
    /// Dynamic on a stream: the BAT was written in `begin` from the plan.
    bat_written: bool,
    /// The all-present sector bitmap written before each block.
    bitmap: Bytes,
}

/// Bytes of the sector bitmap in front of each block, padded to a sector.
fn bitmap_bytes(block_size: u32) -> u64 {
    (u64::from(block_size) / 512)
        .div_ceil(8)
        .next_multiple_of(512)
}

impl VhdWriter {
    /// A writer with `opts` into `dest`; fails on invalid options.
    pub fn new(dest: Destination, opts: VhdOptions) -> Result<Self> {
        let bs = opts.block_size;
        if opts.kind == VhdKind::Dynamic
            && (!bs.is_power_of_two() || !(512 << 10..=256 << 20).contains(&bs))
        {
            return Err(F.option(format!(
                "block_size {bs} must be a power of two from 512 KiB to 256 MiB"
            )));
        }
        Ok(VhdWriter {
            dest,
            touched: None,
            opts,
            size: 0,
            blocks: None,
            bat_written: false,
            bitmap: Bytes::from(vec![0xff; bitmap_bytes(bs) as usize]),
        })
    }

    fn footer(&self) -> Footer {
        let mut f = Footer::new_zeroed();
        f.cookie = FOOTER_COOKIE;
        f.features = 2.into();
        f.file_format_version = 0x0001_0000.into();
        f.data_offset = match self.opts.kind {
            VhdKind::Fixed => u64::MAX,
            VhdKind::Dynamic => 512,
        }
        .into();
        let t = self.opts.stamp.unix_time().saturating_sub(EPOCH_2000);
        f.timestamp = u32::try_from(t).unwrap_or(u32::MAX).into();
        f.creator_application = *b"qem2";
        f.creator_version = 0x000a_0000.into();
        f.creator_host_os = u32::from_be_bytes(*b"Wi2k").into();
        f.original_size = self.size.into();
        f.current_size = self.size.into();
        let (c, h, s) = geometry(self.size / 512);
        f.cylinders = c.into();
        f.heads = h;
        f.sectors_per_track = s;
        f.disk_type = match self.opts.kind {
            VhdKind::Fixed => DISK_FIXED,
            VhdKind::Dynamic => DISK_DYNAMIC,
        }
        .into();
        f.unique_id = self.opts.stamp.uuid("vhd unique id").into_bytes();
        f.checksum = checksum(f.as_bytes(), FOOTER_CHECKSUM_AT).into();
        f
    }

    fn dynamic_header(&self) -> DynamicHeader {
        let mut h = DynamicHeader::new_zeroed();
        h.cookie = DYNAMIC_COOKIE;
        h.data_offset = u64::MAX.into();
        h.table_offset = 1536.into();
        h.header_version = 0x0001_0000.into();
        h.max_table_entries = (self.bat_entries() as u32).into();
        h.block_size = self.opts.block_size.into();
        h.checksum = checksum(h.as_bytes(), DYNAMIC_CHECKSUM_AT).into();
        h
    }

    /// BAT entries: one per block of the (validated) virtual size.
    fn bat_entries(&self) -> u64 {
        self.size.div_ceil(u64::from(self.opts.block_size))
    }

    fn bat_bytes(&self) -> u64 {
        (self.bat_entries() * 4).next_multiple_of(512)
    }

    /// Blocks lie after the BAT, each its sector bitmap then its data, at
    /// sector offsets the BAT's 32-bit entries can name (all ones: unused).
    fn block_layout(&self) -> BlockLayout {
        let bs = u64::from(self.opts.block_size);
        BlockLayout {
            first: 1536 + self.bat_bytes(),
            slot: bitmap_bytes(self.opts.block_size) + bs,
            align: 512,
            max_offset: u64::from(BAT_UNUSED - 1) * 512,
            ..BlockLayout::new(F, "BAT", bs, self.size)
        }
    }

    fn allocator(&mut self) -> Result<&mut BlockAllocator> {
        self.blocks
            .as_mut()
            .ok_or_else(|| F.unsupported("data before the disk size was given"))
    }

    fn write_bat(&mut self) -> Result<()> {
        let entries = self.bat_entries();
        let bat_bytes = self.bat_bytes() as usize;
        let mut bytes = self
            .allocator()?
            .table(0, entries, |at| {
                U32::new(at.map_or(BAT_UNUSED, |at| (at / 512) as u32))
            })
            .as_bytes()
            .to_vec();
        bytes.resize(bat_bytes, 0xff);
        self.dest.write_at(1536, &bytes)?;
        Ok(())
    }

    /// Places a run of data in its blocks, allocating each block (and
    /// writing its sector bitmap) when data first reaches it. What no data
    /// reaches is a hole in the file (zeros on a stream).
    fn write_run(&mut self, offset: u64, data: Bytes) -> Result<()> {
        let bs = u64::from(self.opts.block_size);
        for (b, within, piece) in split_at_blocks(offset, data, bs) {
            let at = self.allocator()?.allocate(b)?;
            if self.touched != Some(b) {
                // Every sector of an allocated block is present, as qemu and
                // Hyper-V write it.
                self.dest.write_bytes_at(at, self.bitmap.clone())?;
                self.touched = Some(b);
            }
            self.dest
                .write_bytes_at(at + self.bitmap.len() as u64 + within, piece)?;
        }
        Ok(())
    }
}

impl BlockSink for VhdWriter {
    fn begin(&mut self, size: u64, plan: &[Extent]) -> io::Result<()> {
        self.size = self.opts.virtual_size(size);
        if self.size > MAX_SIZE {
            return Err(F
                .option(format!(
                    "a VHD holds at most 2040 GiB; this disk is {} bytes",
                    self.size
                ))
                .into());
        }
        if self.opts.kind == VhdKind::Fixed {
            if self.size == 0 {
                // qemu looks for a dynamic disk's footer copy at offset 0
                // first, and an empty fixed disk has its only footer there.
                return Err(F.unsupported(
                    "a fixed VHD cannot hold an empty disk: its footer would be the whole file, at offset 0, where readers (qemu among them) take it for a dynamic disk's footer copy; write a dynamic VHD",
                )
                .into());
            }
            return Ok(());
        }
        let mut blocks = BlockAllocator::new(self.block_layout())?;
        let footer = self.footer();
        self.dest.write_at(0, footer.as_bytes())?;
        let stream = !self.dest.is_seekable();
        if stream {
            // Lay out every planned block now; the plan is exact.
            blocks.preallocate(plan)?;
        }
        self.blocks = Some(blocks);
        if stream {
            self.bat_written = true;
            let header = self.dynamic_header();
            self.dest.write_at(512, header.as_bytes())?;
            self.write_bat()?;
        }
        Ok(())
    }

    fn write(&mut self, offset: u64, data: Bytes) -> io::Result<()> {
        if self.opts.kind == VhdKind::Fixed {
            // A fixed disk is its data in place, already in file order.
            return self.dest.write_bytes_at(offset, data);
        }
        Ok(self.write_run(offset, data)?)
    }

    fn finish(&mut self) -> io::Result<Finished> {
        let footer = self.footer();
        let end = match self.opts.kind {
            VhdKind::Fixed => self.size,
            VhdKind::Dynamic => {
                if !self.bat_written {
                    let header = self.dynamic_header();
                    self.dest.write_at(512, header.as_bytes())?;
                    self.write_bat()?;
                }
                self.allocator()?.end()
            }
        };
        self.dest.write_at(end, footer.as_bytes())?;
        self.dest.finish(end + 512)
    }

    fn wants_exact_plan(&self) -> bool {
        self.opts.kind == VhdKind::Dynamic && !self.dest.is_seekable()
    }
}
