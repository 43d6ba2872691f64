//! The scratch tree scriptlets run in: packages' entries written to a
//! directory as the caller, their recorded metadata kept beside it, and
//! the tree read back as entries once every scriptlet has run.
//!
//! Paths are resolved inside the tree as a chroot would (`openat2` with
//! `RESOLVE_IN_ROOT`), so no symlink a package or scriptlet makes can send
//! a write outside it. An ordinary user cannot give files other owners, a
//! device node or every mode, so each entry the packages made is
//! remembered by inode with the inode's change time: when the tree is
//! read back, an entry no scriptlet touched gets the owner, mode, time and
//! file capabilities its package records; one a scriptlet changed or made
//! gets what the tree shows, owned by root (the only id the sandbox has),
//! its time no later than the build's. Either way an owner a scriptlet
//! gave with `chown` (recorded, see `owners`) replaces the owner.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rootfs::{Entry, EntryKind};
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

use super::owners::Owners;
use crate::{Error, Result};

/// What the packages made at one inode.
struct Record {
    entry: Entry,
    ctime: (i64, i64),
    disk_mode: u32,
    /// Where in the tree (every link of it), so that an inode number a
    /// scriptlet's new file reuses elsewhere is not taken for it.
    paths: Vec<String>,
}

/// Only file capabilities are kept of what a scriptlet leaves on a file
/// (not a host's SELinux labels or ACLs), as revision 2 (a capability a
/// namespace's `setcap` writes names that namespace's root: dropped).
fn kept_xattrs(xattrs: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    xattrs
        .iter()
        .filter(|(name, value)| name == "security.capability" && value.len() >= 20)
        .map(|(name, value)| {
            let magic = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
            let mut v = value[..20].to_vec();
            v[..4].copy_from_slice(&(0x0200_0000 | (magic & 1)).to_le_bytes());
            (name.clone(), v)
        })
        .collect()
}

/// A mode and change time as they were before [`Stage::open_up`].
type Before = (u32, (i64, i64));

/// A scratch tree.
pub(crate) struct Stage {
    dir: tempfile::TempDir,
    root: PathBuf,
    root_fd: OwnedFd,
    records: HashMap<u64, Record>,
    /// Directories made only to mount /dev and /proc on for scriptlets.
    mount_points: HashSet<String>,
    /// What [`Self::open_up`] changed, once: every walk reads the same.
    opened: std::cell::OnceCell<HashMap<u64, Before>>,
    /// The owners scriptlets gave.
    owners: std::rc::Rc<Owners>,
    /// Removed should a signal end the process first.
    _registered: blocksink::Scratch,
}

impl Stage {
    /// A new, empty scratch tree under `work_dir` (default: $TMPDIR).
    pub(crate) fn new(work_dir: Option<&Path>) -> Result<Self> {
        let base = work_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix(".imgconv-scriptlets-")
            .tempdir_in(&base)
            .map_err(|e| Error::file(&base, e))?;
        let root = dir.path().join("root");
        fs::create_dir(&root).map_err(|e| Error::file(&root, e))?;
        // As /proc shows it, so that a written entry's place is found
        // whatever links the work directory is reached through.
        let root = fs::canonicalize(&root).map_err(|e| Error::file(&root, e))?;
        let root_fd = rustix::fs::open(
            &root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::file(&root, e.into()))?;
        Ok(Stage {
            _registered: blocksink::Scratch::register(dir.path()),
            dir,
            root,
            root_fd,
            records: HashMap::new(),
            mount_points: HashSet::new(),
            opened: std::cell::OnceCell::new(),
            owners: std::rc::Rc::default(),
        })
    }

    /// The tree's root directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The owners scriptlets give, recorded as they run.
    pub(crate) fn owners(&self) -> &std::rc::Rc<Owners> {
        &self.owners
    }

