//! The two configuration readers: the valid configs give the expected
//! model, bad ones an error naming the file and the field, and no input
//! makes them panic.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use imgbuild::config::{customizer, toolkit, MIB};
use imgbuild::{
    Action, AdditionalFile, Artifact, BootType, Declared, Error, ErrorKind, FileSource, FsType,
    Group, ImageConfig, Mount, MountIdentifier, PartitionRole, PartitionSpec, Password,
    PasswordExpiry, ScriptStage, SelinuxMode, SshLayout, User,
};
use proptest::prelude::*;
use serde_json::{json, Value as Json};
use serde_yaml_ng::Value as Yaml;
use uuid::Uuid;

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs")
}

fn config_path(name: &str) -> PathBuf {
    configs().join(name)
}

fn text(name: &str) -> String {
    fs::read_to_string(config_path(name)).expect("test config")
}

fn partition(
    id: &str,
    label: &str,
    start: u64,
    end: Option<u64>,
    role: PartitionRole,
    fs: Option<FsType>,
) -> PartitionSpec {
    PartitionSpec {
        id: id.into(),
        label: label.into(),
        start,
        end,
        role,
        type_guid: None,
        fs,
    }
}

fn mount(partition: &str, mount_point: &str, options: &str, identifier: MountIdentifier) -> Mount {
    Mount {
        partition: partition.into(),
        mount_point: mount_point.into(),
        options: options.into(),
        identifier,
    }
}

#[test]
fn core_efi_json() {
    let path = config_path("core-efi.json");
    let config = ImageConfig::load(&path).expect("core-efi.json");
    let expected = ImageConfig {
        source: path.clone(),
        artifacts: vec![Artifact {
            name: "core".into(),
            format: "vhdx".into(),
        }],
        disk_size: 4096 * MIB,
        partitions: vec![
            partition(
                "boot",
                "",
                MIB,
                Some(9 * MIB),
                PartitionRole::Esp,
                Some(FsType::Vfat),
            ),
            partition(
                "rootfs",
                "rootfs",
                9 * MIB,
                None,
                PartitionRole::Linux,
                Some(FsType::Ext4),
            ),
        ],
        boot: BootType::Efi,
        boot_loader: imgbuild::BootLoader::Grub,
        mounts: vec![
            mount("boot", "/boot/efi", "umask=0077", MountIdentifier::PartUuid),
            mount("rootfs", "/", "defaults", MountIdentifier::PartUuid),
        ],
        hostname: Some("azurelinux".into()),
        kernel_cmdline: "console=tty0 console=ttyS0".into(),
        kernel_args: Vec::new(),
        kernel_args_late: Vec::new(),
        fips: false,
        additional_files: vec![
            AdditionalFile {
                source: FileSource::Path(configs().join("files/cloud.cfg")),
                destination: "/etc/cloud/cloud.cfg.d/90-azure.cfg".into(),
                mode: None,
            },
            AdditionalFile {
                source: FileSource::Path("/usr/share/imgconv/issue".into()),
                destination: "/etc/issue".into(),
                mode: None,
            },
            AdditionalFile {
                source: FileSource::Path("/usr/share/imgconv/issue".into()),
                destination: "/etc/issue.net".into(),
                mode: Some(0o640),
            },
        ],
        modules: Vec::new(),
        scripts: Vec::new(),
        services: Default::default(),
        selinux: None,
        groups: Vec::new(),
        users: Vec::new(),
        packages: Default::default(),
        container: Default::default(),
    };
    assert_eq!(config, expected);
}

#[test]
fn core_legacy_json() {
    let path = config_path("core-legacy.json");
    let config = ImageConfig::load(&path).expect("core-legacy.json");
    let expected = ImageConfig {
        source: path.clone(),
        // The toolkit's `vhd` is a fixed VHD (qemu-img's vpc,
        // subformat=fixed,force_size).
        artifacts: vec![Artifact {
            name: "core".into(),
            format: "vhd-fixed".into(),
        }],
        disk_size: 2048 * MIB,
        partitions: vec![
            // FsType fat32 is made and then overwritten by GRUB's core image
            // in the toolkit; the model leaves the partition without one.
            partition(
                "boot",
                "",
                MIB,
                Some(9 * MIB),
                PartitionRole::BiosBoot,
                None,
            ),
            partition(
                "rootfs",
                "",
                9 * MIB,
                None,
                PartitionRole::Linux,
                Some(FsType::Ext4),
            ),
        ],
        boot: BootType::Legacy,
        boot_loader: imgbuild::BootLoader::Grub,
        mounts: vec![mount("rootfs", "/", "defaults", MountIdentifier::PartUuid)],
        hostname: Some("azurelinux".into()),
        kernel_cmdline: String::new(),
        kernel_args: Vec::new(),
        kernel_args_late: Vec::new(),
        fips: false,
        additional_files: Vec::new(),
        modules: Vec::new(),
        scripts: Vec::new(),
        services: Default::default(),
        selinux: None,
        groups: Vec::new(),
        users: Vec::new(),
        packages: Default::default(),
        container: Default::default(),
    };
    assert_eq!(config, expected);
}

#[test]
fn hyperv_guest_yaml() {
    let path = config_path("hyperv-guest.yaml");
    let config = ImageConfig::load(&path).expect("hyperv-guest.yaml");
    let expected = ImageConfig {
        source: path.clone(),
        artifacts: vec![Artifact {
            name: "hyperv-guest".into(),
            format: "vhdx".into(),
        }],
        disk_size: 4 << 30,
        partitions: vec![
            partition(
                "esp",
                "esp",
                MIB,
                Some(9 * MIB),
                PartitionRole::Esp,
                Some(FsType::Vfat),
            ),
            partition(
                "boot",
                "",
                9 * MIB,
                Some(509 * MIB),
                PartitionRole::Xbootldr,
                Some(FsType::Ext4),
            ),
            partition(
                "rootfs",
                "rootfs",
                509 * MIB,
                None,
                PartitionRole::Root,
                Some(FsType::Ext4),
            ),
        ],
        boot: BootType::Efi,
        boot_loader: imgbuild::BootLoader::Grub,
        mounts: vec![
            mount("esp", "/boot/efi", "umask=0077", MountIdentifier::PartUuid),
            mount("boot", "/boot", "defaults", MountIdentifier::PartUuid),
            mount("rootfs", "/", "defaults", MountIdentifier::PartLabel),
        ],
        hostname: Some("hyperv-guest".into()),
        kernel_cmdline: "console=tty1 console=ttyS0".into(),
        kernel_args: Vec::new(),
        kernel_args_late: Vec::new(),
        fips: false,
        additional_files: vec![
            AdditionalFile {
                source: FileSource::Path(configs().join("files/hyperv.conf")),
                destination: "/etc/modules-load.d/hyperv.conf".into(),
                mode: Some(0o644),
            },
            AdditionalFile {
                source: FileSource::Content("[Time]\nNTP=time.windows.com\n".into()),
                destination: "/etc/systemd/timesyncd.conf.d/hyperv.conf".into(),
                mode: Some(0o600),
            },
        ],
        modules: Vec::new(),
        scripts: Vec::new(),
        services: Default::default(),
        selinux: None,
        groups: Vec::new(),
        users: Vec::new(),
        packages: Default::default(),
        container: Default::default(),
    };
    assert_eq!(config, expected);
}

