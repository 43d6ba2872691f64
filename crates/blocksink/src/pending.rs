use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The temporary files of this process not yet committed or dropped, so
/// that a signal handler can remove them ([`remove_pending_files`]).
static LIVE: Mutex<BTreeMap<u64, PathBuf>> = Mutex::new(BTreeMap::new());
/// Scratch files and directories of this process ([`Scratch`]), removed
/// with the pending files.
static SCRATCH: Mutex<BTreeMap<u64, PathBuf>> = Mutex::new(BTreeMap::new());
/// Held while a set of files is being placed ([`commit_all`]).
static PLACING: Mutex<()> = Mutex::new(());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

// A panic while one of these was held leaves it consistent (single inserts
// and removals), so a poisoned lock is still usable.
fn live() -> MutexGuard<'static, BTreeMap<u64, PathBuf>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

fn scratch() -> MutexGuard<'static, BTreeMap<u64, PathBuf>> {
    SCRATCH.lock().unwrap_or_else(|p| p.into_inner())
}

/// A scratch file or directory (a tree unpacked to work in, a database
/// being written) that [`remove_pending_files`] removes, with everything in
/// it, should a signal end the process first. Dropping this only forgets
/// it: its owner removes it (a `tempfile::TempDir`, say).
#[derive(Debug)]
pub struct Scratch {
    id: u64,
}

impl Scratch {
    /// Registers `path`.
    pub fn register(path: &Path) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        scratch().insert(id, path.to_path_buf());
        Scratch { id }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        scratch().remove(&self.id);
    }
}

/// Removes `dir` and everything in it, first giving the owner access to
/// every directory under it (which what was unpacked there may lack).
/// Directories are opened one inside another without following symlinks,
/// so nothing outside `dir` is touched even while the tree changes.
pub fn remove_tree(dir: &Path) {
    use rustix::fs::{Mode, OFlags};
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
    /// Gives the directory `name` in `parent` (never a symlink) the
    /// owner's access, then each directory in it.
    fn open_up(parent: BorrowedFd<'_>, name: &std::ffi::CStr, depth: u32) {
        let path = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let Ok(at) = rustix::fs::openat(parent, name, path, Mode::empty()) else {
            return;
        };
        // Through the opened inode's /proc link: the directory itself.
        let link = format!("/proc/self/fd/{}", at.as_raw_fd());
        let _ = rustix::fs::chmod(link.as_str(), Mode::from_raw_mode(0o700));
        let read = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let Ok(fd) = rustix::fs::openat(&at, c".", read, Mode::empty()) else {
            return;
        };
        let Ok(entries) = rustix::fs::Dir::read_from(&fd) else {
            return;
        };
        for entry in entries.flatten() {
            let child = entry.file_name();
            if depth < 4096
                && entry.file_type() == rustix::fs::FileType::Directory
                && child.to_bytes() != b"."
                && child.to_bytes() != b".."
            {
                open_up(fd.as_fd(), child, depth + 1);
            }
        }
    }
    if let Ok(name) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) {
        open_up(rustix::fs::CWD, &name, 0);
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn placing() -> MutexGuard<'static, ()> {
    PLACING.lock().unwrap_or_else(|p| p.into_inner())
}

/// An output file under construction: a temporary file beside `target` that
/// takes the target's name only when [`commit`](Self::commit) is called.
/// Dropped without a commit, it is removed and the target is untouched.
///
/// The temporary file is named `.<target name>.<random>.part`; only a
/// process killed outright (SIGKILL, power loss) leaves one behind, and a
/// later run never reads or reuses it.
#[derive(Debug)]
pub struct PendingFile {
    /// `None` once placed under the target's name.
    tmp: Option<tempfile::NamedTempFile>,
    target: PathBuf,
    id: u64,
}

impl PendingFile {
    /// Creates the temporary file in `target`'s directory.
    pub fn create(target: &Path) -> io::Result<Self> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        // Registered before it exists on disk, so a signal in between
        // cannot miss it.
        let mut registry = live();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .tempfile_in(dir)?;
        registry.insert(id, tmp.path().to_path_buf());
        Ok(PendingFile {
            tmp: Some(tmp),
            target: target.to_path_buf(),
            id,
        })
    }

    fn tmp(&self) -> io::Result<&tempfile::NamedTempFile> {
        self.tmp
            .as_ref()
            .ok_or_else(|| io::Error::other("the file was already placed"))
    }

    /// A handle on the temporary file to write through.
    pub fn file(&self) -> io::Result<File> {
        self.tmp()?.as_file().try_clone()
    }

    /// The name the file will take.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the file to its target. Like `cp` and `qemu-img`, this does
    /// not wait for the data to reach the disk (`sync` does); an fsync of a
    /// many-GiB image would cost more than writing it.
    pub fn commit(self) -> io::Result<()> {
        commit_all(vec![self])
    }

    fn place(&mut self) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let tmp = self.tmp()?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        let tmp = self.tmp.take().ok_or_else(|| io::Error::other("placed"))?;
        match tmp.persist(&self.target) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.tmp = Some(e.file);
                Err(e.error)
            }
        }
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        // The file goes before its registration, so that a signal handler
        // running in between still finds it.
        if let Some(tmp) = self.tmp.take() {
            let _ = tmp.close();
        }
        live().remove(&self.id);
    }
}

/// Renames every file to its target, all or nothing: when one rename fails,
/// the targets already placed are removed again, the rest are discarded,
/// and the error names the target that failed. [`remove_pending_files`]
/// waits until a set being placed is complete.
pub fn commit_all(files: Vec<PendingFile>) -> io::Result<()> {
    let _placing = placing();
    let mut placed: Vec<PathBuf> = Vec::with_capacity(files.len());
    for mut f in files {
        if let Err(e) = f.place() {
            for p in &placed {
                let _ = std::fs::remove_file(p);
            }
            return Err(io::Error::new(
                e.kind(),
                format!("{}: {e}", f.target.display()),
            ));
        }
        placed.push(f.target.clone());
    }
    Ok(())
}

/// Removes the temporary files of every [`PendingFile`] of this process that
/// is neither committed nor dropped, and every registered [`Scratch`] path, for a handler of SIGINT or SIGTERM to
/// call just before the process exits. A set of files being placed by
/// [`commit_all`] is waited for; no file is placed after this returns.
pub fn remove_pending_files() {
    let placing = placing();
    let registry = live();
    for path in registry.values() {
        let _ = std::fs::remove_file(path);
    }
    let dirs = scratch();
    for path in dirs.values() {
        if path.is_dir() {
            remove_tree(path);
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
    std::mem::forget(dirs);
    // Both stay held until the process exits: nothing is placed, and no
    // new temporary file is made, after the files are gone.
    std::mem::forget(registry);
    std::mem::forget(placing);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn appears_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.img");
        let p = PendingFile::create(&target).unwrap();
        p.file().unwrap().write_all(b"hello").unwrap();
        assert!(!target.exists());
        p.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");

        let target2 = dir.path().join("dropped.img");
        drop(PendingFile::create(&target2).unwrap());
        assert!(!target2.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn several_are_placed_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.img");
        let b = dir.path().join("b.img");
        // A directory where the second output goes: its rename fails.
        std::fs::create_dir(&b).unwrap();
        std::fs::write(b.join("keep"), b"x").unwrap();
        let pa = PendingFile::create(&a).unwrap();
        let pb = PendingFile::create(&b).unwrap();
        let err = commit_all(vec![pa, pb]).unwrap_err();
        assert!(err.to_string().contains("b.img"), "{err}");
        assert!(!a.exists());
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(left, ["b.img"]);
    }
}
