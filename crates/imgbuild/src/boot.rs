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

use crate::error;
use crate::rootfs::{Entry, EntryKind};
use crate::{Error, Result};

const SYSTEMD_BOOT: [&str; 2] = [
    "usr/lib/systemd/boot/efi/systemd-bootx64.efi",
    "lib/systemd/boot/efi/systemd-bootx64.efi",
];

/// A kernel release as the build uses it: in file names on the ESP and in
/// the ISO, and unquoted on boot loader command lines. Letters, digits and
/// `. _ + ~ -`, as kernel releases and package versions are spelled; not
/// `.` or `..`.
fn plain_version(v: &str) -> bool {
    !v.is_empty()
        && v != "."
        && v != ".."
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+~-".contains(&b))
}

/// What a kernel file is, from its path under /boot. A name with other
/// characters is not taken for a kernel.
fn kernel_version(path: &str) -> Option<&str> {
    path.strip_prefix("boot/vmlinuz-")
        .filter(|v| plain_version(v))
}

fn initrd_version(path: &str) -> Option<&str> {
    let name = path.strip_prefix("boot/")?;
    if name.contains('/') {
        return None;
    }
    name.strip_prefix("initrd.img-")
        .or_else(|| name.strip_prefix("initramfs-")?.strip_suffix(".img"))
        .filter(|v| plain_version(v))
}

/// Boot files seen in the rootfs, copied to unlinked scratch files.
pub(crate) struct BootFiles {
    work: std::path::PathBuf,
    /// (version, path, copy).
    kernels: Vec<(String, String, File)>,
    initrds: Vec<(String, String, File)>,
    systemd_boot: Option<File>,
    /// The tree's GRUB image directories, copied: (platform, copy).
    grub: Vec<(GrubPlatform, tempfile::TempDir)>,
    /// The tree's own grub.cfg files, held back until it is known whether
    /// the build writes its own: (path, entry, bytes).
    held: Vec<(String, Entry, Vec<u8>)>,
    /// The tree keeps GRUB's files in /boot/grub2 (Fedora's and Azure
    /// Linux's name) rather than /boot/grub.
    pub(crate) grub2: bool,
    /// The ESP already holds the removable-media loader.
    pub(crate) esp_has_loader: bool,
}

/// The newest kernel of a tree and its initrd, copied aside.
pub(crate) struct KernelFiles {
    pub(crate) version: String,
    /// Path in the tree, copy.
    pub(crate) kernel: (String, File),
    pub(crate) initrd: Option<(String, File)>,
}

/// A GRUB platform whose images the build makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrubPlatform {
    /// UEFI on x86-64: an EFI application.
    X86_64Efi,
    /// BIOS: a core image for the BIOS boot partition.
    I386Pc,
}

impl GrubPlatform {
    pub(crate) fn dir(self) -> &'static str {
        match self {
            GrubPlatform::X86_64Efi => "x86_64-efi",
            GrubPlatform::I386Pc => "i386-pc",
        }
    }

    /// The file under the tree's GRUB directory, when `path` is one.
    fn file_of(path: &str) -> Option<(GrubPlatform, &str)> {
        let rest = path.strip_prefix("usr/lib/grub/")?;
        [GrubPlatform::X86_64Efi, GrubPlatform::I386Pc]
            .into_iter()
            .find_map(|p| {
                let name = rest.strip_prefix(p.dir())?.strip_prefix('/')?;
                (!name.is_empty() && !name.contains('/')).then_some((p, name))
            })
    }

    /// Modules built into the image: enough to find the file systems,
    /// read grub.cfg and boot Linux with no module directory at hand.
    fn modules(self) -> Vec<&'static str> {
        const COMMON: [&str; 17] = [
            "part_gpt",
            "part_msdos",
            "fat",
            "ext2",
            "search",
            "search_fs_uuid",
            "search_label",
            "search_fs_file",
            "normal",
            "configfile",
            "linux",
            "echo",
            "test",
            "boot",
            "gzio",
            "ls",
            "cat",
        ];
        let (before, after): (&[&str], &[&str]) = match self {
            GrubPlatform::X86_64Efi => (&[], &["all_video", "efi_gop"]),
            GrubPlatform::I386Pc => (&["biosdisk"], &[]),
        };
        [before, &COMMON, after, &["serial", "terminal"]].concat()
    }
}

