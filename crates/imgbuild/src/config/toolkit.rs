//! The Azure Linux toolkit's image configuration JSON (`toolkit/imageconfigs/*.json`,
//! described in the toolkit's `docs/formats/imageconfig.md`).
//!
//! One disk and one system configuration are read; every field is either
//! honoured (see the table in [`crate::config`]) or refused with an error
//! naming it. Keys are matched exactly as the toolkit's samples spell them.
//!
//! ```no_run
//! let config = imgbuild::config::toolkit::load("core-efi.json")?;
//! assert_eq!(config.boot, imgbuild::BootType::Efi);
//! # Ok::<(), imgbuild::Error>(())
//! ```

use std::collections::HashSet;
use std::path::Path;

use uuid::Uuid;

use super::node::{Field, Node};
use super::{
    container_settings, load_config, parse_config, parse_mode, resolve, AdditionalFile, Artifact,
    BootType, ContainerKeys, FileSource, FsType, ImageConfig, Mount, MountIdentifier, MountOrigin,
    Origins, PartitionOrigin, PartitionRole, PartitionSpec, Script, ScriptStage, SelinuxMode,
    Syntax, MIB,
};
use crate::error;
use crate::error::{Error, Result};
use crate::users::{Action, Declared, Group, Password, PasswordExpiry, SshLayout, User};

/// Reads the toolkit image configuration at `path`.
pub fn load(path: impl AsRef<Path>) -> Result<ImageConfig> {
    load_config(path.as_ref(), Syntax::Json, from_document)
}

/// Reads a toolkit image configuration from its text. `source` is the file
/// it came from: errors name it, and relative paths in it are relative to
/// its directory.
pub fn parse(text: &str, source: impl AsRef<Path>) -> Result<ImageConfig> {
    parse_config(text, source.as_ref(), Syntax::Json, from_document)
}

/// The configuration the document `root` of `source` gives.
fn from_document(source: &Path, root: Node) -> Result<ImageConfig> {
    Reader { source }.config(Field::root(source, &root))
}

/// Why a package cache kept in the image is refused.
const PACKAGE_CACHE: &str = "not honoured: the package stage downloads nothing and keeps no \
                             package cache (tdnf's) in the image";

/// The toolkit's partition type names (`Type`) and their GUIDs
/// (`toolkit/tools/imagegen/configuration/partitiontype.go`).
const PARTITION_TYPES: &[(&str, &str)] = &[
    ("linux", "0fc63daf-8483-4772-8e79-3d69d8477de4"),
    ("esp", "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"),
    ("xbootldr", "bc13c2ff-59e6-4262-a352-b275fd6f7172"),
    ("linux-root-amd64", "4f68bce3-e8cd-4db1-96e7-fbcaf984b709"),
    ("linux-swap", "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"),
    ("linux-home", "933ac7e1-2eb4-4f13-b844-0e14e2aef915"),
    ("linux-srv", "3b8f8425-20e0-4f3b-907f-1a25a76f98e8"),
    ("linux-var", "4d21b016-b534-45c2-a9fb-5c16e091fd2d"),
    ("linux-tmp", "7ec6f557-3bc5-4aca-b293-16ef5df639d1"),
    ("linux-lvm", "e6d6d379-f507-44c2-a23c-238f2a3df928"),
    ("linux-raid", "a19d880f-05fc-4d3b-a006-743f0f84911e"),
    ("linux-luks", "ca7d7ccb-63ed-4c53-861c-1742536059cc"),
    ("linux-dm-crypt", "7ffec5c9-2d00-49b7-8941-3ea10a5586b7"),
];

/// imgconv's container section, in the toolkit's spelling.
const CONTAINER_KEYS: ContainerKeys = ContainerKeys([
    "Tag",
    "Labels",
    "Env",
    "Entrypoint",
    "Cmd",
    "WorkingDir",
    "User",
]);

struct Reader<'a> {
    source: &'a Path,
}

