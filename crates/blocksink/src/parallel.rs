use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::Block;

/// A block compression, run on many threads at once.
pub trait Codec: Send + Sync + 'static {
    /// Per-thread state (a compressor context), kept and reused for every
    /// later block rather than made anew.
    type State: Send;
    /// A fresh state.
    fn state(&self) -> Self::State;
    /// `block` compressed, or `None` when it does not shrink enough to be
    /// worth storing compressed.
    fn compress(&self, state: &mut Self::State, block: &[u8]) -> io::Result<Option<Vec<u8>>>;
}

/// What a [`ParallelCompressor`] runs on the thread pool: each input turns
/// into one output, with a per-thread state.
///
/// Every [`Codec`] is one, turning a [`Block`] into a [`Compressed`] block.
/// A compression whose pieces need more than their own bytes, or give more
/// than compressed bytes — a gzip chunk deflated with the 32 KiB before it
/// as its dictionary, giving back its CRC-32 too — implements this directly.
pub trait ParallelCodec: Send + Sync + 'static {
    /// What each piece of work is handed.
    type Input: Send + 'static;
    /// What each piece of work gives back.
    type Output: Send + 'static;
    /// Per-thread state (a compressor context), kept and reused for every
    /// later input rather than made anew.
    type State: Send;
    /// A fresh state.
    fn new_state(&self) -> Self::State;
    /// Compresses `input`.
    fn run(&self, state: &mut Self::State, input: Self::Input) -> io::Result<Self::Output>;
}

impl<C: Codec> ParallelCodec for C {
    type Input = Block;
    type Output = Compressed;
    type State = <C as Codec>::State;
    fn new_state(&self) -> Self::State {
        Codec::state(self)
    }
    fn run(&self, state: &mut Self::State, block: Block) -> io::Result<Compressed> {
        let packed = Codec::compress(self, state, &block.data)?;
        Ok(Compressed { block, packed })
    }
}

/// A block and what compression made of it.
#[derive(Debug)]
pub struct Compressed {
    /// The block as it came in.
    pub block: Block,
    /// Its compressed form, or `None` to store it as it is.
    pub packed: Option<Vec<u8>>,
}

type Batch<C> = io::Result<Vec<<C as ParallelCodec>::Output>>;

/// Compresses on every core while the caller goes on reading and writing:
/// inputs ([`Block`]s for a [`Codec`]) are gathered into batches, each batch
/// is compressed on the thread pool, and results come back in the order the
/// inputs went in. At most `2 × threads + 1` batches are in flight, so
/// memory stays bounded.
pub struct ParallelCompressor<C: ParallelCodec> {
    shared: Arc<Shared<C>>,
    batch: Vec<C::Input>,
    batch_size: usize,
    in_flight: VecDeque<Receiver<Batch<C>>>,
    max_in_flight: usize,
}

/// The codec and the states no thread is using: a compressor context is
/// made once per thread, not once per piece of work rayon splits a batch into.
struct Shared<C: ParallelCodec> {
    codec: C,
    idle: Mutex<Vec<C::State>>,
}

/// A state lent to one piece of a batch, given back when the piece is done.
struct Lease<'a, C: ParallelCodec> {
    state: Option<C::State>,
    shared: &'a Shared<C>,
}

impl<'a, C: ParallelCodec> Lease<'a, C> {
    fn take(shared: &'a Shared<C>) -> Self {
        let idle = shared.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        Lease {
            state: Some(idle.unwrap_or_else(|| shared.codec.new_state())),
            shared,
        }
    }

    fn run(&mut self, input: C::Input) -> io::Result<C::Output> {
        // Always there until the lease ends.
        let state = self
            .state
            .get_or_insert_with(|| self.shared.codec.new_state());
        self.shared.codec.run(state, input)
    }
}

impl<C: ParallelCodec> Drop for Lease<'_, C> {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            self.shared
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(state);
        }
    }
}

