//! The qcow2 reader as a [`DiskImage`] for programs that open any format.

use std::fs::File;

use blocksink::{DiskImage, ReadAt, ReaderSpec, Structure};

use crate::{is_qcow2, CompressionType, Qcow2Reader};

/// The qcow2 reader's entry in a format list.
pub const READER: ReaderSpec = ReaderSpec {
    name: "qcow2",
    probe: |head, _| is_qcow2(head),
    open: |_, file: File| Ok(Box::new(Qcow2Reader::open(file)?)),
};

impl<R: ReadAt + Send> DiskImage for Qcow2Reader<R> {
    fn format_name(&self) -> &'static str {
        READER.name
    }
    fn details(&self) -> Vec<(String, String)> {
        let i = self.info();
        let compression = match i.compression {
            CompressionType::Deflate => "zlib",
            CompressionType::Zstd => "zstd",
        };
        vec![
            ("version".into(), i.version.to_string()),
            ("cluster_size".into(), i.cluster_size.to_string()),
            ("compression_type".into(), compression.into()),
            ("refcount_bits".into(), i.refcount_bits.to_string()),
            ("lazy_refcounts".into(), i.lazy_refcounts.to_string()),
            ("extended_l2".into(), i.extended_l2.to_string()),
            ("snapshots".into(), i.snapshots.to_string()),
        ]
    }
    /// Every reference against the refcounts, as `qemu-img check` does.
    fn check_structure(&mut self) -> blocksink::Result<Structure> {
        Ok(match self.check() {
            Ok(rep) => {
                let mut s = Structure::errors(rep.corruptions);
                s.leaked_clusters = rep.leaked_clusters;
                s.notes.extend(rep.skipped);
                s
            }
            Err(e) => Structure::errors(vec![e.to_string()]),
        })
    }
}
