//! The files and directories of a FAT file system, added one at a time,
//! and the order and names they are laid out with.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use blocksink::BuildStamp;
use tempfile::{SpooledData, SpooledTempFile};

use crate::error::{invalid, too_small, unsupported};
use crate::geometry::{FatGeometry, FatType};
use crate::image::{Chain, FatImage, Spooled};
use crate::names::{assign_short_names, label_str, leaf, long_name, volume_label};
use crate::time::dos_time;
use crate::{
    Error, Result, ENTRY, LFN_UNITS, MAX_DIR_ENTRIES, MAX_FILE, MAX_SIZE, MIB, SECTOR,
    SPOOL_IN_MEMORY,
};

/// The directories and files of a FAT file system, added one at a time
/// (in any order: each directory's entries are laid out in name order),
/// their bytes kept until the layout is known. Nothing is placed yet.
///
/// Paths are `/`-separated and relative to the file system's root; a
/// parent not added before is made. Adding a file again replaces it.
/// Names are checked when the tree is laid out ([`size_needed`],
/// [`build`]): a name FAT cannot hold, or two that differ only in case,
/// is an error naming the path as the caller's root name shows it.
///
/// The bytes of the files wait in one unnamed temporary file — in memory
/// up to [`SPOOL_IN_MEMORY`] bytes, then on disk — never in a directory
/// of scratch files.
///
/// [`size_needed`]: FatTree::size_needed
/// [`build`]: FatTree::build
#[derive(Debug)]
pub struct FatTree {
    /// The root as errors name it (`/boot/efi`, `(esp)`, a host directory).
    shown: String,
    /// The root first, then each entry as it was first added.
    entries: Vec<Entry>,
    /// Entries by path ("" for the root).
    index: HashMap<String, usize>,
    /// The files' bytes, one after another.
    spool: SpooledTempFile,
}

#[derive(Debug)]
struct Entry {
    /// The path below the root, `/`-separated ("" for the root).
    rel: String,
    kind: EntryKind,
}

#[derive(Debug)]
enum EntryKind {
    /// Entries in the order they were added.
    Dir { children: Vec<usize> },
    /// `len` bytes at offset `at` of the spool.
    File { len: u64, at: u64 },
}

/// An entry laid out: its names and what it holds.
#[derive(Debug)]
pub(crate) struct Node {
    /// The path below the root, `/`-separated ("" for the root).
    pub(crate) rel: String,
    pub(crate) parent: usize,
    /// The 8.3 name, space-padded, as stored.
    pub(crate) short: [u8; 11],
    /// The name in UTF-16 when it needs long-name entries.
    pub(crate) long: Option<Vec<u16>>,
    pub(crate) kind: NodeKind,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    /// Entries in name order and the 32-byte slots they take (with `.` and
    /// `..`, and long names; the root's volume label is not counted).
    Dir { children: Vec<usize>, slots: u64 },
    /// `len` bytes at offset `at` of the spool.
    File { len: u64, at: u64 },
}

impl Node {
    /// Slots the node's entry takes in its parent.
    fn slots(&self) -> u64 {
        1 + self
            .long
            .as_ref()
            .map_or(0, |u| u.len().div_ceil(LFN_UNITS) as u64)
    }

    /// Clusters the node's contents take.
    fn clusters(&self, cluster: u64) -> u64 {
        match &self.kind {
            NodeKind::File { len, .. } => len.div_ceil(cluster),
            NodeKind::Dir { slots, .. } => (slots * ENTRY).div_ceil(cluster).max(1),
        }
    }
}

/// The tree's entries in layout order, named and counted.
struct Plan {
    /// The root first, then each directory's entries in name order as a
    /// depth-first walk reaches them.
    nodes: Vec<Node>,
    /// Clusters every node but the root needs, for clusters of 512 << k bytes.
    clusters_needed: [u64; 8],
    /// Bytes of all files.
    file_bytes: u64,
}

