//! A container image as a root filesystem: its layers applied in order,
//! with whiteouts, as the OCI image specification's changeset rules say —
//! read twice and never unpacked.
//!
//! The first read takes every layer's headers and works out the final tree:
//! `.wh.NAME` removes NAME (and what is below it) from the layers under it,
//! `.wh..wh..opq` removes everything the layers under it put in its
//! directory, and an entry that is not a directory replaces a directory's
//! whole subtree. The second read hands on each entry that survives, where
//! it lies: a file from the layer that last wrote it, a directory (with the
//! owner and mode its last layer gave it) where it first appears, so every
//! parent comes before its children.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use container::{ImageReader, ImageSource};

use crate::rootfs::{Entry, EntryKind, EntrySource, Rootfs};
use crate::Result;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// A container image read as a root filesystem.
pub struct ImageRootfs {
    reader: ImageReader,
    name: PathBuf,
}

impl ImageRootfs {
    /// Opens the image `source` names.
    pub fn open(source: &ImageSource, spec: &str) -> Result<ImageRootfs> {
        Ok(ImageRootfs {
            reader: ImageReader::open(source)?,
            name: PathBuf::from(spec),
        })
    }

    /// Walks layer `i`'s entries, raw (whiteouts included), then checks
    /// its digests.
    fn walk_layer(
        &self,
        i: usize,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> rootfs::Result<()>,
    ) -> rootfs::Result<()> {
        let layer_name = self.name.join(format!("layer {}", i + 1));
        let mut stream = self.reader.layer(i)?;
        Rootfs::walk_layer(&layer_name, &mut stream, visit)?;
        stream
            .finish()
            .map_err(|e| rootfs::Error::file(&layer_name, e))
    }
}

/// What the final tree holds at a path.
struct Final {
    /// The entry's position among every layer's entries.
    ordinal: u64,
    /// A directory's entry (its metadata is handed on where it first
    /// appears).
    dir: Option<Entry>,
}

/// Removes `path`'s subtree (and `path` itself when `itself`) where the
/// entries come from before `before`.
fn remove_below(tree: &mut BTreeMap<String, Final>, path: &str, itself: bool, before: u64) {
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let doomed: Vec<String> = tree
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(k, f)| f.ordinal < before && !k.is_empty())
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        tree.remove(&k);
    }
    if itself && tree.get(path).is_some_and(|f| f.ordinal < before) {
        tree.remove(path);
    }
}

/// Whether `path` is below one of aufs's `.wh..wh.*` directories (its hard
/// link store `.wh..wh.plnk`, say), which container runtimes skip.
fn aufs_metadata(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    parts.iter().any(|c| c.starts_with(".wh..wh."))
}

/// `path`'s parent and last component.
fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

impl EntrySource for ImageRootfs {
    fn name(&self) -> &Path {
        &self.name
    }

    fn walk(
        &self,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> rootfs::Result<()>,
    ) -> rootfs::Result<()> {
        // First read: the final tree.
        let mut tree: BTreeMap<String, Final> = BTreeMap::new();
        let mut ordinal = 0u64;
        for i in 0..self.reader.layers.len() {
            let start = ordinal;
            self.walk_layer(i, &mut |entry, _| {
                let (parent, base) = split(&entry.path);
                if aufs_metadata(&entry.path) {
                    // aufs's own bookkeeping (`.wh..wh.plnk/…`), not files.
                } else if base == OPAQUE {
                    remove_below(&mut tree, parent, false, start);
                } else if let Some(hidden) = base.strip_prefix(WHITEOUT) {
                    let target = if parent.is_empty() {
                        hidden.to_string()
                    } else {
                        format!("{parent}/{hidden}")
                    };
                    remove_below(&mut tree, &target, true, start);
                } else {
                    let is_dir = entry.kind == EntryKind::Dir;
                    // A non-directory replaces whatever lower layers put
                    // below its path, whether or not they gave the
                    // directory an entry of its own.
                    if !is_dir {
                        remove_below(&mut tree, &entry.path, false, start);
                    }
                    tree.insert(
                        entry.path.clone(),
                        Final {
                            ordinal,
                            dir: is_dir.then(|| entry.clone()),
                        },
                    );
                }
                ordinal += 1;
                Ok(())
            })?;
        }

        // Second read: the survivors, in order.
        let mut ordinal = 0u64;
        let mut done_dirs: HashSet<String> = HashSet::new();
        let mut files: HashSet<String> = HashSet::new();
        for i in 0..self.reader.layers.len() {
            self.walk_layer(i, &mut |entry, data| {
                let this = ordinal;
                ordinal += 1;
                let (_, base) = split(&entry.path);
                if base.starts_with(WHITEOUT) || aufs_metadata(&entry.path) {
                    return Ok(());
                }
                let Some(f) = tree.get(&entry.path) else {
                    return Ok(());
                };
                match &f.dir {
                    Some(dir) => {
                        if entry.kind == EntryKind::Dir && done_dirs.insert(entry.path.clone()) {
                            visit(dir, &mut io::empty())?;
                        }
                        Ok(())
                    }
                    None if f.ordinal == this => {
                        if let EntryKind::HardLink { target } = &entry.kind {
                            let current = tree.get(target).map(|t| t.ordinal);
                            if !files.contains(target) || current.is_none_or(|o| o > this) {
                                return Err(rootfs::rootfs_error(
                                    &self.name,
                                    Some(&entry.path),
                                    format!(
                                        "layer {}: a hard link to {target}, which the image \
                                         removes or replaces in a later layer",
                                        i + 1
                                    ),
                                ));
                            }
                        }
                        files.insert(entry.path.clone());
                        visit(entry, data)
                    }
                    None => Ok(()),
                }
            })?;
        }
        Ok(())
    }
}
