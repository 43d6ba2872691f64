//! Image Customizer's YAML configuration (`docs/imagecustomizer/api/configuration`
//! in Azure Linux's image tools), for a disk made from scratch: `storage`,
//! `os` and `output`.
//!
//! One disk is read; every field is either honoured (see the table in
//! [`crate::config`]) or refused with an error naming its key path.
//!
//! ```no_run
//! let config = imgbuild::config::customizer::load("hyperv-guest.yaml")?;
//! assert_eq!(config.artifacts[0].format, "vhdx");
//! # Ok::<(), imgbuild::Error>(())
//! ```

use std::collections::HashMap;
use std::path::Path;

use uuid::Uuid;

use super::node::{Field, Node};
use super::toolkit::parse_guid;
use super::{
    container_settings, load_config, parse_config, parse_mode, resolve, AdditionalFile, Artifact,
    BootType, ContainerKeys, FileSource, FsType, ImageConfig, KernelModule, ModuleLoad, Mount,
    MountIdentifier, MountOrigin, Origins, PartitionOrigin, PartitionRole, PartitionSpec, Script,
    ScriptStage, SelinuxMode, Syntax, MIB,
};
use crate::error;
use crate::error::Result;
use crate::users::{Action, Declared, Group, Password, PasswordExpiry, SshLayout, User};

/// Reads the Image Customizer configuration at `path`.
pub fn load(path: impl AsRef<Path>) -> Result<ImageConfig> {
    load_config(path.as_ref(), Syntax::Yaml, from_document)
}

/// Reads an Image Customizer configuration from its text. `source` is the
/// file it came from: errors name it, and relative paths in it are relative
/// to its directory.
pub fn parse(text: &str, source: impl AsRef<Path>) -> Result<ImageConfig> {
    parse_config(text, source.as_ref(), Syntax::Yaml, from_document)
}

/// The configuration the document `root` of `source` gives, on the base
/// configurations it names; an error in the merged document is named at
/// the file that holds its field.
fn from_document(source: &Path, root: Node) -> Result<ImageConfig> {
    let chain = super::base::chain(source, root)?;
    if let [(_, only)] = chain.as_slice() {
        return config(source, Field::root(source, only));
    }
    let (merged, origins) = super::base::merge(&chain)?;
    config(source, Field::root(source, &merged))
        .map_err(|e| super::base::attribute(e, &chain, &origins))
}

/// Why the package fields other than installing are refused.
const PACKAGE_STAGE: &str = "not honoured: a disk made from scratch installs packages; it \
                             removes and updates none";

/// Image Customizer's GPT header allowance, and its backup-GPT allowance:
/// 34 and 33 sectors, each rounded up to its 1 MiB alignment (disk.go).
const HEADER_RESERVE: u64 = MIB;
const FOOTER_RESERVE: u64 = MIB;

/// Partition types whose GUID Image Customizer sets by name, with no role
/// of their own here (`partitiontype.go`).
const LINUX_TYPES: &[(&str, &str)] = &[
    ("home", "933ac7e1-2eb4-4f13-b844-0e14e2aef915"),
    ("srv", "3b8f8425-20e0-4f3b-907f-1a25a76f98e8"),
    ("tmp", "7ec6f557-3bc5-4aca-b293-16ef5df639d1"),
    ("var", "4d21b016-b534-45c2-a9fb-5c16e091fd2d"),
];

/// Where Image Customizer requires each partition type to be mounted
/// (`PartitionTypeSupportedMountPaths`).
const TYPE_MOUNT_PATHS: &[(&str, &str)] = &[
    ("esp", "/boot/efi"),
    ("home", "/home"),
    ("root", "/"),
    ("srv", "/srv"),
    ("tmp", "/var/tmp"),
    ("var", "/var"),
    ("xbootldr", "/boot"),
];

/// imgconv's container section, in Image Customizer's spelling.
const CONTAINER_KEYS: ContainerKeys = ContainerKeys([
    "tag",
    "labels",
    "env",
    "entrypoint",
    "cmd",
    "workingDir",
    "user",
]);

