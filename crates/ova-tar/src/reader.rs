//! The OVA reader: the disk inside the archive, read in place.

use std::io;

use blocksink::{BlockSource, Extent, ReadAt, Window};
use vmdk::VmdkReader;

use crate::ovf::first_href;
use crate::writer::ManifestHash;
use crate::{Error, Result};

/// A member of the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its name (a plain file name).
    pub name: String,
    /// Offset of its data in the archive.
    pub offset: u64,
    /// Its size.
    pub size: u64,
}

/// Largest OVF or manifest read into memory.
const MAX_TEXT: u64 = 16 << 20;

fn octal(field: &[u8], what: &str, at: u64) -> Result<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // Base-256, for sizes of 8 GiB and more.
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or_else(|| Error::Corrupt(format!("tar header at {at}: {what} overflows")))?;
        }
        return Ok(v);
    }
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let t = text.trim();
    if t.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(t, 8)
        .map_err(|_| Error::Corrupt(format!("tar header at {at}: {what} {t:?} is not octal")))
}

/// Lists the members of the tar archive in `io`, checking every header.
/// Names with `/`, `..` or nothing in them are refused.
pub fn members(io: &impl ReadAt) -> Result<Vec<Member>> {
    let len = io.size()?;
    let mut out = Vec::new();
    let mut at = 0u64;
    while at + 512 <= len {
        let mut h = [0u8; 512];
        io.read_exact_at(&mut h, at)?;
        if h.iter().all(|&b| b == 0) {
            return Ok(out);
        }
        if &h[257..262] != b"ustar" {
            return Err(if at == 0 {
                Error::BadMagic
            } else {
                Error::Corrupt(format!("no ustar header at offset {at}"))
            });
        }
        let stored = octal(&h[148..156], "checksum", at)?;
        let sum: u64 = h
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if sum != stored {
            return Err(Error::Corrupt(format!(
                "tar header at offset {at}: checksum {stored} but the header sums to {sum}"
            )));
        }
        let size = octal(&h[124..136], "size", at)?;
        let cstr = |f: &[u8]| {
            String::from_utf8_lossy(&f[..f.iter().position(|&b| b == 0).unwrap_or(f.len())])
                .into_owned()
        };
        let (name, prefix) = (cstr(&h[..100]), cstr(&h[345..500]));
        let data = at + 512;
        // `data + 512 <= len` holds here, so neither side can overflow.
        if size > len - data {
            return Err(Error::Corrupt(format!(
                "member {name:?} at offset {at} runs past the end of the archive"
            )));
        }
        let next = data + size.next_multiple_of(512);
        match h[156] {
            b'0' | 0 => {
                if !prefix.is_empty()
                    || name.is_empty()
                    || name.contains('/')
                    || name == ".."
                    || name == "."
                {
                    return Err(Error::Unsupported(format!(
                        "member name {:?}: an OVA holds plain file names only",
                        if prefix.is_empty() {
                            name
                        } else {
                            format!("{prefix}/{name}")
                        }
                    )));
                }
                out.push(Member {
                    name,
                    offset: data,
                    size,
                });
            }
            b'x' | b'g' | b'5' => {} // pax attributes and directories carry no disk data
            t => {
                return Err(Error::Unsupported(format!(
                    "tar member {name:?} of type {:?}",
                    t as char
                )));
            }
        }
        at = next;
    }
    Ok(out)
}

/// Reads the disk of an OVA in place, after checking the manifest.
pub struct OvaReader {
    /// The members of the archive, in order.
    pub members: Vec<Member>,
    /// The OVF descriptor.
    pub ovf: String,
    /// The manifest's digest, when there is a manifest.
    pub manifest: Option<ManifestHash>,
    /// The disk member's name.
    pub disk_name: String,
    disk: VmdkReader,
}

impl std::fmt::Debug for OvaReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvaReader")
            .field("members", &self.members)
            .finish_non_exhaustive()
    }
}

