//! On-disk structures of ECMA-119 (ISO 9660), Joliet and El Torito: field
//! offsets, both-endian numbers and the two date formats.

/// Bytes per logical sector (and logical block) of every image this crate
/// writes or reads.
pub const SECTOR: u64 = 2048;
/// The system area: sectors 0–15, free for a boot MBR and GPT.
pub const SYSTEM_AREA_SECTORS: u64 = 16;
/// The standard identifier of every volume descriptor.
pub const CD001: &[u8; 5] = b"CD001";

/// Volume descriptor types.
pub const VD_BOOT: u8 = 0;
/// Primary volume descriptor.
pub const VD_PRIMARY: u8 = 1;
/// Supplementary volume descriptor (Joliet).
pub const VD_SUPPLEMENTARY: u8 = 2;
/// Volume descriptor set terminator.
pub const VD_TERMINATOR: u8 = 255;

/// Longest name of an entry, in bytes (Linux's `NAME_MAX`): the writer
/// takes no longer name and the reader lists none.
pub const MAX_NAME: usize = 255;
/// Longest path of an entry from the root, in bytes (Linux's `PATH_MAX`
/// less its NUL, the longest path an extraction could make).
pub const MAX_PATH: usize = 4095;
/// Longest symbolic link target, in bytes (`PATH_MAX` less its NUL).
pub const MAX_SYMLINK: usize = 4095;

/// Directory record flag: a directory.
pub const FLAG_DIRECTORY: u8 = 0x02;
/// Directory record flag: more records of the same file follow.
pub const FLAG_MULTI_EXTENT: u8 = 0x80;

/// Offsets inside a volume descriptor.
pub mod vd {
    /// System identifier (32 bytes).
    pub const SYSTEM_ID: usize = 8;
    /// Volume identifier (32 bytes).
    pub const VOLUME_ID: usize = 40;
    /// Volume space size (both-endian u32).
    pub const SPACE_SIZE: usize = 80;
    /// Escape sequences of a supplementary descriptor (32 bytes).
    pub const ESCAPES: usize = 88;
    /// Volume set size (both-endian u16).
    pub const SET_SIZE: usize = 120;
    /// Volume sequence number (both-endian u16).
    pub const SEQUENCE: usize = 124;
    /// Logical block size (both-endian u16).
    pub const BLOCK_SIZE: usize = 128;
    /// Path table size (both-endian u32).
    pub const PATH_TABLE_SIZE: usize = 132;
    /// Type L path table location (u32 LE).
    pub const L_TABLE: usize = 140;
    /// Type M path table location (u32 BE).
    pub const M_TABLE: usize = 148;
    /// Root directory record (34 bytes).
    pub const ROOT: usize = 156;
    /// Volume set identifier (128 bytes).
    pub const VOLUME_SET_ID: usize = 190;
    /// Publisher identifier (128 bytes).
    pub const PUBLISHER_ID: usize = 318;
    /// Data preparer identifier (128 bytes).
    pub const PREPARER_ID: usize = 446;
    /// Application identifier (128 bytes).
    pub const APPLICATION_ID: usize = 574;
    /// Creation date (17 bytes).
    pub const CREATED: usize = 813;
    /// Modification date (17 bytes).
    pub const MODIFIED: usize = 830;
    /// Expiration date (17 bytes).
    pub const EXPIRES: usize = 847;
    /// Effective date (17 bytes).
    pub const EFFECTIVE: usize = 864;
    /// File structure version (1).
    pub const FILE_STRUCTURE: usize = 881;
    /// El Torito boot record: boot system identifier (32 bytes).
    pub const BOOT_SYSTEM_ID: usize = 7;
    /// El Torito boot record: catalog sector (u32 LE).
    pub const BOOT_CATALOG: usize = 71;
}

/// The boot system identifier of an El Torito boot record.
pub const EL_TORITO_ID: &[u8] = b"EL TORITO SPECIFICATION";
/// Joliet UCS-2 level 3 escape sequence.
pub const JOLIET_LEVEL3: &[u8; 3] = b"%/E";

/// Writes `v` little-endian then big-endian (ECMA-119 7.2.3 / 7.3.3).
pub fn put_both_u32(buf: &mut [u8], v: u32) {
    buf[..4].copy_from_slice(&v.to_le_bytes());
    buf[4..8].copy_from_slice(&v.to_be_bytes());
}

/// Writes `v` little-endian then big-endian as a 16-bit field.
pub fn put_both_u16(buf: &mut [u8], v: u16) {
    buf[..2].copy_from_slice(&v.to_le_bytes());
    buf[2..4].copy_from_slice(&v.to_be_bytes());
}

/// The little-endian half of a both-endian u32 (readers trust this half,
/// as the Linux kernel does).
pub fn get_u32_le(buf: &[u8]) -> u32 {
    u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]])
}

