//! A live ISO of a root filesystem, laid out as dracut's dmsquash-live
//! expects it: the tree (with the configuration's generated files) as a
//! squashfs image at `LiveOS/squashfs.img`, the newest kernel and its
//! initrd at their paths under `/boot`, and `root=live:CDLABEL=<volume id>`
//! on the kernel command line.
//!
//! The squashfs image is made by squashfs-tools-ng's `tar2sqfs` from the
//! tree streamed to it as a tar (owners, modes, devices, hard links and
//! extended attributes come from the stream; nothing needs root), its
//! blocks compressed on every core. The boot loaders are the tree's own:
//! GRUB for BIOS as an El Torito image (`grub-mkimage -O
//! i386-pc-eltorito`), and for UEFI a FAT image holding GRUB's EFI image —
//! or, for a tree with systemd-boot and no GRUB for UEFI, systemd-boot with
//! the kernel and initrd beside it. The image is hybrid: GRUB's boot sector
//! and an MBR and GPT over the El Torito images let it boot from a USB
//! stick as well as from a CD.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Stdio};
use std::sync::Arc;

use blocksink::tool::{Running, Tool};
use blocksink::{BuildStamp, Destination, PendingFile};
use iso9660::{BiosBoot, EntryKind as IsoKind, FileData, Hybrid, IsoOptions, IsoWriter, MbrKind};

use crate::boot::{grub_menu, BootFiles, GrubPlatform, KernelFiles};
use crate::config::FsType;
use crate::config::{BootLoader, BootType, ImageConfig};
use crate::disk::file_entry;
use crate::error;
use crate::rootfs::{Entry, EntryKind, EntrySource};
use crate::tree::{emit, TreeTarget, WrittenTree};
use crate::vfat::FatMaker;
use crate::{BuildOptions, Error, Result};
use rootfs::TarWriter;

/// Where the root image goes in the ISO.
pub const ROOT_IMAGE: &str = "LiveOS/squashfs.img";
/// GRUB's directory in the ISO.
const GRUB_DIR: &str = "boot/grub";
/// The BIOS El Torito image.
const ELTORITO: &str = "boot/grub/i386-pc/eltorito.img";
/// The UEFI El Torito image (a FAT file system).
const EFI_IMAGE: &str = "boot/grub/efi.img";
/// Characters a volume id may hold here: what `CDLABEL=` can name on a
/// kernel command line and udev links under /dev/disk/by-label.
const VOLUME_ID_CHARS: &str = "A-Z, a-z, 0-9, '_', '-' and '.'";

/// How a live ISO is made.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// The ISO's volume id, which the kernel command line finds it by
    /// (`root=live:CDLABEL=…`): 32 characters at most.
    pub volume_id: String,
    /// How the root image's blocks are compressed.
    pub compression: SquashfsCompression,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            volume_id: "LIVE".into(),
            compression: SquashfsCompression::default(),
        }
    }
}

/// A squashfs compressor and its level, as `tar2sqfs -c NAME -X level=N`
/// takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SquashfsCompression {
    /// `zstd`, `xz`, `gzip`, `lz4` or `lzo`.
    pub compressor: String,
    /// The compressor's level; `None` for its own default.
    pub level: Option<u32>,
}

impl Default for SquashfsCompression {
    /// zstd at level 6: within a few per cent of the size of level 15
    /// (mksquashfs's and tar2sqfs's default) at several times the speed,
    /// and smaller than mksquashfs's default gzip. Linux reads it since
    /// 4.14.
    fn default() -> Self {
        SquashfsCompression {
            compressor: "zstd".into(),
            level: Some(6),
        }
    }
}

impl std::str::FromStr for SquashfsCompression {
    type Err = Error;