#[test]
fn load_chooses_by_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yml = dir.path().join("guest.yml");
    fs::write(&yml, text("hyperv-guest.yaml")).expect("write");
    assert_eq!(
        ImageConfig::load(&yml).expect("yml").boot,
        BootType::Efi,
        "a .yml file is Image Customizer's"
    );
    let toml = dir.path().join("guest.toml");
    fs::write(&toml, text("core-efi.json")).expect("write");
    let (file, field, _) = config_error(ImageConfig::load(&toml));
    assert_eq!(file, toml);
    assert_eq!(field, "(file name)");
    // The JSON reader given YAML text fails as JSON, naming a place.
    let json = dir.path().join("guest.json");
    fs::write(&json, text("hyperv-guest.yaml")).expect("write");
    let (file, field, message) = config_error(ImageConfig::load(&json));
    assert_eq!(file, json);
    assert!(field.starts_with("line "), "{field}");
    assert!(message.contains("JSON"), "{message}");
}

#[test]
fn partition_types_and_guids() {
    let yaml = text("hyperv-guest.yaml")
        .replace("type: xbootldr", "type: var")
        .replace("mountPoint: /boot\n", "mountPoint: /var\n");
    let config = customizer::parse(&yaml, "guest.yaml").expect("var partition");
    // `var` has no role of its own: Linux, with Image Customizer's GUID.
    assert_eq!(config.partitions[1].role, PartitionRole::Linux);
    assert_eq!(
        config.partitions[1].type_guid,
        Some(Uuid::parse_str("4d21b016-b534-45c2-a9fb-5c16e091fd2d").expect("guid"))
    );
    let yaml = text("hyperv-guest.yaml").replace(
        "type: xbootldr",
        "type: 0fc63daf-8483-4772-8e79-3d69d8477de4",
    );
    let config = customizer::parse(&yaml, "guest.yaml").expect("GUID type");
    assert_eq!(
        config.partitions[1].type_guid,
        Some(Uuid::parse_str("0fc63daf-8483-4772-8e79-3d69d8477de4").expect("guid"))
    );

    let mut doc: Json = serde_json::from_str(&text("core-efi.json")).expect("json");
    doc["Disks"][0]["Partitions"][1]["Type"] = json!("linux-root-amd64");
    let config = toolkit::parse(&doc.to_string(), "core-efi.json").expect("Type");
    assert_eq!(
        config.partitions[1].type_guid,
        Some(Uuid::parse_str("4f68bce3-e8cd-4db1-96e7-fbcaf984b709").expect("guid"))
    );
    doc["Disks"][0]["Partitions"][1]["TypeUUID"] = json!("4f68bce3-e8cd-4db1-96e7-fbcaf984b709");
    let (_, field, _) = config_error(toolkit::parse(&doc.to_string(), "core-efi.json"));
    assert_eq!(field, "Disks[0].Partitions[1].TypeUUID");
}

#[test]
fn customizer_sizes_and_defaults() {
    // No maxSize: the disk ends 1 MiB after the last partition, as Image
    // Customizer makes it; starts follow the previous end.
    let yaml = text("hyperv-guest.yaml")
        .replace("    maxSize: 4G\n", "")
        .replace("size: grow", "size: 2G");
    let config = customizer::parse(&yaml, "guest.yaml").expect("no maxSize");
    assert_eq!(config.partitions[2].start, 509 * MIB);
    assert_eq!(config.partitions[2].end, Some(509 * MIB + (2 << 30)));
    assert_eq!(config.disk_size, 510 * MIB + (2 << 30));

    let yaml =
        text("hyperv-guest.yaml").replace("      size: 500M", "      start: 16M\n      end: 1G");
    let config = customizer::parse(&yaml, "guest.yaml").expect("start and end");
    assert_eq!(config.partitions[1].start, 16 * MIB);
    assert_eq!(config.partitions[1].end, Some(1 << 30));
    assert_eq!(config.partitions[2].start, 1 << 30);
}

