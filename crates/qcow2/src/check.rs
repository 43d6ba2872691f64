//! Refcount consistency, as `qemu-img check` reports it.

use blocksink::ReadAt;

use crate::format::*;
use crate::{error::F, Qcow2Reader, Result};

/// What [`Qcow2Reader::check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Problems that can lose or corrupt data: a cluster used more often than
    /// its refcount says, a table pointing outside the file.
    pub corruptions: Vec<String>,
    /// Clusters whose refcount is higher than their use (space wasted, no harm).
    pub leaked_clusters: u64,
    /// Why the refcounts were not compared, when they were not.
    pub skipped: Option<String>,
}

/// What holds a reference to a host cluster, for the messages.
#[derive(Clone, Copy, Debug)]
enum Owner {
    /// The L2 table of an L1 entry.
    L2Table(u64),
    /// The data of a guest cluster.
    Data(u64),
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::L2Table(i) => write!(f, "L2 table of L1 entry {i}"),
            Owner::Data(c) => write!(f, "data of guest cluster {c}"),
        }
    }
}

impl<R: ReadAt> Qcow2Reader<R> {
    /// Counts every reference to every host cluster — header, L1 and L2
    /// tables, data and compressed clusters, refcount structures — and
    /// compares the counts with the stored refcounts.
    ///
    /// Memory grows with the references the tables hold, not with the
    /// length of the file: the references are sorted and walked beside the
    /// refcount blocks, one block at a time.
    pub fn check(&mut self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        if self.info.snapshots > 0 || self.info.bitmaps {
            report.skipped = Some(
                "internal snapshots or bitmaps are not counted; only the active tables were read"
                    .into(),
            );
        }
        if self.info.dirty {
            report.skipped = Some(
                "the dirty bit is set: refcounts are rebuilt by qemu on the next write".into(),
            );
        }
        let cs = self.info.cluster_size;
        let bits = self.cluster_bits;
        let clusters = self.file_len.div_ceil(cs);
        let file_end = self.file_len.next_multiple_of(cs);
        // Host cluster of every reference, once per reference.
        let mut used: Vec<u64> = Vec::new();
        let mut mark =
            |what: &dyn std::fmt::Display, start: u64, len: u64, report: &mut CheckReport| {
                let end = start.saturating_add(len);
                if end > file_end || len == 0 {
                    report
                        .corruptions
                        .push(format!("{what} at {start:#x} (+{len}) is outside the file"));
                    return;
                }
                used.extend(start / cs..end.div_ceil(cs));
            };
        mark(&"header", 0, cs, &mut report);
        let l1_bytes = u64::from(self.info.l1_size) * 8;
        if l1_bytes > 0 {
            mark(
                &"L1 table",
                self.info.l1_table_offset,
                l1_bytes,
                &mut report,
            );
        }
        let rt_off = self.info.refcount_table_offset;
        let rt_bytes = u64::from(self.info.refcount_table_clusters) * cs;
        if rt_off % cs != 0
            || rt_bytes == 0
            || rt_bytes > MAX_REFTABLE_BYTES
            || rt_off
                .checked_add(rt_bytes)
                .is_none_or(|e| e > self.file_len)
        {
            return Err(F.header(
                "refcount_table_offset",
                rt_off,
                "refcount table unaligned, empty, too large or past the end of the file",
            ));
        }
        mark(&"refcount table", rt_off, rt_bytes, &mut report);
        // Clusters whose entry carries OFLAG_COPIED (refcount exactly one) or not.
        let mut copied: Vec<(u64, bool, Owner)> = Vec::new();
        let words = self.entry_words() as usize;
        for i in 0..self.l1.len() as u64 {
            let l2_off = self.l1[i as usize] & L1E_OFFSET_MASK;
            if l2_off == 0 {
                continue;
            }
            mark(&Owner::L2Table(i), l2_off, cs, &mut report);
            copied.push((
                l2_off / cs,
                self.l1[i as usize] & OFLAG_COPIED != 0,
                Owner::L2Table(i),
            ));
            let table = match self.l2_table(i) {
                Ok(Some(t)) => t.to_vec(),
                Ok(None) => continue,
                Err(e) => {
                    report.corruptions.push(e.to_string());
                    continue;
                }
            };
            for (k, e) in table.chunks_exact(words).enumerate() {
                let entry = e[0];
                let what = Owner::Data(i * (cs / 8 / words as u64) + k as u64);
                if entry & OFLAG_COMPRESSED != 0 {
                    let (off, _) = compressed_location(entry & !OFLAG_COMPRESSED, bits);
                    let x = 62 - (bits - 8);
                    let sectors = ((entry >> x) & ((1u64 << (bits - 8)) - 1)) + 1;
                    mark(&what, off & !511, sectors * 512, &mut report);
                } else {
                    let host = entry & L2E_OFFSET_MASK;
                    if host != 0 {
                        if host % cs != 0 {
                            report
                                .corruptions
                                .push(format!("{what} at unaligned offset {host:#x}"));
                        } else {
                            mark(&what, host, cs, &mut report);
                            copied.push((host / cs, entry & OFLAG_COPIED != 0, what));
                        }
                    }
                }
            }
        }
        // Refcount blocks: every one is a reference; only those that cover
        // clusters of the file are read.
        let mut rt_raw = vec![0u8; rt_bytes as usize];
        self.io.read_exact_at(&mut rt_raw, rt_off)?;
        let order = self.info.refcount_bits.trailing_zeros();
        let per_block = (cs * 8) >> order;
        let mut blocks: Vec<Option<u64>> = Vec::new();
        for (b, e) in rt_raw.chunks_exact(8).enumerate() {
            let off = u64::from_be_bytes(e.try_into().unwrap_or([0; 8])) & L1E_OFFSET_MASK;
            if off == 0 {
                blocks.push(None);
                continue;
            }
            if off % cs != 0 || off.checked_add(cs).is_none_or(|e| e > self.file_len) {
                report.corruptions.push(format!(
                    "refcount block {b} at {off:#x} is unaligned or outside the file"
                ));
                blocks.push(None);
                continue;
            }
            mark(&format_args!("refcount block {b}"), off, cs, &mut report);
            blocks.push(Some(off));
        }
        if report.skipped.is_some() {
            return Ok(report);
        }
        used.sort_unstable();
        copied.sort_unstable_by_key(|&(c, _, _)| c);
        let (mut u_at, mut c_at) = (0usize, 0usize);
        // References up to cluster `last` where no count is stored (all zero):
        // each one is one too many, and they are visited without walking
        // every cluster.
        let uncounted =
            |last: u64, u_at: &mut usize, c_at: &mut usize, report: &mut CheckReport| {
                while let Some(&c) = used.get(*u_at).filter(|&&c| c < last) {
                    let n = used[*u_at..].iter().take_while(|&&x| x == c).count();
                    *u_at += n;
                    report.corruptions.push(format!(
                        "cluster {c} (offset {:#x}) is used {n} times but its refcount is 0",
                        c * cs
                    ));
                }
                while let Some(&(_, flag, what)) = copied.get(*c_at).filter(|x| x.0 < last) {
                    if flag {
                        report
                            .corruptions
                            .push(format!("{what}: OFLAG_COPIED is set but the refcount is 0"));
                    }
                    *c_at += 1;
                }
            };
        let mut block = vec![0u8; cs as usize];
        for (b, off) in blocks.iter().enumerate() {
            let first = b as u64 * per_block;
            if first >= clusters {
                break;
            }
            let last = (first + per_block).min(clusters);
            let Some(off) = off else {
                uncounted(last, &mut u_at, &mut c_at, &mut report);
                continue;
            };
            self.io.read_exact_at(&mut block, *off)?;
            for c in first..last {
                let s = u32::try_from(refcount_at(&block, c - first, order)).unwrap_or(u32::MAX);
                let mut u = 0u32;
                while used.get(u_at) == Some(&c) {
                    u = u.saturating_add(1);
                    u_at += 1;
                }
                while let Some(&(_, flag, what)) = copied.get(c_at).filter(|x| x.0 == c) {
                    if flag != (s == 1) {
                        report.corruptions.push(format!(
                            "{what}: OFLAG_COPIED is {} but the refcount is {s}",
                            if flag { "set" } else { "clear" }
                        ));
                    }
                    c_at += 1;
                }
                if u > s {
                    report.corruptions.push(format!(
                        "cluster {c} (offset {:#x}) is used {u} times but its refcount is {s}",
                        c * cs
                    ));
                } else if u < s {
                    report.leaked_clusters += 1;
                }
            }
        }
        // Past what the refcount table covers.
        uncounted(u64::MAX, &mut u_at, &mut c_at, &mut report);
        Ok(report)
    }
}

/// Entry `j` of a refcount block of 2^order-bit big-endian entries.
fn refcount_at(block: &[u8], j: u64, order: u32) -> u64 {
    let width = 1u64 << order;
    if width >= 8 {
        let bytes = (width / 8) as usize;
        let at = j as usize * bytes;
        block[at..at + bytes]
            .iter()
            .fold(0u64, |v, &b| v << 8 | u64::from(b))
    } else {
        // Sub-byte widths: entries fill each byte from its least significant bits.
        let bit = j * width;
        let byte = block[(bit / 8) as usize];
        u64::from(byte >> (bit % 8)) & ((1 << width) - 1)
    }
}
