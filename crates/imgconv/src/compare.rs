//! `imgconv compare`: do two images hold the same disk?

use std::path::Path;

use blocksink::{merge_extents, Extent, CHUNK_SIZE};

use crate::{open_image, Error, Result};

/// The outcome of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Comparison {
    /// The same contents (a larger disk's extra bytes are all zero).
    Identical {
        /// Whether the virtual sizes differ.
        size_mismatch: bool,
    },
    /// The first byte offset where the contents differ.
    Differ {
        /// Offset of the first differing byte.
        offset: u64,
    },
}

/// Compares the virtual disks of two images, as `qemu-img compare` does
/// without `-s`: a size difference is fine when the extra part is zero.
pub fn compare(a: &Path, b: &Path) -> Result<Comparison> {
    let mut ia = open_image(a)?;
    let mut ib = open_image(b)?;
    let (sa, sb) = (ia.source.size(), ib.source.size());
    let mut extents = ia.source.extents().map_err(|e| Error::image(a, e))?;
    extents.extend(ib.source.extents().map_err(|e| Error::image(b, e))?);
    let extents = merge_extents(extents);
    let mut buf_a = vec![0u8; CHUNK_SIZE as usize];
    let mut buf_b = vec![0u8; CHUNK_SIZE as usize];
    for Extent { offset, len } in extents {
        let end = offset + len;
        let mut pos = offset;
        while pos < end {
            let n = (end - pos).min(CHUNK_SIZE) as usize;
            for (src, size, buf, path) in [
                (&mut ia.source, sa, &mut buf_a, a),
                (&mut ib.source, sb, &mut buf_b, b),
            ] {
                let buf = &mut buf[..n];
                buf.fill(0);
                let readable = size.saturating_sub(pos).min(n as u64) as usize;
                src.read_at(pos, &mut buf[..readable])
                    .map_err(|e| Error::image(path, format!("reading offset {pos}: {e}")))?;
            }
            if buf_a[..n] != buf_b[..n] {
                let i = buf_a[..n]
                    .iter()
                    .zip(&buf_b[..n])
                    .position(|(x, y)| x != y)
                    .unwrap_or(0);
                return Ok(Comparison::Differ {
                    offset: pos + i as u64,
                });
            }
            pos += n as u64;
        }
    }
    Ok(Comparison::Identical {
        size_mismatch: sa != sb,
    })
}
