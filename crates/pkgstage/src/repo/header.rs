//! A directory of `.rpm` files read from the package headers.
//!
//! The `rpm` crate reads the headers, once this module has checked their
//! sizes and index entries: the crate trusts the counts and offsets it reads
//! (an allocation sized by the header, a slice past the data), so a
//! malformed package must be refused before it gets there.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rpm::{IndexTag, PackageMetadata};

use super::compress::file_checksum;
use super::{
    Checksum, ChecksumAlgorithm, Comparison, Dependency, Evr, FileKind, Package, PackageFile,
    Repository,
};
use crate::error;
use crate::error::{Error, Result};

/// The lead, before the signature header (rpm's `struct rpmlead`).
const LEAD_SIZE: usize = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 3] = [0x8e, 0xad, 0xe8];
/// rpm's limits on a header (`hdrchkTags`, `HEADER_DATA_MAX`).
const MAX_TAGS: usize = 0xffff;
const MAX_DATA: usize = 0x0fff_ffff;
/// Deepest directory nesting searched for packages.
const MAX_DIR_DEPTH: usize = 32;

/// `RPMSENSE_PREREQ | RPMSENSE_SCRIPT_PRE | RPMSENSE_SCRIPT_POST`: the
/// requirement flags `createrepo_c` writes as `pre="1"`.
const PRE_FLAGS: u32 = (1 << 6) | (1 << 9) | (1 << 10);
/// `RPMFILE_GHOST`.
const FILE_GHOST: u32 = 1 << 6;
const S_IFMT: u16 = 0o170000;
const S_IFDIR: u16 = 0o040000;

/// Reads every `.rpm` under `dir`.
pub(crate) fn read_rpm_dir(dir: &Path) -> Result<Repository> {
    let root = dir.canonicalize().map_err(|e| Error::file(dir, e))?;
    let mut found = Vec::new();
    walk(dir, &root, "", 0, &mut found)?;
    found.sort();
    let mut packages = Vec::with_capacity(found.len());
    for location in found {
        let path = dir.join(&location);
        packages.push(read_package(&path, location)?);
    }
    Ok(Repository {
        root: dir.to_path_buf(),
        packages,
        files_complete: true,
    })
}

