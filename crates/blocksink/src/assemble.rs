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

#[cfg(test)]
mod tests {
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
