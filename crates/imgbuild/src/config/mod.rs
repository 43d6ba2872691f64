//! Image configurations: one model, read from the toolkit's JSON or Image
//! Customizer's YAML.
//!
//! [`ImageConfig::load`] picks the reader by extension: `.json` is the
//! Azure Linux toolkit's image configuration ([`toolkit`]), `.yaml` and
//! `.yml` are Image Customizer's ([`customizer`]). Both read one disk. A
//! key neither reader knows, a key given twice, and a field the build does
//! not honour are errors ([`crate::error::config`]) naming the file and the key
//! path (`Disks[0].Partitions[1].FsType`, `storage.disks[0].partitions[2].size`);
//! nothing is silently dropped. Relative paths are relative to the
//! configuration's directory.
//!
//! # The toolkit's JSON
//!
//! | Field | Model |
//! |---|---|
//! | `Disks` | exactly one disk |
//! | `Disks[0].PartitionTableType` | must be `gpt` |
//! | `Disks[0].MaxSize` (MiB) | [`ImageConfig::disk_size`] |
//! | `Disks[0]` without `Partitions` | no disk ([`ImageConfig::has_disk`] is false): the toolkit's root file system image, as its container configurations have it; only tree artifacts are made |
//! | `Disks[0].Artifacts[].Name` | [`Artifact::name`] |
//! | `Disks[0].Artifacts[].Type` | [`Artifact::format`]: `vhd` → `vhd-fixed` (the toolkit's roast makes a fixed VHD: qemu-img `vpc`, `subformat=fixed,force_size`), `vhdx`, `qcow2`, `ova`, `raw`; `iso` → a live ISO of the tree (the toolkit's own ISO is an installer; this one boots the image itself) |
//! | `Disks[0].Artifacts[].Compression` without a `Type` | [`Artifact::format`]: `tar.gz`, `tar.zst` — the root file system as an archive (the toolkit's container artifact) |
//! | `IsContainerImage` | read; it changes nothing (any configuration's tree can be written as a container image) |
//! | `Container` (imgconv's own: `Tag`, `Labels`, `Env`, `Entrypoint`, `Cmd`, `WorkingDir`, `User`) | [`ImageConfig::container`]; the toolkit ignores keys it does not know |
//! | `Disks[0].Partitions[].ID` | [`PartitionSpec::id`] |
//! | `Disks[0].Partitions[].Name` | [`PartitionSpec::label`] |
//! | `Disks[0].Partitions[].Start`, `End` (MiB) | [`PartitionSpec::start`], [`PartitionSpec::end`]; `End: 0` → `None` (to the end) |
//! | `Disks[0].Partitions[].Flags` | [`PartitionSpec::role`]: `esp`, `boot` → [`PartitionRole::Esp`]; `grub`, `bios_grub`, `bios-grub` → [`PartitionRole::BiosBoot`]; none → [`PartitionRole::Linux`] |
//! | `Disks[0].Partitions[].FsType` | [`PartitionSpec::fs`]: `fat32`, `fat16`, `vfat` → [`FsType::Vfat`] (the toolkit runs `mkfs -t vfat` for all three); `ext2`, `ext3`, `ext4`; on a BIOS boot partition `None`, as GRUB's core image overwrites it |
//! | `Disks[0].Partitions[].Type`, `TypeUUID` | [`PartitionSpec::type_guid`] (a `Type` name by the toolkit's table) |
//! | `SystemConfigs` | exactly one system configuration |
//! | `SystemConfigs[0].BootType` | [`ImageConfig::boot`]: `efi`, `legacy`; `none`, empty or absent → [`BootType::None`]; the loader is GRUB ([`ImageConfig::boot_loader`]), as the toolkit installs it |
//! | `SystemConfigs[0].PartitionSettings[]` | [`ImageConfig::mounts`]: `ID`, `MountPoint` (empty: not mounted), `MountOptions` (empty → `defaults`), `MountIdentifier` `uuid`/`partuuid`/`partlabel` (default `partuuid`) |
//! | `SystemConfigs[0].Hostname` | [`ImageConfig::hostname`] |
//! | `SystemConfigs[0].KernelCommandLine.ExtraCommandLine` | [`ImageConfig::kernel_cmdline`] |
//! | `SystemConfigs[0].KernelCommandLine.ImaPolicy` | [`ImageConfig::kernel_args`]: `ima_policy=` each of `tcb`, `appraise_tcb`, `secure_boot` |
//! | `SystemConfigs[0].KernelCommandLine.CGroup` | [`ImageConfig::kernel_args_late`]: `version_one` → `systemd.unified_cgroup_hierarchy=0`, `version_two` → `=1`; empty: nothing |
//! | `SystemConfigs[0].KernelCommandLine.SELinux` | [`ImageConfig::selinux`]: `enforcing`, `permissive`, `force_enforcing`; empty or absent: none |
//! | `SystemConfigs[0].KernelCommandLine.EnableFIPS` | [`ImageConfig::fips`] |
//! | `SystemConfigs[0].AdditionalFiles` | [`ImageConfig::additional_files`]: source → a destination, `{Path, Permissions}`, or a list of those |
//! | `SystemConfigs[0].Name`, `IsDefault` | read; they name and pick a configuration and change nothing in the image |
//! | `SystemConfigs[0].PackageLists[]` | [`Packages::install`]: each file's `packages`, relative to the configuration's directory |
//! | `SystemConfigs[0].Packages[]` | [`Packages::install`] |
//! | `SystemConfigs[0].KernelOptions.default` | [`Packages::install`]: the kernel package |
//! | `SystemConfigs[0].DisableRpmDocs` | [`Packages::exclude_docs`]; the image keeps it as `%_excludedocs 1` in `/usr/lib/rpm/macros.d/macros.installercustomizations_disable_docs`, as the toolkit writes it |
//! | `SystemConfigs[0].OverrideRpmLocales` | [`Packages::install_langs`] (empty: every language); the image keeps it as `%_install_langs` in `/usr/lib/rpm/macros.d/macros.installercustomizations_customize_locales`, as the toolkit writes it |
//! | `SystemConfigs[0].PostInstallScripts[]`, `FinalizeImageScripts[]` (`Path`, `Args`) | [`ImageConfig::scripts`], [`ScriptStage::PostCustomization`] and [`ScriptStage::Finalize`]: run as the toolkit runs them, `/bin/sh -c "PATH ARGS"` in the tree (the script by its `#!` line), the configuration's directory at `/_imageconfigs` |
//! | `SystemConfigs[0].Groups[]` (`Name`, `GID`) | [`ImageConfig::groups`]: made as `groupadd [-g GID]` makes them; one the tree has is an error, as groupadd fails on it |
//! | `SystemConfigs[0].Users[]` | [`ImageConfig::users`], as the toolkit's `addUsers` makes them: every user but `root` new, as `useradd -m` makes it (`UID` 0–60000, `HomeDirectory`, `PrimaryGroup`; one the tree has is an error); `root` changed, its password always written (`*` when none is given), its `UID`, `HomeDirectory` and `PrimaryGroup` ignored as the toolkit ignores them; `Password` hashed with SHA-512 crypt unless `PasswordHashed`; `PasswordExpiresDays` the expiry (-1: never, 0: unchanged); `SecondaryGroups` as `usermod -a -G` adds them; `SSHPubKeyPaths` (relative to the configuration's directory; each file copied into `~/.ssh` too) and `SSHPubKeys` the lines of `~/.ssh/authorized_keys`, then `~/.ssh` and everything in it the user's, 0700; `StartupCommand` the login shell. Without a `root` entry, root's password is set never to expire, as the toolkit sets it (here only in a configuration that has `Users` or `Groups`) |
//! | `SystemConfigs[0].RemoveRpmDb` | [`Packages::remove_rpmdb`]: no rpm database, and the package lists the toolkit writes in its place (`/var/lib/rpmmanifest/container-manifest-1` and `-2`) |
//!
//! Refused whenever present: `TargetDisk`, `RawBinaries`, a partition's
//! `Artifacts`, `PackageRepos` (repositories come from the command line),
//! `PreInstallScripts` (the ISO installer's),
//! `Networks`, `Encryption`, `EnableGrubMkconfig`, `ReadOnlyVerityRoot`, the
//! `dmroot` flag, `FsType` `xfs` and `linux-swap`, a `Compression` beside
//! a `Type` (a compressed disk). Refused unless they ask for nothing (`false`, empty):
//! `IsKickStartBoot`, `IsIsoInstall`, `EnableSystemdFirstboot`,
//! `EnableHidepid`, `PreserveTdnfCache`,
//! a partition setting's `RemoveDocs`,
//! `OverlayBaseImage`, `RdiffBaseImage`, and `KernelCommandLine`'s
//! `SELinuxPolicy` (the policy is the tree's).
//!
//! # Image Customizer's YAML
//!
//! | Field | Model |
//! |---|---|
//! | `storage.bootType` | [`ImageConfig::boot`]: `efi`, `legacy` |
//! | `storage.disks` | exactly one disk |
//! | `storage.disks[0].partitionTableType` | must be `gpt` |
//! | `storage.disks[0].maxSize` (`4G`, `512M`…) | [`ImageConfig::disk_size`]; absent: the last partition's end plus 1 MiB, as Image Customizer does |
//! | `storage.disks[0].partitions[].id` | [`PartitionSpec::id`] |
//! | `storage.disks[0].partitions[].label` | [`PartitionSpec::label`] |
//! | `storage.disks[0].partitions[].start`, `end`, `size` | [`PartitionSpec::start`] (default 1 MiB, then the previous end), [`PartitionSpec::end`] (`size: grow` or none on the last → `None`) |
//! | `storage.disks[0].partitions[].type` | [`PartitionSpec::role`]: `esp`, `bios-grub`, `xbootldr`, `root`; `linux-generic` or absent → [`PartitionRole::Linux`]; `home`, `srv`, `tmp`, `var` → Linux with their [`PartitionSpec::type_guid`]; a GUID → Linux with that GUID |
//! | `storage.filesystems[].deviceId`, `type` | [`PartitionSpec::fs`]: `ext4`; `fat32`, `vfat` → [`FsType::Vfat`] (`fat32` is Image Customizer's alias of `vfat`) |
//! | `storage.filesystems[].mountPoint` | [`ImageConfig::mounts`]: a path, or `{path, options, idType}` with `uuid`/`part-uuid`/`part-label` (default `part-uuid`) |
//! | `os.hostname` | [`ImageConfig::hostname`] |
//! | `os.kernelCommandLine.extraCommandLine` | [`ImageConfig::kernel_cmdline`] (a list is joined with spaces) |
//! | `os.additionalFiles[]` | [`ImageConfig::additional_files`]: `source` or `content`, `destination`, `permissions` |
//! | `os.modules[]` | [`ImageConfig::modules`]: `name`, `loadMode` (`always`, `auto`, `disable`, `inherit`: the default), `options` |
//! | `os.bootloader.resetType: hard-reset` | read: this build always writes the boot loader configuration anew; the loader is GRUB ([`ImageConfig::boot_loader`]), as Image Customizer installs it without `os.uki` |
//! | `os.imageHistory: none` | read: this build writes no image history |
//! | `previewFeatures: [create]` | read: it only unlocks Image Customizer's subcommand for new disks; `tools-dir` only one of its command-line options |
//! | `baseConfigs[].path` (with `previewFeatures: [base-configs]`) | the files this one is built on, merged before it is read as Image Customizer merges them: a later file's scalars replace an earlier one's, lists add up, `storage` in one file of the chain only, each file's relative paths from its own directory |
//! | `output.image.format` | [`Artifact::format`]: `vhd` (dynamic), `vhd-fixed`, `vhdx`, `qcow2`, `raw`, `iso` (a live ISO, as Image Customizer's LiveOS ISO: the root as `LiveOS/squashfs.img`, `root=live:CDLABEL=`) |
//! | `container` (imgconv's own: `tag`, `labels`, `env`, `entrypoint`, `cmd`, `workingDir`, `user`) | [`ImageConfig::container`]; Image Customizer itself refuses the key |
//! | `output.image.path` | [`Artifact::name`]: the file's stem (the configuration's stem when absent); the directory is the command line's |
//! | `os.packages.install[]`, `os.packages.installLists[]` | [`Packages::install`] (list files relative to the configuration's directory) |
//! | `os.selinux.mode` | [`ImageConfig::selinux`]: `disabled`, `permissive`, `enforcing`, `force-enforcing`; `default`: none |
//! | `os.services.enable[]`, `os.services.disable[]` | [`ImageConfig::services`]: linked and unlinked as `systemctl enable`/`disable` do it, from each unit's `[Install]` section (every unit enabled, then the others disabled) |
//! | `os.groups[]` (`name`, `gid` 0–60000) | [`ImageConfig::groups`]: made as `groupadd` makes them; one the tree has stays as it is (a `gid` for it is an error) |
//! | `os.users[]` | [`ImageConfig::users`], as Image Customizer's `addOrUpdateUser` makes or changes them: a new user as `useradd -m` makes it (`uid` 0–60000, `homeDirectory`, `primaryGroup`), an existing one changed (`uid` and `homeDirectory` are errors for it, `primaryGroup` set as `usermod -g` sets it); `password` of `type` `locked`, `plain-text` (hashed with SHA-512 crypt), `hashed`, `plain-text-file` or `hashed-file` (a path relative to its file's directory; a hashed file's last line break is not part of the hash); `passwordExpiresDays` the expiry (-1: never); `secondaryGroups` as `usermod -a -G` adds them; `sshPublicKeyPaths` (relative to its file's directory) and `sshPublicKeys` the lines of `~/.ssh/authorized_keys`, 0600, after an existing user's own; `startupCommand` the login shell. Each file of a `baseConfigs` chain has its groups, then its users, made in turn |
//! | `scripts.postCustomization[]`, `scripts.finalizeCustomization[]` | [`ImageConfig::scripts`]: `path` (relative to its own file's directory) or `content`, run by `interpreter` (default `/bin/sh`) with `arguments` and `environmentVariables`; named in messages by `name` and `path` as Image Customizer's logs name them; each file's directory at `/_imageconfigs`, read-only |
//!
//! Refused: `input`, `iso`, `pxe`, other preview
//! features, `storage.verity`, `storage.resetPartitionsUuidsType`,
//! `storage.reinitializeVerity`, `btrfs`, `xfs`, partition types `usr`,
//! `root-verity`, `usr-verity`, `swap`, `os.packages`' `remove`, `update`
//! and their lists (a disk made from scratch installs only), `os.additionalDirs`,
//! `os.overlays`,
//! `os.uki`, `output.artifacts`, `output.selinuxPolicyPath`,
//! `output.image.cosi`, and the output formats `pxe-dir`, `pxe-tar`,
//! `cosi`, `baremetal-image`. Image Customizer's own rules are kept: a
//! BIOS boot partition starts at 1 MiB and has no file system, an ESP is
//! FAT mounted at `/boot/efi`, a typed partition is mounted where its type
//! says, sizes are whole MiB, 1 MiB is left for each GPT.
//!
//! # Groups and users
//!
//! Both formats' groups and users are made in the tree's account files
//! (`/etc/passwd`, `/etc/group`, `/etc/shadow`, `/etc/gshadow`) as the
//! shadow-utils tools both run leave them, with the tools' settings from
//! the tree's `/etc/login.defs` and `/etc/default/useradd`; a new user's
//! home (the skeleton directory copied in), mailbox and `~/.ssh` are made
//! in the tree beside them, whichever output is written. A plain
//! password's salt comes from the build's time and the user's name, so
//! the same build gives the same hash. The login shell is set as both set
//! it, with sed on `/etc/passwd`: a `StartupCommand` that sed would read
//! as its own (`\`, `&`, `|`), or a user name whose pattern would match
//! another line too, is an error rather than that line changed. A tree
//! with `/etc/subuid` or `/etc/subgid`, where useradd would give a new
//! user subordinate IDs, is refused for new users.
//!
//! # Checks both share
//!
//! Partitions are listed in the order of their start, on 512-byte
//! boundaries, after the protective MBR and primary GPT (34 sectors), not
//! overlapping, and end before the backup GPT (the disk's last 33
//! sectors); at most one runs to the end of the disk and it is the last.
//! IDs are unique; names are at most 35 ASCII characters. Each mount names
//! an existing partition that has a file system, at an absolute,
//! normalized mount point used once; mounting by label needs a label. A
//! bootable configuration mounts a file system at `/`; `efi` needs an EFI
//! system partition and `legacy` a BIOS boot partition. Host names are DNS
//! names; additional files go to absolute paths.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::error;
use crate::error::{Error, Result};
use crate::users::{Group, User};

