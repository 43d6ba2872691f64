//! The VMDK writer: a [`BlockSink`].

use std::io;

use blocksink::{
    place_run, Block, BlockAllocator, BlockAssembler, BlockLayout, BlockSink, BuildStamp, Bytes,
    Codec, Compressed, Destination, Extent, Finished, ParallelCompressor,
};
use zerocopy::{little_endian::U32, FromBytes, FromZeros, IntoBytes};

use crate::format::*;
use crate::{error::F, Error, Result};

/// The VMDK variants this crate writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmdkSubformat {
    /// Compressed grains behind markers, tables at the end, footer and
    /// end-of-stream marker: what ESXi, vSphere, AWS VM Import and OVAs take.
    /// Written strictly in order, so it can go to a pipe.
    StreamOptimized,
    /// One sparse extent with grain tables up front (qemu-img's default,
    /// VMware Workstation and Fusion). Needs a seekable output.
    MonolithicSparse,
}

/// Options of a VMDK being written, named as qemu-img and VMware name them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmdkOptions {
    /// Which variant.
    pub subformat: VmdkSubformat,
    /// `ddb.adapterType`: `lsilogic` (default), `ide`, `buslogic`,
    /// `legacyESX` or `pvscsi`.
    pub adapter_type: String,
    /// `ddb.virtualHWVersion` (4 by default, as VMware's tools write).
    pub hw_version: u32,
    /// `ddb.toolsVersion` (2147483647: tools managed by the guest).
    pub tools_version: String,
    /// The extent file name the descriptor names (the output's file name).
    pub file_name: String,
    /// Deflate level of stream-optimized grains (1–12, default 6).
    pub compression_level: i32,
    /// Content id source.
    pub stamp: BuildStamp,
}

impl VmdkOptions {
    /// Defaults for `subformat`, naming the extent `file_name`.
    pub fn new(subformat: VmdkSubformat, file_name: &str, stamp: BuildStamp) -> Self {
        VmdkOptions {
            subformat,
            adapter_type: "lsilogic".into(),
            hw_version: 4,
            tools_version: "2147483647".into(),
            file_name: file_name.into(),
            compression_level: 6,
            stamp,
        }
    }
}

const GRAIN_SECTORS: u64 = 128;
const GRAIN: u64 = GRAIN_SECTORS * SECTOR;
const GTES_PER_GT: u64 = 512;
const GT_SECTORS: u64 = GTES_PER_GT * 4 / SECTOR;
const DESCRIPTOR_SECTORS: u64 = 20;

/// The text descriptor for a disk of `capacity` sectors in one sparse extent.
pub fn descriptor_text(opts: &VmdkOptions, capacity: u64) -> String {
    let create = match opts.subformat {
        VmdkSubformat::StreamOptimized => "streamOptimized",
        VmdkSubformat::MonolithicSparse => "monolithicSparse",
    };
    descriptor_with(opts, capacity, create, "SPARSE", "")
}

fn descriptor_with(
    opts: &VmdkOptions,
    capacity: u64,
    create: &str,
    kind: &str,
    offset: &str,
) -> String {
    let id = opts.stamp.uuid("vmdk content id");
    let b = id.as_bytes();
    let mut cid = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if cid >= 0xffff_fffe {
        cid = 1; // those two mean "no parent" and "all zeros" to some readers
    }
    let long: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let (heads, cylinders) = if opts.adapter_type == "ide" {
        (16, (capacity / (16 * 63)).min(16383))
    } else {
        (255, capacity.div_ceil(255 * 63).min(65535))
    };
    format!(
        "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID={cid:08x}\nparentCID=ffffffff\ncreateType=\"{create}\"\n\n\
         # Extent description\nRW {capacity} {kind} \"{name}\"{offset}\n\n\
         # The Disk Data Base\n#DDB\n\n\
         ddb.longContentID = \"{long}\"\nddb.virtualHWVersion = \"{hw}\"\n\
         ddb.geometry.cylinders = \"{cylinders}\"\nddb.geometry.heads = \"{heads}\"\nddb.geometry.sectors = \"63\"\n\
         ddb.adapterType = \"{adapter}\"\nddb.toolsVersion = \"{tools}\"\n",
        name = opts.file_name.replace('"', "_"),
        hw = opts.hw_version,
        adapter = opts.adapter_type,
        tools = opts.tools_version,
    )
}

