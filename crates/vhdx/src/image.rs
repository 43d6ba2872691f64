//! The VHDX reader as a [`DiskImage`] for programs that open any format.

use std::fs::File;

use blocksink::{DiskImage, ReadAt, ReaderSpec};

use crate::{is_vhdx, VhdxReader};

/// The VHDX reader's entry in a format list.
pub const READER: ReaderSpec = ReaderSpec {
    name: "vhdx",
    probe: |head, _| is_vhdx(head),
    open: |_, file: File| Ok(Box::new(VhdxReader::open(file)?)),
};

impl<R: ReadAt + Send> DiskImage for VhdxReader<R> {
    fn format_name(&self) -> &'static str {
        READER.name
    }
    fn details(&self) -> Vec<(String, String)> {
        let i = self.info();
        vec![
            ("block_size".into(), i.block_size.to_string()),
            (
                "logical_sector_size".into(),
                i.logical_sector_size.to_string(),
            ),
            (
                "physical_sector_size".into(),
                i.physical_sector_size.to_string(),
            ),
            ("disk_id".into(), i.disk_id.to_string()),
            ("log_length".into(), i.log_length.to_string()),
        ]
    }
}
