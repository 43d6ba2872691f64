//! Disks from `imgconv build` boot: a Debian kernel, busybox and an
//! initramfs that finds the root by what the kernel command line names,
//! with the tree's own GRUB (BIOS and UEFI on one disk) or systemd-boot,
//! under qemu with SeaBIOS and OVMF, from every output format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{imgconv, s, toolkit_config};
use testkit::boot::{assert_boots, BootOptions, Bus, Firmware};
use testkit::bootroot::{rootfs_tar, Variant};

/// A configuration with a BIOS boot partition, an ESP and an ext4 root:
/// GRUB for BIOS and UEFI on one disk, as Azure Linux's images have.
fn hybrid_config(dir: &Path, host: &str, boot_type: &str) -> PathBuf {
    toolkit_config(dir, host, boot_type, true, 41, "ext4", 160)
}

fn build(config: &Path, rootfs: &Path, to: &str, out: &Path) {
    let r = imgconv(&[
        "build",
        s(config),
        "--rootfs",
        s(rootfs),
        "--to",
        to,
        "--output-dir",
        s(out),
    ]);
    assert!(
        r.status.success(),
        "imgconv build failed:\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
}

fn opts(firmware: Firmware, bus: Bus) -> BootOptions {
    BootOptions {
        firmware,
        bus,
        ..Default::default()
    }
}

#[test]
fn grub_disks_boot_under_bios_and_uefi_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let config = hybrid_config(dir.path(), "hybrid", "efi");
    let out = dir.path().join("out");
    build(
        &config,
        &rootfs_tar(Variant::Grub),
        "raw,vhd-fixed,vhdx,vmdk,qcow2",
        &out,
    );
    let disks = [
        ("hybrid.raw", "raw"),
        ("hybrid.fixed.vhd", "vpc"),
        ("hybrid.vhdx", "vhdx"),
        ("hybrid.vmdk", "vmdk"),
        ("hybrid.qcow2", "qcow2"),
    ];
    // Two machines at a time.
    std::thread::scope(|scope| {
        for pair in disks.chunks(3) {
            let out = &out;
            scope.spawn(move || {
                for (name, format) in pair {
                    let disk = out.join(name);
                    assert_boots(&disk, format, &opts(Firmware::Ovmf, Bus::Virtio), "hybrid");
                    // A fixed VHD as Hyper-V generation 1 attaches it.
                    let bus = if *format == "vpc" {
                        Bus::Ide
                    } else {
                        Bus::Virtio
                    };
                    assert_boots(&disk, format, &opts(Firmware::SeaBios, bus), "hybrid");
                }
            });
        }
    });
}

#[test]
fn a_legacy_disk_boots_from_grub_in_the_protective_mbr() {
    let dir = tempfile::tempdir().unwrap();
    let config = hybrid_config(dir.path(), "legacy", "legacy");
    let out = dir.path().join("out");
    build(&config, &rootfs_tar(Variant::Grub), "raw", &out);
    let disk = out.join("legacy.raw");
    let log = assert_boots(&disk, "raw", &opts(Firmware::SeaBios, Bus::Ahci), "legacy");
    // The booted system sees the archive's owners and modes.
    for line in [
        "IMGCONV-STAT 640 0:42 regular file /etc/shadow",
        "IMGCONV-STAT 4755 0:0 regular file /usr/bin/passwd",
        "IMGCONV-STAT 1777 0:0 directory /tmp",
        "IMGCONV-STAT 600 1000:1000 regular file /home/user/notes.txt",
        "IMGCONV-STAT 644 0:0 fifo /usr/share/imgconv-test/fifo",
    ] {
        assert!(
            log.serial.contains(line),
            "{line:?} not in:\n{}",
            log.serial
        );
    }
    let v = testkit::run_ok("sgdisk", &["-v", s(&disk)]);
    assert!(v.contains("No problems found"), "{v}");
}

/// A hybrid disk (a BIOS boot partition beside the ESP) from a tree with
/// both loaders, systemd-boot asked for: systemd-boot boots UEFI from the
/// kernel it copies to the ESP, and GRUB boots BIOS from the same kernel
/// in /boot. Each loader sees the kernel.
#[test]
fn systemd_boot_beside_grub_boots_a_hybrid_disk_under_uefi_and_bios() {
    let dir = tempfile::tempdir().unwrap();
    let config = hybrid_config(dir.path(), "sdboot", "efi");
    let out = dir.path().join("out");
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&rootfs_tar(Variant::GrubAndSystemdBoot)),
        "--boot-loader",
        "systemd-boot",
        "--to",
        "qcow2",
        "--output-dir",
        s(&out),
        "--json",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let report: serde_json::Value = serde_json::from_slice(&r.stderr).unwrap();
    assert_eq!(report["boot_loader"]["uefi"], "systemd-boot", "{report}");
    assert_eq!(report["boot_loader"]["bios"], "grub", "{report}");
    let reason = report["boot_loader"]["reason"].as_str().unwrap();
    assert!(reason.contains("options ask for systemd-boot"), "{reason}");
    let disk = out.join("sdboot.qcow2");
    assert_boots(&disk, "qcow2", &opts(Firmware::Ovmf, Bus::Virtio), "sdboot");
    assert_boots(
        &disk,
        "qcow2",
        &opts(Firmware::SeaBios, Bus::Virtio),
        "sdboot",
    );
}