    /// A directory beside the tree for scripts and their output.
    pub(crate) fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// The directory holding `rel`, resolved inside the tree, and the
    /// last component of `rel`.
    fn parent<'a>(&self, rel: &'a str) -> Result<(OwnedFd, &'a str)> {
        let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        if name.is_empty() || name == "." || name == ".." {
            return Err(self.error(rel, io::ErrorKind::InvalidInput.into()));
        }
        let fd = rustix::fs::openat2(
            &self.root_fd,
            if parent.is_empty() { "." } else { parent },
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| self.error(rel, e.into()))?;
        Ok((fd, name))
    }

    fn error(&self, rel: &str, e: io::Error) -> Error {
        Error::file(self.root.join(rel), e)
    }

    /// Where `name` in the directory `parent` is, relative to the root.
    fn real_path(&self, parent: &OwnedFd, name: &str) -> Option<String> {
        use std::os::fd::AsRawFd;
        let dir = fs::read_link(format!("/proc/self/fd/{}", parent.as_raw_fd())).ok()?;
        let rel = dir.strip_prefix(&self.root).ok()?.to_str()?.to_string();
        Some(if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        })
    }

    /// Writes `entry` (a file's bytes from `data`) into the tree.
    pub(crate) fn write(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        let rel = entry.path.as_str();
        let err = |e: rustix::io::Errno| Error::file(self.root.join(rel), e.into());
        let (parent, name) = self.parent(rel)?;
        let existing = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW).ok();
        let existing_dir = existing.is_some_and(|st| st.st_mode & 0o170000 == 0o040000);
        let existing_link = existing.is_some_and(|st| st.st_mode & 0o170000 == 0o120000);
        if entry.kind == EntryKind::Dir && existing_link {
            // A symlink to a directory stands for the directory, as rpm
            // takes it (`/bin -> usr/bin`): kept.
            let to_dir = rustix::fs::openat2(
                &self.root_fd,
                rel,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            );
            if to_dir.is_ok() {
                return Ok(());
            }
        }
        if entry.kind == EntryKind::Dir {
            if !existing_dir {
                if existing.is_some() {
                    rustix::fs::unlinkat(&parent, name, AtFlags::empty()).map_err(err)?;
                }
                rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o700)).map_err(err)?;
            }
            self.mount_points.remove(rel);
        } else if existing.is_some() {
            let flags = if existing_dir {
                AtFlags::REMOVEDIR
            } else {
                AtFlags::empty()
            };
            rustix::fs::unlinkat(&parent, name, flags).map_err(err)?;
        }
        // The mode on disk: what the entry records — a directory with
        // the owner's access added, so that this process can fill it.
        let mode = match entry.kind {
            EntryKind::Dir => entry.mode | 0o700,
            _ => entry.mode,
        };
        match &entry.kind {
            EntryKind::Dir => {
                rustix::fs::chmodat(&parent, name, Mode::from_raw_mode(mode), AtFlags::empty())
                    .map_err(err)?;
            }
            EntryKind::File { .. } | EntryKind::Char { .. } | EntryKind::Block { .. } => {
                // Devices are empty files here; the record keeps what
                // they are.
                let fd = rustix::fs::openat(
                    &parent,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(err)?;
                let mut file = File::from(fd);
                if matches!(entry.kind, EntryKind::File { .. }) {
                    io::copy(data, &mut file).map_err(|e| self.error(rel, e))?;
                }
                let t = std::time::UNIX_EPOCH
                    + std::time::Duration::from_secs(u64::try_from(entry.mtime).unwrap_or(0));
                file.set_times(fs::FileTimes::new().set_modified(t).set_accessed(t))
                    .map_err(|e| self.error(rel, e))?;
                rustix::fs::fchmod(file.as_fd(), Mode::from_raw_mode(mode)).map_err(err)?;
            }
            EntryKind::Fifo => {
                rustix::fs::mknodat(
                    &parent,
                    name,
                    rustix::fs::FileType::Fifo,
                    Mode::from_raw_mode(mode),
                    0,
                )
                .map_err(err)?;
            }
            EntryKind::Symlink { target } => {
                rustix::fs::symlinkat(target.as_str(), &parent, name).map_err(err)?;
            }
            EntryKind::HardLink { target } => {
                let (tparent, tname) = self.parent(target)?;
                rustix::fs::linkat(&tparent, tname, &parent, name, AtFlags::empty())
                    .map_err(err)?;
            }
        }
        let st = rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW).map_err(err)?;
        let ctime = (st.st_ctime, i64::try_from(st.st_ctime_nsec).unwrap_or(-1));
        let path = self
            .real_path(&parent, name)
            .unwrap_or_else(|| rel.to_string());
        if let EntryKind::HardLink { .. } = entry.kind {
            // A link shares its target's record; the link changed the
            // inode's change time.
            if let Some(r) = self.records.get_mut(&st.st_ino) {
                r.ctime = ctime;
                r.paths.push(path);
            }
            return Ok(());
        }
        self.records.insert(
            st.st_ino,
            Record {
                entry: entry.clone(),
                ctime,
                disk_mode: st.st_mode & 0o7777,
                paths: vec![path],
            },
        );
        Ok(())
    }

    /// Notes the directories a sandbox is about to make at /dev and /proc
    /// to mount on, so that they are not read back as part of the tree.
    pub(crate) fn before_sandbox(&mut self) {
        self.before_mounts(&["dev", "proc"]);
    }

    /// Notes the top-level directories `dirs` a sandbox is about to make
    /// to mount on, so that they are not read back as part of the tree.
    pub(crate) fn before_mounts(&mut self, dirs: &[&str]) {
        for &dir in dirs {
            if fs::symlink_metadata(self.root.join(dir)).is_err() {
                self.mount_points.insert(dir.to_string());
            }
        }
    }

    /// Reads a file of the tree (at most `limit` bytes), or None when it
    /// is not there.
    pub(crate) fn read(&self, rel: &str, limit: u64) -> Option<Vec<u8>> {
        let fd = rustix::fs::openat2(
            &self.root_fd,
            rel,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .ok()?;
        super::scripts::read_limited(File::from(fd), limit).ok()
    }

    /// Hands on the tree's entries in name order (a file's bytes after
    /// it), with the packages' metadata where no scriptlet changed it.
    pub(crate) fn walk(
        &self,
        time: i64,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        let opened = match self.opened.get() {
            Some(o) => o,
            None => {
                let o = self.open_up()?;
                self.opened.get_or_init(|| o)
            }
        };
        rootfs::walk_dir_with(&self.root, &mut |entry, meta, data| {
            if entry.path.is_empty() {
                return Ok(());
            }
            let top = entry.path.split('/').next().unwrap_or_default();
            if self.mount_points.contains(top) {
                return Ok(());
            }
            self.adjust(entry, meta, opened.get(&meta.ino()).copied(), time);
            let data: &mut dyn Read = match entry.kind {
                EntryKind::File { .. } => data,
                _ => &mut io::empty(),
            };
            visit(entry, data)
        })
    }

    /// Gives every directory this process cannot list and every file it
    /// cannot read (a scriptlet's `chmod 000`, `%attr(0000)`) the owner's
    /// access, so that the tree can be read back as an ordinary user;
    /// returns the mode and change time each had before.
    fn open_up(&self) -> Result<HashMap<u64, Before>> {
        let mut before = HashMap::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let read = fs::read_dir(&dir).map_err(|e| Error::file(&dir, e))?;
            for e in read {
                let e = e.map_err(|e| Error::file(&dir, e))?;
                let path = e.path();
                let meta = fs::symlink_metadata(&path).map_err(|e| Error::file(&path, e))?;
                let need = if meta.is_dir() {
                    0o500
                } else if meta.is_file() {
                    0o400
                } else {
                    0
                };
                if meta.mode() & need != need {
                    before.insert(
                        meta.ino(),
                        (meta.mode() & 0o7777, (meta.ctime(), meta.ctime_nsec())),
                    );
                    rustix::fs::chmod(&path, Mode::from_raw_mode((meta.mode() | need) & 0o7777))
                        .map_err(|e| Error::file(&path, e.into()))?;
                }
                if meta.is_dir() {
                    stack.push(path);
                }
            }
        }
        Ok(before)
    }

    /// Gives `entry`, read from the tree, the metadata it should have;
    /// `before` is its mode and change time before [`Self::open_up`].
    fn adjust(&self, entry: &mut Entry, meta: &fs::Metadata, before: Option<Before>, time: i64) {
        let (disk_mode, ctime) =
            before.unwrap_or((meta.mode() & 0o7777, (meta.ctime(), meta.ctime_nsec())));
        let found = self.records.get(&meta.ino()).filter(|r| {
            (r.entry.kind == EntryKind::Dir) == meta.is_dir() && r.paths.contains(&entry.path)
        });
        match found {
            Some(r) => {
                let untouched = meta.is_dir() || ctime == r.ctime;
                entry.mode = if disk_mode == r.disk_mode {
                    r.entry.mode
                } else {
                    disk_mode
                };
                entry.uid = r.entry.uid;
                entry.gid = r.entry.gid;
                if untouched {
                    entry.mtime = r.entry.mtime;
                    entry.xattrs = r.entry.xattrs.clone();
                    if matches!(
                        r.entry.kind,
                        EntryKind::Char { .. } | EntryKind::Block { .. }
                    ) && !matches!(entry.kind, EntryKind::HardLink { .. })
                    {
                        entry.kind = r.entry.kind.clone();
                    }
                } else {
                    // A write takes a file's capabilities away; a scriptlet's
                    // setcap puts them back.
                    entry.mtime = entry.mtime.min(time);
                    entry.xattrs = kept_xattrs(&entry.xattrs);
                }
            }
            None => {
                entry.mode = disk_mode;
                entry.uid = 0;
                entry.gid = 0;
                entry.mtime = entry.mtime.min(time);
                entry.xattrs = kept_xattrs(&entry.xattrs);
            }
        }
        if !self.owners.is_empty() {
            let born = meta
                .created()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| (d.as_secs() as i64, d.subsec_nanos()));
            if let Some(owner) = self.owners.given(meta.dev(), meta.ino(), born) {
                entry.uid = owner.uid.unwrap_or(entry.uid);
                entry.gid = owner.gid.unwrap_or(entry.gid);
            }
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        // Scriptlets may leave directories this process cannot write to.
        blocksink::remove_tree(self.dir.path());
    }
}