/// The file, field and message of a configuration error.
fn config_error<T: std::fmt::Debug>(result: Result<T, Error>) -> (PathBuf, String, String) {
    match result.map_err(config_parts) {
        Err(Ok((file, field, message))) => {
            assert!(!message.is_empty(), "an empty message for {field}");
            (file, field, message)
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

/// A configuration error's file, field and message; any other error as
/// it was.
fn config_parts(e: Error) -> Result<(PathBuf, String, String), Error> {
    match (e.kind(), e.file_path()) {
        (ErrorKind::Invalid, Some(file)) => Ok((
            file.to_path_buf(),
            e.field_name().unwrap_or_default().to_string(),
            e.message().to_string(),
        )),
        _ => Err(e),
    }
}

/// Takes the reported unsupported fields out of `name`, one at a time,
/// until it reads; returns the fields reported.
fn unsupported_fields(name: &str) -> BTreeSet<String> {
    let path = config_path(name);
    let mut reported = BTreeSet::new();
    let is_json = name.ends_with(".json");
    let mut json_doc: Json = if is_json {
        serde_json::from_str(&text(name)).expect("json")
    } else {
        Json::Null
    };
    let mut yaml_doc: Yaml = if is_json {
        Yaml::Null
    } else {
        serde_yaml_ng::from_str(&text(name)).expect("yaml")
    };
    for _ in 0..20 {
        let result = if is_json {
            toolkit::parse(&json_doc.to_string(), &path)
        } else {
            customizer::parse(&serde_yaml_ng::to_string(&yaml_doc).expect("yaml"), &path)
        };
        let (file, field) = match result.map_err(config_parts) {
            Ok(_) => return reported,
            Err(Ok((file, field, _))) => (file, field),
            Err(Err(other)) => panic!("{name}: {other}"),
        };
        assert_eq!(file, path);
        assert!(reported.insert(field.clone()), "{field} reported twice");
        if is_json {
            // SystemConfigs[0].Key
            let key = field.rsplit('.').next().expect("key");
            json_doc["SystemConfigs"][0]
                .as_object_mut()
                .expect("system config")
                .remove(key)
                .unwrap_or_else(|| panic!("{field} is not a system config field"));
        } else {
            let mut node = &mut yaml_doc;
            let keys: Vec<&str> = field.split('.').collect();
            let (last, parents) = keys.split_last().expect("key");
            for key in parents {
                node = node.get_mut(*key).unwrap_or_else(|| panic!("no {field}"));
            }
            node.as_mapping_mut()
                .expect("mapping")
                .remove(*last)
                .unwrap_or_else(|| panic!("{field} is not in the file"));
        }
    }
    panic!("{name}: too many errors: {reported:?}");
}

fn set(fields: &[&str]) -> BTreeSet<String> {
    fields.iter().map(|f| f.to_string()).collect()
}

#[test]
fn core_efi_and_legacy_as_shipped_install_their_package_lists() {
    // Every field is honoured, the locale override too.
    for name in ["core-efi-packages.json", "core-legacy-packages.json"] {
        assert_eq!(unsupported_fields(name), set(&[]), "{name}");
        let config = ImageConfig::load(config_path(name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.packages.install,
            [
                "hyperv-daemons",
                "hyperv-daemons-license",
                "filesystem",
                "bash",
                "systemd",
                "openssh-server",
                "shadow-utils",
                "cloud-init",
                "cloud-utils-growpart",
                "qemu-guest-agent",
                "kernel",
            ]
        );
        assert!(config.packages.exclude_docs);
        assert_eq!(config.packages.install_langs.as_deref(), Some("NONE"));
    }
}

/// The toolkit's IMA policies, cgroup version and FIPS mode are read into
/// the model; values the toolkit does not know are refused by name.
#[test]
fn kernel_command_line_features() {
    let path = config_path("core-efi.json");
    let with = |fields: &str| {
        let mut doc: Json = serde_json::from_str(&text("core-efi.json")).unwrap();
        let k: Json = serde_json::from_str(fields).unwrap();
        doc["SystemConfigs"][0]["KernelCommandLine"] = k;
        toolkit::parse(&doc.to_string(), &path)
    };
    let config = with(
        r#"{"ImaPolicy": ["tcb", "appraise_tcb"], "CGroup": "version_one", "EnableFIPS": true}"#,
    )
    .unwrap();
    assert_eq!(
        config.kernel_args,
        ["ima_policy=tcb", "ima_policy=appraise_tcb"]
    );
    assert_eq!(
        config.kernel_args_late,
        ["systemd.unified_cgroup_hierarchy=0"]
    );
    assert!(config.fips);
    let config = with(r#"{"CGroup": "", "EnableFIPS": false}"#).unwrap();
    assert!(config.kernel_args.is_empty() && config.kernel_args_late.is_empty() && !config.fips);
    for (bad, field) in [
        (r#"{"ImaPolicy": ["all"]}"#, "ImaPolicy[0]"),
        (r#"{"CGroup": "version_three"}"#, "CGroup"),
        (r#"{"EnableFIPS": "yes"}"#, "EnableFIPS"),
    ] {
        let (_, got, message) = config_error(with(bad));
        assert!(got.ends_with(field), "{got}: {message}");
    }
}

/// Image Customizer's own create-minimal-os.yaml is built on
/// create-base.yaml, which holds its `storage`: merged, the disk is the
/// base's and the packages are its own and its list's, read from its
/// directory wherever the command runs.
#[test]
fn a_config_on_base_configs_is_merged_with_them() {
    let path = config_path("imagecustomizer/create-minimal-os.yaml");
    let config = ImageConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let base = ImageConfig::load(config_path("imagecustomizer/create-base.yaml")).unwrap();
    assert_eq!(config.partitions, base.partitions);
    assert_eq!(config.mounts, base.mounts);
    assert_eq!(config.boot, BootType::Efi);
    let list =
        fs::read_to_string(config_path("imagecustomizer/lists/azl-minimal-os.yaml")).unwrap();
    let listed: Vec<&str> = list.lines().filter_map(|l| l.strip_prefix("- ")).collect();
    let (last, lists) = config.packages.install.split_last().unwrap();
    assert_eq!(
        (last.as_str(), lists),
        (
            "e2fsprogs",
            &listed.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]
        )
    );
}

/// Image Customizer's own storage-more-than-one.yaml gives `storage` in
/// itself and in its base: refused, naming both, as Image Customizer
/// refuses it. A chain that comes round to itself is refused by name.
#[test]
fn base_configs_with_two_storages_or_a_cycle_are_refused() {
    let path = config_path("imagecustomizer/storage-more-than-one.yaml");
    let (file, field, message) = config_error(ImageConfig::load(&path));
    assert_eq!(
        (file, field.as_str()),
        (path.clone(), "storage"),
        "{message}"
    );
    assert!(message.contains("partitions-config.yaml"), "{message}");

    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    fs::write(
        &a,
        "previewFeatures: [base-configs]\nbaseConfigs:\n- path: b.yaml\n",
    )
    .unwrap();
    fs::write(
        &b,
        "previewFeatures: [base-configs]\nbaseConfigs:\n- path: a.yaml\n",
    )
    .unwrap();
    let (file, field, message) = config_error(ImageConfig::load(&a));
    assert_eq!(
        (file, field.as_str()),
        (b.clone(), "baseConfigs[0].path"),
        "{message}"
    );
    assert!(message.contains("comes round"), "{message}");
    // Without the preview feature Image Customizer asks for in each file
    // that has bases.
    fs::write(&b, "os:\n  hostname: b\n").unwrap();
    fs::write(&a, "baseConfigs:\n- path: b.yaml\n").unwrap();
    let (file, field, message) = config_error(ImageConfig::load(&a));
    assert_eq!(
        (file, field.as_str()),
        (a.clone(), "baseConfigs"),
        "{message}"
    );
    assert!(message.contains("base-configs"), "{message}");
    // One base reached twice (a diamond): refused, as Image Customizer
    // reads each file once.
    let c = dir.path().join("c.yaml");
    let d = dir.path().join("d.yaml");
    let on_d = "previewFeatures: [base-configs]\nbaseConfigs:\n- path: d.yaml\n";
    fs::write(&b, on_d).unwrap();
    fs::write(&c, on_d).unwrap();
    fs::write(&d, "os:\n  hostname: d\n").unwrap();
    fs::write(
        &a,
        "previewFeatures: [base-configs]\nbaseConfigs:\n- path: b.yaml\n- path: c.yaml\n",
    )
    .unwrap();
    let (file, _, message) = config_error(ImageConfig::load(&a));
    assert_eq!(file, c, "{message}");
    assert!(message.contains("read once already"), "{message}");
}

/// An error in an item of a merged list names the file that gave the item
/// and its place there; an empty value in a later file leaves an earlier
/// file's as it is.
#[test]
fn merged_list_errors_name_their_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("top.yaml");
    let base = dir.path().join("base.yaml");
    fs::write(
        &base,
        "storage:\n  bootType: efi\n  disks:\n  - partitionTableType: gpt\n    maxSize: 64M\n    \
         partitions:\n    - {id: esp, type: esp, size: 8M}\n    - {id: rootfs, type: root, size: \
         grow}\n  filesystems:\n  - {deviceId: esp, type: fat32, mountPoint: /boot/efi}\n  - \
         {deviceId: rootfs, type: ext4, mountPoint: /}\nos:\n  hostname: base\n  \
         additionalFiles:\n  - {content: a, destination: /a}\n",
    )
    .unwrap();
    fs::write(
        &top,
        "previewFeatures: [base-configs]\nbaseConfigs:\n- path: base.yaml\nos:\n  hostname: \"\"\n  \
         additionalFiles:\n  - {content: b, destination: /b}\n  - {content: c, destination: /c, \
         permissions: \"999\"}\n",
    )
    .unwrap();
    let (file, field, message) = config_error(ImageConfig::load(&top));
    assert_eq!(file, top, "{message}");
    assert!(
        field.starts_with("os.additionalFiles[1]"),
        "{field}: {message}"
    );
    fs::write(
        &top,
        "previewFeatures: [base-configs]\nbaseConfigs:\n- path: base.yaml\nos:\n  hostname: \"\"\n",
    )
    .unwrap();
    let config = ImageConfig::load(&top).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.hostname.as_deref(), Some("base"));
}

#[test]
fn hyperv_guest_with_packages_reports_them() {
    assert_eq!(unsupported_fields("hyperv-guest-packages.yaml"), set(&[]));
}

/// One bad input: a valid config, an edit, and the field the error names.
struct Case {
    what: &'static str,
    base: &'static str,
    edit: Edit,
    field: &'static str,
}

enum Edit {
    Json(fn(&mut Json)),
    Yaml(fn(&mut Yaml)),
    Text(fn(String) -> String),
}

fn ypath<'a>(doc: &'a mut Yaml, path: &[&str]) -> &'a mut Yaml {
    let mut node = doc;
    for key in path {
        node = match key.parse::<usize>() {
            Ok(i) => &mut node[i],
            Err(_) => node.get_mut(*key).unwrap_or_else(|| panic!("no {key}")),
        };
    }
    node
}

fn yset(doc: &mut Yaml, path: &[&str], value: &str) {
    let (last, parents) = path.split_last().expect("path");
    let map = ypath(doc, parents).as_mapping_mut().expect("mapping");
    let value: Yaml = serde_yaml_ng::from_str(value).expect("value");
    map.insert(Yaml::String((*last).into()), value);
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "unknown field in a partition",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Partitions"][1]["Size"] = json!(100)),
            field: "Disks[0].Partitions[1].Size",
        },
        Case {
            what: "unknown top-level field",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Version"] = json!(2)),
            field: "Version",
        },
        Case {
            what: "bad FsType",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Partitions"][1]["FsType"] = json!("ntfs")),
            field: "Disks[0].Partitions[1].FsType",
        },
        Case {
            what: "xfs is not made",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Partitions"][1]["FsType"] = json!("xfs")),
            field: "Disks[0].Partitions[1].FsType",
        },
        Case {
            what: "bad flag",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Partitions"][0]["Flags"] = json!(["legacy_boot"])),
            field: "Disks[0].Partitions[0].Flags[0]",
        },
        Case {
            what: "dmroot flag",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Partitions"][1]["Flags"] = json!(["dmroot"])),
            field: "Disks[0].Partitions[1].Flags[0]",
        },
        Case {
            what: "overlapping partitions",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Partitions"][1]["Start"] = json!(8)),
            field: "Disks[0].Partitions[1].Start",
        },
        Case {
            what: "partition past MaxSize",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Partitions"][1]["End"] = json!(4097)),
            field: "Disks[0].Partitions[1].End",
        },
        Case {
            what: "partition over the backup GPT",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Partitions"][1]["End"] = json!(4096)),
            field: "Disks[0].Partitions[1].End",
        },
        Case {
            what: "End 0 on a partition that is not last",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Partitions"][0]["End"] = json!(0)),
            field: "Disks[0].Partitions[0].End",
        },
        Case {
            what: "partitions out of order",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                let parts = d["Disks"][0]["Partitions"].as_array_mut().expect("list");
                parts[1]["End"] = json!(100);
                parts.swap(0, 1);
            }),
            field: "Disks[0].Partitions[1].Start",
        },
        Case {
            what: "missing root mount",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["PartitionSettings"]
                    .as_array_mut()
                    .expect("list")
                    .pop();
            }),
            field: "SystemConfigs[0].PartitionSettings",
        },
        Case {
            what: "mount of a partition without a file system",
            base: "core-legacy.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["PartitionSettings"][0]["MountPoint"] = json!("/boot/grub2")
            }),
            field: "SystemConfigs[0].PartitionSettings[0].ID",
        },
        Case {
            what: "duplicate mount point",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["PartitionSettings"][0]["MountPoint"] = json!("/")
            }),
            field: "SystemConfigs[0].PartitionSettings[1].MountPoint",
        },
        Case {
            what: "relative mount point",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["PartitionSettings"][0]["MountPoint"] = json!("boot/efi")
            }),
            field: "SystemConfigs[0].PartitionSettings[0].MountPoint",
        },
        Case {
            what: "mount of an unknown partition",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["PartitionSettings"][0]["ID"] = json!("esp")
            }),
            field: "SystemConfigs[0].PartitionSettings[0].ID",
        },
        Case {
            what: "bad MountIdentifier",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["PartitionSettings"][1]["MountIdentifier"] = json!("label")
            }),
            field: "SystemConfigs[0].PartitionSettings[1].MountIdentifier",
        },
        Case {
            what: "partlabel for a partition without a name",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["PartitionSettings"][0]["MountIdentifier"] =
                    json!("partlabel")
            }),
            field: "SystemConfigs[0].PartitionSettings[0].MountIdentifier",
        },
        Case {
            what: "legacy without a bios_grub partition",
            base: "core-legacy.json",
            edit: Edit::Json(|d| {
                d["Disks"][0]["Partitions"][0]
                    .as_object_mut()
                    .expect("partition")
                    .remove("Flags");
            }),
            field: "SystemConfigs[0].BootType",
        },
        Case {
            what: "efi without an esp",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Partitions"][0]["Flags"] = json!([])),
            field: "SystemConfigs[0].BootType",
        },
        Case {
            what: "two disks",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                let disk = d["Disks"][0].clone();
                d["Disks"].as_array_mut().expect("list").push(disk);
            }),
            field: "Disks[1]",
        },
        Case {
            what: "two system configs",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                let system = d["SystemConfigs"][0].clone();
                d["SystemConfigs"]
                    .as_array_mut()
                    .expect("list")
                    .push(system);
            }),
            field: "SystemConfigs[1]",
        },
        Case {
            what: "a package list that is not there",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["PackageLists"] = json!(["packagelists/missing.json"])
            }),
            field: "SystemConfigs[0].PackageLists[0]",
        },
        Case {
            what: "a post-install script that is not there",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["PostInstallScripts"] = json!([{"Path": "a.sh"}])
            }),
            field: "SystemConfigs[0].PostInstallScripts[0].Path",
        },
        Case {
            what: "a script with both a path and content",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                d["scripts"] = serde_yaml_ng::from_str(
                    "postCustomization:\n- {path: hyperv-guest.yaml, content: 'true'}",
                )
                .expect("yaml")
            }),
            field: "scripts.postCustomization[0].content",
        },
        Case {
            what: "a script's variable without a name",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                d["scripts"] = serde_yaml_ng::from_str(
                    "finalizeCustomization:\n- {content: 'true', environmentVariables: {'a=b': c}}",
                )
                .expect("yaml")
            }),
            field: "scripts.finalizeCustomization[0].environmentVariables[\"a=b\"]",
        },
        Case {
            what: "an SELinux mode the toolkit does not know",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["KernelCommandLine"]["SELinux"] = json!("strict")
            }),
            field: "SystemConfigs[0].KernelCommandLine.SELinux",
        },
        Case {
            what: "compressed artifact",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Artifacts"][0]["Compression"] = json!("tar.gz")),
            field: "Disks[0].Artifacts[0].Compression",
        },
        Case {
            what: "unknown artifact type",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Artifacts"][0]["Type"] = json!("vhdfixed")),
            field: "Disks[0].Artifacts[0].Type",
        },
        Case {
            what: "MBR disk",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["PartitionTableType"] = json!("mbr")),
            field: "Disks[0].PartitionTableType",
        },
        Case {
            what: "TargetDisk present",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["Disks"][0]["TargetDisk"] = json!({"Type": "path", "Value": "/dev/sda"})
            }),
            field: "Disks[0].TargetDisk",
        },
        Case {
            what: "MaxSize of the wrong type",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["MaxSize"] = json!("4096")),
            field: "Disks[0].MaxSize",
        },
        Case {
            what: "negative Start",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["Disks"][0]["Partitions"][0]["Start"] = json!(-1)),
            field: "Disks[0].Partitions[0].Start",
        },
        Case {
            what: "bad permissions",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["AdditionalFiles"]["/usr/share/imgconv/issue"][1]
                    ["Permissions"] = json!("4755")
            }),
            field: "SystemConfigs[0].AdditionalFiles[\"/usr/share/imgconv/issue\"][1].Permissions",
        },
        Case {
            what: "relative file destination",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["AdditionalFiles"]["files/cloud.cfg"] = json!("etc/cloud.cfg")
            }),
            field: "SystemConfigs[0].AdditionalFiles[\"files/cloud.cfg\"]",
        },
        Case {
            what: "bad hostname",
            base: "core-efi.json",
            edit: Edit::Json(|d| d["SystemConfigs"][0]["Hostname"] = json!("azure_linux")),
            field: "SystemConfigs[0].Hostname",
        },
        Case {
            what: "duplicate key",
            base: "core-efi.json",
            edit: Edit::Text(|t| {
                t.replacen(
                    "\"MaxSize\": 4096,",
                    "\"MaxSize\": 4096, \"MaxSize\": 8192,",
                    1,
                )
            }),
            field: "line 5, column 38",
        },
        Case {
            what: "JSON syntax error",
            base: "core-efi.json",
            edit: Edit::Text(|t| t.replacen("\"gpt\",", "\"gpt\"", 1)),
            field: "line 5, column 13",
        },
        // Image Customizer's YAML.
        Case {
            what: "bad size string",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["storage", "disks", "0", "partitions", "2", "size"],
                    "4GB",
                )
            }),
            field: "storage.disks[0].partitions[2].size",
        },
        Case {
            what: "size without a unit",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["storage", "disks", "0", "maxSize"], "4096")),
            field: "storage.disks[0].maxSize",
        },
        Case {
            what: "size ending in a multi-byte character",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["storage", "disks", "0", "partitions", "0", "size"],
                    "\"8\u{feff}\"",
                )
            }),
            field: "storage.disks[0].partitions[0].size",
        },
        Case {
            what: "size not a whole MiB",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["storage", "disks", "0", "partitions", "0", "size"],
                    "1000K",
                )
            }),
            field: "storage.disks[0].partitions[0].size",
        },
        Case {
            what: "grow on a partition that is not last",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["storage", "disks", "0", "partitions", "1", "size"],
                    "grow",
                )
            }),
            field: "storage.disks[0].partitions[1].size",
        },
        Case {
            what: "end and size both given",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["storage", "disks", "0", "partitions", "1", "end"],
                    "600M",
                )
            }),
            field: "storage.disks[0].partitions[1].size",
        },
        Case {
            what: "partitions past maxSize",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["storage", "disks", "0", "maxSize"], "509M")),
            field: "storage.disks[0].maxSize",
        },
        Case {
            what: "unknown field in os",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["os", "timezone"], "UTC")),
            field: "os.timezone",
        },
        Case {
            what: "unknown partition type",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["storage", "disks", "0", "partitions", "1", "type"],
                    "boot",
                )
            }),
            field: "storage.disks[0].partitions[1].type",
        },
        Case {
            what: "bad filesystem type",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["storage", "filesystems", "1", "type"], "ext3")),
            field: "storage.filesystems[1].type",
        },
        Case {
            what: "relative mount point",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["storage", "filesystems", "1", "mountPoint"], "boot")),
            field: "storage.filesystems[1].mountPoint",
        },
        Case {
            what: "duplicate mount point",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["storage", "filesystems", "2", "mountPoint", "path"],
                    "/boot",
                )
            }),
            field: "storage.filesystems[2].mountPoint.path",
        },
        Case {
            what: "missing root mount",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                ypath(d, &["storage", "filesystems"])
                    .as_sequence_mut()
                    .expect("list")
                    .pop();
            }),
            field: "storage.filesystems",
        },
        Case {
            what: "mount of a partition without a file system",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                ypath(d, &["storage", "filesystems", "1"])
                    .as_mapping_mut()
                    .expect("mapping")
                    .remove("type");
            }),
            field: "storage.filesystems[1].mountPoint",
        },
        Case {
            what: "legacy without a bios-grub partition",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(d, &["storage", "bootType"], "legacy");
            }),
            field: "storage.bootType",
        },
        Case {
            what: "efi without an esp",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["storage", "disks", "0", "partitions", "0", "type"],
                    "linux-generic",
                );
                yset(
                    d,
                    &["storage", "filesystems", "0", "mountPoint", "path"],
                    "/efi",
                );
            }),
            field: "storage.bootType",
        },
        Case {
            what: "two disks",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                let disk = ypath(d, &["storage", "disks", "0"]).clone();
                ypath(d, &["storage", "disks"])
                    .as_sequence_mut()
                    .expect("list")
                    .push(disk);
            }),
            field: "storage.disks[1]",
        },
        Case {
            what: "pxe output",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["output", "image", "format"], "pxe-tar")),
            field: "output.image.format",
        },
        Case {
            what: "packages removed",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["os", "packages"], "{install: [vim], remove: [nano]}")),
            field: "os.packages.remove",
        },
        Case {
            what: "verity present",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["storage", "verity"], "[]")),
            field: "storage.verity",
        },
        Case {
            what: "additional file with source and content",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["os", "additionalFiles", "0", "content"], "abc")),
            field: "os.additionalFiles[0].content",
        },
        Case {
            what: "bad permissions",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["os", "additionalFiles", "1", "permissions"], "\"rw\"")),
            field: "os.additionalFiles[1].permissions",
        },
        Case {
            what: "BIOS boot partition not at 1 MiB",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(d, &["storage", "bootType"], "legacy");
                yset(
                    d,
                    &["storage", "disks", "0", "partitions", "1", "type"],
                    "bios-grub",
                );
                ypath(d, &["storage", "filesystems"])
                    .as_sequence_mut()
                    .expect("list")
                    .remove(1);
            }),
            field: "storage.disks[0].partitions[1].start",
        },
        Case {
            what: "toolkit UID not a number",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["Users"] = json!([{"Name": "a"}, {"Name": "b", "UID": "x"}])
            }),
            field: "SystemConfigs[0].Users[1].UID",
        },
        Case {
            what: "toolkit UID out of range",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["Users"] = json!([{"Name": "a", "UID": "60001"}])
            }),
            field: "SystemConfigs[0].Users[0].UID",
        },
        Case {
            what: "toolkit expiry out of range",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["Users"] = json!([{"Name": "a", "PasswordExpiresDays": -2}])
            }),
            field: "SystemConfigs[0].Users[0].PasswordExpiresDays",
        },
        Case {
            what: "toolkit key file missing",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["Users"] =
                    json!([{"Name": "a", "SSHPubKeyPaths": ["missing.pub"]}])
            }),
            field: "SystemConfigs[0].Users[0].SSHPubKeyPaths[0]",
        },
        Case {
            what: "toolkit user field unknown",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["Users"] = json!([{"Name": "a", "Shell": "/bin/sh"}])
            }),
            field: "SystemConfigs[0].Users[0].Shell",
        },
        Case {
            what: "toolkit GID not a number",
            base: "core-efi.json",
            edit: Edit::Json(|d| {
                d["SystemConfigs"][0]["Groups"] = json!([{"Name": "g", "GID": "-1"}])
            }),
            field: "SystemConfigs[0].Groups[0].GID",
        },
        Case {
            what: "customizer uid out of range",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["os", "users"], "[{name: a, uid: 60001}]")),
            field: "os.users[0].uid",
        },
        Case {
            what: "customizer password type unknown",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["os", "users"],
                    "[{name: a}, {name: b, password: {type: secret, value: x}}]",
                )
            }),
            field: "os.users[1].password.type",
        },
        Case {
            what: "customizer locked password with a value",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["os", "users"],
                    "[{name: a, password: {type: locked, value: x}}]",
                )
            }),
            field: "os.users[0].password.value",
        },
        Case {
            what: "customizer password file missing",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["os", "users"],
                    "[{name: a, password: {type: hashed-file, value: pw}}]",
                )
            }),
            field: "os.users[0].password.value",
        },
        Case {
            what: "customizer gid negative",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| yset(d, &["os", "groups"], "[{name: g, gid: -1}]")),
            field: "os.groups[0].gid",
        },
        Case {
            what: "customizer expiry out of range",
            base: "hyperv-guest.yaml",
            edit: Edit::Yaml(|d| {
                yset(
                    d,
                    &["os", "users"],
                    "[{name: a, passwordExpiresDays: 100000}]",
                )
            }),
            field: "os.users[0].passwordExpiresDays",
        },
        Case {
            what: "YAML syntax error",
            base: "hyperv-guest.yaml",
            edit: Edit::Text(|t| t.replacen("  bootType: efi", "  bootType: [efi", 1)),
            field: "line 5, column 8",
        },
    ]
}