fn config(source: &Path, doc: Field<'_>) -> Result<ImageConfig> {
    let mut top = doc.obj()?;
    let storage = top.require("storage")?;
    let os = top.get("os");
    let output = top.get("output");
    let preview = top.get("previewFeatures");
    let container = top
        .get("container")
        .map(|c| container_settings(&c, &CONTAINER_KEYS))
        .transpose()?
        .unwrap_or_default();
    top.refuse(
        "input",
        "input images are not supported: this build makes the disk from a root file system",
    )?;
    top.refuse(
        "iso",
        "the iso section (files and kernel arguments of the ISO media) is not supported yet; \
         output.image.format iso makes a live ISO with the os section applied",
    )?;
    top.refuse("pxe", "PXE output is not supported")?;
    let scripts = top.get("scripts");
    top.finish()?;

    if let Some(list) = &preview {
        for feature in list.seq()? {
            // `create` only unlocks Image Customizer's subcommand for
            // building a disk from scratch, which is what this build does;
            // `tools-dir` one of its command-line options; `base-configs`
            // the baseConfigs merged before this is read.
            match feature.str()? {
                "create" | "base-configs" | "tools-dir" => {}
                other => {
                    return Err(feature.error(format!("preview feature {other:?} is not supported")))
                }
            }
        }
    }

    let mut origins = Origins {
        esp_hint: "a partition of type esp",
        bios_boot_hint: "a partition of type bios-grub",
        ..Origins::default()
    };
    let mut config = ImageConfig {
        container,
        ..ImageConfig::empty(source)
    };
    let types = storage_section(&storage, &mut config, &mut origins)?;
    origins.hostname = "os.hostname".to_owned();
    origins.kernel_cmdline = "os.kernelCommandLine.extraCommandLine".to_owned();
    if let Some(os) = &os {
        os_section(source, os, &mut config, &mut origins)?;
    }
    if let Some(output) = &output {
        config.artifacts = output_section(source, output)?;
    }
    if let Some(scripts) = &scripts {
        let mut s = scripts.obj()?;
        for (key, stage) in [
            ("postCustomization", ScriptStage::PostCustomization),
            ("finalizeCustomization", ScriptStage::Finalize),
        ] {
            if let Some(list) = s.get(key) {
                for (i, item) in list.seq()?.iter().enumerate() {
                    config.scripts.push(script(source, item, stage, key, i)?);
                }
            }
        }
        s.finish()?;
    }
    config.validate(&origins)?;
    check_type_mounts(&config, &origins, &types)?;
    Ok(config)
}

/// A `scripts` item (`docs/imagecustomizer/api/configuration/script.md`):
/// a file beside the configuration (`path`) or the script itself
/// (`content`), run by `interpreter` (default `/bin/sh`) with `arguments`
/// and `environmentVariables`, the configuration's directory readable at
/// `/_imageconfigs`.
fn script(
    source: &Path,
    item: &Field<'_>,
    stage: ScriptStage,
    list: &str,
    index: usize,
) -> Result<Script> {
    let mut o = item.obj()?;
    let path = o.get("path");
    let content = o.get("content");
    let interpreter = o.opt_str("interpreter")?.unwrap_or_default();
    let arguments = o.get("arguments");
    let env = o.get("environmentVariables");
    let name = o.opt_str("name")?.unwrap_or_default();
    // A base configuration's script: its own file's directory.
    let dir = match o.opt_str(super::base::SCRIPT_DIR_KEY)? {
        Some(dir) => Path::new(dir),
        None => super::config_dir(source),
    };
    o.finish()?;
    let dir_real = dir
        .canonicalize()
        .map_err(|e| item.error(format!("{}: {e}", dir.display())))?;
    let mut program = pkgstage::sandbox::Program {
        argv: vec![if interpreter.is_empty() {
            "/bin/sh".to_owned()
        } else {
            interpreter.to_owned()
        }],
        ..Default::default()
    };
    let mut args = Vec::new();
    if let Some(list) = &arguments {
        for a in list.seq()? {
            args.push(a.str()?.to_owned());
        }
    }
    let written = match (&path, &content) {
        (Some(p), None) => {
            let written = p.str()?;
            let (at, binds) = super::script_file(dir, p, written)?;
            program.argv.push(at);
            program.argv.extend(args);
            program.binds = binds;
            written
        }
        (None, Some(c)) => {
            let text = c.str()?;
            if text.trim().is_empty() {
                return Err(c.error("the script's content is empty"));
            }
            program.script = Some(text.to_owned());
            program.args = args;
            program.binds = vec![(dir_real, super::CONFIG_DIR_IN_TREE.to_owned())];
            ""
        }
        (Some(_), Some(c)) => return Err(c.error("give path or content, not both")),
        (None, None) => return Err(item.error("a script needs a path or its content")),
    };
    if let Some(env) = &env {
        for (key, value) in env.entries()? {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(value.error(format!("{key:?} is not a variable name")));
            }
            program.env.push((key.to_owned(), value.str()?.to_owned()));
        }
    }
    // Named in messages as Image Customizer names it in its logs.
    program.name = match (name.is_empty(), written.is_empty()) {
        (false, false) => format!("{name}({written})"),
        (false, true) => name.to_owned(),
        (true, false) => written.to_owned(),
        (true, true) => format!("{list}[{index}]"),
    };
    Ok(Script {
        stage,
        field: item.path.clone(),
        program,
    })
}

/// A partition's `type` as written, and where the partition is, for the
/// checks Image Customizer makes by type.
struct TypeName {
    kind: String,
    partition: String,
}

