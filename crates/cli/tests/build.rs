//! `imgconv build`: a configuration and a rootfs archive to every format in
//! one run, as an ordinary user, checked by qemu-img, sgdisk and e2fsck;
//! and bad input refused with nothing left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::{imgconv, imgconv_unprivileged, open_dir, s, toolkit_config};
use testkit::{qemu_check, qemu_compare, run, run_ok};

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "imgconv failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `imgconv build CONFIG --rootfs TAR --to raw --output-dir OUT`, run in
/// `cwd`.
fn build_raw_in(cwd: &Path, config: &str, tar: &Path, out: &Path) {
    let args = [
        "build",
        config,
        "--rootfs",
        s(tar),
        "--to",
        "raw",
        "--output-dir",
        s(out),
    ];
    ok(&common::command()
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap());
}

/// The file system from byte `start` of the disk `raw` to its end, as an
/// image file beside it for debugfs.
fn partition_image(raw: &Path, start: usize) -> std::path::PathBuf {
    let data = fs::read(raw).unwrap();
    let image = raw.with_extension("part.img");
    fs::write(&image, &data[start..]).unwrap();
    image
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_ordinary_user_builds_every_format_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = open_dir(dir.path());
    let tar = dir.path().join("rootfs.tar");
    testkit::rootfs::sample_tar(&tar);
    fs::set_permissions(&tar, fs::Permissions::from_mode(0o644)).unwrap();
    let config = toolkit_config(dir.path(), "core", "efi", false, 65, "ext4", 300);
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();

    let run_out = imgconv_unprivileged(&[
        "build",
        s(&config),
        "--rootfs",
        s(&tar),
        "--to",
        "raw,vhd-fixed,vhdx,vmdk,qcow2",
        "--output-dir",
        s(&out),
        "--seed",
        "t",
        "--json",
    ]);
    ok(&run_out);
    assert_eq!(
        listing(&out),
        [
            "core.fixed.vhd",
            "core.qcow2",
            "core.raw",
            "core.vhdx",
            "core.vmdk"
        ]
    );
    let raw = out.join("core.raw");
    let v = run_ok("sgdisk", &["-v", s(&raw)]);
    assert!(v.contains("No problems found"), "{v}");
    qemu_compare(&raw, "raw", &out.join("core.fixed.vhd"), "vpc");
    qemu_compare(&raw, "raw", &out.join("core.vhdx"), "vhdx");
    qemu_compare(&raw, "raw", &out.join("core.vmdk"), "vmdk");
    qemu_compare(&raw, "raw", &out.join("core.qcow2"), "qcow2");
    qemu_check(&out.join("core.qcow2"), "qcow2");

    // The JSON summary names the partitions; their file systems are clean
    // and hold the archive's owners, not the build user's.
    let summary: serde_json::Value =
        serde_json::from_slice(&run_out.stderr).expect("--json prints one JSON document");
    let parts = summary["partitions"].as_array().unwrap();
    let root = &parts[1];
    let (start, size) = (
        root["start"].as_u64().unwrap(),
        root["size"].as_u64().unwrap(),
    );
    let data = fs::read(&raw).unwrap();
    let root_img = dir.path().join("root.img");
    fs::write(&root_img, &data[start as usize..(start + size) as usize]).unwrap();
    let e2 = run("e2fsck", &["-fn", s(&root_img)]);
    assert!(
        e2.status.success(),
        "{}",
        String::from_utf8_lossy(&e2.stdout)
    );
    let shadow = run_ok("debugfs", &["-R", "stat /etc/shadow", s(&root_img)]);
    assert!(
        shadow.contains("User:     0   Group:    42") && shadow.contains("Mode:  0640"),
        "{shadow}"
    );
    let esp = &parts[0];
    let (start, size) = (
        esp["start"].as_u64().unwrap(),
        esp["size"].as_u64().unwrap(),
    );
    let esp_img = dir.path().join("esp.img");
    fs::write(&esp_img, &data[start as usize..(start + size) as usize]).unwrap();
    run_ok("fsck.vfat", &["-n", s(&esp_img)]);
    // Nothing of the build is left in its scratch directory.
    fs::remove_file(&root_img).unwrap();
    fs::remove_file(&esp_img).unwrap();
}

