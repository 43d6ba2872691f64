//! Header blobs as rpm keeps them in its database: the package's header,
//! its immutable region byte for byte, followed by the tags rpm adds when
//! it reads and installs the package — the signature tags it merges in
//! (`headerMergeLegacySigs`), its retrofits, and the install's own
//! (`FILESTATES`, `INSTALLTID`, `INSTALLTIME`, `INSTALLCOLOR`) — laid out
//! as `headerExport` writes them: added entries after the region's, by
//! tag, their data after the region's data, each aligned to its type.

use zerocopy::big_endian::{I32, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// rpm's header data types (`rpmTagType`).
pub(crate) const CHAR: u32 = 1;
const INT8: u32 = 2;
const INT16: u32 = 3;
pub(crate) const INT32: u32 = 4;
const INT64: u32 = 5;
pub(crate) const STRING: u32 = 6;
pub(crate) const BIN: u32 = 7;
pub(crate) const STRING_ARRAY: u32 = 8;
pub(crate) const I18N_STRING: u32 = 9;

/// `RPMTAG_HEADERIMMUTABLE`: the region tag of a package's main header.
const HEADER_IMMUTABLE: u32 = 63;
/// rpm's limits on a header it imports (`hdrchkTags`, `hdrchkData`).
const MAX_TAGS: usize = 0xffff;
const MAX_DATA: usize = 0x0fff_ffff;

/// One index entry (rpm's `struct entryInfo_s`), big-endian on disk.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
struct EntryInfo {
    /// The tag.
    tag: U32,
    /// The data type (`rpmTagType`).
    ty: U32,
    /// Where its data starts in the data store; a region's trailer holds
    /// minus the size of the region's index instead.
    offset: I32,
    /// How many values.
    count: U32,
}
const _: () = assert!(size_of::<EntryInfo>() == 16);

/// A header blob: entry count and data length (big-endian `u32`s), the
/// index, then the data store.
pub(crate) struct Blob<'a> {
    index: &'a [EntryInfo],
    data: &'a [u8],
}

/// A tag to add to a header: its type, value count and data, in the
/// header's (big-endian) form.
pub(crate) struct Added {
    pub(crate) tag: u32,
    pub(crate) ty: u32,
    pub(crate) count: u32,
    pub(crate) data: Vec<u8>,
}

impl Added {
    /// One `INT32` value.
    pub(crate) fn int32(tag: u32, value: u32) -> Self {
        Added {
            tag,
            ty: INT32,
            count: 1,
            data: value.to_be_bytes().to_vec(),
        }
    }
}

