//! Tar archives read as entries: plain, gzip, xz or zstd, detected by
//! their first bytes, read once from start to end, with every extension
//! header (pax, GNU long names) bounded before it is read.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::{normalize, rootfs_error, Entry, EntryKind, Error, Result, Rootfs};

/// The compression of an archive, by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// `reader` decompressed as its first bytes say.
fn decompressed<'a>(mut reader: Box<dyn Read + 'a>, path: &Path) -> Result<Box<dyn Read + 'a>> {
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::file(path, e)),
        }
    }
    let raw =
        BufReader::with_capacity(1 << 20, io::Cursor::new(head[..got].to_vec()).chain(reader));
    Ok(match sniff(&head[..got]) {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(raw)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| Error::file(path, e))?,
        ),
    })
}

impl Rootfs {
    /// Walks a tar stream read from `reader` (plain or compressed), as
    /// [`Rootfs::walk`] does an archive file; `name` names it in errors.
    pub fn walk_stream<'a>(
        name: &Path,
        reader: impl Read + 'a,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        walk_tar(name, decompressed(Box::new(reader), name)?, false, visit)
    }

    /// Walks one layer of a container image: a tar stream as
    /// [`walk_stream`](Self::walk_stream) reads one, where an archive with
    /// no entries at all is an empty layer rather than an error.
    pub fn walk_layer<'a>(
        name: &Path,
        reader: impl Read + 'a,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        walk_tar(name, Box::new(reader), true, visit)
    }
}

pub(crate) fn walk_archive(
    path: &Path,
    visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::file(path, e))?;
    walk_tar(path, decompressed(Box::new(file), path)?, false, visit)
}

/// Most bytes of a pax extended header read into memory: paths, link
/// targets and xattrs (an SELinux label, an ACL) take far less.
const PAX_LIMIT: u64 = 1 << 20;
/// Most bytes of a GNU long name or link target (Linux's PATH_MAX is 4096).
const LONG_NAME_LIMIT: u64 = 64 << 10;

/// Extension headers met before the member they describe.
#[derive(Default)]
struct Pending {
    pax: Option<Vec<u8>>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
}

