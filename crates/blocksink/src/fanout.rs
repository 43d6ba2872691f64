use std::io;

use bytes::Bytes;

use crate::{merge_extents, nonzero_runs, BlockSink, BlockSource, Error, Extent, Finished, Side};

/// How much of the source is read at a time. Reads are aligned to it.
pub const CHUNK_SIZE: u64 = 1 << 20;

/// What a conversion did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvertStats {
    /// Virtual size of the disk.
    pub virtual_size: u64,
    /// Bytes read from the source (its data extents).
    pub read_bytes: u64,
    /// Non-zero bytes handed to the sinks.
    pub data_bytes: u64,
    /// What each sink wrote, in the order given.
    pub outputs: Vec<Finished>,
}

/// Chunk buffers handed out recently. Once every sink has let go of one, it
/// is filled again: fresh memory for every chunk would cost a page fault per
/// page, more than the read itself.
#[derive(Default)]
struct BufferPool {
    recent: std::collections::VecDeque<Bytes>,
}

impl BufferPool {
    const KEEP: usize = 16;

    fn take(&mut self, len: usize) -> bytes::BytesMut {
        // The first buffer no sink holds any more; those still held wait.
        let mut found = None;
        for _ in 0..self.recent.len() {
            let Some(b) = self.recent.pop_front() else {
                break;
            };
            match b.try_into_mut() {
                Ok(m) => {
                    found = Some(m);
                    break;
                }
                Err(b) => self.recent.push_back(b),
            }
        }
        let mut buf = found.unwrap_or_else(Self::aligned);
        // A reused buffer of the right length is overwritten by the read:
        // no need to clear it first.
        if buf.len() != len {
            buf.clear();
            buf.resize(len, 0);
        }
        buf
    }

    /// A fresh chunk buffer starting on a page boundary: the kernel copies
    /// into page-aligned memory markedly faster.
    fn aligned() -> bytes::BytesMut {
        const PAGE: usize = 4096;
        let mut b = bytes::BytesMut::zeroed(CHUNK_SIZE as usize + PAGE);
        let pad = (PAGE - b.as_ptr() as usize % PAGE) % PAGE;
        drop(b.split_to(pad));
        b.truncate(CHUNK_SIZE as usize);
        b
    }

    fn give(&mut self, buf: Bytes) {
        if self.recent.len() >= Self::KEEP {
            self.recent.pop_front();
        }
        self.recent.push_back(buf);
    }
}

/// `e` marked as a failure of `side`: the [`Error`] it carries, or `e`
/// itself (its text unchanged) when it is an I/O failure of the system,
/// with what was being done when it is not.
fn on_side(e: io::Error, side: Side, doing: String) -> io::Error {
    let e = match Error::find(&e) {
        Some(_) => Error::from_io(e),
        // A writer's or reader's own error says what it is.
        None if e.raw_os_error().is_none() => Error::from_io(e),
        None => Error::io("", doing, e),
    };
    if e.side().is_some() {
        e.into()
    } else {
        e.on(side).into()
    }
}

/// Calls `f` with each chunk of the source's data extents, aligned to
/// [`CHUNK_SIZE`], as one shared buffer, and reports progress. A reader
/// thread reads ahead while `f` works, so reading and writing overlap.
fn for_each_chunk(
    source: &mut dyn BlockSource,
    extents: &[Extent],
    progress: &mut dyn FnMut(u64, u64),
    mut f: impl FnMut(u64, Bytes) -> io::Result<()>,
) -> io::Result<u64> {
    const READ_AHEAD: usize = 4;
    let total: u64 = extents.iter().map(|e| e.len).sum();
    let size = source.size();
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<(u64, Bytes)>>(READ_AHEAD);
        scope.spawn(move || {
            let mut pool = BufferPool::default();
            for e in extents {
                let end = e.end().min(size);
                let mut pos = e.offset;
                while pos < end {
                    let next = ((pos / CHUNK_SIZE + 1) * CHUNK_SIZE).min(end);
                    let mut buf = pool.take((next - pos) as usize);
                    let item = match source.read_at(pos, &mut buf) {
                        Ok(()) => {
                            let buf = buf.freeze();
                            pool.give(buf.clone());
                            Ok((pos, buf))
                        }
                        Err(err) => Err(on_side(
                            err,
                            Side::Input,
                            format!("reading the input at virtual offset {pos}"),
                        )),
                    };
                    let failed = item.is_err();
                    // The receiver is gone when a sink failed: stop reading.
                    if tx.send(item).is_err() || failed {
                        return;
                    }
                    pos = next;
                }
            }
        });
        let mut done = 0u64;
        for item in rx {
            let (pos, buf) = item?;
            let len = buf.len() as u64;
            f(pos, buf)?;
            done += len;
            progress(done, total);
        }
        Ok(done)
    })
}

