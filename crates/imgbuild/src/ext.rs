//! ext2, ext3 and ext4 file systems made by e2fsprogs' `mke2fs -d`, fed a
//! tar stream on its standard input (e2fsprogs 1.47.1 and later read one
//! through libarchive): owners, modes, device nodes and extended attributes
//! come from the stream, so nothing needs root.
//!
//! The file system's features come from this module's own `mke2fs.conf`,
//! not the host's, so the same input gives the same file system on any
//! machine: ext4 with `has_journal, extent, huge_file, flex_bg,
//! metadata_csum, 64bit, dir_nlink, extra_isize` — the set GRUB 2.06 and
//! the kernels of current distributions read; `metadata_csum_seed` and
//! `orphan_file`, which older GRUB and e2fsprogs refuse, are left out. The
//! UUID, the directory hash seed and every time the tool stamps come from
//! the build's seed and time.
//!
//! mke2fs's tar reader keeps only the `security.capability` and
//! `gnu.translator` attributes; every other one an entry carries
//! (`security.selinux`, ACLs, `user.*`) is set afterwards by `debugfs -w`
//! from a script written as the entries pass. File times are the archive's
//! own, up to 2038-01-19 (the tool stores later ones as that date).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Stdio};

use blocksink::tool::{Running, Tool, ToolError};
use blocksink::{BuildStamp, RawFile};
use uuid::Uuid;

use crate::config::FsType;
use crate::error;
use crate::rootfs::Entry;
use crate::{Error, Result};
use rootfs::TarWriter;

const MKE2FS_CONF: &str = "\
[defaults]
\tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
\tdefault_mntopts = acl,user_xattr
\tenable_periodic_fsck = 0
\tblocksize = 4096
\tinode_size = 256
\tinode_ratio = 16384
\treserved_ratio = 5.0

[fs_types]
\text3 = {
\t\tfeatures = has_journal
\t}
\text4 = {
\t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
\t}
\tsmall = {
\t\tinode_ratio = 4096
\t}
\tfloppy = {
\t\tinode_ratio = 8192
\t}
";

/// An ext file system being filled: `mke2fs` running, reading the entries
/// as they are added.
pub(crate) struct ExtMaker {
    what: String,
    fs: FsType,
    size: u64,
    image: tempfile::NamedTempFile,
    mke2fs: Running,
    tar: Option<TarWriter<BufWriter<ChildStdin>>>,
    content_bytes: u64,
    entries: u64,
    /// Extended attributes mke2fs's tar reader leaves out, set afterwards.
    xattrs: XattrScript,
    time: String,
}

/// Names `mke2fs -d` takes from a tar archive's pax records; e2fsprogs
/// leaves every other attribute out (`security.selinux`, ACLs, `user.*`),
/// so those are set afterwards with `debugfs -w`.
const TAR_XATTRS: [&str; 2] = ["security.capability", "gnu.translator"];

/// A `debugfs` script setting extended attributes, each distinct value
/// written once to a file of its own.
struct XattrScript {
    dir: PathBuf,
    script: Option<BufWriter<File>>,
    values: std::collections::HashMap<Vec<u8>, PathBuf>,
}

impl XattrScript {
    fn set(&mut self, path: &str, name: &str, value: &[u8]) -> std::io::Result<()> {
        let shown = format!("/{path}");
        if shown.contains(['"', '\n', '\\'])
            || name.contains(|c: char| c.is_whitespace() || c == '"')
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("extended attribute {name} of {shown}: the name or path cannot be passed to debugfs"),
            ));
        }
        if self.script.is_none() {
            let f = File::create(self.dir.join("xattrs.debugfs"))?;
            self.script = Some(BufWriter::new(f));
        }
        let n = self.values.len();
        let file = match self.values.get(value) {
            Some(f) => f.clone(),
            None => {
                let f = self.dir.join(format!("xattr-{n}"));
                std::fs::write(&f, value)?;
                self.values.insert(value.to_vec(), f.clone());
                f
            }
        };
        if let Some(w) = self.script.as_mut() {
            writeln!(w, "ea_set -f \"{}\" \"{shown}\" {name}", file.display())?;
        }
        Ok(())
    }
}

