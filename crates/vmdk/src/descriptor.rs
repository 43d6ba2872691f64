//! The text descriptor: which extents make the disk, and its database.

use crate::{error::F, Result};

/// Largest descriptor this crate parses.
pub const MAX_DESCRIPTOR: usize = 1 << 20;

/// What kind of file an extent is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtentKind {
    /// A hosted sparse extent (its own `KDMV` header).
    Sparse,
    /// Raw data at an offset of a file.
    Flat,
    /// Reads as zeros; no file.
    Zero,
}

/// One extent line: `RW 8388608 SPARSE "disk-s001.vmdk"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtentLine {
    /// Size in sectors.
    pub sectors: u64,
    /// Sparse, flat or zero.
    pub kind: ExtentKind,
    /// File name, relative to the descriptor's directory.
    pub file: Option<String>,
    /// Flat extents: sector offset in the file.
    pub offset: u64,
}

/// The descriptor line that makes a disk a delta (child) disk: its data
/// is only what differs from a parent disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentLink {
    /// Line of the descriptor (1-based).
    pub line: usize,
    /// `parentCID` (other than `ffffffff`) or `parentFileNameHint`.
    pub field: &'static str,
    /// Its value.
    pub value: String,
    /// `parentFileNameHint`: where the parent disk was, if the descriptor says.
    pub hint: Option<String>,
}

/// A parsed descriptor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    /// `createType`, e.g. `streamOptimized`.
    pub create_type: String,
    /// The extents, in disk order.
    pub extents: Vec<ExtentLine>,
    /// Every `key = "value"` line, in order (header and disk database).
    pub entries: Vec<(String, String)>,
    /// Set when the descriptor names a parent disk (`parentCID` other than
    /// `ffffffff`, or a `parentFileNameHint`).
    pub parent: Option<ParentLink>,
}