impl<'a> Blob<'a> {
    /// Reads a blob's index, checking every entry's data lies in the store.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, String> {
        let (counts, rest) = <[U32; 2]>::ref_from_prefix(bytes)
            .map_err(|_| "shorter than its 8-byte intro".to_string())?;
        let (il, dl) = (counts[0].get() as usize, counts[1].get() as usize);
        if il == 0 || il > MAX_TAGS || dl > MAX_DATA {
            return Err(format!("{il} entries and {dl} bytes of data"));
        }
        let (index, data) = <[EntryInfo]>::ref_from_prefix_with_elems(rest, il)
            .map_err(|_| format!("{il} index entries go past the end"))?;
        let data = data
            .get(..dl)
            .ok_or_else(|| format!("{dl} bytes of data go past the end"))?;
        let blob = Blob { index, data };
        for e in index {
            blob.data_of(e)?;
        }
        Ok(blob)
    }

    fn entry(&self, tag: u32) -> Option<&'a EntryInfo> {
        self.index.iter().find(|e| e.tag.get() == tag)
    }

    /// Whether the header has `tag`.
    pub(crate) fn has(&self, tag: u32) -> bool {
        self.entry(tag).is_some()
    }

    /// An entry's data, as long as its type and count make it.
    fn data_of(&self, e: &EntryInfo) -> Result<&'a [u8], String> {
        let (tag, count) = (e.tag.get(), e.count.get() as usize);
        let rest = usize::try_from(e.offset.get())
            .ok()
            .and_then(|at| self.data.get(at..))
            .ok_or_else(|| format!("tag {tag}: data offset {} out of range", e.offset))?;
        let len = match e.ty.get() {
            CHAR | INT8 | BIN => Some(count),
            INT16 => count.checked_mul(2),
            INT32 => count.checked_mul(4),
            INT64 => count.checked_mul(8),
            ty @ (STRING | STRING_ARRAY | I18N_STRING) => {
                // A STRING is one string whatever its count says.
                let strings = if ty == STRING { 1 } else { count };
                let mut len = 0;
                for _ in 0..strings {
                    let n = rest
                        .get(len..)
                        .and_then(|r| r.iter().position(|&b| b == 0))
                        .ok_or_else(|| format!("tag {tag}: a string without its end"))?;
                    len += n + 1;
                }
                Some(len)
            }
            other => return Err(format!("tag {tag}: unknown data type {other}")),
        };
        len.and_then(|n| rest.get(..n))
            .ok_or_else(|| format!("tag {tag}: {count} values go past the data"))
    }

    /// A tag's type, count and data.
    fn raw(&self, tag: u32) -> Option<(u32, u32, &'a [u8])> {
        let e = self.entry(tag)?;
        let data = self.data_of(e).ok()?;
        Some((e.ty.get(), e.count.get(), data))
    }

    /// A string tag's values (every translation of an i18n string); none
    /// when the header lacks the tag or it is not a string.
    pub(crate) fn strings(&self, tag: u32) -> Vec<&'a str> {
        match self.raw(tag) {
            Some((STRING | STRING_ARRAY | I18N_STRING, _, data)) => data
                .split(|&b| b == 0)
                .take(data.iter().filter(|&&b| b == 0).count())
                .map(|s| std::str::from_utf8(s).unwrap_or(""))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// An `INT32` tag's values.
    pub(crate) fn u32s(&self, tag: u32) -> Vec<u32> {
        match self.raw(tag) {
            Some((INT32, _, data)) => data
                .chunks_exact(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A `BIN` tag's bytes.
    pub(crate) fn binary(&self, tag: u32) -> Option<&'a [u8]> {
        match self.raw(tag) {
            Some((BIN, _, data)) => Some(data),
            _ => None,
        }
    }

    /// The header as rpm stores it: this header, whose immutable region
    /// must hold every entry, with `added` appended after it.
    pub(crate) fn installed(&self, mut added: Vec<Added>) -> Result<Vec<u8>, String> {
        self.check_region()?;
        // Added entries ("drips") sort by tag (header.c, offsetCmp).
        added.sort_by_key(|a| a.tag);
        let mut data = self.data.to_vec();
        let mut index: Vec<EntryInfo> = Vec::with_capacity(added.len());
        for a in added {
            if self.has(a.tag) {
                return Err(format!("tag {} is in the header already", a.tag));
            }
            let align = match a.ty {
                INT16 => 2,
                INT32 => 4,
                INT64 => 8,
                _ => 1,
            };
            data.resize(data.len().next_multiple_of(align), 0);
            let offset = i32::try_from(data.len()).map_err(|_| "too much data".to_string())?;
            data.extend_from_slice(&a.data);
            index.push(EntryInfo {
                tag: a.tag.into(),
                ty: a.ty.into(),
                offset: offset.into(),
                count: a.count.into(),
            });
        }
        let il = self.index.len() + index.len();
        if il > MAX_TAGS || data.len() > MAX_DATA {
            return Err(format!(
                "{il} entries and {} bytes of data once installed",
                data.len()
            ));
        }
        let mut out = Vec::with_capacity(8 + il * 16 + data.len());
        out.extend_from_slice(&(il as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(self.index.as_bytes());
        out.extend_from_slice(index.as_bytes());
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Checks the header opens with an immutable region that holds all of
    /// its entries, as every package rpm 4 builds has; older ones rpm
    /// converts on reading, which this does not do.
    fn check_region(&self) -> Result<(), String> {
        let first = &self.index[0];
        let trailer = (first.tag.get() == HEADER_IMMUTABLE
            && first.ty.get() == BIN
            && first.count.get() == 16)
            .then(|| {
                usize::try_from(first.offset.get())
                    .ok()
                    .and_then(|at| self.data.get(at..at.checked_add(16)?))
                    .and_then(|b| EntryInfo::read_from_bytes(b).ok())
            })
            .flatten()
            .ok_or("no immutable region (RPMTAG_HEADERIMMUTABLE); packages older than rpm 4 are not supported")?;
        let size = -i64::from(trailer.offset.get());
        if trailer.tag.get() != HEADER_IMMUTABLE || size != 16 * self.index.len() as i64 {
            return Err(format!(
                "the immutable region covers {} of the header's {} entries",
                size / 16,
                self.index.len()
            ));
        }
        Ok(())
    }
}

/// rpm's translation of signature tags into the header (package.c,
/// `xlateTags`): signature tag, header tag, header type, the count it
/// must have (0: any), and whether the header may hold it already.
const SIGNATURE_TAGS: [(u32, u32, u32, u32, bool); 15] = [
    (1000, 257, INT32, 1, false),       // SIZE → SIGSIZE
    (1002, 259, BIN, 0, false),         // PGP → SIGPGP
    (1004, 261, BIN, 16, false),        // MD5 → SIGMD5
    (1005, 262, BIN, 0, false),         // GPG → SIGGPG
    (1007, 1046, INT32, 1, true),       // PAYLOADSIZE → ARCHIVESIZE
    (274, 5090, STRING_ARRAY, 0, true), // FILESIGNATURES
    (275, 5091, INT32, 1, true),        // FILESIGNATURELENGTH
    (276, 276, STRING_ARRAY, 0, false), // VERITYSIGNATURES
    (277, 277, INT32, 1, false),        // VERITYSIGNATUREALGO
    (269, 269, STRING, 1, false),       // SHA1 → SHA1HEADER
    (273, 273, STRING, 1, false),       // SHA256 → SHA256HEADER
    (267, 267, BIN, 0, false),          // DSA → DSAHEADER
    (268, 268, BIN, 0, false),          // RSA → RSAHEADER
    (270, 270, INT64, 1, false),        // LONGSIZE → LONGSIGSIZE
    (271, 271, INT64, 1, false),        // LONGARCHIVESIZE
];

/// The signature header's tags rpm copies into the header it installs,
/// refused where rpm refuses the package.
pub(crate) fn merged_signature_tags(header: &Blob, signature: &Blob) -> Result<Vec<Added>, String> {
    for &(stag, xtag, _, _, either) in &SIGNATURE_TAGS {
        // Some may be in either header, never in both.
        if header.has(xtag) && (!either || signature.has(stag)) {
            return Err(format!(
                "signature tag {stag} is in the main header too (as tag {xtag})"
            ));
        }
    }
    let mut out = Vec::new();
    for &(stag, xtag, ty, count, _) in &SIGNATURE_TAGS {
        let Some((sty, scount, data)) = signature.raw(stag) else {
            continue;
        };
        if sty != ty || !(1..=16 * 1024 * 1024).contains(&scount) || (count != 0 && scount != count)
        {
            return Err(format!(
                "invalid signature tag {stag}: type {sty}, {scount} values"
            ));
        }
        out.push(Added {
            tag: xtag,
            ty,
            count: scount,
            data: data.to_vec(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header of `entries` (tag, type, count, data) with an immutable
    /// region around them, as rpmbuild lays it out.
    fn header(entries: &[(u32, u32, u32, &[u8])]) -> Vec<u8> {
        let il = entries.len() + 1;
        let mut index = Vec::new();
        let mut data = Vec::new();
        for &(tag, ty, count, d) in entries {
            data.resize(
                data.len().next_multiple_of(if ty == INT32 { 4 } else { 1 }),
                0,
            );
            index.push(EntryInfo {
                tag: tag.into(),
                ty: ty.into(),
                offset: (data.len() as i32).into(),
                count: count.into(),
            });
            data.extend_from_slice(d);
        }
        let trailer = EntryInfo {
            tag: HEADER_IMMUTABLE.into(),
            ty: BIN.into(),
            offset: (-16 * il as i32).into(),
            count: 16.into(),
        };
        index.insert(
            0,
            EntryInfo {
                tag: HEADER_IMMUTABLE.into(),
                ty: BIN.into(),
                offset: (data.len() as i32).into(),
                count: 16.into(),
            },
        );
        data.extend_from_slice(trailer.as_bytes());
        let mut out = (il as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(index.as_bytes());
        out.extend_from_slice(&data);
        out
    }

    #[test]
    fn added_tags_follow_the_region_by_tag_and_aligned() {
        let h = header(&[(1000, STRING, 1, b"name\0")]);
        let blob = Blob::parse(&h).unwrap_or_else(|e| panic!("{e}"));
        let out = blob
            .installed(vec![
                Added::int32(1128, 7),
                Added {
                    tag: 1029,
                    ty: CHAR,
                    count: 3,
                    data: vec![0, 2, 0],
                },
                Added::int32(1008, 9),
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        // The region's 21 bytes of data as they were, then 1008 at 24,
        // 1029 at 28, 1128 at 32 (aligned from 31).
        assert_eq!(out[..8], [0, 0, 0, 5, 0, 0, 0, 36]);
        assert_eq!(out[8..8 + 32], h[8..8 + 32]);
        let installed = Blob::parse(&out).unwrap_or_else(|e| panic!("{e}"));
        let tags: Vec<(u32, i32)> = installed
            .index
            .iter()
            .map(|e| (e.tag.get(), e.offset.get()))
            .collect();
        assert_eq!(
            tags,
            [(63, 5), (1000, 0), (1008, 24), (1029, 28), (1128, 32)]
        );
        assert_eq!(installed.u32s(1128), [7]);
        assert_eq!(installed.strings(1000), ["name"]);
        assert!(blob.installed(vec![Added::int32(1000, 1)]).is_err());
    }

    #[test]
    fn a_header_without_its_region_is_refused() {
        let mut h = header(&[(1000, STRING, 1, b"name\0")]);
        h[8..12].copy_from_slice(&62u32.to_be_bytes());
        let blob = Blob::parse(&h).unwrap_or_else(|e| panic!("{e}"));
        assert!(blob.installed(Vec::new()).is_err());
    }

    #[test]
    fn signature_tags_merge_as_rpm_translates_them() {
        let h = header(&[(1000, STRING, 1, b"name\0")]);
        let s = header(&[
            (273, STRING, 1, b"abc\0"),
            (1000, INT32, 1, &[0, 0, 1, 0]),
            (1008, BIN, 2, &[0, 0]),
        ]);
        let (h, s) = (Blob::parse(&h).unwrap(), Blob::parse(&s).unwrap());
        let merged = merged_signature_tags(&h, &s).unwrap();
        let tags: Vec<u32> = merged.iter().map(|a| a.tag).collect();
        assert_eq!(tags, [257, 273]);
        let bad = header(&[(1004, BIN, 8, &[0; 8])]);
        assert!(merged_signature_tags(&h, &Blob::parse(&bad).unwrap()).is_err());
    }
}