/// A member's bytes, read into memory only up to `limit`.
fn read_bounded<R: Read>(
    member: &mut tar::Entry<'_, R>,
    limit: u64,
    what: &str,
) -> std::result::Result<Vec<u8>, String> {
    let len = member
        .header()
        .entry_size()
        .map_err(|e| format!("header field size: {e}"))?;
    if len > limit {
        return Err(format!(
            "a {what} of {len} bytes, more than the {limit} this reader takes"
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    member
        .take(len)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading a {what}: {e}"))?;
    if (bytes.len() as u64) < len {
        return Err(format!("the archive is truncated inside a {what}"));
    }
    Ok(bytes)
}

fn walk_tar(
    path: &Path,
    reader: Box<dyn Read + '_>,
    empty_ok: bool,
    visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    // Extension headers (pax, GNU long names) are read here, each bounded,
    // rather than by the tar crate, which would take any size an archive
    // claims into memory.
    let entries = archive
        .entries()
        .map_err(|e| rootfs_error(path, None, format!("not a tar archive: {e}")))?
        .raw(true);
    let mut seen_any = false;
    let mut last = String::new();
    let mut pending = Pending::default();
    for item in entries {
        let mut member = item.map_err(|e| {
            rootfs_error(
                path,
                None,
                format!("unreadable archive after member {last:?}: {e}"),
            )
        })?;
        seen_any = true;
        let after = || format!("(the header after {last:?})");
        use tar::EntryType as T;
        match member.header().entry_type() {
            T::XHeader => {
                let bytes = read_bounded(&mut member, PAX_LIMIT, "pax header")
                    .map_err(|why| rootfs_error(path, Some(&after()), why))?;
                pending.pax = Some(bytes);
                continue;
            }
            T::XGlobalHeader => {
                read_bounded(&mut member, PAX_LIMIT, "pax global header")
                    .map_err(|why| rootfs_error(path, Some(&after()), why))?;
                continue;
            }
            T::GNULongName | T::GNULongLink => {
                let long_name = member.header().entry_type() == T::GNULongName;
                let mut bytes = read_bounded(&mut member, LONG_NAME_LIMIT, "GNU long name")
                    .map_err(|why| rootfs_error(path, Some(&after()), why))?;
                while bytes.last() == Some(&0) {
                    bytes.pop();
                }
                if long_name {
                    pending.long_name = Some(bytes);
                } else {
                    pending.long_link = Some(bytes);
                }
                continue;
            }
            _ => {}
        }
        let ext = std::mem::take(&mut pending);
        let records = match &ext.pax {
            Some(bytes) => {
                pax_records(bytes).map_err(|why| rootfs_error(path, Some(&after()), why))?
            }
            None => Vec::new(),
        };
        let pax_value = |key: &str| {
            records
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let raw_path = pax_value("path")
            .or(ext.long_name)
            .unwrap_or_else(|| member.path_bytes().into_owned());
        let link = pax_value("linkpath").or(ext.long_link);
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        let rel = normalize(&raw_path).map_err(|why| rootfs_error(path, Some(&shown), why))?;
        let entry = archive_entry(&mut member, rel, &records, link)
            .map_err(|why| rootfs_error(path, Some(&shown), why))?;
        last.clone_from(&shown);
        let Some(entry) = entry else { continue };
        let len = match entry.kind {
            EntryKind::File { len } => len,
            _ => 0,
        };
        let mut counted = Counted {
            inner: &mut member,
            left: len,
        };
        visit(&entry, &mut counted).map_err(|e| {
            if ran_short(&e) {
                rootfs_error(
                    path,
                    Some(&shown),
                    format!("the archive is truncated: the member's {len} bytes are not all there"),
                )
            } else {
                e
            }
        })?;
        // Whatever the visitor left unread is still read, so a truncated
        // member is always noticed.
        io::copy(&mut counted, &mut io::sink()).map_err(|e| truncated(path, &shown, len, e))?;
    }
    if !seen_any && !empty_ok {
        return Err(rootfs_error(
            path,
            None,
            "holds no entries (an empty or non-tar file)",
        ));
    }
    Ok(())
}

/// Whether `e` came of a member's bytes ending early: the visitor's own
/// read of them failed with [`io::ErrorKind::UnexpectedEof`], as a bare
/// I/O error or as the I/O error of the stage whose visitor read them.
fn ran_short(e: &Error) -> bool {
    let eof = |io: &io::Error| io.kind() == io::ErrorKind::UnexpectedEof;
    e.io_error().is_some_and(eof)
        || e.carried()
            .and_then(|stage| stage.source())
            .and_then(|cause| cause.downcast_ref::<io::Error>())
            .is_some_and(eof)
}

/// A pax header's records as (key, value), in order.
fn pax_records(bytes: &[u8]) -> std::result::Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for rec in tar::PaxExtensions::new(bytes) {
        let rec = rec.map_err(|e| format!("malformed pax record: {e}"))?;
        let key = rec
            .key()
            .map_err(|_| "a pax record's key is not UTF-8".to_string())?;
        out.push((key.to_owned(), rec.value_bytes().to_vec()));
    }
    Ok(out)
}

fn truncated(path: &Path, member: &str, len: u64, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        rootfs_error(
            path,
            Some(member),
            format!("the archive is truncated: the member's {len} bytes are not all there"),
        )
    } else {
        rootfs_error(path, Some(member), format!("reading the member: {e}"))
    }
}

/// A member's bytes, exactly `left` of them: ending early is an
/// `UnexpectedEof` error.
pub(crate) struct Counted<'a, R: Read> {
    pub(crate) inner: &'a mut R,
    pub(crate) left: u64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} bytes missing", self.left),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The entry a tar member describes (`None` for members that carry no file:
/// global pax headers and the like).
fn archive_entry<R: Read>(
    member: &mut tar::Entry<'_, R>,
    path: String,
    records: &[(String, Vec<u8>)],
    link_override: Option<Vec<u8>>,
) -> std::result::Result<Option<Entry>, String> {
    let mut xattrs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut pax: HashMap<String, Vec<u8>> = HashMap::new();
    for (key, value) in records {
        if let Some(name) = key
            .strip_prefix("SCHILY.xattr.")
            .or_else(|| key.strip_prefix("LIBARCHIVE.xattr."))
        {
            let value = if key.starts_with("LIBARCHIVE.") {
                base64_decode(value).ok_or_else(|| format!("pax record {key}: not base64"))?
            } else {
                value.clone()
            };
            xattrs.retain(|(n, _)| n != name);
            xattrs.push((name.to_owned(), value));
        } else {
            pax.insert(key.clone(), value.clone());
        }
    }
    let h = member.header();
    let number = |key: &str, from_header: io::Result<u64>| -> std::result::Result<u64, String> {
        match pax.get(key) {
            Some(v) => std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.split('.').next())
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("pax record {key} is not a number")),
            None => from_header.map_err(|e| format!("header field {key}: {e}")),
        }
    };
    let id = |key: &str, v: io::Result<u64>| -> std::result::Result<u32, String> {
        let n = number(key, v)?;
        u32::try_from(n).map_err(|_| format!("{key} {n} does not fit in 32 bits"))
    };
    let mode = h.mode().map_err(|e| format!("header field mode: {e}"))? & 0o7777;
    let uid = id("uid", h.uid())?;
    let gid = id("gid", h.gid())?;
    // A pax time may be negative and have a fraction ("-100.5").
    let mtime = match pax.get("mtime") {
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.split('.').next())
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| "pax record mtime is not a number".to_string())?,
        None => {
            let t = h.mtime().map_err(|e| format!("header field mtime: {e}"))?;
            i64::try_from(t).map_err(|_| format!("mtime {t} is out of range"))?
        }
    };
    let link = || -> std::result::Result<Vec<u8>, String> {
        link_override
            .clone()
            .or_else(|| member.link_name_bytes().map(|l| l.into_owned()))
            .ok_or_else(|| "a link without a target".to_string())
    };
    // The data that follows is the header's size; a pax size saying
    // otherwise (files of 8 GiB and more) is not followed.
    let size = member.size();
    if let Some(v) = pax.get("size") {
        let declared = std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        if declared != Some(size) {
            return Err(format!(
                "a pax size of {} where the header says {size}: members of 8 GiB or more are not supported",
                String::from_utf8_lossy(v)
            ));
        }
    }
    let device = || -> std::result::Result<(u32, u32), String> {
        let major = h
            .device_major()
            .map_err(|e| format!("header field devmajor: {e}"))?
            .unwrap_or(0);
        let minor = h
            .device_minor()
            .map_err(|e| format!("header field devminor: {e}"))?
            .unwrap_or(0);
        Ok((major, minor))
    };
    use tar::EntryType as T;
    let kind = match h.entry_type() {
        T::Regular | T::Continuous => EntryKind::File { len: size },
        T::Directory => EntryKind::Dir,
        T::Symlink => {
            let target = link()?;
            EntryKind::Symlink {
                target: String::from_utf8(target)
                    .map_err(|_| "the symlink target is not valid UTF-8".to_string())?,
            }
        }
        T::Link => {
            let target = link()?;
            let target = normalize(&target).map_err(|why| format!("hard link target: {why}"))?;
            if target.is_empty() {
                return Err("a hard link to the root directory".into());
            }
            EntryKind::HardLink { target }
        }
        T::Char => {
            let (major, minor) = device()?;
            EntryKind::Char { major, minor }
        }
        T::Block => {
            let (major, minor) = device()?;
            EntryKind::Block { major, minor }
        }
        T::Fifo => EntryKind::Fifo,
        T::XGlobalHeader => return Ok(None),
        T::GNUSparse => return Err("GNU sparse members are not supported".into()),
        other => {
            return Err(format!(
                "unsupported member type {:?}",
                other.as_byte() as char
            ))
        }
    };
    if path.is_empty() && kind != EntryKind::Dir {
        return Err("the root of the tree is not a directory".into());
    }
    Ok(Some(Entry {
        path,
        kind,
        mode,
        uid,
        gid,
        mtime,
        xattrs,
    }))
}

