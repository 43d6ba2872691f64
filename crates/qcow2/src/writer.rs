//! The QCOW2 writer: a [`BlockSink`].

use std::collections::BTreeSet;
use std::io;

use blocksink::{
    place_run, Block, BlockAllocator, BlockAssembler, BlockLayout, BlockSink, Bytes, Codec,
    Compressed, Destination, Extent, Finished, ParallelCompressor,
};
use zerocopy::{big_endian::U64, IntoBytes};

use crate::format::*;
use crate::{error::F, Result};

/// How data clusters are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Raw deflate with qemu's 4 KiB window, what `qemu-img convert -c`
    /// writes; level 1 ..= 9.
    Deflate {
        /// Compression level, zlib's scale (qemu uses 6).
        level: i32,
    },
    /// zstd (`compression_type=zstd`); level 1 ..= 22.
    Zstd {
        /// Compression level.
        level: i32,
    },
}

impl Compression {
    /// Deflate at level 6, the level qemu uses.
    pub const DEFLATE: Compression = Compression::Deflate { level: 6 };
    /// zstd at the default level.
    pub const ZSTD: Compression = Compression::Zstd { level: 3 };
}

/// Options of a QCOW2 image being written, named as qemu-img names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qcow2Options {
    /// Cluster size in bytes: a power of two from 512 to 2 MiB (default 64 KiB).
    pub cluster_size: u32,
    /// Compress data clusters (`-c`); clusters that do not shrink stay raw.
    pub compression: Option<Compression>,
}

impl Default for Qcow2Options {
    fn default() -> Self {
        Qcow2Options {
            cluster_size: 64 * 1024,
            compression: None,
        }
    }
}

impl Qcow2Options {
    fn cluster_bits(&self) -> Result<u32> {
        let cs = self.cluster_size;
        if !cs.is_power_of_two() || !(512..=2 << 20).contains(&cs) {
            return Err(F.option(format!(
                "cluster_size {cs} must be a power of two from 512 to 2097152"
            )));
        }
        match self.compression {
            Some(Compression::Deflate { level }) if !(1..=9).contains(&level) => {
                Err(F.option(format!("deflate level {level} must be 1 to 9")))
            }
            Some(Compression::Zstd { level }) if !(1..=22).contains(&level) => {
                Err(F.option(format!("zstd level {level} must be 1 to 22")))
            }
            _ => Ok(cs.trailing_zeros()),
        }
    }
}

/// Writes a QCOW2 v3 image (compat 1.1, 16-bit refcounts) into a
/// [`Destination`].
///
/// On a seekable file, clusters are appended as data arrives and the tables
/// follow at the end, so only non-zero clusters take space. On a stream the
/// writer asks for an exact plan and lays out every table before the data;
/// compressed images need a seekable output.
pub struct Qcow2Writer {
    dest: Destination,
    opts: Qcow2Options,
    cluster_bits: u32,
    size: u64,
    assembler: BlockAssembler,
    state: State,
}

enum State {
    Idle,
    Append(Append),
    Stream(Stream),
}

/// Seekable layout: data and L2 tables appended, then L1 and refcounts.
struct Append {
    /// Where the data clusters are, and the end of what is allocated:
    /// compressed data packs clusters byte by byte and grows into the next
    /// cluster while nothing else is allocated after it.
    clusters: BlockAllocator,
    /// Room left in clusters of compressed data that other clusters (an
    /// uncompressed cluster, an L2 table) came after, as (length, offset):
    /// later compressed clusters go to the smallest that holds them.
    gaps: BTreeSet<(u64, u64)>,
    /// Refcount of each host cluster below `pos`.
    refcounts: Vec<u16>,
    l1: Vec<u64>,
    /// The L2 table being filled (writes ascend, so only one is open).
    open_l2: Option<(u64, Vec<u64>)>,
    /// Compression on every core, when compressing.
    compressor: Option<ParallelCompressor<ClusterCodec>>,
}

/// Stream layout: every table first, then the planned clusters in order.
struct Stream {
    /// The planned clusters, placed up front.
    clusters: BlockAllocator,
    total_clusters: u64,
}