/// `rel` below the root `shown`, as errors name it.
pub(crate) fn shown(root: &str, rel: &str) -> String {
    Path::new(root).join(rel).display().to_string()
}

impl FatTree {
    /// An empty tree whose root errors call `shown_root` (`/boot/efi`
    /// names `EFI/BOOT` `/boot/efi/EFI/BOOT`); files beyond
    /// [`SPOOL_IN_MEMORY`] bytes wait in the system's temporary directory.
    pub fn new(shown_root: impl Into<String>) -> FatTree {
        Self::with_spool(
            shown_root.into(),
            tempfile::spooled_tempfile(SPOOL_IN_MEMORY),
        )
    }

    /// An empty tree as [`new`](Self::new) makes it, whose files beyond
    /// [`SPOOL_IN_MEMORY`] bytes wait in an unnamed temporary file in
    /// `work`.
    pub fn new_in(shown_root: impl Into<String>, work: &Path) -> FatTree {
        Self::with_spool(
            shown_root.into(),
            tempfile::spooled_tempfile_in(SPOOL_IN_MEMORY, work),
        )
    }

    fn with_spool(shown: String, spool: SpooledTempFile) -> FatTree {
        FatTree {
            shown,
            entries: vec![Entry {
                rel: String::new(),
                kind: EntryKind::Dir {
                    children: Vec::new(),
                },
            }],
            index: HashMap::from([(String::new(), 0)]),
            spool,
        }
    }