/// The little-endian half of a both-endian u16.
pub fn get_u16_le(buf: &[u8]) -> u16 {
    u16::from_le_bytes([buf[0], buf[1]])
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A broken-down UTC time: (year, month, day, hour, minute, second).
pub fn utc(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (y, m, d) = blocksink::civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    (
        y,
        m,
        d,
        (s / 3600) as u32,
        (s / 60 % 60) as u32,
        (s % 60) as u32,
    )
}

/// The 7-byte directory record date (ECMA-119 9.1.5), in UTC; years
/// outside 1900–2155 are clamped.
pub fn dir_date(unix: i64) -> [u8; 7] {
    let (y, mo, d, h, mi, s) = utc(unix.clamp(-2_208_988_800, 5_938_735_999));
    [
        (y - 1900) as u8,
        mo as u8,
        d as u8,
        h as u8,
        mi as u8,
        s as u8,
        0,
    ]
}

/// Reads a 7-byte directory record date as seconds since 1970 (UTC).
pub fn parse_dir_date(b: &[u8]) -> i64 {
    let year = 1900 + i64::from(b[0]);
    let (mo, d) = (u32::from(b[1]).clamp(1, 12), u32::from(b[2]).clamp(1, 31));
    let offset = i64::from(b[6] as i8) * 15 * 60;
    days_from_civil(year, mo, d) * 86_400
        + i64::from(b[3]) * 3600
        + i64::from(b[4]) * 60
        + i64::from(b[5])
        - offset
}

/// The 17-byte volume descriptor date (ECMA-119 8.4.26.1), in UTC.
pub fn volume_date(unix: i64) -> [u8; 17] {
    let (y, mo, d, h, mi, s) = utc(unix.clamp(0, 253_402_300_799));
    let text = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}00");
    let mut out = [0u8; 17];
    out[..16].copy_from_slice(text.as_bytes());
    out
}

/// The "not specified" volume descriptor date: sixteen `0` digits and a
/// zero offset.
pub fn no_volume_date() -> [u8; 17] {
    let mut out = [b'0'; 17];
    out[16] = 0;
    out
}

/// Reads a 17-byte volume date as text "YYYY-MM-DD HH:MM:SS", or `None`
/// when it is unset or not digits.
pub fn parse_volume_date(b: &[u8]) -> Option<String> {
    let digits = &b[..16];
    if !digits.iter().all(u8::is_ascii_digit) || digits.iter().all(|&c| c == b'0') {
        return None;
    }
    let s = std::str::from_utf8(digits).ok()?;
    Some(format!(
        "{}-{}-{} {}:{}:{}",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14]
    ))
}

/// Writes `text` into a fixed field, padded with spaces (a-/d-characters
/// are the caller's business).
pub fn put_padded(buf: &mut [u8], text: &[u8]) {
    let n = text.len().min(buf.len());
    buf[..n].copy_from_slice(&text[..n]);
    buf[n..].fill(b' ');
}

/// Writes `text` as UCS-2 big-endian into a fixed Joliet field, padded with
/// UCS-2 spaces.
pub fn put_padded_ucs2(buf: &mut [u8], text: &str) {
    let mut units: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    units.truncate(buf.len() & !1);
    let n = units.len();
    buf[..n].copy_from_slice(&units);
    for pair in buf[n..].chunks_mut(2) {
        pair[0] = 0;
        if pair.len() == 2 {
            pair[1] = b' ';
        }
    }
}

/// A fixed text field as a trimmed string (Joliet fields decoded as UCS-2).
pub fn field_text(b: &[u8], ucs2: bool) -> String {
    let s = if ucs2 {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(b).into_owned()
    };
    s.trim_end_matches([' ', '\0']).to_string()
}

/// The fixed part of a directory record (before the identifier).
pub const DR_FIXED: usize = 33;

/// Encodes a directory record: `extent` and `size` of the data, `date`,
/// `flags`, identifier `id` and system use bytes `su`. The caller keeps the
/// total within 255 bytes.
pub fn dir_record(
    extent: u32,
    size: u32,
    date: [u8; 7],
    flags: u8,
    id: &[u8],
    su: &[u8],
) -> Vec<u8> {
    let pad = usize::from(id.len() % 2 == 0);
    let len = DR_FIXED + id.len() + pad + su.len();
    debug_assert!(len <= 255);
    let mut r = vec![0u8; len];
    r[0] = len as u8;
    put_both_u32(&mut r[2..10], extent);
    put_both_u32(&mut r[10..18], size);
    r[18..25].copy_from_slice(&date);
    r[25] = flags;
    put_both_u16(&mut r[28..32], 1);
    r[32] = id.len() as u8;
    r[33..33 + id.len()].copy_from_slice(id);
    r[33 + id.len() + pad..].copy_from_slice(su);
    r
}

/// Length of a directory record with identifier length `id_len` and
/// `su_len` bytes of system use.
pub fn dir_record_len(id_len: usize, su_len: usize) -> usize {
    DR_FIXED + id_len + usize::from(id_len % 2 == 0) + su_len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for t in [0i64, 951_782_400, 1_700_000_000, 4_102_444_800, -86_400] {
            assert_eq!(parse_dir_date(&dir_date(t)), t);
        }
        assert_eq!(&volume_date(1_700_000_000)[..16], b"2023111422132000");
        assert_eq!(
            parse_volume_date(&volume_date(0)).as_deref(),
            Some("1970-01-01 00:00:00")
        );
        assert_eq!(parse_volume_date(&no_volume_date()), None);
    }

    #[test]
    fn records_are_padded_to_even_length() {
        let r = dir_record(20, 2048, dir_date(0), FLAG_DIRECTORY, &[0], b"");
        assert_eq!(r.len(), 34);
        let r = dir_record(20, 2048, dir_date(0), 0, b"AB", b"XY");
        assert_eq!((r.len(), r[0]), (38, 38));
        assert_eq!(dir_record_len(2, 2), 38);
    }
}
