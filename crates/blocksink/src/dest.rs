use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;

use bytes::Bytes;

use crate::Finished;

/// Where an output image's bytes go: a seekable file, written with
/// positioned writes, or a forward-only stream such as a pipe.
///
/// Writers call [`write_at`](Self::write_at) with file offsets either way; a
/// stream accepts only offsets at or after what it has written (a gap is
/// filled with zeros), so a format that lays its file out in order can be
/// written to a pipe with the same code that writes it to a file.
pub struct Destination {
    kind: Kind,
    /// Stream: bytes written so far. File: highest end written.
    end: u64,
}

enum Kind {
    File(File),
    Stream(BufWriter<Box<dyn Write + Send>>),
    /// A stream behind an unlinked temporary file: written as a file,
    /// copied into the stream when finished.
    Spool(File, BufWriter<Box<dyn Write + Send>>),
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("seekable", &self.is_seekable())
            .field("end", &self.end)
            .finish()
    }
}

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

impl Destination {
    /// Writes into `file` (truncated by the caller as wanted) with positioned writes.
    pub fn file(file: File) -> Self {
        Destination {
            kind: Kind::File(file),
            end: 0,
        }
    }

    /// Writes forward only into `w` (a pipe, a socket, stdout).
    pub fn stream(w: impl Write + Send + 'static) -> Self {
        Destination {
            kind: Kind::Stream(BufWriter::with_capacity(1 << 20, Box::new(w))),
            end: 0,
        }
    }

