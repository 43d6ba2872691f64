//! System Use Sharing Protocol entries and the Rock Ridge (RRIP 1.10)
//! entries carried in them: SP, ER, CE, PX, PN, SL, NM, TF, and for reading
//! also CL, PL and RE (relocated deep directories).

use crate::error::F;
use crate::format::{
    dir_date, get_u32_le, parse_dir_date, put_both_u32, MAX_NAME, MAX_SYMLINK, SECTOR,
};
use crate::Result;

/// The SUSP "SP" entry that opens the root's `.` record.
pub(crate) fn sp() -> Vec<u8> {
    vec![b'S', b'P', 7, 1, 0xBE, 0xEF, 0]
}

/// The ER entry naming RRIP 1.10, as Linux, xorriso and 7-Zip expect.
pub(crate) fn er() -> Vec<u8> {
    let id = b"RRIP_1991A";
    let des =
        b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
    let src = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";
    let mut e = vec![
        b'E',
        b'R',
        0,
        1,
        id.len() as u8,
        des.len() as u8,
        src.len() as u8,
        1,
    ];
    e.extend_from_slice(id);
    e.extend_from_slice(des);
    e.extend_from_slice(src);
    e[2] = e.len() as u8;
    e
}

/// Size of a CE entry.
pub(crate) const CE_LEN: usize = 28;

/// A CE entry pointing at `len` bytes at `offset` in sector `lba`.
pub(crate) fn ce(lba: u32, offset: u32, len: u32) -> [u8; CE_LEN] {
    let mut e = [0u8; CE_LEN];
    e[..4].copy_from_slice(&[b'C', b'E', CE_LEN as u8, 1]);
    put_both_u32(&mut e[4..12], lba);
    put_both_u32(&mut e[12..20], offset);
    put_both_u32(&mut e[20..28], len);
    e
}

/// What Rock Ridge records of one entry.
pub(crate) struct RockRidge<'a> {
    /// Full POSIX mode, file type included.
    pub mode: u32,
    /// Link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification, access and change times.
    pub times: [i64; 3],
    /// The name (not for `.` and `..`).
    pub name: Option<&'a [u8]>,
    /// A symbolic link's target.
    pub symlink: Option<&'a [u8]>,
    /// A device's number.
    pub rdev: Option<u64>,
}

fn both(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    put_both_u32(&mut b, v);
    b
}

/// The RRIP entries of one directory record, each at most 255 bytes.
pub(crate) fn rock_ridge(rr: &RockRidge<'_>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut px = vec![b'P', b'X', 36, 1];
    for v in [rr.mode, rr.nlink, rr.uid, rr.gid] {
        px.extend_from_slice(&both(v));
    }
    out.push(px);
    if let Some(rdev) = rr.rdev {
        // High and low 32 bits of the 64-bit device number, as libisofs
        // writes them (a Linux kernel decodes the usual small numbers too).
        let mut pn = vec![b'P', b'N', 20, 1];
        pn.extend_from_slice(&both((rdev >> 32) as u32));
        pn.extend_from_slice(&both(rdev as u32));
        out.push(pn);
    }
    let mut tf = vec![b'T', b'F', 26, 1, 0x0E];
    for t in rr.times {
        tf.extend_from_slice(&dir_date(t));
    }
    out.push(tf);
    if let Some(target) = rr.symlink {
        out.extend(sl_entries(target));
    }
    if let Some(name) = rr.name {
        let chunks: Vec<&[u8]> = name.chunks(250).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let more = u8::from(i + 1 < chunks.len());
            let mut nm = vec![b'N', b'M', (5 + chunk.len()) as u8, 1, more];
            nm.extend_from_slice(chunk);
            out.push(nm);
        }
    }
    out
}

/// SL entries for a symlink target: its components, a long component split
/// with the continue flag, spread over as many entries as needed.
fn sl_entries(target: &[u8]) -> Vec<Vec<u8>> {
    let mut comps: Vec<Vec<u8>> = Vec::new();
    if target.first() == Some(&b'/') {
        comps.push(vec![0x08, 0]);
    }
    for part in target.split(|&c| c == b'/').filter(|p| !p.is_empty()) {
        match part {
            b"." => comps.push(vec![0x02, 0]),
            b".." => comps.push(vec![0x04, 0]),
            _ => {
                let pieces: Vec<&[u8]> = part.chunks(240).collect();
                for (i, p) in pieces.iter().enumerate() {
                    let mut c = vec![u8::from(i + 1 < pieces.len()), p.len() as u8];
                    c.extend_from_slice(p);
                    comps.push(c);
                }
            }
        }
    }
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    for c in comps {
        if 5 + cur.len() + c.len() > 255 {
            entries.push(std::mem::take(&mut cur));
        }
        cur.extend_from_slice(&c);
    }
    entries.push(cur);
    let n = entries.len();
    entries
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let mut e = vec![b'S', b'L', (5 + body.len()) as u8, 1, u8::from(i + 1 < n)];
            e.extend_from_slice(&body);
            e
        })
        .collect()
}