impl std::fmt::Debug for Qcow2Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qcow2Writer")
            .field("opts", &self.opts)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

/// Gaps remembered for compressed clusters at most; past that the smallest
/// are forgotten, which bounds memory on an image that alternates compressed
/// and uncompressed clusters.
const MAX_GAPS: usize = 1 << 16;

/// Refcount table and block counts that cover `fixed` clusters plus themselves.
fn refcount_layout(fixed: u64, cluster_size: u64) -> (u64, u64) {
    let per_block = cluster_size / 2;
    let (mut rt, mut rb) = (1u64, 1u64);
    loop {
        let total = fixed + rt + rb;
        let nrb = div_ceil(total, per_block);
        let nrt = div_ceil(nrb * 8, cluster_size).max(1);
        if (nrb, nrt) == (rb, rt) {
            return (rt, rb);
        }
        (rt, rb) = (nrt, nrb);
    }
}

impl Qcow2Writer {
    /// A writer with `opts` into `dest`; fails on invalid options.
    pub fn new(dest: Destination, opts: Qcow2Options) -> Result<Self> {
        let cluster_bits = opts.cluster_bits()?;
        Ok(Qcow2Writer {
            dest,
            opts,
            cluster_bits,
            size: 0,
            assembler: BlockAssembler::new(1 << cluster_bits),
            state: State::Idle,
        })
    }

    fn cs(&self) -> u64 {
        1 << self.cluster_bits
    }

    fn l2_entries(&self) -> u64 {
        self.cs() / 8
    }

    /// Data clusters after `first`, at offsets an L2 entry can hold
    /// (bits 9 to 55).
    fn cluster_layout(&self, first: u64) -> BlockLayout {
        BlockLayout {
            first,
            align: self.cs(),
            max_offset: (1 << 56) - 1,
            ..BlockLayout::new(F, "L2 table", self.cs(), self.size)
        }
    }

    fn l1_size(&self) -> u64 {
        div_ceil(self.size, self.cs() * self.l2_entries())
    }

    /// Clusters of the L1 table: none for an empty disk, whose header then
    /// names no table (offset 0), as `qemu-img create` writes it; a cluster
    /// allocated for it would be one that nothing references.
    fn l1_clusters(&self) -> u64 {
        div_ceil(self.l1_size() * 8, self.cs())
    }

