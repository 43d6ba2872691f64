// Shared by the fuzz targets: drive a reader the way a conversion would.

use blocksink::BlockSource;

/// Lists the extents and reads them, at most `budget` bytes in all, so a
/// huge claimed disk does not turn into a slow run.
pub fn read_some(src: &mut dyn BlockSource, mut budget: u64) {
    let Ok(extents) = src.extents() else { return };
    let mut buf = vec![0u8; 64 * 1024];
    for e in extents {
        assert!(
            e.end() <= src.size() || e.len == 0,
            "extent past the disk end"
        );
        let mut pos = e.offset;
        while pos < e.end() && budget > 0 {
            let n = (e.end() - pos).min(buf.len() as u64).min(budget) as usize;
            let _ = src.read_at(pos, &mut buf[..n]);
            budget -= n as u64;
            pos += n as u64;
        }
    }
    // Reads past the end must fail, not panic.
    let size = src.size();
    assert!(src.read_at(size, &mut buf[..1]).is_err());
}

/// An image that is mostly hole: a length and a few pieces of bytes, zeros
/// elsewhere, so a target can lay out a file of megabytes from a few hundred
/// bytes of input.
#[allow(dead_code)]
pub struct SparseImage {
    len: u64,
    pieces: Vec<(u64, Vec<u8>)>,
}

#[allow(dead_code)]
impl SparseImage {
    pub fn new(len: u64) -> Self {
        SparseImage {
            len,
            pieces: Vec::new(),
        }
    }
    /// Puts `bytes` at `at` (later pieces over earlier ones); the image
    /// grows to hold them.
    pub fn put(&mut self, at: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.len = self.len.max(at + bytes.len() as u64);
        self.pieces.push((at, bytes.to_vec()));
    }
}

impl blocksink::ReadAt for SparseImage {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|e| *e <= self.len)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.fill(0);
        for (at, bytes) in &self.pieces {
            let p_end = at + bytes.len() as u64;
            if p_end <= offset || *at >= end {
                continue;
            }
            let from = offset.max(*at);
            let to = end.min(p_end);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&bytes[(from - at) as usize..(to - at) as usize]);
        }
        Ok(())
    }
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.len)
    }
}
