//! The members of a tar archive, found in place: each header read at its
//! offset and the data skipped, never read. Extension headers (pax records,
//! GNU long names) are applied to the member after them and read into
//! memory only up to a small bound, whatever size an archive claims.

use crate::{Error, ReadAt, Result};

/// Most bytes of a pax extended header or a GNU long name read into memory.
pub const EXTENSION_LIMIT: u64 = 64 << 10;

/// A member of a tar archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarMember {
    /// Its name, from a pax `path` record, a GNU long name or the header
    /// (ustar's prefix and name joined), as bytes.
    pub name: Vec<u8>,
    /// Its type.
    pub kind: tar::EntryType,
    /// Where its header starts (the first extension header's, if any).
    pub header_offset: u64,
    /// Where its data starts.
    pub offset: u64,
    /// Bytes of data (a pax `size` record's, when there is one).
    pub size: u64,
}

impl TarMember {
    /// The name as text (invalid UTF-8 replaced), for lookups and messages.
    pub fn name_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.name)
    }
}

/// Every member of the tar archive in `io`, in order; `format` names the
/// archive's format in errors (`"OVA"`, `"OCI"`).
pub fn tar_members(io: &(impl ReadAt + ?Sized), format: &'static str) -> Result<Vec<TarMember>> {
    let len = io
        .size()
        .map_err(|e| Error::io(format, "reading the archive's size", e))?;
    let mut out = Vec::new();
    let mut pos = 0u64;
    let mut first_header: Option<u64> = None;
    let mut pax_path: Option<Vec<u8>> = None;
    let mut pax_size: Option<u64> = None;
    let mut long_name: Option<Vec<u8>> = None;
    loop {
        if len - pos < 512 {
            // Archives cut at a header boundary (no end blocks) are read to
            // their end, as tar does; a partial header is damage.
            if pos == len && first_header.is_none() {
                if pos == 0 {
                    return Err(Error::invalid_format(
                        format,
                        "an empty file is not a tar archive",
                    ));
                }
                break;
            }
            return Err(Error::corrupt(format, "the archive ends inside a tar header").at(pos));
        }
        let mut block = [0u8; 512];
        io.read_exact_at(&mut block, pos)
            .map_err(|e| Error::io(format, "reading a tar header", e).at(pos))?;
        if block.iter().all(|&b| b == 0) {
            if first_header.is_some() {
                return Err(Error::corrupt(
                    format,
                    "the archive ends after an extension header, before its member",
                )
                .at(pos));
            }
            break;
        }
        check_sum(&block).map_err(|why| Error::corrupt(format, why).field("chksum").at(pos))?;
        let header = tar::Header::from_byte_slice(&block);
        let size = match pax_size.take() {
            Some(s) => s,
            None => header.entry_size().map_err(|e| {
                Error::corrupt(format, format!("tar header: {e}"))
                    .field("size")
                    .at(pos)
            })?,
        };
        let data = pos + 512;
        data.checked_add(size)
            .filter(|&e| e <= len)
            .ok_or_else(|| {
                Error::corrupt(
                    format,
                    format!(
                        "a member of {size} bytes runs past the end of the archive ({len} bytes)"
                    ),
                )
                .at(pos)
            })?;
        let next = data + size.next_multiple_of(512);
        let kind = header.entry_type();
        let bounded = |what: &str| -> Result<Vec<u8>> {
            if size > EXTENSION_LIMIT {
                return Err(Error::unsupported(
                    format,
                    format!("a {what} of {size} bytes, more than the {EXTENSION_LIMIT} read"),
                )
                .at(pos));
            }
            let mut bytes = vec![0u8; size as usize];
            io.read_exact_at(&mut bytes, data)
                .map_err(|e| Error::io(format, format!("reading a {what}"), e).at(data))?;
            Ok(bytes)
        };
        match kind {
            tar::EntryType::XHeader => {
                let bytes = bounded("pax header")?;
                for rec in tar::PaxExtensions::new(&bytes) {
                    let rec = rec.map_err(|e| {
                        Error::corrupt(format, format!("malformed pax record: {e}")).at(data)
                    })?;
                    match rec.key() {
                        Ok("path") => pax_path = Some(rec.value_bytes().to_vec()),
                        Ok("size") => {
                            let text = rec.value().ok().unwrap_or("");
                            pax_size = Some(text.parse().map_err(|_| {
                                Error::corrupt(format, format!("pax size {text:?} is not a number"))
                                    .at(data)
                            })?);
                        }
                        _ => {}
                    }
                }
                first_header.get_or_insert(pos);
            }
            tar::EntryType::GNULongName => {
                let mut bytes = bounded("GNU long name")?;
                while bytes.last() == Some(&0) {
                    bytes.pop();
                }
                long_name = Some(bytes);
                first_header.get_or_insert(pos);
            }
            // Records for the whole archive, and long link targets, say
            // nothing about where members are.
            tar::EntryType::XGlobalHeader | tar::EntryType::GNULongLink => {
                if kind == tar::EntryType::GNULongLink {
                    first_header.get_or_insert(pos);
                }
            }
            _ => {
                let name = pax_path
                    .take()
                    .or_else(|| long_name.take())
                    .unwrap_or_else(|| header.path_bytes().into_owned());
                long_name = None;
                out.push(TarMember {
                    name,
                    kind,
                    header_offset: first_header.take().unwrap_or(pos),
                    offset: data,
                    size,
                });
            }
        }
        pos = next.min(len);
    }
    Ok(out)
}

