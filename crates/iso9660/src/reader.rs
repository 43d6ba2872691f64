//! Reads ISO 9660 images: volume descriptors, the directory tree under
//! Rock Ridge, Joliet or plain ISO 9660 names, the El Torito catalog, and
//! extraction that never writes outside its destination.
//!
//! A listing's work is bounded by the image: each directory's bytes are
//! read once (directory extents may not overlap), a file's multi-extent
//! parts may not overlap one another, so no file is larger than the image,
//! and the entries, paths and Rock Ridge continuation areas kept or read
//! are capped by what the image's size can hold.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use blocksink::ReadAt;

use crate::eltorito::{self, BootEntry};
use crate::error::{refused, F, OPTION};
use crate::format::*;
use crate::susp;
use crate::{Error, Result};

/// The identification of a volume descriptor (primary or Joliet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeInfo {
    /// System identifier.
    pub system_id: String,
    /// Volume identifier.
    pub volume_id: String,
    /// Volume set identifier.
    pub volume_set_id: String,
    /// Publisher identifier.
    pub publisher: String,
    /// Data preparer identifier.
    pub preparer: String,
    /// Application identifier.
    pub application: String,
    /// Volume space size in 2048-byte sectors.
    pub sectors: u32,
    /// Creation date, "YYYY-MM-DD HH:MM:SS", when set.
    pub created: Option<String>,
    /// Modification date, when set.
    pub modified: Option<String>,
    root: (u32, u32),
}

/// Which names a listing uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// Rock Ridge (POSIX names, modes, links) on the primary tree.
    RockRidge,
    /// The Joliet tree (Unicode names).
    Joliet,
    /// Plain ISO 9660 names, `;1` removed.
    Iso9660,
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IsoKind {
    /// A directory.
    Directory,
    /// A regular file.
    File,
    /// A symbolic link (Rock Ridge) to the given target.
    Symlink(Vec<u8>),
    /// A character device (Rock Ridge) with the given number.
    CharDevice(u64),
    /// A block device.
    BlockDevice(u64),
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
}

/// One entry of an image's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsoEntry {
    /// Path from the root, components joined by `/`, no leading slash.
    pub path: Vec<u8>,
    /// What it is.
    pub kind: IsoKind,
    /// Size in bytes (files).
    pub size: u64,
    /// The file's data: (sector, length) per extent.
    pub extents: Vec<(u32, u64)>,
    /// Permission bits from Rock Ridge, if recorded.
    pub mode: Option<u32>,
    /// Owner and group from Rock Ridge.
    pub owner: Option<(u32, u32)>,
    /// Link count from Rock Ridge.
    pub nlink: Option<u32>,
    /// Modification time, seconds since 1970.
    pub mtime: i64,
}

impl IsoEntry {
    /// The path as text (lossy), with a leading `/`.
    pub fn display_path(&self) -> String {
        format!("/{}", String::from_utf8_lossy(&self.path))
    }
}

/// What [`IsoImage::extract`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtractSummary {
    /// Directories made.
    pub directories: u64,
    /// Files written.
    pub files: u64,
    /// Symbolic links made.
    pub symlinks: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Entries not made (device nodes without permission), with why.
    pub skipped: Vec<String>,
}

/// An ISO 9660 image opened for reading.
pub struct IsoImage<R> {
    src: R,
    size: u64,
    /// The primary volume descriptor.
    pub primary: VolumeInfo,
    /// The Joliet supplementary descriptor, if any.
    pub joliet: Option<VolumeInfo>,
    /// The sector of the El Torito boot catalog, if any.
    pub boot_catalog: Option<u32>,
    /// Rock Ridge is in use (SP in the root's `.` record); the SUSP skip.
    rock_ridge: Option<u8>,
}

/// Deepest directory nesting read.
const MAX_DEPTH: usize = 256;
/// Largest directory extent read.
const MAX_DIR_BYTES: u64 = 256 << 20;
/// Most volume descriptors looked at before the terminator.
const MAX_DESCRIPTORS: u64 = 64;

