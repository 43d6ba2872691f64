//! The VHD reader as a [`DiskImage`] for programs that open any format.

use std::fs::File;

use blocksink::{DiskImage, ReadAt, ReaderSpec, Structure};

use crate::format::DISK_FIXED;
use crate::{is_vhd_footer, VhdReader};

/// The VHD reader's entry in a format list: a footer at the end, or its
/// copy at the start.
pub const READER: ReaderSpec = ReaderSpec {
    name: "vhd",
    probe: |head, tail| is_vhd_footer(tail) || is_vhd_footer(head),
    open: |_, file: File| Ok(Box::new(VhdReader::open(file)?)),
};

impl<R: ReadAt + Send> DiskImage for VhdReader<R> {
    fn format_name(&self) -> &'static str {
        READER.name
    }
    fn details(&self) -> Vec<(String, String)> {
        let i = self.info();
        let kind = if i.disk_type == DISK_FIXED {
            "fixed"
        } else {
            "dynamic"
        };
        let (c, h, s) = i.geometry;
        let mut d = vec![
            ("type".into(), kind.into()),
            (
                "creator".into(),
                i.creator.trim_end_matches(['\0', ' ']).to_string(),
            ),
            ("current_size".into(), i.current_size.to_string()),
            ("chs_size".into(), i.chs_size.to_string()),
            ("geometry".into(), format!("{c}/{h}/{s}")),
        ];
        if let Some(bs) = i.block_size {
            d.push(("block_size".into(), bs.to_string()));
        }
        d
    }
    /// The footer against its copy, and blocks against each other.
    fn check_structure(&mut self) -> blocksink::Result<Structure> {
        Ok(Structure::errors(self.check()?))
    }
}
