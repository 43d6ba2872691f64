//! The VHD writer: a [`BlockSink`].

use std::io;

use blocksink::{split_at_blocks, BlockSink, BuildStamp, Bytes, Destination, Extent, Finished};
use zerocopy::{FromZeros, IntoBytes};

use crate::format::*;
use crate::{error::F, Error, Result};

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
    /// Dynamic: BAT (sector offsets), and where the next block goes.
    bat: Vec<u32>,
    next_block: u64,
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
            bat: Vec::new(),
            next_block: 0,
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
        h.max_table_entries = (self.bat.len() as u32).into();
        h.block_size = self.opts.block_size.into();
        h.checksum = checksum(h.as_bytes(), DYNAMIC_CHECKSUM_AT).into();
        h
    }

    fn bat_bytes(&self) -> u64 {
        (self.bat.len() as u64 * 4).next_multiple_of(512)
    }

    fn first_block_offset(&self) -> u64 {
        1536 + self.bat_bytes()
    }

    fn block_span(&self) -> u64 {
        bitmap_bytes(self.opts.block_size) + u64::from(self.opts.block_size)
    }

    fn write_bat(&mut self) -> Result<()> {
        let mut bytes = vec![0xffu8; self.bat_bytes() as usize];
        for (i, e) in self.bat.iter().enumerate() {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&e.to_be_bytes());
        }
        self.dest.write_at(1536, &bytes)?;
        Ok(())
    }

    /// Where block `index` goes, allocating it in the BAT if it is new.
    fn block_offset(&mut self, index: u64) -> Result<u64> {
        let slot = *self.bat.get(index as usize).ok_or_else(|| {
            Error::from(io::Error::other(format!(
                "block {index} is past the end of the disk"
            )))
        })?;
        if slot != BAT_UNUSED {
            return Ok(u64::from(slot) * 512);
        }
        if self.bat_written {
            return Err(Error::from(io::Error::other(format!(
                "data for block {index} arrived outside the plan"
            ))));
        }
        let off = self.first_block_offset() + self.next_block * self.block_span();
        self.bat[index as usize] =
            u32::try_from(off / 512).map_err(|_| F.option("image too large"))?;
        self.next_block += 1;
        Ok(off)
    }

    /// Places a run of data in its blocks, allocating each block (and
    /// writing its sector bitmap) when data first reaches it. What no data
    /// reaches is a hole in the file (zeros on a stream).
    fn write_run(&mut self, offset: u64, data: Bytes) -> Result<()> {
        let bs = u64::from(self.opts.block_size);
        for (b, within, piece) in split_at_blocks(offset, data, bs) {
            let at = self.block_offset(b)?;
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
        let bs = u64::from(self.opts.block_size);
        self.bat = vec![BAT_UNUSED; self.size.div_ceil(bs) as usize];
        let footer = self.footer();
        self.dest.write_at(0, footer.as_bytes())?;
        if !self.dest.is_seekable() {
            // Lay out every planned block now; the plan is exact.
            for e in plan {
                for b in e.offset / bs..e.end().div_ceil(bs) {
                    self.block_offset(b)?;
                }
            }
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
                self.first_block_offset() + self.next_block * self.block_span()
            }
        };
        self.dest.write_at(end, footer.as_bytes())?;
        self.dest.finish(end + 512)
    }

    fn wants_exact_plan(&self) -> bool {
        self.opts.kind == VhdKind::Dynamic && !self.dest.is_seekable()
    }
}
