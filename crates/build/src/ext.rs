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

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use blocksink::{BuildStamp, RawFile};
use uuid::Uuid;

use crate::config::FsType;
use crate::rootfs::Entry;
use crate::tarout::TarOut;
use crate::{Error, Result};

/// The oldest e2fsprogs whose `mke2fs -d` reads a tar archive.
pub const MKE2FS_MIN_VERSION: (u32, u32, u32) = (1, 47, 1);

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
    log: PathBuf,
    child: Child,
    tar: Option<TarOut<BufWriter<ChildStdin>>>,
    content_bytes: u64,
    entries: u64,
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
        let conf = work.join("mke2fs.conf");
        if !conf.exists() {
            std::fs::write(&conf, MKE2FS_CONF).map_err(|e| Error::io(&conf, e))?;
        }
        let image = tempfile::Builder::new()
            .prefix("ext-")
            .suffix(".img")
            .tempfile_in(work)
            .map_err(|e| Error::io(work, e))?;
        image
            .as_file()
            .set_len(size)
            .map_err(|e| Error::io(image.path(), e))?;
        let log = image.path().with_extension("log");
        let log_file = File::create(&log).map_err(|e| Error::io(&log, e))?;
        let log_err = log_file.try_clone().map_err(|e| Error::io(&log, e))?;
        let fs_name = match fs {
            FsType::Ext2 => "ext2",
            FsType::Ext3 => "ext3",
            _ => "ext4",
        };
        let time = stamp.unix_time().to_string();
        let child = Command::new("mke2fs")
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
            .env("E2FSPROGS_FAKE_TIME", &time)
            .env("SOURCE_DATE_EPOCH", &time)
            .env("MKE2FS_SYNC", "0")
            .stdin(Stdio::piped())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| Error::Tool {
                tool: "mke2fs".into(),
                status: "not started".into(),
                stderr: format!(
                    "{e} (e2fsprogs {}.{}.{} or later is needed to make ext file systems)",
                    MKE2FS_MIN_VERSION.0, MKE2FS_MIN_VERSION.1, MKE2FS_MIN_VERSION.2
                ),
            })?;
        let mut child = child;
        let stdin = child.stdin.take().ok_or_else(|| Error::Tool {
            tool: "mke2fs".into(),
            status: "no standard input".into(),
            stderr: String::new(),
        })?;
        Ok(ExtMaker {
            what: what.to_string(),
            fs,
            size,
            image,
            log,
            child,
            tar: Some(TarOut::new(BufWriter::with_capacity(1 << 20, stdin))),
            content_bytes: 0,
            entries: 0,
        })
    }

    /// Adds `entry` at `path` (relative to this file system's root).
    pub(crate) fn add(&mut self, path: &str, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        if let crate::rootfs::EntryKind::File { len } = entry.kind {
            self.content_bytes += len;
        }
        self.entries += 1;
        let Some(tar) = self.tar.as_mut() else {
            return Err(self.failed());
        };
        if let Err(e) = tar.append(path, entry, data) {
            // mke2fs stopped reading: its own words say why. An error
            // reading the source is the source's.
            return Err(match e.kind() {
                std::io::ErrorKind::BrokenPipe => {
                    self.tar = None;
                    self.failed()
                }
                _ => Error::io(format!("{} ({path})", self.what), e),
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
        let status = self.child.wait().map_err(|e| Error::io("mke2fs", e))?;
        if !status.success() {
            return Err(self.failed());
        }
        let file = self
            .image
            .reopen()
            .map_err(|e| Error::io(self.image.path(), e))?;
        let _ = std::fs::remove_file(&self.log);
        // The open file outlives its name.
        RawFile::new(file).map_err(|e| Error::io(self.image.path(), e))
    }

    /// The error for a `mke2fs` that failed: too little room, or its own
    /// message.
    fn failed(&mut self) -> Error {
        let status = match self.child.wait() {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let _ = std::fs::remove_file(&self.log);
        let lower = log.to_lowercase();
        if lower.contains("could not allocate")
            || lower.contains("no space")
            || lower.contains("no free space")
            || lower.contains("inode") && (lower.contains("allocat") || lower.contains("exhaust"))
        {
            let needed = estimate_size(self.fs, self.content_bytes, self.entries);
            return Error::Layout(format!(
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
        let tail: Vec<&str> = log.lines().rev().take(12).collect();
        Error::Tool {
            tool: format!("mke2fs for {}", self.what),
            status,
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        }
    }
}

impl Drop for ExtMaker {
    /// A build that stops early stops its `mke2fs` too.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
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

/// The `mke2fs` version on the path, as (major, minor, patch).
pub fn mke2fs_version() -> Option<(u32, u32, u32)> {
    let out = Command::new("mke2fs").arg("-V").output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let word = text.split_whitespace().nth(1)?;
    let mut parts = word
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}