/// `storage`.
fn storage_section(
    storage: &Field<'_>,
    config: &mut ImageConfig,
    origins: &mut Origins,
) -> Result<Vec<TypeName>> {
    let mut s = storage.obj()?;
    let boot = s.require("bootType")?;
    let disks = s.require("disks")?;
    let filesystems = s.get("filesystems");
    s.refuse("verity", "verity devices are not supported")?;
    s.refuse(
        "resetPartitionsUuidsType",
        "resetting an input image's UUIDs does not apply: this build makes a new disk",
    )?;
    s.refuse("reinitializeVerity", "verity devices are not supported")?;
    s.finish()?;

    origins.boot = boot.path.clone();
    config.boot = match boot.str()? {
        "efi" => BootType::Efi,
        "legacy" => BootType::Legacy,
        other => {
            return Err(boot.error(format!(
                "unknown boot type {other:?}; expected \"efi\" or \"legacy\""
            )))
        }
    };

    let mut list = disks.seq()?;
    let disk = match list.len() {
        0 => return Err(disks.error("one disk is needed; the list is empty")),
        1 => list.remove(0),
        _ => return Err(list[1].error("only one disk is supported; this is the second")),
    };
    let types = disk_section(&disk, config, origins)?;

    origins.mounts = storage.path.clone() + ".filesystems";
    if let Some(fss) = &filesystems {
        filesystems_section(fss, &types, config, origins)?;
    }
    // Image Customizer: an ESP is FAT and mounted at /boot/efi.
    for (p, kind) in config.partitions.iter().zip(&types) {
        if kind.kind == "esp" && p.fs.is_none() {
            return Err(error::config(
                &config.source,
                format!("{}.type", kind.partition),
                format!(
                    "the ESP {:?} needs a filesystems entry of type fat32 or vfat mounted at \
                     /boot/efi",
                    p.id
                ),
            ));
        }
    }
    Ok(types)
}

fn disk_section(
    disk: &Field<'_>,
    config: &mut ImageConfig,
    origins: &mut Origins,
) -> Result<Vec<TypeName>> {
    let mut d = disk.obj()?;
    let table = d.require("partitionTableType")?;
    let max_size = d.get("maxSize");
    let partitions = d.require("partitions")?;
    d.finish()?;

    match table.str()? {
        "gpt" => {}
        other => {
            return Err(table.error(format!(
                "unknown partition table type {other:?}; expected \"gpt\""
            )))
        }
    }

    origins.partitions = partitions.path.clone();
    let items = partitions.seq()?;
    if items.is_empty() {
        return Err(partitions.error("the disk needs partitions"));
    }
    let mut types = Vec::new();
    // Where each partition's end came from, for "grow" and size errors.
    let mut prev_end: Option<(Option<u64>, String, String)> = None;
    for (i, item) in items.iter().enumerate() {
        let mut p = item.obj()?;
        let id = p.require("id")?;
        let label = p.opt_str("label")?.unwrap_or_default();
        let start = p.get("start");
        let end = p.get("end");
        let size = p.get("size");
        let kind = p.get("type");
        let mut at = PartitionOrigin {
            id: p.path_of("id"),
            label: p.path_of("label"),
            start: p.path_of("start"),
            end: p.path_of("size"),
        };
        p.finish()?;
        let id = id.str()?;

        let start_bytes = match &start {
            Some(s) => size_value(s)?,
            None => match &prev_end {
                None => HEADER_RESERVE,
                Some((Some(end), _, _)) => *end,
                Some((None, prev_id, prev_field)) => {
                    return Err(error::config(
                        &config.source,
                        prev_field.as_str(),
                        format!(
                            "partition {prev_id:?} has no end (its size is \"grow\" or not \
                             given), so it must be the last partition"
                        ),
                    ))
                }
            },
        };
        if i == 0 && start_bytes < HEADER_RESERVE {
            return Err(error::config(
                &config.source,
                at.start.as_str(),
                "the first 1 MiB of the disk is kept for the GPT",
            ));
        }
        let end_bytes =
            match (&end, &size) {
                (Some(_), Some(s)) => {
                    return Err(s.error("end and size cannot both be given"));
                }
                (Some(e), None) => {
                    at.end = e.path.clone();
                    Some(size_value(e)?)
                }
                (None, Some(s)) => match s.node {
                    Node::Str(text) if text == "grow" => None,
                    _ => {
                        let n = size_value(s)?;
                        if n == 0 {
                            return Err(s.error("a partition's size cannot be 0"));
                        }
                        Some(start_bytes.checked_add(n).ok_or_else(|| {
                            s.error("the partition's end is past the largest disk")
                        })?)
                    }
                },
                (None, None) => None,
            };
        let kind_text = kind
            .as_ref()
            .map(Field::str)
            .transpose()?
            .unwrap_or_default();
        let (role, type_guid) = match &kind {
            None => (PartitionRole::Linux, None),
            Some(k) => partition_type(k, kind_text)?,
        };
        if role == PartitionRole::BiosBoot && start_bytes != MIB {
            return Err(error::config(
                &config.source,
                at.start.as_str(),
                "a BIOS boot partition must start at 1 MiB",
            ));
        }
        prev_end = Some((end_bytes, id.to_owned(), at.end.clone()));
        config.partitions.push(PartitionSpec {
            id: id.to_owned(),
            label: label.to_owned(),
            start: start_bytes,
            end: end_bytes,
            role,
            type_guid,
            fs: None,
        });
        origins.partition.push(at);
        types.push(TypeName {
            kind: kind_text.to_owned(),
            partition: item.path.clone(),
        });
    }

    let (last_end, last_start) = match config.partitions.last() {
        Some(p) => (p.end, p.start),
        None => (None, 0),
    };
    match &max_size {
        None => {
            origins.disk_size = disk.path.clone() + ".maxSize";
            let Some(end) = last_end else {
                return Err(error::config(
                    &config.source,
                    origins.disk_size.as_str(),
                    "required when the last partition grows to the end of the disk",
                ));
            };
            // As Image Customizer: the last partition's end and the
            // backup GPT's 1 MiB.
            config.disk_size = end.checked_add(FOOTER_RESERVE).ok_or_else(|| {
                error::config(
                    &config.source,
                    origins.disk_size.as_str(),
                    "the partitions end past the largest disk",
                )
            })?;
        }
        Some(m) => {
            origins.disk_size = m.path.clone();
            config.disk_size = size_value(m)?;
            if config.disk_size == 0 {
                return Err(m.error("the disk's size must be more than 0"));
            }
            let needed = last_end
                .unwrap_or_else(|| last_start.saturating_add(MIB))
                .saturating_add(FOOTER_RESERVE);
            if needed > config.disk_size {
                return Err(m.error(format!(
                    "the partitions need {needed} bytes (with 1 MiB for the backup GPT), but \
                     maxSize is {} bytes",
                    config.disk_size
                )));
            }
        }
    }
    Ok(types)
}

