//! From a configuration and a root filesystem to a disk: the GPT laid out,
//! each partition's file system made from the rootfs subtree at its mount
//! point (read once, streamed into every file system maker at the same
//! time), the generated files added, and the pieces assembled into one
//! [`AssembledDisk`] that the format writers read.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use blocksink::{AssembledDisk, BlockSource, BuildStamp};
use gpt::{Gpt, Partition};
use uuid::Uuid;

use crate::boot::{grub_core, BootFiles, GrubPlatform};
use crate::config::{BootLoader, BootType, FsType, ImageConfig, MountIdentifier, PartitionRole};
use crate::custom::Customized;
use crate::error;
use crate::ext::ExtMaker;
use crate::rootfs::{source_error, Entry, EntryKind, EntrySource};
use crate::vfat::FatMaker;
use crate::{Error, Result};

const SECTOR: u64 = 512;

/// How a build is stamped and where it keeps its scratch files.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Time and identifiers: with a seed or `SOURCE_DATE_EPOCH`, two builds
    /// of the same input are byte-identical.
    pub stamp: BuildStamp,
    /// Where file system images are made before they are read into the
    /// outputs (the system's temporary directory by default). They are
    /// unlinked as soon as they are open.
    pub work_dir: PathBuf,
    /// The UEFI boot loader to install instead of the one the
    /// configuration means ([`ImageConfig::boot_loader`]).
    pub boot_loader: Option<BootLoader>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            stamp: BuildStamp::from_env(),
            work_dir: std::env::temp_dir(),
            boot_loader: None,
        }
    }
}

/// Which boot loaders a built disk boots from, and why those.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InstalledLoader {
    /// Under UEFI: `grub` or `systemd-boot` installed by the build, or
    /// `packages` for the ESP's own `EFI/BOOT/BOOTX64.EFI` kept as the
    /// tree's packages made it; none when the disk does not boot by UEFI.
    pub uefi: Option<String>,
    /// Under BIOS: `grub` (its boot sector in the protective MBR, its core
    /// image in the BIOS boot partition); none when it does not boot by
    /// BIOS.
    pub bios: Option<String>,
    /// Why these.
    pub reason: String,
}

/// One partition of a built disk.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BuiltPartition {
    /// The configuration's id.
    pub id: String,
    /// Its number in the GPT (from 1).
    pub number: u32,
    /// Its GPT name.
    pub name: String,
    /// First byte.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
    /// GPT type GUID.
    pub type_guid: Uuid,
    /// GPT unique GUID (`PARTUUID`).
    pub guid: Uuid,
    /// File system made on it, as fstab names it (`ext4`, `vfat`).
    pub fs: Option<String>,
    /// The file system's UUID as `blkid` shows it.
    pub fs_uuid: Option<String>,
    /// Where it is mounted.
    pub mount_point: Option<String>,
}

/// A disk made by [`build_disk`]: read it as a [`BlockSource`].
pub struct BuiltDisk {
    /// The disk, assembled from the tables and the file system images.
    pub disk: AssembledDisk,
    /// Its partitions, in table order.
    pub partitions: Vec<BuiltPartition>,
    /// The kernel command line the boot loader was given, when it boots.
    pub kernel_cmdline: Option<String>,
    /// The boot loaders installed, when it boots.
    pub loader: Option<InstalledLoader>,
    /// Things the user should know (a FAT type other than the one named).
    pub notes: Vec<String>,
}

impl std::fmt::Debug for BuiltDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltDisk")
            .field("size", &self.disk.size())
            .field("partitions", &self.partitions)
            .field("notes", &self.notes)
            .finish()
    }
}

/// A file system being made.
enum Maker {
    /// Not started: an ext maker starts with its first entry, which says
    /// who owns its root directory.
    Pending,
    Ext(Box<ExtMaker>),
    Fat(Box<FatMaker>),
}

/// One partition's plan and its maker.
struct Part {
    spec_index: usize,
    what: String,
    fs: Option<FsType>,
    start: u64,
    size: u64,
    fs_uuid: Uuid,
    maker: Maker,
    /// Directories present, relative to the partition's root.
    dirs: HashSet<String>,
    /// Symbolic links present, by path relative to the partition's root.
    symlinks: HashMap<String, String>,
    /// Where the partition is mounted, relative to the tree's root.
    mount: Option<String>,
}

impl Part {
    /// `rel` with its parents' symbolic links followed, within the partition.
    fn resolve(&self, rel: &str) -> Result<String> {
        resolve_parents(
            &self.symlinks,
            self.mount.as_deref().unwrap_or(""),
            &self.what,
            rel,
        )
    }
}

