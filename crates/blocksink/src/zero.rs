use std::ops::Range;

/// Size of the blocks the fan-out tests for zeros: a run of data that sinks
/// receive starts and ends on this granularity (or at the end of the disk).
pub const ZERO_GRANULARITY: u64 = 4096;

/// Whether every byte of `buf` is zero.
pub fn is_zero(buf: &[u8]) -> bool {
    // Wide words first; the compiler turns this into vector compares.
    let mut words = buf.chunks_exact(16);
    let wide = words
        .by_ref()
        .all(|w| u128::from_ne_bytes(w.try_into().unwrap_or([1; 16])) == 0);
    wide && words.remainder().iter().all(|&b| b == 0)
}

/// The ranges of `buf` (which holds the disk bytes starting at `base`) that
/// are not zero, in blocks of [`ZERO_GRANULARITY`] aligned to disk offsets.
/// Returned ranges are indices into `buf`; adjacent non-zero blocks are merged.
pub fn nonzero_runs(buf: &[u8], base: u64) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    let mut start = 0usize;
    while start < buf.len() {
        let abs = base + start as u64;
        let to_boundary = (ZERO_GRANULARITY - abs % ZERO_GRANULARITY) as usize;
        let end = (start + to_boundary).min(buf.len());
        if !is_zero(&buf[start..end]) {
            match runs.last_mut() {
                Some(last) if last.end == start => last.end = end,
                _ => runs.push(start..end),
            }
        }
        start = end;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_check_sees_every_byte() {
        for len in [0usize, 1, 15, 16, 17, 4096, 4099] {
            let mut buf = vec![0u8; len];
            assert!(is_zero(&buf));
            for i in 0..len {
                buf[i] = 1;
                assert!(!is_zero(&buf), "len {len} byte {i}");
                buf[i] = 0;
            }
        }
    }

    #[test]
    fn runs_follow_disk_alignment() {
        // A buffer that starts 100 bytes before a 4 KiB boundary.
        let base = ZERO_GRANULARITY - 100;
        let mut buf = vec![0u8; 100 + 3 * 4096 + 7];
        buf[5] = 1; // first partial block
        buf[100 + 4096 + 1] = 1; // second full block
        buf[100 + 3 * 4096 + 6] = 1; // trailing partial block
        let runs = nonzero_runs(&buf, base);
        assert_eq!(
            runs,
            vec![
                0..100,
                100 + 4096..100 + 2 * 4096,
                100 + 3 * 4096..buf.len()
            ]
        );
    }
}