/// System use bytes of one record, split between the record itself and
/// continuation areas when they do not fit.
#[derive(Clone, Debug, Default)]
pub(crate) struct Packed {
    /// Bytes inside the directory record.
    pub head: Vec<u8>,
    /// Continuation areas in order; each one but the last (and the head,
    /// when there is any) ends with a CE entry to patch.
    pub chunks: Vec<Vec<u8>>,
}

/// Packs `entries` into `room` bytes of a directory record, the rest into
/// continuation areas of at most one sector each.
pub(crate) fn pack(entries: Vec<Vec<u8>>, room: usize) -> Packed {
    let total: usize = entries.iter().map(Vec::len).sum();
    if total <= room {
        return Packed {
            head: entries.concat(),
            chunks: Vec::new(),
        };
    }
    let mut areas: Vec<Vec<u8>> = vec![Vec::new()];
    let mut limit = room;
    let mut left = total;
    for e in entries {
        let cur = areas.last_mut().expect("one area at least");
        let fits_all = cur.len() + left <= limit;
        if !fits_all && cur.len() + e.len() + CE_LEN > limit {
            cur.extend_from_slice(&[0u8; CE_LEN]);
            areas.push(Vec::new());
            limit = SECTOR as usize;
        }
        left -= e.len();
        areas
            .last_mut()
            .expect("one area at least")
            .extend_from_slice(&e);
    }
    let head = areas.remove(0);
    Packed {
        head,
        chunks: areas,
    }
}

/// Rock Ridge facts read from a record's system use area.
#[derive(Clone, Debug, Default)]
pub(crate) struct Parsed {
    /// SP found: Rock Ridge (SUSP) is in use; the skip length it gives.
    pub sp: Option<u8>,
    /// NM: the name.
    pub name: Option<Vec<u8>>,
    /// PX: mode, nlink, uid, gid.
    pub px: Option<[u32; 4]>,
    /// SL: the symlink target.
    pub symlink: Option<Vec<u8>>,
    /// PN: the device number.
    pub rdev: Option<u64>,
    /// TF: modification time.
    pub mtime: Option<i64>,
    /// RE: a relocated directory, listed under its real parent instead.
    pub relocated: bool,
    /// CL: the extent of the directory this placeholder stands for.
    pub child_link: Option<u32>,
}

/// Most continuation areas followed for one record.
const MAX_CE: usize = 32;