impl BootFiles {
    pub(crate) fn new(work: &Path) -> BootFiles {
        BootFiles {
            work: work.to_path_buf(),
            kernels: Vec::new(),
            initrds: Vec::new(),
            systemd_boot: None,
            grub: Vec::new(),
            held: Vec::new(),
            grub2: false,
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
            || GrubPlatform::file_of(path).is_some()
    }

    /// Notes a directory of the tree.
    pub(crate) fn saw_dir(&mut self, path: &str) {
        if path == "boot/grub2" {
            self.grub2 = true;
        }
    }

    /// Holds the tree's own `grub.cfg` back (true) instead of letting it
    /// through: the build's own replaces it when it installs GRUB.
    pub(crate) fn hold(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<bool> {
        if !matches!(
            entry.path.as_str(),
            "boot/grub/grub.cfg" | "boot/grub2/grub.cfg"
        ) {
            return Ok(false);
        }
        let mut bytes = Vec::new();
        data.take(1 << 20)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::file(&entry.path, e))?;
        if entry.path.starts_with("boot/grub2") {
            self.grub2 = true;
        }
        self.held.push((entry.path.clone(), entry.clone(), bytes));
        Ok(true)
    }

    /// The held grub.cfg files, to let through after all.
    pub(crate) fn release(&mut self) -> Vec<(String, Entry, Vec<u8>)> {
        std::mem::take(&mut self.held)
    }

    /// Whether the tree carries GRUB's images for `platform`.
    pub(crate) fn has_grub(&self, platform: GrubPlatform) -> bool {
        self.grub_dir(platform)
            .is_some_and(|d| d.join("kernel.img").exists())
    }

    fn grub_dir(&self, platform: GrubPlatform) -> Option<&Path> {
        self.grub
            .iter()
            .find(|(p, _)| *p == platform)
            .map(|(_, d)| d.path())
    }

    /// The name of GRUB's directory under /boot: `grub2` where the tree
    /// uses it (Fedora, Azure Linux), else `grub`.
    pub(crate) fn grub_dir_name(&self) -> &'static str {
        if self.grub2 {
            "grub2"
        } else {
            "grub"
        }
    }

    /// The tree's GRUB files for `platform`, in name order: (name, copy).
    pub(crate) fn grub_files(
        &self,
        platform: GrubPlatform,
    ) -> Result<Vec<(String, std::path::PathBuf)>> {
        let Some(dir) = self.grub_dir(platform) else {
            return Ok(Vec::new());
        };
        let mut files = Vec::new();
        for e in std::fs::read_dir(dir).map_err(|e| Error::file(dir, e))? {
            let e = e.map_err(|e| Error::file(dir, e))?;
            files.push((e.file_name().to_string_lossy().into_owned(), e.path()));
        }
        files.sort();
        Ok(files)
    }

    /// Whether the tree carries systemd-boot.
    pub(crate) fn has_systemd_boot(&self) -> bool {
        self.systemd_boot.is_some()
    }

    /// A GRUB image for `platform` made by `grub-mkimage` from the tree's
    /// own GRUB files, with `early` as its built-in configuration.
    pub(crate) fn grub_image(&self, platform: GrubPlatform, early: &str) -> Result<Vec<u8>> {
        self.grub_image_as(platform, platform.dir(), early, &[])
    }

    /// A GRUB image of `format` (`grub-mkimage -O`: the platform's own, or
    /// e.g. `i386-pc-eltorito`) from the tree's files for `platform`, with
    /// `early` built in and `extra` modules beside the usual ones.
    pub(crate) fn grub_image_as(
        &self,
        platform: GrubPlatform,
        format: &str,
        early: &str,
        extra: &[&str],
    ) -> Result<Vec<u8>> {
        let dir = self.grub_dir(platform).ok_or_else(|| {
            error::layout(format!(
                "the rootfs has no GRUB for {} (usr/lib/grub/{})",
                platform.dir(),
                platform.dir()
            ))
        })?;
        let scratch = tempfile::tempdir_in(&self.work).map_err(|e| Error::file(&self.work, e))?;
        let cfg = scratch.path().join("early.cfg");
        let out = scratch.path().join("image");
        std::fs::write(&cfg, early).map_err(|e| Error::file(&cfg, e))?;
        blocksink::tool::Tool::new("grub-mkimage")
            .args(["-O", format, "-d"])
            .arg(dir)
            .arg("-o")
            .arg(&out)
            .args(["-p", &format!("/boot/{}", self.grub_dir_name()), "-c"])
            .arg(&cfg)
            .args(platform.modules())
            .args(extra)
            .output()?;
        std::fs::read(&out).map_err(|e| Error::file(&out, e))
    }