mod base;
pub mod customizer;
mod node;
pub mod toolkit;

/// Reads a package list file: `{"packages": [...]}` as the toolkit's
/// `PackageLists` hold it, the same in YAML (Image Customizer's
/// `installLists`), or one name per line (`#` starts a comment).
pub fn read_package_list(path: &std::path::Path) -> std::result::Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let structured = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with('{') || l.starts_with("packages:"));
    if !structured {
        return Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect());
    }
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let list = value
        .get("packages")
        .and_then(|p| p.as_sequence())
        .ok_or_else(|| format!("{}: no packages list", path.display()))?;
    list.iter()
        .map(|p| {
            p.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{}: packages: {p:?} is not a name", path.display()))
        })
        .collect()
}

/// The names every package list file of `lists` (paths relative to the
/// configuration's directory) gives, each error at its entry.
pub(crate) fn package_lists(
    source: &std::path::Path,
    lists: &node::Field<'_>,
) -> Result<Vec<String>> {
    let dir = source.parent().unwrap_or(std::path::Path::new("."));
    let mut names = Vec::new();
    for item in lists.seq()? {
        let file = dir.join(item.str()?);
        names.extend(read_package_list(&file).map_err(|why| item.error(why))?);
    }
    Ok(names)
}

/// Bytes in a MiB, the unit of the toolkit's partition bounds.
pub const MIB: u64 = 1 << 20;