/// Reads the source's data extents and returns exactly the ranges that are
/// not zero (in blocks of [`crate::ZERO_GRANULARITY`]): the exact plan a sink
/// that lays out its tables before its data needs.
pub fn scan_data(
    source: &mut dyn BlockSource,
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<Vec<Extent>> {
    let extents = source
        .extents()
        .map_err(|e| on_side(e, Side::Input, "finding where the input holds data".into()))?;
    let extents = merge_extents(extents);
    let mut plan: Vec<Extent> = Vec::new();
    for_each_chunk(source, &extents, progress, |pos, buf| {
        for run in nonzero_runs(&buf, pos) {
            let e = Extent::new(pos + run.start as u64, run.len() as u64);
            match plan.last_mut() {
                Some(last) if last.end() == e.offset => last.len += e.len,
                _ => plan.push(e),
            }
        }
        Ok(())
    })?;
    Ok(plan)
}

/// Reads `source` once and writes it to every sink: zero blocks are detected
/// once, and each non-zero run goes to all sinks as the same shared buffer.
///
/// When a sink [wants an exact plan](BlockSink::wants_exact_plan), a scanning
/// pass first finds the non-zero blocks. `progress` is called with
/// (bytes done, bytes to do) of each pass.
pub fn convert(
    source: &mut dyn BlockSource,
    sinks: &mut [&mut dyn BlockSink],
    progress: &mut dyn FnMut(u64, u64),
) -> io::Result<ConvertStats> {
    let size = source.size();
    let plan = if sinks.iter().any(|s| s.wants_exact_plan()) {
        scan_data(source, progress)?
    } else {
        let extents = source
            .extents()
            .map_err(|e| on_side(e, Side::Input, "finding where the input holds data".into()))?;
        merge_extents(extents)
            .into_iter()
            .filter(|e| e.offset < size)
            .map(|e| Extent::new(e.offset, e.len.min(size - e.offset)))
            .collect()
    };
    for (i, sink) in sinks.iter_mut().enumerate() {
        sink.begin(size, &plan)
            .map_err(|e| on_side(e, Side::Output(i), "starting the output".into()))?;
    }
    let mut data_bytes = 0u64;
    let read_bytes = for_each_chunk(source, &plan, progress, |pos, buf| {
        for run in nonzero_runs(&buf, pos) {
            let offset = pos + run.start as u64;
            data_bytes += run.len() as u64;
            let data = buf.slice(run);
            for (i, sink) in sinks.iter_mut().enumerate() {
                sink.write(offset, data.clone()).map_err(|e| {
                    on_side(
                        e,
                        Side::Output(i),
                        format!("writing virtual offset {offset}"),
                    )
                })?;
            }
        }
        Ok(())
    })?;
    let mut outputs = Vec::with_capacity(sinks.len());
    for (i, sink) in sinks.iter_mut().enumerate() {
        outputs.push(
            sink.finish()
                .map_err(|e| on_side(e, Side::Output(i), "finishing the output".into()))?,
        );
    }
    Ok(ConvertStats {
        virtual_size: size,
        read_bytes,
        data_bytes,
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;

    #[derive(Default)]
    struct Recorder {
        exact: bool,
        plan: Vec<Extent>,
        writes: Vec<(u64, Bytes)>,
        finished: bool,
    }

    impl BlockSink for Recorder {
        fn begin(&mut self, _size: u64, plan: &[Extent]) -> io::Result<()> {
            self.plan = plan.to_vec();
            Ok(())
        }
        fn write(&mut self, offset: u64, data: Bytes) -> io::Result<()> {
            if let Some((o, d)) = self.writes.last() {
                assert!(o + d.len() as u64 <= offset, "writes must ascend");
            }
            self.writes.push((offset, data));
            Ok(())
        }
        fn finish(&mut self) -> io::Result<Finished> {
            self.finished = true;
            Ok(Finished::default())
        }
        fn wants_exact_plan(&self) -> bool {
            self.exact
        }
    }

    #[test]
    fn every_sink_gets_the_same_buffers() {
        let mut disk = vec![0u8; 3 * CHUNK_SIZE as usize + 100];
        disk[10] = 1;
        disk[CHUNK_SIZE as usize - 1] = 2; // run ends at the chunk boundary
        disk[CHUNK_SIZE as usize] = 3; // and the next starts there
        disk[3 * CHUNK_SIZE as usize + 99] = 4; // unaligned tail
        let mut src = MemSource::new(disk.clone());
        let mut a = Recorder::default();
        let mut b = Recorder {
            exact: true,
            ..Recorder::default()
        };
        let stats = convert(&mut src, &mut [&mut a, &mut b], &mut |_, _| {}).unwrap();
        assert_eq!(stats.data_bytes, 3 * 4096 + 100);
        assert!(a.finished && b.finished);
        assert_eq!(
            b.plan,
            vec![
                Extent::new(0, 4096),
                Extent::new(CHUNK_SIZE - 4096, 8192),
                Extent::new(3 * CHUNK_SIZE, 100)
            ]
        );
        assert_eq!(a.writes.len(), b.writes.len());
        for ((oa, da), (ob, db)) in a.writes.iter().zip(&b.writes) {
            assert_eq!(oa, ob);
            assert_eq!(da.as_ptr(), db.as_ptr(), "shared, not copied");
        }
        let mut rebuilt = vec![0u8; disk.len()];
        for (o, d) in &a.writes {
            rebuilt[*o as usize..*o as usize + d.len()].copy_from_slice(d);
        }
        assert_eq!(rebuilt, disk);
    }
}