    /// `NAME` or `NAME:LEVEL`: `zstd[:1-22]`, `xz[:0-9]`, `gzip[:1-9]`,
    /// `lzo[:1-9]`, `lz4`.
    fn from_str(text: &str) -> Result<Self> {
        let (name, level) = match text.split_once(':') {
            Some((n, l)) => (n, Some(l)),
            None => (text, None),
        };
        let levels = match name {
            "zstd" => Some(1..=22),
            "xz" => Some(0..=9),
            "gzip" | "lzo" => Some(1..=9),
            "lz4" => None,
            _ => {
                return Err(error::layout(format!(
                    "squashfs compression {text:?}: the compressor is zstd, xz, gzip, lzo or lz4"
                )))
            }
        };
        let level = match (level, levels) {
            (None, _) => None,
            (Some(l), Some(range)) => match l.parse::<u32>() {
                Ok(n) if range.contains(&n) => Some(n),
                _ => {
                    return Err(error::layout(format!(
                        "squashfs compression {text:?}: {name}'s level is {} to {}",
                        range.start(),
                        range.end()
                    )))
                }
            },
            (Some(_), None) => {
                return Err(error::layout(format!(
                    "squashfs compression {text:?}: {name} has no levels"
                )))
            }
        };
        Ok(SquashfsCompression {
            compressor: name.to_string(),
            level,
        })
    }
}

/// A volume id made from `name` (an artifact's): upper case, characters
/// other than letters, digits, `_`, `-` and `.` as '_', 32 at most.
pub fn volume_id_from(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if id.is_empty() {
        "LIVE".into()
    } else {
        id
    }
}

/// Whether `id` can be a live ISO's volume id: 1 to 32 of
/// letters, digits, `_`, `-` and `.`.
pub fn check_volume_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 32
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(error::layout(format!(
            "volume id {id:?}: a live ISO's is 1 to 32 of {VOLUME_ID_CHARS} (the kernel finds the image by it)"
        )));
    }
    Ok(())
}

/// The tree's entries, passed on unchanged while the boot files are copied
/// aside.
struct Teeing<'a> {
    inner: &'a dyn EntrySource,
    boot: RefCell<&'a mut BootFiles>,
}

impl EntrySource for Teeing<'_> {
    fn name(&self) -> &Path {
        self.inner.name()
    }

    fn walk(
        &self,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> rootfs::Result<()>,
    ) -> rootfs::Result<()> {
        self.inner.walk(&mut |entry, data| {
            let mut boot = self.boot.borrow_mut();
            match entry.kind {
                EntryKind::Dir => boot.saw_dir(&entry.path),
                EntryKind::File { .. } if BootFiles::wants(&entry.path) => {
                    let mut tee = boot.tee(&entry.path, data)?;
                    return visit(entry, &mut tee);
                }
                _ => {}
            }
            drop(boot);
            visit(entry, data)
        })
    }
}

/// `tar2sqfs` running, reading the tree as a tar. Dropped, it is stopped.
struct Squashfs {
    image: tempfile::NamedTempFile,
    tar2sqfs: Running,
}

impl Squashfs {
    fn start(
        work: &Path,
        compression: &SquashfsCompression,
        time: i64,
    ) -> Result<(Squashfs, ChildStdin)> {
        let image = tempfile::Builder::new()
            .prefix("squashfs-")
            .suffix(".img")
            .tempfile_in(work)
            .map_err(|e| Error::file(work, e))?;
        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut command = Tool::new("tar2sqfs");
        command.args(["--quiet", "--force", "--no-skip"]);
        command.args(["--compressor", &compression.compressor]);
        if let Some(level) = compression.level {
            command.args(["--comp-extra", &format!("level={level}")]);
        }
        let mut tar2sqfs = command
            .args(["--num-jobs", &jobs.to_string()])
            .args(["--defaults", &format!("mtime={}", time.max(0))])
            .arg(image.path())
            .env_remove("SOURCE_DATE_EPOCH")
            .stdin(Stdio::piped())
            .log_dir(work)
            .spawn()?;
        let stdin = tar2sqfs
            .take_stdin()
            .ok_or_else(|| Error::file("tar2sqfs", std::io::ErrorKind::BrokenPipe.into()))?;
        Ok((Squashfs { image, tar2sqfs }, stdin))
    }

    /// Stops the tool, whatever it is doing.
    fn stop(&mut self) {
        self.tar2sqfs.stop();
    }

    /// Waits for the tool; its error (with what it said) if it failed.
    fn wait(&mut self) -> Result<()> {
        Ok(self.tar2sqfs.wait()?)
    }
}

/// The ISO's files besides the root image, and how it boots.
struct Loaders {
    tree_files: Vec<(String, FileData)>,
    bios: Option<BiosBoot>,
    mbr: Option<Vec<u8>>,
    efi: bool,
}

