//! The QCOW2 reader: a [`BlockSource`].

use std::io;

use blocksink::{merge_extents, BlockSource, Extent, ReadAt};
use zerocopy::FromBytes;

use crate::format::*;
use crate::{error::F, Result};

/// What the header says, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qcow2Info {
    /// 2 or 3.
    pub version: u32,
    /// Cluster size in bytes.
    pub cluster_size: u64,
    /// Virtual disk size in bytes.
    pub size: u64,
    /// How compressed clusters are encoded.
    pub compression: CompressionType,
    /// Refcount width in bits.
    pub refcount_bits: u32,
    /// Lazy refcounts are enabled.
    pub lazy_refcounts: bool,
    /// L2 entries carry subcluster bitmaps.
    pub extended_l2: bool,
    /// The dirty bit is set (refcounts may be stale).
    pub dirty: bool,
    /// qemu marked the image corrupt.
    pub corrupt: bool,
    /// Number of internal snapshots (only the active state is read).
    pub snapshots: u32,
    /// Entries in the active L1 table.
    pub l1_size: u32,
    /// Offset of the active L1 table.
    pub l1_table_offset: u64,
    /// Offset of the refcount table.
    pub refcount_table_offset: u64,
    /// Clusters the refcount table occupies.
    pub refcount_table_clusters: u32,
    /// Whether the image carries a bitmaps extension (autoclear bit 0).
    pub bitmaps: bool,
}

/// Reads the guest disk of a QCOW2 image (v2 or v3) from any [`ReadAt`].
///
/// Every table offset and size is checked against the file before use; a
/// backing file, an external data file or encryption is refused.
pub struct Qcow2Reader<R> {
    pub(crate) io: R,
    pub(crate) file_len: u64,
    pub(crate) info: Qcow2Info,
    pub(crate) cluster_bits: u32,
    pub(crate) l1: Vec<u64>,
    /// Most recently used L2 table: (L1 index, raw entries).
    l2_cache: Option<(u64, Vec<u64>)>,
    /// Most recently decompressed cluster: (guest cluster, bytes).
    cluster_cache: Option<(u64, Vec<u8>)>,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    inflater: libdeflater::Decompressor,
}

impl<R> std::fmt::Debug for Qcow2Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qcow2Reader")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Whether `data` starts like a QCOW2 image.
pub fn is_qcow2(data: &[u8]) -> bool {
    data.len() >= 4 && u32::from_be_bytes([data[0], data[1], data[2], data[3]]) == MAGIC
}