/// Builds the disk its configuration describes from `tree`: the GPT laid
/// out, the tree routed into each partition's file system maker, the boot
/// loaders installed, the file systems finished and the pieces assembled.
pub fn build_disk(tree: &Customized<'_>, options: &BuildOptions) -> Result<BuiltDisk> {
    let config = tree.config();
    let rootfs: &dyn EntrySource = tree;
    if !config.has_disk() {
        return Err(error::config(
            &config.source,
            "Disks[0].Partitions",
            "the configuration describes no disk (no partitions); it makes only the root file \
             system's artifacts (tar, tar.gz, tar.zst, oci, oci-archive, docker-archive)",
        ));
    }
    let stamp = &options.stamp;
    let time = i64::try_from(stamp.unix_time()).unwrap_or(i64::MAX);
    let gpt = layout(config, stamp)?;
    let router = Router::new(config)?;
    let parts = plan_parts(config, &gpt, &router, stamp);
    if let Some(i) = tree.generated().iter().position(|g| g.0 == "etc/fstab") {
        let field = format!(
            "additional file {}",
            i + usize::from(config.hostname.is_none())
        );
        return Err(error::config(
            &config.source,
            &field,
            "the build writes /etc/fstab from the mount settings; it cannot also be an additional file",
        ));
    }
    // Scratch files live in a directory of their own, gone when the build
    // returns; the images in it are open by then and outlive their names.
    let scratch = tempfile::Builder::new()
        .prefix("imgconv-build-")
        .tempdir_in(&options.work_dir)
        .map_err(|e| Error::file(&options.work_dir, e))?;
    let mut build = DiskBuild {
        config,
        options,
        stamp,
        work: scratch.path(),
        time,
        boot: BootFiles::new(scratch.path()),
        gpt,
        router,
        parts,
        booting: config.boot != BootType::None,
    };
    let deferred = build.route(rootfs)?;
    build.add_mount_points()?;
    // Only a disk that boots has a kernel command line.
    let (cmdline, loaders) = if build.booting {
        let cmdline = kernel_cmdline(config, &build.gpt, &build.parts)?;
        let loaders = build.install_loaders(&cmdline)?;
        (cmdline, loaders)
    } else {
        (String::new(), Loaders::default())
    };
    // FAT file systems first: fstab may name them by volume id.
    let mut made = build.finish_fat()?;
    build.write_fstab(&made.fs_uuids)?;
    build.add_deferred_links(rootfs, deferred)?;
    build.finish_ext(&mut made)?;
    build.assemble(made, loaders, cmdline)
}

/// A disk being built: the plan, the partitions' makers and the boot files
/// gathered from the tree.
struct DiskBuild<'a> {
    config: &'a ImageConfig,
    options: &'a BuildOptions,
    stamp: &'a BuildStamp,
    work: &'a Path,
    time: i64,
    boot: BootFiles,
    gpt: Gpt,
    router: Router,
    parts: Vec<Part>,
    booting: bool,
}

/// The partitions of `gpt`, each with its maker not yet started.
fn plan_parts(config: &ImageConfig, gpt: &Gpt, router: &Router, stamp: &BuildStamp) -> Vec<Part> {
    config
        .partitions
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let p = &gpt.partitions[i];
            Part {
                spec_index: i,
                what: format!("partition {:?}", spec.id),
                fs: spec.fs,
                start: p.first_lba * SECTOR,
                size: p.size(),
                fs_uuid: stamp.uuid(&format!("file system {}", spec.id)),
                maker: Maker::Pending,
                dirs: HashSet::new(),
                symlinks: HashMap::new(),
                mount: router
                    .mounts
                    .iter()
                    .find(|(_, pi)| *pi == i)
                    .map(|(m, _)| m.clone()),
            }
        })
        .collect()
}

/// The boot loaders installed: GRUB for BIOS, and the report.
#[derive(Default)]
struct Loaders {
    bios_boot: Option<BiosBoot>,
    report: Option<InstalledLoader>,
}

/// GRUB for BIOS: its core image at `lba` (the BIOS boot partition) and
/// the boot sector that loads it.
struct BiosBoot {
    lba: u64,
    core: Vec<u8>,
    boot_sector: Vec<u8>,
}

/// The finished file systems' images, UUIDs and notes, by partition.
struct Made {
    images: Vec<Option<Box<dyn BlockSource>>>,
    fs_uuids: Vec<Option<String>>,
    notes: Vec<String>,
}