#[test]
fn bad_inputs_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = cases();
    assert!(cases.len() >= 15);
    for case in cases {
        let original = text(case.base);
        let edited = match case.edit {
            Edit::Json(edit) => {
                let mut doc: Json = serde_json::from_str(&original).expect("json");
                edit(&mut doc);
                serde_json::to_string_pretty(&doc).expect("json")
            }
            Edit::Yaml(edit) => {
                let mut doc: Yaml = serde_yaml_ng::from_str(&original).expect("yaml");
                edit(&mut doc);
                serde_yaml_ng::to_string(&doc).expect("yaml")
            }
            Edit::Text(edit) => {
                let edited = edit(original.clone());
                assert_ne!(edited, original, "{}: the edit changed nothing", case.what);
                edited
            }
        };
        let path = dir.path().join(case.base);
        fs::write(&path, edited).expect("write");
        let result = ImageConfig::load(&path).map_err(config_parts);
        let Err(Ok((file, field, message))) = result else {
            panic!(
                "{}: expected a configuration error, got {result:?}",
                case.what
            );
        };
        assert_eq!(file, path, "{}", case.what);
        assert_eq!(field, case.field, "{}: {message}", case.what);
        assert!(!message.is_empty(), "{}", case.what);
        // The message, as printed, names both.
        let shown = imgbuild::error::config(file, field, message).to_string();
        assert!(
            shown.contains(case.base) && shown.contains(case.field),
            "{shown}"
        );
    }
}