impl Reader<'_> {
    fn config(&self, doc: Field<'_>) -> Result<ImageConfig> {
        let mut top = doc.obj()?;
        let systems = top.require("SystemConfigs")?;
        // Without Disks, the systems are the toolkit ISO installer's menu,
        // installed onto a disk the installer finds.
        let disks = top.get("Disks").ok_or_else(|| {
            doc.error(
                "no Disks: the systems listed are a menu for the toolkit's ISO installer, which \
                 is not supported; this build makes a disk image from a configuration with one \
                 disk and one system",
            )
        })?;
        // The toolkit's marker for a container build; a configuration
        // without partitions makes only the tree's artifacts either way.
        if let Some(v) = top.get("IsContainerImage") {
            v.bool()?;
        }
        let container = top
            .get("Container")
            .map(|c| container_settings(&c, &CONTAINER_KEYS))
            .transpose()?
            .unwrap_or_default();
        top.finish()?;

        let disk = only_one(&disks, "disk")?;
        let system = only_one(&systems, "system configuration")?;

        let mut origins = Origins {
            esp_hint: "a partition whose Flags include esp",
            bios_boot_hint: "a partition whose Flags include grub or bios_grub",
            ..Origins::default()
        };
        let (disk_size, artifacts, partitions) = self.disk(&disk, &mut origins)?;
        let mut config = ImageConfig {
            artifacts,
            disk_size,
            partitions,
            container,
            ..ImageConfig::empty(self.source)
        };
        self.system(&system, &mut config, &mut origins)?;
        config.validate(&origins)?;
        Ok(config)
    }

    fn disk(
        &self,
        disk: &Field<'_>,
        origins: &mut Origins,
    ) -> Result<(u64, Vec<Artifact>, Vec<PartitionSpec>)> {
        let mut d = disk.obj()?;
        let table = d.get("PartitionTableType");
        let max_size = d.get("MaxSize");
        d.refuse(
            "TargetDisk",
            "installing to a target disk is not supported: this build makes a disk image",
        )?;
        d.refuse(
            "RawBinaries",
            "raw binaries written over the disk are not supported",
        )?;
        let artifacts = d.get("Artifacts");
        let partitions = d.get("Partitions");
        d.finish()?;

        let artifacts = match artifacts {
            None => Vec::new(),
            Some(list) => list
                .seq()?
                .iter()
                .map(artifact)
                .collect::<Result<Vec<_>>>()?,
        };

        let Some(partitions) = partitions else {
            // The toolkit's root file system image (its container
            // configurations): no disk, artifacts made from the tree.
            for (field, key) in [(&table, "PartitionTableType"), (&max_size, "MaxSize")] {
                if let Some(f) = field {
                    if !f.is_empty() {
                        return Err(f.error(format!(
                            "{key} describes a disk, but the disk has no Partitions"
                        )));
                    }
                }
            }
            if let Some(a) = artifacts
                .iter()
                .find(|a| crate::tree::tree_format(&a.format).is_none())
            {
                return Err(d_error(
                    disk,
                    "Partitions",
                    &format!(
                        "artifact {:?} is a disk image ({}), but the disk has no partitions",
                        a.name, a.format
                    ),
                ));
            }
            return Ok((0, artifacts, Vec::new()));
        };
        let table = table.ok_or_else(|| {
            d_error(
                disk,
                "PartitionTableType",
                "a disk with partitions needs a PartitionTableType",
            )
        })?;
        let max_size = max_size
            .ok_or_else(|| d_error(disk, "MaxSize", "a disk with partitions needs a MaxSize"))?;
        match table.str()? {
            "gpt" => {}
            "mbr" => return Err(table.error("MBR disks are not supported; use \"gpt\"")),
            other => {
                return Err(table.error(format!(
                "unknown partition table type {other:?}; the toolkit knows \"gpt\" and \"mbr\", \
                     and this build makes \"gpt\""
            )))
            }
        }
        let mib = max_size.u64()?;
        if mib == 0 {
            return Err(max_size.error("the disk's size must be more than 0 MiB"));
        }
        let disk_size = mib_to_bytes(&max_size, mib)?;
        origins.disk_size = max_size.path.clone();

        origins.partitions = partitions.path.clone();
        let mut specs = Vec::new();
        for p in partitions.seq()? {
            let (spec, at) = partition(&p)?;
            specs.push(spec);
            origins.partition.push(at);
        }
        Ok((disk_size, artifacts, specs))
    }

    fn system(
        &self,
        system: &Field<'_>,
        config: &mut ImageConfig,
        origins: &mut Origins,
    ) -> Result<()> {
        let mut s = system.obj()?;
        // A label for the configuration, and which one is used when there
        // are several: neither changes the image.
        s.opt_str("Name")?;
        if let Some(v) = s.get("IsDefault") {
            v.bool()?;
        }
        let boot = s.get("BootType");
        let hostname = s.get("Hostname");
        let cmdline = s.get("KernelCommandLine");
        let files = s.get("AdditionalFiles");
        let settings = s.get("PartitionSettings");

        // Packages: lists in files beside the configuration, names, and
        // the kernel to install.
        if let Some(lists) = s.get("PackageLists") {
            let names = super::package_lists(self.source, &lists)?;
            config.packages.install.extend(names);
        }
        if let Some(names) = s.get("Packages") {
            for item in names.seq()? {
                config.packages.install.push(item.str()?.to_owned());
            }
        }
        if let Some(kernel) = s.get("KernelOptions") {
            let mut k = kernel.obj()?;
            if let Some(name) = k.get("default") {
                config.packages.install.push(name.str()?.to_owned());
            }
            k.finish()?;
        }
        if let Some(docs) = s.get("DisableRpmDocs") {
            config.packages.exclude_docs = docs.bool()?;
        }
        if let Some(v) = s.get("RemoveRpmDb") {
            config.packages.remove_rpmdb = v.bool()?;
        }
        s.refuse_unless_empty("PreserveTdnfCache", PACKAGE_CACHE)?;
        if let Some(v) = s.get("OverrideRpmLocales") {
            let langs = v.str()?;
            if langs.chars().any(char::is_whitespace) {
                return Err(v.error(format!(
                    "{langs:?}: rpm's %_install_langs is one word of languages separated by `:`"
                )));
            }
            if !langs.is_empty() {
                config.packages.install_langs = Some(langs.to_string());
            }
        }
        s.refuse(
            "PreInstallScripts",
            "pre-install scripts are run by the toolkit's ISO installer before it partitions \
             a disk; ISO installers are not supported",
        )?;
        for (key, stage) in [
            ("PostInstallScripts", ScriptStage::PostCustomization),
            ("FinalizeImageScripts", ScriptStage::Finalize),
        ] {
            if let Some(list) = s.get(key) {
                for item in list.seq()? {
                    config.scripts.push(script(self.source, &item, stage)?);
                }
            }
        }
        let groups = s.get("Groups");
        let users = s.get("Users");
        s.refuse(
            "Networks",
            "network configuration is not written by this build",
        )?;
        s.refuse(
            "PackageRepos",
            "repositories are given to the build, not read from its configuration",
        )?;
        s.refuse(
            "Encryption",
            "encrypted root file systems are not supported",
        )?;
        s.refuse(
            "EnableGrubMkconfig",
            "this build writes its own boot loader configuration; grub2-mkconfig is not run",
        )?;
        s.refuse(
            "ReadOnlyVerityRoot",
            "verity root file systems are not supported (the toolkit deprecated this field too)",
        )?;
        s.refuse_unless_empty(
            "IsKickStartBoot",
            "kickstart installations are not supported",
        )?;
        s.refuse_unless_empty("IsIsoInstall", "ISO installers are not supported")?;
        s.refuse_unless_empty(
            "EnableSystemdFirstboot",
            "setting up systemd-firstboot is not supported",
        )?;
        s.refuse_unless_empty("EnableHidepid", "hidepid for /proc is not supported")?;
        s.finish()?;

        origins.boot = format!("{}.BootType", system.path);
        if let Some(b) = &boot {
            config.boot = match b.str()? {
                "efi" => BootType::Efi,
                "legacy" => BootType::Legacy,
                "" | "none" => BootType::None,
                other => {
                    return Err(b.error(format!(
                        "unknown boot type {other:?}; expected \"efi\", \"legacy\" or \"none\""
                    )))
                }
            };
        }
        origins.hostname = format!("{}.Hostname", system.path);
        if let Some(h) = &hostname {
            let h = h.str()?;
            if !h.is_empty() {
                config.hostname = Some(h.to_owned());
            }
        }
        origins.kernel_cmdline = format!("{}.KernelCommandLine.ExtraCommandLine", system.path);
        if let Some(c) = &cmdline {
            kernel_command_line(c, config)?;
        }
        if let Some(f) = &files {
            for (file, at) in additional_files(self.source, f)? {
                config.additional_files.push(file);
                origins.additional_files.push(at);
            }
        }
        let mut given = false;
        if let Some(list) = &groups {
            for item in list.seq()? {
                config.groups.push(group(&item)?);
                given = true;
            }
        }
        if let Some(list) = &users {
            for item in list.seq()? {
                config.users.push(user(self.source, &item)?);
                given = true;
            }
        }
        // The toolkit's addUsers: root's password never expires unless
        // the configuration has a root entry.
        if given && !config.users.iter().any(|u| u.name == ROOT) {
            config.users.push(User {
                name: ROOT.into(),
                password_expires: Some(PasswordExpiry::Never),
                action: Action::Change,
                declared: Declared {
                    file: self.source.to_path_buf(),
                    field: format!("{}.Users", system.path),
                    batch: 0,
                },
                ..User::default()
            });
        }
        origins.mounts = format!("{}.PartitionSettings", system.path);
        if let Some(list) = &settings {
            let mut seen = HashSet::new();
            for setting in list.seq()? {
                if let Some((mount, at)) = partition_setting(&setting, config, &mut seen)? {
                    config.mounts.push(mount);
                    origins.mount.push(at);
                }
            }
        }
        Ok(())
    }
}