/// Compresses one grain into a record ready for the file: 12 bytes for the
/// grain marker, the zlib stream, zeros to the next sector.
struct GrainCodec {
    level: i32,
}

impl Codec for GrainCodec {
    type State = libdeflater::Compressor;
    fn state(&self) -> Self::State {
        libdeflater::Compressor::new(
            libdeflater::CompressionLvl::new(self.level).unwrap_or_default(),
        )
    }
    fn compress(&self, c: &mut Self::State, grain: &[u8]) -> io::Result<Option<Vec<u8>>> {
        let mut out = vec![0u8; 12 + c.zlib_compress_bound(grain.len())];
        let n = c
            .zlib_compress(grain, &mut out[12..])
            .map_err(|e| io::Error::other(format!("compressing a grain: {e:?}")))?;
        out.resize((12 + n).next_multiple_of(SECTOR as usize), 0);
        // The LBA is set when the grain is placed.
        let marker = GrainMarker {
            lba: 0.into(),
            size: (n as u32).into(),
        };
        out[..12].copy_from_slice(marker.as_bytes());
        Ok(Some(out))
    }
}

/// Writes a VMDK into a [`Destination`].
///
/// The stream-optimized layout is the one VMware's specification gives for
/// streaming: header with `gdOffset = GD_AT_END` and the descriptor, grains
/// (marker + zlib data, padded to a sector) in disk order, each finished
/// grain table behind a GT marker, the grain directory behind a GD marker,
/// the footer (marker + header copy with the real `gdOffset`) and the
/// end-of-stream marker. Grains are compressed on every core.
///
/// An empty disk (0 bytes) is refused, by this writer and by
/// [`VmdkFlatWriter`]: qemu reads a sparse extent of capacity 0 as a
/// descriptor file and skips an extent line of 0 sectors, so no VMDK holds
/// one as qemu reads it.
pub struct VmdkWriter {
    dest: Destination,
    opts: VmdkOptions,
    capacity: u64,
    assembler: BlockAssembler,
    /// Where each grain goes, from `begin` on.
    grains: Option<BlockAllocator>,
    /// Grain directory: sector of each grain table (0: none).
    gd: Vec<u32>,
    /// The grain table being filled (writes ascend).
    open_gt: Option<u64>,
    compressor: Option<ParallelCompressor<GrainCodec>>,
    /// Monolithic sparse: where the grain tables and their copies are.
    gt_start: u64,
    rgt_start: u64,
}

impl std::fmt::Debug for VmdkWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmdkWriter")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

fn sector_u32(s: u64) -> Result<u32> {
    u32::try_from(s)
        .map_err(|_| F.option("the image grows past 2 TiB of sectors a grain table can address"))
}

impl VmdkWriter {
    /// A writer with `opts` into `dest`; fails on invalid options.
    pub fn new(dest: Destination, opts: VmdkOptions) -> Result<Self> {
        if !["ide", "lsilogic", "buslogic", "legacyESX", "pvscsi"]
            .contains(&opts.adapter_type.as_str())
        {
            return Err(F.option(format!(
                "adapter type {:?}: use ide, lsilogic, buslogic, legacyESX or pvscsi",
                opts.adapter_type
            )));
        }
        if !(1..=12).contains(&opts.compression_level) {
            return Err(F.option(format!(
                "compression level {} must be 1 to 12",
                opts.compression_level
            )));
        }
        if opts.tools_version.contains(['"', '\n']) {
            return Err(F.option("tools version must not hold quotes or newlines"));
        }
        Ok(VmdkWriter {
            dest,
            opts,
            capacity: 0,
            assembler: BlockAssembler::new(GRAIN),
            grains: None,
            gd: Vec::new(),
            open_gt: None,
            compressor: None,
            gt_start: 0,
            rgt_start: 0,
        })
    }

    fn stream(&self) -> bool {
        self.opts.subformat == VmdkSubformat::StreamOptimized
    }