/// A size as Image Customizer writes it: digits and K, M, G or T (powers
/// of 1024), a whole number of MiB.
fn size_value(field: &Field<'_>) -> Result<u64> {
    let text = match field.node {
        Node::Int(_) => {
            return Err(field
                .error("a size needs a unit: K, M, G or T (KiB, MiB, GiB, TiB), e.g. \"512M\""))
        }
        _ => field.str()?,
    };
    let bad = || {
        field.error(format!(
            "{text:?} is not a size: expected digits and K, M, G or T (e.g. \"512M\", \"4G\")"
        ))
    };
    let mut chars = text.chars();
    let multiplier = match chars.next_back() {
        Some('K') => 1u64 << 10,
        Some('M') => 1 << 20,
        Some('G') => 1 << 30,
        Some('T') => 1 << 40,
        _ => return Err(bad()),
    };
    let digits = chars.as_str();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let bytes = n
        .checked_mul(multiplier)
        .ok_or_else(|| field.error(format!("{text:?} is too large")))?;
    if bytes % MIB != 0 {
        return Err(field.error(format!("{text:?} is not a whole number of MiB")));
    }
    Ok(bytes)
}

fn partition_type(field: &Field<'_>, text: &str) -> Result<(PartitionRole, Option<Uuid>)> {
    let role = match text {
        "esp" => PartitionRole::Esp,
        "bios-grub" => PartitionRole::BiosBoot,
        "xbootldr" => PartitionRole::Xbootldr,
        "root" => PartitionRole::Root,
        "" | "linux-generic" => PartitionRole::Linux,
        "usr" | "root-verity" | "usr-verity" => {
            return Err(field.error(format!(
                "partition type {text:?} is not supported: no /usr or verity partitions yet"
            )))
        }
        "swap" => return Err(field.error("swap partitions are not made by this build")),
        _ => {
            if let Some((_, guid)) = LINUX_TYPES.iter().find(|(name, _)| *name == text) {
                return Ok((PartitionRole::Linux, Some(parse_guid(field, guid)?)));
            }
            if text.len() == 36 && text.contains('-') {
                return Ok((PartitionRole::Linux, Some(parse_guid(field, text)?)));
            }
            return Err(field.error(format!(
                "unknown partition type {text:?}; expected esp, bios-grub, xbootldr, root, \
                 linux-generic, home, srv, tmp, var or a GUID"
            )));
        }
    };
    Ok((role, None))
}