/// A `PostInstallScripts` or `FinalizeImageScripts` item, run as the
/// toolkit runs it: `/bin/sh -c "PATH ARGS"` in the tree, the script
/// executed itself (by its `#!` line; a file without one is read by the
/// shell).
fn script(source: &Path, item: &Field<'_>, stage: ScriptStage) -> Result<Script> {
    let mut o = item.obj()?;
    let path = o.require("Path")?;
    let args = o.opt_str("Args")?.unwrap_or_default();
    o.finish()?;
    let written = path.str()?;
    let (at, binds) = super::script_file(super::config_dir(source), &path, written)?;
    let command = if args.is_empty() {
        at
    } else {
        format!("{at} {args}")
    };
    Ok(Script {
        stage,
        field: item.path.clone(),
        program: pkgstage::sandbox::Program {
            name: written.to_owned(),
            argv: vec!["/bin/sh".into(), "-c".into(), command],
            binds,
            ..Default::default()
        },
    })
}

/// The user the toolkit changes rather than makes.
const ROOT: &str = "root";

/// A `Groups` item: `groupadd NAME [-g GID]`, which fails for a group the
/// tree has.
fn group(item: &Field<'_>) -> Result<Group> {
    let mut o = item.obj()?;
    let name = o.require("Name")?;
    let gid = o.get("GID");
    o.finish()?;
    let name_text = name.str()?;
    if name_text.is_empty() {
        return Err(name.error("groupadd makes a group only with a name"));
    }
    let gid = match &gid {
        None => None,
        Some(g) => match g.str()? {
            "" => None,
            text => Some(groupadd_id(text).ok_or_else(|| {
                g.error(format!(
                    "{text:?} is not a group ID groupadd takes (a whole number from 0 to {})",
                    u32::MAX - 1
                ))
            })?),
        },
    };
    Ok(Group {
        name: name_text.to_owned(),
        gid,
        action: Action::Make,
        declared: declared(item),
    })
}