    fn header(&self, gd_offset: u64, rgd_offset: u64, over_head: u64) -> SparseExtentHeader {
        let mut h = SparseExtentHeader::new_zeroed();
        h.magic_number = MAGIC.into();
        let (version, flags, compress) = if self.stream() {
            (
                3,
                FLAG_NL_TEST | FLAG_COMPRESSED | FLAG_MARKERS,
                COMPRESSION_DEFLATE,
            )
        } else {
            (1, FLAG_NL_TEST | FLAG_REDUNDANT_GT, 0)
        };
        h.version = version.into();
        h.flags = flags.into();
        h.capacity = self.capacity.into();
        h.grain_size = GRAIN_SECTORS.into();
        h.descriptor_offset = 1.into();
        h.descriptor_size = DESCRIPTOR_SECTORS.into();
        h.num_gtes_per_gt = (GTES_PER_GT as u32).into();
        h.rgd_offset = rgd_offset.into();
        h.gd_offset = gd_offset.into();
        h.over_head = over_head.into();
        h.single_end_line_char = b'\n';
        h.non_end_line_char = b' ';
        h.double_end_line_char1 = b'\r';
        h.double_end_line_char2 = b'\n';
        h.compress_algorithm = compress.into();
        h
    }

    /// Header and descriptor: the first `1 + DESCRIPTOR_SECTORS` sectors.
    fn head(&self, gd_offset: u64, rgd_offset: u64, over_head: u64) -> Result<Vec<u8>> {
        let mut head = vec![0u8; ((1 + DESCRIPTOR_SECTORS) * SECTOR) as usize];
        head[..512].copy_from_slice(self.header(gd_offset, rgd_offset, over_head).as_bytes());
        let text = descriptor_text(&self.opts, self.capacity);
        if text.len() > (DESCRIPTOR_SECTORS * SECTOR) as usize {
            return Err(F.option("descriptor too long (file name?)"));
        }
        head[512..512 + text.len()].copy_from_slice(text.as_bytes());
        Ok(head)
    }

    /// A metadata marker: `sectors` of `kind` follow.
    fn marker(sectors: u64, kind: u32) -> [u8; 512] {
        let marker = Marker {
            value: sectors.into(),
            size: 0.into(),
            kind: kind.into(),
        };
        let mut m = [0u8; 512];
        m[..16].copy_from_slice(marker.as_bytes());
        m
    }

    fn table_bytes(entries: &[u32], sectors: u64) -> Vec<u8> {
        let mut v: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
        v.resize((sectors * SECTOR) as usize, 0);
        v
    }

    fn allocator(&mut self) -> Result<&mut BlockAllocator> {
        self.grains
            .as_mut()
            .ok_or_else(|| F.unsupported("data before the disk size was given"))
    }

    /// Grains of the disk, from sector `first` on, at sectors a grain
    /// table's 32-bit entries name.
    fn grain_layout(&self, first: u64) -> BlockLayout {
        BlockLayout {
            first: first * SECTOR,
            align: SECTOR,
            max_offset: u64::from(u32::MAX) * SECTOR,
            ..BlockLayout::new(F, "grain table", GRAIN, self.capacity * SECTOR)
        }
    }

    /// Writes the open grain table: behind a marker at the end of a stream,
    /// or into its two preallocated places in a monolithic sparse file.
    fn close_gt(&mut self) -> Result<()> {
        let Some(t) = self.open_gt.take() else {
            return Ok(());
        };
        let stream = self.stream();
        let grains = self.allocator()?;
        let gt = grains.table(t * GTES_PER_GT, GTES_PER_GT, |at| {
            U32::new(at.map_or(0, |at| (at / SECTOR) as u32))
        });
        if stream {
            let at = grains.reserve((1 + GT_SECTORS) * SECTOR, SECTOR)? / SECTOR;
            // Forward only: the grains of this table are never looked up again.
            grains.forget_before((t + 1) * GTES_PER_GT);
            self.dest
                .write_at(at * SECTOR, &Self::marker(GT_SECTORS, MARKER_GT))?;
            self.gd[t as usize] = sector_u32(at + 1)?;
            self.dest.write_at((at + 1) * SECTOR, gt.as_bytes())?;
        } else {
            self.dest
                .write_at((self.gt_start + t * GT_SECTORS) * SECTOR, gt.as_bytes())?;
            self.dest
                .write_at((self.rgt_start + t * GT_SECTORS) * SECTOR, gt.as_bytes())?;
        }
        Ok(())
    }

    /// Notes that `grain` has data, writing the grain table before it once
    /// the writes have moved past it.
    fn enter_gt(&mut self, grain: u64) -> Result<()> {
        let t = grain / GTES_PER_GT;
        if self.open_gt.is_some_and(|o| o != t) {
            self.close_gt()?;
        }
        self.open_gt = Some(t);
        Ok(())
    }