    fn header(
        &self,
        l1_offset: u64,
        reftable_offset: u64,
        reftable_clusters: u64,
    ) -> Result<Header> {
        let (incompat, ctype) = match self.opts.compression {
            Some(Compression::Zstd { .. }) => (INCOMPAT_COMPRESSION, 1),
            _ => (0, 0),
        };
        let u32_field = |field: &'static str, v: u64| {
            u32::try_from(v).map_err(|_| F.header(field, v, "does not fit in 32 bits"))
        };
        Ok(Header {
            magic: MAGIC.into(),
            version: 3.into(),
            backing_file_offset: 0.into(),
            backing_file_size: 0.into(),
            cluster_bits: self.cluster_bits.into(),
            size: self.size.into(),
            crypt_method: 0.into(),
            l1_size: u32_field("l1_size", self.l1_size())?.into(),
            l1_table_offset: l1_offset.into(),
            refcount_table_offset: reftable_offset.into(),
            refcount_table_clusters: u32_field("refcount_table_clusters", reftable_clusters)?
                .into(),
            nb_snapshots: 0.into(),
            snapshots_offset: 0.into(),
            incompatible_features: incompat.into(),
            compatible_features: 0.into(),
            autoclear_features: 0.into(),
            refcount_order: 4.into(),
            header_length: (size_of::<Header>() as u32).into(),
            compression_type: ctype,
            padding: [0; 7],
        })
    }

    /// Writes the header cluster: header and an empty extension list.
    fn write_header(&mut self, l1_offset: u64, rt_offset: u64, rt_clusters: u64) -> Result<()> {
        let header = self.header(l1_offset, rt_offset, rt_clusters)?;
        let mut cluster = vec![0u8; self.cs() as usize];
        cluster[..size_of::<Header>()].copy_from_slice(header.as_bytes());
        self.dest.write_at(0, &cluster)?;
        Ok(())
    }

    fn be_table(entries: impl IntoIterator<Item = u64>, len_bytes: u64) -> Vec<u8> {
        Self::table_of(entries.into_iter().map(u64::to_be_bytes), len_bytes)
    }

    /// Big-endian entries, zero-padded to `len_bytes` (whole clusters).
    fn table_of<const N: usize>(entries: impl Iterator<Item = [u8; N]>, len_bytes: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(len_bytes as usize);
        for e in entries {
            out.extend_from_slice(&e);
        }
        out.resize(len_bytes as usize, 0);
        out
    }

    fn begin_stream(&mut self, plan: &[Extent]) -> Result<()> {
        if self.opts.compression.is_some() {
            return Err(F.unsupported(
                "a compressed qcow2 cannot be written to a stream: its cluster sizes are known only after compression; write it to a file",
            ));
        }
        let cs = self.cs();
        let l2e = self.l2_entries();
        // Where the plan's clusters fall says how many L2 tables precede them.
        let mut planned = BlockAllocator::new(self.cluster_layout(0))?;
        planned.preallocate(plan)?;
        let l2_tables = planned.touched_tables(l2e);
        let data_clusters = planned.allocated();
        let l1_size = self.l1_size();
        let l1_clusters = self.l1_clusters();
        let fixed = 1 + l1_clusters + l2_tables.len() as u64 + data_clusters;
        let (rt, rb) = refcount_layout(fixed, cs);
        let total = fixed + rt + rb;
        let l1_off = if l1_clusters == 0 { 0 } else { cs };
        let rt_off = cs + l1_clusters * cs;
        let rb_off = rt_off + rt * cs;
        let l2_off = rb_off + rb * cs;
        let data_start = l2_off + l2_tables.len() as u64 * cs;
        let mut clusters = BlockAllocator::new(self.cluster_layout(data_start))?;
        clusters.preallocate(plan)?;

        self.write_header(l1_off, rt_off, rt)?;
        let mut l1 = vec![0u64; l1_size as usize];
        for (i, t) in l2_tables.iter().enumerate() {
            l1[*t as usize] = (l2_off + i as u64 * cs) | OFLAG_COPIED;
        }
        if l1_clusters > 0 {
            let l1_bytes = Self::be_table(l1, l1_clusters * cs);
            self.dest.write_at(l1_off, &l1_bytes)?;
        }
        let rt_bytes = Self::be_table((0..rb).map(|i| rb_off + i * cs), rt * cs);
        self.dest.write_at(rt_off, &rt_bytes)?;
        let per_block = cs / 2;
        for b in 0..rb {
            let used = total.saturating_sub(b * per_block).min(per_block) as usize;
            let mut block = vec![0u8; cs as usize];
            for r in block[..used * 2].chunks_exact_mut(2) {
                r.copy_from_slice(&1u16.to_be_bytes());
            }
            self.dest.write_at(rb_off + b * cs, &block)?;
        }
        // L2 tables, in the order the L1 table names them.
        for (i, t) in l2_tables.iter().enumerate() {
            let table = clusters.table(t * l2e, l2e, |at| {
                U64::new(at.map_or(0, |at| at | OFLAG_COPIED))
            });
            self.dest
                .write_at(l2_off + i as u64 * cs, table.as_bytes())?;
        }
        self.state = State::Stream(Stream {
            clusters,
            total_clusters: total,
        });
        Ok(())
    }

    /// Where guest cluster `c` lives in the file, allocating it on its
    /// first data in the append layout.
    fn host_of(&mut self, c: u64) -> Result<u64> {
        match &mut self.state {
            State::Idle => Err(F.unsupported("data before the disk size was given")),
            State::Stream(s) => s.clusters.allocate(c),
            State::Append(a) => {
                if let Some(host) = a.clusters.offset_of(c) {
                    return Ok(host);
                }
                let host = self.alloc_clusters(Some(c), 1)?;
                self.set_l2(c, host | OFLAG_COPIED)?;
                Ok(host)
            }
        }
    }

    /// Places a run of data in its clusters as it comes, without copying:
    /// what no data reaches is a hole in the file (zeros on a stream).
    fn write_run(&mut self, offset: u64, data: Bytes) -> Result<()> {
        let cs = self.cs();
        for (at, piece) in place_run(offset, data, cs, |c| self.host_of(c))? {
            self.dest.write_bytes_at(at, piece)?;
        }
        Ok(())
    }

    /// Compresses whole clusters (the assembler completes partial ones).
    fn write_blocks(&mut self, blocks: Vec<Block>) -> Result<()> {
        for block in blocks {
            if let State::Append(Append {
                compressor: Some(c),
                ..
            }) = &mut self.state
            {
                let done = c.push(block)?;
                self.write_compressed(done)?;
            }
        }
        Ok(())
    }

    fn append(&mut self) -> &mut Append {
        match &mut self.state {
            State::Append(a) => a,
            _ => unreachable!("only called in the append layout"),
        }
    }

    /// Allocates `n` whole clusters at the end of the file: data cluster
    /// `data` (then `n` is 1), or metadata.
    fn alloc_clusters(&mut self, data: Option<u64>, n: u64) -> Result<u64> {
        let cs = self.cs();
        let a = self.append();
        let end = a.clusters.end();
        let host = match data {
            Some(c) => a.clusters.allocate(c)?,
            None => a.clusters.reserve(n * cs, cs)?,
        };
        // The rest of the cluster compressed data ended in stays free.
        if host > end {
            a.gaps.insert((host - end, end));
            if a.gaps.len() > MAX_GAPS {
                a.gaps.pop_first();
            }
        }
        let first = (host / cs) as usize;
        a.refcounts.resize(first + n as usize, 0);
        for r in &mut a.refcounts[first..] {
            *r = 1;
        }
        Ok(host)
    }

    /// Records `entry` for guest cluster `index`, writing out the previous
    /// L2 table once the writes have moved past it.
    fn set_l2(&mut self, index: u64, entry: u64) -> Result<()> {
        let l2e = self.l2_entries();
        let table = index / l2e;
        if self
            .append()
            .open_l2
            .as_ref()
            .is_some_and(|(t, _)| *t != table)
        {
            self.close_l2()?;
        }
        let a = self.append();
        let (_, l2) = a
            .open_l2
            .get_or_insert_with(|| (table, vec![0u64; l2e as usize]));
        l2[(index % l2e) as usize] = entry;
        Ok(())
    }

    fn close_l2(&mut self) -> Result<()> {
        let Some((table, l2)) = self.append().open_l2.take() else {
            return Ok(());
        };
        let cs = self.cs();
        let host = self.alloc_clusters(None, 1)?;
        self.dest.write_at(host, &Self::be_table(l2, cs))?;
        let a = self.append();
        a.l1[table as usize] = host | OFLAG_COPIED;
        // Writes ascend: the clusters of this table are not looked up again.
        a.clusters.forget_before((table + 1) * (cs / 8));
        Ok(())
    }

    fn write_compressed(&mut self, done: Vec<Compressed>) -> Result<()> {
        let cs = self.cs();
        for Compressed { block, packed } in done {
            match packed {
                Some(data) => {
                    let len = data.len() as u64;
                    let a = self.append();
                    // The smallest gap that holds the cluster, else the end of
                    // the compressed data, which grows into new clusters.
                    let host = match a.gaps.range((len, 0)..).next().copied() {
                        Some((room, at)) => {
                            a.gaps.remove(&(room, at));
                            if room > len {
                                a.gaps.insert((room - len, at + len));
                            }
                            at
                        }
                        None => a.clusters.reserve(len, 1)?,
                    };
                    // qemu counts every cluster the entry's sector range touches.
                    let first = host / cs;
                    let last =
                        ((host & !511) + ((host + len - 1) / 512 - host / 512 + 1) * 512 - 1) / cs;
                    if a.refcounts.len() <= last as usize {
                        a.refcounts.resize(last as usize + 1, 0);
                    }
                    for r in &mut a.refcounts[first as usize..=last as usize] {
                        *r = r
                            .checked_add(1)
                            .ok_or_else(|| F.corrupt("refcount overflow"))?;
                    }
                    self.dest.write_bytes_at(host, Bytes::from(data))?;
                    let entry = compressed_entry(host, len, self.cluster_bits);
                    self.set_l2(block.index, entry)?;
                }
                None => {
                    let host = self.alloc_clusters(Some(block.index), 1)?;
                    self.dest.write_bytes_at(host, block.data)?;
                    self.set_l2(block.index, host | OFLAG_COPIED)?;
                }
            }
        }
        Ok(())
    }

    fn finish_append(&mut self) -> Result<Finished> {
        if let Some(c) = &mut self.append().compressor {
            let done = c.finish()?;
            self.write_compressed(done)?;
        }
        self.close_l2()?;
        let cs = self.cs();
        let l1_clusters = self.l1_clusters();
        let l1_off = if l1_clusters == 0 {
            0
        } else {
            self.alloc_clusters(None, l1_clusters)?
        };
        let fixed = self.append().clusters.end().div_ceil(cs);
        let (rt, rb) = refcount_layout(fixed, cs);
        let rt_off = self.alloc_clusters(None, rt)?;
        let rb_off = self.alloc_clusters(None, rb)?;
        let a = self.append();
        let total = a.clusters.end().div_ceil(cs);
        let l1 = std::mem::take(&mut a.l1);
        let refcounts = std::mem::take(&mut a.refcounts);
        if l1_clusters > 0 {
            let l1_bytes = Self::be_table(l1, l1_clusters * cs);
            self.dest.write_at(l1_off, &l1_bytes)?;
        }
        let per_block = (cs / 2) as usize;
        for (b, chunk) in refcounts.chunks(per_block).enumerate() {
            let block = Self::table_of(chunk.iter().map(|r| r.to_be_bytes()), cs);
            self.dest.write_at(rb_off + b as u64 * cs, &block)?;
        }
        let rt_bytes = Self::be_table((0..rb).map(|i| rb_off + i * cs), rt * cs);
        self.dest.write_at(rt_off, &rt_bytes)?;
        self.write_header(l1_off, rt_off, rt)?;
        Ok(self.dest.finish(total * cs)?)
    }
}