fn filesystems_section(
    list: &Field<'_>,
    types: &[TypeName],
    config: &mut ImageConfig,
    origins: &mut Origins,
) -> Result<()> {
    let mut seen: HashMap<String, String> = HashMap::new();
    for item in list.seq()? {
        let mut f = item.obj()?;
        let device = f.require("deviceId")?;
        let kind = f.get("type");
        let mount = f.get("mountPoint");
        f.refuse("btrfs", "btrfs is not made by this build")?;
        f.finish()?;

        let device_id = device.str()?;
        let Some(index) = config.partitions.iter().position(|p| p.id == device_id) else {
            return Err(device.error(format!("no partition has the ID {device_id:?}")));
        };
        if let Some(first) = seen.insert(device_id.to_owned(), item.path.clone()) {
            return Err(device.error(format!(
                "partition {device_id:?} already has a filesystems entry ({first})"
            )));
        }
        let kind_text = kind
            .as_ref()
            .map(Field::str)
            .transpose()?
            .unwrap_or_default();
        let kind_at = kind.as_ref().unwrap_or(&item);
        let fs = match kind_text {
            "" => None,
            "ext4" => Some(FsType::Ext4),
            // "fat32: an alias for vfat" (filesystem.md).
            "fat32" | "vfat" => Some(FsType::Vfat),
            "xfs" | "btrfs" => {
                return Err(kind_at.error(format!(
                    "{kind_text} is not made by this build; expected ext4, fat32 or vfat"
                )))
            }
            other => {
                return Err(kind_at.error(format!(
                    "unknown file system type {other:?}; expected ext4, fat32 or vfat"
                )))
            }
        };
        let role = config.partitions[index].role;
        let type_text = types.get(index).map_or("", |t| t.kind.as_str());
        if role == PartitionRole::BiosBoot {
            if let Some(k) = kind.as_ref().filter(|_| fs.is_some()) {
                return Err(k.error("a BIOS boot partition has no file system"));
            }
            if let Some(m) = &mount {
                return Err(m.error("a BIOS boot partition is not mounted"));
            }
        }
        if type_text == "esp" && fs != Some(FsType::Vfat) {
            return Err(kind_at.error("the ESP's file system must be fat32 or vfat"));
        }
        config.partitions[index].fs = fs;

        if let Some(m) = &mount {
            if fs.is_none() {
                return Err(m.error("a file system with a mountPoint needs a type"));
            }
            let (mount, at) = mount_point(m, device_id)?;
            config.mounts.push(mount);
            origins.mount.push(at);
        }
    }
    Ok(())
}

fn mount_point(field: &Field<'_>, device_id: &str) -> Result<(Mount, MountOrigin)> {
    if let Node::Str(path) = field.node {
        return Ok((
            Mount {
                partition: device_id.to_owned(),
                mount_point: path.clone(),
                options: "defaults".to_owned(),
                identifier: MountIdentifier::PartUuid,
            },
            MountOrigin {
                partition: field.path.replace(".mountPoint", ".deviceId"),
                mount_point: field.path.clone(),
                options: field.path.clone(),
                identifier: field.path.clone(),
            },
        ));
    }
    let mut m = field.obj()?;
    let path = m.require("path")?;
    let options = m.opt_str("options")?.unwrap_or_default();
    let id_type = m.get("idType");
    let at = MountOrigin {
        partition: field.path.replace(".mountPoint", ".deviceId"),
        mount_point: path.path.clone(),
        options: m.path_of("options"),
        identifier: m.path_of("idType"),
    };
    m.finish()?;
    let identifier = match &id_type {
        None => MountIdentifier::PartUuid,
        Some(t) => match t.str()? {
            "" | "part-uuid" => MountIdentifier::PartUuid,
            "uuid" => MountIdentifier::Uuid,
            "part-label" => MountIdentifier::PartLabel,
            other => {
                return Err(t.error(format!(
                    "unknown idType {other:?}; expected uuid, part-uuid or part-label"
                )))
            }
        },
    };
    Ok((
        Mount {
            partition: device_id.to_owned(),
            mount_point: path.str()?.to_owned(),
            options: if options.is_empty() {
                "defaults".to_owned()
            } else {
                options.to_owned()
            },
            identifier,
        },
        at,
    ))
}