/// The build crate's configurations shaped like Azure Linux's core-efi and
/// core-legacy (toolkit JSON) and an Image Customizer Hyper-V guest (a
/// separate /boot, root by PARTLABEL), copied beside the files they add.
fn azure_linux_config(dir: &Path, name: &str) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../imgbuild/tests/configs");
    let issue = dir.join("issue");
    fs::write(&issue, "Azure Linux-shaped test image\n").unwrap();
    let text = fs::read_to_string(from.join(name))
        .unwrap()
        .replace("/usr/share/imgconv/issue", s(&issue));
    fs::create_dir_all(dir.join("files")).unwrap();
    fs::write(dir.join("files/cloud.cfg"), "datasource_list: [Azure]\n").unwrap();
    fs::write(dir.join("files/hyperv.conf"), "hv_vmbus\nhv_storvsc\n").unwrap();
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn azure_linux_shaped_configs_build_and_boot() {
    for (name, firmware, image, format, host) in [
        (
            "core-efi.json",
            Firmware::Ovmf,
            "core.vhdx",
            "vhdx",
            "azurelinux",
        ),
        (
            "core-legacy.json",
            Firmware::SeaBios,
            "core.fixed.vhd",
            "vpc",
            "azurelinux",
        ),
        (
            "hyperv-guest.yaml",
            Firmware::Ovmf,
            "hyperv-guest.vhdx",
            "vhdx",
            "hyperv-guest",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = azure_linux_config(dir.path(), name);
        let out = dir.path().join("out");
        // The configuration's own artifacts: no --to. The tree has
        // systemd-boot too; the configurations mean GRUB, and core-efi's
        // 8 MiB ESP holds GRUB alone.
        let r = imgconv(&[
            "build",
            s(&config),
            "--rootfs",
            s(&rootfs_tar(Variant::GrubAndSystemdBoot)),
            "--output-dir",
            s(&out),
            "--json",
        ]);
        assert!(
            r.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&r.stderr).unwrap();
        let uefi = if name == "core-legacy.json" {
            serde_json::Value::Null
        } else {
            "grub".into()
        };
        assert_eq!(report["boot_loader"]["uefi"], uefi, "{name}: {report}");
        let disk = out.join(image);
        let bus = if format == "vpc" {
            Bus::Ide
        } else {
            Bus::Virtio
        };
        assert_boots(&disk, format, &opts(firmware, bus), host);
    }
}

#[test]
fn grub_finds_its_configuration_in_boot_grub2() {
    // Fedora and Azure Linux keep GRUB's files in /boot/grub2.
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("grub2.tar");
    fs::copy(rootfs_tar(Variant::Grub), &tar).unwrap();
    fs::create_dir_all(dir.path().join("extra/boot/grub2")).unwrap();
    testkit::run_ok(
        "tar",
        &[
            "-rf",
            s(&tar),
            "--owner=0",
            "--group=0",
            "-C",
            s(&dir.path().join("extra")),
            "./boot/grub2",
        ],
    );
    let config = hybrid_config(dir.path(), "grubtwo", "efi");
    let out = dir.path().join("out");
    build(&config, &tar, "raw", &out);
    let disk = out.join("grubtwo.raw");
    // grub.cfg and the module directories sit where grub-install puts them.
    let data = fs::read(&disk).unwrap();
    let root_img = dir.path().join("root.img");
    fs::write(&root_img, &data[41 << 20..]).unwrap();
    let listing = testkit::run_ok("debugfs", &["-R", "ls -l /boot/grub2", s(&root_img)]);
    for name in ["grub.cfg", "x86_64-efi", "i386-pc"] {
        assert!(
            listing.contains(name),
            "{name} not in /boot/grub2:\n{listing}"
        );
    }
    let pc = testkit::run_ok("debugfs", &["-R", "ls /boot/grub2/i386-pc", s(&root_img)]);
    assert!(pc.contains("normal.mod"), "{pc}");
    assert_boots(&disk, "raw", &opts(Firmware::Ovmf, Bus::Virtio), "grubtwo");
    assert_boots(
        &disk,
        "raw",
        &opts(Firmware::SeaBios, Bus::Virtio),
        "grubtwo",
    );
}

/// A live ISO of the tree: the root as LiveOS/squashfs.img, found by the
/// initramfs through `root=live:CDLABEL=`, booted by the tree's GRUB from
/// its El Torito images (a CD) and through the hybrid MBR and GPT (a disk),
/// under SeaBIOS and OVMF.
#[test]
fn a_live_iso_boots_as_a_cd_and_as_a_disk_under_bios_and_uefi() {
    let dir = tempfile::tempdir().unwrap();
    let config = hybrid_config(dir.path(), "live", "efi");
    let out = dir.path().join("out");
    build(&config, &rootfs_tar(Variant::Grub), "iso", &out);
    let iso = out.join("live.iso");
    let ways = [
        (Firmware::SeaBios, Bus::Cdrom),
        (Firmware::Ovmf, Bus::Cdrom),
        (Firmware::SeaBios, Bus::Virtio),
        (Firmware::Ovmf, Bus::Virtio),
    ];
    // Two machines at a time.
    std::thread::scope(|scope| {
        for pair in ways.chunks(2) {
            let iso = &iso;
            scope.spawn(move || {
                for (firmware, bus) in pair {
                    let log = assert_boots(iso, "raw", &opts(*firmware, *bus), "live");
                    assert!(
                        log.serial.contains("live image on /dev/"),
                        "{firmware:?} {bus:?}: not booted from the live image:\n{}",
                        log.serial
                    );
                }
            });
        }
    });
}

/// Packages to a bootable disk in one command, as an ordinary user: a
/// core-efi-shaped configuration whose PackageLists and KernelOptions name
/// what to install from a repository of the test root's packages, the
/// initramfs put in /boot by the kernel package's %posttrans.
#[test]
fn packages_become_a_disk_that_boots_in_one_unprivileged_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::open_dir(dir.path());
    let repo = testkit::bootroot::package_repo(dir.path());
    let lists = dir.path().join("packagelists");
    fs::create_dir_all(&lists).unwrap();
    fs::write(
        lists.join("core-packages-image.json"),
        r#"{"packages": ["filesystem", "busybox", "grub2"]}"#,
    )
    .unwrap();
    let config = toolkit_config(dir.path(), "fromrpms", "efi", false, 41, "ext4", 200);
    common::add_to_system_config(
        &config,
        r#""PackageLists": ["packagelists/core-packages-image.json"],
            "KernelOptions": {"default": "kernel"},"#,
    );
    let r = common::imgconv_unprivileged(&[
        "build",
        s(&config),
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--to",
        "vhdx,qcow2",
        "--output-dir",
        s(&out),
        "--json",
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        err.contains("\"%posttrans\"") && err.contains("initramfs for"),
        "{err}"
    );
    for (file, format) in [("fromrpms.vhdx", "vhdx"), ("fromrpms.qcow2", "qcow2")] {
        assert_boots(
            &out.join(file),
            format,
            &opts(Firmware::Ovmf, Bus::Virtio),
            "fromrpms",
        );
    }
}

/// Image Customizer's own create-minimal-os.yaml, as published (built on
/// its create-base.yaml, which holds the disk, with the package list it
/// names), from a repository in which every package it lists exists: the
/// test root's filesystem, busybox, grub2 and kernel, and empty packages
/// of the same names standing in for the rest. It boots under OVMF from
/// GRUB, which its configuration means.
#[test]
fn image_customizers_create_minimal_os_builds_from_packages_and_boots() {
    let dir = tempfile::tempdir().unwrap();
    let repo = testkit::bootroot::package_repo(dir.path());
    let samples =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../imgbuild/tests/configs/imagecustomizer");
    let list = fs::read_to_string(samples.join("lists/azl-minimal-os.yaml")).unwrap();
    let real = ["filesystem", "grub2", "kernel"];
    for name in list
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .chain(["e2fsprogs"])
        .filter(|n| !real.contains(n))
    {
        // bash brings a shell: the test root's busybox.
        let mut spec = testkit::rpms::PackageSpec::new(name, "1.0", "1");
        if name == "bash" {
            spec = spec.requires("busybox");
        }
        testkit::rpms::build_rpm(&repo, &spec);
    }
    testkit::rpms::createrepo(&repo);
    let out = dir.path().join("out");
    let r = imgconv(&[
        "build",
        s(&samples.join("create-minimal-os.yaml")),
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--to",
        "qcow2",
        "--output-dir",
        s(&out),
        "--json",
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&r.stderr).unwrap();
    assert_eq!(report["boot_loader"]["uefi"], "grub", "{report}");
    assert_boots(
        &out.join("create-minimal-os.qcow2"),
        "qcow2",
        &opts(Firmware::Ovmf, Bus::Virtio),
        testkit::bootroot::HOSTNAME,
    );
}