/// What an image configuration asks for, whichever format it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageConfig {
    /// The file it was read from (errors name it; relative paths in it are
    /// relative to its directory).
    pub source: PathBuf,
    /// The images to make: a name and a format each (may be empty: the
    /// command line then decides).
    pub artifacts: Vec<Artifact>,
    /// The disk's size in bytes (the toolkit's `MaxSize`, Image Customizer's
    /// `maxSize`).
    pub disk_size: u64,
    /// Partitions in table order, with their byte ranges resolved.
    pub partitions: Vec<PartitionSpec>,
    /// How the disk boots.
    pub boot: BootType,
    /// The boot loader the configuration means for UEFI.
    pub boot_loader: BootLoader,
    /// Where each file system is mounted, and how fstab names it.
    pub mounts: Vec<Mount>,
    /// `/etc/hostname`, when given.
    pub hostname: Option<String>,
    /// Extra kernel command-line arguments (after `root=…`), as written.
    pub kernel_cmdline: String,
    /// Arguments the configuration's features put on the kernel command
    /// line before `root=…`, in the toolkit's order: `ima_policy=` for each
    /// IMA policy.
    pub kernel_args: Vec<String>,
    /// Arguments its features put after `root=…`, before the extra ones:
    /// `systemd.unified_cgroup_hierarchy=` for a cgroup version.
    pub kernel_args_late: Vec<String>,
    /// FIPS mode (the toolkit's `EnableFIPS`): `fips=1` on the kernel
    /// command line, and `boot=UUID=…` where `/boot` is a file system of its
    /// own, so that the boot-time self tests find the kernel's `.hmac` file.
    pub fips: bool,
    /// Files copied into the image.
    pub additional_files: Vec<AdditionalFile>,
    /// Kernel modules to load at boot, leave to the kernel, or disable, and
    /// their options (Image Customizer's `os.modules`).
    pub modules: Vec<KernelModule>,
    /// Packages to install, when the root filesystem is made from packages.
    pub packages: Packages,
    /// systemd units to enable and disable (Image Customizer's
    /// `os.services`).
    pub services: Services,
    /// The SELinux mode to set, and so whether every file is labelled
    /// (`None`: the tree's as it is).
    pub selinux: Option<SelinuxMode>,
    /// Groups to make, before the users (the toolkit's `Groups`, Image
    /// Customizer's `os.groups`).
    pub groups: Vec<Group>,
    /// Users to make or change, in order (the toolkit's `Users`, Image
    /// Customizer's `os.users`).
    pub users: Vec<User>,
    /// Programs run in the tree after every other change, in order.
    pub scripts: Vec<Script>,
    /// What a container image of the tree runs, and its name.
    pub container: ContainerSettings,
}

