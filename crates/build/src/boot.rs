//! Boot loaders, taken from the tree itself: what the build needs of the
//! rootfs (kernels, initrds, loader binaries) is copied aside as the rootfs
//! streams past, then installed on the EFI system partition.
//!
//! With `BootType` efi, an ESP whose files already hold
//! `EFI/BOOT/BOOTX64.EFI` (a distribution's shim and GRUB packages put it
//! there) is left as the packages made it. Otherwise the tree's
//! systemd-boot (`usr/lib/systemd/boot/efi/systemd-bootx64.efi`) is
//! installed as the removable-media loader with one Boot Loader
//! Specification entry for the newest kernel in /boot and its initrd,
//! copied to the ESP.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

use crate::rootfs::{Entry, EntryKind};
use crate::{Error, Result};

const SYSTEMD_BOOT: [&str; 2] = [
    "usr/lib/systemd/boot/efi/systemd-bootx64.efi",
    "lib/systemd/boot/efi/systemd-bootx64.efi",
];

/// What a kernel file is, from its path under /boot.
fn kernel_version(path: &str) -> Option<&str> {
    path.strip_prefix("boot/vmlinuz-")
        .filter(|v| !v.is_empty() && !v.contains('/'))
}

fn initrd_version(path: &str) -> Option<&str> {
    let name = path.strip_prefix("boot/")?;
    if name.contains('/') {
        return None;
    }
    name.strip_prefix("initrd.img-")
        .or_else(|| name.strip_prefix("initramfs-")?.strip_suffix(".img"))
        .filter(|v| !v.is_empty())
}

/// Boot files seen in the rootfs, copied to unlinked scratch files.
pub(crate) struct BootFiles {
    work: std::path::PathBuf,
    kernels: Vec<(String, File)>,
    initrds: Vec<(String, File)>,
    systemd_boot: Option<File>,
    /// The ESP already holds the removable-media loader.
    pub(crate) esp_has_loader: bool,
}

impl BootFiles {
    pub(crate) fn new(work: &Path) -> BootFiles {
        BootFiles {
            work: work.to_path_buf(),
            kernels: Vec::new(),
            initrds: Vec::new(),
            systemd_boot: None,
            esp_has_loader: false,
        }
    }

    /// Notes an entry of the ESP (its path relative to the ESP's root).
    pub(crate) fn saw_esp_file(&mut self, rel: &str) {
        if rel.eq_ignore_ascii_case("EFI/BOOT/BOOTX64.EFI") {
            self.esp_has_loader = true;
        }
    }

    /// Whether a regular file at `path` is one to keep a copy of.
    pub(crate) fn wants(path: &str) -> bool {
        kernel_version(path).is_some()
            || initrd_version(path).is_some()
            || SYSTEMD_BOOT.contains(&path)
    }

    /// A reader that passes `data` through and keeps a copy of what passes
    /// for the file at `path` (one [`BootFiles::wants`]).
    pub(crate) fn tee<'a>(&'a mut self, path: &str, data: &'a mut dyn Read) -> Result<Tee<'a>> {
        let copy = tempfile::tempfile_in(&self.work).map_err(|e| Error::io(&self.work, e))?;
        let keep = copy.try_clone().map_err(|e| Error::io(&self.work, e))?;
        if let Some(v) = kernel_version(path) {
            self.kernels.push((v.to_string(), keep));
        } else if let Some(v) = initrd_version(path) {
            self.initrds.push((v.to_string(), keep));
        } else {
            self.systemd_boot = Some(keep);
        }
        Ok(Tee {
            inner: data,
            copy: io::BufWriter::new(copy),
        })
    }

    /// The newest kernel and its initrd: (version, kernel, initrd).
    pub(crate) fn newest_kernel(&mut self) -> Option<(String, File, Option<File>)> {
        let newest = (0..self.kernels.len())
            .max_by(|&a, &b| version_cmp(&self.kernels[a].0, &self.kernels[b].0))?;
        let (version, kernel) = self.kernels.swap_remove(newest);
        let initrd = self
            .initrds
            .iter()
            .position(|(v, _)| *v == version)
            .map(|i| self.initrds.swap_remove(i).1);
        Some((version, kernel, initrd))
    }

    /// The tree's systemd-boot, when it has one.
    pub(crate) fn systemd_boot(&mut self) -> Option<File> {
        self.systemd_boot.take()
    }
}