/// An ID as groupadd's `get_gid` reads it (C's `strtoll`, base 10: spaces
/// and a sign before the digits), that is not -1.
fn groupadd_id(text: &str) -> Option<u32> {
    let t = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    if negative && n != 0 {
        return None;
    }
    u32::try_from(n).ok().filter(|&n| n != u32::MAX)
}

/// A `Users` item, as the toolkit's `addUsers` runs it: `useradd` for
/// every user but `root` (whose `UID`, `PrimaryGroup` and `HomeDirectory`
/// it ignores), the password written in `/etc/shadow` for `root`, then
/// the expiry (`PasswordExpiresDays`, 0 for none), the secondary groups,
/// the keys (`SSHPubKeyPaths` relative to the configuration's directory,
/// each file copied into `~/.ssh` too) and the login shell.
fn user(source: &Path, item: &Field<'_>) -> Result<User> {
    let mut o = item.obj()?;
    let name = o.require("Name")?;
    let uid = o.get("UID");
    let hashed = o.get("PasswordHashed");
    let password = o.opt_str("Password")?.unwrap_or_default();
    let expires = o.get("PasswordExpiresDays");
    let key_paths = o.get("SSHPubKeyPaths");
    let keys = o.get("SSHPubKeys");
    let primary = o.opt_str("PrimaryGroup")?.unwrap_or_default();
    let secondary = o.get("SecondaryGroups");
    let startup = o.opt_str("StartupCommand")?.unwrap_or_default();
    let home = o.opt_str("HomeDirectory")?.unwrap_or_default();
    o.finish()?;

    let name_text = name.str()?;
    if name_text.trim().is_empty() {
        return Err(name.error("a user's name cannot be empty"));
    }
    let root = name_text == ROOT;
    let uid = match &uid {
        None => None,
        Some(u) => {
            let text = u.str()?;
            if text.trim().is_empty() && !text.is_empty() {
                return Err(u.error("the UID is blank; useradd takes a number"));
            }
            match text {
                "" => None,
                text => Some(toolkit_uid(text).ok_or_else(|| {
                    u.error(format!(
                        "{text:?} is not a UID the toolkit takes (a whole number from 0 to 60000)"
                    ))
                })?),
            }
        }
    };
    let hashed = match &hashed {
        Some(h) => h.bool()?,
        None => false,
    };
    let password = match (password.is_empty(), hashed) {
        // root's password field is written whatever is given: `*` for none.
        (true, _) if root => Some(Password::Locked),
        (true, _) => None,
        (false, true) => Some(Password::Hashed(password.to_owned())),
        (false, false) => Some(Password::Plain(password.to_owned())),
    };
    let password_expires = match &expires {
        None => None,
        Some(e) => match e.i64()? {
            0 => None,
            -1 => Some(PasswordExpiry::Never),
            days @ 1..=99_999 => Some(PasswordExpiry::Days(days as u64)),
            other => {
                return Err(e.error(format!(
                    "{other} is outside -1 to 99999 (-1: never; 0: not set)"
                )))
            }
        },
    };
    let mut lines = Vec::new();
    let mut copies = Vec::new();
    if let Some(list) = &key_paths {
        for path in list.seq()? {
            let written = path.str()?;
            let (file_lines, bytes) = super::key_file(source, &path, written)?;
            let file_name = Path::new(written)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| path.error(format!("{written:?} names no file")))?;
            lines.extend(file_lines);
            copies.push((file_name, bytes));
        }
    }
    if let Some(list) = &keys {
        for key in list.seq()? {
            lines.push(key.str()?.to_owned());
        }
    }
    let given_keys = !copies.is_empty() || !lines.is_empty();
    let secondary_groups = match &secondary {
        Some(list) if !list.is_empty() => super::group_names(list)?,
        _ => Vec::new(),
    };
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok(User {
        name: name_text.to_owned(),
        uid: if root { None } else { uid },
        password,
        password_expires,
        ssh_public_keys: given_keys.then_some(lines),
        ssh_layout: SshLayout::Toolkit { copies },
        primary_group: if root { None } else { text(primary) },
        secondary_groups,
        startup_command: text(startup),
        home_directory: if root { None } else { text(home) },
        action: if root { Action::Change } else { Action::Make },
        declared: declared(item),
    })
}

