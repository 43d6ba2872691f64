use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// An output file under construction: a temporary file beside `target` that
/// takes the target's name only when [`commit`](Self::commit) is called.
/// Dropped without a commit, it is removed and the target is untouched.
#[derive(Debug)]
pub struct PendingFile {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
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
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .tempfile_in(dir)?;
        Ok(PendingFile {
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// A handle on the temporary file to write through.
    pub fn file(&self) -> io::Result<File> {
        self.tmp.as_file().try_clone()
    }

    /// The name the file will take.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the file to its target. Like `cp` and `qemu-img`, this does
    /// not wait for the data to reach the disk (`sync` does); an fsync of a
    /// many-GiB image would cost more than writing it.
    pub fn commit(self) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let f = self.tmp.as_file();
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        self.tmp
            .persist(&self.target)
            .map(|_| ())
            .map_err(|e| e.error)
    }
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
}