/// Byte ranges of the image, each claimed once: the directory extents of a
/// tree, or the parts of one multi-extent file. Ranges never overlap, so
/// what they cover adds up to no more than the image.
struct Claimed<T> {
    /// Start → (end, who claimed it).
    ranges: BTreeMap<u64, (u64, T)>,
}

impl<T> Claimed<T> {
    fn new() -> Self {
        Claimed {
            ranges: BTreeMap::new(),
        }
    }

    /// Claims `start..end`, or gives back (start, end, who) of a range
    /// already claimed that it overlaps. An empty range claims nothing.
    fn claim(&mut self, start: u64, end: u64, who: T) -> std::result::Result<(), (u64, u64, &T)> {
        if start >= end {
            return Ok(());
        }
        // The ranges are disjoint, so if any overlaps, the last one that
        // starts before `end` does.
        let clash = self
            .ranges
            .range(..end)
            .next_back()
            .filter(|(_, (e, _))| *e > start)
            .map(|(&s, _)| s);
        match clash {
            Some(s) => {
                let (e, who) = &self.ranges[&s];
                Err((s, *e, who))
            }
            None => {
                self.ranges.insert(start, (end, who));
                Ok(())
            }
        }
    }
}

/// What one listing may spend, all of it bounded by the image's size: a
/// crafted image cannot make the reader list, read or keep more than its
/// own bytes can describe.
struct Budget {
    size: u64,
    /// Directory bytes read (each directory's bytes are read once).
    dir_bytes: u64,
    /// Entries listed; each takes a record of at least 34 bytes.
    entries: u64,
    /// Bytes of Rock Ridge continuation areas read.
    ce_bytes: u64,
    /// Bytes of the paths kept.
    path_bytes: u64,
}

impl Budget {
    /// Path bytes allowed beyond 16 per image byte: deep trees of small
    /// files in a small image stay listable.
    const PATH_FLOOR: u64 = 16 << 20;

    fn new(size: u64) -> Self {
        Budget {
            size,
            dir_bytes: 0,
            entries: 0,
            ce_bytes: 0,
            path_bytes: 0,
        }
    }

    fn directory(&mut self, len: u64, path: &str) -> Result<()> {
        self.dir_bytes += len;
        if self.dir_bytes > self.size {
            return Err(F.corrupt(format!(
                "{path}: the directories read come to {} bytes, more than the image's {}",
                self.dir_bytes, self.size
            )));
        }
        Ok(())
    }

    fn entry(&mut self, path: &[u8]) -> Result<()> {
        self.entries += 1;
        self.path_bytes += path.len() as u64;
        let shown = || format!("/{}", String::from_utf8_lossy(path));
        if self.entries > self.size / (DR_FIXED as u64 + 1) {
            return Err(F.corrupt(format!(
                "{}: more than {} entries, more records than an image of {} bytes holds",
                shown(),
                self.size / (DR_FIXED as u64 + 1),
                self.size
            )));
        }
        if path.len() > MAX_PATH {
            return Err(F.corrupt(format!(
                "/{}…: a path of {} bytes, longer than {MAX_PATH}",
                String::from_utf8_lossy(&path[..64]),
                path.len()
            )));
        }
        let limit = self
            .size
            .saturating_mul(16)
            .saturating_add(Self::PATH_FLOOR);
        if self.path_bytes > limit {
            return Err(F.corrupt(format!(
                "{}: the paths listed come to more than {limit} bytes (16 per image byte)",
                shown()
            )));
        }
        Ok(())
    }

    fn continuation(&mut self, len: u32, lba: u32) -> Result<()> {
        self.ce_bytes += u64::from(len);
        if self.ce_bytes > self.size {
            return Err(F.corrupt(format!(
                "CE continuation area at LBA {lba}: the continuation areas read come to {} bytes, more than the image's {}",
                self.ce_bytes, self.size
            )));
        }
        Ok(())
    }
}