impl DiskBuild<'_> {
    /// Adds `entry` at `rel` of partition `pi`.
    fn add_to(&mut self, pi: usize, rel: &str, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        add(
            &mut self.parts[pi],
            rel,
            entry,
            data,
            self.stamp,
            self.work,
            self.time,
        )
    }

    /// Adds a file the build writes, at `path` in the tree.
    fn add_generated_at(&mut self, path: &str, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        let (pi, rel) = self.route_path(path)?;
        add_generated(
            &mut self.parts[pi],
            &rel,
            entry,
            data,
            self.stamp,
            self.work,
            self.time,
        )
    }

    /// The partition `path` lies in, and its path there.
    fn route_path(&self, path: &str) -> Result<(usize, String)> {
        self.router
            .route(path)
            .ok_or_else(|| error::layout(format!("/{path}: no partition is mounted at /")))
    }

    /// Reads the tree once, each entry into the maker of the partition it
    /// lies in (the tree's fstab is left out: the build writes its own);
    /// returns the hard links that must wait for the build's fstab.
    fn route(&mut self, rootfs: &dyn EntrySource) -> Result<Vec<Entry>> {
        let skip: HashSet<String> = HashSet::from(["etc/fstab".to_string()]);
        let esp = self
            .config
            .partitions
            .iter()
            .position(|p| p.role == PartitionRole::Esp);
        let mut deferred: Vec<Entry> = Vec::new();
        let DiskBuild {
            stamp,
            work,
            time,
            boot,
            router,
            parts,
            booting,
            ..
        } = self;
        let (stamp, work, time, booting) = (*stamp, *work, *time, *booting);
        rootfs.walk(&mut |entry, data| {
            if skip.contains(&entry.path) {
                return Ok(());
            }
            let Some((pi, rel)) = router.route(&entry.path) else {
                return Err(source_error(
                    rootfs,
                    Some(&entry.path),
                    "lies outside every mount point (no partition is mounted at /)",
                ));
            };
            // A mount point itself: a directory in the partition below it,
            // and the owner of the mounted file system's root.
            if let Some(mounted) = router.mounted_at(&entry.path) {
                if entry.kind != EntryKind::Dir {
                    return Err(source_error(
                        rootfs,
                        Some(&entry.path),
                        "is a mount point in the configuration but not a directory here",
                    ));
                }
                start(&mut parts[mounted], Some(entry), stamp, work)?;
                add_root(&mut parts[mounted], entry, stamp, work)?;
                if entry.path.is_empty() {
                    return Ok(());
                }
                let (parent, prel) = router.route_below(&entry.path, mounted).ok_or_else(|| {
                    source_error(
                        rootfs,
                        Some(&entry.path),
                        "is a mount point that no partition holds",
                    )
                })?;
                return add(&mut parts[parent], &prel, entry, data, stamp, work, time);
            }
            let link = match &entry.kind {
                // A link to a file the build writes itself comes after it.
                EntryKind::HardLink { target } if skip.contains(target) => {
                    deferred.push(entry.clone());
                    return Ok(());
                }
                EntryKind::HardLink { target } => match router.route(target) {
                    Some((tp, trel)) if tp == pi => Some(trel),
                    _ => {
                        return Err(source_error(
                            rootfs,
                            Some(&entry.path),
                            format!("a hard link to {target}, which is on another file system"),
                        ))
                    }
                },
                _ => None,
            };
            let part = &mut parts[pi];
            let mut entry = entry.clone();
            if let Some(trel) = link {
                entry.kind = EntryKind::HardLink { target: trel };
            }
            if Some(pi) == esp {
                boot.saw_esp_file(&rel);
            }
            if booting && entry.kind == EntryKind::Dir {
                boot.saw_dir(&entry.path);
            }
            let file = matches!(entry.kind, EntryKind::File { .. });
            if booting && file && boot.hold(&entry, data)? {
                return Ok(());
            }
            if booting && file && BootFiles::wants(&entry.path) {
                let mut tee = boot.tee(&entry.path, data)?;
                return add(part, &rel, &entry, &mut tee, stamp, work, time);
            }
            add(part, &rel, &entry, data, stamp, work, time)
        })?;
        Ok(deferred)
    }

    /// Mount points the rootfs lacks, made in the partitions below them.
    fn add_mount_points(&mut self) -> Result<()> {
        for (mp, pi) in &self.router.mounts {
            if mp.is_empty() {
                continue;
            }
            let (parent, rel) = self.router.route_below(mp, *pi).ok_or_else(|| {
                error::layout(format!(
                    "/{mp} is mounted but no partition holds its directory"
                ))
            })?;
            let part = &mut self.parts[parent];
            ensure_dirs(part, &format!("{rel}/x"), self.stamp, self.work, self.time)?;
        }
        Ok(())
    }

    /// GRUB for BIOS (asked for, or possible beside UEFI: a hybrid disk)
    /// and the UEFI loader, their configuration and modules, or the boot
    /// files back in the tree when no GRUB was installed.
    fn install_loaders(&mut self, cmdline: &str) -> Result<Loaders> {
        let config = self.config;
        let title = config.hostname.clone().unwrap_or_else(|| "Linux".into());
        let mut grub_platforms: Vec<GrubPlatform> = Vec::new();
        let bios_boot = self.install_bios()?;
        if bios_boot.is_some() {
            grub_platforms.push(GrubPlatform::I386Pc);
        }
        let loader = self.options.boot_loader.unwrap_or(config.boot_loader);
        let uefi = self.install_uefi(loader, &title, cmdline)?;
        if uefi == Some(BootLoader::Grub.name()) {
            grub_platforms.push(GrubPlatform::X86_64Efi);
        }
        let chosen = LoaderChoice {
            config,
            options: self.options,
        };
        let report = Some(chosen.report(uefi, bios_boot.is_some(), loader));
        if grub_platforms.is_empty() {
            for (path, entry, bytes) in self.boot.release() {
                let (pi, rel) = self.route_path(&path)?;
                self.add_to(pi, &rel, &entry, &mut bytes.as_slice())?;
            }
        } else {
            self.install_grub_files(&grub_platforms, &title, cmdline)?;
        }
        Ok(Loaders { bios_boot, report })
    }

    /// GRUB's core image for the BIOS boot partition, and its boot sector.
    fn install_bios(&mut self) -> Result<Option<BiosBoot>> {
        let config = self.config;
        let bios = config
            .partitions
            .iter()
            .position(|p| p.role == PartitionRole::BiosBoot);
        if let Some(bp) = bios.filter(|_| self.boot.has_grub(GrubPlatform::I386Pc)) {
            let early = grub_early_config(&self.router, &self.parts, &self.boot)?;
            let lba = self.gpt.partitions[bp].first_lba;
            let core = grub_core(self.boot.grub_image(GrubPlatform::I386Pc, &early)?, lba)?;
            if core.len() as u64 > self.parts[bp].size {
                return Err(error::layout(format!(
                    "GRUB's core image is {} bytes, more than {} holds ({} bytes)",
                    core.len(),
                    self.parts[bp].what,
                    self.parts[bp].size
                )));
            }
            return Ok(Some(BiosBoot {
                lba,
                core,
                boot_sector: self.boot.grub_boot_sector("boot.img")?,
            }));
        }
        if config.boot == BootType::Legacy {
            return Err(match bios {
                None => error::config(
                    &config.source,
                    "BootType",
                    "legacy boot needs a BIOS boot partition (the bios_grub flag) for GRUB's core image",
                ),
                Some(_) => error::layout(
                    "legacy boot needs GRUB for BIOS in the rootfs (usr/lib/grub/i386-pc, from grub-pc-bin or grub2-pc-modules)".into(),
                ),
            });
        }
        Ok(None)
    }

    /// The UEFI loader: the packages' where the ESP has one, else `loader`
    /// from the tree. Returns its name in the report.
    fn install_uefi(
        &mut self,
        loader: BootLoader,
        title: &str,
        cmdline: &str,
    ) -> Result<Option<&'static str>> {
        let config = self.config;
        let esp = config
            .partitions
            .iter()
            .position(|p| p.role == PartitionRole::Esp);
        let Some(e) = esp else {
            if config.boot == BootType::Efi {
                return Err(error::config(
                    &config.source,
                    "BootType",
                    "efi boot needs an EFI system partition (the esp flag)",
                ));
            }
            return Ok(None);
        };
        if self.boot.esp_has_loader {
            return Ok(Some("packages"));
        }
        match loader {
            BootLoader::SystemdBoot if self.boot.has_systemd_boot() => {
                let DiskBuild {
                    stamp,
                    work,
                    time,
                    boot,
                    parts,
                    ..
                } = self;
                let (stamp, work, time) = (*stamp, *work, *time);
                let part = &mut parts[e];
                let mut to_esp = |rel: &str, entry: &Entry, data: &mut dyn Read| {
                    add(part, rel, entry, data, stamp, work, time)
                };
                boot.install_systemd_boot(title, cmdline, time, &mut to_esp)?;
                Ok(Some(BootLoader::SystemdBoot.name()))
            }
            BootLoader::Grub if self.boot.has_grub(GrubPlatform::X86_64Efi) => {
                let early = grub_early_config(&self.router, &self.parts, &self.boot)?;
                let image = self.boot.grub_image(GrubPlatform::X86_64Efi, &early)?;
                let path = "EFI/BOOT/BOOTX64.EFI";
                let entry = Entry {
                    kind: EntryKind::File {
                        len: image.len() as u64,
                    },
                    ..file_entry(path, Vec::new(), 0o644, self.time).1
                };
                self.add_to(e, path, &entry, &mut image.as_slice())?;
                Ok(Some(BootLoader::Grub.name()))
            }
            _ if config.boot == BootType::Efi => {
                let chosen = LoaderChoice {
                    config,
                    options: self.options,
                };
                Err(error::layout(chosen.missing(loader, &self.boot)))
            }
            // A legacy disk's ESP without the loader: BIOS boots it.
            _ => Ok(None),
        }
    }

    /// grub.cfg, and the module directories beside it as grub-install
    /// leaves them, for `insmod` at boot.
    fn install_grub_files(
        &mut self,
        platforms: &[GrubPlatform],
        title: &str,
        cmdline: &str,
    ) -> Result<()> {
        let (path, text) = grub_cfg(&self.router, &self.parts, &self.boot, title, cmdline)?;
        let entry = file_entry(&path, text.clone().into_bytes(), 0o644, self.time).1;
        self.add_generated_at(&path, &entry, &mut text.as_bytes())?;
        let grub_dir = path.trim_end_matches("grub.cfg").trim_end_matches('/');
        for platform in platforms.iter().copied() {
            for (name, copy) in self.boot.grub_files(platform)? {
                let tree_path = format!("{grub_dir}/{}/{name}", platform.dir());
                let mut f = std::fs::File::open(&copy).map_err(|e| Error::file(&copy, e))?;
                let len = f.metadata().map_err(|e| Error::file(&copy, e))?.len();
                let entry = Entry {
                    kind: EntryKind::File { len },
                    ..file_entry(&tree_path, Vec::new(), 0o644, self.time).1
                };
                self.add_generated_at(&tree_path, &entry, &mut f)?;
            }
        }
        Ok(())
    }

    /// The FAT file systems, finished.
    fn finish_fat(&mut self) -> Result<Made> {
        let n = self.parts.len();
        let mut made = Made {
            images: (0..n).map(|_| None).collect(),
            fs_uuids: vec![None; n],
            notes: Vec::new(),
        };
        for (i, part) in self.parts.iter_mut().enumerate() {
            if let Some(FsType::Vfat | FsType::Fat16 | FsType::Fat32) = part.fs {
                start(part, None, self.stamp, self.work)?;
                let Maker::Fat(maker) = std::mem::replace(&mut part.maker, Maker::Pending) else {
                    continue;
                };
                let spec = &self.config.partitions[part.spec_index];
                let fat = maker.finish(
                    &fat_label(&spec.label),
                    &self.stamp.mixed_with(format!("fat {}", spec.id)),
                )?;
                made.notes.extend(fat.note);
                made.fs_uuids[i] = Some(format!(
                    "{:04X}-{:04X}",
                    fat.volume_id >> 16,
                    fat.volume_id & 0xffff
                ));
                made.images[i] = Some(Box::new(fat.image));
            }
        }
        for (i, part) in self.parts.iter().enumerate() {
            if is_ext(part.fs) {
                made.fs_uuids[i] = Some(part.fs_uuid.to_string());
            }
        }
        Ok(made)
    }

    /// /etc/fstab, naming the file systems as the configuration says.
    fn write_fstab(&mut self, fs_uuids: &[Option<String>]) -> Result<()> {
        let fstab = fstab(self.config, &self.gpt, &self.parts, fs_uuids)?;
        let (pi, rel) = self
            .router
            .route("etc/fstab")
            .ok_or_else(|| error::layout("/etc/fstab: no partition is mounted at /".into()))?;
        if !is_ext(self.parts[pi].fs) {
            return Err(error::layout(format!(
                "/etc/fstab would be on {}, which is not an ext file system",
                self.parts[pi].what
            )));
        }
        let entry = file_entry("etc/fstab", fstab.clone().into_bytes(), 0o644, self.time).1;
        add_generated(
            &mut self.parts[pi],
            &rel,
            &entry,
            &mut fstab.as_bytes(),
            self.stamp,
            self.work,
            self.time,
        )
    }

    /// The hard links to files the build wrote, now that those are there.
    fn add_deferred_links(&mut self, rootfs: &dyn EntrySource, links: Vec<Entry>) -> Result<()> {
        for link in links {
            let EntryKind::HardLink { target } = &link.kind else {
                continue;
            };
            let cross = || {
                source_error(
                    rootfs,
                    Some(&link.path),
                    format!("a hard link to {target}, which is on another file system"),
                )
            };
            let (pi, rel) = self.router.route(&link.path).ok_or_else(cross)?;
            let (tp, trel) = self.router.route(target).ok_or_else(cross)?;
            if tp != pi {
                return Err(cross());
            }
            let trel = self.parts[pi].resolve(&trel)?;
            let entry = Entry {
                kind: EntryKind::HardLink { target: trel },
                ..link.clone()
            };
            self.add_to(pi, &rel, &entry, &mut io::empty())?;
        }
        Ok(())
    }

    /// The ext file systems, finished.
    fn finish_ext(&mut self, made: &mut Made) -> Result<()> {
        for (i, part) in self.parts.iter_mut().enumerate() {
            if is_ext(part.fs) {
                start(part, None, self.stamp, self.work)?;
                if let Maker::Ext(maker) = std::mem::replace(&mut part.maker, Maker::Pending) {
                    made.images[i] = Some(Box::new(maker.finish()?));
                }
            }
        }
        Ok(())
    }

    /// The tables, the loader's boot sector and core image, and the file
    /// systems, placed as one disk.
    fn assemble(self, made: Made, loaders: Loaders, cmdline: String) -> Result<BuiltDisk> {
        let config = self.config;
        let mut disk = AssembledDisk::new(config.disk_size);
        let place_err = |e: io::Error| error::layout(format!("assembling the disk: {e}"));
        let bios_boot = loaders.bios_boot;
        for (offset, mut bytes) in self.gpt.regions()? {
            if let (0, Some(bios)) = (offset, &bios_boot) {
                let mbr = crate::boot::grub_mbr(&bios.boot_sector, &bytes[..512], bios.lba);
                bytes[..512].copy_from_slice(&mbr);
            }
            disk.place_bytes(offset, bytes).map_err(place_err)?;
        }
        if let Some(bios) = bios_boot {
            disk.place_bytes(bios.lba * SECTOR, bios.core)
                .map_err(place_err)?;
        }
        for (part, image) in self.parts.iter().zip(made.images) {
            if let Some(image) = image {
                disk.place(part.start, image).map_err(place_err)?;
            }
        }
        let partitions = self
            .parts
            .iter()
            .zip(&self.gpt.partitions)
            .zip(made.fs_uuids)
            .map(|((part, p), fs_uuid)| {
                let spec = &config.partitions[part.spec_index];
                BuiltPartition {
                    id: spec.id.clone(),
                    number: p.number,
                    name: p.name.clone(),
                    start: part.start,
                    size: part.size,
                    type_guid: p.type_guid,
                    guid: p.guid,
                    fs: part.fs.map(|f| fs_name(f).to_string()),
                    fs_uuid,
                    mount_point: config
                        .mounts
                        .iter()
                        .find(|m| m.partition == spec.id)
                        .map(|m| m.mount_point.clone()),
                }
            })
            .collect();
        Ok(BuiltDisk {
            disk,
            partitions,
            kernel_cmdline: self.booting.then_some(cmdline),
            loader: loaders.report,
            notes: made.notes,
        })
    }
}