/// Every read of `text`, by either reader, returns rather than panics.
fn read_both(text: &str) {
    let _ = toolkit::parse(text, "fuzz.json");
    let _ = customizer::parse(text, "fuzz.yaml");
}

const VALID: [&str; 3] = ["core-efi.json", "core-legacy.json", "hyperv-guest.yaml"];

#[test]
fn truncated_configs_do_not_panic() {
    for name in VALID {
        let original = text(name);
        for (cut, _) in original.char_indices() {
            read_both(&original[..cut]);
        }
    }
}

proptest! {
    /// Random edits of the valid configs, with the characters that matter
    /// to either syntax and the digits of sizes.
    #[test]
    fn mutated_configs_do_not_panic(
        which in 0usize..VALID.len(),
        edits in proptest::collection::vec(
            (any::<proptest::sample::Index>(), proptest::sample::select(vec![
                "", "0", "9", "-", "{", "}", "[", "]", ":", ",", "\"", "\n", " ", "- ",
                "&a ", "*a", "!!str ", "?", "#", "18446744073709551616", "1e999", "null",
                "grow", "0M", "/", "..", "\t", "\u{feff}", "'",
            ])),
            1..6,
        ),
    ) {
        let mut t = text(VALID[which]);
        for (at, insert) in edits {
            let mut cut = at.index(t.len() + 1);
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            // Replace the character there (if any) with the insert.
            let end = t[cut..].chars().next().map_or(cut, |c| cut + c.len_utf8());
            t.replace_range(cut..end, insert);
        }
        read_both(&t);
    }

    /// Well-formed documents whose values are replaced by others of any
    /// type: the readers must report, not panic.
    #[test]
    fn retyped_values_do_not_panic(
        which in 0usize..VALID.len(),
        pick in any::<proptest::sample::Index>(),
        value in proptest::sample::select(vec![
            json!(null), json!(true), json!(-1), json!(0), json!(u64::MAX), json!(1.5),
            json!(""), json!("grow"), json!("/"), json!([]), json!({}), json!([[]]),
            json!({"a": 1}), json!(["esp", "grub"]), json!("0G"), json!("99999999999T"),
        ]),
    ) {
        let name = VALID[which];
        let original = text(name);
        let mut doc: Json = if name.ends_with(".json") {
            serde_json::from_str(&original).expect("json")
        } else {
            serde_yaml_ng::from_str(&original).expect("yaml")
        };
        let mut slots = Vec::new();
        collect_pointers(&doc, String::new(), &mut slots);
        let target = slots[pick.index(slots.len())].clone();
        if let Some(slot) = doc.pointer_mut(&target) {
            *slot = value;
        }
        if name.ends_with(".json") {
            let _ = toolkit::parse(&doc.to_string(), name);
        } else {
            let _ = customizer::parse(&serde_yaml_ng::to_string(&doc).expect("yaml"), name);
        }
    }
}

