//! The OVA reader: the disk inside the archive, read in place.

use std::io;

use blocksink::{BlockSource, Extent, ReadAt, ReadAtCursor, Window};
use vmdk::VmdkReader;

use crate::ovf::Descriptor;
use crate::writer::ManifestHash;
use crate::{error::F, Result};

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

/// Lists the members of the tar archive in `io`, checking every header
/// (pax `size` and `path` records and GNU long names are applied, each read
/// only up to a small bound: [`blocksink::tar_members`]). Names with `/`,
/// `..` or nothing in them are refused, and so are links, devices and
/// sparse members.
pub fn members(io: &impl ReadAt) -> Result<Vec<Member>> {
    let len = io.size()?;
    let mut first = [0u8; 512];
    if len < 512 || {
        io.read_exact_at(&mut first, 0)?;
        &first[257..262] != b"ustar"
    } {
        return Err(F.not_this("no ustar archive at offset 0"));
    }
    let mut out = Vec::new();
    for m in blocksink::tar_members(io, F.name())? {
        let name = m.name_lossy().into_owned();
        let at = m.header_offset;
        match m.kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if name.is_empty() || name.contains('/') || name == ".." || name == "." {
                    return Err(F.unsupported(format!(
                        "member name {name:?} at offset {at}: an OVA holds plain file names only"
                    )));
                }
                out.push(Member {
                    name,
                    offset: m.offset,
                    size: m.size,
                });
            }
            // Directories carry no disk data.
            tar::EntryType::Directory => {}
            t => {
                return Err(
                    F.unsupported(format!("tar member {name:?} at offset {at} of type {t:?}"))
                );
            }
        }
    }
    Ok(out)
}

/// Reads the disk of an OVA in place, after checking the manifest.
pub struct OvaReader {
    /// The members of the archive, in order.
    pub members: Vec<Member>,
    /// The OVF descriptor.
    pub ovf: String,
    /// What the descriptor says about its files and disks.
    pub descriptor: Descriptor,
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
        return Err(F.corrupt(format!(
            "{} is {} bytes, too large for a descriptor",
            m.name, m.size
        )));
    }
    let mut buf = vec![0u8; m.size as usize];
    io.read_exact_at(&mut buf, m.offset)?;
    String::from_utf8(buf).map_err(|_| F.corrupt(format!("{} is not UTF-8", m.name)))
}

impl OvaReader {
    /// Opens the OVA in `io`: lists the members, checks every manifest
    /// digest, and opens the disk the OVF names.
    pub fn open<R: ReadAt + Clone + Send + 'static>(io: R) -> Result<Self> {
        let members = members(&io)?;
        let ovf_m = members
            .iter()
            .find(|m| m.name.ends_with(".ovf"))
            .ok_or_else(|| F.corrupt("no .ovf descriptor in the archive"))?;
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
                    || F.corrupt(format!("{} line {}: cannot parse {line:?}", mf.name, n + 1));
                let (alg, rest) = line.split_once('(').ok_or_else(bad)?;
                let (name, hex) = rest.split_once(")=").ok_or_else(bad)?;
                let hash = ManifestHash::parse(alg.trim())
                    .ok_or_else(|| F.unsupported(format!("manifest digest {alg}")))?;
                let m = members.iter().find(|m| m.name == name).ok_or_else(|| {
                    F.corrupt(format!(
                        "{} line {}: lists {name:?}, which is not in the archive",
                        mf.name,
                        n + 1
                    ))
                })?;
                if m.name == mf.name {
                    return Err(F.corrupt(format!(
                        "{} line {}: the manifest lists itself",
                        mf.name,
                        n + 1
                    )));
                }
                if let Some((_, _, _, first)) = entries.iter().find(|e| e.1.name == name) {
                    return Err(F.corrupt(format!(
                        "{} line {}: lists {name:?} again (first on line {first})",
                        mf.name,
                        n + 1
                    )));
                }
                entries.push((hash, m, hex.trim(), n + 1));
            }
            for (hash, m, want, _) in entries {
                let got = hash.hex_of(ReadAtCursor::new(Window::new(&io, m.offset, m.size)?)?)?;
                if !got.eq_ignore_ascii_case(want) {
                    return Err(F.corrupt(format!(
                        "{} of {} is {got}, but the manifest says {want}",
                        hash.name(),
                        m.name
                    )));
                }
                manifest = Some(hash);
            }
        }
        let descriptor =
            Descriptor::parse(&ovf).map_err(|e| F.corrupt(format!("{}: {e}", ovf_m.name)))?;
        let named = descriptor
            .disk_file()
            .map_err(|e| F.unsupported(format!("{}: {e}", ovf_m.name)))?;
        let disk_name = match named {
            Some(f) => f.href.clone(),
            None => {
                let mut vmdks = members.iter().filter(|m| m.name.ends_with(".vmdk"));
                match (vmdks.next(), vmdks.next()) {
                    (Some(m), None) => m.name.clone(),
                    _ => {
                        return Err(F.corrupt(format!(
                            "{} names no disk file, and the archive holds no single .vmdk",
                            ovf_m.name
                        )))
                    }
                }
            }
        };
        let dm = members
            .iter()
            .find(|m| m.name == disk_name)
            .ok_or_else(|| {
                F.corrupt(format!(
                    "the OVF names {disk_name:?}, which is not in the archive"
                ))
            })?;
        let window = Window::new(io, dm.offset, dm.size)?;
        let disk = VmdkReader::open(Box::new(window))
            .map_err(|e| F.corrupt(format!("{disk_name}: {e}")))?;
        Ok(OvaReader {
            members,
            ovf,
            descriptor,
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