/// Where the UEFI loader's choice comes from: the configuration, or the
/// build's options over it.
struct LoaderChoice<'a> {
    config: &'a ImageConfig,
    options: &'a BuildOptions,
}

impl LoaderChoice<'_> {
    /// Why `loader` is the one to install.
    fn why(&self, loader: BootLoader) -> String {
        match (self.options.boot_loader, loader) {
            (Some(_), _) if loader != self.config.boot_loader => format!(
                "the build's options ask for {}, over the configuration's {}",
                loader.name(),
                self.config.boot_loader.name()
            ),
            (_, BootLoader::Grub) => "the configuration boots with GRUB, as the toolkit's and \
                 Image Customizer's configurations do unless they ask for a unified kernel image"
                .into(),
            (_, BootLoader::SystemdBoot) => "the configuration asks for systemd-boot".into(),
        }
    }

    /// The refusal when the tree lacks `loader`.
    fn missing(&self, loader: BootLoader, boot: &BootFiles) -> String {
        let why = self.why(loader);
        match loader {
            BootLoader::Grub => format!(
                "{why}, but the ESP has no EFI/BOOT/BOOTX64.EFI and the rootfs has no GRUB for \
                 UEFI (usr/lib/grub/x86_64-efi, from grub2-efi-binary or grub-efi-amd64-bin){}",
                if boot.has_systemd_boot() {
                    "; it has systemd-boot, which the build installs when its options ask \
                     for it (the boot loader option)"
                } else {
                    ""
                }
            ),
            BootLoader::SystemdBoot => format!(
                "{why}, but the ESP has no EFI/BOOT/BOOTX64.EFI and the rootfs has no \
                 systemd-boot (usr/lib/systemd/boot/efi/systemd-bootx64.efi, from systemd-boot \
                 or systemd-boot-efi)"
            ),
        }
    }

    /// What was installed for UEFI (`uefi`) and BIOS, and why.
    fn report(&self, uefi: Option<&str>, bios: bool, loader: BootLoader) -> InstalledLoader {
        let mut reasons = Vec::new();
        match uefi {
            Some("packages") => {
                reasons.push(
                    "the ESP already holds EFI/BOOT/BOOTX64.EFI from the tree's packages, kept \
                     as they made it"
                        .to_string(),
                );
                if let Some(asked) = self.options.boot_loader {
                    reasons.push(format!(
                        "the {} the build's options ask for is not installed over it",
                        asked.name()
                    ));
                }
            }
            Some(_) => reasons.push(self.why(loader)),
            None => {}
        }
        if bios {
            reasons.push("BIOS boots GRUB from the BIOS boot partition".into());
        }
        InstalledLoader {
            uefi: uefi.map(str::to_string),
            bios: bios.then(|| BootLoader::Grub.name().to_string()),
            reason: reasons.join("; "),
        }
    }
}