/// The JSON pointer of every value in `doc`.
fn collect_pointers(doc: &Json, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match doc {
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_pointers(item, format!("{at}/{i}"), out);
            }
        }
        Json::Object(map) => {
            for (k, v) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                collect_pointers(v, format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn published_toolkit_scripts_run_as_the_toolkit_runs_them() {
    // Azure Linux 3.0's qemu-guest.json (FinalizeImageScripts) and
    // core-container.json (PostInstallScripts), verbatim.
    let qemu = ImageConfig::load(config_path("azurelinux/qemu-guest.json")).unwrap();
    let dir = config_path("azurelinux").canonicalize().unwrap();
    assert_eq!(qemu.scripts.len(), 1);
    let s = &qemu.scripts[0];
    assert_eq!(s.stage, ScriptStage::Finalize);
    assert_eq!(s.field, "SystemConfigs[0].FinalizeImageScripts[0]");
    assert_eq!(s.program.name, "scripts/cleanup.sh");
    assert_eq!(
        s.program.argv,
        ["/bin/sh", "-c", "/_imageconfigs/scripts/cleanup.sh"]
    );
    assert_eq!(s.program.binds, [(dir, "/_imageconfigs".to_string())]);
    let container = ImageConfig::load(config_path("azurelinux/core-container.json")).unwrap();
    assert_eq!(container.scripts.len(), 1);
    assert_eq!(container.scripts[0].stage, ScriptStage::PostCustomization);
    assert_eq!(
        container.scripts[0].program.name,
        "postinstallscripts/core-container/cleanup.sh"
    );
}

#[test]
fn published_customizer_scripts_keep_their_own_directory() {
    // Image Customizer's runscripts-config.yaml, verbatim, as the base of a
    // configuration elsewhere: its script paths stay its directory's.
    let dir = tempfile::tempdir().unwrap();
    let published = config_path("imagecustomizer/runscripts-config.yaml");
    let top = dir.path().join("top.yaml");
    fs::write(
        &top,
        format!(
            "previewFeatures: [base-configs]\nbaseConfigs:\n- path: {}\nstorage:\n  bootType: efi\n  \
             disks:\n  - partitionTableType: gpt\n    partitions:\n    - {{id: esp, type: esp, size: 8M}}\n    \
             - {{id: rootfs, size: 64M}}\n  filesystems:\n  - {{deviceId: esp, type: fat32, mountPoint: \
             /boot/efi}}\n  - {{deviceId: rootfs, type: ext4, mountPoint: /}}\n",
            published.display()
        ),
    )
    .unwrap();
    let config = ImageConfig::load(&top).unwrap_or_else(|e| panic!("{e}"));
    let scripts: Vec<_> = config
        .scripts
        .iter()
        .map(|s| (s.stage, s.program.name.as_str()))
        .collect();
    assert_eq!(
        scripts,
        [
            (
                ScriptStage::PostCustomization,
                "scripts/postcustomizationscript.sh"
            ),
            (ScriptStage::PostCustomization, "postCustomization[1]"),
            (
                ScriptStage::Finalize,
                "scripts/finalizecustomizationscript.sh"
            ),
        ]
    );
    // Each sees its own file's directory, as Image Customizer runs them.
    let own = config_path("imagecustomizer").canonicalize().unwrap();
    let file = &config.scripts[0].program;
    assert_eq!(
        file.argv,
        [
            "/bin/sh",
            "/_imageconfigs/scripts/postcustomizationscript.sh"
        ]
    );
    assert_eq!(file.binds, [(own.clone(), "/_imageconfigs".to_string())]);
    let inline = &config.scripts[1].program;
    assert_eq!(inline.binds, [(own, "/_imageconfigs".to_string())]);
    assert_eq!(inline.argv, ["/bin/sh"]);
    assert_eq!(inline.args, ["hello", "world"]);
    assert!(inline
        .script
        .as_deref()
        .unwrap()
        .contains("$fruit and $vegetable"));
    assert_eq!(
        inline.env,
        [
            ("fruit".to_string(), "bananas".to_string()),
            ("vegetable".to_string(), "carrots".to_string())
        ]
    );
}

#[test]
fn selinux_modes_in_both_spellings() {
    let mut doc: Json = serde_json::from_str(&text("core-efi.json")).expect("json");
    for (mode, want) in [
        ("enforcing", Some(SelinuxMode::Enforcing)),
        ("permissive", Some(SelinuxMode::Permissive)),
        ("force_enforcing", Some(SelinuxMode::ForceEnforcing)),
        ("", None),
    ] {
        doc["SystemConfigs"][0]["KernelCommandLine"]["SELinux"] = json!(mode);
        let config = toolkit::parse(&doc.to_string(), "core-efi.json").expect(mode);
        assert_eq!(config.selinux, want, "{mode}");
    }
    for (mode, want) in [
        ("disabled", Some(SelinuxMode::Disabled)),
        ("force-enforcing", Some(SelinuxMode::ForceEnforcing)),
        ("default", None),
    ] {
        let yaml = text("hyperv-guest.yaml").replace(
            "os:\n  hostname: hyperv-guest\n",
            &format!("os:\n  selinux:\n    mode: {mode}\n  hostname: hyperv-guest\n"),
        );
        let config = customizer::parse(&yaml, "hyperv-guest.yaml").expect(mode);
        assert_eq!(config.selinux, want, "{mode}");
    }
    assert_eq!(
        SelinuxMode::ForceEnforcing.kernel_args(),
        ["security=selinux", "selinux=1", "enforcing=1"]
    );
    assert_eq!(SelinuxMode::Disabled.kernel_args(), ["selinux=0"]);
}

#[test]
fn published_installer_menu_is_refused_by_name() {
    // Azure Linux 3.0's full.json: systems for the ISO installer to offer,
    // no disk.
    let e = ImageConfig::load(config_path("azurelinux/full.json")).unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("full.json"), "{shown}");
    assert!(shown.contains("ISO installer"), "{shown}");
}

/// A toolkit configuration (core-efi.json's) with `fields` added to its
/// system configuration, in `dir`.
fn toolkit_with(dir: &Path, fields: Json) -> PathBuf {
    let mut doc: Json = serde_json::from_str(&text("core-efi.json")).expect("json");
    for (k, v) in fields.as_object().expect("fields") {
        doc["SystemConfigs"][0][k] = v.clone();
    }
    let path = dir.join("users.json");
    fs::write(&path, doc.to_string()).expect("write");
    path
}

#[test]
fn toolkit_users_and_groups_read_as_the_toolkit_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("keys")).unwrap();
    fs::write(
        dir.path().join("keys/a.pub"),
        "ssh-ed25519 AAAA a@host\r\nssh-rsa BBBB a@other\n",
    )
    .unwrap();
    let path = toolkit_with(
        dir.path(),
        json!({
            "Groups": [{"Name": "devs"}, {"Name": "ops", "GID": "2000"}],
            "Users": [
                {
                    "Name": "alice",
                    "UID": "1500",
                    "PasswordHashed": true,
                    "Password": "$6$salt$hash",
                    "PasswordExpiresDays": 90,
                    "SSHPubKeyPaths": ["keys/a.pub"],
                    "SSHPubKeys": ["ssh-ed25519 CCCC a@third"],
                    "PrimaryGroup": "ops",
                    "SecondaryGroups": ["devs", "wheel,video"],
                    "StartupCommand": "/bin/zsh",
                    "HomeDirectory": "/srv/alice"
                },
                {"Name": "bob", "Password": "s3cret", "PasswordExpiresDays": 0},
                {"Name": "carol", "PasswordExpiresDays": -1}
            ]
        }),
    );
    let config = ImageConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let declared = |field: &str| Declared {
        file: path.clone(),
        field: field.into(),
        batch: 0,
    };
    assert_eq!(
        config.groups,
        [
            Group {
                name: "devs".into(),
                gid: None,
                action: Action::Make,
                declared: declared("SystemConfigs[0].Groups[0]"),
            },
            Group {
                name: "ops".into(),
                gid: Some(2000),
                action: Action::Make,
                declared: declared("SystemConfigs[0].Groups[1]"),
            },
        ]
    );
    assert_eq!(
        config.users[0],
        User {
            name: "alice".into(),
            uid: Some(1500),
            password: Some(Password::Hashed("$6$salt$hash".into())),
            password_expires: Some(PasswordExpiry::Days(90)),
            ssh_public_keys: Some(vec![
                "ssh-ed25519 AAAA a@host".into(),
                "ssh-rsa BBBB a@other".into(),
                "ssh-ed25519 CCCC a@third".into(),
            ]),
            ssh_layout: SshLayout::Toolkit {
                copies: vec![(
                    "a.pub".into(),
                    b"ssh-ed25519 AAAA a@host\r\nssh-rsa BBBB a@other\n".to_vec()
                )],
            },
            primary_group: Some("ops".into()),
            secondary_groups: vec!["devs".into(), "wheel".into(), "video".into()],
            startup_command: Some("/bin/zsh".into()),
            home_directory: Some("/srv/alice".into()),
            action: Action::Make,
            declared: declared("SystemConfigs[0].Users[0]"),
        }
    );
    assert_eq!(
        config.users[1].password,
        Some(Password::Plain("s3cret".into()))
    );
    assert_eq!(config.users[1].password_expires, None);
    assert_eq!(config.users[1].ssh_public_keys, None);
    assert_eq!(config.users[2].password, None);
    assert_eq!(
        config.users[2].password_expires,
        Some(PasswordExpiry::Never)
    );
    // No root entry: root's password is set never to expire.
    assert_eq!(
        config.users[3],
        User {
            name: "root".into(),
            password_expires: Some(PasswordExpiry::Never),
            action: Action::Change,
            declared: declared("SystemConfigs[0].Users"),
            ..User::default()
        }
    );

    // root: changed, its password written whatever is given; its UID,
    // home and primary group ignored as the toolkit ignores them.
    let path = toolkit_with(
        dir.path(),
        json!({"Users": [{"Name": "root", "UID": "5", "HomeDirectory": "/x", "PrimaryGroup": "g"}]}),
    );
    let config = ImageConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.users,
        [User {
            name: "root".into(),
            password: Some(Password::Locked),
            ssh_layout: SshLayout::Toolkit { copies: vec![] },
            action: Action::Change,
            declared: declared("SystemConfigs[0].Users[0]"),
            ..User::default()
        }]
    );
    // Neither: nothing to do with accounts.
    let path = toolkit_with(dir.path(), json!({"Users": [], "Groups": null}));
    let config = ImageConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.users.is_empty() && config.groups.is_empty());
}