/// A UID as the toolkit reads it (Go's `strconv.Atoi`: a sign, digits),
/// from 0 to 60000.
fn toolkit_uid(text: &str) -> Option<u32> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    if text.starts_with('-') && n != 0 {
        return None;
    }
    u32::try_from(n).ok().filter(|&n| n <= 60_000)
}

fn declared(item: &Field<'_>) -> Declared {
    Declared {
        file: item.file.to_path_buf(),
        field: item.path.clone(),
        batch: 0,
    }
}

/// The single element of a list the toolkit allows several of.
fn only_one<'a>(list: &Field<'a>, what: &str) -> Result<Field<'a>> {
    let mut items = list.seq()?;
    match items.len() {
        0 => Err(list.error(format!("one {what} is needed; the list is empty"))),
        1 => Ok(items.remove(0)),
        _ => Err(items[1].error(format!("only one {what} is supported; this is the second"))),
    }
}

fn d_error(parent: &Field<'_>, key: &str, message: &str) -> Error {
    error::config(parent.file, format!("{}.{key}", parent.path), message)
}

fn mib_to_bytes(field: &Field<'_>, mib: u64) -> Result<u64> {
    mib.checked_mul(MIB)
        .ok_or_else(|| field.error(format!("{mib} MiB is too large")))
}