struct Record<'a> {
    at: u64,
    extent: u32,
    size: u32,
    flags: u8,
    date: [u8; 7],
    id: &'a [u8],
    su: &'a [u8],
}

/// The records of the directory bytes `buf` (at image offset `base`), in
/// order, each checked as it is reached; the first damaged one ends them.
fn records<'a>(
    buf: &'a [u8],
    base: u64,
    path: &'a str,
) -> impl Iterator<Item = Result<Record<'a>>> + 'a {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        while pos < buf.len() {
            let len = usize::from(buf[pos]);
            if len == 0 {
                pos = (pos / SECTOR as usize + 1) * SECTOR as usize;
                continue;
            }
            let at = base + pos as u64;
            let sector_end = (pos / SECTOR as usize + 1) * SECTOR as usize;
            if len < DR_FIXED + 1 || pos + len > sector_end.min(buf.len()) {
                pos = buf.len();
                return Some(Err(F.corrupt(format!(
                    "directory {path}: record of {len} bytes at offset {at} is too short or crosses a sector"
                ))));
            }
            let r = &buf[pos..pos + len];
            let id_len = usize::from(r[32]);
            if DR_FIXED + id_len > len {
                pos = buf.len();
                return Some(Err(F.corrupt(format!(
                    "directory {path}: record at offset {at}: identifier of {id_len} bytes runs past its {len}-byte record"
                ))));
            }
            let su_start = (DR_FIXED + id_len + usize::from(id_len % 2 == 0)).min(len);
            pos += len;
            return Some(Ok(Record {
                at,
                extent: get_u32_le(&r[2..]),
                size: get_u32_le(&r[10..]),
                flags: r[25],
                date: r[18..25].try_into().expect("7 bytes"),
                id: &r[33..33 + id_len],
                su: &r[su_start..],
            }));
        }
        None
    })
}

fn parse_volume(vd: &[u8], joliet: bool) -> VolumeInfo {
    let text = |at: usize, len: usize| field_text(&vd[at..at + len], joliet);
    VolumeInfo {
        system_id: text(vd::SYSTEM_ID, 32),
        volume_id: text(vd::VOLUME_ID, 32),
        volume_set_id: text(vd::VOLUME_SET_ID, 128),
        publisher: text(vd::PUBLISHER_ID, 128),
        preparer: text(vd::PREPARER_ID, 128),
        application: text(vd::APPLICATION_ID, 128),
        sectors: get_u32_le(&vd[vd::SPACE_SIZE..]),
        created: parse_volume_date(&vd[vd::CREATED..vd::CREATED + 17]),
        modified: parse_volume_date(&vd[vd::MODIFIED..vd::MODIFIED + 17]),
        root: (
            get_u32_le(&vd[vd::ROOT + 2..]),
            get_u32_le(&vd[vd::ROOT + 10..]),
        ),
    }
}

