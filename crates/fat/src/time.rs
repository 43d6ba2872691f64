//! FAT's dates and times.

/// FAT's (date, time) for `unix`, clamped to what it can say: 1980-01-01
/// to 2107-12-31 23:59:58, in two-second steps.
pub(crate) fn dos_time(unix: u64) -> (u16, u16) {
    const FIRST: u64 = 315_532_800; // 1980-01-01
    const LAST: u64 = 4_354_819_198; // 2107-12-31 23:59:58
    let unix = unix.clamp(FIRST, LAST);
    let (y, mo, d) = blocksink::civil_from_days((unix / 86_400) as i64);
    let s = unix % 86_400;
    let (h, mi, s) = (s / 3600, s / 60 % 60, s % 60);
    let date = ((y - 1980) as u16) << 9 | (mo as u16) << 5 | d as u16;
    let time = (h as u16) << 11 | (mi as u16) << 5 | (s / 2) as u16;
    (date, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_clamp_to_fat_range() {
        assert_eq!(dos_time(0), (1 << 5 | 1, 0));
        // 2023-11-14 22:13:20 UTC
        assert_eq!(
            dos_time(1_700_000_000),
            (43 << 9 | 11 << 5 | 14, 22 << 11 | 13 << 5 | 10)
        );
        assert_eq!(
            dos_time(u64::MAX),
            (127 << 9 | 12 << 5 | 31, 23 << 11 | 59 << 5 | 29)
        );
        // Leap days and the turn of a century.
        assert_eq!(blocksink::civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(blocksink::civil_from_days(-1), (1969, 12, 31));
    }
}