/// Writes the live ISO of `source` (the tree `config` made) to `target`.
pub(crate) fn write_live_iso(
    config: &ImageConfig,
    source: &dyn EntrySource,
    target: &TreeTarget,
    build: &BuildOptions,
    live: &LiveOptions,
) -> Result<WrittenTree> {
    check_volume_id(&live.volume_id)?;
    let stamp = &build.stamp;
    let time = i64::try_from(stamp.unix_time()).unwrap_or(i64::MAX);
    let scratch = tempfile::Builder::new()
        .prefix("imgconv-live-")
        .tempdir_in(&build.work_dir)
        .map_err(|e| Error::file(&build.work_dir, e))?;
    let work = scratch.path();
    let mut boot = BootFiles::new(work);

    // The tree into tar2sqfs, the boot files copied as they pass.
    let (mut squashfs, stdin) = Squashfs::start(work, &live.compression, time)?;
    let entries = {
        let teeing = Teeing {
            inner: source,
            boot: RefCell::new(&mut boot),
        };
        let mut tar = TarWriter::new(BufWriter::with_capacity(1 << 20, stdin));
        let shown = PathBuf::from("tar2sqfs");
        let sent = match emit(&teeing, &mut tar, &shown) {
            Ok(n) => tar
                .finish()
                .and_then(|mut w| w.flush())
                .map(|_| n)
                .map_err(|e| Error::file(&shown, e)),
            Err(e) => Err(e),
        };
        match sent {
            Ok(n) => n,
            // The tool stopped reading (and so is ending): it says why.
            Err(e)
                if e.file_path() == Some(shown.as_path())
                    && e.io_error().map(std::io::Error::kind)
                        == Some(std::io::ErrorKind::BrokenPipe) =>
            {
                squashfs.wait()?;
                return Err(e);
            }
            // The tree could not be read: the tool is stopped, not left
            // to pack what it was given.
            Err(e) => {
                squashfs.stop();
                return Err(e);
            }
        }
    };
    squashfs.wait()?;
    let root_image = squashfs
        .image
        .reopen()
        .map_err(|e| Error::file(squashfs.image.path(), e))?;
    let root_size = root_image
        .metadata()
        .map_err(|e| Error::file(squashfs.image.path(), e))?
        .len();

    let kernel = boot.newest_kernel_files()?.ok_or_else(|| {
        error::layout(
            "a live ISO boots the tree's kernel, but it has none (/boot/vmlinuz-VERSION)".into(),
        )
    })?;
    if kernel.initrd.is_none() {
        return Err(error::layout(format!(
            "a live ISO's root is found by the initramfs (dracut's dmsquash-live), but the tree \
             has none for kernel {v} (/boot/initrd.img-{v} or /boot/initramfs-{v}.img)",
            v = kernel.version
        )));
    }
    // The configuration's feature arguments, as on a disk (a live ISO has
    // no /boot of its own for FIPS to name).
    let mut args = config.early_kernel_args();
    args.push(format!(
        "root=live:CDLABEL={} rd.live.image",
        live.volume_id
    ));
    args.extend(config.kernel_args_late.iter().cloned());
    let mut cmdline = args.join(" ");
    if !config.kernel_cmdline.trim().is_empty() {
        cmdline.push(' ');
        cmdline.push_str(config.kernel_cmdline.trim());
    }
    let title = format!(
        "{} (live), Linux {}",
        config.hostname.as_deref().unwrap_or("Linux"),
        kernel.version
    );
    let loader = build.boot_loader.unwrap_or(config.boot_loader);
    let loaders = loaders(
        config, loader, &mut boot, &kernel, &title, &cmdline, live, stamp, work,
    )?;

    // The ISO.
    let mut tree = iso9660::Tree::new(iso9660::Metadata::new(0o755, time));
    let mut add = |path: &str, data: FileData| -> Result<()> {
        tree.insert(
            path,
            IsoKind::File(data),
            iso9660::Metadata::new(0o644, time),
        )
        .map_err(|e| error::layout(format!("live ISO: {path}: {e}")))
    };
    add(
        ROOT_IMAGE,
        FileData::Open {
            file: Arc::new(root_image),
            size: root_size,
        },
    )?;
    for (p, data) in loaders.tree_files {
        add(&p, data)?;
    }
    let opts = IsoOptions {
        volume_id: live.volume_id.clone(),
        application: "imgconv build".into(),
        bios_boot: loaders.bios,
        efi_boot: loaders.efi.then(|| EFI_IMAGE.to_string()),
        boot_catalog: "boot/boot.cat".into(),
        hybrid: Some(Hybrid {
            mbr_code: loaders.mbr,
            mbr_kind: MbrKind::Grub2,
        }),
        ..IsoOptions::default()
    };
    let writer =
        IsoWriter::new(tree, opts, stamp).map_err(|e| error::layout(format!("live ISO: {e}")))?;
    let summary = match target {
        TreeTarget::Path(path) => {
            let pending = PendingFile::create(path).map_err(|e| Error::file(path, e))?;
            let file = pending.file().map_err(|e| Error::file(path, e))?;
            let mut dest = Destination::file(file);
            let summary = writer
                .write(&mut dest, &mut |_| {})
                .map_err(|e| error::layout(format!("writing {}: {e}", path.display())))?;
            drop(dest);
            pending.commit().map_err(|e| Error::file(path, e))?;
            summary
        }
        TreeTarget::Stdout => {
            let mut dest = Destination::stream(std::io::stdout());
            writer
                .write(&mut dest, &mut |_| {})
                .map_err(|e| error::layout(format!("writing standard output: {e}")))?
        }
    };
    Ok(WrittenTree {
        format: "iso",
        path: match target {
            TreeTarget::Path(p) => Some(p.clone()),
            TreeTarget::Stdout => None,
        },
        bytes: summary.size,
        entries,
        image: None,
    })
}