#[test]
fn without_to_the_configured_artifacts_are_made_and_a_seed_repeats_them() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("rootfs.tar.gz");
    let plain = dir.path().join("rootfs.tar");
    testkit::rootfs::sample_tar(&plain);
    run_ok("gzip", &["-k", s(&plain)]);
    fs::rename(dir.path().join("rootfs.tar.gz"), &tar).unwrap();
    let config = toolkit_config(dir.path(), "core", "efi", false, 65, "ext4", 300);
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    for out in [&a, &b] {
        // Two seconds apart: FAT keeps times to two seconds.
        if out == &b {
            std::thread::sleep(std::time::Duration::from_millis(2100));
        }
        ok(&imgconv(&[
            "build",
            s(&config),
            "--rootfs",
            s(&tar),
            "--output-dir",
            s(out),
            "--seed",
            "same",
        ]));
        assert_eq!(listing(out), ["core.vhdx"]);
    }
    assert!(
        fs::read(a.join("core.vhdx")).unwrap() == fs::read(b.join("core.vhdx")).unwrap(),
        "two builds with one seed differ"
    );
}

/// Runs a build expected to fail: exit 1, `expect` in its message, and no
/// file left in the output directory.
fn refused(config: &Path, rootfs: &Path, expect: &str) {
    let out = config.parent().unwrap().join("refused");
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).unwrap();
    let r = imgconv(&[
        "build",
        s(config),
        "--rootfs",
        s(rootfs),
        "--to",
        "raw,qcow2",
        "--output-dir",
        s(&out),
        "--work-dir",
        s(&out),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains(expect), "expected {expect:?} in:\n{err}");
    assert!(listing(&out).is_empty(), "left behind: {:?}", listing(&out));
}

#[test]
fn bad_input_is_refused_by_name_with_nothing_left() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tar = d.join("rootfs.tar");
    testkit::rootfs::sample_tar(&tar);
    let config = toolkit_config(d, "core", "efi", false, 65, "ext4", 300);

    refused(&config, &d.join("missing.tar"), "missing.tar");

    // Members that would leave the root.
    for (name, member) in [("dotdot.tar", "../etc/passwd"), ("abs.tar", "/etc/passwd")] {
        let path = d.join(name);
        let mut bytes = vec![0u8; 512];
        bytes[..member.len()].copy_from_slice(member.as_bytes());
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        let raw = h.as_mut_bytes();
        raw[..100].fill(0);
        raw[..member.len()].copy_from_slice(member.as_bytes());
        h.set_cksum();
        let mut data = h.as_bytes().to_vec();
        data.extend_from_slice(&[b'x'; 2]);
        data.resize(512 * 2, 0);
        data.extend_from_slice(&[0u8; 1024]);
        fs::write(&path, data).unwrap();
        refused(&config, &path, member.trim_start_matches("../"));
    }

    // A truncated archive.
    let whole = fs::read(&tar).unwrap();
    let cut = d.join("cut.tar");
    let at = whole.len() * 2 / 3;
    fs::write(&cut, &whole[..at - at % 512 + 100]).unwrap();
    refused(&config, &cut, "truncated");

    // Content larger than its partition: 250 MiB of files for a 235 MiB
    // root; the error says what would hold them.
    let big = d.join("big");
    fs::create_dir_all(big.join("data")).unwrap();
    fs::create_dir_all(big.join("boot/efi/EFI/BOOT")).unwrap();
    fs::write(big.join("boot/efi/EFI/BOOT/BOOTX64.EFI"), b"MZ").unwrap();
    fs::write(big.join("data/blob"), vec![7u8; 250 << 20]).unwrap();
    refused(&config, &big, "it needs about");
    // The size named holds it: a disk with the root that large builds.
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&big),
        "--to",
        "raw",
        "-o",
        s(&d.join("never.raw")),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    let needed: u32 = err
        .split("it needs about ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size in: {err}"));
    let roomy = toolkit_config(d, "roomy", "efi", false, 65, "ext4", 65 + needed + 1);
    let out = d.join("roomy-out");
    ok(&imgconv(&[
        "build",
        s(&roomy),
        "--rootfs",
        s(&big),
        "--to",
        "qcow2",
        "--output-dir",
        s(&out),
    ]));

    // A field the build does not honour.
    let text = fs::read_to_string(&config).unwrap().replace(
        "\"Hostname\"",
        "\"PostInstallScripts\": [{\"Path\": \"x.sh\"}], \"Hostname\"",
    );
    let bad = d.join("bad.json");
    fs::write(&bad, text).unwrap();
    refused(&bad, &tar, "PostInstallScripts");

    // Bootable configurations the rootfs cannot boot: no loader on the ESP
    // and none in the tree to install; BIOS boot without GRUB for BIOS.
    let bare = d.join("bare");
    fs::create_dir_all(bare.join("etc")).unwrap();
    refused(&config, &bare, "the ESP has no EFI/BOOT/BOOTX64.EFI");
    let legacy = toolkit_config(d, "legacy", "legacy", true, 65, "ext4", 300);
    refused(&legacy, &tar, "usr/lib/grub/i386-pc");

    // An output over an input is refused before anything is made.
    let before = fs::read(&tar).unwrap();
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&tar),
        "--to",
        "raw",
        "-o",
        s(&tar),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("is the input file"));
    assert!(fs::read(&tar).unwrap() == before);

    // Overlapping partitions.
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace("\"Start\": 65", "\"Start\": 30");
    let overlap = d.join("overlap.json");
    fs::write(&overlap, text).unwrap();
    refused(&overlap, &tar, "overlap");
}