    /// Reads the tree under `dir`, adding its directories and files as
    /// [`add_dir`](Self::add_dir) and [`add_file`](Self::add_file) do:
    /// directories and regular files only (a symlink or special file is an
    /// error, as is a name FAT cannot hold or two names that differ only
    /// in case). Errors name paths under `dir`.
    pub fn from_dir(dir: &Path) -> Result<FatTree> {
        let meta = fs::metadata(dir).map_err(|e| Error::file(dir, e))?;
        if !meta.is_dir() {
            return Err(invalid(dir, "a FAT image is built from a directory"));
        }
        let mut tree = FatTree::new(dir.display().to_string());
        let mut stack = vec![String::new()];
        while let Some(rel) = stack.pop() {
            let here = dir.join(&rel);
            let mut entries = fs::read_dir(&here)
                .and_then(|d| d.collect::<io::Result<Vec<_>>>())
                .map_err(|e| Error::file(&here, e))?;
            entries.sort_by_key(|e| e.file_name());
            let mut subdirs = Vec::new();
            for e in entries {
                let path = e.path();
                let name = e
                    .file_name()
                    .into_string()
                    .map_err(|_| unsupported(&path, "a FAT name must be valid UTF-8"))?;
                let child = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let ft = e.file_type().map_err(|e| Error::file(&path, e))?;
                if ft.is_dir() {
                    tree.add_dir(&child)?;
                    subdirs.push(child);
                } else if ft.is_file() {
                    let mut file = File::open(&path).map_err(|e| Error::file(&path, e))?;
                    let len = file.metadata().map_err(|e| Error::file(&path, e))?.len();
                    tree.add_file(&child, len, &mut file)?;
                } else {
                    return Err(unsupported(
                        &path,
                        "only directories and regular files can go into a FAT image",
                    ));
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
        // The names, checked now as the tree is read.
        tree.plan()?;
        Ok(tree)
    }

    /// Adds the directory `path` (and any parent it lacks); one already
    /// there is left as it is.
    pub fn add_dir(&mut self, path: &str) -> Result<()> {
        let parts = self.parts(path)?;
        self.dir_at(&parts).map(|_| ())
    }

    /// Adds the file `path` (and any parent directory it lacks) holding the
    /// `len` bytes `data` gives, which are read now and kept until the file
    /// system is written. A file already at `path` is replaced.
    ///
    /// An error reading `data` (or `data` ending before `len` bytes) is an
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) error naming the file, the
    /// reader's error its cause.
    pub fn add_file(&mut self, path: &str, len: u64, data: &mut dyn Read) -> Result<()> {
        let (rel, parent) = self.file_place(path)?;
        if len > MAX_FILE {
            return Err(unsupported(
                self.shown(&rel),
                format!("{len} bytes is more than a FAT file can hold (4 GiB - 1)"),
            ));
        }
        let at = self
            .spool(len, data)
            .map_err(|e| Error::file(self.shown(&rel), e))?;
        self.put_file(rel, parent, len, at);
        Ok(())
    }

    /// Adds the file `path` holding the bytes of the file `of`, added
    /// before (a hard link: FAT has none, so the bytes again — kept once).
    pub fn add_copy(&mut self, path: &str, of: &str) -> Result<()> {
        let source = self.parts(of)?.join("/");
        let (len, at) = match self.index.get(&source).map(|&i| &self.entries[i].kind) {
            Some(&EntryKind::File { len, at }) => (len, at),
            _ => {
                return Err(invalid(
                    self.shown(path.trim_matches('/')),
                    format!(
                        "a copy of {}, which is not a file added before",
                        self.shown(&source)
                    ),
                ))
            }
        };
        let (rel, parent) = self.file_place(path)?;
        self.put_file(rel, parent, len, at);
        Ok(())
    }

    /// `rel` as errors name it.
    fn shown(&self, rel: &str) -> String {
        shown(&self.shown, rel)
    }

    /// The names in `path`, which must be plain (no empty part, `.` or `..`).
    fn parts<'a>(&self, path: &'a str) -> Result<Vec<&'a str>> {
        let trimmed = path.trim_matches('/');
        if trimmed.is_empty() {
            return Ok(Vec::new());
        }
        let parts: Vec<&str> = trimmed.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(invalid(
                self.shown(trimmed),
                "a path in a FAT file system is names between `/`, without empty parts, `.` or `..`",
            ));
        }
        Ok(parts)
    }

    /// The directory at `parts`, made with its parents if missing.
    fn dir_at(&mut self, parts: &[&str]) -> Result<usize> {
        let mut at = 0;
        let mut rel = String::new();
        for part in parts {
            if !rel.is_empty() {
                rel.push('/');
            }
            rel.push_str(part);
            at = match self.index.get(&rel) {
                Some(&i) => match self.entries[i].kind {
                    EntryKind::Dir { .. } => i,
                    EntryKind::File { .. } => {
                        return Err(invalid(self.shown(&rel), "is a file, not a directory"))
                    }
                },
                None => self.insert(
                    at,
                    rel.clone(),
                    EntryKind::Dir {
                        children: Vec::new(),
                    },
                ),
            };
        }
        Ok(at)
    }

    /// Where the file `path` goes: its path, checked, and its directory.
    fn file_place(&mut self, path: &str) -> Result<(String, usize)> {
        let parts = self.parts(path)?;
        let Some((_, parents)) = parts.split_last() else {
            return Err(invalid(self.shown(""), "is the root directory, not a file"));
        };
        let rel = parts.join("/");
        if let Some(&i) = self.index.get(&rel) {
            if let EntryKind::Dir { .. } = self.entries[i].kind {
                return Err(invalid(self.shown(&rel), "is a directory, not a file"));
            }
        }
        let parent = self.dir_at(parents)?;
        Ok((rel, parent))
    }

    /// Puts the file `rel` in directory `parent`, or replaces it.
    fn put_file(&mut self, rel: String, parent: usize, len: u64, at: u64) {
        match self.index.get(&rel) {
            Some(&i) => self.entries[i].kind = EntryKind::File { len, at },
            None => {
                self.insert(parent, rel, EntryKind::File { len, at });
            }
        }
    }

    fn insert(&mut self, parent: usize, rel: String, kind: EntryKind) -> usize {
        let i = self.entries.len();
        self.index.insert(rel.clone(), i);
        self.entries.push(Entry { rel, kind });
        if let EntryKind::Dir { children } = &mut self.entries[parent].kind {
            children.push(i);
        }
        i
    }

    /// Copies `len` bytes of `data` to the end of the spool; their offset.
    fn spool(&mut self, len: u64, data: &mut dyn Read) -> io::Result<u64> {
        let at = self.spool.seek(SeekFrom::End(0))?;
        let copied = io::copy(&mut data.take(len), &mut self.spool)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the data ends after {copied} of its {len} bytes"),
            ));
        }
        Ok(at)
    }

    /// The entries in layout order, each directory's in name order, with
    /// their short names: what FAT cannot hold is an error naming it.
    fn plan(&self) -> Result<Plan> {
        let mut nodes = vec![Node {
            rel: String::new(),
            parent: 0,
            short: [b' '; 11],
            long: None,
            kind: NodeKind::Dir {
                children: Vec::new(),
                slots: 0,
            },
        }];
        // The entry of each node.
        let mut from = vec![0usize];
        let mut file_bytes = 0u64;
        let mut stack = vec![0usize];
        while let Some(at) = stack.pop() {
            let EntryKind::Dir { children: added } = &self.entries[from[at]].kind else {
                unreachable!("node {at} is a directory");
            };
            let mut added = added.clone();
            added.sort_by(|&a, &b| leaf(&self.entries[a].rel).cmp(leaf(&self.entries[b].rel)));
            let mut children = Vec::with_capacity(added.len());
            let mut subdirs = Vec::new();
            for i in added {
                let entry = &self.entries[i];
                let units = long_name(leaf(&entry.rel))
                    .map_err(|why| unsupported(self.shown(&entry.rel), why))?;
                let kind = match entry.kind {
                    EntryKind::Dir { .. } => {
                        subdirs.push(nodes.len());
                        NodeKind::Dir {
                            children: Vec::new(),
                            slots: 0,
                        }
                    }
                    EntryKind::File { len, at } => {
                        file_bytes += len;
                        NodeKind::File { len, at }
                    }
                };
                children.push(nodes.len());
                from.push(i);
                nodes.push(Node {
                    rel: entry.rel.clone(),
                    parent: at,
                    short: [b' '; 11],
                    long: Some(units),
                    kind,
                });
            }
            assign_short_names(&mut nodes, &children)
                .map_err(|why| unsupported(self.shown(&nodes[at].rel), why))?;
            let own = if at == 0 { 0 } else { 2 };
            let slots = own + children.iter().map(|&c| nodes[c].slots()).sum::<u64>();
            // The root of FAT32 is bounded the same way; one slot is kept
            // for the volume label.
            if slots + u64::from(at == 0) > MAX_DIR_ENTRIES {
                return Err(unsupported(
                    self.shown(&nodes[at].rel),
                    format!(
                        "{} entries need {slots} directory slots, more than FAT's {MAX_DIR_ENTRIES}",
                        children.len()
                    ),
                ));
            }
            nodes[at].kind = NodeKind::Dir { children, slots };
            stack.extend(subdirs.into_iter().rev());
        }
        let mut clusters_needed = [0u64; 8];
        for (k, n) in clusters_needed.iter_mut().enumerate() {
            *n = nodes[1..].iter().map(|x| x.clusters(SECTOR << k)).sum();
        }
        Ok(Plan {
            nodes,
            clusters_needed,
            file_bytes,
        })
    }

    /// The smallest size, `at_least` or more in whole MiB, whose file system
    /// holds the tree with volume label `label`. (Not always the smallest of
    /// all: a bigger size can mean bigger clusters and more slack.)
    pub fn size_needed(&self, label: &str, at_least: u64) -> Result<u64> {
        self.plan()?.size_needed(&self.shown, label, at_least)
    }

    /// Places the tree in a file system of exactly `size` bytes with volume
    /// `label` (up to 11 characters from `A`–`Z`, `0`–`9`, space and
    /// ``!#$%&'()-@^_`{}~``; empty for none); the volume id and times come
    /// from `stamp`. A tree that does not fit is an error whose
    /// [`FatTooSmall`](crate::FatTooSmall) detail names the size that would
    /// hold it.
    pub fn build(self, size: u64, label: &str, stamp: &BuildStamp) -> Result<FatImage> {
        let plan = self.plan()?;
        let label = volume_label(label)?;
        let labelled = label.is_some();
        let too_small = |plan: &Plan| -> Result<Error> {
            let needed = plan.size_needed(&self.shown, &label_str(label), size)?;
            Ok(too_small(&self.shown, size, needed))
        };
        let geometry = match FatGeometry::for_size(size) {
            Ok(g) => g,
            Err(_) if size % SECTOR == 0 && size <= MAX_SIZE => return Err(too_small(&plan)?),
            Err(e) => return Err(e),
        };
        if !plan.fits(&geometry, labelled) {
            return Err(too_small(&plan)?);
        }

        // Clusters in node order: the FAT32 root first, at cluster 2.
        let cluster = geometry.cluster_bytes();
        let mut next = 2u32;
        let mut chains = Vec::with_capacity(plan.nodes.len());
        for (i, n) in plan.nodes.iter().enumerate() {
            let count = match (i, geometry.fat_type) {
                (0, FatType::Fat32) => (plan.root_slots(labelled) * ENTRY).div_ceil(cluster).max(1),
                (0, _) => 0,
                _ => n.clusters(cluster),
            } as u32;
            chains.push(Chain {
                first: if count == 0 { 0 } else { next },
                count,
            });
            next += count;
        }
        let volume_id = u32::from_le_bytes(
            stamp.uuid("fat volume id").as_bytes()[..4]
                .try_into()
                .expect("4 bytes"),
        );
        let data = match self.spool.into_inner() {
            SpooledData::InMemory(cursor) => Spooled::Memory(cursor.into_inner()),
            SpooledData::OnDisk(file) => Spooled::File(file),
        };
        Ok(FatImage {
            shown: self.shown,
            nodes: plan.nodes,
            data,
            geometry,
            label,
            volume_id,
            time: dos_time(stamp.unix_time()),
            chains,
            used: next - 2,
        })
    }
}