impl<R: ReadAt> Qcow2Reader<R> {
    /// Opens the image in `io`, checking its header and reading its L1 table.
    pub fn open(io: R) -> Result<Self> {
        let file_len = io.size()?;
        let mut raw = [0u8; size_of::<Header>()];
        let n = raw.len().min(file_len as usize);
        io.read_exact_at(&mut raw[..n], 0)?;
        if n < V2_HEADER_LENGTH as usize {
            return Err(F.header("header", file_len, "file is shorter than a qcow2 header"));
        }
        let (h, _) =
            Header::ref_from_prefix(&raw[..]).map_err(|_| F.header("header", 0, "unreadable"))?;
        if h.magic.get() != MAGIC {
            return Err(F.not_this(format!("magic {:#010x} at offset 0", h.magic.get())));
        }
        let version = h.version.get();
        if version != 2 && version != 3 {
            return Err(F.header("version", version.into(), "only versions 2 and 3 exist"));
        }
        let cluster_bits = h.cluster_bits.get();
        if !(9..=21).contains(&cluster_bits) {
            return Err(F.header("cluster_bits", cluster_bits.into(), "must be 9 to 21"));
        }
        let cs = 1u64 << cluster_bits;
        let (header_length, incompat, compat, refcount_order) = if version == 2 {
            (V2_HEADER_LENGTH, 0, 0, 4)
        } else {
            (
                h.header_length.get(),
                h.incompatible_features.get(),
                h.compatible_features.get(),
                h.refcount_order.get(),
            )
        };
        if version == 3 && (header_length < V3_MIN_HEADER_LENGTH || u64::from(header_length) > cs) {
            return Err(F.header(
                "header_length",
                header_length.into(),
                "must be 104 bytes up to one cluster",
            ));
        }
        if u64::from(header_length) > file_len {
            return Err(F.header(
                "header_length",
                header_length.into(),
                "header is longer than the file",
            ));
        }
        if refcount_order > 6 {
            return Err(F.header("refcount_order", refcount_order.into(), "must be 0 to 6"));
        }
        let unknown = incompat & !INCOMPAT_KNOWN;
        if unknown != 0 {
            return Err(F.unsupported(format!("unknown incompatible feature bits {unknown:#x}")));
        }
        if incompat & INCOMPAT_DATA_FILE != 0 {
            return Err(F.unsupported(
                "guest data is in an external data file, which is not opened implicitly",
            ));
        }
        if h.crypt_method.get() != 0 {
            return Err(F.unsupported(format!(
                "encrypted image (crypt_method {})",
                h.crypt_method.get()
            )));
        }
        if h.backing_file_offset.get() != 0 {
            let name = Self::backing_name(
                &io,
                h.backing_file_offset.get(),
                h.backing_file_size.get(),
                file_len,
            );
            return Err(F.unsupported(format!(
                "image has a backing file {name:?}; backing files are not opened implicitly (convert the whole chain with qemu-img first)"
            )));
        }
        let compression = if incompat & INCOMPAT_COMPRESSION != 0 {
            if header_length <= V3_MIN_HEADER_LENGTH {
                return Err(F.header(
                    "header_length",
                    header_length.into(),
                    "too short for the compression type the features announce",
                ));
            }
            match h.compression_type {
                0 => CompressionType::Deflate,
                1 => CompressionType::Zstd,
                t => {
                    return Err(F.header(
                        "compression_type",
                        t.into(),
                        "must be 0 (deflate) or 1 (zstd)",
                    ))
                }
            }
        } else {
            CompressionType::Deflate
        };
        let extended_l2 = incompat & INCOMPAT_EXTL2 != 0;
        if extended_l2 && cluster_bits < 14 {
            return Err(F.header(
                "cluster_bits",
                cluster_bits.into(),
                "extended L2 entries need clusters of 16 KiB or more",
            ));
        }
        let size = h.size.get();
        let entry_bytes = if extended_l2 { 16 } else { 8 };
        let l2_entries = cs / entry_bytes;
        let l1_size = h.l1_size.get();
        let l1_needed = size.div_ceil(cs * l2_entries);
        if u64::from(l1_size) < l1_needed {
            return Err(F.header("l1_size", l1_size.into(), "too small for the virtual size"));
        }
        let l1_bytes = u64::from(l1_size) * 8;
        if l1_bytes > MAX_L1_BYTES {
            return Err(F.header("l1_size", l1_size.into(), "L1 table larger than 32 MiB"));
        }
        let l1_offset = h.l1_table_offset.get();
        if l1_size > 0
            && (l1_offset % cs != 0 || l1_offset.checked_add(l1_bytes).is_none_or(|e| e > file_len))
        {
            return Err(F.header(
                "l1_table_offset",
                l1_offset,
                "unaligned or L1 table past the end of the file",
            ));
        }
        let mut l1_raw = vec![0u8; l1_bytes as usize];
        io.read_exact_at(&mut l1_raw, l1_offset)?;
        let l1: Vec<u64> = l1_raw
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        // One L2 table serves one L1 entry; a table named twice would let a
        // small file make every scan of the disk arbitrarily long.
        let mut tables: Vec<u64> = l1
            .iter()
            .map(|e| e & L1E_OFFSET_MASK)
            .filter(|&o| o != 0)
            .collect();
        tables.sort_unstable();
        if let Some(w) = tables.windows(2).find(|w| w[0] == w[1]) {
            return Err(F.corrupt(format!(
                "two L1 entries point to the same L2 table at {:#x}",
                w[0]
            )));
        }
        let info = Qcow2Info {
            version,
            cluster_size: cs,
            size,
            compression,
            refcount_bits: 1 << refcount_order,
            lazy_refcounts: compat & COMPAT_LAZY_REFCOUNTS != 0,
            extended_l2,
            dirty: incompat & INCOMPAT_DIRTY != 0,
            corrupt: incompat & INCOMPAT_CORRUPT != 0,
            snapshots: h.nb_snapshots.get(),
            l1_size,
            l1_table_offset: l1_offset,
            refcount_table_offset: h.refcount_table_offset.get(),
            refcount_table_clusters: h.refcount_table_clusters.get(),
            bitmaps: version == 3 && h.autoclear_features.get() & 1 != 0,
        };
        Ok(Qcow2Reader {
            io,
            file_len,
            info,
            cluster_bits,
            l1,
            l2_cache: None,
            cluster_cache: None,
            zstd: None,
            inflater: libdeflater::Decompressor::new(),
        })
    }