/// Collects the locations of `.rpm` files under `dir/prefix`. Symbolic
/// links to packages are taken when they stay inside the repository;
/// symbolic links to directories are not followed.
fn walk(dir: &Path, root: &Path, prefix: &str, depth: usize, out: &mut Vec<String>) -> Result<()> {
    let here = dir.join(prefix);
    if depth > MAX_DIR_DEPTH {
        return Err(Error::file(
            &here,
            std::io::Error::other(format!("directories nested deeper than {MAX_DIR_DEPTH}")),
        ));
    }
    let entries = std::fs::read_dir(&here).map_err(|e| Error::file(&here, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::file(&here, e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(Error::file(
                &path,
                std::io::Error::other("a file name that is not UTF-8"),
            ));
        };
        let location = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type().map_err(|e| Error::file(&path, e))?;
        if kind.is_dir() {
            if !(depth == 0 && name == "repodata") {
                walk(dir, root, &location, depth + 1, out)?;
            }
        } else if name.ends_with(".rpm") {
            if kind.is_symlink() {
                let real = path.canonicalize().map_err(|e| Error::file(&path, e))?;
                if !real.starts_with(root) || !real.is_file() {
                    return Err(Error::file(
                        &path,
                        std::io::Error::other(format!(
                            "a link to {}, which is not a package file inside the repository",
                            real.display()
                        )),
                    ));
                }
            } else if !kind.is_file() {
                continue;
            }
            out.push(location);
        }
    }
    Ok(())
}

/// Reads one package file's headers into a [`Package`] at `location`.
pub(crate) fn read_package(path: &Path, location: String) -> Result<Package> {
    let meta = read_metadata(path)?;
    let (hex, _) = file_checksum(path, ChecksumAlgorithm::Sha256)?;
    to_package(
        path,
        &meta,
        location,
        Checksum {
            algorithm: ChecksumAlgorithm::Sha256,
            hex,
        },
    )
}

fn bad(path: &Path, field: &str, offset: usize, message: impl Into<String>) -> Error {
    error::package(path, field, Some(offset as u64), message)
}

/// Reads the lead and both headers, checked, and has the `rpm` crate parse them.
fn read_metadata(path: &Path) -> Result<PackageMetadata> {
    read_metadata_and_payload_offset(path).map(|(m, _)| m)
}

/// The headers, parsed, and the byte offset of the payload after them.
pub(crate) fn read_metadata_and_payload_offset(path: &Path) -> Result<(PackageMetadata, u64)> {
    read_package_headers(path).map(|h| (h.meta, h.payload_offset))
}

/// A package's headers: parsed, and as the blobs rpm keeps (each header
/// after its 8-byte magic: entry count, data length, index, data).
pub(crate) struct PackageHeaders {
    /// Both headers, parsed by the `rpm` crate.
    pub(crate) meta: PackageMetadata,
    /// Byte offset of the payload.
    pub(crate) payload_offset: u64,
    /// The signature header's blob.
    pub(crate) signature: Vec<u8>,
    /// The main header's blob.
    pub(crate) header: Vec<u8>,
}

/// Reads the lead and both headers, checked; the `rpm` crate parses them.
pub(crate) fn read_package_headers(path: &Path) -> Result<PackageHeaders> {
    let mut f = File::open(path).map_err(|e| Error::file(path, e))?;
    let file_len = f.metadata().map_err(|e| Error::file(path, e))?.len();
    let mut bytes = vec![0u8; LEAD_SIZE];
    read_exact(&mut f, path, &mut bytes, "lead", 0)?;
    if bytes[..4] != LEAD_MAGIC {
        return Err(bad(path, "lead", 0, "not an RPM package (no lead magic)"));
    }
    let sig_at = bytes.len();
    read_header(&mut f, path, file_len, &mut bytes, "signature header")?;
    // The signature header is padded to 8 bytes.
    let pad = (8 - (bytes.len() - sig_at) % 8) % 8;
    let at = bytes.len();
    bytes.resize(at + pad, 0);
    read_exact(
        &mut f,
        path,
        &mut bytes[at..],
        "signature header padding",
        at,
    )?;
    let header_at = bytes.len();
    read_header(&mut f, path, file_len, &mut bytes, "header")?;
    let meta = PackageMetadata::parse(&mut &bytes[..])
        .map_err(|e| error::package(path, "header", None, e.to_string()))?;
    // Each header is 8 bytes of magic and reserved space, then its blob.
    let signature = bytes[sig_at + 8..at].to_vec();
    let header = bytes[header_at + 8..].to_vec();
    Ok(PackageHeaders {
        meta,
        payload_offset: bytes.len() as u64,
        signature,
        header,
    })
}

fn read_exact(f: &mut File, path: &Path, buf: &mut [u8], field: &str, at: usize) -> Result<()> {
    f.read_exact(buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            bad(path, field, at, "the file ends inside it (truncated)")
        } else {
            Error::file(path, e)
        }
    })
}