impl BootFiles {
    /// Installs the tree's systemd-boot on the ESP through `add` (a path
    /// relative to the ESP, its entry, its bytes) with one entry booting
    /// the newest kernel with `cmdline`.
    pub(crate) fn install_systemd_boot(
        &mut self,
        title: &str,
        cmdline: &str,
        time: i64,
        add: &mut dyn FnMut(&str, &Entry, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        let (version, kernel, initrd) = self.newest_kernel().ok_or_else(|| {
            Error::Layout(
                "the configuration boots, but the rootfs has no kernel (/boot/vmlinuz-VERSION)"
                    .into(),
            )
        })?;
        let Some(loader) = self.systemd_boot() else {
            return Err(Error::Layout(format!(
                "the ESP has no EFI/BOOT/BOOTX64.EFI and the rootfs has no systemd-boot ({}) to install",
                SYSTEMD_BOOT[0]
            )));
        };
        let mut file = |path: &str, mut f: File| -> Result<()> {
            f.seek(io::SeekFrom::Start(0))
                .map_err(|e| Error::io(path, e))?;
            let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
            add(path, &file_entry(path, len, time), &mut f)
        };
        file(
            "EFI/BOOT/BOOTX64.EFI",
            loader
                .try_clone()
                .map_err(|e| Error::io("systemd-boot", e))?,
        )?;
        file("EFI/systemd/systemd-bootx64.efi", loader)?;
        file(&format!("{version}/linux"), kernel)?;
        let mut conf = format!("title {title}\nversion {version}\nlinux /{version}/linux\n");
        if let Some(initrd) = initrd {
            file(&format!("{version}/initrd"), initrd)?;
            conf.push_str(&format!("initrd /{version}/initrd\n"));
        }
        conf.push_str(&format!("options {cmdline}\n"));
        let text =
            |path: &str,
             body: &str,
             add: &mut dyn FnMut(&str, &Entry, &mut dyn Read) -> Result<()>| {
                add(
                    path,
                    &file_entry(path, body.len() as u64, time),
                    &mut body.as_bytes(),
                )
            };
        text("loader/loader.conf", "default imgconv-*\ntimeout 0\n", add)?;
        text(
            &format!("loader/entries/imgconv-{version}.conf"),
            &conf,
            add,
        )?;
        Ok(())
    }
}

fn file_entry(path: &str, len: u64, time: i64) -> Entry {
    Entry {
        path: path.to_string(),
        kind: EntryKind::File { len },
        mode: 0o644,
        uid: 0,
        gid: 0,
        mtime: time,
        xattrs: Vec::new(),
    }
}

/// Bytes passing through, copied as they pass.
pub(crate) struct Tee<'a> {
    inner: &'a mut dyn Read,
    copy: io::BufWriter<File>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        if n == 0 {
            self.copy.flush()?;
        }
        Ok(n)
    }
}

impl Drop for Tee<'_> {
    fn drop(&mut self) {
        let _ = self.copy.flush();
    }
}

/// Versions compared as `sort -V` does, near enough: runs of digits as
/// numbers, the rest as text.
pub(crate) fn version_cmp(a: &str, b: &str) -> Ordering {
    fn parts(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let o = match (x.0, y.0) {
            (true, true) => {
                let (tx, ty) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
                tx.len().cmp(&ty.len()).then(tx.cmp(ty))
            }
            _ => x.1.cmp(y.1),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_and_initrds_by_name() {
        assert_eq!(
            kernel_version("boot/vmlinuz-6.1.0-28-amd64"),
            Some("6.1.0-28-amd64")
        );
        assert_eq!(kernel_version("boot/vmlinuz"), None);
        assert_eq!(
            initrd_version("boot/initrd.img-6.1.0-28-amd64"),
            Some("6.1.0-28-amd64")
        );
        assert_eq!(
            initrd_version("boot/initramfs-6.6.47.1-1.azl3.img"),
            Some("6.6.47.1-1.azl3")
        );
        assert_eq!(initrd_version("boot/grub2/initrd.img-1"), None);
    }

    #[test]
    fn versions_order_numerically() {
        assert_eq!(
            version_cmp("6.1.0-9-amd64", "6.1.0-28-amd64"),
            Ordering::Less
        );
        assert_eq!(version_cmp("6.10.1", "6.9.12"), Ordering::Greater);
        assert_eq!(version_cmp("5.15.1", "5.15.1"), Ordering::Equal);
    }
}
