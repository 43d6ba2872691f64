//! The file tree an image is built from: read from a directory, or put
//! together entry by entry in memory.

use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::error::{invalid_entry, invalid_file, unsupported_entry, OPTION};
use crate::format::{MAX_NAME, MAX_PATH, MAX_SYMLINK};
use crate::{Error, Result};

/// Ownership, permissions and times of an entry, as Rock Ridge records them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Permission bits (`0o7777` at most; the file type comes from the kind).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since 1970 (UTC).
    pub mtime: i64,
    /// Access time.
    pub atime: i64,
    /// Attribute change time.
    pub ctime: i64,
}

impl Metadata {
    /// Permissions `mode`, owned by root, all times `time`.
    pub fn new(mode: u32, time: i64) -> Self {
        Metadata {
            mode: mode & 0o7777,
            uid: 0,
            gid: 0,
            mtime: time,
            atime: time,
            ctime: time,
        }
    }

    fn of(m: &fs::Metadata) -> Self {
        Metadata {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            mtime: m.mtime(),
            atime: m.atime(),
            ctime: m.ctime(),
        }
    }
}

/// Where a regular file's bytes come from.
#[derive(Clone, Debug)]
pub enum FileData {
    /// A file on disk, of the size it had when the tree was read (a file
    /// that changes size before the image is written is an error).
    Path {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Bytes in memory.
    Bytes(Bytes),
    /// A file already open (a scratch file that may have no name), of the
    /// given size.
    Open {
        /// The file.
        file: std::sync::Arc<std::fs::File>,
        /// Its size.
        size: u64,
    },
}

impl FileData {
    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        match self {
            FileData::Path { size, .. } | FileData::Open { size, .. } => *size,
            FileData::Bytes(b) => b.len() as u64,
        }
    }
}

/// What an entry is.
#[derive(Clone, Debug)]
pub enum EntryKind {
    /// A directory.
    Directory,
    /// A regular file.
    File(FileData),
    /// A symbolic link to the given target.
    Symlink(Vec<u8>),
    /// A character device with the given device number.
    CharDevice(u64),
    /// A block device with the given device number.
    BlockDevice(u64),
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
}

impl EntryKind {
    /// The POSIX file type bits (`S_IFMT`) of the kind.
    pub fn type_bits(&self) -> u32 {
        match self {
            EntryKind::Directory => 0o040000,
            EntryKind::File(_) => 0o100000,
            EntryKind::Symlink(_) => 0o120000,
            EntryKind::CharDevice(_) => 0o020000,
            EntryKind::BlockDevice(_) => 0o060000,
            EntryKind::Fifo => 0o010000,
            EntryKind::Socket => 0o140000,
        }
    }
}

/// One entry of a [`Tree`].
#[derive(Clone, Debug)]
pub struct Node {
    /// The entry's name (any bytes but `/` and NUL); empty for the root.
    pub name: Vec<u8>,
    /// What it is.
    pub kind: EntryKind,
    /// Its metadata.
    pub meta: Metadata,
    /// Entries that share this key are hard links to one file: stored once,
    /// with a link count to match.
    pub link_key: Option<(u64, u64)>,
    pub(crate) parent: usize,
    pub(crate) children: Vec<usize>,
}

/// A file tree: directories, files, symlinks, devices; children kept in
/// byte order of their names, so the same tree always gives the same image.
#[derive(Clone, Debug)]
pub struct Tree {
    pub(crate) nodes: Vec<Node>,
}

/// The largest number of entries a tree may hold (ISO 9660 path tables
/// number directories in 16 bits; this bounds files too).
pub const MAX_ENTRIES: usize = 16 << 20;

impl Tree {
    /// An empty tree whose root directory has `root` metadata.
    pub fn new(root: Metadata) -> Self {
        Tree {
            nodes: vec![Node {
                name: Vec::new(),
                kind: EntryKind::Directory,
                meta: root,
                link_key: None,
                parent: 0,
                children: Vec::new(),
            }],
        }
    }

