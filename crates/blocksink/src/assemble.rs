use bytes::Bytes;

/// One fixed-size block of a virtual disk, cut from the runs a sink receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Block number: the disk offset divided by the block size.
    pub index: u64,
    /// Exactly one block of bytes; what no run covered is zero.
    pub data: Bytes,
}

/// Re-cuts the ascending data runs of a fan-out into the fixed-size blocks a
/// format allocates (qcow2 clusters, VHD blocks, VMDK grains).
///
/// A run that covers a whole aligned block is passed on without copying; a
/// block that runs only partly cover is assembled in a zeroed buffer and
/// handed out as soon as a later write moves past it.
#[derive(Debug)]
pub struct BlockAssembler {
    block_size: u64,
    partial: Option<(u64, Vec<u8>)>,
}

impl BlockAssembler {
    /// Cuts into blocks of `block_size` bytes (non-zero).
    pub fn new(block_size: u64) -> Self {
        assert!(block_size > 0, "block size must not be zero");
        BlockAssembler {
            block_size,
            partial: None,
        }
    }

    /// The block size.
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// Takes the run `data` at disk `offset` (after every earlier run) and
    /// returns the blocks it completes, in ascending order.
    pub fn push(&mut self, offset: u64, mut data: Bytes) -> Vec<Block> {
        let bs = self.block_size;
        let mut out = Vec::new();
        let mut offset = offset;
        while !data.is_empty() {
            let index = offset / bs;
            let within = (offset % bs) as usize;
            if matches!(&self.partial, Some((i, _)) if *i != index) {
                out.extend(self.flush());
            }
            let n = (bs as usize - within).min(data.len());
            if within == 0 && n == bs as usize && self.partial.is_none() {
                out.push(Block {
                    index,
                    data: data.split_to(n),
                });
            } else {
                let (_, buf) = self
                    .partial
                    .get_or_insert_with(|| (index, vec![0u8; bs as usize]));
                buf[within..within + n].copy_from_slice(&data.split_to(n));
                if within + n == bs as usize {
                    out.extend(self.flush());
                }
            }
            offset += n as u64;
        }
        out
    }

    /// Hands out the block being assembled, if any.
    pub fn flush(&mut self) -> Option<Block> {
        self.partial.take().map(|(index, buf)| Block {
            index,
            data: Bytes::from(buf),
        })
    }
}

/// Cuts the run `data` at disk `offset` where it crosses blocks of
/// `block_size`: (block number, offset within the block, piece), without
/// copying. For formats that place each block's data as it comes.
pub fn split_at_blocks(
    offset: u64,
    data: Bytes,
    block_size: u64,
) -> impl Iterator<Item = (u64, u64, Bytes)> {
    let mut offset = offset;
    let mut data = data;
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let within = offset % block_size;
        let n = ((block_size - within) as usize).min(data.len());
        let piece = data.split_to(n);
        let item = (offset / block_size, within, piece);
        offset += n as u64;
        Some(item)
    })
}

/// Maps the run `data` at disk `offset` into a file whose blocks of
/// `block_size` lie where `locate(block)` says, and returns the pieces to
/// write as (file offset, bytes): neighbouring blocks that also neighbour in
/// the file come back as one piece (one write of up to the whole run).
pub fn place_run<E>(
    offset: u64,
    data: Bytes,
    block_size: u64,
    mut locate: impl FnMut(u64) -> Result<u64, E>,
) -> Result<Vec<(u64, Bytes)>, E> {
    let mut out = Vec::new();
    // (file offset, start and end in `data`) of the piece being grown.
    let mut cur: Option<(u64, usize, usize)> = None;
    let mut pos = 0usize;
    for (block, within, piece) in split_at_blocks(offset, data.clone(), block_size) {
        let at = locate(block)? + within;
        let len = piece.len();
        match &mut cur {
            Some((start, a, b)) if *start + (*b - *a) as u64 == at => *b += len,
            _ => {
                if let Some((start, a, b)) = cur.take() {
                    out.push((start, data.slice(a..b)));
                }
                cur = Some((at, pos, pos + len));
            }
        }
        pos += len;
    }
    if let Some((start, a, b)) = cur {
        out.push((start, data.slice(a..b)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn placed_runs_merge_where_the_file_allows() {
        let data = bytes::Bytes::from_static(b"0123456789abcdef");
        // Blocks 0, 1, 2 at file offsets 100, 108, 200.
        let pieces =
            super::place_run::<()>(4, data, 8, |b| Ok([100, 108, 200][b as usize])).unwrap();
        let got: Vec<(u64, &[u8])> = pieces.iter().map(|(o, d)| (*o, &d[..])).collect();
        assert_eq!(got, vec![(104, &b"0123456789ab"[..]), (200, &b"cdef"[..])]);
    }

    #[test]
    fn runs_split_at_block_edges() {
        let pieces: Vec<(u64, u64, usize)> =
            super::split_at_blocks(6, bytes::Bytes::from_static(b"0123456789abcdef"), 8)
                .map(|(b, w, p)| (b, w, p.len()))
                .collect();
        assert_eq!(pieces, vec![(0, 6, 2), (1, 0, 8), (2, 0, 6)]);
    }
}

#[cfg(test)]
mod assembler_tests {
    use super::*;

    #[test]
    fn whole_blocks_pass_through_and_partial_ones_assemble() {
        let mut a = BlockAssembler::new(8);
        let run = Bytes::from_static(b"abcdefghijklmnopqr");
        // 2..20: partial block 0, whole block 1, partial block 2.
        let blocks = a.push(2, run.clone());
        assert_eq!(blocks.len(), 2);
        assert_eq!(&blocks[0].data[..], b"\0\0abcdef");
        assert_eq!(blocks[1].index, 1);
        assert_eq!(&blocks[1].data[..], b"ghijklmn");
        assert_eq!(blocks[1].data.as_ptr(), run[6..].as_ptr(), "not copied");
        // More data in block 2 joins the partial block.
        assert!(a.push(21, Bytes::from_static(b"X")).is_empty());
        let blocks = a.push(40, Bytes::from_static(b"Z"));
        assert_eq!(blocks.len(), 1);
        assert_eq!(&blocks[0].data[..], b"opqr\0X\0\0");
        let last = a.flush().unwrap();
        assert_eq!((last.index, &last.data[..]), (5, &b"Z\0\0\0\0\0\0\0"[..]));
        assert!(a.flush().is_none());
    }
}
