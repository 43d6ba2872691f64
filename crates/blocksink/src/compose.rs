use std::io;

use bytes::Bytes;

use crate::{merge_extents, BlockSource, Extent};

/// A virtual disk assembled from pieces placed at offsets: tables held in
/// memory and partition images read from their own sources. Nothing is
/// copied into a whole-disk file; what no piece covers reads as zeros.
///
/// ```
/// use blocksink::{AssembledDisk, BlockSource, MemSource};
///
/// let mut disk = AssembledDisk::new(1 << 20);
/// disk.place_bytes(0, vec![0xeb; 512])?;
/// disk.place(4096, Box::new(MemSource::new(vec![7u8; 8192])))?;
/// let mut buf = [0u8; 16];
/// disk.read_at(4096 - 8, &mut buf)?;
/// assert_eq!(buf, [0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7]);
/// assert_eq!(disk.extents()?.len(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct AssembledDisk {
    size: u64,
    /// Ascending, non-overlapping.
    pieces: Vec<Piece>,
}

struct Piece {
    offset: u64,
    len: u64,
    content: Content,
}

enum Content {
    Bytes(Bytes),
    Source(Box<dyn BlockSource>),
}

impl std::fmt::Debug for AssembledDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pieces: Vec<(u64, u64)> = self.pieces.iter().map(|p| (p.offset, p.len)).collect();
        f.debug_struct("AssembledDisk")
            .field("size", &self.size)
            .field("pieces", &pieces)
            .finish()
    }
}

impl AssembledDisk {
    /// An all-zero disk of `size` bytes.
    pub fn new(size: u64) -> Self {
        AssembledDisk {
            size,
            pieces: Vec::new(),
        }
    }

    /// Places `bytes` at `offset`.
    pub fn place_bytes(&mut self, offset: u64, bytes: impl Into<Bytes>) -> io::Result<()> {
        let bytes = bytes.into();
        let len = bytes.len() as u64;
        self.insert(Piece {
            offset,
            len,
            content: Content::Bytes(bytes),
        })
    }

    /// Places the whole of `source` at `offset`.
    pub fn place(&mut self, offset: u64, source: Box<dyn BlockSource>) -> io::Result<()> {
        let len = source.size();
        self.insert(Piece {
            offset,
            len,
            content: Content::Source(source),
        })
    }

    fn insert(&mut self, piece: Piece) -> io::Result<()> {
        let end = piece.offset.checked_add(piece.len);
        if end.is_none_or(|e| e > self.size) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} bytes at {} do not fit a {}-byte disk",
                    piece.len, piece.offset, self.size
                ),
            ));
        }
        let at = self.pieces.partition_point(|p| p.offset < piece.offset);
        let clash =
            |p: &Piece| p.offset < piece.offset + piece.len && piece.offset < p.offset + p.len;
        if let Some(p) = [at.checked_sub(1), Some(at)]
            .into_iter()
            .flatten()
            .filter_map(|i| self.pieces.get(i))
            .find(|p| p.len > 0 && piece.len > 0 && clash(p))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} bytes at {} overlap the {} bytes placed at {}",
                    piece.len, piece.offset, p.len, p.offset
                ),
            ));
        }
        self.pieces.insert(at, piece);
        Ok(())
    }
}

impl BlockSource for AssembledDisk {
    fn size(&self) -> u64 {
        self.size
    }

    fn extents(&mut self) -> io::Result<Vec<Extent>> {
        let mut out = Vec::new();
        for p in &mut self.pieces {
            match &mut p.content {
                Content::Bytes(_) => out.push(Extent::new(p.offset, p.len)),
                Content::Source(s) => out.extend(
                    s.extents()?
                        .into_iter()
                        .map(|e| Extent::new(p.offset + e.offset, e.len)),
                ),
            }
        }
        Ok(merge_extents(out))
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        crate::check_read(offset, buf.len(), self.size)?;
        buf.fill(0);
        let end = offset + buf.len() as u64;
        let first = self.pieces.partition_point(|p| p.offset + p.len <= offset);
        for p in &mut self.pieces[first..] {
            if p.offset >= end {
                break;
            }
            let from = offset.max(p.offset);
            let to = end.min(p.offset + p.len);
            if from >= to {
                continue;
            }
            let dst = &mut buf[(from - offset) as usize..(to - offset) as usize];
            let within = from - p.offset;
            match &mut p.content {
                Content::Bytes(b) => {
                    dst.copy_from_slice(&b[within as usize..within as usize + dst.len()])
                }
                Content::Source(s) => s.read_at(within, dst)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemSource;

    #[test]
    fn pieces_read_in_place_and_refuse_overlap() {
        let mut d = AssembledDisk::new(100);
        d.place_bytes(90, vec![1u8; 10]).unwrap();
        d.place(10, Box::new(MemSource::new(vec![2u8; 20])))
            .unwrap();
        assert!(d.place_bytes(25, vec![3u8; 10]).is_err());
        assert!(d.place_bytes(95, vec![3u8; 10]).is_err());
        d.place_bytes(30, vec![3u8; 5]).unwrap();
        let mut all = vec![9u8; 100];
        d.read_at(0, &mut all).unwrap();
        let mut want = vec![0u8; 100];
        want[10..30].fill(2);
        want[30..35].fill(3);
        want[90..].fill(1);
        assert_eq!(all, want);
        assert_eq!(
            d.extents().unwrap(),
            vec![Extent::new(10, 25), Extent::new(90, 10)]
        );
        assert!(d.read_at(95, &mut [0u8; 10]).is_err());
    }
}
