//! What the command-line tests share: running the binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The imgconv binary, without `SOURCE_DATE_EPOCH` from the environment.
pub(crate) fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_imgconv"));
    c.env_remove("SOURCE_DATE_EPOCH");
    c
}

/// Runs imgconv with `args` to the end.
pub(crate) fn imgconv(args: &[&str]) -> Output {
    command().args(args).output().unwrap()
}

/// `imgconv build CONFIG --rootfs ROOTFS --to TO --output-dir OUT`, run
/// to the end.
pub(crate) fn build_from(config: &Path, rootfs: &Path, to: &str, out: &Path) -> Output {
    imgconv(&[
        "build",
        s(config),
        "--rootfs",
        s(rootfs),
        "--to",
        to,
        "--output-dir",
        s(out),
    ])
}

/// A path as the `&str` an argument list takes.
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A toolkit image configuration shaped like Azure Linux's core-efi (and,
/// with `bios`, core-legacy): an optional 8 MiB BIOS boot partition, an
/// ESP at /boot/efi ending at `esp_end` MiB and a `root_fs` root filling a
/// `max_mib` disk; the artifact and host are called `name`. Written as
/// `<dir>/<name>.json`.
pub(crate) fn toolkit_config(
    dir: &Path,
    name: &str,
    boot_type: &str,
    bios: bool,
    esp_end: u32,
    root_fs: &str,
    max_mib: u32,
) -> std::path::PathBuf {
    let (bios_part, esp_start) = if bios {
        (
            r#"{"ID": "bios", "Flags": ["bios_grub"], "Start": 1, "End": 9},"#,
            9,
        )
    } else {
        ("", 1)
    };
    let text = format!(
        r#"{{
  "Disks": [{{
    "PartitionTableType": "gpt",
    "MaxSize": {max_mib},
    "Artifacts": [{{"Name": "{name}", "Type": "vhdx"}}],
    "Partitions": [
      {bios_part}
      {{"ID": "boot", "Flags": ["esp", "boot"], "Start": {esp_start}, "End": {esp_end}, "FsType": "fat32"}},
      {{"ID": "rootfs", "Name": "rootfs", "Start": {esp_end}, "End": 0, "FsType": "{root_fs}"}}
    ]
  }}],
  "SystemConfigs": [{{
    "Name": "Standard",
    "BootType": "{boot_type}",
    "PartitionSettings": [
      {{"ID": "boot", "MountPoint": "/boot/efi", "MountOptions": "umask=0077"}},
      {{"ID": "rootfs", "MountPoint": "/"}}
    ],
    "Hostname": "{name}",
    "KernelCommandLine": {{"ExtraCommandLine": "console=ttyS0"}}
  }}]
}}
"#
    );
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Every entry of a tree (directory or archive) by path: what it is, its
/// mode, owners, xattrs, a file's bytes and a file's or link's time.
pub(crate) fn tree_of(path: &Path) -> BTreeMap<String, String> {
    let mut tree = BTreeMap::new();
    imgbuild::Rootfs::open(path)
        .unwrap()
        .walk(&mut |e, data| {
            let mut bytes = Vec::new();
            data.read_to_end(&mut bytes).unwrap();
            // A directory's time changes as the unpacker fills it; a hard
            // link's xattrs are its target's.
            let time = match e.kind {
                imgbuild::rootfs::EntryKind::Dir => 0,
                _ => e.mtime,
            };
            let xattrs = match e.kind {
                imgbuild::rootfs::EntryKind::HardLink { .. } => &[][..],
                _ => &e.xattrs[..],
            };
            let mut hasher = std::hash::DefaultHasher::new();
            std::hash::Hash::hash(&bytes, &mut hasher);
            tree.insert(
                e.path.clone(),
                format!(
                    "{:?} {:o} {}:{} {:?} {time} {:x}",
                    e.kind,
                    e.mode,
                    e.uid,
                    e.gid,
                    xattrs,
                    std::hash::Hasher::finish(&hasher)
                ),
            );
            Ok(())
        })
        .unwrap();
    tree
}

/// An Image Customizer configuration `<dir>/<name>.yaml`: an ESP and an
/// ext4 root on a 200 MiB disk, then `rest` (top-level sections).
pub(crate) fn customizer_config(dir: &Path, name: &str, rest: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let storage = "storage:
  bootType: efi
  disks:
  - partitionTableType: gpt
    maxSize: 200M
    partitions:
    - {id: esp, type: esp, size: 96M}
    - {id: rootfs, type: root, size: grow}
  filesystems:
  - {deviceId: esp, type: fat32, mountPoint: /boot/efi}
  - {deviceId: rootfs, type: ext4, mountPoint: /}
";
    std::fs::write(&path, format!("{storage}{rest}")).unwrap();
    path
}

/// A directory anyone may write, for a run as another user.
pub(crate) fn open_dir(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    out
}

/// imgconv run as nobody (uid and gid 65534, no groups), its scratch
/// files in the output directory (`--output-dir`, or `-o`'s directory).
pub(crate) fn imgconv_unprivileged(args: &[&str]) -> Output {
    let mut all = vec![
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        env!("CARGO_BIN_EXE_imgconv"),
    ];
    all.extend_from_slice(args);
    let tmp = args
        .windows(2)
        .find_map(|w| match w[0] {
            "--output-dir" => Some(PathBuf::from(w[1])),
            "-o" => Path::new(w[1]).parent().map(Path::to_path_buf),
            _ => None,
        })
        .unwrap_or_else(|| "/tmp".into());
    std::process::Command::new("setpriv")
        .args(&all)
        .env_remove("SOURCE_DATE_EPOCH")
        .env("TMPDIR", tmp)
        .output()
        .expect("setpriv (util-linux) runs the command as another user")
}

/// Adds JSON fields (`"PackageLists": [...],`) to the system configuration
/// of a [`toolkit_config`] file.
pub(crate) fn add_to_system_config(config: &Path, fields: &str) {
    let text = std::fs::read_to_string(config).unwrap().replace(
        r#""Name": "Standard","#,
        &format!(r#""Name": "Standard", {fields}"#),
    );
    std::fs::write(config, text).unwrap();
}

/// Builds `spec` (a noarch package) with rpmbuild under `work` and puts
/// the package, `file`, in `repo`.
pub(crate) fn rpmbuild_into(repo: &Path, work: &Path, spec: &Path, file: &str) {
    let top = work.join("rpmbuild");
    testkit::run_ok(
        "rpmbuild",
        &[
            "-bb",
            "--quiet",
            "--nodeps",
            "--define",
            &format!("_topdir {}", top.display()),
            s(spec),
        ],
    );
    std::fs::copy(top.join("RPMS/noarch").join(file), repo.join(file)).unwrap();
}

/// `imgconv rootfs` of `packages` (comma separated) from `repo`, signatures
/// not checked, into the archive `out`, with `extra` arguments.
pub(crate) fn rootfs_unchecked(repo: &Path, packages: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "rootfs",
        "--repo",
        s(repo),
        "--no-gpg-check",
        "--install",
        packages,
        "-o",
        s(out),
    ];
    args.extend_from_slice(extra);
    imgconv(&args)
}
