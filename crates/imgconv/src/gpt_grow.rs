//! Keeping a GPT valid when an output rounds the disk up.

use std::io;

use blocksink::{nonzero_runs, BlockSink, Bytes, Extent, Finished};
use gpt::format::{Header, SECTOR, SIGNATURE};
use zerocopy::FromBytes;

/// The disk's first bytes, held back until the GPT in them has been patched.
const HEAD: u64 = 1 << 20;
/// How far before the old end the tail window reaches, to hold the old
/// backup header and array (they are erased once the table has moved).
const TAIL: u64 = 1 << 20;

/// Wraps the sink of a format that grows the disk (a fixed VHD rounded up to
/// a whole MiB): when the disk carries a GPT, its backup header and array
/// move to the new end and the primary header and protective MBR follow, so
/// `sgdisk -v` stays clean. A disk without a valid GPT passes unchanged.
pub(crate) struct GptGrow {
    inner: Box<dyn BlockSink>,
    grown_size: fn(u64) -> u64,
    /// What happened, for the conversion report.
    note: Option<String>,
    old_size: u64,
    new_size: u64,
    head: Option<Vec<u8>>,
    tail: Option<(u64, Vec<u8>)>,
    /// The moved backup table (offset, bytes), laid into the tail at the end.
    backup: Option<(u64, Vec<u8>)>,
}

impl GptGrow {
    pub(crate) fn new(inner: Box<dyn BlockSink>, grown_size: fn(u64) -> u64) -> Self {
        GptGrow {
            inner,
            grown_size,
            note: None,
            old_size: 0,
            new_size: 0,
            head: None,
            tail: None,
            backup: None,
        }
    }

    /// The tail window runs from a MiB before the old end (where the old
    /// backup table is) to the new end (where the moved one goes).
    fn tail_start(&self) -> u64 {
        (self.old_size.saturating_sub(TAIL) / SECTOR * SECTOR).max(HEAD)
    }

    /// Patches the held head, if any, and passes it on.
    fn release_head(&mut self) -> io::Result<()> {
        let Some(mut head) = self.head.take() else {
            return Ok(());
        };
        match gpt::Gpt::grow_head(&mut head, self.old_size, self.new_size) {
            Ok((_, at, _)) if at < self.tail_start() => {
                self.note =
                    Some("disk grown without moving its GPT: the backup array is too large".into());
            }
            Ok((_, at, backup)) => {
                self.backup = Some((at, backup));
                self.note = Some(format!(
                    "moved the backup GPT to the new end of the disk ({} -> {} bytes)",
                    self.old_size, self.new_size
                ));
            }
            Err(e) => {
                self.note = Some(format!("disk grown without moving a GPT ({e})"));
            }
        }
        self.forward(0, head)
    }

    fn forward(&mut self, base: u64, buf: Vec<u8>) -> io::Result<()> {
        let buf = Bytes::from(buf);
        for run in nonzero_runs(&buf, base) {
            self.inner.write(base + run.start as u64, buf.slice(run))?;
        }
        Ok(())
    }
}

/// Zeroes the backup GPT header at the old last sector, and its entry
/// array, inside `tail` (which holds the disk from offset `start`), as a
/// fresh `sgdisk -e` leaves no second backup behind. Only a sector that
/// really is that backup header (signature, its own LBA) is touched.
fn erase_old_backup(tail: &mut [u8], start: u64, old_size: u64) {
    let lba = old_size / SECTOR - 1;
    let Some(at) = (lba * SECTOR).checked_sub(start) else {
        return;
    };
    let at = at as usize;
    let Some(sector) = tail.get(at..at + SECTOR as usize) else {
        return;
    };
    let Ok((header, _)) = Header::read_from_prefix(sector) else {
        return;
    };
    if header.signature != SIGNATURE || header.my_lba.get() != lba {
        return;
    }
    let array_bytes = u64::from(header.num_partition_entries.get())
        * u64::from(header.size_of_partition_entry.get());
    let array_start = header.partition_entry_lba.get().saturating_mul(SECTOR);
    let array_end = array_start.saturating_add(array_bytes.next_multiple_of(SECTOR));
    // The array sits before its header; what lies outside the window stays.
    if array_end <= lba * SECTOR {
        let from = array_start.max(start) - start;
        let to = array_end.max(start) - start;
        tail[from as usize..to as usize].fill(0);
    }
    tail[at..at + SECTOR as usize].fill(0);
}

impl BlockSink for GptGrow {
    fn begin(&mut self, size: u64, plan: &[Extent]) -> io::Result<()> {
        self.old_size = size;
        self.new_size = (self.grown_size)(size);
        // Only a disk that grows and is large enough to hold both windows.
        if self.new_size > size && size >= HEAD + 64 * 1024 {
            self.head = Some(vec![0u8; HEAD as usize]);
            let start = self.tail_start();
            self.tail = Some((start, vec![0u8; (self.new_size - start) as usize]));
            let mut plan = plan.to_vec();
            plan.push(Extent::new(0, HEAD));
            plan.push(Extent::new(start, self.new_size - start));
            return self
                .inner
                .begin(self.new_size, &blocksink::merge_extents(plan));
        }
        self.inner.begin(size, plan)
    }

    fn write(&mut self, offset: u64, mut data: Bytes) -> io::Result<()> {
        let mut offset = offset;
        if let Some(head) = &mut self.head {
            if offset < HEAD {
                let n = ((HEAD - offset) as usize).min(data.len());
                head[offset as usize..offset as usize + n].copy_from_slice(&data.split_to(n));
                offset += n as u64;
            }
            if data.is_empty() {
                return Ok(());
            }
            self.release_head()?;
        }
        if let Some((start, tail)) = &mut self.tail {
            let start = *start;
            if offset + data.len() as u64 > start {
                let before = start.saturating_sub(offset) as usize;
                let rest = data.split_off(before.min(data.len()));
                if !data.is_empty() {
                    self.inner.write(offset, data)?;
                }
                let at = (offset + before as u64 - start) as usize;
                tail[at..at + rest.len()].copy_from_slice(&rest);
                return Ok(());
            }
        }
        self.inner.write(offset, data)
    }

    fn finish(&mut self) -> io::Result<Finished> {
        self.release_head()?;
        if let Some((start, mut tail)) = self.tail.take() {
            if let Some((at, backup)) = self.backup.take() {
                // The old backup goes first: with a small growth the new
                // array covers part of where the old one was.
                erase_old_backup(&mut tail, start, self.old_size);
                let from = (at - start) as usize;
                tail[from..from + backup.len()].copy_from_slice(&backup);
            }
            self.forward(start, tail)?;
        }
        let mut done = self.inner.finish()?;
        done.notes.extend(self.note.take());
        Ok(done)
    }

    fn wants_exact_plan(&self) -> bool {
        self.inner.wants_exact_plan()
    }
}
