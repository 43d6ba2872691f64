//! The OVA reader as a [`DiskImage`] for programs that open any format.

use std::sync::Arc;

use blocksink::{DiskImage, ReaderSpec};

use crate::OvaReader;

/// The OVA reader's entry in a format list: a ustar archive.
pub const READER: ReaderSpec = ReaderSpec {
    name: "ova",
    probe: |head, _| head.len() >= 262 && &head[257..262] == b"ustar",
    open: |_, file| Ok(Box::new(OvaReader::open(Arc::new(file))?)),
};

impl DiskImage for OvaReader {
    fn format_name(&self) -> &'static str {
        READER.name
    }
    fn details(&self) -> Vec<(String, String)> {
        let members: Vec<&str> = self.members.iter().map(|m| m.name.as_str()).collect();
        let manifest = self
            .manifest
            .map_or("none".into(), |h| format!("{} verified", h.name()));
        let mut out = vec![
            ("members".into(), members.join(", ")),
            ("disk".into(), self.disk_name.clone()),
            ("manifest".into(), manifest),
        ];
        for (tag, value) in [
            ("vssd:VirtualSystemType", &self.descriptor.system_type),
            ("Name", &self.descriptor.name),
        ] {
            if let Some(v) = value {
                out.push((tag.into(), v.clone()));
            }
        }
        out
    }
}
