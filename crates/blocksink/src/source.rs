use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use bytes::Bytes;

use crate::Extent;

/// A virtual disk to read: a raw file, or any format's reader. Sources are
/// `Send` so the fan-out can read ahead on another thread.
pub trait BlockSource: Send {
    /// Virtual size of the disk in bytes.
    fn size(&self) -> u64;

    /// Where data may be; outside these ranges the disk reads as zeros.
    /// Ascending and non-overlapping.
    fn extents(&mut self) -> io::Result<Vec<Extent>>;

    /// Fills `buf` with the disk's bytes starting at `offset`. Reading past
    /// [`size`](Self::size) is an error.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// Fails with `UnexpectedEof` unless `len` bytes at `offset` lie inside a
/// disk of `size` bytes: the bounds check every reader's `read_at` starts with.
pub fn check_read(offset: u64, len: usize, size: u64) -> io::Result<()> {
    if offset.checked_add(len as u64).is_none_or(|e| e > size) {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("read of {len} bytes at {offset} is past the virtual size {size}"),
        ));
    }
    Ok(())
}

impl<T: BlockSource + ?Sized> BlockSource for &mut T {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn extents(&mut self) -> io::Result<Vec<Extent>> {
        (**self).extents()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_at(offset, buf)
    }
}

impl<T: BlockSource + ?Sized> BlockSource for Box<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn extents(&mut self) -> io::Result<Vec<Extent>> {
        (**self).extents()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_at(offset, buf)
    }
}

/// Positioned reads from the storage an image file lives in: a [`File`], or
/// bytes in memory (tests, fuzzing, an image inside another container).
pub trait ReadAt {
    /// Fills `buf` from `offset`; fails with `UnexpectedEof` past the end.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Length of the storage in bytes.
    fn size(&self) -> io::Result<u64>;

    /// The parts of `[start, end)` that may hold data; the rest reads as
    /// zeros. Files answer from `SEEK_DATA`/`SEEK_HOLE`; the default is all of it.
    fn data_ranges(&self, start: u64, end: u64) -> io::Result<Vec<Extent>> {
        Ok(if end > start {
            vec![Extent::new(start, end - start)]
        } else {
            Vec::new()
        })
    }
}

impl ReadAt for File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
    fn data_ranges(&self, start: u64, end: u64) -> io::Result<Vec<Extent>> {
        file_data_ranges(self, start, end)
    }
    fn size(&self) -> io::Result<u64> {
        // Seeking works for block devices too, where metadata says 0.
        let mut f = self;
        f.seek(SeekFrom::End(0))
    }
}

fn read_from_slice(data: &[u8], buf: &mut [u8], offset: u64) -> io::Result<()> {
    let start = usize::try_from(offset).ok().filter(|&s| s <= data.len());
    match start.and_then(|s| data.get(s..s.checked_add(buf.len())?)) {
        Some(src) => {
            buf.copy_from_slice(src);
            Ok(())
        }
        None => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "read of {} bytes at offset {offset} is past the end ({} bytes)",
                buf.len(),
                data.len()
            ),
        )),
    }
}

impl ReadAt for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        read_from_slice(self, buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(<[u8]>::len(self) as u64)
    }
}

impl ReadAt for Vec<u8> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        read_from_slice(self, buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(Vec::len(self) as u64)
    }
}

impl ReadAt for Bytes {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        read_from_slice(self, buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(Bytes::len(self) as u64)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
    fn data_ranges(&self, start: u64, end: u64) -> io::Result<Vec<Extent>> {
        (**self).data_ranges(start, end)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Box<T> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
    fn data_ranges(&self, start: u64, end: u64) -> io::Result<Vec<Extent>> {
        (**self).data_ranges(start, end)
    }
}

impl<T: ReadAt + ?Sized> ReadAt for std::sync::Arc<T> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
    fn data_ranges(&self, start: u64, end: u64) -> io::Result<Vec<Extent>> {
        (**self).data_ranges(start, end)
    }
}

/// A window of another storage: `len` bytes from `offset` (a disk inside
/// an archive member).
#[derive(Clone, Debug)]
pub struct Window<R> {
    inner: R,
    offset: u64,
    len: u64,
}

impl<R: ReadAt> Window<R> {
    /// The `len` bytes of `inner` from `offset`; fails if they are not all there.
    pub fn new(inner: R, offset: u64, len: u64) -> io::Result<Self> {
        if offset
            .checked_add(len)
            .is_none_or(|e| e > inner.size().unwrap_or(0))
        {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("window of {len} bytes at {offset} is past the end"),
            ));
        }
        Ok(Window { inner, offset, len })
    }
}