impl<C: ParallelCodec> std::fmt::Debug for ParallelCompressor<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelCompressor")
            .field("batch_size", &self.batch_size)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl<C: ParallelCodec> ParallelCompressor<C> {
    /// A compressor with `codec`, sending `batch_size` inputs per task.
    pub fn new(codec: C, batch_size: usize) -> Self {
        ParallelCompressor {
            shared: Arc::new(Shared {
                codec,
                idle: Mutex::new(Vec::new()),
            }),
            batch: Vec::with_capacity(batch_size),
            batch_size: batch_size.max(1),
            in_flight: VecDeque::new(),
            max_in_flight: 2 * rayon::current_num_threads() + 1,
        }
    }

    fn submit(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_size));
        let shared = Arc::clone(&self.shared);
        let (tx, rx) = mpsc::sync_channel(1);
        rayon::spawn(move || {
            let result: Batch<C> = batch
                .into_par_iter()
                .map_init(|| Lease::take(&shared), |lease, input| lease.run(input))
                .collect();
            let _ = tx.send(result);
        });
        self.in_flight.push_back(rx);
    }

    fn receive(rx: &Receiver<Batch<C>>) -> Batch<C> {
        rx.recv()
            .unwrap_or_else(|_| Err(io::Error::other("a compression task panicked")))
    }

    /// Queues `input`; returns the results that have finished, in order
    /// (waiting only when too many batches are in flight).
    pub fn push(&mut self, input: C::Input) -> io::Result<Vec<C::Output>> {
        self.batch.push(input);
        if self.batch.len() >= self.batch_size {
            self.submit();
        }
        let mut done = Vec::new();
        while let Some(rx) = self.in_flight.front() {
            let must_wait = self.in_flight.len() > self.max_in_flight;
            let result = if must_wait {
                Self::receive(rx)
            } else {
                match rx.try_recv() {
                    Ok(r) => r,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        Err(io::Error::other("a compression task panicked"))
                    }
                }
            };
            self.in_flight.pop_front();
            done.extend(result?);
        }
        Ok(done)
    }

    /// Compresses what is left and returns every remaining result, in order.
    /// The compressor can be used again afterwards.
    pub fn finish(&mut self) -> io::Result<Vec<C::Output>> {
        self.submit();
        let mut done = Vec::new();
        while let Some(rx) = self.in_flight.pop_front() {
            done.extend(Self::receive(&rx)?);
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    struct Halve;
    impl Codec for Halve {
        type State = usize;
        fn state(&self) -> usize {
            0
        }
        fn compress(&self, calls: &mut usize, block: &[u8]) -> io::Result<Option<Vec<u8>>> {
            *calls += 1;
            Ok((block[0] % 3 != 0).then(|| block[..block.len() / 2].to_vec()))
        }
    }

    /// Counts the states it makes.
    struct Counted(std::sync::atomic::AtomicUsize);
    impl Codec for Counted {
        type State = ();
        fn state(&self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fn compress(&self, _: &mut (), block: &[u8]) -> io::Result<Option<Vec<u8>>> {
            Ok(Some(block.to_vec()))
        }
    }

    #[test]
    fn states_are_made_once_per_thread() {
        let mut p = ParallelCompressor::new(Counted(0.into()), 16);
        let mut n = 0;
        for i in 0..4000u64 {
            let data = Bytes::from(vec![7u8; 4096]);
            n += p.push(Block { index: i, data }).unwrap().len();
        }
        n += p.finish().unwrap().len();
        assert_eq!(n, 4000);
        let made = p.shared.codec.0.load(std::sync::atomic::Ordering::Relaxed);
        assert!(made <= rayon::current_num_threads(), "{made} states");
    }

    #[test]
    fn results_come_back_in_order() {
        let mut p = ParallelCompressor::new(Halve, 7);
        let mut out = Vec::new();
        for i in 0..1000u64 {
            let data = Bytes::from(vec![(i % 251) as u8; 64]);
            out.extend(p.push(Block { index: i, data }).unwrap());
        }
        out.extend(p.finish().unwrap());
        assert_eq!(out.len(), 1000);
        for (i, c) in out.iter().enumerate() {
            assert_eq!(c.block.index, i as u64);
            assert_eq!(c.packed.is_some(), (i % 251) % 3 != 0);
        }
    }

    /// Numbers in; each number and its square out.
    struct Square;
    impl ParallelCodec for Square {
        type Input = u64;
        type Output = (u64, u64);
        type State = ();
        fn new_state(&self) {}
        fn run(&self, _: &mut (), n: u64) -> io::Result<(u64, u64)> {
            Ok((n, n * n))
        }
    }

    #[test]
    fn any_codec_comes_back_in_order_and_bounded() {
        let max = 2 * rayon::current_num_threads() as u64 + 1;
        let mut p = ParallelCompressor::new(Square, 1);
        let mut out = Vec::new();
        for n in 0..3000u64 {
            out.extend(p.push(n).unwrap());
            assert!(
                n + 1 - out.len() as u64 <= max,
                "{n} pushed, {} out",
                out.len()
            );
        }
        out.extend(p.finish().unwrap());
        let want: Vec<_> = (0..3000u64).map(|n| (n, n * n)).collect();
        assert_eq!(out, want);
        // Usable again once finished.
        out = p.push(7).unwrap();
        out.extend(p.finish().unwrap());
        assert_eq!(out, [(7, 49)]);
    }
}