fn read_text(io: &impl ReadAt, m: &Member) -> Result<String> {
    if m.size > MAX_TEXT {
        return Err(Error::Corrupt(format!(
            "{} is {} bytes, too large for a descriptor",
            m.name, m.size
        )));
    }
    let mut buf = vec![0u8; m.size as usize];
    io.read_exact_at(&mut buf, m.offset)?;
    String::from_utf8(buf).map_err(|_| Error::Corrupt(format!("{} is not UTF-8", m.name)))
}

/// Reads a member through its window.
struct MemberReader<'a, R> {
    io: &'a R,
    at: u64,
    end: u64,
}

impl<R: ReadAt> io::Read for MemberReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.end - self.at).min(buf.len() as u64) as usize;
        self.io.read_exact_at(&mut buf[..n], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl OvaReader {
    /// Opens the OVA in `io`: lists the members, checks every manifest
    /// digest, and opens the disk the OVF names.
    pub fn open<R: ReadAt + Clone + Send + 'static>(io: R) -> Result<Self> {
        let members = members(&io)?;
        let ovf_m = members
            .iter()
            .find(|m| m.name.ends_with(".ovf"))
            .ok_or_else(|| Error::Corrupt("no .ovf descriptor in the archive".into()))?;
        let ovf = read_text(&io, ovf_m)?;
        let mut manifest = None;
        if let Some(mf) = members.iter().find(|m| m.name.ends_with(".mf")) {
            let text = read_text(&io, mf)?;
            // Every entry is parsed and checked against the archive before
            // any member is hashed, so each member is read once.
            let mut entries: Vec<(ManifestHash, &Member, &str, usize)> = Vec::new();
            for (n, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let bad =
                    || Error::Corrupt(format!("{} line {}: cannot parse {line:?}", mf.name, n + 1));
                let (alg, rest) = line.split_once('(').ok_or_else(bad)?;
                let (name, hex) = rest.split_once(")=").ok_or_else(bad)?;
                let hash = ManifestHash::parse(alg.trim())
                    .ok_or_else(|| Error::Unsupported(format!("manifest digest {alg}")))?;
                let m = members.iter().find(|m| m.name == name).ok_or_else(|| {
                    Error::Corrupt(format!(
                        "{} line {}: lists {name:?}, which is not in the archive",
                        mf.name,
                        n + 1
                    ))
                })?;
                if m.name == mf.name {
                    return Err(Error::Corrupt(format!(
                        "{} line {}: the manifest lists itself",
                        mf.name,
                        n + 1
                    )));
                }
                if let Some((_, _, _, first)) = entries.iter().find(|e| e.1.name == name) {
                    return Err(Error::Corrupt(format!(
                        "{} line {}: lists {name:?} again (first on line {first})",
                        mf.name,
                        n + 1
                    )));
                }
                entries.push((hash, m, hex.trim(), n + 1));
            }
            for (hash, m, want, _) in entries {
                let got = hash.hex_of(MemberReader {
                    io: &io,
                    at: m.offset,
                    end: m.offset + m.size,
                })?;
                if !got.eq_ignore_ascii_case(want) {
                    return Err(Error::Corrupt(format!(
                        "{} of {} is {got}, but the manifest says {want}",
                        hash.name(),
                        m.name
                    )));
                }
                manifest = Some(hash);
            }
        }
        let disk_name = first_href(&ovf)
            .map(str::to_string)
            .or_else(|| {
                members
                    .iter()
                    .find(|m| m.name.ends_with(".vmdk"))
                    .map(|m| m.name.clone())
            })
            .ok_or_else(|| Error::Corrupt("the OVF names no disk file".into()))?;
        let dm = members
            .iter()
            .find(|m| m.name == disk_name)
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "the OVF names {disk_name:?}, which is not in the archive"
                ))
            })?;
        let window = Window::new(io, dm.offset, dm.size)?;
        let disk = VmdkReader::open(Box::new(window))
            .map_err(|e| Error::Corrupt(format!("{disk_name}: {e}")))?;
        Ok(OvaReader {
            members,
            ovf,
            manifest,
            disk_name,
            disk,
        })
    }
}

impl BlockSource for OvaReader {
    fn size(&self) -> u64 {
        self.disk.size()
    }
    fn extents(&mut self) -> io::Result<Vec<Extent>> {
        self.disk.extents()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.disk.read_at(offset, buf)
    }
}