/// A container image's settings: imgconv's own section of a configuration
/// (`Container` in the toolkit's, `container` in Image Customizer's —
/// Image Customizer itself refuses the key). The command line's
/// `--tag`, `--label`, `--env`, `--entrypoint`, `--cmd`, `--workdir` and
/// `--user` add to or replace these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSettings {
    /// `NAME[:TAG]` (`Tag`, `tag`).
    pub tag: Option<String>,
    /// Labels (`Labels`, `labels`: a map of strings).
    pub labels: Vec<(String, String)>,
    /// Environment, `KEY=VALUE` each (`Env`, `env`).
    pub env: Vec<String>,
    /// The entrypoint (`Entrypoint`, `entrypoint`: a list of words).
    pub entrypoint: Option<Vec<String>>,
    /// The default command (`Cmd`, `cmd`: a list of words).
    pub cmd: Option<Vec<String>>,
    /// The working directory, an absolute path (`WorkingDir`,
    /// `workingDir`).
    pub working_dir: Option<String>,
    /// The user, `USER[:GROUP]` (`User`, `user`).
    pub user: Option<String>,
}

/// The keys of a container section, in its format's spelling: tag, labels,
/// env, entrypoint, cmd, working directory, user.
pub(crate) struct ContainerKeys(pub(crate) [&'static str; 7]);

/// Reads a container section.
pub(crate) fn container_settings(
    field: &node::Field<'_>,
    keys: &ContainerKeys,
) -> Result<ContainerSettings> {
    let [tag, labels, env, entrypoint, cmd, working_dir, user] = keys.0;
    let mut o = field.obj()?;
    let words = |f: Option<node::Field<'_>>| -> Result<Option<Vec<String>>> {
        f.map(|f| {
            f.seq()?
                .iter()
                .map(|w| w.str().map(str::to_owned))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()
    };
    let mut settings = ContainerSettings {
        tag: o.opt_str(tag)?.map(str::to_owned),
        ..Default::default()
    };
    if let Some(f) = o.get(labels) {
        for (key, value) in f.entries()? {
            if key.is_empty() {
                return Err(value.error("a label needs a name"));
            }
            settings
                .labels
                .push((key.to_owned(), value.str()?.to_owned()));
        }
    }
    if let Some(f) = o.get(env) {
        for item in f.seq()? {
            let text = item.str()?;
            if text.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
                return Err(item.error(format!("{text:?}: expected KEY=VALUE")));
            }
            settings.env.push(text.to_owned());
        }
    }
    settings.entrypoint = words(o.get(entrypoint))?;
    settings.cmd = words(o.get(cmd))?;
    if let Some(f) = o.get(working_dir) {
        let dir = f.str()?;
        if !dir.starts_with('/') {
            return Err(f.error(format!(
                "{dir:?}: the working directory is an absolute path"
            )));
        }
        settings.working_dir = Some(dir.to_owned());
    }
    if let Some(f) = o.get(user) {
        let name = f.str()?;
        if name.is_empty() {
            return Err(f.error("the user is a name or id, USER[:GROUP]"));
        }
        settings.user = Some(name.to_owned());
    }
    o.finish()?;
    Ok(settings)
}

/// The packages a configuration installs (the toolkit's `PackageLists`,
/// `Packages` and `KernelOptions`; Image Customizer's `os.packages`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Packages {
    /// Package names or capabilities, in the order given.
    pub install: Vec<String>,
    /// Leave out files marked `%doc` (the toolkit's `DisableRpmDocs`).
    pub exclude_docs: bool,
    /// The languages of `%lang` files to install, as rpm's
    /// `%_install_langs` (the toolkit's `OverrideRpmLocales`: `NONE`, or
    /// `en:fr`); `None` installs every language.
    pub install_langs: Option<String>,
    /// Leave out the rpm database (the toolkit's `RemoveRpmDb`, set by its
    /// distroless container configurations).
    pub remove_rpmdb: bool,
}

/// One image to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Its name, the stem of its file name (`core` → `core.vhdx`).
    pub name: String,
    /// Its format as imgconv's `--to` names it: `raw`, `vhd`, `vhd-fixed`,
    /// `vhdx`, `vmdk`, `vmdk-stream`, `vmdk-flat`, `ova`, `qcow2`; or a
    /// tree format: `tar.gz`, `tar.zst`, `iso` (a live ISO).
    pub format: String,
}

/// One partition of the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpec {
    /// The configuration's id for it (mounts refer to it).
    pub id: String,
    /// The GPT partition name (may be empty).
    pub label: String,
    /// First byte on the disk (a multiple of 512; the configs give MiB).
    pub start: u64,
    /// One past the last byte; `None` runs to the end of the usable space
    /// (the toolkit's `End: 0`, Image Customizer's `grow`).
    pub end: Option<u64>,
    /// What the partition is for: decides its GPT type unless `type_guid`
    /// says otherwise.
    pub role: PartitionRole,
    /// A GPT type GUID given explicitly (`TypeUUID`, or a GUID as the type).
    pub type_guid: Option<Uuid>,
    /// The file system made on it; `None` leaves it empty (a BIOS boot
    /// partition).
    pub fs: Option<FsType>,
}

/// What a partition is for, from the toolkit's `Flags` or Image
/// Customizer's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionRole {
    /// EFI system partition (`esp` flag; type `esp`).
    Esp,
    /// BIOS boot partition for GRUB's core image (`grub`/`bios_grub` flag;
    /// type `bios-grub`).
    BiosBoot,
    /// Extended boot loader partition (type `xbootldr`).
    Xbootldr,
    /// The root file system (type `root`); the toolkit has no flag for it:
    /// its partitions without flags are `Linux`.
    Root,
    /// Any other Linux data partition (`linux-generic`, `home`, …).
    Linux,
}