/// The GPT for `config`: partitions at the configured bytes, GUIDs from the
/// stamp.
fn layout(config: &ImageConfig, stamp: &BuildStamp) -> Result<Gpt> {
    if config.disk_size % SECTOR != 0 {
        return Err(error::config(
            &config.source,
            "disk size",
            format!(
                "{} bytes is not a whole number of sectors",
                config.disk_size
            ),
        ));
    }
    let mut gpt = Gpt::new(config.disk_size, stamp.uuid("gpt disk guid"))?;
    let mut previous_end = 0u64;
    for (i, spec) in config.partitions.iter().enumerate() {
        let first = spec.start / SECTOR;
        let last = match spec.end {
            Some(end) => end / SECTOR - 1,
            None => gpt.last_usable_lba,
        };
        let shown = || format!("partition {:?}", spec.id);
        if spec.start % SECTOR != 0 || spec.end.is_some_and(|e| e % SECTOR != 0) {
            return Err(error::layout(format!(
                "{}: bounds are not whole sectors",
                shown()
            )));
        }
        if first < gpt.first_usable_lba || last > gpt.last_usable_lba || last < first {
            return Err(error::layout(format!(
                "{} (bytes {}..{}) does not fit the disk: usable bytes are {}..{}",
                shown(),
                spec.start,
                (last + 1) * SECTOR,
                gpt.first_usable_lba * SECTOR,
                (gpt.last_usable_lba + 1) * SECTOR
            )));
        }
        if first < previous_end {
            return Err(error::layout(format!(
                "{} starts at byte {}, inside the partition before it: partitions may not overlap",
                shown(),
                spec.start
            )));
        }
        previous_end = last + 1;
        let type_guid = spec.type_guid.unwrap_or_else(|| {
            let name = match spec.role {
                PartitionRole::Esp => "esp",
                PartitionRole::BiosBoot => "bios-grub",
                PartitionRole::Xbootldr => "xbootldr",
                PartitionRole::Root => "linux-root-x86-64",
                PartitionRole::Linux => "linux",
            };
            gpt::type_by_name(name).unwrap_or_default()
        });
        gpt.partitions.push(Partition {
            number: i as u32 + 1,
            type_guid,
            guid: stamp.uuid(&format!("partition {}", spec.id)),
            first_lba: first,
            last_lba: last,
            attributes: 0,
            name: spec.label.clone(),
        });
    }
    Ok(gpt)
}