impl ExtMaker {
    /// Starts `mke2fs` on a new image file of `size` bytes in `work`, for the
    /// partition described as `what` in errors. The root directory is owned
    /// by `root_owner`.
    pub(crate) fn start(
        what: &str,
        fs: FsType,
        size: u64,
        uuid: Uuid,
        root_owner: (u32, u32),
        stamp: &BuildStamp,
        work: &Path,
    ) -> Result<ExtMaker> {
        check_mke2fs()?;
        let conf = work.join("mke2fs.conf");
        if !conf.exists() {
            std::fs::write(&conf, MKE2FS_CONF).map_err(|e| Error::file(&conf, e))?;
        }
        let image = tempfile::Builder::new()
            .prefix("ext-")
            .suffix(".img")
            .tempfile_in(work)
            .map_err(|e| Error::file(work, e))?;
        image
            .as_file()
            .set_len(size)
            .map_err(|e| Error::file(image.path(), e))?;
        let fs_name = match fs {
            FsType::Ext2 => "ext2",
            FsType::Ext3 => "ext3",
            _ => "ext4",
        };
        let time = stamp.unix_time().to_string();
        let mut mke2fs = Tool::new("mke2fs")
            .args(["-q", "-F", "-t", fs_name, "-U"])
            .arg(uuid.to_string())
            .arg("-E")
            .arg(format!(
                "hash_seed={},root_owner={}:{}",
                stamp.uuid(&format!("{what} hash seed")),
                root_owner.0,
                root_owner.1
            ))
            .args(["-d", "-"])
            .arg(image.path())
            .env("MKE2FS_CONFIG", &conf)
            // The tool's own times (superblock, root, lost+found) are the
            // build's; SOURCE_DATE_EPOCH would also clamp every newer file
            // time down to it, so it is not passed on.
            .env("E2FSPROGS_FAKE_TIME", &time)
            .env_remove("SOURCE_DATE_EPOCH")
            // Archive names are UTF-8; libarchive converts them to the
            // locale's encoding and fails in the C locale.
            .env("LC_ALL", "C.UTF-8")
            .env("MKE2FS_SYNC", "0")
            .stdin(Stdio::piped())
            .log_dir(work)
            .spawn()
            .map_err(|e| Error::failed(what.to_string(), e))?;
        let stdin = mke2fs
            .take_stdin()
            .ok_or_else(|| Error::file("mke2fs", std::io::ErrorKind::BrokenPipe.into()))?;
        let xattr_dir = image.path().with_extension("xattrs");
        Ok(ExtMaker {
            what: what.to_string(),
            fs,
            size,
            image,
            mke2fs,
            tar: Some(TarWriter::new(BufWriter::with_capacity(1 << 20, stdin))),
            content_bytes: 0,
            entries: 0,
            xattrs: XattrScript {
                dir: xattr_dir,
                script: None,
                values: std::collections::HashMap::new(),
            },
            time,
        })
    }

    /// Adds `entry` at `path` (relative to this file system's root).
    pub(crate) fn add(&mut self, path: &str, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        if let crate::rootfs::EntryKind::File { len } = entry.kind {
            self.content_bytes += len;
        }
        self.entries += 1;
        let mut kept = std::borrow::Cow::Borrowed(entry);
        if entry
            .xattrs
            .iter()
            .any(|(n, _)| !TAR_XATTRS.contains(&n.as_str()))
        {
            std::fs::create_dir_all(&self.xattrs.dir)
                .map_err(|e| Error::file(&self.xattrs.dir, e))?;
            for (name, value) in &entry.xattrs {
                if !TAR_XATTRS.contains(&name.as_str()) {
                    self.xattrs
                        .set(path, name, value)
                        .map_err(|e| Error::file(&self.xattrs.dir, e))?;
                }
            }
            let mut e = entry.clone();
            e.xattrs.retain(|(n, _)| TAR_XATTRS.contains(&n.as_str()));
            kept = std::borrow::Cow::Owned(e);
        }
        let Some(tar) = self.tar.as_mut() else {
            return Err(self.failed());
        };
        if let Err(e) = tar.append(path, &kept, data) {
            // mke2fs stopped reading: its own words say why. An error
            // reading the source is the source's.
            return Err(match e.kind() {
                std::io::ErrorKind::BrokenPipe => {
                    self.tar = None;
                    self.failed()
                }
                _ => Error::file(format!("{} ({path})", self.what), e),
            });
        }
        Ok(())
    }

