//! Entries written back out as a tar stream, with everything the archive
//! format can carry: owners and modes as numbers, device numbers, hard
//! links, and extended attributes and long names in pax records — the form
//! `mke2fs -d` reads through libarchive.
//!
//! Whatever it is given, the archive never holds a name an extractor would
//! place outside its destination: every member name and hard-link target
//! is relative, without `.`, `..` or empty components, and a member below
//! a symbolic link written earlier in the same archive is written where
//! that link leads inside the tree (as the tree itself holds it), never
//! through the link, which an extractor would follow out of its
//! destination.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use crate::{missing_parents, normalize, resolve_parents, Entry, EntryKind};

/// A tar stream being written entry by entry (the form a rootfs archive
/// takes, read back by [`Rootfs`](crate::Rootfs) and by `mke2fs -d`).
pub struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    /// The symbolic links in the archive, by name.
    symlinks: HashMap<String, String>,
    /// Every other name in the archive (hashed, to keep memory small),
    /// and whether it is a directory.
    written: HashMap<u64, bool>,
    /// Names written elsewhere than asked (below a link), by the name asked.
    moved: HashMap<String, String>,
}

/// A name's key in [`TarWriter::written`]: SipHash with fixed keys.
fn key(name: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(name, &mut h);
    std::hash::Hasher::finish(&h)
}

impl<W: Write> TarWriter<W> {
    /// A tar stream into `out`.
    pub fn new(out: W) -> Self {
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Complete);
        TarWriter {
            builder,
            symlinks: HashMap::new(),
            written: HashMap::new(),
            moved: HashMap::new(),
        }
    }

    /// `path` as the tree holds it: refused unless relative and plain,
    /// and with the symbolic links written before followed inside the tree
    /// (refused where one leads out of it).
    fn confined(&self, path: &str, what: &str) -> io::Result<String> {
        let refuse = |why: String| invalid(format!("{what} {path:?}: {why}"));
        match normalize(path.as_bytes()) {
            Ok(plain) if plain == path => {}
            Ok(_) => return Err(refuse("not a plain relative name".into())),
            Err(why) => return Err(refuse(why)),
        }
        resolve_parents(&self.symlinks, "", path).map_err(refuse)
    }

    /// Appends `entry` under `path` (relative; `""` is the root, written as
    /// `./`), with `data` for a regular file (exactly its length).
    ///
    /// A name that is absolute or has `.`, `..` or empty components is an
    /// error ([`io::ErrorKind::InvalidInput`]), as is one that leads out of
    /// the tree through a symbolic link written before. A name below such a
    /// link is written where the link leads, with the directories it needs
    /// there; a directory at a link's own name leaves the link in place (as
    /// rpm and the kernel keep it). A hard link must name a file written
    /// before; one to a symbolic link is written as a copy of that link.
    pub fn append(&mut self, path: &str, entry: &Entry, data: &mut dyn Read) -> io::Result<()> {
        let asked = path;
        let path = &self.confined(asked, "member")?;
        let refuse = |why: String| invalid(format!("member {asked:?}: {why}"));
        if path.is_empty() && entry.kind != EntryKind::Dir {
            return Err(refuse("the root can only be a directory".into()));
        }
        if entry.kind == EntryKind::Dir && self.symlinks.contains_key(path) {
            return Ok(());
        }
        let mut kind = entry.kind.clone();
        if let EntryKind::HardLink { target } = &entry.kind {
            let target = match self.moved.get(target) {
                Some(moved) => moved.clone(),
                None => self.confined(target, "hard-link target")?,
            };
            if let Some(link) = self.symlinks.get(&target) {
                kind = EntryKind::Symlink {
                    target: link.clone(),
                };
            } else {
                match self.written.get(&key(&target)) {
                    Some(false) => kind = EntryKind::HardLink { target },
                    Some(true) => {
                        return Err(refuse(format!("a hard link to the directory {target:?}")))
                    }
                    None => {
                        return Err(refuse(format!(
                            "a hard link to {target:?}, which is not in the archive before it"
                        )))
                    }
                }
            }
        }
        if path != asked {
            self.moved.insert(asked.to_string(), path.clone());
            // The directories the new place needs, where no entry made them.
            let missing = missing_parents(path, |d| {
                self.written.get(&key(d)) == Some(&true) || self.symlinks.contains_key(d)
            });
            for dir in missing {
                self.append(
                    &dir,
                    &Entry::implied_dir(dir.clone(), entry.mtime),
                    &mut io::empty(),
                )?;
            }
        }
        match &kind {
            EntryKind::Symlink { target } => {
                self.written.remove(&key(path));
                self.symlinks.insert(path.clone(), target.clone());
            }
            // Anything else at a link's name replaces the link.
            other => {
                self.symlinks.remove(path);
                self.written.insert(key(path), *other == EntryKind::Dir);
            }
        }
        let entry = &Entry {
            kind,
            ..entry.clone()
        };
        let name = if path.is_empty() {
            "./".to_string()
        } else if entry.kind == EntryKind::Dir {
            format!("{path}/")
        } else {
            path.to_string()
        };
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let mut h = tar::Header::new_ustar();
        let (ty, len) = match &entry.kind {
            EntryKind::Dir => (tar::EntryType::Directory, 0),
            EntryKind::File { len } => (tar::EntryType::Regular, *len),
            EntryKind::Symlink { .. } => (tar::EntryType::Symlink, 0),
            EntryKind::HardLink { .. } => (tar::EntryType::Link, 0),
            EntryKind::Char { .. } => (tar::EntryType::Char, 0),
            EntryKind::Block { .. } => (tar::EntryType::Block, 0),
            EntryKind::Fifo => (tar::EntryType::Fifo, 0),
        };
        h.set_entry_type(ty);
        h.set_size(len);
        h.set_mode(entry.mode);
        h.set_uid(u64::from(entry.uid));
        h.set_gid(u64::from(entry.gid));
        h.set_mtime(u64::try_from(entry.mtime).unwrap_or(0));
        if entry.mtime < 0 || entry.mtime > 0o77777777777 {
            pax.push(("mtime".into(), entry.mtime.to_string().into_bytes()));
        }
        if let EntryKind::Char { major, minor } | EntryKind::Block { major, minor } = entry.kind {
            h.set_device_major(major)?;
            h.set_device_minor(minor)?;
        }
        if h.set_path(&name).is_err() {
            // Too long for ustar's name and prefix: the pax record names
            // it, and readers ignore the header's stand-in.
            pax.push(("path".into(), name.clone().into_bytes()));
            h.set_path("long-name")?;
        }
        if let EntryKind::Symlink { target } | EntryKind::HardLink { target } = &entry.kind {
            if target.len() > 100 || h.set_link_name(target).is_err() {
                pax.push(("linkpath".into(), target.clone().into_bytes()));
            }
        }
        for (k, v) in &entry.xattrs {
            pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }
        if !pax.is_empty() {
            self.builder
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
        }
        h.set_cksum();
        if len == 0 {
            self.builder.append(&h, io::empty())
        } else {
            self.builder.append(&h, data.take(len))
        }
    }

    /// Writes the end-of-archive blocks and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }
}

/// An error about the entries given, not about the output.
fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