/// Image Customizer mounts typed partitions only where their type says.
fn check_type_mounts(config: &ImageConfig, origins: &Origins, types: &[TypeName]) -> Result<()> {
    for (m, at) in config.mounts.iter().zip(&origins.mount) {
        let Some(index) = config.partitions.iter().position(|p| p.id == m.partition) else {
            continue;
        };
        let kind = types.get(index).map_or("", |t| t.kind.as_str());
        if let Some((_, path)) = TYPE_MOUNT_PATHS.iter().find(|(t, _)| *t == kind) {
            if m.mount_point != *path {
                return Err(error::config(
                    &config.source,
                    at.mount_point.as_str(),
                    format!(
                        "partition {:?} has type {kind}, which is mounted at {path}, not {:?}",
                        m.partition, m.mount_point
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `os.modules`: each module's name, load mode and options, checked as
/// Image Customizer checks them.
fn kernel_modules(field: &Field<'_>) -> Result<Vec<KernelModule>> {
    let mut out = Vec::new();
    for item in field.seq()? {
        let mut m = item.obj()?;
        let name_field = m.require("name")?;
        let name = name_field.str()?;
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(name_field.error(format!("{name:?} is not a kernel module's name")));
        }
        let load = match m.opt_str("loadMode")? {
            Some("always") => ModuleLoad::Always,
            Some("auto") => ModuleLoad::Auto,
            Some("disable") => ModuleLoad::Disable,
            Some("inherit") | Some("") | None => ModuleLoad::Inherit,
            Some(other) => {
                return Err(m.error_at(
                    "loadMode",
                    format!(
                        "unknown loadMode {other:?}; expected always, auto, disable or inherit"
                    ),
                ))
            }
        };
        let mut options = Vec::new();
        if let Some(opts) = m.get("options") {
            for (key, value) in opts.entries()? {
                // Image Customizer's values are strings; YAML reads `1` as
                // a number.
                let value = match value.node {
                    Node::Int(i) => i.to_string(),
                    Node::Bool(b) => b.to_string(),
                    _ => value.str()?.to_owned(),
                };
                if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '=') {
                    return Err(opts.error(format!("{key:?} is not a module option's name")));
                }
                if value.contains(char::is_whitespace) {
                    return Err(opts.error(format!("{key}: {value:?} has white space")));
                }
                options.push((key.to_owned(), value));
            }
            if load == ModuleLoad::Disable && !options.is_empty() {
                return Err(opts.error(
                    "a disabled module takes no options; give loadMode auto or always to set them",
                ));
            }
        }
        m.finish()?;
        out.push(KernelModule {
            name: name.to_owned(),
            load,
            options,
        });
    }
    Ok(out)
}

fn os_section(
    source: &Path,
    os: &Field<'_>,
    config: &mut ImageConfig,
    origins: &mut Origins,
) -> Result<()> {
    let mut o = os.obj()?;
    let hostname = o.get("hostname");
    let cmdline = o.get("kernelCommandLine");
    let files = o.get("additionalFiles");
    let bootloader = o.get("bootloader");
    let history = o.get("imageHistory");
    if let Some(packages) = o.get("packages") {
        let mut p = packages.obj()?;
        if let Some(lists) = p.get("installLists") {
            config
                .packages
                .install
                .extend(super::package_lists(source, &lists)?);
        }
        if let Some(names) = p.get("install") {
            for item in names.seq()? {
                config.packages.install.push(item.str()?.to_owned());
            }
        }
        for key in [
            "remove",
            "removeLists",
            "update",
            "updateLists",
            "updateExistingPackages",
        ] {
            p.refuse_unless_empty(key, PACKAGE_STAGE)?;
        }
        p.finish()?;
    }
    if let Some(selinux) = o.get("selinux") {
        let mut s = selinux.obj()?;
        if let Some(mode) = s.get("mode") {
            config.selinux = match mode.str()? {
                "default" => None,
                "disabled" => Some(SelinuxMode::Disabled),
                "permissive" => Some(SelinuxMode::Permissive),
                "enforcing" => Some(SelinuxMode::Enforcing),
                "force-enforcing" => Some(SelinuxMode::ForceEnforcing),
                other => {
                    return Err(mode.error(format!(
                        "unknown SELinux mode {other:?}; expected default, disabled, permissive, \
                         enforcing or force-enforcing"
                    )))
                }
            };
        }
        s.finish()?;
    }
    o.refuse("additionalDirs", "copying directories is not supported yet")?;
    if let Some(list) = o.get("groups") {
        for item in list.seq()? {
            config.groups.push(group(&item)?);
        }
    }
    if let Some(list) = o.get("users") {
        for item in list.seq()? {
            config.users.push(user(source, &item)?);
        }
    }
    if let Some(services) = o.get("services") {
        let mut s = services.obj()?;
        for (key, list) in [
            ("enable", &mut config.services.enable),
            ("disable", &mut config.services.disable),
        ] {
            if let Some(names) = s.get(key) {
                for item in names.seq()? {
                    let name = item.str()?;
                    if name.is_empty() || name.contains(['/', ' ', '\t', '\n']) {
                        return Err(item.error(format!("{name:?} is not a unit name")));
                    }
                    list.push(name.to_owned());
                }
            }
        }
        s.finish()?;
    }
    if let Some(modules) = o.get("modules") {
        config.modules = kernel_modules(&modules)?;
    }
    o.refuse("overlays", "overlay mounts are not supported")?;
    o.refuse("uki", "unified kernel images are not made by this build")?;
    o.finish()?;

    if let Some(h) = &hostname {
        let h = h.str()?;
        if !h.is_empty() {
            config.hostname = Some(h.to_owned());
        }
    }
    if let Some(c) = &cmdline {
        config.kernel_cmdline = kernel_command_line(c)?;
    }
    if let Some(f) = &files {
        for item in f.seq()? {
            let (file, at) = additional_file(source, &item)?;
            config.additional_files.push(file);
            origins.additional_files.push(at);
        }
    }
    if let Some(b) = &bootloader {
        let mut b = b.obj()?;
        let reset = b.get("resetType");
        b.finish()?;
        if let Some(r) = &reset {
            // This build always writes the boot loader and its
            // configuration anew, which is what a hard reset asks for.
            match r.str()? {
                "hard-reset" => {}
                other => {
                    return Err(r.error(format!(
                        "unknown resetType {other:?}; expected \"hard-reset\""
                    )))
                }
            }
        }
    }
    if let Some(h) = &history {
        // This build writes no image history, which is what `none` asks for.
        match h.str()? {
            "none" => {}
            other => {
                return Err(h.error(format!(
                    "image history is not written by this build; {other:?} cannot be honoured \
                     (only \"none\")"
                )))
            }
        }
    }
    Ok(())
}

/// Where an `os.groups` or `os.users` item is given: in a chain of
/// `baseConfigs`, what [`super::base`] noted in it; else the item itself.
fn declared(o: &mut super::node::Obj<'_>, item: &Field<'_>) -> Result<Declared> {
    let Some(noted) = o.get(super::base::DECLARED_KEY) else {
        return Ok(Declared {
            file: item.file.to_path_buf(),
            field: item.path.clone(),
            batch: 0,
        });
    };
    match noted.node {
        Node::Seq(v) => match v.as_slice() {
            [Node::Int(batch), Node::Str(file), Node::Str(field)] => Ok(Declared {
                file: file.into(),
                field: field.clone(),
                batch: usize::try_from(*batch).unwrap_or(0),
            }),
            _ => Err(noted.error("not a place in the chain of configurations")),
        },
        _ => Err(noted.error("not a place in the chain of configurations")),
    }
}

/// An ID Image Customizer takes for a user or group: 0 to 60000.
fn account_id(field: &Field<'_>) -> Result<u32> {
    match field.node {
        Node::Int(i) if (0..=60_000).contains(i) => Ok(*i as u32),
        Node::Int(i) => Err(field.error(format!("{i} is outside 0 to 60000"))),
        _ => Err(field.error(format!(
            "expected a whole number, found {}",
            field.node.kind()
        ))),
    }
}

/// An `os.groups` item: made unless the tree has it (`gid` only for a new
/// one).
fn group(item: &Field<'_>) -> Result<Group> {
    let mut o = item.obj()?;
    let name = o.require("name")?;
    let gid = o.get("gid");
    let declared = declared(&mut o, item)?;
    o.finish()?;
    let name_text = name.str()?;
    if name_text.trim().is_empty() {
        return Err(name.error("a group's name cannot be empty"));
    }
    Ok(Group {
        name: name_text.to_owned(),
        gid: gid.as_ref().map(account_id).transpose()?,
        action: Action::MakeOrChange,
        declared,
    })
}

/// An `os.users` item: made with `useradd` unless the tree has it, then
/// changed as Image Customizer's `addOrUpdateUser` changes it.
fn user(source: &Path, item: &Field<'_>) -> Result<User> {
    let mut o = item.obj()?;
    let name = o.require("name")?;
    let uid = o.get("uid");
    let password = o.get("password");
    let expires = o.get("passwordExpiresDays");
    let key_paths = o.get("sshPublicKeyPaths");
    let keys = o.get("sshPublicKeys");
    let primary = o.opt_str("primaryGroup")?.unwrap_or_default();
    let secondary = o.get("secondaryGroups");
    let startup = o.opt_str("startupCommand")?.unwrap_or_default();
    let home = o.opt_str("homeDirectory")?.unwrap_or_default();
    let declared = declared(&mut o, item)?;
    o.finish()?;

    let name_text = name.str()?;
    if name_text.trim().is_empty() {
        return Err(name.error("a user's name cannot be empty"));
    }
    let password = password
        .as_ref()
        .map(|p| user_password(source, p))
        .transpose()?;
    let password_expires = match &expires {
        None => None,
        Some(e) => match e.i64()? {
            -1 => Some(PasswordExpiry::Never),
            days @ 0..=99_999 => Some(PasswordExpiry::Days(days as u64)),
            other => return Err(e.error(format!("{other} is outside 0 to 99999 (or -1: never)"))),
        },
    };
    let mut lines = Vec::new();
    let mut given_keys = false;
    if let Some(list) = &key_paths {
        for path in list.seq()? {
            lines.extend(super::key_file(source, &path, path.str()?)?.0);
            given_keys = true;
        }
    }
    if let Some(list) = &keys {
        for key in list.seq()? {
            lines.push(key.str()?.to_owned());
            given_keys = true;
        }
    }
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok(User {
        name: name_text.to_owned(),
        uid: uid.as_ref().map(account_id).transpose()?,
        password,
        password_expires,
        ssh_public_keys: given_keys.then_some(lines),
        ssh_layout: SshLayout::Customizer,
        primary_group: text(primary),
        secondary_groups: match &secondary {
            Some(list) => super::group_names(list)?,
            None => Vec::new(),
        },
        startup_command: text(startup),
        home_directory: text(home),
        action: Action::MakeOrChange,
        declared,
    })
}

/// A user's `password`: `type` and `value` (a file's path, relative to
/// the configuration's directory, for the `-file` types).
fn user_password(source: &Path, field: &Field<'_>) -> Result<Password> {
    let mut p = field.obj()?;
    let kind = p.require("type")?;
    let value = p.get("value");
    p.finish()?;
    let value_text = value
        .as_ref()
        .map(Field::str)
        .transpose()?
        .unwrap_or_default();
    let kind_text = kind.str()?;
    let at_value = || value.clone().unwrap_or_else(|| kind.clone());
    match kind_text {
        "locked" if value_text.is_empty() => return Ok(Password::Locked),
        "locked" => return Err(at_value().error("a locked password has no value")),
        "plain-text" | "hashed" | "plain-text-file" | "hashed-file" if value_text.is_empty() => {
            return Err(at_value().error(format!("a password of type {kind_text} needs a value")))
        }
        "plain-text" => return Ok(Password::Plain(value_text.to_owned())),
        "hashed" => return Ok(Password::Hashed(value_text.to_owned())),
        "plain-text-file" | "hashed-file" => {}
        other => {
            return Err(kind.error(format!(
                "unknown password type {other:?}; expected locked, plain-text, hashed, \
                 plain-text-file or hashed-file"
            )))
        }
    }
    let path = resolve(source, value_text);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| at_value().error(format!("{}: {e}", path.display())))?;
    Ok(if kind_text == "hashed-file" {
        // The file's last line break is not part of the hash.
        Password::Hashed(text.strip_suffix('\n').unwrap_or(&text).to_owned())
    } else {
        Password::Plain(text)
    })
}

fn kernel_command_line(field: &Field<'_>) -> Result<String> {
    let mut k = field.obj()?;
    let extra = k.get("extraCommandLine");
    k.finish()?;
    let Some(extra) = extra else {
        return Ok(String::new());
    };
    if let Node::Str(s) = extra.node {
        return Ok(s.trim().to_owned());
    }
    let mut args = Vec::new();
    for arg in extra.seq()? {
        let text = arg.str()?;
        if text.trim().is_empty() {
            return Err(arg.error("a kernel argument cannot be empty"));
        }
        args.push(text.trim());
    }
    Ok(args.join(" "))
}

fn additional_file(source: &Path, item: &Field<'_>) -> Result<(AdditionalFile, String)> {
    let mut f = item.obj()?;
    let src = f.get("source");
    let content = f.get("content");
    let destination = f.require("destination")?;
    let permissions = f.get("permissions");
    f.finish()?;
    let from = match (&src, &content) {
        (Some(_), Some(c)) => return Err(c.error("source and content cannot both be given")),
        (Some(s), None) => {
            let text = s.str()?;
            if text.is_empty() {
                return Err(s.error("the source path is empty"));
            }
            FileSource::Path(resolve(source, text))
        }
        (None, Some(c)) => FileSource::Content(c.str()?.to_owned()),
        // `content: ""` reads as an empty string, but a bare `content:`
        // is null, which Image Customizer also takes as "not given".
        (None, None) => {
            return Err(item.error("an additional file needs a source or a content"));
        }
    };
    let mode = match &permissions {
        None => None,
        Some(p) => {
            // `permissions: 755` is a YAML number; its digits are the octal
            // text, as Image Customizer reads them.
            let text = match p.node {
                Node::Int(n) => n.to_string(),
                _ => p.str()?.to_owned(),
            };
            Some(parse_mode(&text).map_err(|e| p.error(e))?)
        }
    };
    Ok((
        AdditionalFile {
            source: from,
            destination: destination.str()?.to_owned(),
            mode,
        },
        destination.path.clone(),
    ))
}

fn output_section(source: &Path, output: &Field<'_>) -> Result<Vec<Artifact>> {
    let mut o = output.obj()?;
    let image = o.get("image");
    o.refuse("artifacts", "output artifacts are not supported")?;
    o.refuse(
        "selinuxPolicyPath",
        "extracting the SELinux policy is not supported",
    )?;
    o.finish()?;
    let Some(image) = image else {
        return Ok(Vec::new());
    };
    let mut i = image.obj()?;
    let path = i.opt_str("path")?;
    let format = i.get("format");
    i.refuse("cosi", "COSI output is not supported")?;
    let path_field = i.path_of("path");
    i.finish()?;
    let Some(format) = format else {
        if path.is_some() {
            return Err(error::config(
                source,
                path_field,
                "a path without output.image.format: the format is not guessed from the name",
            ));
        }
        return Ok(Vec::new());
    };
    let name = match path {
        Some(p) => Path::new(p)
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| error::config(source, path_field.as_str(), "names no file"))?,
        None => source
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("image"),
    };
    let format_text = match format.str()? {
        f @ ("vhd" | "vhd-fixed" | "vhdx" | "qcow2" | "raw" | "iso") => f,
        other @ ("pxe-dir" | "pxe-tar" | "cosi" | "baremetal-image") => {
            return Err(format.error(format!(
                "output format {other:?} is not supported yet; expected vhd, vhd-fixed, vhdx, \
                 qcow2, raw or iso"
            )))
        }
        other => {
            return Err(format.error(format!(
                "unknown output format {other:?}; expected vhd, vhd-fixed, vhdx, qcow2, raw or iso"
            )))
        }
    };
    Ok(vec![Artifact {
        name: name.to_owned(),
        format: format_text.to_owned(),
    }])
}
