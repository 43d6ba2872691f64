//! The VMDK reader as a [`DiskImage`] for programs that open any format.

use blocksink::{DiskImage, ReaderSpec};

use crate::{is_vmdk, VmdkReader};

/// The VMDK reader's entry in a format list: a sparse extent, or a
/// descriptor whose extent files are opened from the same directory only.
pub const READER: ReaderSpec = ReaderSpec {
    name: "vmdk",
    probe: |head, _| is_vmdk(head),
    open: |path, _| Ok(Box::new(VmdkReader::open_path(path)?)),
};

impl DiskImage for VmdkReader {
    fn format_name(&self) -> &'static str {
        READER.name
    }
    fn details(&self) -> Vec<(String, String)> {
        let Some(d) = &self.descriptor else {
            return Vec::new();
        };
        let mut out = vec![("create_type".into(), d.create_type.clone())];
        for key in [
            "ddb.adapterType",
            "ddb.virtualHWVersion",
            "ddb.toolsVersion",
        ] {
            if let Some(v) = d.get(key) {
                out.push((key.into(), v.into()));
            }
        }
        out.push(("extents".into(), d.extents.len().to_string()));
        out
    }
}