impl<R: ReadAt> ReadAt for Window<R> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > self.len)
        {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {} bytes at {offset} is past the end ({} bytes)",
                    buf.len(),
                    self.len
                ),
            ));
        }
        self.inner.read_exact_at(buf, self.offset + offset)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.len)
    }
    fn data_ranges(&self, start: u64, end: u64) -> io::Result<Vec<Extent>> {
        let end = end.min(self.len);
        Ok(self
            .inner
            .data_ranges(self.offset + start, self.offset + end)?
            .into_iter()
            .map(|e| Extent::new(e.offset - self.offset, e.len))
            .collect())
    }
}

/// A position in a [`ReadAt`] storage, so that it reads as a stream:
/// [`io::Read`] and [`io::Seek`] for libraries that want them (a tar reader
/// over an archive, a hasher over a [`Window`]).
#[derive(Clone, Debug)]
pub struct ReadAtCursor<R> {
    inner: R,
    pos: u64,
    len: u64,
}

impl<R: ReadAt> ReadAtCursor<R> {
    /// A cursor at the start of `inner`.
    pub fn new(inner: R) -> io::Result<Self> {
        let len = inner.size()?;
        Ok(ReadAtCursor { inner, pos: 0, len })
    }
    /// The storage it reads.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}

impl<R: ReadAt> io::Read for ReadAtCursor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.len.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        self.inner.read_exact_at(&mut buf[..n], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: ReadAt> io::Seek for ReadAtCursor<R> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let (base, delta) = match to {
            io::SeekFrom::Start(p) => (p, 0),
            io::SeekFrom::Current(d) => (self.pos, d),
            io::SeekFrom::End(d) => (self.len, d),
        };
        self.pos = base.checked_add_signed(delta).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("seek to {base} {delta:+} is before the start or past 2^64"),
            )
        })?;
        Ok(self.pos)
    }
}

/// `[start, end)` of `file` without its holes, from `SEEK_DATA`/`SEEK_HOLE`.
fn file_data_ranges(file: &File, start: u64, end: u64) -> io::Result<Vec<Extent>> {
    use rustix::fs::{seek, SeekFrom as RSeek};
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        let data = match seek(file, RSeek::Data(pos)) {
            Ok(d) => d,
            // No data after `pos`.
            Err(rustix::io::Errno::NXIO) => break,
            // The file system cannot tell: all of it may be data.
            Err(_) => return Ok(vec![Extent::new(start, end - start)]),
        };
        if data >= end {
            break;
        }
        let hole = seek(file, RSeek::Hole(data))
            .map_err(io::Error::from)?
            .min(end);
        if hole <= data {
            break;
        }
        out.push(Extent::new(data, hole - data));
        pos = hole;
    }
    Ok(out)
}

/// A raw disk image file. Its holes come from `SEEK_DATA`/`SEEK_HOLE`, so
/// reading a sparse file costs what its data costs.
#[derive(Debug)]
pub struct RawFile {
    file: File,
    size: u64,
}

impl RawFile {
    /// Uses `file` (a regular file or a block device) as a raw disk.
    pub fn new(file: File) -> io::Result<Self> {
        let size = ReadAt::size(&file)?;
        Ok(RawFile { file, size })
    }

    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl BlockSource for RawFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn extents(&mut self) -> io::Result<Vec<Extent>> {
        file_data_ranges(&self.file, 0, self.size)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        FileExt::read_exact_at(&self.file, buf, offset)
    }
}

/// A virtual disk held in memory, reporting itself as one extent.
#[derive(Clone, Debug)]
pub struct MemSource {
    data: Bytes,
}

impl MemSource {
    /// A disk whose contents are `data`.
    pub fn new(data: impl Into<Bytes>) -> Self {
        MemSource { data: data.into() }
    }
}

impl BlockSource for MemSource {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
    fn extents(&mut self) -> io::Result<Vec<Extent>> {
        Ok(if self.data.is_empty() {
            Vec::new()
        } else {
            vec![Extent::new(0, self.data.len() as u64)]
        })
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        read_from_slice(&self.data, buf, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn raw_file_reports_holes() {
        let mut f = tempfile::tempfile().unwrap();
        f.set_len(64 << 20).unwrap();
        f.seek(SeekFrom::Start(8 << 20)).unwrap();
        f.write_all(&[1u8; 4096]).unwrap();
        let mut raw = RawFile::new(f).unwrap();
        assert_eq!(raw.size(), 64 << 20);
        let extents = raw.extents().unwrap();
        // File systems without hole support report everything as data.
        let covered: u64 = extents.iter().map(|e| e.len).sum();
        assert!(extents
            .iter()
            .any(|e| e.offset <= 8 << 20 && e.end() >= (8 << 20) + 4096));
        assert!(covered == 64 << 20 || covered < 4 << 20, "{extents:?}");
    }

    #[test]
    fn slice_reads_are_bounds_checked() {
        let data = vec![7u8; 10];
        let mut buf = [0u8; 4];
        assert!(data.read_exact_at(&mut buf, 6).is_ok());
        assert!(data.read_exact_at(&mut buf, 7).is_err());
        assert!(data.read_exact_at(&mut buf, u64::MAX).is_err());
    }
}