/// A tree with systemd-boot but no GRUB, under a core-efi-shaped toolkit
/// configuration (an 8 MiB ESP): the configuration means GRUB, so the
/// refusal says GRUB is missing, not that the ESP is too small for the
/// kernel systemd-boot would need there.
#[test]
fn a_toolkit_config_means_grub_whatever_loader_the_tree_has() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    for d in ["boot", "etc", "usr/lib/systemd/boot/efi"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("boot/vmlinuz-6.6.1"), vec![0x4d; 6 << 20]).unwrap();
    fs::write(
        root.join("usr/lib/systemd/boot/efi/systemd-bootx64.efi"),
        b"MZ systemd-boot stand-in",
    )
    .unwrap();
    let config = toolkit_config(dir.path(), "core", "efi", false, 9, "ext4", 200);
    refused(
        &config,
        &root,
        "the configuration boots with GRUB, as the toolkit's and Image Customizer's \
         configurations do unless they ask for a unified kernel image, but the ESP has no \
         EFI/BOOT/BOOTX64.EFI and the rootfs has no GRUB for UEFI",
    );
    refused(&config, &root, "it has systemd-boot");
}

/// A configuration's relative paths (AdditionalFiles, PackageLists) are
/// relative to its own directory, wherever the command runs from.
#[test]
fn relative_paths_in_a_config_are_relative_to_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    fs::create_dir_all(set.join("additionalconfigs")).unwrap();
    fs::write(set.join("additionalconfigs/motd"), "from set/\n").unwrap();
    let config = toolkit_config(&set, "core", "", false, 9, "ext4", 64);
    common::add_to_system_config(
        &config,
        r#""AdditionalFiles": {"additionalconfigs/motd": "/etc/motd"},"#,
    );
    let tar = dir.path().join("rootfs.tar");
    testkit::rootfs::sample_tar(&tar);
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    // From the directory above set/, from set/ itself, and from elsewhere
    // with an absolute path.
    for (cwd, config_arg) in [
        (dir.path().to_path_buf(), "set/core.json".to_string()),
        (set.clone(), "core.json".to_string()),
        (elsewhere.clone(), s(&config).to_string()),
    ] {
        let out = dir.path().join("out");
        let _ = fs::remove_dir_all(&out);
        build_raw_in(&cwd, &config_arg, &tar, &out);
        let root_img = partition_image(&out.join("core.raw"), 9 << 20);
        let motd = run_ok("debugfs", &["-R", "cat /etc/motd", s(&root_img)]);
        assert_eq!(motd, "from set/\n", "run from {}", cwd.display());
    }
}

