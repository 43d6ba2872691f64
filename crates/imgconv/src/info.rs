//! `imgconv info`.

use std::path::{Path, PathBuf};

use crate::{open_image, Error, InputFormat, Result};

/// What `imgconv info` reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImageInfo {
    /// The image.
    pub path: PathBuf,
    /// Its detected format.
    pub format: InputFormat,
    /// Virtual size of the disk in bytes.
    pub virtual_size: u64,
    /// Length of the image file.
    pub file_size: u64,
    /// Bytes the file occupies on disk.
    pub allocated_size: u64,
    /// Bytes of the virtual disk that may hold data.
    pub data_size: u64,
    /// Format options read from the headers.
    pub format_options: Vec<(String, String)>,
    /// The GPT partitions, when the disk has a GPT.
    pub partitions: Option<Vec<PartitionInfo>>,
    /// What is wrong with the disk's GPT, if anything.
    pub gpt_problems: Vec<String>,
}

/// One GPT partition, as `imgconv info` lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PartitionInfo {
    /// 1-based entry number.
    pub number: u32,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA, inclusive.
    pub last_lba: u64,
    /// Size in bytes.
    pub size: u64,
    /// Type name when known (`esp`, `linux-root-x86-64`, …).
    pub type_name: Option<&'static str>,
    /// Type GUID.
    pub type_guid: String,
    /// Unique partition GUID.
    pub guid: String,
    /// Partition name.
    pub name: String,
}

/// Describes the image at `path`.
pub fn info(path: &Path) -> Result<ImageInfo> {
    use std::os::unix::fs::MetadataExt;
    let mut image = open_image(path)?;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let extents = image.source.extents().map_err(|e| Error::image(path, e))?;
    let (partitions, gpt_problems) = match gpt::Gpt::read(&mut image.source) {
        Ok(g) => {
            let parts = g
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    number: p.number,
                    first_lba: p.first_lba,
                    last_lba: p.last_lba,
                    size: p.size(),
                    type_name: gpt::type_name(&p.type_guid),
                    type_guid: p.type_guid.to_string(),
                    guid: p.guid.to_string(),
                    name: p.name.clone(),
                })
                .collect();
            let problems = gpt::Gpt::verify(&mut image.source).unwrap_or_default();
            (Some(parts), problems)
        }
        Err(e) if e.kind() == gpt::ErrorKind::InvalidFormat => (None, Vec::new()),
        Err(e) => (None, vec![e.to_string()]),
    };
    Ok(ImageInfo {
        path: path.to_path_buf(),
        format: image.format,
        virtual_size: image.source.size(),
        file_size: meta.len(),
        allocated_size: meta.blocks() * 512,
        data_size: extents.iter().map(|e| e.len).sum(),
        format_options: image.details,
        partitions,
        gpt_problems,
    })
}