impl Descriptor {
    /// Parses descriptor text (NUL padding ends it).
    pub fn parse(raw: &[u8]) -> Result<Descriptor> {
        let raw = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
        if raw.len() > MAX_DESCRIPTOR {
            return Err(F.corrupt(format!("descriptor of {} bytes is too large", raw.len())));
        }
        let text = std::str::from_utf8(raw).map_err(|e| {
            F.corrupt(format!(
                "descriptor is not UTF-8 (byte {})",
                e.valid_up_to()
            ))
        })?;
        let mut d = Descriptor::default();
        let (mut parent_cid, mut hint) = (None, None);
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let first = line.split_whitespace().next().unwrap_or("");
            if ["RW", "RDONLY", "NOACCESS"].contains(&first) {
                d.extents.push(Self::extent(line, n + 1)?);
            } else if let Some((k, v)) = line.split_once('=') {
                let (k, v) = (k.trim().to_string(), v.trim().trim_matches('"').to_string());
                match k.as_str() {
                    "createType" => d.create_type = v.clone(),
                    "parentCID" => parent_cid = Some((n + 1, v.clone())),
                    "parentFileNameHint" => hint = Some((n + 1, v.clone())),
                    _ => {}
                }
                d.entries.push((k, v));
            } else {
                return Err(F.corrupt(format!("descriptor line {}: cannot parse {line:?}", n + 1)));
            }
        }
        // VMDK 5.0 §"Header": parentCID ffffffff means "no parent".
        let hint = hint.filter(|(_, h)| !h.is_empty());
        let link = match (parent_cid, &hint) {
            (Some((line, v)), _) if !v.eq_ignore_ascii_case("ffffffff") => {
                Some((line, "parentCID", v))
            }
            (_, Some((line, h))) => Some((*line, "parentFileNameHint", h.clone())),
            _ => None,
        };
        d.parent = link.map(|(line, field, value)| ParentLink {
            line,
            field,
            value,
            hint: hint.map(|(_, h)| h),
        });
        Ok(d)
    }

    /// Refuses a delta disk: its data depends on a parent disk, which this
    /// crate never opens. `place` says which descriptor (for the message).
    pub fn refuse_parent(&self, place: &str) -> Result<()> {
        let Some(p) = &self.parent else {
            return Ok(());
        };
        let parent = match &p.hint {
            Some(h) => format!("its parent {h:?}"),
            None => "a parent disk it does not name".into(),
        };
        Err(F.unsupported(format!(
            "{place} line {}: {}={}: a delta disk whose data depends on {parent}; parent disks are not opened implicitly (convert the whole chain with qemu-img first)",
            p.line, p.field, p.value
        )))
    }

    fn extent(line: &str, n: usize) -> Result<ExtentLine> {
        let bad = |why: &str| F.corrupt(format!("descriptor line {n}: {why}: {line:?}"));
        // The file name is quoted and may hold spaces.
        let (head, file, tail) = match (line.find('"'), line.rfind('"')) {
            (Some(a), Some(b)) if b > a => {
                (&line[..a], Some(line[a + 1..b].to_string()), &line[b + 1..])
            }
            _ => (line, None, ""),
        };
        let mut parts = head.split_whitespace().skip(1);
        let sectors = parts
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("extent size is not a number"))?;
        let kind = match parts.next() {
            Some("SPARSE") | Some("VMFSSPARSE") => ExtentKind::Sparse,
            Some("FLAT") | Some("VMFS") => ExtentKind::Flat,
            Some("ZERO") => ExtentKind::Zero,
            Some(other) => return Err(F.unsupported(format!("extent type {other} (line {n})"))),
            None => return Err(bad("no extent type")),
        };
        if kind != ExtentKind::Zero && file.is_none() {
            return Err(bad("no file name"));
        }
        let offset = match tail.split_whitespace().next() {
            Some(o) => o
                .parse::<u64>()
                .map_err(|_| bad("extent offset is not a number"))?,
            None => 0,
        };
        Ok(ExtentLine {
            sectors,
            kind,
            file,
            offset,
        })
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_qemu_writes() {
        let text = b"# Disk DescriptorFile\nversion=1\nCID=1234abcd\nparentCID=ffffffff\ncreateType=\"twoGbMaxExtentFlat\"\n\n# Extent description\nRW 4192256 FLAT \"my disk-f001.vmdk\" 0\nRW 100 ZERO\n\n# The Disk Data Base\n#DDB\n\nddb.adapterType = \"ide\"\n\0\0\0";
        let d = Descriptor::parse(text).unwrap();
        assert_eq!(d.create_type, "twoGbMaxExtentFlat");
        assert_eq!(d.extents.len(), 2);
        assert_eq!(d.extents[0].file.as_deref(), Some("my disk-f001.vmdk"));
        assert_eq!(d.extents[0].sectors, 4192256);
        assert_eq!(d.extents[1].kind, ExtentKind::Zero);
        assert_eq!(d.get("ddb.adapterType"), Some("ide"));
        assert!(Descriptor::parse(b"RW x SPARSE \"a\"").is_err());
        assert!(Descriptor::parse(b"garbage line").is_err());
        assert_eq!(d.parent, None);
        assert!(d.refuse_parent("descriptor").is_ok());
    }

    #[test]
    fn a_parent_makes_a_delta_disk() {
        // What `qemu-img create -f vmdk -b parent.vmdk` writes.
        let child = b"# Disk DescriptorFile\nversion=1\nCID=44410d00\nparentCID=62995316\ncreateType=\"monolithicSparse\"\nparentFileNameHint=\"parent.vmdk\"\nRW 6144 SPARSE \"child.vmdk\"\n";
        let d = Descriptor::parse(child).unwrap();
        let p = d.parent.clone().unwrap();
        assert_eq!(
            (p.line, p.field, p.value.as_str()),
            (4, "parentCID", "62995316")
        );
        assert_eq!(p.hint.as_deref(), Some("parent.vmdk"));
        let err = d.refuse_parent("descriptor").unwrap_err().to_string();
        assert!(
            err.contains("descriptor line 4: parentCID=62995316")
                && err.contains("\"parent.vmdk\""),
            "{err}"
        );
        // A hint alone is enough; parentCID=ffffffff (any case) is no parent.
        let hint =
            Descriptor::parse(b"parentCID=FFFFFFFF\nparentFileNameHint=\"p.vmdk\"\n").unwrap();
        assert_eq!(hint.parent.unwrap().field, "parentFileNameHint");
        let plain = Descriptor::parse(b"parentCID=ffffffff\nparentFileNameHint=\"\"\n").unwrap();
        assert_eq!(plain.parent, None);
        let no_hint = Descriptor::parse(b"parentCID=12345678\n").unwrap();
        let err = no_hint.refuse_parent("descriptor").unwrap_err().to_string();
        assert!(
            err.contains("parentCID=12345678") && err.contains("does not name"),
            "{err}"
        );
    }
}