impl Plan {
    /// Slots the root directory takes, with the volume label's.
    fn root_slots(&self, labelled: bool) -> u64 {
        match self.nodes[0].kind {
            NodeKind::Dir { slots, .. } => slots + u64::from(labelled),
            NodeKind::File { .. } => unreachable!("the root is a directory"),
        }
    }

    /// Whether the tree fits in a file system laid out as `g`.
    fn fits(&self, g: &FatGeometry, labelled: bool) -> bool {
        let cluster = g.cluster_bytes();
        let k = (cluster / SECTOR).trailing_zeros() as usize;
        let root = self.root_slots(labelled);
        let (root_clusters, root_ok) = match g.fat_type {
            FatType::Fat32 => ((root * ENTRY).div_ceil(cluster).max(1), true),
            _ => (0, root <= u64::from(g.root_entries)),
        };
        root_ok && self.clusters_needed[k] + root_clusters <= u64::from(g.clusters)
    }

    /// [`FatTree::size_needed`], for the tree whose root is `shown`.
    fn size_needed(&self, shown: &str, label: &str, at_least: u64) -> Result<u64> {
        let labelled = volume_label(label)?.is_some();
        let start = at_least.max(self.file_bytes).max(MIB).next_multiple_of(MIB);
        let mut size = start;
        while size <= MAX_SIZE {
            if let Some(g) = FatGeometry::plan(size) {
                if self.fits(&g, labelled) {
                    return Ok(size);
                }
            }
            size += MIB;
        }
        Err(unsupported(
            shown,
            "does not fit in a FAT file system of any size",
        ))
    }
}