#[test]
fn customizer_users_and_groups_read_as_its_documentation_says() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("id.pub"), "ssh-ed25519 AAAA me@host\n").unwrap();
    fs::write(dir.path().join("pw.txt"), "plain\n").unwrap();
    fs::write(dir.path().join("hash.txt"), "$6$s$h\n").unwrap();
    let mut doc: Yaml = serde_yaml_ng::from_str(&text("hyperv-guest.yaml")).unwrap();
    yset(
        &mut doc,
        &["os", "groups"],
        "[{name: devs}, {name: ops, gid: 2000}]",
    );
    yset(
        &mut doc,
        &["os", "users"],
        "[{name: a, uid: 1500, password: {type: locked}, passwordExpiresDays: 0, \
         sshPublicKeyPaths: [id.pub], sshPublicKeys: [ssh-rsa BBBB], primaryGroup: ops, \
         secondaryGroups: [devs], startupCommand: /bin/sh, homeDirectory: /var/home/a}, \
         {name: b, password: {type: plain-text, value: pw}, passwordExpiresDays: -1}, \
         {name: c, password: {type: hashed, value: $6$x$y}}, \
         {name: d, password: {type: plain-text-file, value: pw.txt}}, \
         {name: e, password: {type: hashed-file, value: hash.txt}}]",
    );
    let path = dir.path().join("users.yaml");
    fs::write(&path, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    let config = ImageConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.groups.len(), 2);
    assert_eq!(config.groups[1].gid, Some(2000));
    assert_eq!(config.groups[1].action, Action::MakeOrChange);
    assert_eq!(config.groups[1].declared.field, "os.groups[1]");
    assert_eq!(
        config.users[0],
        User {
            name: "a".into(),
            uid: Some(1500),
            password: Some(Password::Locked),
            password_expires: Some(PasswordExpiry::Days(0)),
            ssh_public_keys: Some(vec![
                "ssh-ed25519 AAAA me@host".into(),
                "ssh-rsa BBBB".into()
            ]),
            ssh_layout: SshLayout::Customizer,
            primary_group: Some("ops".into()),
            secondary_groups: vec!["devs".into()],
            startup_command: Some("/bin/sh".into()),
            home_directory: Some("/var/home/a".into()),
            action: Action::MakeOrChange,
            declared: Declared {
                file: path.clone(),
                field: "os.users[0]".into(),
                batch: 0,
            },
        }
    );
    let passwords: Vec<_> = config.users[1..]
        .iter()
        .map(|u| u.password.clone().unwrap())
        .collect();
    assert_eq!(
        passwords,
        [
            Password::Plain("pw".into()),
            Password::Hashed("$6$x$y".into()),
            Password::Plain("plain\n".into()),
            Password::Hashed("$6$s$h".into()),
        ]
    );
    assert_eq!(
        config.users[1].password_expires,
        Some(PasswordExpiry::Never)
    );
}