    /// Reads the tree under `dir` without following symbolic links. Hard
    /// links inside the tree are kept as hard links.
    pub fn from_dir(dir: &Path) -> Result<Tree> {
        let meta = fs::symlink_metadata(dir).map_err(|e| Error::file(dir, e))?;
        if !meta.is_dir() {
            return Err(invalid_file(dir, "not a directory"));
        }
        let mut tree = Tree::new(Metadata::of(&meta));
        let mut stack = vec![(dir.to_path_buf(), 0usize)];
        while let Some((path, index)) = stack.pop() {
            let mut names: Vec<_> = fs::read_dir(&path)
                .and_then(|d| d.map(|e| e.map(|e| e.file_name())).collect())
                .map_err(|e| Error::file(&path, e))?;
            names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            for name in names {
                let child = path.join(&name);
                let m = fs::symlink_metadata(&child).map_err(|e| Error::file(&child, e))?;
                let ft = m.file_type();
                let kind = if ft.is_dir() {
                    EntryKind::Directory
                } else if ft.is_file() {
                    EntryKind::File(FileData::Path {
                        path: child.clone(),
                        size: m.len(),
                    })
                } else if ft.is_symlink() {
                    let target = fs::read_link(&child).map_err(|e| Error::file(&child, e))?;
                    EntryKind::Symlink(target.as_os_str().as_bytes().to_vec())
                } else if ft.is_char_device() {
                    EntryKind::CharDevice(m.rdev())
                } else if ft.is_block_device() {
                    EntryKind::BlockDevice(m.rdev())
                } else if ft.is_fifo() {
                    EntryKind::Fifo
                } else {
                    EntryKind::Socket
                };
                let is_dir = matches!(kind, EntryKind::Directory);
                let link_key = (!is_dir && m.nlink() > 1).then(|| (m.dev(), m.ino()));
                let at = tree.push(
                    index,
                    name.as_bytes().to_vec(),
                    kind,
                    Metadata::of(&m),
                    link_key,
                )?;
                if is_dir {
                    stack.push((child, at));
                }
            }
        }
        Ok(tree)
    }

    fn push(
        &mut self,
        parent: usize,
        name: Vec<u8>,
        kind: EntryKind,
        meta: Metadata,
        link_key: Option<(u64, u64)>,
    ) -> Result<usize> {
        if self.nodes.len() >= MAX_ENTRIES {
            return Err(OPTION.option(format!("more than {MAX_ENTRIES} entries in the tree")));
        }
        // What a reader (this crate's, Linux's) can list and extract.
        let mut path_len = name.len();
        let mut up = parent;
        while up != 0 {
            path_len += 1 + self.nodes[up].name.len();
            up = self.nodes[up].parent;
        }
        let too_long = if name.len() > MAX_NAME {
            Some(format!(
                "a name of {} bytes, longer than {MAX_NAME}",
                name.len()
            ))
        } else if path_len > MAX_PATH {
            Some(format!(
                "a path of {path_len} bytes, longer than {MAX_PATH}"
            ))
        } else {
            match &kind {
                EntryKind::Symlink(t) if t.len() > MAX_SYMLINK => Some(format!(
                    "a symbolic link target of {} bytes, longer than {MAX_SYMLINK}",
                    t.len()
                )),
                _ => None,
            }
        };
        if let Some(why) = too_long {
            return Err(unsupported_entry(self.display_path(parent, &name), why));
        }
        let at = self.nodes.len();
        self.nodes.push(Node {
            name,
            kind,
            meta,
            link_key,
            parent,
            children: Vec::new(),
        });
        let nodes = &self.nodes;
        let siblings = &nodes[parent].children;
        let pos = siblings
            .binary_search_by(|&c| nodes[c].name.as_slice().cmp(nodes[at].name.as_slice()))
            .unwrap_or_else(|p| p);
        self.nodes[parent].children.insert(pos, at);
        Ok(at)
    }