/// Which partition holds a path: the one at the longest mount point that
/// is the path or one of its parents.
struct Router {
    /// (mount point relative to the root, partition index), longest first.
    mounts: Vec<(String, usize)>,
}

impl Router {
    fn new(config: &ImageConfig) -> Result<Router> {
        let index: HashMap<&str, usize> = config
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i))
            .collect();
        let mut mounts = Vec::new();
        for m in &config.mounts {
            let pi = *index.get(m.partition.as_str()).ok_or_else(|| {
                error::config(
                    &config.source,
                    "mounts",
                    format!("{} is mounted but no partition has that id", m.partition),
                )
            })?;
            if config.partitions[pi].fs.is_none() {
                return Err(error::config(
                    &config.source,
                    "mounts",
                    format!(
                        "partition {} is mounted but has no file system",
                        m.partition
                    ),
                ));
            }
            let rel = crate::rootfs::normalize(m.mount_point.trim_start_matches('/').as_bytes())
                .map_err(|why| {
                    error::config(
                        &config.source,
                        "mounts",
                        format!("{}: {why}", m.mount_point),
                    )
                })?;
            mounts.push((rel, pi));
        }
        mounts.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        Ok(Router { mounts })
    }

    fn route(&self, path: &str) -> Option<(usize, String)> {
        self.mounts.iter().find_map(|(mp, pi)| {
            let rel = crate::rootfs::under(path, mp)?;
            Some((*pi, rel.to_string()))
        })
    }

    /// The partition mounted exactly at `path`, if any.
    fn mounted_at(&self, path: &str) -> Option<usize> {
        self.mounts
            .iter()
            .find(|(mp, _)| mp == path)
            .map(|(_, pi)| *pi)
    }

    /// Where the directory of mount point `mp` (partition `pi`) lives: the
    /// partition of the longest other mount point above it.
    fn route_below(&self, mp: &str, pi: usize) -> Option<(usize, String)> {
        self.mounts
            .iter()
            .filter(|(m, p)| *p != pi && m.len() < mp.len())
            .find_map(|(m, p)| Some((*p, crate::rootfs::under(mp, m)?.to_string())))
    }
}

/// Starts a partition's maker if it is not running (`root` describes the
/// file system's root directory, when the rootfs has it).
fn start(part: &mut Part, root: Option<&Entry>, stamp: &BuildStamp, work: &Path) -> Result<()> {
    if !matches!(part.maker, Maker::Pending) {
        return Ok(());
    }
    let Some(fs) = part.fs else {
        return Ok(());
    };
    part.maker = match fs {
        FsType::Vfat | FsType::Fat16 | FsType::Fat32 => Maker::Fat(Box::new(FatMaker::new(
            &part.what,
            fs,
            part.size,
            part.mount.as_deref(),
            work,
        ))),
        FsType::Ext2 | FsType::Ext3 | FsType::Ext4 => Maker::Ext(Box::new(ExtMaker::start(
            &part.what,
            fs,
            part.size,
            part.fs_uuid,
            root.map_or((0, 0), |e| (e.uid, e.gid)),
            stamp,
            work,
        )?)),
    };
    Ok(())
}