    fn backing_name(io: &R, offset: u64, len: u32, file_len: u64) -> String {
        let len = u64::from(len).min(1023);
        if offset.checked_add(len).is_none_or(|e| e > file_len) {
            return String::from("(name past the end of the file)");
        }
        let mut buf = vec![0u8; len as usize];
        match io.read_exact_at(&mut buf, offset) {
            Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
            Err(_) => String::from("(unreadable)"),
        }
    }

    /// The checked header fields.
    pub fn info(&self) -> &Qcow2Info {
        &self.info
    }

    /// Gives back the underlying storage.
    pub fn into_inner(self) -> R {
        self.io
    }

    pub(crate) fn entry_words(&self) -> u64 {
        if self.info.extended_l2 {
            2
        } else {
            1
        }
    }

    fn l2_entries(&self) -> u64 {
        self.info.cluster_size / (8 * self.entry_words())
    }

    /// The L2 table of L1 index `i`, or `None` when unallocated.
    pub(crate) fn l2_table(&mut self, i: u64) -> Result<Option<&[u64]>> {
        let l1e = self.l1.get(i as usize).copied().unwrap_or(0);
        let off = l1e & L1E_OFFSET_MASK;
        if off == 0 {
            return Ok(None);
        }
        let cs = self.info.cluster_size;
        if !matches!(&self.l2_cache, Some((c, _)) if *c == i) {
            if off % cs != 0 || off.checked_add(cs).is_none_or(|e| e > self.file_len) {
                return Err(F.corrupt(format!(
                    "L1 entry {i} points to L2 table at {off:#x}, unaligned or past the end of the file ({} bytes)",
                    self.file_len
                )));
            }
            let mut raw = vec![0u8; cs as usize];
            self.io.read_exact_at(&mut raw, off)?;
            let table = raw
                .chunks_exact(8)
                .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
                .collect();
            self.l2_cache = Some((i, table));
        }
        Ok(self.l2_cache.as_ref().map(|(_, t)| t.as_slice()))
    }

    /// The (standard entry, subcluster bitmap) of guest cluster `c`.
    fn l2_entry(&mut self, c: u64) -> Result<(u64, u64)> {
        let per = self.l2_entries();
        let words = self.entry_words();
        Ok(match self.l2_table(c / per)? {
            None => (0, 0),
            Some(t) => {
                let i = ((c % per) * words) as usize;
                (t[i], if words == 2 { t[i + 1] } else { 0 })
            }
        })
    }

    fn check_host(&self, c: u64, host: u64, len: u64) -> Result<()> {
        if host.checked_add(len).is_none_or(|e| e > self.file_len) {
            return Err(F.corrupt(format!(
                "guest cluster {c} (offset {:#x}) maps to host offset {host:#x}, past the end of the file ({} bytes)",
                c << self.cluster_bits,
                self.file_len
            )));
        }
        Ok(())
    }

    fn decompress(&mut self, c: u64, entry: u64) -> Result<()> {
        if matches!(&self.cluster_cache, Some((cc, _)) if *cc == c) {
            return Ok(());
        }
        let cs = self.info.cluster_size as usize;
        let (host, len) = compressed_location(entry & !OFLAG_COMPRESSED, self.cluster_bits);
        // The last sector may run past a file that ends mid-sector.
        let len = len.min(self.file_len.saturating_sub(host));
        self.check_host(c, host, len.max(1))?;
        let mut src = vec![0u8; len as usize];
        self.io.read_exact_at(&mut src, host)?;
        let mut out = vec![0u8; cs];
        let fail = |why: String| {
            F.corrupt(format!(
                "compressed guest cluster {c} at host offset {host:#x}: {why}"
            ))
        };
        let n = match self.info.compression {
            CompressionType::Deflate => self
                .inflater
                .deflate_decompress(&src, &mut out)
                .map_err(|e| fail(format!("deflate data is invalid ({e})")))?,
            CompressionType::Zstd => {
                let frame = zstd::zstd_safe::find_frame_compressed_size(&src)
                    .map_err(|_| fail("no complete zstd frame".into()))?;
                let d = match &mut self.zstd {
                    Some(d) => d,
                    None => self.zstd.insert(zstd::bulk::Decompressor::new()?),
                };
                d.decompress_to_buffer(&src[..frame], &mut out)
                    .map_err(|e| fail(format!("zstd data is invalid ({e})")))?
            }
        };
        if n != cs {
            return Err(fail(format!(
                "decompressed to {n} bytes, not a cluster of {cs}"
            )));
        }
        self.cluster_cache = Some((c, out));
        Ok(())
    }

