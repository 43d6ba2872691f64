//! `imgconv check`: is an image's structure sound?

use std::path::Path;

use blocksink::CHUNK_SIZE;

use crate::{open_image, Error, InputFormat, Result};

/// What `imgconv check` found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckReport {
    /// The detected format.
    pub format: InputFormat,
    /// Problems that make data unreadable or wrong (qemu-img's "corruptions").
    pub errors: Vec<String>,
    /// Clusters allocated but unused (qcow2), as qemu-img counts leaks.
    pub leaked_clusters: u64,
    /// What was not checked, and why.
    pub notes: Vec<String>,
}

/// Checks the image at `path`: the format's own structure (qcow2
/// refcounts against every reference, VHD block overlaps), then every data
/// extent read through the reader, so a table pointing outside the file or
/// a compressed cluster that does not decode is reported.
pub fn check(path: &Path) -> Result<CheckReport> {
    let mut image = open_image(path)?;
    // The format's own structure, from the reader that opened the file.
    let structure = image
        .source
        .check_structure()
        .map_err(|e| Error::image(path, e))?;
    let mut errors = structure.errors;
    let notes = structure.notes;
    let leaked_clusters = structure.leaked_clusters;
    let extents = match image.source.extents() {
        Ok(e) => e,
        Err(e) => {
            errors.push(e.to_string());
            Vec::new()
        }
    };
    let mut buf = vec![0u8; CHUNK_SIZE as usize];
    'extents: for e in extents {
        let mut pos = e.offset;
        while pos < e.end() {
            let n = (e.end() - pos).min(CHUNK_SIZE) as usize;
            if let Err(err) = image.source.read_at(pos, &mut buf[..n]) {
                errors.push(format!("reading guest offset {pos}: {err}"));
                if errors.len() >= 100 {
                    break 'extents;
                }
            }
            pos += n as u64;
        }
    }
    Ok(CheckReport {
        format: image.format,
        errors,
        leaked_clusters,
        notes,
    })
}