    fn write_compressed(&mut self, done: Vec<Compressed>) -> Result<()> {
        for Compressed { block, packed } in done {
            let mut record =
                packed.ok_or_else(|| Error::from(io::Error::other("grain not compressed")))?;
            if let Ok((marker, _)) = GrainMarker::mut_from_prefix(&mut record[..]) {
                marker.lba = (block.index * GRAIN_SECTORS).into();
            }
            let at = self
                .allocator()?
                .allocate_record(block.index, record.len() as u64)?;
            self.dest.write_bytes_at(at, Bytes::from(record))?;
            self.enter_gt(block.index)?;
        }
        Ok(())
    }

    /// Compresses whole grains (the assembler completes partial ones).
    fn write_blocks(&mut self, blocks: Vec<Block>) -> Result<()> {
        for block in blocks {
            // Refused as it arrives, not once compressed.
            self.allocator()?.check(block.index)?;
            if let Some(c) = &mut self.compressor {
                let done = c.push(block)?;
                self.write_compressed(done)?;
            }
        }
        Ok(())
    }

    /// Monolithic sparse: places a run in its grains as it comes, each
    /// grain allocated on its first data; the rest of a grain is a hole.
    fn write_run(&mut self, offset: u64, data: Bytes) -> Result<()> {
        let pieces = place_run(offset, data, GRAIN, |g| -> Result<u64> {
            self.enter_gt(g)?;
            self.allocator()?.allocate(g)
        })?;
        for (at, piece) in pieces {
            self.dest.write_bytes_at(at, piece)?;
        }
        Ok(())
    }
}

impl BlockSink for VmdkWriter {
    fn begin(&mut self, size: u64, plan: &[Extent]) -> io::Result<()> {
        if size == 0 {
            // qemu (vmdk_open_vmdk4) reads a sparse extent of capacity 0 as a
            // container for a descriptor file, and refuses its createType.
            return Err(F.unsupported(format!(
                "a {} VMDK cannot hold an empty disk (0 bytes): qemu takes a sparse extent of capacity 0 for a descriptor file and refuses to open it",
                match self.opts.subformat {
                    VmdkSubformat::StreamOptimized => "streamOptimized",
                    VmdkSubformat::MonolithicSparse => "monolithicSparse",
                }
            ))
            .into());
        }
        self.capacity = size.div_ceil(SECTOR);
        let grains = self.capacity.div_ceil(GRAIN_SECTORS);
        let gts = grains.div_ceil(GTES_PER_GT);
        self.gd = vec![0; gts as usize];
        let gd_sectors = (gts * 4).div_ceil(SECTOR);
        if self.stream() {
            // Grains start on a grain boundary, as VMware's own files do;
            // they come as they are compressed, but only where the plan says.
            let mut grains = BlockAllocator::new(self.grain_layout(GRAIN_SECTORS))?;
            grains.restrict_to(plan);
            self.grains = Some(grains);
            let head = self.head(GD_AT_END, 0, GRAIN_SECTORS)?;
            self.dest.write_at(0, &head)?;
            self.compressor = Some(ParallelCompressor::new(
                GrainCodec {
                    level: self.opts.compression_level,
                },
                32,
            ));
            return Ok(());
        }
        if !self.dest.is_seekable() {
            return Err(F.unsupported(
                "a monolithicSparse VMDK needs a seekable output; use streamOptimized for a pipe",
            )
            .into());
        }
        // Header, descriptor, redundant GD and GTs, GD and GTs, then grains.
        let rgd = 1 + DESCRIPTOR_SECTORS;
        self.rgt_start = rgd + gd_sectors;
        let gd = self.rgt_start + gts * GT_SECTORS;
        self.gt_start = gd + gd_sectors;
        let over_head = (self.gt_start + gts * GT_SECTORS).next_multiple_of(GRAIN_SECTORS);
        self.grains = Some(BlockAllocator::new(self.grain_layout(over_head))?);
        let head = self.head(gd, rgd, over_head)?;
        self.dest.write_at(0, &head)?;
        let gd_entries: Vec<u32> = (0..gts)
            .map(|t| sector_u32(self.gt_start + t * GT_SECTORS))
            .collect::<Result<_>>()?;
        let rgd_entries: Vec<u32> = (0..gts)
            .map(|t| sector_u32(self.rgt_start + t * GT_SECTORS))
            .collect::<Result<_>>()?;
        self.dest
            .write_at(gd * SECTOR, &Self::table_bytes(&gd_entries, gd_sectors))?;
        self.dest
            .write_at(rgd * SECTOR, &Self::table_bytes(&rgd_entries, gd_sectors))?;
        Ok(())
    }