fn artifact(item: &Field<'_>) -> Result<Artifact> {
    let mut a = item.obj()?;
    let name = a.require("Name")?;
    let kind = a.get("Type");
    let compression = a.get("Compression");
    a.finish()?;

    let name_text = name.str()?;
    if name_text.is_empty()
        || name_text == "."
        || name_text == ".."
        || name_text.contains(['/', '\\', '\0'])
    {
        return Err(name.error(format!(
            "{name_text:?} is not a file name (the artifact's file is named after it)"
        )));
    }
    let compression = match &compression {
        Some(c) if !c.str()?.is_empty() => Some(c),
        _ => None,
    };
    let kind = kind.filter(|k| !k.is_empty());
    match (&kind, compression) {
        // The tree itself, compressed: the toolkit's container artifact.
        (None, Some(c)) => {
            let format = match c.str()? {
                "tar.gz" => "tar.gz",
                "tar.zst" => "tar.zst",
                other => {
                    return Err(c.error(format!(
                        "compression {other:?} is not supported; the root file system is \
                         written as \"tar.gz\" or \"tar.zst\""
                    )))
                }
            };
            return Ok(Artifact {
                name: name_text.to_owned(),
                format: format.to_owned(),
            });
        }
        (Some(_), Some(c)) => {
            return Err(c.error(format!(
                "compressed disk artifacts ({:?}) are not supported; leave out Compression \
                 (or Type, for the root file system as a tar.gz)",
                c.str()?
            )))
        }
        _ => {}
    }
    let Some(kind) = kind else {
        return Err(error::config(
            item.file,
            format!("{}.Type", item.path),
            "an artifact needs a Type (vhd, vhdx, qcow2, ova, raw or iso), or a Compression \
             (tar.gz) for the root file system as an archive",
        ));
    };
    // The toolkit's roast tool: `vhd` is qemu-img's vpc with
    // subformat=fixed,force_size (a fixed VHD for Azure), `vhdx` its vhdx.
    let format = match kind.str()? {
        "vhd" => "vhd-fixed",
        "vhdx" => "vhdx",
        "qcow2" => "qcow2",
        "raw" => "raw",
        "ova" => "ova",
        // Booted from a CD or a stick: here a live ISO of the tree.
        "iso" => "iso",
        other @ ("ext4" | "diff" | "rdiff" | "initrd" | "squashfs" | "gz" | "xz" | "tar.gz"
        | "tar.xz") => {
            return Err(kind.error(format!(
                "artifact type {other:?} is not supported; this build makes disk images \
                 (vhd, vhdx, qcow2, ova, raw) and live ISOs (iso)"
            )))
        }
        "" => {
            return Err(kind.error("an artifact needs a Type (vhd, vhdx, qcow2, ova, raw or iso)"))
        }
        other => {
            return Err(kind.error(format!(
                "unknown artifact type {other:?}; expected vhd, vhdx, qcow2, ova, raw or iso"
            )))
        }
    };
    Ok(Artifact {
        name: name_text.to_owned(),
        format: format.to_owned(),
    })
}

fn partition(item: &Field<'_>) -> Result<(PartitionSpec, PartitionOrigin)> {
    let mut p = item.obj()?;
    let at = PartitionOrigin {
        id: p.path_of("ID"),
        label: p.path_of("Name"),
        start: p.path_of("Start"),
        end: p.path_of("End"),
    };
    let id = p.opt_str("ID")?.unwrap_or_default();
    let label = p.opt_str("Name")?.unwrap_or_default();
    let flags = p.get("Flags");
    let start = p.require("Start")?;
    let end = p.get("End");
    let fs = p.get("FsType");
    let fs_path = p.path_of("FsType");
    let kind = p.get("Type");
    let type_uuid = p.get("TypeUUID");
    p.refuse(
        "Artifacts",
        "artifacts made from one partition are not supported",
    )?;
    p.finish()?;

    let role = match &flags {
        None => PartitionRole::Linux,
        Some(f) => partition_role(f)?,
    };
    let start = mib_to_bytes(&start, start.u64()?)?;
    let end = match &end {
        None => None,
        Some(e) => match e.u64()? {
            0 => None,
            mib => Some(mib_to_bytes(e, mib)?),
        },
    };
    let fs_type = fs_type(fs.as_ref(), role, |m| error::config(item.file, &fs_path, m))?;
    let type_guid = type_guid(kind.as_ref(), type_uuid.as_ref())?;
    Ok((
        PartitionSpec {
            id: id.to_owned(),
            label: label.to_owned(),
            start,
            end,
            role,
            type_guid,
            fs: fs_type,
        },
        at,
    ))
}

fn partition_role(flags: &Field<'_>) -> Result<PartitionRole> {
    let mut role = PartitionRole::Linux;
    for flag in flags.seq()? {
        // On GPT, parted's `boot` flag is its `esp` flag; the toolkit's
        // `grub`, `bios_grub` and `bios-grub` all set parted's `bios_grub`.
        let this = match flag.str()? {
            "esp" | "boot" => PartitionRole::Esp,
            "grub" | "bios_grub" | "bios-grub" => PartitionRole::BiosBoot,
            "dmroot" => {
                return Err(flag.error(
                    "dmroot marks the device-mapper root of an encrypted root, which is not \
                     supported",
                ))
            }
            other => {
                return Err(flag.error(format!(
                    "unknown partition flag {other:?}; expected esp, boot, grub, bios_grub or \
                     dmroot"
                )))
            }
        };
        if role != PartitionRole::Linux && role != this {
            return Err(flag.error(
                "a partition cannot be both an EFI system partition and a BIOS boot partition",
            ));
        }
        role = this;
    }
    Ok(role)
}