/// Compresses one cluster; qemu stores a cluster that does not shrink below
/// `limit` bytes uncompressed.
struct ClusterCodec {
    compression: Compression,
    cluster_size: usize,
    limit: usize,
}

impl Codec for ClusterCodec {
    type State = ClusterCompressor;
    fn state(&self) -> ClusterCompressor {
        ClusterCompressor::new(self.compression, self.cluster_size)
    }
    fn compress(&self, c: &mut ClusterCompressor, block: &[u8]) -> io::Result<Option<Vec<u8>>> {
        c.compress(block, self.limit)
    }
}

/// qemu deflates with a 4 KiB window (windowBits -12, block/qcow2-threads.c)
/// and declares that window when it inflates; readers that inflate piecewise
/// with it fail on a back-reference further than 4 KiB.
const DEFLATE_WINDOW_BITS: i32 = 12;
/// qemu's memLevel too; with zlib-rs it also gives fewer, larger blocks
/// than the default 8 (less time building Huffman trees, about 0.2 % larger).
const DEFLATE_MEM_LEVEL: i32 = 9;

/// A compressor context, reset between clusters rather than made anew.
enum Engine {
    Deflate(zlib_rs::Deflate),
    Zstd(zstd::bulk::Compressor<'static>),
}

/// One thread's compressor and the buffer it compresses into.
struct ClusterCompressor {
    engine: Engine,
    /// Room for a whole cluster's worst case, so that every stream completes
    /// and only then is its length compared with the limit: zlib-rs 0.6.8
    /// panics at level 1 when the output runs out mid-stream.
    out: Vec<u8>,
}

impl ClusterCompressor {
    fn new(c: Compression, cluster_size: usize) -> Self {
        match c {
            Compression::Deflate { level } => ClusterCompressor {
                engine: Engine::Deflate(zlib_rs::Deflate::new_with_config(
                    zlib_rs::DeflateConfig {
                        level,
                        // Negative: raw deflate, no zlib header.
                        window_bits: -DEFLATE_WINDOW_BITS,
                        mem_level: DEFLATE_MEM_LEVEL,
                        ..zlib_rs::DeflateConfig::default()
                    },
                )),
                out: vec![0; zlib_rs::compress_bound(cluster_size)],
            },
            Compression::Zstd { level } => ClusterCompressor {
                engine: Engine::Zstd(zstd::bulk::Compressor::new(level).unwrap_or_else(|_| {
                    zstd::bulk::Compressor::new(3).unwrap_or_else(|_| unreachable!())
                })),
                out: vec![0; zstd::zstd_safe::compress_bound(cluster_size)],
            },
        }
    }

