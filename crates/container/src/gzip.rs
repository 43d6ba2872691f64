//! A gzip stream compressed on every core, as pigz makes one.
//!
//! The input is cut into fixed-size chunks; each is deflated on its own
//! thread with the 32 KiB before it as the preset dictionary, ending in a
//! sync flush (an empty stored block) so the pieces join into one deflate
//! stream. The result is a single standard gzip member that any gunzip
//! reads, and — because chunk boundaries depend only on the byte count —
//! the same bytes whatever the number of threads or the sizes of the writes.
//! The chunks go through [`blocksink::ParallelCompressor`], which keeps their
//! order and bounds how many are in flight.

use std::io::{self, Write};

use blocksink::{Bytes, ParallelCodec, ParallelCompressor};

/// Bytes of input per chunk (pigz's default block size).
pub const CHUNK: usize = 128 * 1024;
/// Deflate's window: how much earlier input a chunk may refer to.
const WINDOW: usize = 32 * 1024;
/// A final, empty fixed-Huffman block: BFINAL=1, BTYPE=01, end-of-block.
const FINAL_EMPTY_BLOCK: [u8; 2] = [0x03, 0x00];

/// A gzip encoder whose deflate work runs on rayon's pool, writing a
/// standard gzip member (no file name, modification time 0) to `out`.
pub struct ParallelGzip<W: Write> {
    out: Option<W>,
    /// Input not yet handed to a worker (less than one chunk).
    buf: Vec<u8>,
    /// The last [`WINDOW`] bytes of input handed out: the next chunk's
    /// dictionary.
    dict: Bytes,
    /// Chunks being deflated, one per task.
    deflate: ParallelCompressor<DeflateChunks>,
    crc: crc32fast::Hasher,
    len: u64,
    started: bool,
}

impl<W: Write> ParallelGzip<W> {
    /// A gzip stream at deflate `level` (1–9; 6 is gzip's default) into `out`.
    pub fn new(out: W, level: u32) -> Self {
        let codec = DeflateChunks {
            level: level.clamp(1, 9) as i32,
        };
        ParallelGzip {
            out: Some(out),
            buf: Vec::with_capacity(CHUNK),
            dict: Bytes::new(),
            deflate: ParallelCompressor::new(codec, 1),
            crc: crc32fast::Hasher::new(),
            len: 0,
            started: false,
        }
    }

    fn out(&mut self) -> io::Result<&mut W> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("the gzip stream was already finished"))
    }

    fn header(&mut self) -> io::Result<()> {
        if !self.started {
            self.started = true;
            // Magic, deflate, no flags, mtime 0, no extra flags, OS Unix.
            self.out()?
                .write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3])?;
        }
        Ok(())
    }

    /// Hands `self.buf` to a worker, and writes out the chunks that are done.
    fn submit(&mut self, last: bool) -> io::Result<()> {
        self.header()?;
        let data = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        // The next chunk's dictionary: the window ending where this one ends
        // (every chunk but the last is whole, so longer than the window).
        let next = data.slice(data.len().saturating_sub(WINDOW)..);
        let dict = std::mem::replace(&mut self.dict, next);
        self.len += data.len() as u64;
        let done = self.deflate.push(Chunk { data, dict, last })?;
        self.write_out(done)
    }

    /// Writes out every chunk handed out, waiting for them.
    fn drain(&mut self) -> io::Result<()> {
        let done = self.deflate.finish()?;
        self.write_out(done)
    }

    fn write_out(&mut self, done: Vec<Deflated>) -> io::Result<()> {
        for Deflated { bytes, crc } in done {
            self.crc.combine(&crc);
            self.out()?.write_all(&bytes)?;
        }
        Ok(())
    }

    /// Compresses what is left, writes the trailer and returns `out`.
    pub fn finish(mut self) -> io::Result<W> {
        // Data that ended on a chunk boundary ended in a sync flush; the
        // stream is closed with an empty final block.
        let on_boundary = self.started && self.buf.is_empty();
        if !on_boundary {
            self.submit(true)?;
        }
        self.drain()?;
        if on_boundary {
            self.out()?.write_all(&FINAL_EMPTY_BLOCK)?;
        }
        let crc = self.crc.clone().finalize();
        let len = self.len as u32;
        let mut out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("the gzip stream was already finished"))?;
        out.write_all(&crc.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.flush()?;
        Ok(out)
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.submit(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Chunk boundaries must not depend on when callers flush, so only
        // finished chunks are written out.
        self.drain()?;
        self.out()?.flush()
    }
}