/// A rootfs whose members lie below symbolic links (`lib -> /usr/lib`,
/// `lib64 -> usr/lib`), with a hard link through one, becomes a tar that
/// Python's tarfile extracts with its `tar` filter (which refuses any
/// member that would land outside the destination) without a refusal: the
/// members are where the links lead inside the tree.
#[test]
fn members_below_links_are_written_where_the_links_lead() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("links.tar");
    let mut b = tar::Builder::new(fs::File::create(&tar).unwrap());
    let mut add = |name: &str, ty: tar::EntryType, link: Option<&str>, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(ty);
        h.set_mode(if ty == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, name, data).unwrap();
    };
    use tar::EntryType as T;
    add("./", T::Directory, None, b"");
    add("usr/", T::Directory, None, b"");
    add("usr/lib/", T::Directory, None, b"");
    add("lib", T::Symlink, Some("/usr/lib"), b"");
    add("lib/libc.so", T::Regular, None, b"libc\n");
    add("lib64", T::Symlink, Some("usr/lib"), b"");
    add("lib64/sub/ld.so", T::Regular, None, b"ld\n");
    add("hard", T::Link, Some("lib/libc.so"), b"");
    b.finish().unwrap();
    drop(b);
    let config = toolkit_config(dir.path(), "links", "", false, 9, "ext4", 64);
    let out = dir.path().join("out");
    ok(&imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&tar),
        "--to",
        "tar",
        "--output-dir",
        s(&out),
    ]));
    let dest = dir.path().join("dest");
    testkit::python_extract_tar(&out.join("links.tar"), &dest);
    assert_eq!(fs::read(dest.join("usr/lib/libc.so")).unwrap(), b"libc\n");
    assert_eq!(fs::read(dest.join("usr/lib/sub/ld.so")).unwrap(), b"ld\n");
    assert_eq!(fs::read(dest.join("hard")).unwrap(), b"libc\n");
    assert!(dest.join("lib").is_symlink() && dest.join("lib64").is_symlink());
}

/// The toolkit's IMA policies, cgroup version and FIPS mode reach the
/// kernel command line as its grub.cfg template puts them, FIPS with
/// `boot=UUID=` of the separate /boot file system, as blkid reads it.
#[test]
fn ima_cgroup_and_fips_reach_the_kernel_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fips.json");
    fs::write(
        &config,
        r#"{
  "Disks": [{
    "PartitionTableType": "gpt",
    "MaxSize": 200,
    "Partitions": [
      {"ID": "esp", "Flags": ["esp"], "Start": 1, "End": 33, "FsType": "fat32"},
      {"ID": "boot", "Start": 33, "End": 97, "FsType": "ext4"},
      {"ID": "rootfs", "Start": 97, "End": 0, "FsType": "ext4"}
    ]
  }],
  "SystemConfigs": [{
    "Name": "Standard",
    "BootType": "efi",
    "PartitionSettings": [
      {"ID": "esp", "MountPoint": "/boot/efi"},
      {"ID": "boot", "MountPoint": "/boot"},
      {"ID": "rootfs", "MountPoint": "/"}
    ],
    "KernelCommandLine": {
      "ImaPolicy": ["tcb", "secure_boot"],
      "CGroup": "version_two",
      "EnableFIPS": true,
      "ExtraCommandLine": "console=ttyS0"
    }
  }]
}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&testkit::bootroot::rootfs_tar(
            testkit::bootroot::Variant::Grub,
        )),
        "--to",
        "raw",
        "--output-dir",
        s(&out),
        "--json",
    ]);
    ok(&r);
    let summary: serde_json::Value = serde_json::from_slice(&r.stderr).unwrap();
    let data = fs::read(out.join("fips.raw")).unwrap();
    let boot = dir.path().join("boot.img");
    fs::write(&boot, &data[33 << 20..97 << 20]).unwrap();
    let uuid = run_ok("blkid", &["-o", "value", "-s", "UUID", s(&boot)]);
    let guid = summary["partitions"][2]["guid"].as_str().unwrap();
    let expected = format!(
        "ima_policy=tcb ima_policy=secure_boot fips=1 boot=UUID={} root=PARTUUID={guid} ro \
         systemd.unified_cgroup_hierarchy=1 console=ttyS0",
        uuid.trim()
    );
    assert_eq!(summary["kernel_cmdline"], expected.as_str(), "{summary}");
    // GRUB's menu on /boot boots with it.
    let cfg = run_ok("debugfs", &["-R", "cat /grub/grub.cfg", s(&boot)]);
    assert!(cfg.contains(&expected), "{cfg}");
}

