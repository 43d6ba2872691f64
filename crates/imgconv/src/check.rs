//! `imgconv check`: is an image's structure sound?

use std::path::Path;

use blocksink::CHUNK_SIZE;

use crate::{open_image, InputFormat, Result};

/// What `imgconv check` found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CheckReport {
    /// The detected format.
    pub format: InputFormat,
    /// Problems that make data unreadable or wrong.
    pub errors: Vec<String>,
}

/// Checks the image at `path`: opens it (every header check) and reads
/// every data extent through its reader, so a table that points outside the
/// file or a compressed cluster that does not decode is reported.
pub fn check(path: &Path) -> Result<CheckReport> {
    let mut image = open_image(path)?;
    let mut errors = Vec::new();
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
    })
}