/// Adds an entry to a partition, first making any parent directory it
/// lacks (root-owned, 0755).
fn add(
    part: &mut Part,
    rel: &str,
    entry: &Entry,
    data: &mut dyn Read,
    stamp: &BuildStamp,
    work: &Path,
    time: i64,
) -> Result<()> {
    if rel.is_empty() {
        return add_root(part, entry, stamp, work);
    }
    ensure_dirs(part, rel, stamp, work, time)?;
    // A directory met again (made as a parent of an earlier entry, or
    // listed twice) still goes through: its last metadata wins, as tar's.
    match &entry.kind {
        EntryKind::Dir => {
            part.dirs.insert(rel.to_string());
        }
        EntryKind::Symlink { target } => {
            part.symlinks.insert(rel.to_string(), target.clone());
        }
        _ => {}
    }
    start(part, None, stamp, work)?;
    match &mut part.maker {
        Maker::Ext(m) => m.add(rel, entry, data),
        Maker::Fat(m) => m.add(rel, entry, data),
        Maker::Pending => Err(error::layout(format!(
            "{}: /{} belongs here but the partition has no file system",
            part.what, entry.path
        ))),
    }
}

/// The file system's root directory takes `entry`'s mode, owner and
/// times (an ext file system's: FAT's root has none).
fn add_root(part: &mut Part, entry: &Entry, stamp: &BuildStamp, work: &Path) -> Result<()> {
    if entry.kind != EntryKind::Dir {
        return Ok(());
    }
    start(part, Some(entry), stamp, work)?;
    match &mut part.maker {
        Maker::Ext(m) => m.add("", entry, &mut io::empty()),
        _ => Ok(()),
    }
}

/// A file the build writes, added where the tree's links put it: a parent
/// that is a symbolic link (`bin` → `usr/bin`) is followed, within the
/// partition.
#[allow(clippy::too_many_arguments)]
fn add_generated(
    part: &mut Part,
    rel: &str,
    entry: &Entry,
    data: &mut dyn Read,
    stamp: &BuildStamp,
    work: &Path,
    time: i64,
) -> Result<()> {
    let resolved = part.resolve(rel)?;
    add(part, &resolved, entry, data, stamp, work, time)
}

/// `rel` (relative to the root of `what`, a tree mounted at `mount`) with
/// its parents' symbolic links followed, within that tree.
pub(crate) fn resolve_parents(
    symlinks: &HashMap<String, String>,
    mount: &str,
    what: &str,
    rel: &str,
) -> Result<String> {
    crate::rootfs::resolve_parents(symlinks, mount, rel)
        .map_err(|why| error::layout(format!("{what}: {why}")))
}

/// Makes every missing parent directory of `rel` in `part`.
fn ensure_dirs(
    part: &mut Part,
    rel: &str,
    stamp: &BuildStamp,
    work: &Path,
    time: i64,
) -> Result<()> {
    let missing = crate::rootfs::missing_parents(rel, |d| part.dirs.contains(d));
    for dir in missing {
        let entry = Entry::implied_dir(dir.clone(), time);
        start(part, None, stamp, work)?;
        part.dirs.insert(dir.clone());
        match &mut part.maker {
            Maker::Ext(m) => m.add(&dir, &entry, &mut io::empty())?,
            Maker::Fat(m) => m.add(&dir, &entry, &mut io::empty())?,
            Maker::Pending => {}
        }
    }
    Ok(())
}

pub(crate) fn file_entry(
    path: &str,
    bytes: Vec<u8>,
    mode: u32,
    time: i64,
) -> (String, Entry, Vec<u8>) {
    let entry = Entry {
        path: path.to_string(),
        kind: EntryKind::File {
            len: bytes.len() as u64,
        },
        mode,
        uid: 0,
        gid: 0,
        mtime: time,
        xattrs: Vec::new(),
    };
    (path.to_string(), entry, bytes)
}

/// Whether a partition gets an ext file system.
fn is_ext(fs: Option<FsType>) -> bool {
    matches!(fs, Some(FsType::Ext2 | FsType::Ext3 | FsType::Ext4))
}

fn fs_name(fs: FsType) -> &'static str {
    match fs {
        FsType::Vfat | FsType::Fat16 | FsType::Fat32 => "vfat",
        FsType::Ext2 => "ext2",
        FsType::Ext3 => "ext3",
        FsType::Ext4 => "ext4",
    }
}

/// A FAT volume label from a partition name: upper case, the characters a
/// label may hold, at most 11; empty when nothing is left.
fn fat_label(name: &str) -> String {
    name.to_uppercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "!#$%&'()-@^_`{}~ ".contains(*c))
        .take(11)
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// Where /boot is: its partition, and its path there ("boot", or "" when
/// /boot is a partition of its own).
fn boot_dir(router: &Router, parts: &[Part]) -> Result<(usize, String)> {
    let (pi, rel) = router
        .route("boot/x")
        .ok_or_else(|| error::layout("/boot: no partition is mounted at /".into()))?;
    if !is_ext(parts[pi].fs) {
        return Err(error::layout(format!(
            "/boot is on {}; GRUB is installed to read it from an ext file system",
            parts[pi].what
        )));
    }
    let dir = rel.strip_suffix("x").unwrap_or("").trim_end_matches('/');
    Ok((pi, dir.to_string()))
}