    /// The compressed cluster, or `None` if it takes more than `limit` bytes.
    fn compress(&mut self, data: &[u8], limit: usize) -> io::Result<Option<Vec<u8>>> {
        let n = match &mut self.engine {
            Engine::Deflate(c) => {
                let status = c.compress(data, &mut self.out, zlib_rs::DeflateFlush::Finish);
                let n = c.total_out() as usize;
                c.reset();
                match status {
                    Ok(zlib_rs::Status::StreamEnd) => n,
                    other => {
                        return Err(io::Error::other(format!(
                            "deflate did not finish a cluster of {} bytes: {other:?}",
                            data.len()
                        )))
                    }
                }
            }
            Engine::Zstd(c) => c.compress_to_buffer(data, &mut self.out[..])?,
        };
        // Only the compressed bytes are copied out, the buffer stays.
        Ok((n <= limit).then(|| self.out[..n].to_vec()))
    }
}

impl BlockSink for Qcow2Writer {
    fn begin(&mut self, size: u64, plan: &[Extent]) -> io::Result<()> {
        // qemu sees disks in whole sectors: it rounds a raw disk's size up,
        // and would cut a qcow2 size down. Round up, as qemu-img convert does.
        self.size = size.next_multiple_of(512);
        if self.l1_size() * 8 > MAX_L1_BYTES {
            return Err(F.option(format!(
                "virtual size {size} needs an L1 table larger than qemu's 32 MiB limit; use a larger cluster_size"
            ))
            .into());
        }
        if self.dest.is_seekable() {
            self.state = State::Append(Append {
                clusters: BlockAllocator::new(self.cluster_layout(self.cs()))?,
                gaps: BTreeSet::new(),
                refcounts: vec![1],
                l1: vec![0; self.l1_size() as usize],
                open_l2: None,
                compressor: self.opts.compression.map(|compression| {
                    let codec = ClusterCodec {
                        compression,
                        cluster_size: self.cs() as usize,
                        limit: self.cs() as usize - 1,
                    };
                    // About 2 MiB of input per task.
                    let batch = ((2 << 20) / self.cs()).clamp(4, 256) as usize;
                    ParallelCompressor::new(codec, batch)
                }),
            });
            Ok(())
        } else {
            Ok(self.begin_stream(plan)?)
        }
    }

    fn write(&mut self, offset: u64, data: Bytes) -> io::Result<()> {
        if self.opts.compression.is_none() {
            return Ok(self.write_run(offset, data)?);
        }
        let blocks = self.assembler.push(offset, data);
        Ok(self.write_blocks(blocks)?)
    }

    fn finish(&mut self) -> io::Result<Finished> {
        let rest: Vec<Block> = self.assembler.flush().into_iter().collect();
        self.write_blocks(rest)?;
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle => Err(io::Error::other("finish before begin")),
            State::Append(a) => {
                self.state = State::Append(a);
                let r = self.finish_append();
                self.state = State::Idle;
                Ok(r?)
            }
            State::Stream(s) => {
                let cs = self.cs();
                Ok(self.dest.finish(s.total_clusters * cs)?)
            }
        }
    }

    fn wants_exact_plan(&self) -> bool {
        !self.dest.is_seekable()
    }
}