/// File systems the build makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsType {
    /// FAT with 12, 16 or 32-bit entries chosen by size, as mkfs.vfat does
    /// (`vfat`).
    Vfat,
    /// FAT16 asked for by name (`fat16`).
    Fat16,
    /// FAT32 asked for by name (`fat32`).
    Fat32,
    /// ext2.
    Ext2,
    /// ext3.
    Ext3,
    /// ext4.
    Ext4,
}

/// How the disk boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootType {
    /// UEFI, from the EFI system partition.
    Efi,
    /// BIOS, GRUB's boot sector in the protective MBR and its core image
    /// in the BIOS boot partition.
    Legacy,
    /// Not bootable (`BootType` absent or `none`).
    None,
}

/// The boot loader a disk gets for UEFI, where the tree's ESP holds none
/// of its own. BIOS always boots GRUB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootLoader {
    /// The tree's GRUB (`usr/lib/grub/x86_64-efi`): what Azure Linux's
    /// toolkit and Image Customizer install unless a configuration asks
    /// for a unified kernel image. The ESP holds only GRUB; the kernel
    /// stays in `/boot`.
    #[default]
    Grub,
    /// The tree's systemd-boot, with a Boot Loader Specification entry for
    /// the newest kernel, which is copied onto the ESP.
    SystemdBoot,
}

impl BootLoader {
    /// Its name as the command line and reports spell it.
    pub fn name(self) -> &'static str {
        match self {
            BootLoader::Grub => "grub",
            BootLoader::SystemdBoot => "systemd-boot",
        }
    }
}

impl std::str::FromStr for BootLoader {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "grub" => Ok(BootLoader::Grub),
            "systemd-boot" => Ok(BootLoader::SystemdBoot),
            other => Err(format!(
                "unknown boot loader {other:?}; expected grub or systemd-boot"
            )),
        }
    }
}

/// An SELinux mode, as both tools set it: in `/etc/selinux/config`
/// (`SELINUX=`) and on the kernel command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelinuxMode {
    /// Off: `selinux=0`, `SELINUX=disabled`; nothing labelled.
    Disabled,
    /// On, denials logged only.
    Permissive,
    /// On and enforced.
    Enforcing,
    /// Enforced, also by `enforcing=1` on the command line.
    ForceEnforcing,
}

impl SelinuxMode {
    /// `SELINUX=` in `/etc/selinux/config`.
    pub fn config_value(self) -> &'static str {
        match self {
            SelinuxMode::Disabled => "disabled",
            SelinuxMode::Permissive => "permissive",
            SelinuxMode::Enforcing | SelinuxMode::ForceEnforcing => "enforcing",
        }
    }

    /// The kernel command-line arguments (the toolkit's and Image
    /// Customizer's).
    pub fn kernel_args(self) -> &'static [&'static str] {
        match self {
            SelinuxMode::Disabled => &["selinux=0"],
            SelinuxMode::Permissive | SelinuxMode::Enforcing => &["security=selinux", "selinux=1"],
            SelinuxMode::ForceEnforcing => &["security=selinux", "selinux=1", "enforcing=1"],
        }
    }

    /// Whether files are labelled.
    pub fn labels(self) -> bool {
        self != SelinuxMode::Disabled
    }
}

/// systemd units to enable, then to disable, each as `systemctl` does it
/// (a name without a unit suffix is a `.service`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Services {
    /// Units `systemctl enable` links, in order.
    pub enable: Vec<String>,
    /// Units `systemctl disable` unlinks, in order.
    pub disable: Vec<String>,
}

impl Services {
    /// Whether it asks for nothing.
    pub fn is_empty(&self) -> bool {
        self.enable.is_empty() && self.disable.is_empty()
    }
}

/// When a configuration's script runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptStage {
    /// After the packages, files, users and the other changes (the
    /// toolkit's `PostInstallScripts`, Image Customizer's
    /// `scripts.postCustomization`).
    PostCustomization,
    /// Last (`FinalizeImageScripts`, `scripts.finalizeCustomization`);
    /// the SELinux labels are set as the finished tree is read, so what
    /// these scripts make is labelled too.
    Finalize,
}

/// A program a configuration runs in the image's tree, as its root, in the
/// package stage's sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// When it runs.
    pub stage: ScriptStage,
    /// Where the configuration gives it (`SystemConfigs[0].PostInstallScripts[1]`).
    pub field: String,
    /// What runs: its name in messages, its program and arguments, its
    /// environment, and the configuration's directory readable at
    /// [`CONFIG_DIR_IN_TREE`].
    pub program: pkgstage::sandbox::Program,
}

/// Where a script finds its configuration's directory (read-only), as
/// Image Customizer mounts it.
pub const CONFIG_DIR_IN_TREE: &str = "/_imageconfigs";

/// Where a script file outside its configuration's directory is read
/// from.
const SCRIPT_IN_TREE: &str = "/dev/.imgconv-script";

/// The directory of the configuration file `source`.
pub(crate) fn config_dir(source: &Path) -> &Path {
    match source.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The script file `written` (relative to `dir`, its configuration's
/// directory, or absolute) that `field` names: where it is in the sandbox,
/// and what to make readable there (the configuration's directory, and
/// the file itself when it lies outside it).
pub(crate) fn script_file(
    dir: &Path,
    field: &node::Field<'_>,
    written: &str,
) -> Result<(String, Vec<(PathBuf, String)>)> {
    if written.is_empty() {
        return Err(field.error("the script's path is empty"));
    }
    let file = dir.join(written);
    let meta = fs::metadata(&file).map_err(|e| field.error(format!("{}: {e}", file.display())))?;
    if !meta.is_file() {
        return Err(field.error(format!("{} is not a file", file.display())));
    }
    let dir_real = dir
        .canonicalize()
        .map_err(|e| field.error(format!("{}: {e}", dir.display())))?;
    let file_real = file
        .canonicalize()
        .map_err(|e| field.error(format!("{}: {e}", file.display())))?;
    let mut binds = vec![(dir_real.clone(), CONFIG_DIR_IN_TREE.to_string())];
    let at = match file_real.strip_prefix(&dir_real) {
        Ok(rel) => format!("{CONFIG_DIR_IN_TREE}/{}", rel.display()),
        Err(_) => {
            binds.push((file_real, SCRIPT_IN_TREE.to_string()));
            SCRIPT_IN_TREE.to_string()
        }
    };
    Ok((at, binds))
}

/// A kernel module's settings, as Image Customizer's `os.modules` writes
/// them into `/etc/modules-load.d/modules-load.conf`,
/// `/etc/modprobe.d/modules-disabled.conf` and
/// `/etc/modprobe.d/module-options.conf`, merged with what the tree has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelModule {
    /// The module's name.
    pub name: String,
    /// When it is loaded.
    pub load: ModuleLoad,
    /// Its options (`name=value`), in the order given.
    pub options: Vec<(String, String)>,
}

/// When a kernel module is loaded (Image Customizer's `loadMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleLoad {
    /// At boot (listed in modules-load.d), and not disabled.
    Always,
    /// When the kernel asks for it: not disabled.
    Auto,
    /// Never: disabled (`blacklist`); options are refused.
    Disable,
    /// As the tree has it; options are refused where the tree disables it.
    Inherit,
}