    /// Adds the entry `path` ("dir/sub/name", relative to the root).
    /// Missing parent directories are made with the metadata of the root.
    pub fn insert(&mut self, path: &str, kind: EntryKind, meta: Metadata) -> Result<()> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let Some((last, dirs)) = parts.split_last() else {
            return Err(invalid_entry(path, "an entry needs a name"));
        };
        let mut at = 0;
        for part in dirs.iter().chain(std::iter::once(last)) {
            if *part == "." || *part == ".." || part.contains('\0') {
                return Err(invalid_entry(path, format!("`{part}` cannot be a name")));
            }
        }
        for dir in dirs {
            at = match self.child(at, dir.as_bytes()) {
                Some(c) if matches!(self.nodes[c].kind, EntryKind::Directory) => c,
                Some(_) => return Err(invalid_entry(path, format!("`{dir}` is not a directory"))),
                None => {
                    let m = self.nodes[0].meta;
                    self.push(at, dir.as_bytes().to_vec(), EntryKind::Directory, m, None)?
                }
            };
        }
        if self.child(at, last.as_bytes()).is_some() {
            return Err(invalid_entry(path, "already in the tree"));
        }
        self.push(at, last.as_bytes().to_vec(), kind, meta, None)?;
        Ok(())
    }

    /// The path of `name` under the directory `dir`, for messages.
    fn display_path(&self, dir: usize, name: &[u8]) -> String {
        let mut parts = vec![name];
        let mut up = dir;
        while up != 0 {
            parts.push(&self.nodes[up].name);
            up = self.nodes[up].parent;
        }
        parts.reverse();
        String::from_utf8_lossy(&parts.join(&b'/')).into_owned()
    }

    fn child(&self, dir: usize, name: &[u8]) -> Option<usize> {
        let siblings = &self.nodes[dir].children;
        siblings
            .binary_search_by(|&c| self.nodes[c].name.as_slice().cmp(name))
            .ok()
            .map(|i| siblings[i])
    }

    /// The index of the entry at `path`, if there is one.
    pub(crate) fn lookup(&self, path: &str) -> Option<usize> {
        let mut at = 0;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            at = self.child(at, part.as_bytes())?;
        }
        Some(at)
    }

    /// The entry at `path`, if there is one.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.lookup(path).map(|i| &self.nodes[i])
    }

    /// The path of entry `index`, for messages.
    pub(crate) fn path_of(&self, mut index: usize) -> String {
        let mut parts = Vec::new();
        while index != 0 {
            parts.push(String::from_utf8_lossy(&self.nodes[index].name).into_owned());
            index = self.nodes[index].parent;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    }

    /// Number of entries, the root included.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree holds nothing but its root.
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// Link counts per hard-link key (files that appear under several names).
    pub(crate) fn link_counts(&self) -> HashMap<(u64, u64), u32> {
        let mut counts = HashMap::new();
        for n in &self.nodes {
            if let Some(k) = n.link_key {
                *counts.entry(k).or_insert(0) += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_targets_longer_than_linux_takes_are_refused() {
        let meta = Metadata::new(0o644, 0);
        let mut t = Tree::new(meta);
        let long = "n".repeat(256);
        let err = t
            .insert(&format!("dir/{long}"), EntryKind::Directory, meta)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dir/nnn") && err.contains("a name of 256 bytes, longer than 255"),
            "{err}"
        );
        t.insert(&"n".repeat(255), EntryKind::Directory, meta)
            .unwrap();

        let deep = vec!["d".repeat(200); 21].join("/");
        let err = t
            .insert(&deep, EntryKind::Directory, meta)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a path of 4220 bytes, longer than 4095"),
            "{err}"
        );

        let target = vec![b'x'; 4096];
        let err = t
            .insert("link", EntryKind::Symlink(target), meta)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("link: a symbolic link target of 4096 bytes, longer than 4095"),
            "{err}"
        );
    }
}