/// Checks a header block's checksum: the unsigned sum of its bytes with
/// the checksum field read as spaces (some old writers used signed bytes).
fn check_sum(block: &[u8; 512]) -> std::result::Result<(), String> {
    let field = &block[148..156];
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let stored = u32::from_str_radix(text.trim(), 8)
        .map_err(|_| format!("tar header checksum {text:?} is not an octal number"))?;
    let mut unsigned = 0u32;
    let mut signed = 0i32;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u32::from(b);
        signed += i32::from(b as i8);
    }
    if stored == unsigned || i64::from(stored) == i64::from(signed) {
        Ok(())
    } else {
        Err(format!(
            "tar header checksum {stored} does not match its bytes ({unsigned})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    }

    #[test]
    fn members_are_found_with_long_names_by_offset() {
        let long = format!("blobs/{}/x", "d".repeat(150));
        let bytes = archive(|b| {
            file(b, "index.json", b"{}");
            file(b, &long, b"hello");
        });
        let m = tar_members(&bytes, "test").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, b"index.json");
        assert_eq!(&bytes[m[0].offset as usize..][..2], b"{}");
        assert_eq!(m[1].name_lossy(), long);
        assert_eq!(&bytes[m[1].offset as usize..][..5], b"hello");
        assert!(m[1].header_offset < m[1].offset - 512);
    }

    #[test]
    fn a_pax_size_record_is_the_size() {
        let bytes = archive(|b| {
            b.append_pax_extensions([("size", &b"3"[..])]).unwrap();
            // The header's own size field says 0; the record wins.
            let mut h = tar::Header::new_ustar();
            h.set_size(0);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_path("x").unwrap();
            h.set_cksum();
            b.get_mut().extend_from_slice(h.as_bytes());
            b.get_mut().extend_from_slice(b"abc");
            let padded = b.get_ref().len().next_multiple_of(512);
            b.get_mut().resize(padded, 0);
            file(b, "after", b"z");
        });
        let m = tar_members(&bytes, "test").unwrap();
        assert_eq!(m[0].size, 3);
        assert_eq!(m[1].name, b"after");
    }

    #[test]
    fn damage_is_named_with_its_offset() {
        let mut bytes = archive(|b| file(b, "a", b"1"));
        bytes[0] ^= 1;
        let e = tar_members(&bytes, "test").unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
        let bytes = archive(|b| file(b, "a", &[7; 2000]));
        let e = tar_members(&bytes[..1024], "test").unwrap_err();
        assert!(e.to_string().contains("past the end"), "{e}");
        let huge = archive(|b| {
            b.append_pax_extensions([("comment", &vec![b'x'; 100_000][..])])
                .unwrap();
            file(b, "a", b"1");
        });
        let e = tar_members(&huge, "test").unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");
        assert!(tar_members(&Vec::<u8>::new(), "test").is_err());
    }
}