    fn write(&mut self, offset: u64, data: Bytes) -> io::Result<()> {
        if !self.stream() {
            return Ok(self.write_run(offset, data)?);
        }
        let blocks = self.assembler.push(offset, data);
        Ok(self.write_blocks(blocks)?)
    }

    fn finish(&mut self) -> io::Result<Finished> {
        let rest: Vec<Block> = self.assembler.flush().into_iter().collect();
        self.write_blocks(rest)?;
        if let Some(c) = &mut self.compressor {
            let done = c.finish()?;
            self.write_compressed(done)?;
        }
        self.close_gt()?;
        let end = self.allocator()?.end();
        if !self.stream() {
            // Grain tables were written in place; the file ends after the last grain.
            return self.dest.finish(end);
        }
        let mut pos = end / SECTOR;
        let gd_sectors = (self.gd.len() as u64 * 4).div_ceil(SECTOR).max(1);
        let gd_at = pos + 1;
        self.dest
            .write_at(pos * SECTOR, &Self::marker(gd_sectors, MARKER_GD))?;
        self.dest
            .write_at(gd_at * SECTOR, &Self::table_bytes(&self.gd, gd_sectors))?;
        pos = gd_at + gd_sectors;
        self.dest
            .write_at(pos * SECTOR, &Self::marker(1, MARKER_FOOTER))?;
        let footer = self.header(gd_at, 0, GRAIN_SECTORS);
        self.dest.write_at((pos + 1) * SECTOR, footer.as_bytes())?;
        self.dest
            .write_at((pos + 2) * SECTOR, &Self::marker(0, MARKER_EOS))?;
        self.dest.finish((pos + 3) * SECTOR)
    }
}

/// Writes a monolithicFlat VMDK, the layout of ESXi datastores: the disk's
/// bytes as they are in a flat extent file, and a small text descriptor
/// that names it. Both outputs are written in order (the flat extent as a
/// sparse file, or zeros on a stream).
#[derive(Debug)]
pub struct VmdkFlatWriter {
    descriptor: Destination,
    flat: Destination,
    opts: VmdkOptions,
    capacity: u64,
}

impl VmdkFlatWriter {
    /// A writer of the descriptor into `descriptor` and the data into
    /// `flat`; `opts.file_name` is the flat extent's file name, as the
    /// descriptor will name it (beside the descriptor).
    pub fn new(descriptor: Destination, flat: Destination, opts: VmdkOptions) -> Result<Self> {
        if opts.file_name.is_empty() || opts.file_name.contains(['/', '"', '\n']) {
            return Err(F.option(format!(
                "flat extent name {:?} must be a plain file name",
                opts.file_name
            )));
        }
        Ok(VmdkFlatWriter {
            descriptor,
            flat,
            opts,
            capacity: 0,
        })
    }
}

impl BlockSink for VmdkFlatWriter {
    fn begin(&mut self, size: u64, _plan: &[Extent]) -> io::Result<()> {
        if size == 0 {
            // qemu (vmdk_parse_extents) skips an extent line of 0 sectors,
            // and a descriptor without extents makes `qemu-img info` abort.
            return Err(F.unsupported(
                "a monolithicFlat VMDK cannot hold an empty disk (0 bytes): qemu skips an extent of 0 sectors and cannot describe a disk without extents",
            )
            .into());
        }
        self.capacity = size.div_ceil(SECTOR);
        Ok(())
    }

    fn write(&mut self, offset: u64, data: Bytes) -> io::Result<()> {
        self.flat.write_bytes_at(offset, data)
    }

    fn finish(&mut self) -> io::Result<Finished> {
        let flat = self.flat.finish(self.capacity * SECTOR)?;
        let text = descriptor_with(&self.opts, self.capacity, "monolithicFlat", "FLAT", " 0");
        self.descriptor.write_at(0, text.as_bytes())?;
        let descriptor = self.descriptor.finish(text.len() as u64)?;
        Ok(Finished::new(flat.bytes + descriptor.bytes))
    }
}