    /// Reads guest bytes `[offset, offset + buf.len())` that lie in one cluster.
    fn read_in_cluster(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let cs = self.info.cluster_size;
        let c = offset >> self.cluster_bits;
        let within = offset % cs;
        let (entry, bitmap) = self.l2_entry(c)?;
        if entry & OFLAG_COMPRESSED != 0 {
            self.decompress(c, entry)?;
            if let Some((_, data)) = &self.cluster_cache {
                buf.copy_from_slice(&data[within as usize..within as usize + buf.len()]);
            }
            return Ok(());
        }
        let host = entry & L2E_OFFSET_MASK;
        if !self.info.extended_l2 {
            if entry & OFLAG_ZERO != 0 || host == 0 {
                buf.fill(0);
                return Ok(());
            }
            if host % cs != 0 {
                return Err(F.corrupt(format!(
                    "guest cluster {c} maps to unaligned host offset {host:#x}"
                )));
            }
            self.check_host(c, host, cs.min(within + buf.len() as u64))?;
            return Ok(self.io.read_exact_at(buf, host + within)?);
        }
        // Extended L2: 32 subclusters, bit i allocated, bit 32 + i reads as zero.
        let sub = cs / 32;
        let mut pos = 0usize;
        while pos < buf.len() {
            let o = within + pos as u64;
            let s = o / sub;
            let n = ((sub - o % sub) as usize).min(buf.len() - pos);
            let part = &mut buf[pos..pos + n];
            if bitmap & (1 << (32 + s)) != 0 || bitmap & (1 << s) == 0 || host == 0 {
                part.fill(0);
            } else {
                if host % cs != 0 {
                    return Err(F.corrupt(format!(
                        "guest cluster {c} maps to unaligned host offset {host:#x}"
                    )));
                }
                self.check_host(c, host, o + n as u64)?;
                self.io.read_exact_at(part, host + o)?;
            }
            pos += n;
        }
        Ok(())
    }

    /// Ranges of the guest disk that hold data (allocated or compressed clusters).
    pub fn data_extents(&mut self) -> Result<Vec<Extent>> {
        let cs = self.info.cluster_size;
        let per = self.l2_entries();
        let words = self.entry_words() as usize;
        let clusters = self.info.size.div_ceil(cs);
        let mut out: Vec<Extent> = Vec::new();
        for i in 0..self.l1.len() as u64 {
            let first = i * per;
            if first >= clusters {
                break;
            }
            let Some(table) = self.l2_table(i)? else {
                continue;
            };
            let mut found = Vec::new();
            for (k, e) in table.chunks_exact(words).enumerate() {
                let c = first + k as u64;
                if c >= clusters {
                    break;
                }
                let (entry, bitmap) = (e[0], e.get(1).copied().unwrap_or(0));
                let data = if entry & OFLAG_COMPRESSED != 0 {
                    true
                } else if words == 2 {
                    entry & L2E_OFFSET_MASK != 0 && bitmap & 0xffff_ffff & !(bitmap >> 32) != 0
                } else {
                    entry & OFLAG_ZERO == 0 && entry & L2E_OFFSET_MASK != 0
                };
                if data {
                    found.push(Extent::new(c * cs, cs));
                }
            }
            out.extend(found);
        }
        let mut merged = merge_extents(out);
        if let Some(last) = merged.last_mut() {
            let end = last.end().min(self.info.size);
            last.len = end - last.offset;
        }
        Ok(merged)
    }
}

impl<R: ReadAt + Send> BlockSource for Qcow2Reader<R> {
    fn size(&self) -> u64 {
        self.info.size
    }

    fn extents(&mut self) -> io::Result<Vec<Extent>> {
        Ok(self.data_extents()?)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        blocksink::check_read(offset, buf.len(), self.info.size)?;
        let cs = self.info.cluster_size;
        let mut pos = 0usize;
        while pos < buf.len() {
            let o = offset + pos as u64;
            let n = ((cs - o % cs) as usize).min(buf.len() - pos);
            self.read_in_cluster(o, &mut buf[pos..pos + n])?;
            pos += n;
        }
        Ok(())
    }
}