/// GRUB's built-in configuration: find the file system holding /boot by
/// its UUID and read grub.cfg there.
fn grub_early_config(router: &Router, parts: &[Part], boot: &BootFiles) -> Result<String> {
    let (pi, dir) = boot_dir(router, parts)?;
    let grub_dir = boot.grub_dir_name();
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("/{dir}")
    };
    Ok(format!(
        "search --no-floppy --fs-uuid --set=root {}\nset prefix=($root){prefix}/{grub_dir}\n",
        parts[pi].fs_uuid
    ))
}

/// The grub.cfg GRUB reads: one entry for the newest kernel, the serial
/// console and the screen both. Returns its path in the tree and its text.
fn grub_cfg(
    router: &Router,
    parts: &[Part],
    boot: &BootFiles,
    title: &str,
    cmdline: &str,
) -> Result<(String, String)> {
    let (pi, dir) = boot_dir(router, parts)?;
    let (version, kernel, initrd) = boot.newest_kernel_paths().ok_or_else(|| {
        error::layout(
            "the configuration boots, but the rootfs has no kernel (/boot/vmlinuz-VERSION)".into(),
        )
    })?;
    // Paths as GRUB sees them: from the root of /boot's file system.
    let in_fs = |p: &str| -> String {
        let name = p.rsplit('/').next().unwrap_or(p);
        if dir.is_empty() {
            format!("/{name}")
        } else {
            format!("/{dir}/{name}")
        }
    };
    let grub_dir = boot.grub_dir_name();
    let text = crate::boot::grub_menu(
        &format!("{title}, Linux {version}"),
        &format!("--fs-uuid {}", parts[pi].fs_uuid),
        &in_fs(&kernel),
        initrd.as_deref().map(in_fs).as_deref(),
        cmdline,
    );
    Ok((format!("boot/{grub_dir}/grub.cfg"), text))
}

/// `root=` as the root mount names its file system, then the
/// configuration's extra arguments.
fn kernel_cmdline(config: &ImageConfig, gpt: &Gpt, parts: &[Part]) -> Result<String> {
    let mut args = config.early_kernel_args();
    if config.fips {
        // The self tests read the kernel's .hmac from /boot, named by its
        // file system, where it is not the root's.
        if let Some(boot) = config.mounts.iter().find(|m| m.mount_point == "/boot") {
            let i = config
                .partitions
                .iter()
                .position(|p| p.id == boot.partition)
                .ok_or_else(|| {
                    error::layout(format!("/boot: no partition {:?}", boot.partition))
                })?;
            if !is_ext(parts[i].fs) {
                return Err(error::config(
                    &config.source,
                    "EnableFIPS",
                    "FIPS mode names /boot by its file system's UUID (boot=UUID=…), which this \
                     build gives only an ext2/3/4 /boot",
                ));
            }
            args.push(format!("boot=UUID={}", parts[i].fs_uuid));
        }
    }
    let root = config
        .mounts
        .iter()
        .find(|m| m.mount_point == "/")
        .and_then(|root| {
            let i = config
                .partitions
                .iter()
                .position(|p| p.id == root.partition)?;
            Some(match root.identifier {
                MountIdentifier::PartUuid => format!("PARTUUID={}", gpt.partitions[i].guid),
                MountIdentifier::PartLabel => format!("PARTLABEL={}", gpt.partitions[i].name),
                MountIdentifier::Uuid => format!("UUID={}", parts[i].fs_uuid),
            })
        });
    if let Some(device) = root {
        args.push(format!("root={device}"));
        args.push("ro".into());
    }
    args.extend(config.kernel_args_late.iter().cloned());
    let extra = config.kernel_cmdline.trim();
    if !extra.is_empty() {
        args.push(extra.to_string());
    }
    Ok(args.join(" "))
}

/// `/etc/fstab` for the mounts, root first, each file system named as its
/// mount says.
fn fstab(
    config: &ImageConfig,
    gpt: &Gpt,
    parts: &[Part],
    fs_uuids: &[Option<String>],
) -> Result<String> {
    let mut mounts: Vec<_> = config.mounts.iter().collect();
    mounts.sort_by(|a, b| {
        a.mount_point
            .len()
            .cmp(&b.mount_point.len())
            .then(a.mount_point.cmp(&b.mount_point))
    });
    let mut out =
        String::from("# /etc/fstab: static file system information (made by imgconv build).\n");
    out.push_str("# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>\n");
    for m in mounts {
        let Some(i) = config.partitions.iter().position(|p| p.id == m.partition) else {
            continue;
        };
        let fs = parts[i].fs.map(fs_name).unwrap_or("auto");
        let device = match m.identifier {
            MountIdentifier::PartUuid => format!("PARTUUID={}", gpt.partitions[i].guid),
            MountIdentifier::PartLabel => {
                let label = &gpt.partitions[i].name;
                if label.is_empty() || label.contains(char::is_whitespace) {
                    return Err(error::config(
                        &config.source,
                        "mounts",
                        format!(
                            "{} is mounted by PARTLABEL but its partition name {label:?} cannot name it",
                            m.mount_point
                        ),
                    ));
                }
                format!("PARTLABEL={label}")
            }
            MountIdentifier::Uuid => format!("UUID={}", fs_uuids[i].as_deref().unwrap_or_default()),
        };
        let pass = if m.mount_point == "/" { 1 } else { 2 };
        let options = if m.options.is_empty() {
            "defaults"
        } else {
            m.options.as_str()
        };
        out.push_str(&format!(
            "{device}\t{}\t{fs}\t{options}\t0\t{pass}\n",
            m.mount_point
        ));
    }
    Ok(out)
}