/// Image Customizer's `os.modules` merged into the tree's own modprobe.d
/// and modules-load.d files as it merges them, the same in the disk and
/// in the archive.
#[test]
fn kernel_modules_merge_into_the_trees_files() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("rootfs.tar");
    testkit::rootfs::sample_tar(&tar);
    let extra = dir.path().join("extra");
    fs::create_dir_all(extra.join("etc/modprobe.d")).unwrap();
    fs::write(
        extra.join("etc/modprobe.d/modules-disabled.conf"),
        "blacklist vfio\nblacklist nouveau\n",
    )
    .unwrap();
    run_ok(
        "tar",
        &[
            "-rf",
            s(&tar),
            "--owner=0",
            "--group=0",
            "-C",
            s(&extra),
            "./etc/modprobe.d",
        ],
    );
    let config = common::customizer_config(
        dir.path(),
        "modules",
        "os:\n  modules:\n  - name: vfio\n    loadMode: always\n    options:\n      \
         disable_vga: Y\n  - name: br_netfilter\n    loadMode: disable\n",
    );
    let out = dir.path().join("out");
    ok(&imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&tar),
        "--to",
        "raw,tar",
        "--output-dir",
        s(&out),
    ]));
    let expected = [
        ("etc/modules-load.d/modules-load.conf", "vfio\n"),
        (
            "etc/modprobe.d/modules-disabled.conf",
            "blacklist nouveau\nblacklist br_netfilter\n",
        ),
        (
            "etc/modprobe.d/module-options.conf",
            "options vfio disable_vga=Y",
        ),
    ];
    let data = fs::read(out.join("modules.raw")).unwrap();
    let root = dir.path().join("root.img");
    fs::write(&root, &data[97 << 20..]).unwrap();
    for (path, text) in expected {
        let in_disk = run_ok("debugfs", &["-R", &format!("cat /{path}"), s(&root)]);
        assert_eq!(in_disk, text, "{path} on the disk");
        let in_tar = run_ok("tar", &["-xOf", s(&out.join("modules.tar")), path]);
        assert_eq!(in_tar, text, "{path} in the archive");
    }
}

/// Image Customizer's base configurations, each file's relative paths from
/// its own directory, the top one named by a relative path from the
/// directory above it.
#[test]
fn base_configs_read_each_files_paths_from_its_own_directory() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    fs::create_dir_all(set.join("base/own")).unwrap();
    fs::create_dir_all(set.join("files")).unwrap();
    fs::write(set.join("files/motd"), "from the top\n").unwrap();
    fs::write(set.join("base/own/issue"), "from the base\n").unwrap();
    fs::write(
        set.join("top.yaml"),
        "previewFeatures: [base-configs]\nbaseConfigs:\n- path: base/b.yaml\nos:\n  \
         hostname: top\n  additionalFiles:\n  - source: files/motd\n    destination: /etc/motd\n",
    )
    .unwrap();
    fs::write(
        set.join("base/b.yaml"),
        "storage:\n  bootType: efi\n  disks:\n  - partitionTableType: gpt\n    maxSize: 64M\n    \
         partitions:\n    - {id: esp, type: esp, size: 8M}\n    - {id: rootfs, type: root, size: \
         grow}\n  filesystems:\n  - {deviceId: esp, type: fat32, mountPoint: /boot/efi}\n  - \
         {deviceId: rootfs, type: ext4, mountPoint: /}\nos:\n  hostname: base\n  \
         additionalFiles:\n  - source: own/issue\n    destination: /etc/issue\n",
    )
    .unwrap();
    let tar = dir.path().join("rootfs.tar");
    testkit::rootfs::sample_tar(&tar);
    let out = dir.path().join("out");
    build_raw_in(dir.path(), "set/top.yaml", &tar, &out);
    let root = partition_image(&out.join("top.raw"), 9 << 20);
    for (path, text) in [
        ("/etc/motd", "from the top\n"),
        ("/etc/issue", "from the base\n"),
        ("/etc/hostname", "top\n"),
    ] {
        assert_eq!(
            run_ok("debugfs", &["-R", &format!("cat {path}"), s(&root)]),
            text
        );
    }
}

#[test]
fn a_streaming_format_goes_to_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("rootfs.tar");
    testkit::rootfs::sample_tar(&tar);
    let config = toolkit_config(dir.path(), "core", "efi", false, 65, "ext4", 300);
    let piped = dir.path().join("piped.vmdk");
    let status = common::command()
        .args([
            "build",
            s(&config),
            "--rootfs",
            s(&tar),
            "--to",
            "vmdk-stream",
        ])
        .args(["-o", "-", "--seed", "p"])
        .stdout(fs::File::create(&piped).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let raw = dir.path().join("out");
    ok(&imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&tar),
        "--to",
        "raw",
        "--output-dir",
        s(&raw),
        "--seed",
        "p",
    ]));
    qemu_compare(&raw.join("core.raw"), "raw", &piped, "vmdk");
}