/// The boot loaders of the ISO, from the tree's own.
#[allow(clippy::too_many_arguments)]
fn loaders(
    config: &ImageConfig,
    loader: BootLoader,
    boot: &mut BootFiles,
    kernel: &KernelFiles,
    title: &str,
    cmdline: &str,
    live: &LiveOptions,
    stamp: &BuildStamp,
    work: &Path,
) -> Result<Loaders> {
    let time = i64::try_from(stamp.unix_time()).unwrap_or(i64::MAX);
    let open = |f: &File, what: &str| -> Result<FileData> {
        let file = f.try_clone().map_err(|e| Error::file(what, e))?;
        let size = file.metadata().map_err(|e| Error::file(what, e))?.len();
        Ok(FileData::Open {
            file: Arc::new(file),
            size,
        })
    };
    let mut files = vec![(
        kernel.kernel.0.clone(),
        open(&kernel.kernel.1, &kernel.kernel.0)?,
    )];
    if let Some((p, f)) = &kernel.initrd {
        files.push((p.clone(), open(f, p)?));
    }
    let bios_grub = boot.has_grub(GrubPlatform::I386Pc);
    // UEFI boots the loader the configuration (or the build's options)
    // names, as on a disk.
    let efi_grub = loader == BootLoader::Grub && boot.has_grub(GrubPlatform::X86_64Efi);
    let systemd_boot = loader == BootLoader::SystemdBoot && boot.has_systemd_boot();
    match config.boot {
        BootType::Legacy if !bios_grub => {
            return Err(error::layout(
                "legacy boot needs GRUB for BIOS in the rootfs (usr/lib/grub/i386-pc, from grub-pc-bin or grub2-pc-modules)".into(),
            ))
        }
        BootType::Efi if !efi_grub && !systemd_boot => {
            return Err(error::layout(match loader {
                BootLoader::Grub => "a live ISO that boots through UEFI with GRUB, as the configuration means, needs GRUB for UEFI (usr/lib/grub/x86_64-efi) in the rootfs".into(),
                BootLoader::SystemdBoot => "a live ISO that boots through UEFI with systemd-boot needs it in the rootfs (usr/lib/systemd/boot/efi/systemd-bootx64.efi)".into(),
            }))
        }
        _ if !bios_grub && !efi_grub && !systemd_boot => {
            return Err(error::layout(
                "a live ISO boots with the tree's own loaders, and the rootfs has none: GRUB (usr/lib/grub/i386-pc, usr/lib/grub/x86_64-efi) or systemd-boot".into(),
            ))
        }
        _ => {}
    }
    let early = format!(
        "search --no-floppy --label --set=root {}\nset prefix=($root)/{GRUB_DIR}\n",
        live.volume_id
    );
    let mut out = Loaders {
        tree_files: files,
        bios: None,
        mbr: None,
        efi: false,
    };
    let mut grub_platforms = Vec::new();
    if bios_grub {
        let image = boot.grub_image_as(
            GrubPlatform::I386Pc,
            "i386-pc-eltorito",
            &early,
            &["iso9660"],
        )?;
        out.tree_files
            .push((ELTORITO.into(), FileData::Bytes(image.into())));
        out.bios = Some(BiosBoot {
            image: ELTORITO.into(),
            load_sectors: 4,
            boot_info_table: true,
            grub2_boot_info: true,
        });
        // GRUB's boot sector for a hybrid image, as grub-mkrescue uses it.
        out.mbr = Some(boot.grub_boot_sector("boot_hybrid.img")?);
        grub_platforms.push(GrubPlatform::I386Pc);
    }
    // The FAT image UEFI boots from, the smallest that holds its files.
    let mut esp = FatMaker::new("the live ISO's EFI image", FsType::Vfat, 0, None, work);
    if efi_grub {
        let image = boot.grub_image_as(
            GrubPlatform::X86_64Efi,
            GrubPlatform::X86_64Efi.dir(),
            &early,
            &["iso9660"],
        )?;
        let (path, entry, image) = file_entry("EFI/BOOT/BOOTX64.EFI", image, 0o644, time);
        esp.add(&path, &entry, &mut image.as_slice())?;
        grub_platforms.push(GrubPlatform::X86_64Efi);
    } else if systemd_boot {
        boot.install_systemd_boot(title, cmdline, time, &mut |rel, entry, data| {
            esp.add(rel, entry, data)
        })?;
    }
    if efi_grub || systemd_boot {
        let fat = esp.finish("EFIBOOT", &stamp.mixed_with("live efi image"))?;
        let file = fat
            .image
            .file()
            .try_clone()
            .map_err(|e| Error::file("the live ISO's EFI image", e))?;
        out.tree_files.push((
            EFI_IMAGE.into(),
            FileData::Open {
                file: Arc::new(file),
                size: fat.size,
            },
        ));
        out.efi = true;
    }
    if !grub_platforms.is_empty() {
        let in_iso = |p: &str| format!("/{p}");
        let text = grub_menu(
            title,
            &format!("--label {}", live.volume_id),
            &in_iso(&kernel.kernel.0),
            kernel.initrd.as_ref().map(|i| in_iso(&i.0)).as_deref(),
            cmdline,
        );
        out.tree_files.push((
            format!("{GRUB_DIR}/grub.cfg"),
            FileData::Bytes(text.into_bytes().into()),
        ));
        // The module directories, for `insmod` at boot.
        for platform in grub_platforms {
            for (name, copy) in boot.grub_files(platform)? {
                if format!("{GRUB_DIR}/{}/{name}", platform.dir()) == ELTORITO {
                    continue;
                }
                let size = std::fs::metadata(&copy)
                    .map_err(|e| Error::file(&copy, e))?
                    .len();
                out.tree_files.push((
                    format!("{GRUB_DIR}/{}/{name}", platform.dir()),
                    FileData::Path { path: copy, size },
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids() {
        assert_eq!(volume_id_from("core-efi 3.0"), "CORE-EFI_3.0");
        assert_eq!(volume_id_from(""), "LIVE");
        assert_eq!(volume_id_from(&"x".repeat(40)).len(), 32);
        assert!(check_volume_id("AZL_3.0").is_ok());
        assert!(check_volume_id("a b").is_err());
        assert!(check_volume_id(&"X".repeat(33)).is_err());
    }

    #[test]
    fn compressions() {
        let c = |t: &str| t.parse::<SquashfsCompression>();
        assert_eq!(c("zstd:19").unwrap().level, Some(19));
        assert_eq!(c("xz").unwrap().level, None);
        assert_eq!(c("lz4").unwrap().compressor, "lz4");
        for bad in ["zstd:23", "zstd:", "gzip:0", "lz4:1", "brotli", ""] {
            assert!(c(bad).is_err(), "{bad}");
        }
    }
}
