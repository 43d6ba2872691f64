//! Payloads decompressed ahead on other threads, handed over in install
//! order: package `i` is decompressed by worker `i mod n` (up to four),
//! each worker a bounded queue of chunks ahead of the install, so that
//! decompression runs on every core while entries are handed on in order.

use std::cell::Cell;
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::Scope;

use crate::error;
use crate::repo::header::read_package_headers;
use crate::{Error, Result};

/// Bytes per chunk handed over.
const CHUNK: usize = 256 << 10;
/// Chunks a worker may have ready before it waits.
const AHEAD: usize = 16;

enum Msg {
    Data(Vec<u8>),
    End,
    Failed(Error),
}

/// The payloads of a list of packages, in order.
pub(super) struct Payloads {
    queues: Vec<Receiver<Msg>>,
    /// A queue whose last payload was not read to its end: the rest is
    /// skipped before the next is read from it.
    unread: Vec<Cell<bool>>,
    next: usize,
}

impl Payloads {
    /// Starts decompressing the payloads of `paths` on threads of `scope`.
    pub(super) fn start<'s>(scope: &'s Scope<'s, '_>, paths: &'s [PathBuf]) -> Self {
        let n = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4)
            .min(paths.len().max(1));
        let queues = (0..n)
            .map(|w| {
                let (tx, rx) = sync_channel(AHEAD);
                scope.spawn(move || {
                    for path in paths.iter().skip(w).step_by(n) {
                        let msg = match produce(path, &tx) {
                            Ok(true) => Msg::End,
                            // The install stopped: nothing more is wanted.
                            Ok(false) => return,
                            Err(e) => Msg::Failed(e),
                        };
                        if tx.send(msg).is_err() {
                            return;
                        }
                    }
                });
                rx
            })
            .collect();
        Payloads {
            unread: (0..n).map(|_| Cell::new(false)).collect(),
            queues,
            next: 0,
        }
    }

    /// The decompressed payload of the next package.
    pub(super) fn next(&mut self) -> PayloadReader<'_> {
        let n = self.queues.len();
        let (rx, unread) = (&self.queues[self.next % n], &self.unread[self.next % n]);
        self.next += 1;
        if unread.replace(false) {
            while let Ok(Msg::Data(_)) = rx.recv() {}
        }
        PayloadReader {
            rx,
            unread,
            buf: Vec::new(),
            pos: 0,
            done: false,
        }
    }
}

/// Decompresses the payload of `path` into `tx`; false when the receiver
/// has gone.
fn produce(path: &Path, tx: &SyncSender<Msg>) -> Result<bool> {
    let bad = |field: &str, message: String| error::package(path, field, None, message);
    let headers = read_package_headers(path)?;
    let compressor = headers
        .meta
        .get_payload_compressor()
        .map_err(|e| bad("RPMTAG_PAYLOADCOMPRESSOR", e.to_string()))?;
    let mut file = std::fs::File::open(path).map_err(|e| Error::file(path, e))?;
    file.seek(io::SeekFrom::Start(headers.payload_offset))
        .map_err(|e| Error::file(path, e))?;
    let raw = BufReader::with_capacity(1 << 20, file);
    let mut payload = super::decompress(path, compressor, raw)?;
    loop {
        let mut chunk = vec![0u8; CHUNK];
        let mut filled = 0;
        while filled < CHUNK {
            match payload.read(&mut chunk[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(bad("payload", e.to_string())),
            }
        }
        if filled == 0 {
            return Ok(true);
        }
        chunk.truncate(filled);
        if tx.send(Msg::Data(chunk)).is_err() {
            return Ok(false);
        }
    }
}

/// One package's decompressed payload, as its worker hands it over.
pub(super) struct PayloadReader<'a> {
    rx: &'a Receiver<Msg>,
    unread: &'a Cell<bool>,
    buf: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for PayloadReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Msg::Data(chunk)) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Ok(Msg::End) => self.done = true,
                Ok(Msg::Failed(e)) => {
                    self.done = true;
                    return Err(io::Error::other(e.to_string()));
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::other("the payload's reader stopped"));
                }
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for PayloadReader<'_> {
    fn drop(&mut self) {
        // What the install did not read (padding after the archive's
        // trailer) is skipped when the queue's next payload is asked for,
        // not now: an install that stopped need not wait for it.
        if !self.done {
            self.unread.set(true);
        }
    }
}
