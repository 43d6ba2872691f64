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
}

/// Describes the image at `path`.
pub fn info(path: &Path) -> Result<ImageInfo> {
    use std::os::unix::fs::MetadataExt;
    let mut image = open_image(path)?;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let extents = image.source.extents().map_err(|e| Error::image(path, e))?;
    Ok(ImageInfo {
        path: path.to_path_buf(),
        format: image.format,
        virtual_size: image.source.size(),
        file_size: meta.len(),
        allocated_size: meta.blocks() * 512,
        data_size: extents.iter().map(|e| e.len).sum(),
        format_options: image.details,
    })
}