/// A file system's place in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The partition's id.
    pub partition: String,
    /// Absolute mount point (`/`, `/boot/efi`, …).
    pub mount_point: String,
    /// fstab options (`defaults` when not given).
    pub options: String,
    /// How fstab and the kernel command line name the file system.
    pub identifier: MountIdentifier,
}

/// How a file system is named in fstab and on the kernel command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MountIdentifier {
    /// `UUID=` of the file system.
    Uuid,
    /// `PARTUUID=` of the GPT partition (Azure Linux's default).
    #[default]
    PartUuid,
    /// `PARTLABEL=` of the GPT partition.
    PartLabel,
}

/// A file copied into the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdditionalFile {
    /// Where its bytes come from.
    pub source: FileSource,
    /// Absolute path in the image.
    pub destination: String,
    /// Permission bits (`0o644` when not given).
    pub mode: Option<u32>,
}

/// Where an additional file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileSource {
    /// A host file, resolved against the configuration's directory.
    Path(PathBuf),
    /// Bytes written in the configuration itself (Image Customizer's
    /// `content`).
    Content(String),
}

impl ImageConfig {
    /// A configuration read from `source` that asks for nothing yet: no
    /// disk, no boot, no files or packages; each reader fills in what its
    /// file says.
    pub(crate) fn empty(source: &Path) -> ImageConfig {
        ImageConfig {
            source: source.to_path_buf(),
            artifacts: Vec::new(),
            disk_size: 0,
            partitions: Vec::new(),
            boot: BootType::None,
            boot_loader: BootLoader::Grub,
            mounts: Vec::new(),
            hostname: None,
            kernel_cmdline: String::new(),
            kernel_args: Vec::new(),
            kernel_args_late: Vec::new(),
            fips: false,
            additional_files: Vec::new(),
            modules: Vec::new(),
            packages: Default::default(),
            services: Services::default(),
            selinux: None,
            groups: Vec::new(),
            users: Vec::new(),
            scripts: Vec::new(),
            container: Default::default(),
        }
    }

    /// The kernel arguments the configuration's features put before the
    /// root's, in the toolkit's grub.cfg order: the IMA policies, SELinux,
    /// `fips=1` (a disk adds `boot=` after it).
    pub fn early_kernel_args(&self) -> Vec<String> {
        let mut args = self.kernel_args.clone();
        if let Some(mode) = self.selinux {
            args.extend(mode.kernel_args().iter().map(|a| a.to_string()));
        }
        if self.fips {
            args.push("fips=1".into());
        }
        args
    }

    /// Reads an image configuration, choosing the format by the file's
    /// extension: `.json` is the toolkit's ([`toolkit::load`]), `.yaml` and
    /// `.yml` are Image Customizer's ([`customizer::load`]).
    pub fn load(path: impl AsRef<Path>) -> Result<ImageConfig> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("json") => toolkit::load(path),
            Some("yaml" | "yml") => customizer::load(path),
            _ => Err(error::config(
                path,
                "(file name)",
                "cannot tell the format: expected a .json file (the toolkit's image \
                 configuration) or a .yaml/.yml file (Image Customizer's)",
            )),
        }
    }
}

/// Configurations larger than this are refused before they are read: the
/// largest Azure Linux ships are a few KiB.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The text of a configuration file.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).map_err(|e| Error::file(path, e))?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(error::config(
            path,
            "(document)",
            format!(
                "{} bytes is too large for an image configuration (at most {MAX_CONFIG_BYTES})",
                meta.len()
            ),
        ));
    }
    fs::read_to_string(path).map_err(|e| Error::file(path, e))
}

/// How a configuration file is written: the toolkit's JSON or Image
/// Customizer's YAML.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Syntax {
    Json,
    Yaml,
}

/// A format's reader of a configuration's document: given the file it came
/// from (errors name it, and relative paths in it are relative to its
/// directory) and the document.
pub(crate) type FromDocument = fn(&Path, node::Node) -> Result<ImageConfig>;

/// Reads the configuration file at `path` (refused over
/// [`MAX_CONFIG_BYTES`]) and hands it to [`parse_config`].
pub(crate) fn load_config(path: &Path, syntax: Syntax, read: FromDocument) -> Result<ImageConfig> {
    let text = read_text(path)?;
    parse_config(&text, path, syntax, read)
}

/// Parses the text of the configuration file `source` as `syntax` and
/// hands the document to `read`. A syntax error names `source`, the
/// parser's line and column as its field.
pub(crate) fn parse_config(
    text: &str,
    source: &Path,
    syntax: Syntax,
    read: FromDocument,
) -> Result<ImageConfig> {
    let doc = match syntax {
        Syntax::Json => serde_json::from_str(text).map_err(|e| {
            syntax_error(source, "JSON", &e.to_string(), Some((e.line(), e.column())))
        }),
        Syntax::Yaml => serde_yaml_ng::from_str(text).map_err(|e| {
            let at = e.location().map(|at| (at.line(), at.column()));
            syntax_error(source, "YAML", &e.to_string(), at)
        }),
    }?;
    read(source, doc)
}

/// The error for a document of `source` that is not valid `syntax`: the
/// parser's message `text`, and the line and column it gives, if any.
fn syntax_error(source: &Path, syntax: &str, text: &str, at: Option<(usize, usize)>) -> Error {
    // The parser appends the place; it becomes the field.
    let message = text.rsplit_once(" at line ").map_or(text, |(m, _)| m);
    let field = match at {
        Some((line, column)) => format!("line {line}, column {column}"),
        None => "(document)".to_owned(),
    };
    error::config(source, field, format!("not valid {syntax}: {message}"))
}

/// A path written in the configuration, relative to the configuration's
/// directory unless absolute.
pub(crate) fn resolve(source: &Path, written: &str) -> PathBuf {
    let written = Path::new(written);
    if written.is_absolute() {
        return written.to_path_buf();
    }
    match source.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(written),
        _ => written.to_path_buf(),
    }
}