impl<R: ReadAt> IsoImage<R> {
    /// Opens the image in `src`: reads the volume descriptor set and checks
    /// the root directory.
    pub fn open(src: R) -> Result<Self> {
        let size = src.size()?;
        let mut primary = None;
        let mut joliet = None;
        let mut boot_catalog = None;
        let mut sector = SYSTEM_AREA_SECTORS;
        loop {
            if sector - SYSTEM_AREA_SECTORS >= MAX_DESCRIPTORS {
                return Err(F.not_this(format!(
                    "no volume descriptor set terminator in sectors 16 to {sector}"
                )));
            }
            let mut vd = vec![0u8; SECTOR as usize];
            if (sector + 1) * SECTOR > size {
                return Err(F.not_this(format!(
                    "the input ({size} bytes) ends before volume descriptor sector {sector}"
                )));
            }
            src.read_exact_at(&mut vd, sector * SECTOR)?;
            if &vd[1..6] != CD001 {
                return Err(F.not_this(format!(
                    "no `CD001` identifier in volume descriptor at sector {sector} (offset {})",
                    sector * SECTOR + 1
                )));
            }
            match vd[0] {
                VD_TERMINATOR => break,
                VD_PRIMARY if primary.is_none() => primary = Some(parse_volume(&vd, false)),
                VD_SUPPLEMENTARY
                    if joliet.is_none()
                        && vd[vd::ESCAPES..vd::ESCAPES + 2] == *b"%/"
                        && matches!(vd[vd::ESCAPES + 2], b'@' | b'C' | b'E') =>
                {
                    joliet = Some(parse_volume(&vd, true));
                }
                VD_BOOT if vd[vd::BOOT_SYSTEM_ID..].starts_with(EL_TORITO_ID) => {
                    boot_catalog = Some(get_u32_le(&vd[vd::BOOT_CATALOG..]));
                }
                _ => {}
            }
            sector += 1;
        }
        let primary = primary.ok_or_else(|| F.not_this("no primary volume descriptor"))?;
        let mut img = IsoImage {
            src,
            size,
            primary,
            joliet,
            boot_catalog,
            rock_ridge: None,
        };
        let root = img.read_dir_extent(img.primary.root, "/")?;
        let first = records(&root, u64::from(img.primary.root.0) * SECTOR, "/")
            .next()
            .transpose()?;
        if let Some(dot) = first {
            img.rock_ridge = susp::parse(dot.su, |_, _, _| Ok(Vec::new()))
                .ok()
                .and_then(|p| p.sp);
        }
        Ok(img)
    }

    /// The names [`entries`](Self::entries) uses: Rock Ridge, else Joliet,
    /// else ISO 9660.
    pub fn naming(&self) -> Naming {
        if self.rock_ridge.is_some() {
            Naming::RockRidge
        } else if self.joliet.is_some() {
            Naming::Joliet
        } else {
            Naming::Iso9660
        }
    }

    /// Size of the image in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The El Torito boot entries, the default first.
    pub fn boot_entries(&self) -> Result<Vec<BootEntry>> {
        let Some(lba) = self.boot_catalog else {
            return Ok(Vec::new());
        };
        let at = u64::from(lba) * SECTOR;
        if at + SECTOR > self.size {
            return Err(F.corrupt(format!(
                "boot catalog sector {lba} is past the end of the image"
            )));
        }
        let mut c = vec![0u8; SECTOR as usize];
        self.src.read_exact_at(&mut c, at)?;
        eltorito::parse_catalog(&c, u64::from(lba))
    }