/// Standard base64 (libarchive's xattr records), padding optional.
fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header of type `ty` claiming `size` bytes, and nothing after it.
    fn lone_header(ty: u8, size: u64) -> Vec<u8> {
        let mut h = tar::Header::new_gnu();
        h.set_path("x").unwrap_or_default();
        h.set_size(size);
        h.set_entry_type(tar::EntryType::new(ty));
        h.set_cksum();
        h.as_bytes().to_vec()
    }

    #[test]
    fn extension_headers_are_bounded_before_they_are_read() {
        for (ty, what) in [
            (b'L', "GNU long name"),
            (b'K', "GNU long name"),
            (b'x', "pax header"),
        ] {
            let bytes = lone_header(ty, 1 << 40);
            let err =
                Rootfs::walk_stream(Path::new("big.tar"), io::Cursor::new(bytes), &mut |_, _| {
                    Ok(())
                })
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(what) && err.contains("1099511627776 bytes"),
                "{err}"
            );
        }
    }

    #[test]
    fn base64_as_libarchive_writes_it() {
        assert_eq!(
            base64_decode(b"AQIDBA==").as_deref(),
            Some(&[1u8, 2, 3, 4][..])
        );
        assert_eq!(
            base64_decode(b"AQIDBA").as_deref(),
            Some(&[1u8, 2, 3, 4][..])
        );
        assert_eq!(base64_decode(b"*"), None);
    }
}
