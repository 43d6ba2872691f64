//! Reads ISO 9660 images: volume descriptors, the directory tree under
//! Rock Ridge, Joliet or plain ISO 9660 names, the El Torito catalog, and
//! extraction that never writes outside its destination.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use blocksink::ReadAt;

use crate::eltorito::{self, BootEntry};
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

struct Record<'a> {
    at: u64,
    extent: u32,
    size: u32,
    flags: u8,
    date: [u8; 7],
    id: &'a [u8],
    su: &'a [u8],
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
                return Err(Error::NotIso(format!(
                    "no volume descriptor set terminator in sectors 16 to {sector}"
                )));
            }
            let mut vd = vec![0u8; SECTOR as usize];
            if (sector + 1) * SECTOR > size {
                return Err(Error::NotIso(format!(
                    "the input ({size} bytes) ends before volume descriptor sector {sector}"
                )));
            }
            src.read_exact_at(&mut vd, sector * SECTOR)?;
            if &vd[1..6] != CD001 {
                return Err(Error::NotIso(format!(
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
        let primary =
            primary.ok_or_else(|| Error::NotIso("no primary volume descriptor".into()))?;
        let mut img = IsoImage {
            src,
            size,
            primary,
            joliet,
            boot_catalog,
            rock_ridge: None,
        };
        let root = img.read_dir_extent(img.primary.root, "/")?;
        let first = img
            .records(&root, u64::from(img.primary.root.0) * SECTOR, "/")?
            .into_iter()
            .next();
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
            return Err(Error::Corrupt(format!(
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
            return Err(Error::Corrupt(format!(
                "directory {path}: extent of {len} bytes at sector {lba} is past the end of the image ({} bytes)",
                self.size
            )));
        }
        let mut buf = vec![0u8; len as usize];
        self.src.read_exact_at(&mut buf, at)?;
        Ok(buf)
    }

    fn records<'a>(&self, buf: &'a [u8], base: u64, path: &str) -> Result<Vec<Record<'a>>> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos < buf.len() {
            let len = usize::from(buf[pos]);
            if len == 0 {
                pos = (pos / SECTOR as usize + 1) * SECTOR as usize;
                continue;
            }
            let at = base + pos as u64;
            let sector_end = (pos / SECTOR as usize + 1) * SECTOR as usize;
            if len < DR_FIXED + 1 || pos + len > sector_end.min(buf.len()) {
                return Err(Error::Corrupt(format!(
                    "directory {path}: record of {len} bytes at offset {at} is too short or crosses a sector"
                )));
            }
            let r = &buf[pos..pos + len];
            let id_len = usize::from(r[32]);
            if DR_FIXED + id_len > len {
                return Err(Error::Corrupt(format!(
                    "directory {path}: record at offset {at}: identifier of {id_len} bytes runs past its {len}-byte record"
                )));
            }
            let su_start = (DR_FIXED + id_len + usize::from(id_len % 2 == 0)).min(len);
            out.push(Record {
                at,
                extent: get_u32_le(&r[2..]),
                size: get_u32_le(&r[10..]),
                flags: r[25],
                date: r[18..25].try_into().expect("7 bytes"),
                id: &r[33..33 + id_len],
                su: &r[su_start..],
            });
            pos += len;
        }
        Ok(out)
    }

    fn read_ce(&self, lba: u32, off: u32, len: u32) -> Result<Vec<u8>> {
        let at = u64::from(lba) * SECTOR + u64::from(off);
        if at + u64::from(len) > self.size {
            return Err(Error::Corrupt(format!(
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

    /// Every entry under the root with the given names. Directory loops and
    /// extents past the end of the image are errors.
    pub fn entries_with(&self, naming: Naming) -> Result<Vec<IsoEntry>> {
        let (root, joliet) = match naming {
            Naming::Joliet => match &self.joliet {
                Some(j) => (j.root, true),
                None => return Err(Error::InvalidOption("the image has no Joliet tree".into())),
            },
            _ => (self.primary.root, false),
        };
        let rr = if naming == Naming::RockRidge {
            self.rock_ridge
        } else {
            None
        };
        if naming == Naming::RockRidge && rr.is_none() {
            return Err(Error::InvalidOption(
                "the image has no Rock Ridge entries".into(),
            ));
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        seen.insert(root.0);
        // Every byte of the image belongs to one directory at most: the
        // directories read add up to no more than the image, which bounds
        // the records (34 bytes at least each) and so the work.
        let mut dir_bytes = 0u64;
        let mut stack: Vec<((u32, u32), Vec<u8>, usize)> = vec![(root, Vec::new(), 0)];
        while let Some((extent, prefix, depth)) = stack.pop() {
            let shown = format!("/{}", String::from_utf8_lossy(&prefix));
            if depth > MAX_DEPTH {
                return Err(Error::Corrupt(format!(
                    "directory {shown}: nested more than {MAX_DEPTH} deep"
                )));
            }
            let buf = self.read_dir_extent(extent, &shown)?;
            dir_bytes += buf.len() as u64;
            if dir_bytes > self.size {
                return Err(Error::Corrupt(format!(
                    "directory {shown} at sector {}: the directories read so far add up to {dir_bytes} bytes, more than the image's {} (directory extents overlap)",
                    extent.0, self.size
                )));
            }
            let records = self.records(&buf, u64::from(extent.0) * SECTOR, &shown)?;
            let mut children: Vec<IsoEntry> = Vec::new();
            let mut subdirs = Vec::new();
            let mut continuing = false;
            // The byte ranges of the file being continued, by start: its
            // parts may not overlap, so together they fit in the image.
            let mut parts: BTreeMap<u64, u64> = BTreeMap::new();
            for r in records {
                if r.id == [0] || r.id == [1] {
                    continuing = false;
                    continue;
                }
                let parsed = match rr {
                    Some(skip) => {
                        susp::parse(r.su.get(usize::from(skip)..).unwrap_or(&[]), |l, o, n| {
                            self.read_ce(l, o, n)
                        })
                        .map_err(|e| Error::Corrupt(format!("record at offset {}: {e}", r.at)))?
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
                        if data_len > 0 {
                            let path = last.display_path();
                            self.check_extent(r.extent, data_len, &path)?;
                            let start = u64::from(r.extent) * SECTOR;
                            let end = start + data_len;
                            let before = parts.range(..end).next_back();
                            if let Some((&s, &e)) = before.filter(|(_, &e)| e > start) {
                                return Err(Error::Corrupt(format!(
                                    "{path}: multi-extent part {} at sector {} ({data_len} bytes) overlaps an earlier part (sector {}, {} bytes)",
                                    last.extents.len() + 1,
                                    r.extent,
                                    s / SECTOR,
                                    e - s
                                )));
                            }
                            parts.insert(start, end);
                            last.extents.push((r.extent, data_len));
                        }
                        last.size += data_len;
                        continuing = r.flags & FLAG_MULTI_EXTENT != 0;
                        continue;
                    }
                }
                continuing = r.flags & FLAG_MULTI_EXTENT != 0;
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
                    return Err(Error::Corrupt(format!(
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
                let mode = parsed.px.map(|p| p[0]);
                let mut is_dir = r.flags & FLAG_DIRECTORY != 0;
                let mut dir_extent = (r.extent, r.size);
                if let Some(cl) = parsed.child_link {
                    is_dir = true;
                    let mut probe = vec![0u8; SECTOR as usize];
                    self.check_extent(cl, SECTOR, &format!("/{}", String::from_utf8_lossy(&path)))?;
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
                parts.clear();
                if entry.kind == IsoKind::File {
                    entry.size = data_len;
                    if data_len > 0 {
                        self.check_extent(r.extent, data_len, &entry.display_path())?;
                        entry.extents.push((r.extent, data_len));
                        let start = u64::from(r.extent) * SECTOR;
                        parts.insert(start, start + data_len);
                    }
                }
                if entry.kind == IsoKind::Directory {
                    if !seen.insert(dir_extent.0) {
                        return Err(Error::Corrupt(format!(
                            "directory loop: {} points back at sector {}, already listed",
                            entry.display_path(),
                            dir_extent.0
                        )));
                    }
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

    fn check_extent(&self, lba: u32, len: u64, path: &str) -> Result<()> {
        let at = u64::from(lba) * SECTOR;
        if at + len > self.size {
            return Err(Error::Corrupt(format!(
                "{path}: {len} bytes at sector {lba} run past the end of the image ({} bytes)",
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
            return Err(Error::Unsafe {
                path: dest.display().to_string(),
                why: "the destination directory is not empty".into(),
            });
        }
        fs::create_dir_all(dest)?;
        let entries = self.entries()?;
        let mut summary = ExtractSummary::default();
        let mut dirs: Vec<(PathBuf, &IsoEntry)> = Vec::new();
        for e in &entries {
            let target = safe_join(dest, e)?;
            let exists = |err: io::Error| -> Error {
                if err.kind() == io::ErrorKind::AlreadyExists {
                    Error::Unsafe {
                        path: e.display_path(),
                        why: "a second entry of the same name".into(),
                    }
                } else {
                    Error::Io(io::Error::new(
                        err.kind(),
                        format!("{}: {err}", target.display()),
                    ))
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
            return Err(Error::Unsafe {
                path: e.display_path(),
                why: "the name is empty, `.`, `..` or holds NUL or `/`".into(),
            });
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