    /// One of the tree's BIOS boot sectors for GRUB: `boot.img` for a
    /// disk, `boot_hybrid.img` for a hybrid ISO.
    pub(crate) fn grub_boot_sector(&self, name: &str) -> Result<Vec<u8>> {
        let path = self
            .grub_dir(GrubPlatform::I386Pc)
            .map(|d| d.join(name))
            .ok_or_else(|| error::layout("the rootfs has no GRUB for i386-pc".into()))?;
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => error::layout(format!(
                "the rootfs's GRUB for i386-pc has no {name} (usr/lib/grub/i386-pc/{name})"
            )),
            _ => Error::file(&path, e),
        })?;
        if bytes.len() != 512 {
            return Err(error::layout(format!(
                "usr/lib/grub/i386-pc/{name} is {} bytes, not one 512-byte sector",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// A reader that passes `data` through and keeps a copy of what passes
    /// for the file at `path` (one [`BootFiles::wants`]).
    pub(crate) fn tee<'a>(&'a mut self, path: &str, data: &'a mut dyn Read) -> Result<Tee<'a>> {
        if let Some((platform, name)) = GrubPlatform::file_of(path) {
            if self.grub_dir(platform).is_none() {
                let dir = tempfile::Builder::new()
                    .prefix("grub-")
                    .tempdir_in(&self.work)
                    .map_err(|e| Error::file(&self.work, e))?;
                self.grub.push((platform, dir));
            }
            let file = self
                .grub_dir(platform)
                .map(|d| d.join(name))
                .unwrap_or_default();
            let copy = File::create(&file).map_err(|e| Error::file(&file, e))?;
            return Ok(Tee { inner: data, copy });
        }
        let copy = tempfile::tempfile_in(&self.work).map_err(|e| Error::file(&self.work, e))?;
        let keep = copy.try_clone().map_err(|e| Error::file(&self.work, e))?;
        if let Some(v) = kernel_version(path) {
            self.kernels.push((v.to_string(), path.to_string(), keep));
        } else if let Some(v) = initrd_version(path) {
            self.initrds.push((v.to_string(), path.to_string(), keep));
        } else {
            self.systemd_boot = Some(keep);
        }
        Ok(Tee { inner: data, copy })
    }

    /// The newest kernel and its initrd, by path: (version, kernel,
    /// initrd).
    pub(crate) fn newest_kernel_paths(&self) -> Option<(String, String, Option<String>)> {
        let k = self.kernels.iter().max_by(|a, b| version_cmp(&a.0, &b.0))?;
        let initrd = self
            .initrds
            .iter()
            .find(|i| i.0 == k.0)
            .map(|i| i.1.clone());
        Some((k.0.clone(), k.1.clone(), initrd))
    }

    /// The newest kernel and its initrd (copies of the open files), left in
    /// place for every loader that boots them: on a hybrid disk GRUB's
    /// menu names them after systemd-boot has copied them.
    pub(crate) fn newest_kernel_files(&self) -> Result<Option<KernelFiles>> {
        let Some(k) = self.kernels.iter().max_by(|a, b| version_cmp(&a.0, &b.0)) else {
            return Ok(None);
        };
        let copy = |(_, path, file): &(String, String, File)| -> Result<(String, File)> {
            let file = file.try_clone().map_err(|e| Error::file(path, e))?;
            Ok((path.clone(), file))
        };
        let initrd = self
            .initrds
            .iter()
            .find(|i| i.0 == k.0)
            .map(copy)
            .transpose()?;
        Ok(Some(KernelFiles {
            version: k.0.clone(),
            kernel: copy(k)?,
            initrd,
        }))
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
        let KernelFiles {
            version,
            kernel: (_, kernel),
            initrd,
        } = self.newest_kernel_files()?.ok_or_else(|| {
            error::layout(
                "the configuration boots, but the rootfs has no kernel (/boot/vmlinuz-VERSION)"
                    .into(),
            )
        })?;
        let initrd = initrd.map(|(_, f)| f);
        let Some(loader) = self.systemd_boot() else {
            return Err(error::layout(format!(
                "the ESP has no EFI/BOOT/BOOTX64.EFI and the rootfs has no systemd-boot ({}) to install",
                SYSTEMD_BOOT[0]
            )));
        };
        let mut file = |path: &str, mut f: File| -> Result<()> {
            f.seek(io::SeekFrom::Start(0))
                .map_err(|e| Error::file(path, e))?;
            let len = f.metadata().map_err(|e| Error::file(path, e))?.len();
            add(path, &file_entry(path, len, time), &mut f)
        };
        file(
            "EFI/BOOT/BOOTX64.EFI",
            loader
                .try_clone()
                .map_err(|e| Error::file("systemd-boot", e))?,
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

/// A grub.cfg with one entry: the serial console and the screen both, the
/// file system found by `search` (`--fs-uuid UUID`, `--label NAME`), the
/// kernel and initrd at paths in it.
pub(crate) fn grub_menu(
    title: &str,
    search: &str,
    kernel: &str,
    initrd: Option<&str>,
    cmdline: &str,
) -> String {
    // A single-quoted GRUB word holds anything but a quote.
    let title = title.replace('\'', "'\\''");
    let mut text = format!(
        "# GRUB configuration (made by imgconv build)\n\
         set default=0\n\
         set timeout=1\n\
         serial --unit=0 --speed=115200\n\
         terminal_input console serial\n\
         terminal_output console serial\n\
         menuentry '{title}' {{\n\
         \tsearch --no-floppy --set=root {search}\n\
         \tlinux {kernel} {cmdline}\n"
    );
    if let Some(initrd) = initrd {
        text.push_str(&format!("\tinitrd {initrd}\n"));
    }
    text.push_str("}\n");
    text
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

/// Bytes passing through, copied as they pass (unbuffered: each write's
/// error is the read's, nothing is left to flush).
pub(crate) struct Tee<'a> {
    inner: &'a mut dyn Read,
    copy: File,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n]).map_err(|e| {
            io::Error::new(e.kind(), format!("copying it to the work directory: {e}"))
        })?;
        Ok(n)
    }
}

/// GRUB's BIOS boot sector for a GPT disk whose core image starts at
/// `core_lba`: `boot.img` with the core image's sector, the boot drive
/// taken from the BIOS (0xff), the floppy check skipped (two NOPs, as
/// `grub-install` does for hard disks), and the protective MBR's disk
/// signature and partition table kept from `mbr`.
pub(crate) fn grub_mbr(boot_img: &[u8], mbr: &[u8], core_lba: u64) -> Vec<u8> {
    // Offsets from GRUB's include/grub/i386/pc/boot.h.
    const BPB: std::ops::Range<usize> = 0x03..0x5a;
    const KERNEL_SECTOR: usize = 0x5c;
    const BOOT_DRIVE: usize = 0x64;
    const DRIVE_CHECK: usize = 0x66;
    const NT_MAGIC: usize = 0x1b8;
    let mut out = boot_img[..512].to_vec();
    out[BPB].copy_from_slice(&mbr[BPB]);
    out[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
    out[BOOT_DRIVE] = 0xff;
    out[DRIVE_CHECK..DRIVE_CHECK + 2].copy_from_slice(&[0x90, 0x90]);
    out[NT_MAGIC..512].copy_from_slice(&mbr[NT_MAGIC..512]);
    out
}

/// A GRUB core image ready to sit at `core_lba`: the list of sectors its
/// first sector (diskboot) loads — one run, the rest of the image — as
/// `grub-install` writes it for a BIOS boot partition.
pub(crate) fn grub_core(mut core: Vec<u8>, core_lba: u64) -> Result<Vec<u8>> {
    let sectors = core.len().div_ceil(512);
    if sectors < 2 {
        return Err(error::layout(
            "the GRUB core image is smaller than two sectors".into(),
        ));
    }
    core.resize(sectors * 512, 0);
    let rest = u16::try_from(sectors - 1).map_err(|_| {
        error::layout(format!(
            "the GRUB core image is {sectors} sectors, too many for its loader"
        ))
    })?;
    // struct grub_pc_bios_boot_blocklist { u64 start; u16 len; u16 segment; }
    // at the end of the first sector; the segment the kernel loads at, one
    // sector past 0x8000.
    let at = 512 - 12;
    core[at..at + 8].copy_from_slice(&(core_lba + 1).to_le_bytes());
    core[at + 8..at + 10].copy_from_slice(&rest.to_le_bytes());
    core[at + 10..at + 12].copy_from_slice(&0x820u16.to_le_bytes());
    Ok(core)
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
        // Names that would leave a directory or break a command line.
        for bad in ["..", ".", "6.1 x", "6.1'", "6.1\n", "a/b", "$(x)"] {
            assert_eq!(
                kernel_version(&format!("boot/vmlinuz-{bad}")),
                None,
                "{bad:?}"
            );
            assert_eq!(
                initrd_version(&format!("boot/initrd.img-{bad}")),
                None,
                "{bad:?}"
            );
        }
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