/// A key file a user's field names (`SSHPubKeyPaths`, `sshPublicKeyPaths`;
/// `written` relative to the configuration's directory): its lines as both
/// tools read them (Go's `bufio.Scanner`: split at line feeds, a carriage
/// return before one dropped, no empty line after the last), and its
/// bytes.
pub(crate) fn key_file(
    source: &Path,
    field: &node::Field<'_>,
    written: &str,
) -> Result<(Vec<String>, Vec<u8>)> {
    if written.is_empty() {
        return Err(field.error("the key file's path is empty"));
    }
    let path = resolve(source, written);
    let bytes = fs::read(&path).map_err(|e| field.error(format!("{}: {e}", path.display())))?;
    let text = String::from_utf8(bytes.clone()).map_err(|_| {
        field.error(format!(
            "{} is not UTF-8 text, as a public key file is",
            path.display()
        ))
    })?;
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned())
        .collect();
    if text.is_empty() || text.ends_with('\n') {
        lines.pop();
    }
    Ok((lines, bytes))
}

/// A group list as `usermod -a -G` takes it, joined with commas: each
/// item's names.
pub(crate) fn group_names(list: &node::Field<'_>) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for item in list.seq()? {
        names.extend(item.str()?.split(',').map(str::to_owned));
    }
    Ok(names)
}

/// Permission bits written as an octal string (`"644"`, `"0755"`), as both
/// tools read them: only the 0o777 bits may be set.
pub(crate) fn parse_mode(text: &str) -> std::result::Result<u32, String> {
    if text.is_empty() || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(format!(
            "{text:?} is not an octal number such as \"644\" or \"0755\""
        ));
    }
    match u32::from_str_radix(text, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!(
            "{text:?} sets bits beyond the permission bits (0o777)"
        )),
    }
}

/// Sectors of 512 bytes: the unit of partition bounds on the disk.
const SECTOR: u64 = 512;
/// The protective MBR, the GPT header and 128 entries of 128 bytes
/// (UEFI 2.10 §5.3): no partition may start before this.
const GPT_PRIMARY_BYTES: u64 = 34 * SECTOR;
/// The backup entries and header at the end of the disk (UEFI 2.10 §5.3.2).
const GPT_BACKUP_BYTES: u64 = 33 * SECTOR;
/// Entries in the partition array both tools write.
const GPT_ENTRIES: usize = 128;
/// A GPT partition name holds 36 UTF-16 units with the terminating NUL;
/// both tools allow 35 ASCII characters.
const MAX_LABEL_CHARS: usize = 35;

/// Where the parts of an [`ImageConfig`] were written, as key paths in its
/// file, so that the checks both readers share name the field as the file
/// spells it.
#[derive(Debug, Default)]
pub(crate) struct Origins {
    /// The disk's size (`Disks[0].MaxSize`).
    pub(crate) disk_size: String,
    /// The list of partitions.
    pub(crate) partitions: String,
    /// One per partition, in the same order.
    pub(crate) partition: Vec<PartitionOrigin>,
    /// The boot type.
    pub(crate) boot: String,
    /// The list the mounts come from.
    pub(crate) mounts: String,
    /// One per mount, in the same order.
    pub(crate) mount: Vec<MountOrigin>,
    /// The host name.
    pub(crate) hostname: String,
    /// The kernel command line.
    pub(crate) kernel_cmdline: String,
    /// The destination of each additional file, in the same order.
    pub(crate) additional_files: Vec<String>,
    /// How the format asks for an EFI system partition (for messages).
    pub(crate) esp_hint: &'static str,
    /// How the format asks for a BIOS boot partition (for messages).
    pub(crate) bios_boot_hint: &'static str,
}

/// Where one partition's fields were written.
#[derive(Debug, Default)]
pub(crate) struct PartitionOrigin {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) start: String,
    pub(crate) end: String,
}

/// Where one mount's fields were written.
#[derive(Debug, Default)]
pub(crate) struct MountOrigin {
    pub(crate) partition: String,
    pub(crate) mount_point: String,
    pub(crate) options: String,
    pub(crate) identifier: String,
}

impl ImageConfig {
    /// The checks both formats share: a layout that fits a GPT disk, mounts
    /// that make an fstab, what each boot type needs.
    /// Whether the configuration describes a disk (else only the tree's
    /// own artifacts can be made: tar archives, container images).
    pub fn has_disk(&self) -> bool {
        !self.partitions.is_empty() || self.disk_size != 0
    }

    pub(crate) fn validate(&self, o: &Origins) -> Result<()> {
        self.validate_layout(o)?;
        self.validate_mounts(o)?;
        self.validate_system(o)
    }