/// Raw deflate at `level`, one chunk at a time.
struct DeflateChunks {
    level: i32,
}

/// A chunk of input and the [`WINDOW`] bytes before it.
struct Chunk {
    data: Bytes,
    dict: Bytes,
    /// Ends the stream with the final block rather than a sync flush.
    last: bool,
}

/// A deflated chunk and the CRC-32 of its input.
struct Deflated {
    bytes: Vec<u8>,
    crc: crc32fast::Hasher,
}

impl ParallelCodec for DeflateChunks {
    type Input = Chunk;
    type Output = Deflated;
    /// None kept between chunks: a zlib-rs stream reset after one chunk
    /// does not deflate the next as a new stream does (the bytes differ),
    /// so each chunk gets a new stream, and the output does not depend on
    /// which thread ran which chunk before it.
    type State = ();

    fn new_state(&self) {}

    /// Raw deflate of the chunk primed with its dictionary, ending in a sync
    /// flush (or, for the last chunk, the final block).
    fn run(&self, _: &mut (), chunk: Chunk) -> io::Result<Deflated> {
        let Chunk { data, dict, last } = chunk;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&data);
        let mut z = zlib_rs::Deflate::new(self.level, false, 15);
        let z = &mut z;
        if !dict.is_empty() {
            z.set_dictionary(&dict)
                .map_err(|e| io::Error::other(format!("deflate dictionary: {}", e.as_str())))?;
        }
        let flush = if last {
            zlib_rs::DeflateFlush::Finish
        } else {
            zlib_rs::DeflateFlush::SyncFlush
        };
        let mut out = vec![0u8; zlib_rs::compress_bound(data.len()) + 64];
        loop {
            let written = z.total_out() as usize;
            if written == out.len() {
                out.resize(out.len() * 2, 0);
            }
            let consumed = z.total_in() as usize;
            let status = z
                .compress(&data[consumed..], &mut out[written..], flush)
                .map_err(|e| io::Error::other(format!("deflate: {}", e.as_str())))?;
            if matches!(status, zlib_rs::Status::StreamEnd) {
                break;
            }
            // A sync flush is complete once all input is taken and the
            // output was not filled.
            if !last && z.total_in() as usize == data.len() && (z.total_out() as usize) < out.len()
            {
                break;
            }
            if z.total_in() as usize == consumed && z.total_out() as usize == written {
                return Err(io::Error::other("deflate made no progress"));
            }
        }
        out.truncate(z.total_out() as usize);
        Ok(Deflated { bytes: out, crc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("a valid gzip stream");
        out
    }

    fn gzip(data: &[u8], write_size: usize) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), 6);
        for piece in data.chunks(write_size.max(1)) {
            gz.write_all(piece).unwrap();
        }
        gz.finish().unwrap()
    }

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: text-like runs with a changing seed.
        let mut x: u32 = 12345;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 7 == 0 {
                    (x >> 24) as u8
                } else {
                    b"the quick brown fox "[i % 20]
                }
            })
            .collect()
    }

    #[test]
    fn round_trips_at_every_boundary() {
        for len in [
            0,
            1,
            WINDOW - 1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            3 * CHUNK,
            5 * CHUNK + 17,
        ] {
            let data = sample(len);
            let gz = gzip(&data, 4096);
            assert_eq!(gunzip(&gz), data, "length {len}");
        }
    }

    #[test]
    fn same_bytes_whatever_the_write_sizes() {
        let data = sample(4 * CHUNK + 999);
        let a = gzip(&data, 1);
        let b = gzip(&data, 65_536);
        let c = gzip(&data, data.len());
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn dictionary_keeps_the_ratio_close_to_serial() {
        let data = sample(16 * CHUNK);
        let ours = gzip(&data, 1 << 20).len();
        let mut serial = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        serial.write_all(&data).unwrap();
        let serial = serial.finish().unwrap().len();
        assert!(
            (ours as f64) < serial as f64 * 1.02,
            "ours {ours}, serial {serial}"
        );
    }

    #[test]
    fn gzip_tool_reads_it() {
        let data = sample(3 * CHUNK + 5);
        let gz = gzip(&data, 10_000);
        let mut child = blocksink::tool::Tool::new("gzip")
            .args(["-d", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .command()
            .expect("gzip is in PATH")
            .spawn()
            .expect("gzip runs");
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&gz));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, data);
    }
}
