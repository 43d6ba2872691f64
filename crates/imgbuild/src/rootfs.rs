//! The root filesystem as a stream of entries — the `rootfs` crate's
//! model, which the package stage shares — and the one source this stage
//! adds to it: a container image, its layers applied ([`crate::layers`]).

use std::path::Path;

pub use ::rootfs::{
    missing_parents, normalize, note_parents, paths, resolve_parents, source_error, under,
    walk_dir_with, Entry, EntryKind, EntrySource, Rootfs, TarWriter,
};

use crate::Result as BuildResult;

/// Opens the root filesystem `spec` names: a container image —
/// `oci:DIR[:REF]`, `oci-archive:FILE[:REF]` or
/// `docker-archive:FILE[:NAME:TAG]`, its layers applied with their
/// whiteouts ([`crate::layers`]) — or a directory or tar archive.
pub fn open_rootfs(spec: &Path) -> BuildResult<Box<dyn EntrySource>> {
    if let Some(source) = spec.to_str().and_then(container::ImageSource::parse) {
        let text = spec.to_string_lossy();
        return Ok(Box::new(crate::layers::ImageRootfs::open(&source, &text)?));
    }
    Ok(Box::new(Rootfs::open(spec)?))
}