    fn validate_layout(&self, o: &Origins) -> Result<()> {
        let err = |field: &str, message: String| error::config(&self.source, field, message);
        if !self.has_disk() {
            // A root file system with no disk: only tree artifacts.
            return Ok(());
        }
        let size = self.disk_size;
        if size % SECTOR != 0 {
            return Err(err(
                &o.disk_size,
                format!("{size} bytes is not a whole number of 512-byte sectors"),
            ));
        }
        if size < GPT_PRIMARY_BYTES + GPT_BACKUP_BYTES + SECTOR {
            return Err(err(
                &o.disk_size,
                format!("{size} bytes is too small for a GPT disk"),
            ));
        }
        if self.partitions.is_empty() {
            return Err(err(&o.partitions, "the disk needs partitions".into()));
        }
        if self.partitions.len() > GPT_ENTRIES {
            return Err(err(
                &o.partitions,
                format!(
                    "{} partitions, but a GPT holds at most {GPT_ENTRIES}",
                    self.partitions.len()
                ),
            ));
        }
        let usable_end = size - GPT_BACKUP_BYTES;
        let last = self.partitions.len() - 1;
        let mut ids = HashSet::new();
        for (i, (p, at)) in self.partitions.iter().zip(&o.partition).enumerate() {
            if p.id.is_empty() {
                return Err(err(&at.id, "a partition needs an ID".into()));
            }
            if !ids.insert(p.id.as_str()) {
                return Err(err(
                    &at.id,
                    format!("partition ID {:?} is used twice", p.id),
                ));
            }
            if !p.label.is_ascii() || p.label.chars().any(|c| c.is_ascii_control()) {
                return Err(err(
                    &at.label,
                    format!("{:?}: a partition name must be printable ASCII", p.label),
                ));
            }
            if p.label.len() > MAX_LABEL_CHARS {
                return Err(err(
                    &at.label,
                    format!(
                        "{:?} is {} characters; a GPT partition name holds at most {MAX_LABEL_CHARS}",
                        p.label,
                        p.label.len()
                    ),
                ));
            }
            if p.start % SECTOR != 0 {
                return Err(err(
                    &at.start,
                    format!("start {} is not a multiple of 512 bytes", p.start),
                ));
            }
            if p.start < GPT_PRIMARY_BYTES {
                return Err(err(
                    &at.start,
                    format!(
                        "partition {:?} starts at byte {}, inside the protective MBR and primary \
                         GPT (the first {GPT_PRIMARY_BYTES} bytes)",
                        p.id, p.start
                    ),
                ));
            }
            match p.end {
                Some(end) => {
                    if end % SECTOR != 0 {
                        return Err(err(
                            &at.end,
                            format!("end {end} is not a multiple of 512 bytes"),
                        ));
                    }
                    if end <= p.start {
                        return Err(err(
                            &at.end,
                            format!(
                                "partition {:?} ends (byte {end}) at or before its start (byte {})",
                                p.id, p.start
                            ),
                        ));
                    }
                    if end > usable_end {
                        return Err(err(
                            &at.end,
                            format!(
                                "partition {:?} ends at byte {end}, past the disk's usable end \
                                 (byte {usable_end}: {size} bytes less the backup GPT's 33 sectors)",
                                p.id
                            ),
                        ));
                    }
                }
                None => {
                    if i != last {
                        return Err(err(
                            &at.end,
                            format!(
                                "partition {:?} runs to the end of the disk, so it must be the \
                                 last partition",
                                p.id
                            ),
                        ));
                    }
                    if p.start >= usable_end {
                        return Err(err(
                            &at.start,
                            format!(
                                "partition {:?} starts at byte {}, at or past the disk's usable \
                                 end (byte {usable_end})",
                                p.id, p.start
                            ),
                        ));
                    }
                }
            }
            if i > 0 {
                let prev = &self.partitions[i - 1];
                if p.start < prev.start {
                    return Err(err(
                        &at.start,
                        format!(
                            "partition {:?} starts before partition {:?}: partitions must be \
                             listed in the order of their start",
                            p.id, prev.id
                        ),
                    ));
                }
                // A previous partition without an end was refused above.
                if let Some(prev_end) = prev.end {
                    if prev_end > p.start {
                        return Err(err(
                            &at.start,
                            format!(
                                "partition {:?} (bytes {}..) overlaps partition {:?} (bytes {}..{prev_end})",
                                p.id, p.start, prev.id, prev.start
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn validate_mounts(&self, o: &Origins) -> Result<()> {
        let err = |field: &str, message: String| error::config(&self.source, field, message);
        let mut points: HashMap<&str, &str> = HashMap::new();
        let mut mounted: HashMap<&str, &str> = HashMap::new();
        for (m, at) in self.mounts.iter().zip(&o.mount) {
            let Some(p) = self.partitions.iter().find(|p| p.id == m.partition) else {
                return Err(err(
                    &at.partition,
                    format!("no partition has the ID {:?}", m.partition),
                ));
            };
            if p.fs.is_none() {
                return Err(err(
                    &at.partition,
                    format!(
                        "partition {:?} has no file system, so it cannot be mounted at {:?}",
                        p.id, m.mount_point
                    ),
                ));
            }
            check_mount_point(&m.mount_point).map_err(|e| err(&at.mount_point, e))?;
            if let Some(other) = points.insert(&m.mount_point, &m.partition) {
                return Err(err(
                    &at.mount_point,
                    format!(
                        "{:?} is the mount point of both partition {other:?} and partition {:?}",
                        m.mount_point, m.partition
                    ),
                ));
            }
            if let Some(other) = mounted.insert(&m.partition, &m.mount_point) {
                return Err(err(
                    &at.partition,
                    format!(
                        "partition {:?} is mounted twice, at {other:?} and at {:?}",
                        m.partition, m.mount_point
                    ),
                ));
            }
            if m.options.is_empty()
                || m.options
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(err(
                    &at.options,
                    format!(
                        "{:?}: mount options must be a non-empty list without spaces \
                         (fstab's fourth field)",
                        m.options
                    ),
                ));
            }
            if m.identifier == MountIdentifier::PartLabel && p.label.is_empty() {
                return Err(err(
                    &at.identifier,
                    format!(
                        "mounting by partition label needs partition {:?} to have a name",
                        p.id
                    ),
                ));
            }
        }
        if self.boot != BootType::None && !points.contains_key("/") {
            return Err(err(
                &o.mounts,
                "a bootable image needs a file system mounted at \"/\"".into(),
            ));
        }
        Ok(())
    }

    fn validate_system(&self, o: &Origins) -> Result<()> {
        let err = |field: &str, message: String| error::config(&self.source, field, message);
        let has = |role| self.partitions.iter().any(|p| p.role == role);
        match self.boot {
            BootType::Efi if !has(PartitionRole::Esp) => {
                return Err(err(
                    &o.boot,
                    format!("efi boot needs an EFI system partition ({})", o.esp_hint),
                ));
            }
            BootType::Legacy if !has(PartitionRole::BiosBoot) => {
                return Err(err(
                    &o.boot,
                    format!(
                        "legacy boot needs a BIOS boot partition for GRUB's core image ({})",
                        o.bios_boot_hint
                    ),
                ));
            }
            _ => {}
        }
        if let Some(name) = &self.hostname {
            check_hostname(name).map_err(|e| err(&o.hostname, e))?;
        }
        if self.kernel_cmdline.chars().any(char::is_control) {
            return Err(err(
                &o.kernel_cmdline,
                "the kernel command line must be one line without control characters".into(),
            ));
        }
        for (f, at) in self.additional_files.iter().zip(&o.additional_files) {
            check_destination(&f.destination).map_err(|e| err(at, e))?;
        }
        Ok(())
    }
}

/// An absolute, normalized path without white space (an fstab field).
fn check_mount_point(path: &str) -> std::result::Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("mount point {path:?} is not an absolute path"));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "mount point {path:?} contains white space, which fstab cannot hold"
        ));
    }
    check_normalized(path).map_err(|e| format!("mount point {e}"))
}

/// An absolute, normalized path in the image.
fn check_destination(path: &str) -> std::result::Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("destination {path:?} is not an absolute path"));
    }
    if path == "/" || path.ends_with('/') {
        return Err(format!(
            "destination {path:?} names a directory, not a file"
        ));
    }
    if path.contains('\0') {
        return Err(format!("destination {path:?} contains a NUL byte"));
    }
    check_normalized(path).map_err(|e| format!("destination {e}"))
}

/// No empty, `.` or `..` components: one path, one spelling.
fn check_normalized(path: &str) -> std::result::Result<(), String> {
    if path == "/" {
        return Ok(());
    }
    let rest = path.strip_prefix('/').unwrap_or(path);
    if rest
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "{path:?} is not normalized (no `//`, `.`, `..` or trailing `/`)"
        ));
    }
    Ok(())
}

/// A host name as both tools accept it: a DNS name of letters, digits and
/// hyphens, labels of 1 to 63 characters, 253 in all, no underscore.
fn check_hostname(name: &str) -> std::result::Result<(), String> {
    let bad = || format!("{name:?} is not a valid host name (letters, digits, hyphens and dots)");
    if name.is_empty() || name.len() > 253 {
        return Err(bad());
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    for label in name.split('.') {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad());
        }
    }
    Ok(())
}