/// `err` makes an error at the `FsType` field (which may be absent).
fn fs_type(
    fs: Option<&Field<'_>>,
    role: PartitionRole,
    err: impl Fn(String) -> Error,
) -> Result<Option<FsType>> {
    let text = match fs {
        None => "",
        Some(f) => f.str()?,
    };
    // The toolkit runs `mkfs -t vfat` without `-F` for all three names
    // (diskutils.FormatSinglePartition), so mkfs.vfat picks the FAT size.
    let fs_type =
        match text {
            "fat32" | "fat16" | "vfat" => FsType::Vfat,
            "ext2" => FsType::Ext2,
            "ext3" => FsType::Ext3,
            "ext4" => FsType::Ext4,
            "" if role == PartitionRole::BiosBoot => return Ok(None),
            "" => return Err(err(
                "a partition needs a file system (fat32, fat16, vfat, ext2, ext3 or ext4); only \
                 a BIOS boot partition may have none"
                    .to_owned(),
            )),
            other @ ("xfs" | "linux-swap") => {
                return Err(err(format!(
            "{other:?} is not made by this build; expected fat32, fat16, vfat, ext2, ext3 or ext4"
        )))
            }
            other => {
                return Err(err(format!(
                "unknown file system {other:?}; expected fat32, fat16, vfat, ext2, ext3 or ext4"
            )))
            }
        };
    // GRUB's core image fills a BIOS boot partition, over whatever file
    // system the toolkit's mkfs made there first.
    if role == PartitionRole::BiosBoot {
        return Ok(None);
    }
    Ok(Some(fs_type))
}

fn type_guid(kind: Option<&Field<'_>>, type_uuid: Option<&Field<'_>>) -> Result<Option<Uuid>> {
    let kind_text = kind.map(Field::str).transpose()?.unwrap_or_default();
    let uuid_text = type_uuid.map(Field::str).transpose()?.unwrap_or_default();
    match (kind_text, uuid_text) {
        ("", "") => Ok(None),
        (_, "") => {
            let Some(kind) = kind else { return Ok(None) };
            let guid = PARTITION_TYPES
                .iter()
                .find(|(name, _)| *name == kind_text)
                .map(|(_, guid)| *guid)
                .ok_or_else(|| {
                    let known: Vec<&str> = PARTITION_TYPES.iter().map(|(n, _)| *n).collect();
                    kind.error(format!(
                        "unknown partition type {kind_text:?}; expected one of {}, or a TypeUUID",
                        known.join(", ")
                    ))
                })?;
            Uuid::parse_str(guid)
                .map(Some)
                .map_err(|e| kind.error(e.to_string()))
        }
        ("", _) => {
            let Some(field) = type_uuid else {
                return Ok(None);
            };
            parse_guid(field, uuid_text).map(Some)
        }
        _ => {
            let Some(field) = type_uuid else {
                return Ok(None);
            };
            Err(field.error("Type and TypeUUID cannot both be given"))
        }
    }
}

/// A GUID in its usual 8-4-4-4-12 spelling.
pub(crate) fn parse_guid(field: &Field<'_>, text: &str) -> Result<Uuid> {
    if text.len() != 36 {
        return Err(field.error(format!(
            "{text:?} is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
        )));
    }
    Uuid::parse_str(text).map_err(|e| field.error(format!("{text:?} is not a GUID: {e}")))
}

fn kernel_command_line(field: &Field<'_>, config: &mut ImageConfig) -> Result<()> {
    let mut k = field.obj()?;
    let extra = k.get("ExtraCommandLine");
    if let Some(mode) = k.get("SELinux") {
        config.selinux = match mode.str()? {
            "" => None,
            "permissive" => Some(SelinuxMode::Permissive),
            "enforcing" => Some(SelinuxMode::Enforcing),
            "force_enforcing" => Some(SelinuxMode::ForceEnforcing),
            other => {
                return Err(mode.error(format!(
                    "unknown SELinux mode {other:?}; expected enforcing, permissive or \
                     force_enforcing (or nothing: off)"
                )))
            }
        };
    }
    k.refuse_unless_empty(
        "SELinuxPolicy",
        "SELinux policies are not installed by this build",
    )?;
    // In the order of the toolkit's grub.cfg template.
    if let Some(list) = k.get("ImaPolicy") {
        for policy in list.seq()? {
            match policy.str()? {
                p @ ("tcb" | "appraise_tcb" | "secure_boot") => {
                    config.kernel_args.push(format!("ima_policy={p}"));
                }
                other => {
                    return Err(policy.error(format!(
                        "unknown IMA policy {other:?}; expected tcb, appraise_tcb or secure_boot"
                    )))
                }
            }
        }
    }
    if let Some(fips) = k.get("EnableFIPS") {
        config.fips = fips.bool()?;
    }
    if let Some(cgroup) = k.get("CGroup") {
        match cgroup.str()? {
            "" => {}
            "version_one" => config
                .kernel_args_late
                .push("systemd.unified_cgroup_hierarchy=0".into()),
            "version_two" => config
                .kernel_args_late
                .push("systemd.unified_cgroup_hierarchy=1".into()),
            other => {
                return Err(cgroup.error(format!(
                    "unknown cgroup version {other:?}; expected version_one or version_two"
                )))
            }
        }
    }
    k.finish()?;
    let Some(extra) = extra else {
        return Ok(());
    };
    let text = extra.str()?;
    // The toolkit reserves it as its sed delimiter.
    if text.contains('`') {
        return Err(extra.error("the ` character is reserved by the toolkit"));
    }
    config.kernel_cmdline = text.to_owned();
    Ok(())
}