    fn read_dir_extent(&self, (lba, len): (u32, u32), path: &str) -> Result<Vec<u8>> {
        let at = u64::from(lba) * SECTOR;
        let len = u64::from(len);
        if len > MAX_DIR_BYTES || at.checked_add(len).is_none_or(|e| e > self.size) {
            return Err(F.corrupt(format!(
                "directory {path}: extent of {len} bytes at sector {lba} is past the end of the image ({} bytes)",
                self.size
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.src.read_exact_at(&mut buf, at)?;
        Ok(buf)
    }

    fn read_ce(&self, lba: u32, off: u32, len: u32) -> Result<Vec<u8>> {
        let at = u64::from(lba) * SECTOR + u64::from(off);
        if at + u64::from(len) > self.size {
            return Err(F.corrupt(format!(
                "CE continuation area at sector {lba} is past the end of the image"
            )));
        }
        let mut b = vec![0u8; len as usize];
        self.src.read_exact_at(&mut b, at)?;
        Ok(b)
    }

    /// Every entry under the root, parents before children, with
    /// [`naming`](Self::naming).
    pub fn entries(&self) -> Result<Vec<IsoEntry>> {
        self.entries_with(self.naming())
    }

    /// Every entry under the root with the given names. Directory loops,
    /// directories sharing bytes, extents past the end of the image and
    /// multi-extent parts overlapping one another are errors; what is read
    /// and kept is bounded by the image's size.
    pub fn entries_with(&self, naming: Naming) -> Result<Vec<IsoEntry>> {
        let (root, joliet) = match naming {
            Naming::Joliet => match &self.joliet {
                Some(j) => (j.root, true),
                None => return Err(OPTION.option("the image has no Joliet tree")),
            },
            _ => (self.primary.root, false),
        };
        let rr = if naming == Naming::RockRidge {
            self.rock_ridge
        } else {
            None
        };
        if naming == Naming::RockRidge && rr.is_none() {
            return Err(OPTION.option("the image has no Rock Ridge entries"));
        }
        let mut out = Vec::new();
        let mut budget = Budget::new(self.size);
        // Every directory's bytes are read once: a directory whose extent
        // overlaps one already listed (a loop, or two directories sharing
        // bytes) is refused.
        let mut dirs: Claimed<Vec<u8>> = Claimed::new();
        self.claim_directory(&mut dirs, root, b"")?;
        let mut stack: Vec<((u32, u32), Vec<u8>, usize)> = vec![(root, Vec::new(), 0)];
        while let Some((extent, prefix, depth)) = stack.pop() {
            let shown = format!("/{}", String::from_utf8_lossy(&prefix));
            if depth > MAX_DEPTH {
                return Err(F.corrupt(format!(
                    "directory {shown}: nested more than {MAX_DEPTH} deep"
                )));
            }
            budget.directory(u64::from(extent.1), &shown)?;
            let buf = self.read_dir_extent(extent, &shown)?;
            let mut children: Vec<IsoEntry> = Vec::new();
            let mut subdirs = Vec::new();
            let mut continuing = false;
            // The parts of the multi-extent file being read: each lies in
            // the image and overlaps no other, so together they are no
            // larger than the image.
            let mut parts: Claimed<(usize, u32, u64)> = Claimed::new();
            let mut part_no = 1;
            for r in records(&buf, u64::from(extent.0) * SECTOR, &shown) {
                let r = r?;
                if r.id == [0] || r.id == [1] {
                    continuing = false;
                    continue;
                }
                let parsed = match rr {
                    Some(skip) => {
                        susp::parse(r.su.get(usize::from(skip)..).unwrap_or(&[]), |l, o, n| {
                            budget.continuation(n, l)?;
                            self.read_ce(l, o, n)
                        })
                        .map_err(|e| {
                            F.corrupt(format!("{shown}: record at offset {}: {e}", r.at))
                        })?
                    }
                    None => susp::Parsed::default(),
                };
                if parsed.relocated {
                    continuing = false;
                    continue;
                }
                let data_len = u64::from(r.size);
                if continuing {
                    if let Some(last) = children.last_mut() {
                        part_no += 1;
                        if data_len > 0 {
                            let path = last.display_path();
                            self.check_extent(
                                r.extent,
                                data_len,
                                &path,
                                &format!("multi-extent part {part_no}"),
                            )?;
                            let at = u64::from(r.extent) * SECTOR;
                            parts
                                .claim(at, at + data_len, (part_no, r.extent, data_len))
                                .map_err(|(_, _, &(n, lba, len))| {
                                    F.corrupt(format!(
                                        "{path}: multi-extent part {part_no} at LBA {} ({data_len} bytes) overlaps part {n} (LBA {lba}, {len} bytes)",
                                        r.extent
                                    ))
                                })?;
                            last.extents.push((r.extent, data_len));
                        }
                        last.size += data_len;
                        continuing = r.flags & FLAG_MULTI_EXTENT != 0;
                        continue;
                    }
                }
                continuing = r.flags & FLAG_MULTI_EXTENT != 0;
                parts = Claimed::new();
                part_no = 1;
                let name = match (&parsed.name, joliet) {
                    (Some(n), _) => n.clone(),
                    (None, true) => {
                        let units: Vec<u16> =
                            r.id.chunks(2)
                                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                                .collect();
                        strip_version(String::from_utf16_lossy(&units).into_bytes())
                    }
                    (None, false) => strip_version(r.id.to_vec()),
                };
                if name.iter().any(|&c| c == b'/' || c == 0) {
                    return Err(F.corrupt(format!(
                        "directory {shown}: record at offset {}: the name {:?} holds `/` or NUL",
                        r.at,
                        String::from_utf8_lossy(&name)
                    )));
                }
                let mut path = prefix.clone();
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(&name);
                budget.entry(&path)?;
                let mode = parsed.px.map(|p| p[0]);
                let mut is_dir = r.flags & FLAG_DIRECTORY != 0;
                let mut dir_extent = (r.extent, r.size);
                if let Some(cl) = parsed.child_link {
                    is_dir = true;
                    let mut probe = vec![0u8; SECTOR as usize];
                    self.check_extent(
                        cl,
                        SECTOR,
                        &format!("/{}", String::from_utf8_lossy(&path)),
                        "Rock Ridge CL child link",
                    )?;
                    self.src.read_exact_at(&mut probe, u64::from(cl) * SECTOR)?;
                    dir_extent = (cl, get_u32_le(&probe[10..]));
                }
                let kind = match mode.map(|m| m & 0o170000) {
                    _ if is_dir => IsoKind::Directory,
                    Some(0o120000) => IsoKind::Symlink(parsed.symlink.clone().unwrap_or_default()),
                    Some(0o020000) => IsoKind::CharDevice(parsed.rdev.unwrap_or(0)),
                    Some(0o060000) => IsoKind::BlockDevice(parsed.rdev.unwrap_or(0)),
                    Some(0o010000) => IsoKind::Fifo,
                    Some(0o140000) => IsoKind::Socket,
                    _ => IsoKind::File,
                };
                let mut entry = IsoEntry {
                    path,
                    size: 0,
                    extents: Vec::new(),
                    mode: mode.map(|m| m & 0o7777),
                    owner: parsed.px.map(|p| (p[2], p[3])),
                    nlink: parsed.px.map(|p| p[1]),
                    mtime: parsed.mtime.unwrap_or_else(|| parse_dir_date(&r.date)),
                    kind,
                };
                if entry.kind == IsoKind::File {
                    entry.size = data_len;
                    if data_len > 0 {
                        let what = if continuing {
                            "multi-extent part 1"
                        } else {
                            "extent"
                        };
                        self.check_extent(r.extent, data_len, &entry.display_path(), what)?;
                        let at = u64::from(r.extent) * SECTOR;
                        // The first claim of a fresh set always succeeds.
                        let _ = parts.claim(at, at + data_len, (1, r.extent, data_len));
                        entry.extents.push((r.extent, data_len));
                    }
                }
                if entry.kind == IsoKind::Directory {
                    self.claim_directory(&mut dirs, dir_extent, &entry.path)?;
                    subdirs.push((dir_extent, entry.path.clone()));
                }
                children.push(entry);
            }
            out.extend(children);
            for (ext, path) in subdirs.into_iter().rev() {
                stack.push((ext, path, depth + 1));
            }
        }
        // Parents before children: sort by path components.
        out.sort_by(|a, b| {
            a.path
                .split(|&c| c == b'/')
                .cmp(b.path.split(|&c| c == b'/'))
        });
        Ok(out)
    }

    /// Checks that the directory at `path` has its extent inside the image
    /// and sharing no byte with a directory already listed, and claims it.
    fn claim_directory(
        &self,
        dirs: &mut Claimed<Vec<u8>>,
        (lba, len): (u32, u32),
        path: &[u8],
    ) -> Result<()> {
        let shown = format!("/{}", String::from_utf8_lossy(path));
        let at = u64::from(lba) * SECTOR;
        let len = u64::from(len);
        if at + len > self.size {
            return Err(F.corrupt(format!(
                "directory {shown}: extent at LBA {lba} ({len} bytes) runs past the end of the image ({} bytes)",
                self.size
            )));
        }
        dirs.claim(at, at + len, path.to_vec())
            .map_err(|(s, e, other)| {
                let other = String::from_utf8_lossy(other);
                let why = if s == at && path.starts_with(other.as_bytes()) {
                    "a directory loop"
                } else {
                    "each directory's bytes are read once"
                };
                F.corrupt(format!(
                    "directory {shown}: extent at LBA {lba} ({len} bytes) overlaps directory /{other} (LBA {}, {} bytes): {why}",
                    s / SECTOR,
                    e - s
                ))
            })
    }

    /// Checks that `what` of `path`, `len` bytes at `lba`, lies in the image.
    fn check_extent(&self, lba: u32, len: u64, path: &str, what: &str) -> Result<()> {
        let at = u64::from(lba) * SECTOR;
        if at + len > self.size {
            return Err(F.corrupt(format!(
                "{path}: {what} at LBA {lba} ({len} bytes) runs past the end of the image ({} bytes)",
                self.size
            )));
        }
        Ok(())
    }

    /// Writes the data of `entry` to `out`.
    pub fn read_file(&self, entry: &IsoEntry, out: &mut dyn Write) -> Result<u64> {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        for &(lba, len) in &entry.extents {
            let mut done = 0u64;
            while done < len {
                let n = (len - done).min(buf.len() as u64) as usize;
                self.src
                    .read_exact_at(&mut buf[..n], u64::from(lba) * SECTOR + done)?;
                out.write_all(&buf[..n])?;
                done += n as u64;
            }
            total += len;
        }
        Ok(total)
    }

    /// Extracts every entry into `dest`, a new or empty directory. Names that
    /// could leave it (`..`, `/`, NUL, empty) are refused; nothing is written
    /// through a symbolic link, and no file is replaced.
    pub fn extract(&self, dest: &Path) -> Result<ExtractSummary> {
        if dest.exists() && fs::read_dir(dest)?.next().is_some() {
            return Err(refused(
                dest.display(),
                "the destination directory is not empty",
            ));
        }
        fs::create_dir_all(dest)?;
        let entries = self.entries()?;
        let mut summary = ExtractSummary::default();
        let mut dirs: Vec<(PathBuf, &IsoEntry)> = Vec::new();
        for e in &entries {
            let target = safe_join(dest, e)?;
            let exists = |err: io::Error| -> Error {
                if err.kind() == io::ErrorKind::AlreadyExists {
                    refused(e.display_path(), "a second entry of the same name")
                } else {
                    Error::file(&target, err)
                }
            };
            match &e.kind {
                IsoKind::Directory => {
                    fs::create_dir(&target).map_err(exists)?;
                    summary.directories += 1;
                    dirs.push((target, e));
                    continue;
                }
                IsoKind::File => {
                    let mut f = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&target)
                        .map_err(exists)?;
                    summary.bytes += self.read_file(e, &mut f)?;
                    summary.files += 1;
                    set_owner(&target, e);
                    if let Some(m) = e.mode {
                        f.set_permissions(fs::Permissions::from_mode(m))?;
                    }
                }
                IsoKind::Symlink(t) => {
                    use std::os::unix::ffi::OsStrExt;
                    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(t), &target)
                        .map_err(exists)?;
                    set_owner(&target, e);
                    summary.symlinks += 1;
                    continue;
                }
                IsoKind::CharDevice(_)
                | IsoKind::BlockDevice(_)
                | IsoKind::Fifo
                | IsoKind::Socket => {
                    if let Err(why) = make_node(&target, e) {
                        summary.skipped.push(format!("{}: {why}", e.display_path()));
                    }
                    continue;
                }
            }
            set_mtime(&target, e.mtime);
        }
        for (path, e) in dirs.iter().rev() {
            set_owner(path, e);
            if let Some(m) = e.mode {
                fs::set_permissions(path, fs::Permissions::from_mode(m))?;
            }
            set_mtime(path, e.mtime);
        }
        Ok(summary)
    }
}

fn strip_version(mut name: Vec<u8>) -> Vec<u8> {
    if let Some(i) = name.iter().rposition(|&c| c == b';') {
        name.truncate(i);
    }
    if name.last() == Some(&b'.') && name.len() > 1 {
        name.pop();
    }
    name
}

fn safe_join(dest: &Path, e: &IsoEntry) -> Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut p = dest.to_path_buf();
    for part in e.path.split(|&c| c == b'/') {
        if part.is_empty() || part == b"." || part == b".." || part.contains(&0) {
            return Err(refused(
                e.display_path(),
                "the name is empty, `.`, `..` or holds NUL or `/`",
            ));
        }
        p.push(std::ffi::OsStr::from_bytes(part));
    }
    Ok(p)
}

fn make_node(path: &Path, e: &IsoEntry) -> std::result::Result<(), String> {
    use rustix::fs::{mknodat, FileType, Mode, CWD};
    let (kind, dev) = match e.kind {
        IsoKind::CharDevice(d) => (FileType::CharacterDevice, d),
        IsoKind::BlockDevice(d) => (FileType::BlockDevice, d),
        IsoKind::Fifo => (FileType::Fifo, 0),
        _ => return Err("sockets are not made".into()),
    };
    let mode = Mode::from_raw_mode(e.mode.unwrap_or(0o600));
    mknodat(CWD, path, kind, mode, dev).map_err(|err| err.to_string())
}

/// Gives `path` (never followed) the recorded owner. As with `tar`, this
/// only works for root; for anyone else the extracted files stay theirs.
fn set_owner(path: &Path, e: &IsoEntry) {
    if let Some((uid, gid)) = e.owner {
        let _ = std::os::unix::fs::lchown(path, Some(uid), Some(gid));
    }
}

fn set_mtime(path: &Path, mtime: i64) {
    use rustix::fs::{utimensat, AtFlags, Timespec, Timestamps, CWD};
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    // Times are best effort, as with `7z x`: a file system that refuses
    // them does not make the extraction fail.
    let _ = utimensat(
        CWD,
        path,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimed_ranges_refuse_any_overlap() {
        let mut c = Claimed::new();
        assert!(c.claim(100, 200, 'a').is_ok());
        assert!(c.claim(200, 300, 'b').is_ok());
        assert!(c.claim(0, 100, 'c').is_ok());
        assert!(c.claim(150, 150, 'e').is_ok(), "empty ranges claim nothing");
        assert_eq!(c.claim(50, 101, 'd').unwrap_err(), (100, 200, &'a'));
        assert_eq!(c.claim(199, 250, 'd').unwrap_err(), (200, 300, &'b'));
        assert_eq!(c.claim(120, 130, 'd').unwrap_err(), (100, 200, &'a'));
        assert_eq!(c.claim(0, 1000, 'd').unwrap_err(), (200, 300, &'b'));
        assert!(c.claim(300, 301, 'f').is_ok());
    }

    #[test]
    fn listing_budget_follows_the_image_size() {
        let mut b = Budget::new(34 * 3);
        for _ in 0..3 {
            b.entry(b"a/b").unwrap();
        }
        let err = b.entry(b"a/c").unwrap_err().to_string();
        assert!(
            err.contains(
                "/a/c: more than 3 entries, more records than an image of 102 bytes holds"
            ),
            "{err}"
        );

        let mut b = Budget::new(1 << 20);
        let err = b.entry(&[b'p'; 4096]).unwrap_err().to_string();
        assert!(
            err.contains("a path of 4096 bytes, longer than 4095"),
            "{err}"
        );

        let mut b = Budget::new(4096);
        b.directory(2048, "/").unwrap();
        b.directory(2048, "/a").unwrap();
        let err = b.directory(2048, "/b").unwrap_err().to_string();
        assert!(
            err.contains("/b: the directories read come to 6144 bytes, more than the image's 4096"),
            "{err}"
        );
        b.continuation(4096, 20).unwrap();
        let err = b.continuation(1, 21).unwrap_err().to_string();
        assert!(err.contains("CE continuation area at LBA 21"), "{err}");
    }
}