    /// The same output made seekable: a stream gets an unlinked temporary
    /// file (in `$TMPDIR`) that takes every write and is copied into the
    /// stream by [`finish`](Self::finish); a file stays as it is. For
    /// formats that must go back (tables before data) sent to a pipe.
    pub fn seekable(self) -> io::Result<Self> {
        match self.kind {
            Kind::Stream(w) if self.end == 0 => Ok(Destination {
                kind: Kind::Spool(tempfile::tempfile()?, w),
                end: 0,
            }),
            Kind::Stream(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a stream output cannot be spooled once written to",
            )),
            kind => Ok(Destination {
                kind,
                end: self.end,
            }),
        }
    }

    /// The file behind a seekable destination, for writers that place part
    /// of their output through another handle.
    pub fn as_file(&self) -> Option<&File> {
        match &self.kind {
            Kind::File(f) | Kind::Spool(f, _) => Some(f),
            Kind::Stream(_) => None,
        }
    }

    /// Whether earlier offsets can be written again.
    pub fn is_seekable(&self) -> bool {
        !matches!(self.kind, Kind::Stream(_))
    }

    /// Bytes written to a stream so far, or the highest end written to a file.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Writes the shared buffer `data` at `offset`. (One plain write per
    /// buffer: gathering buffers into one `pwritev` measured twice as slow
    /// on ext4 here as separate `pwrite`s of 1 MiB; writers hand over runs
    /// that are already as long as the file layout allows.)
    pub fn write_bytes_at(&mut self, offset: u64, data: Bytes) -> io::Result<()> {
        self.write_at(offset, &data)
    }

    /// Copies `len` bytes from the start of `src` to `offset` (in the kernel,
    /// with `copy_file_range`, when both are files).
    pub fn copy_from(&mut self, offset: u64, src: &File, len: u64) -> io::Result<()> {
        self.copy_range_from(offset, src, 0, len)
    }

    /// Copies `len` bytes at `src_offset` of `src` to `offset` (in the
    /// kernel, with `copy_file_range`, when both are files).
    pub fn copy_range_from(
        &mut self,
        offset: u64,
        src: &File,
        src_offset: u64,
        len: u64,
    ) -> io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let mut reader = src.take(len);
        let mut src_pos = src;
        src_pos.seek(SeekFrom::Start(src_offset))?;
        let copied = match &mut self.kind {
            Kind::File(f) | Kind::Spool(f, _) => {
                f.seek(SeekFrom::Start(offset))?;
                io::copy(&mut reader, f)?
            }
            Kind::Stream(w) => {
                if offset < self.end {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "a stream output cannot go back",
                    ));
                }
                Self::stream_zeros(w, offset - self.end)?;
                io::copy(&mut reader.by_ref(), w)?
            }
        };
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("copied {copied} of {len} bytes"),
            ));
        }
        self.end = self.end.max(offset + len);
        Ok(())
    }

    /// Writes `buf` at file offset `offset`.
    pub fn write_at(&mut self, offset: u64, buf: &[u8]) -> io::Result<()> {
        match &mut self.kind {
            Kind::File(f) | Kind::Spool(f, _) => {
                f.write_all_at(buf, offset)?;
                self.end = self.end.max(offset + buf.len() as u64);
            }
            Kind::Stream(w) => {
                if offset < self.end {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        format!(
                            "a stream output cannot go back to offset {offset} once {} bytes are written",
                            self.end
                        ),
                    ));
                }
                Self::stream_zeros(w, offset - self.end)?;
                w.write_all(buf)?;
                self.end = offset + buf.len() as u64;
            }
        }
        Ok(())
    }

    fn stream_zeros(w: &mut impl Write, mut n: u64) -> io::Result<()> {
        while n > 0 {
            let k = n.min(ZEROS.len() as u64) as usize;
            w.write_all(&ZEROS[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// Makes the output exactly `len` bytes long (zeros past what was written;
    /// a hole in a file), flushes it, and says what was written: `len` bytes.
    pub fn finish(&mut self, len: u64) -> io::Result<Finished> {
        match &mut self.kind {
            Kind::File(f) => {
                f.set_len(len)?;
                self.end = len;
            }
            Kind::Spool(f, w) => {
                use std::io::{Read, Seek, SeekFrom};
                f.set_len(len)?;
                f.seek(SeekFrom::Start(0))?;
                let copied = io::copy(&mut (&*f).take(len), w)?;
                if copied != len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("copied {copied} of {len} spooled bytes"),
                    ));
                }
                w.flush()?;
                self.end = len;
            }
            Kind::Stream(w) => {
                if len < self.end {
                    return Err(io::Error::other(format!(
                        "stream output already holds {} bytes, more than its final length {len}",
                        self.end
                    )));
                }
                Self::stream_zeros(w, len - self.end)?;
                w.flush()?;
                self.end = len;
            }
        }
        Ok(Finished::new(len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn stream_fills_gaps_and_refuses_going_back() {
        let out = Shared::default();
        let mut d = Destination::stream(out.clone());
        d.write_at(2, b"ab").unwrap();
        d.write_at(6, b"c").unwrap();
        assert!(d.write_at(5, b"x").is_err());
        d.finish(9).unwrap();
        assert_eq!(&*out.0.lock().unwrap(), b"\0\0ab\0\0c\0\0");
    }

    #[test]
    fn gathered_writes_land_in_place() {
        let f = tempfile::tempfile().unwrap();
        let mut d = Destination::file(f.try_clone().unwrap());
        d.write_bytes_at(0, Bytes::from_static(b"ab")).unwrap();
        d.write_bytes_at(2, Bytes::from_static(b"cd")).unwrap();
        d.write_bytes_at(6, Bytes::from_static(b"gh")).unwrap();
        d.write_at(4, b"ef").unwrap();
        assert_eq!(d.end(), 8);
        d.finish(9).unwrap();
        let mut buf = [0u8; 9];
        f.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"abcdefgh\0");
    }

    #[test]
    fn file_writes_anywhere() {
        let f = tempfile::tempfile().unwrap();
        let mut d = Destination::file(f.try_clone().unwrap());
        d.write_at(4, b"xy").unwrap();
        d.write_at(0, b"ab").unwrap();
        d.finish(8).unwrap();
        let mut buf = [0u8; 8];
        f.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"ab\0\0xy\0\0");
    }

    #[test]
    fn a_spooled_stream_takes_writes_in_any_order() {
        let out = Shared::default();
        let mut d = Destination::stream(out.clone()).seekable().unwrap();
        assert!(d.is_seekable() && d.as_file().is_some());
        d.write_at(512, b"tail").unwrap();
        d.write_at(0, b"head").unwrap();
        assert!(
            out.0.lock().unwrap().is_empty(),
            "nothing reaches the stream early"
        );
        assert_eq!(d.finish(1024).unwrap().bytes, 1024);
        let got = out.0.lock().unwrap().clone();
        assert_eq!(got.len(), 1024);
        assert_eq!(&got[..4], b"head");
        assert_eq!(&got[512..516], b"tail");
        assert!(got[4..512].iter().all(|&b| b == 0));
    }
}
