//! A directory walked as entries, in name order, parents first.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::archive::Counted;
use crate::{rootfs_error, Entry, EntryKind, Error, Result};

pub(crate) fn walk_dir(
    root: &Path,
    visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    walk_dir_with(root, &mut |entry, _meta, data| visit(entry, data))
}

/// Walks the directory `root` as [`Rootfs::walk`] does — the root itself
/// first, as the entry with an empty path, then every path under it in
/// name order, parents before children — handing `visit` each entry with
/// the metadata it was made from, to change before it is passed on.
pub fn walk_dir_with(
    root: &Path,
    visit: &mut dyn FnMut(&mut Entry, &fs::Metadata, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    // Hard links: the first path met for each (device, inode) with more
    // than one link.
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let full = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        // The root itself may be reached through a symlink.
        let meta = if rel.is_empty() {
            fs::metadata(&full)
        } else {
            fs::symlink_metadata(&full)
        }
        .map_err(|e| Error::file(&full, e))?;
        let ft = meta.file_type();
        let key = (meta.dev(), meta.ino());
        let mut kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File { len: meta.len() }
        } else if ft.is_symlink() {
            let target = fs::read_link(&full).map_err(|e| Error::file(&full, e))?;
            EntryKind::Symlink {
                target: target.into_os_string().into_string().map_err(|_| {
                    rootfs_error(root, Some(&rel), "the symlink target is not valid UTF-8")
                })?,
            }
        } else if ft.is_char_device() {
            EntryKind::Char {
                major: rustix::fs::major(meta.rdev()),
                minor: rustix::fs::minor(meta.rdev()),
            }
        } else if ft.is_block_device() {
            EntryKind::Block {
                major: rustix::fs::major(meta.rdev()),
                minor: rustix::fs::minor(meta.rdev()),
            }
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else {
            // Sockets are made by running programs, not installed.
            continue;
        };
        if !ft.is_dir() && meta.nlink() > 1 {
            match links.get(&key) {
                Some(first) => {
                    kind = EntryKind::HardLink {
                        target: first.clone(),
                    }
                }
                None => {
                    links.insert(key, rel.clone());
                }
            }
        }
        let mut entry = Entry {
            path: rel.clone(),
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime: meta.mtime(),
            xattrs: read_xattrs(&full).map_err(|e| Error::file(&full, e))?,
        };
        match entry.kind {
            EntryKind::File { .. } => {
                let mut f = File::open(&full).map_err(|e| Error::file(&full, e))?;
                let len = meta.len();
                visit(
                    &mut entry,
                    &meta,
                    &mut Counted {
                        inner: &mut f,
                        left: len,
                    },
                )?;
            }
            _ => visit(&mut entry, &meta, &mut io::empty())?,
        }
        if ft.is_dir() {
            let mut names = fs::read_dir(&full)
                .and_then(|d| {
                    d.map(|e| e.map(|e| e.file_name()))
                        .collect::<io::Result<Vec<_>>>()
                })
                .map_err(|e| Error::file(&full, e))?;
            names.sort();
            for name in names.into_iter().rev() {
                let name = name.into_string().map_err(|n| {
                    rootfs_error(
                        root,
                        Some(&format!("{rel}/{}", n.to_string_lossy())),
                        "the name is not valid UTF-8",
                    )
                })?;
                stack.push(if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                });
            }
        }
    }
    Ok(())
}

fn read_xattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut names = vec![0u8; 4096];
    let n = loop {
        match rustix::fs::llistxattr(path, &mut names[..]) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) if names.len() < 1 << 20 => {
                names.resize(names.len() * 4, 0);
            }
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
    };
    let mut out = Vec::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        let mut value = vec![0u8; 4096];
        let len = loop {
            match rustix::fs::lgetxattr(path, name, &mut value[..]) {
                Ok(len) => break len,
                Err(rustix::io::Errno::RANGE) if value.len() < 1 << 20 => {
                    value.resize(value.len() * 4, 0);
                }
                Err(rustix::io::Errno::NODATA) => break usize::MAX,
                Err(e) => return Err(e.into()),
            }
        };
        if len != usize::MAX {
            value.truncate(len);
            out.push((name.to_owned(), value));
        }
    }
    Ok(out)
}