/// Parses the system use bytes `su` of a record; `read` fetches the
/// continuation area a CE entry points at (lba, offset, length).
pub(crate) fn parse(
    su: &[u8],
    mut read: impl FnMut(u32, u32, u32) -> Result<Vec<u8>>,
) -> Result<Parsed> {
    let mut p = Parsed::default();
    let mut area = su.to_vec();
    let mut hops = 0;
    let mut name_done = false;
    let mut sl_done = false;
    let mut sl_continues_component = false;
    loop {
        let mut next = None;
        let mut i = 0;
        while i + 4 <= area.len() {
            let (sig, len) = ([area[i], area[i + 1]], usize::from(area[i + 2]));
            if len < 4 || i + len > area.len() {
                break;
            }
            let e = &area[i..i + len];
            let body = &e[4..];
            match &sig {
                b"SP" if body.len() >= 3 && body[..2] == [0xBE, 0xEF] => p.sp = Some(body[2]),
                b"ST" => break,
                b"CE" if body.len() >= 24 => {
                    next = Some((
                        get_u32_le(&body[0..]),
                        get_u32_le(&body[8..]),
                        get_u32_le(&body[16..]),
                    ));
                }
                b"PX" if body.len() >= 32 => {
                    p.px = Some([0, 8, 16, 24].map(|o| get_u32_le(&body[o..])));
                }
                b"PN" if body.len() >= 16 => {
                    let (hi, lo) = (
                        u64::from(get_u32_le(body)),
                        u64::from(get_u32_le(&body[8..])),
                    );
                    p.rdev = Some((hi << 32) | lo);
                }
                b"NM" if !body.is_empty() && !name_done => {
                    let flags = body[0];
                    if flags & 0x06 == 0 {
                        p.name
                            .get_or_insert_with(Vec::new)
                            .extend_from_slice(&body[1..]);
                    }
                    name_done = flags & 0x01 == 0;
                    if p.name.as_ref().is_some_and(|n| n.len() > MAX_NAME) {
                        return Err(F.corrupt(format!("NM name longer than {MAX_NAME} bytes")));
                    }
                }
                b"SL" if !body.is_empty() && !sl_done => {
                    let target = p.symlink.get_or_insert_with(Vec::new);
                    let mut j = 1;
                    while j + 2 <= body.len() {
                        let (flags, clen) = (body[j], usize::from(body[j + 1]));
                        let Some(content) = body.get(j + 2..j + 2 + clen) else {
                            break;
                        };
                        let sep = !sl_continues_component && !target.is_empty() && target != b"/";
                        if sep {
                            target.push(b'/');
                        }
                        match flags & 0x0e {
                            0x08 => {
                                target.clear();
                                target.push(b'/');
                            }
                            0x02 => target.push(b'.'),
                            0x04 => target.extend_from_slice(b".."),
                            _ => target.extend_from_slice(content),
                        }
                        sl_continues_component = flags & 0x01 != 0;
                        j += 2 + clen;
                    }
                    sl_done = body[0] & 0x01 == 0;
                    if target.len() > MAX_SYMLINK {
                        return Err(F.corrupt(format!(
                            "SL symbolic link target longer than {MAX_SYMLINK} bytes"
                        )));
                    }
                }
                b"TF" if !body.is_empty() => {
                    let flags = body[0];
                    let size = if flags & 0x80 != 0 { 17 } else { 7 };
                    let mut at = 1;
                    for bit in 0..7 {
                        if flags & (1 << bit) == 0 {
                            continue;
                        }
                        if bit == 1 && size == 7 {
                            if let Some(t) = body.get(at..at + 7) {
                                p.mtime = Some(parse_dir_date(t));
                            }
                        }
                        at += size;
                    }
                }
                b"RE" => p.relocated = true,
                b"CL" if body.len() >= 8 => p.child_link = Some(get_u32_le(body)),
                _ => {}
            }
            i += len;
        }
        match next {
            Some((lba, off, len)) if hops < MAX_CE => {
                hops += 1;
                if u64::from(off) + u64::from(len) > SECTOR {
                    return Err(F.corrupt(format!(
                        "CE entry points at {len} bytes at offset {off} of sector {lba}, past the sector"
                    )));
                }
                area = read(lba, off, len)?;
            }
            Some(_) => {
                return Err(F.corrupt(format!(
                    "more than {MAX_CE} continuation areas for one record"
                )))
            }
            None => return Ok(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(rr: &RockRidge<'_>) -> Parsed {
        let packed = pack(rock_ridge(rr), 100);
        // Point each CE at the next chunk in order.
        let patch = |bytes: &mut Vec<u8>, n: usize| {
            let at = bytes.len() - CE_LEN;
            bytes[at..].copy_from_slice(&ce(n as u32, 0, 0));
        };
        let mut head = packed.head.clone();
        let mut chunks = packed.chunks.clone();
        if !chunks.is_empty() {
            patch(&mut head, 0);
            let n = chunks.len();
            for (i, chunk) in chunks.iter_mut().enumerate().take(n - 1) {
                patch(chunk, i + 1);
            }
        }
        parse(&head, |lba, _, _| Ok(chunks[lba as usize].clone())).unwrap()
    }

    #[test]
    fn long_names_and_links_survive_continuation() {
        let name = vec![b'n'; 255];
        let target = b"/usr/../lib/./x86_64-linux-gnu/".to_vec();
        let mut long_target = b"../".repeat(100);
        long_target.extend_from_slice(&[b'z'; 300]);
        for t in [&target, &long_target] {
            let p = round_trip(&RockRidge {
                mode: 0o120777,
                nlink: 1,
                uid: 1000,
                gid: 100,
                times: [1_700_000_000; 3],
                name: Some(&name),
                symlink: Some(t),
                rdev: None,
            });
            assert_eq!(p.name.as_deref(), Some(name.as_slice()));
            let want: &[u8] = if t == &target {
                b"/usr/../lib/./x86_64-linux-gnu"
            } else {
                &long_target
            };
            assert_eq!(p.symlink.as_deref(), Some(want));
            assert_eq!(p.px, Some([0o120777, 1, 1000, 100]));
            assert_eq!(p.mtime, Some(1_700_000_000));
        }
    }

    #[test]
    fn device_numbers_round_trip() {
        for rdev in [0x0103u64, 0x0811, (259u64 << 8) | 5 | (1 << 32)] {
            let p = round_trip(&RockRidge {
                mode: 0o060660,
                nlink: 1,
                uid: 0,
                gid: 6,
                times: [0; 3],
                name: Some(b"sda"),
                symlink: None,
                rdev: Some(rdev),
            });
            assert_eq!(p.rdev, Some(rdev));
        }
    }

    #[test]
    fn names_and_targets_longer_than_linux_takes_are_refused() {
        // A name continued (NM flag 1) through the same continuation area
        // again and again: the area ends in a CE pointing at itself.
        let mut area = vec![b'N', b'M', 5 + 200, 1, 0x01];
        area.extend_from_slice(&[b'n'; 200]);
        area.extend_from_slice(&ce(30, 0, 0));
        let err = parse(&area, |_, _, _| Ok(area.clone()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("NM name longer than 255 bytes"), "{err}");

        let target = b"x/".repeat(2100);
        let long = rock_ridge(&RockRidge {
            mode: 0o120777,
            nlink: 1,
            uid: 0,
            gid: 0,
            times: [0; 3],
            name: Some(b"l"),
            symlink: Some(&target),
            rdev: None,
        })
        .concat();
        let err = parse(&long, |_, _, _| Ok(Vec::new()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SL symbolic link target longer than 4095 bytes"),
            "{err}"
        );
    }
}