    /// Ends the stream, waits for `mke2fs` and returns the image.
    pub(crate) fn finish(mut self) -> Result<RawFile> {
        if let Some(tar) = self.tar.take() {
            let ended = tar.finish().and_then(|mut w| w.flush());
            if ended.is_err() {
                return Err(self.failed());
            }
        }
        if let Err(e) = self.mke2fs.wait() {
            return Err(self.explain(e));
        }
        if let Some(mut script) = self.xattrs.script.take() {
            script
                .flush()
                .map_err(|e| Error::file(&self.xattrs.dir, e))?;
            drop(script);
            self.set_xattrs()?;
        }
        let file = self
            .image
            .reopen()
            .map_err(|e| Error::file(self.image.path(), e))?;
        // The open file outlives its name.
        RawFile::new(file).map_err(|e| Error::file(self.image.path(), e))
    }

    /// Runs the extended-attribute script over the finished image.
    fn set_xattrs(&self) -> Result<()> {
        let mut debugfs = Tool::new("debugfs");
        debugfs
            .arg("-w")
            .arg("-f")
            .arg(self.xattrs.dir.join("xattrs.debugfs"))
            .arg(self.image.path())
            .env("E2FSPROGS_FAKE_TIME", &self.time)
            .env("LC_ALL", "C.UTF-8");
        let doing = format!("setting extended attributes on {}", self.what);
        let out = debugfs
            .output()
            .map_err(|e| Error::failed(doing.clone(), e))?;
        // debugfs reports a failed command on standard error and still
        // exits 0; only its version banner is expected there.
        let errors: Vec<&str> = std::str::from_utf8(&out.stderr)
            .unwrap_or("")
            .lines()
            .filter(|l| !l.starts_with("debugfs ") && !l.trim().is_empty())
            .collect();
        if !errors.is_empty() {
            let said = errors.join("\n");
            return Err(Error::failed(
                doing,
                debugfs.failed(Some(out.status), said.as_bytes()),
            ));
        }
        let _ = std::fs::remove_dir_all(&self.xattrs.dir);
        Ok(())
    }

    /// The error for a `mke2fs` that stopped reading, once it has ended.
    fn failed(&mut self) -> Error {
        // Its input ends first: it may still be reading.
        self.tar = None;
        match self.mke2fs.wait() {
            Ok(()) => Error::file(&self.what, std::io::ErrorKind::BrokenPipe.into()),
            Err(e) => self.explain(e),
        }
    }

    /// What `mke2fs`'s failure means: too little room, or its own words.
    fn explain(&self, error: ToolError) -> Error {
        let lower = error.stderr_tail.to_lowercase();
        if lower.contains("could not allocate")
            || lower.contains("no space")
            || lower.contains("no free space")
            || lower.contains("inode") && (lower.contains("allocat") || lower.contains("exhaust"))
        {
            let needed = estimate_size(self.fs, self.content_bytes, self.entries);
            return error::layout(format!(
                "{}: {} bytes ({} MiB) of files in {} entries do not fit in its {} bytes ({} MiB); \
                 it needs about {} MiB",
                self.what,
                self.content_bytes,
                self.content_bytes >> 20,
                self.entries,
                self.size,
                self.size >> 20,
                needed.div_ceil(1 << 20)
            ));
        }
        Error::failed(self.what.clone(), error)
    }
}

impl Drop for ExtMaker {
    /// A build that stops early stops its `mke2fs` too (dropping it).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.xattrs.dir);
    }
}

/// A size that holds `bytes` of files in `entries` entries with room to
/// spare: each file rounded to 4 KiB blocks, an inode per 16 KiB, the
/// journal and 5 % reserved for root.
pub(crate) fn estimate_size(fs: FsType, bytes: u64, entries: u64) -> u64 {
    let data = bytes + entries * 4096;
    let inodes = (data / 16384).max(entries * 2) * 256;
    let journal = match fs {
        FsType::Ext2 => 0,
        _ if data < (1 << 30) => 16 << 20,
        _ => 64 << 20,
    };
    ((data + inodes + journal) as f64 * 1.10) as u64 + (8 << 20)
}

/// Refuses an `mke2fs` missing or too old to read a tar archive, saying
/// what to install (checked until it passes once in a process).
fn check_mke2fs() -> Result<()> {
    static PASSED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if PASSED.get().is_none() {
        blocksink::tool::require("mke2fs")?;
        let _ = PASSED.set(());
    }
    Ok(())
}
