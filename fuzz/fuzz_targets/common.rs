// Shared by the fuzz targets: drive a reader the way a conversion would.

use blocksink::BlockSource;

/// Lists the extents and reads them, at most `budget` bytes in all, so a
/// huge claimed disk does not turn into a slow run.
pub fn read_some(src: &mut dyn BlockSource, mut budget: u64) {
    let Ok(extents) = src.extents() else { return };
    let mut buf = vec![0u8; 64 * 1024];
    for e in extents {
        assert!(e.end() <= src.size() || e.len == 0, "extent past the disk end");
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