/// In a chain of baseConfigs, a base's key and password files are read
/// from its own directory, and each item says which file and batch it
/// comes from.
#[test]
fn customizer_users_of_a_chain_keep_their_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("base");
    fs::create_dir(&sub).unwrap();
    fs::write(sub.join("id.pub"), "ssh-ed25519 BASE\n").unwrap();
    fs::write(sub.join("pw"), "from-base\n").unwrap();
    let base = sub.join("base.yaml");
    fs::write(
        &base,
        "os:\n  groups:\n  - name: basegroup\n  users:\n  - name: one\n    sshPublicKeyPaths: \
         [id.pub]\n    password: {type: plain-text-file, value: pw}\n",
    )
    .unwrap();
    let top = customizer_on(
        dir.path(),
        "base/base.yaml",
        "os:\n  users:\n  - name: two\n",
    );
    let config = ImageConfig::load(&top).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.users[0].ssh_public_keys,
        Some(vec!["ssh-ed25519 BASE".into()])
    );
    assert_eq!(
        config.users[0].password,
        Some(Password::Plain("from-base\n".into()))
    );
    let places: Vec<_> = config
        .groups
        .iter()
        .map(|g| &g.declared)
        .chain(config.users.iter().map(|u| &u.declared))
        .map(|d| (d.file.clone(), d.field.as_str(), d.batch))
        .collect();
    assert_eq!(
        places,
        [
            (base.clone(), "os.groups[0]", 0),
            (base.clone(), "os.users[0]", 0),
            (top.clone(), "os.users[0]", 1),
        ]
    );
    // An error in a base's user names the base.
    fs::write(&base, "os:\n  users:\n  - name: one\n    uid: -5\n").unwrap();
    let (file, field, message) = config_error(ImageConfig::load(&top));
    assert_eq!(
        (file, field.as_str()),
        (base, "os.users[0].uid"),
        "{message}"
    );
}

/// A configuration in `dir` on the base `base` (with storage), with `rest`.
fn customizer_on(dir: &Path, base: &str, rest: &str) -> PathBuf {
    let top = dir.join("top.yaml");
    fs::write(
        &top,
        format!(
            "previewFeatures: [base-configs]\nbaseConfigs:\n- path: {base}\nstorage:\n  bootType: \
             efi\n  disks:\n  - partitionTableType: gpt\n    partitions:\n    - {{id: esp, type: \
             esp, size: 8M}}\n    - {{id: rootfs, size: 64M}}\n  filesystems:\n  - {{deviceId: esp, \
             type: fat32, mountPoint: /boot/efi}}\n  - {{deviceId: rootfs, type: ext4, mountPoint: \
             /}}\n{rest}"
        ),
    )
    .expect("write");
    top
}

#[test]
fn published_core_ova_changes_only_root() {
    // Azure Linux 3.0's core-ova.json, verbatim: `Users: [{"Name": "root"}]`.
    let path = config_path("azurelinux/core-ova.json");
    let root = User {
        name: "root".into(),
        password: Some(Password::Locked),
        ssh_layout: SshLayout::Toolkit { copies: vec![] },
        action: Action::Change,
        declared: Declared {
            file: path.clone(),
            field: "SystemConfigs[0].Users[0]".into(),
            batch: 0,
        },
        ..User::default()
    };
    // Its SELinux mode is read by a build that sets SELinux modes; any
    // error the file meets is that, never its users.
    match ImageConfig::load(&path) {
        Ok(config) => assert_eq!(config.users, std::slice::from_ref(&root)),
        Err(e) => assert_eq!(
            e.field_name(),
            Some("SystemConfigs[0].KernelCommandLine.SELinux"),
            "{e}"
        ),
    }
    let text = text("azurelinux/core-ova.json").replace(r#""SELinux": "permissive""#, "");
    let config = toolkit::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.users, [root]);
    assert!(config.groups.is_empty());
    assert_eq!(config.hostname.as_deref(), Some("mariner"));
}