/// Appends one header (16-byte intro, index, data) to `bytes`, after
/// checking its sizes against rpm's limits and the file's length, and every
/// index entry against its data.
fn read_header(
    f: &mut File,
    path: &Path,
    file_len: u64,
    bytes: &mut Vec<u8>,
    part: &str,
) -> Result<()> {
    let start = bytes.len();
    bytes.resize(start + 16, 0);
    read_exact(f, path, &mut bytes[start..], part, start)?;
    let intro = &bytes[start..];
    if intro[..3] != HEADER_MAGIC || intro[3] != 1 {
        return Err(bad(path, part, start, "no header magic (version 1)"));
    }
    let il = be32(intro, 8) as usize;
    let dl = be32(intro, 12) as usize;
    if il == 0 || il > MAX_TAGS {
        return Err(bad(
            path,
            part,
            start,
            format!("{il} index entries; rpm allows 1 to {MAX_TAGS}"),
        ));
    }
    if dl > MAX_DATA {
        return Err(bad(
            path,
            part,
            start,
            format!("{dl} bytes of data; rpm allows at most {MAX_DATA}"),
        ));
    }
    let size = il * 16 + dl;
    if (start + 16 + size) as u64 > file_len {
        return Err(bad(
            path,
            part,
            start,
            format!(
                "{il} entries and {dl} bytes of data go past the end of the {file_len}-byte file"
            ),
        ));
    }
    bytes.resize(start + 16 + size, 0);
    read_exact(f, path, &mut bytes[start + 16..], part, start + 16)?;
    let index = &bytes[start + 16..start + 16 + il * 16];
    let store = &bytes[start + 16 + il * 16..];
    for i in 0..il {
        let e = &index[i * 16..i * 16 + 16];
        let (tag, ty, offset, count) = (be32(e, 0), be32(e, 4), be32(e, 8), be32(e, 12) as usize);
        let at = start + 16 + i * 16;
        let field = format!("{part} tag {tag}");
        let offset = offset as usize;
        // An offset is signed in the format; a negative one is past MAX_DATA here.
        if offset > dl {
            return Err(bad(
                path,
                &field,
                at,
                format!("data offset {offset} past the {dl} bytes of data"),
            ));
        }
        let rest = &store[offset..];
        let fits = match ty {
            0 => true,
            1 | 2 | 7 => count <= rest.len(),
            3 => count.checked_mul(2).is_some_and(|n| n <= rest.len()),
            4 => count.checked_mul(4).is_some_and(|n| n <= rest.len()),
            5 => count.checked_mul(8).is_some_and(|n| n <= rest.len()),
            6 => rest.contains(&0),
            8 | 9 => count <= rest.len() && strings_fit(rest, count),
            _ => return Err(bad(path, &field, at, format!("unknown data type {ty}"))),
        };
        if !fits {
            return Err(bad(
                path,
                &field,
                at,
                format!(
                    "{count} items of type {ty} at offset {offset} go past the {dl} bytes of data"
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `count` NUL-terminated strings start `data`.
fn strings_fit(data: &[u8], count: usize) -> bool {
    let mut rest = data;
    for _ in 0..count {
        match rest.iter().position(|&b| b == 0) {
            Some(n) => rest = &rest[n + 1..],
            None => return false,
        }
    }
    true
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `createrepo_c`'s primary files: those it lists in primary.xml, and whose
/// self-requirements it leaves out.
fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}

fn to_package(
    path: &Path,
    meta: &PackageMetadata,
    location: String,
    checksum: Checksum,
) -> Result<Package> {
    let tag_err = |field: &str| {
        let path = path.to_path_buf();
        let field = field.to_string();
        move |e: rpm::Error| error::package(path, field, None, e.to_string())
    };
    let name = meta.get_name().map_err(tag_err("RPMTAG_NAME"))?.to_string();
    let epoch = match meta.get_epoch() {
        Ok(e) => e,
        Err(rpm::Error::TagNotFound(_)) => 0,
        Err(e) => return Err(tag_err("RPMTAG_EPOCH")(e)),
    };
    let version = meta
        .get_version()
        .map_err(tag_err("RPMTAG_VERSION"))?
        .to_string();
    let release = meta
        .get_release()
        .map_err(tag_err("RPMTAG_RELEASE"))?
        .to_string();
    let arch = if meta.is_source_package() {
        "src".to_string()
    } else {
        meta.get_arch().map_err(tag_err("RPMTAG_ARCH"))?.to_string()
    };
    if name.is_empty() || version.is_empty() {
        return Err(error::package(
            path,
            "RPMTAG_NAME",
            None,
            "empty name or version",
        ));
    }

    let files = files(path, meta)?;
    let provides = deps(path, "provides", meta.get_provides())?;
    let provided: HashSet<&str> = provides.iter().map(|d| d.0.name.as_str()).collect();
    let own: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    // Requirements as createrepo_c keeps them (see Repository::from_rpm_dir).
    let mut requires = Vec::new();
    let mut last_seen: HashMap<String, (u32, String, bool)> = HashMap::new();
    for (mut dep, flags, raw_version) in deps(path, "requires", meta.get_requires())? {
        let name = dep.name.as_str();
        if name.starts_with("rpmlib(")
            || (own.contains(name) && is_primary_file(name))
            || provided.contains(name)
        {
            continue;
        }
        dep.pre = flags & PRE_FLAGS != 0;
        let key = (flags & 0xf, raw_version, dep.pre);
        if last_seen.get(name) == Some(&key) {
            continue;
        }
        last_seen.insert(dep.name.clone(), key);
        requires.push(dep);
    }
    let plain = |kind: &str, r| -> Result<Vec<Dependency>> {
        Ok(deps(path, kind, r)?.into_iter().map(|d| d.0).collect())
    };
    Ok(Package {
        name,
        epoch,
        version,
        release,
        arch,
        location,
        checksum,
        conflicts: plain("conflicts", meta.get_conflicts())?,
        obsoletes: plain("obsoletes", meta.get_obsoletes())?,
        recommends: plain("recommends", meta.get_recommends())?,
        suggests: plain("suggests", meta.get_suggests())?,
        supplements: plain("supplements", meta.get_supplements())?,
        enhances: plain("enhances", meta.get_enhances())?,
        provides: provides.into_iter().map(|d| d.0).collect(),
        requires,
        files,
    })
}

/// A header's dependency list: each as a [`Dependency`], with its raw flags
/// and version string.
fn deps(
    path: &Path,
    kind: &str,
    list: std::result::Result<Vec<rpm::Dependency>, rpm::Error>,
) -> Result<Vec<(Dependency, u32, String)>> {
    let list = list.map_err(|e| error::package(path, kind, None, e.to_string()))?;
    let mut out = Vec::with_capacity(list.len());
    for d in list {
        let flags = d.flags.bits();
        let constraint = match Comparison::from_rpmsense(flags) {
            Some(op) if !d.version.is_empty() => {
                let evr = Evr::parse(&d.version).ok_or_else(|| {
                    error::package(
                        path,
                        kind,
                        None,
                        format!(
                            "{}: version {:?} has an epoch that is not a number",
                            d.name, d.version
                        ),
                    )
                })?;
                Some((op, evr))
            }
            _ => None,
        };
        out.push((
            Dependency {
                name: d.name,
                constraint,
                pre: false,
            },
            flags,
            d.version,
        ));
    }
    Ok(out)
}

/// The header's file list: names, and which are directories or ghosts.
fn files(path: &Path, meta: &PackageMetadata) -> Result<Vec<PackageFile>> {
    let paths = meta
        .get_file_paths()
        .map_err(|e| error::package(path, "RPMTAG_BASENAMES", None, e.to_string()))?;
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let h = &meta.header;
    let modes = h
        .get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES)
        .map_err(|e| error::package(path, "RPMTAG_FILEMODES", None, e.to_string()))?;
    let flags = h
        .get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEFLAGS)
        .map_err(|e| error::package(path, "RPMTAG_FILEFLAGS", None, e.to_string()))?;
    let basenames = h
        .get_entry_data_as_string_array(IndexTag::RPMTAG_BASENAMES)
        .map(<[String]>::len)
        .unwrap_or(0);
    if modes.len() != basenames || flags.len() != basenames || paths.len() != basenames {
        return Err(error::package(
            path,
            "RPMTAG_FILEMODES",
            None,
            format!(
                "{basenames} file names but {} directory indexes, {} modes and {} flags",
                paths.len(),
                modes.len(),
                flags.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(paths.len());
    for ((p, mode), flag) in paths.into_iter().zip(modes).zip(flags) {
        let p: PathBuf = p;
        let Some(s) = p.to_str() else {
            return Err(error::package(
                path,
                "RPMTAG_BASENAMES",
                None,
                format!("file name {} is not UTF-8", p.display()),
            ));
        };
        let kind = if mode & S_IFMT == S_IFDIR {
            FileKind::Dir
        } else if flag & FILE_GHOST != 0 {
            FileKind::Ghost
        } else {
            FileKind::File
        };
        out.push(PackageFile {
            path: s.to_string(),
            kind,
        });
    }
    Ok(out)
}