/// `AdditionalFiles`: source path → a destination, a `{Path, Permissions}`
/// object, or a list of those.
fn additional_files(source: &Path, field: &Field<'_>) -> Result<Vec<(AdditionalFile, String)>> {
    let mut files = Vec::new();
    for (src, value) in field.entries()? {
        if src.is_empty() {
            return Err(value.error("the source path is empty"));
        }
        let from = FileSource::Path(resolve(source, src));
        let targets = match value.node {
            Node::Seq(_) => {
                let items = value.seq()?;
                if items.is_empty() {
                    return Err(value.error("no destination for this file"));
                }
                items
            }
            _ => vec![value],
        };
        for target in targets {
            let (destination, mode, at) = file_config(&target)?;
            files.push((
                AdditionalFile {
                    source: from.clone(),
                    destination,
                    mode,
                },
                at,
            ));
        }
    }
    Ok(files)
}

fn file_config(target: &Field<'_>) -> Result<(String, Option<u32>, String)> {
    if let Node::Str(path) = target.node {
        return Ok((path.clone(), None, target.path.clone()));
    }
    let mut f = target.obj()?;
    let path = f.require("Path")?;
    let perms = f.get("Permissions");
    f.finish()?;
    let mode = match &perms {
        None => None,
        Some(p) => Some(parse_mode(p.str()?).map_err(|e| p.error(e))?),
    };
    Ok((path.str()?.to_owned(), mode, path.path.clone()))
}

fn partition_setting(
    item: &Field<'_>,
    config: &ImageConfig,
    seen: &mut HashSet<String>,
) -> Result<Option<(Mount, MountOrigin)>> {
    let mut s = item.obj()?;
    let at = MountOrigin {
        partition: s.path_of("ID"),
        mount_point: s.path_of("MountPoint"),
        options: s.path_of("MountOptions"),
        identifier: s.path_of("MountIdentifier"),
    };
    let id = s.require("ID")?;
    let mount_point = s.opt_str("MountPoint")?.unwrap_or_default();
    let options = s.get("MountOptions");
    let identifier = s.get("MountIdentifier");
    s.refuse_unless_empty(
        "RemoveDocs",
        "not honoured: documentation is left out of the whole image (DisableRpmDocs), not of \
         one partition",
    )?;
    s.refuse_unless_empty("OverlayBaseImage", "overlay diff images are not supported")?;
    s.refuse_unless_empty("RdiffBaseImage", "rdiff diff images are not supported")?;
    s.finish()?;

    let id_text = id.str()?;
    if !config.partitions.iter().any(|p| p.id == id_text) {
        return Err(id.error(format!("no partition has the ID {id_text:?}")));
    }
    if !seen.insert(id_text.to_owned()) {
        return Err(id.error(format!(
            "partition {id_text:?} has a second PartitionSettings entry"
        )));
    }
    let options_text = options
        .as_ref()
        .map(Field::str)
        .transpose()?
        .unwrap_or_default();
    let identifier = match &identifier {
        None => MountIdentifier::PartUuid,
        Some(i) => match i.str()? {
            "" | "partuuid" => MountIdentifier::PartUuid,
            "uuid" => MountIdentifier::Uuid,
            "partlabel" => MountIdentifier::PartLabel,
            other => {
                return Err(i.error(format!(
                    "unknown mount identifier {other:?}; expected uuid, partuuid or partlabel"
                )))
            }
        },
    };
    if mount_point.is_empty() {
        // The toolkit's way of leaving a partition unmounted (the BIOS boot
        // partition of core-legacy.json).
        if let Some(o) = options.as_ref().filter(|_| !options_text.is_empty()) {
            return Err(o.error("mount options for a partition without a MountPoint"));
        }
        return Ok(None);
    }
    Ok(Some((
        Mount {
            partition: id_text.to_owned(),
            mount_point: mount_point.to_owned(),
            options: if options_text.is_empty() {
                "defaults".to_owned()
            } else {
                options_text.to_owned()
            },
            identifier,
        },
        at,
    )))
}
