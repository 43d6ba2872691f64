//! The boot test root and the qemu harness, checked with standard tools
//! only: the tar is extracted (as root), put on an ext4 partition with
//! `sgdisk`/`sfdisk`, `mke2fs -d` and `dd`, and booted with qemu's direct
//! kernel boot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use testkit::boot::{assert_boots, BootOptions, Bus, DirectKernel, Firmware};
use testkit::bootroot::{self, fixtures, Variant, HOSTNAME};
use testkit::run_ok;

/// A GPT partition's unique GUID, its file system's UUID and its name.
const PARTUUID: &str = "5d0f1c2e-8a3b-4c7d-9e6f-0a1b2c3d4e5f";
const FSUUID: &str = "0c4e7a91-2b6d-4f38-a5c1-9d8e7f6a5b4c";
const PARTLABEL: &str = "imgconv-root";
const MBR_ID: &str = "0x1234abcd";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The Plain root extracted into `dir`, owners, modes, devices and
/// extended attributes kept (this needs root).
fn extract(dir: &Path) {
    assert!(
        run_ok("id", &["-u"]).trim() == "0",
        "extracting the test root with its owners and device nodes needs root"
    );
    let tar = bootroot::rootfs_tar(Variant::Plain);
    run_ok(
        "tar",
        &[
            "--xattrs",
            "--xattrs-include=*",
            "--numeric-owner",
            "-xpf",
            s(&tar),
            "-C",
            s(dir),
        ],
    );
}

/// A 256 MiB disk with one ext4 partition holding the Plain root, starting
/// at 1 MiB: a GPT (`gpt`) or MBR one.
fn disk(dir: &Path, gpt: bool) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir(&root).unwrap();
    extract(&root);
    let disk = dir.join("disk.raw");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let sectors = if gpt {
        run_ok(
            "sgdisk",
            &[
                "-n",
                "1:2048:0",
                "-t",
                "1:8300",
                "-c",
                &format!("1:{PARTLABEL}"),
                "-u",
                &format!("1:{PARTUUID}"),
                s(&disk),
            ],
        );
        let info = run_ok("sgdisk", &["-i", "1", s(&disk)]);
        let field = |name: &str| -> u64 {
            let line = info.lines().find(|l| l.starts_with(name)).unwrap();
            line[name.len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        field("Last sector:") - field("First sector:") + 1
    } else {
        let script = format!("label: dos\nlabel-id: {MBR_ID}\nstart=2048, type=83\n");
        let mut child = std::process::Command::new("sfdisk")
            .arg(&disk)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("sfdisk (fdisk package) is needed");
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        (256 << 11) - 2048
    };
    let fs = dir.join("fs.img");
    std::fs::File::create(&fs)
        .unwrap()
        .set_len(sectors * 512)
        .unwrap();
    run_ok(
        "mke2fs",
        &[
            "-q",
            "-F",
            "-t",
            "ext4",
            "-L",
            PARTLABEL,
            "-U",
            FSUUID,
            "-d",
            s(&root),
            s(&fs),
        ],
    );
    // The capability went through tar and mke2fs.
    let ea = run_ok(
        "debugfs",
        &["-R", &format!("ea_list /{}", fixtures::CAP_FILE), s(&fs)],
    );
    assert!(
        ea.contains("security.capability (20) = 01 00 00 02 00 20 00 00 00 00"),
        "{ea}"
    );
    run_ok(
        "dd",
        &[
            &format!("if={}", s(&fs)),
            &format!("of={}", s(&disk)),
            "bs=1M",
            "seek=1",
            "conv=notrunc,sparse",
            "status=none",
        ],
    );
    disk
}

/// An ISO 9660 image (Rock Ridge, owners kept) of the Plain root.
fn iso(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir(&root).unwrap();
    extract(&root);
    let iso = dir.join("root.iso");
    run_ok(
        "xorriso",
        &["-as", "mkisofs", "-quiet", "-R", "-o", s(&iso), s(&root)],
    );
    iso
}

/// Boots a disk made by [`disk`] with the cached kernel and `root`.
fn boot_direct(gpt: bool, bus: Bus, root: &str) {
    let dir = tempfile::tempdir().unwrap();
    let disk = disk(dir.path(), gpt);
    boot_image(&disk, Firmware::SeaBios, bus, root);
}

/// Boots `image` with the cached kernel and `root`, and checks what the
/// booted system reports about the fixtures.
fn boot_image(image: &Path, firmware: Firmware, bus: Bus, root: &str) {
    let k = bootroot::kernel();
    let opts = BootOptions {
        firmware,
        bus,
        direct: Some(DirectKernel {
            kernel: k.vmlinuz,
            initrd: k.initrd,
            append: format!("root={root} console=ttyS0 panic=-1"),
        }),
        ..BootOptions::default()
    };
    let log = assert_boots(image, "raw", &opts, HOSTNAME);
    eprintln!(
        "{root} on {bus:?} with {firmware:?}: booted in {:.1} s ({})",
        log.elapsed.as_secs_f64(),
        if log.kvm { "KVM" } else { "TCG" }
    );
    let stats: BTreeMap<&str, &str> = log
        .serial
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("IMGCONV-STAT "))
        .filter_map(|l| l.rsplit_once(" /").map(|(st, path)| (path, st)))
        .collect();
    let want = [
        (fixtures::SHADOW, "640 0:42 regular file"),
        (fixtures::SETUID, "4755 0:0 regular file"),
        (fixtures::USER_DIR, "755 1000:1000 directory"),
        (fixtures::USER_FILE, "600 1000:1000 regular file"),
        (fixtures::SYMLINK, "777 0:0 symbolic link"),
        (fixtures::HARDLINK, "644 0:0 regular file"),
        (fixtures::CAP_FILE, "755 0:0 regular file"),
        (fixtures::FIFO, "644 0:0 fifo"),
        (fixtures::STICKY_DIR, "1777 0:0 directory"),
    ];
    for (path, st) in want {
        assert_eq!(stats.get(path), Some(&st), "{path}: {stats:?}");
    }
}

#[test]
fn boots_by_partuuid_on_virtio() {
    boot_direct(true, Bus::Virtio, &format!("PARTUUID={PARTUUID}"));
}

#[test]
fn boots_by_partuuid_on_ide() {
    // Upper case, as some tools write it.
    boot_direct(
        true,
        Bus::Ide,
        &format!("PARTUUID={}", PARTUUID.to_uppercase()),
    );
}

#[test]
fn boots_by_uuid() {
    boot_direct(true, Bus::Virtio, &format!("UUID={FSUUID}"));
}

#[test]
fn boots_by_partlabel() {
    boot_direct(true, Bus::Ahci, &format!("PARTLABEL={PARTLABEL}"));
}

#[test]
fn boots_by_label_and_mbr_partuuid() {
    boot_direct(false, Bus::Ide, &format!("LABEL={PARTLABEL}"));
    boot_direct(
        false,
        Bus::Virtio,
        &format!("PARTUUID={}-01", MBR_ID.trim_start_matches("0x")),
    );
}

#[test]
fn boots_by_device_name() {
    boot_direct(true, Bus::Virtio, "/dev/vda1");
}

#[test]
fn boots_from_nvme() {
    boot_direct(true, Bus::Nvme, &format!("PARTUUID={PARTUUID}"));
}

#[test]
fn boots_with_ovmf() {
    let dir = tempfile::tempdir().unwrap();
    let disk = disk(dir.path(), true);
    boot_image(
        &disk,
        Firmware::Ovmf,
        Bus::Virtio,
        &format!("PARTUUID={PARTUUID}"),
    );
}

#[test]
fn boots_from_cdrom() {
    let dir = tempfile::tempdir().unwrap();
    boot_image(&iso(dir.path()), Firmware::SeaBios, Bus::Cdrom, "/dev/sr0");
}

/// The tar's entries: type, mode, owner, size, link target and pax
/// extended attributes, by path.
#[derive(Debug)]
struct Item {
    kind: tar::EntryType,
    mode: u32,
    owner: (u64, u64),
    link: Option<String>,
    device: Option<(u32, u32)>,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn entries(tar: &Path) -> BTreeMap<String, Item> {
    let mut a = tar::Archive::new(std::fs::File::open(tar).unwrap());
    let mut out = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut xattrs = Vec::new();
        if let Some(ext) = e.pax_extensions().unwrap() {
            for x in ext {
                let x = x.unwrap();
                if let Some(k) = x.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.push((k.to_string(), x.value_bytes().to_vec()));
                }
            }
        }
        let h = e.header();
        let item = Item {
            kind: h.entry_type(),
            mode: h.mode().unwrap(),
            owner: (h.uid().unwrap(), h.gid().unwrap()),
            link: e
                .link_name()
                .unwrap()
                .map(|l| l.to_str().unwrap().to_string()),
            device: matches!(h.entry_type(), tar::EntryType::Char | tar::EntryType::Block).then(
                || {
                    (
                        h.device_major().unwrap().unwrap(),
                        h.device_minor().unwrap().unwrap(),
                    )
                },
            ),
            xattrs,
        };
        let path = e
            .path()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('/')
            .to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        assert!(out.insert(path.clone(), item).is_none(), "{path} twice");
    }
    out
}

#[test]
fn tar_holds_the_fixtures() {
    use tar::EntryType as T;
    let k = bootroot::kernel();
    let all = entries(&bootroot::rootfs_tar(Variant::Plain));
    let get = |p: &str| all.get(p).unwrap_or_else(|| panic!("no {p} in the tar"));
    let check = |p: &str, kind: T, mode: u32, owner: (u64, u64)| {
        let i = get(p);
        assert_eq!((i.kind, i.mode, i.owner), (kind, mode, owner), "{p}");
    };
    check(fixtures::SHADOW, T::Regular, 0o640, (0, 42));
    check(fixtures::SETUID, T::Regular, 0o4755, (0, 0));
    check(fixtures::USER_DIR, T::Directory, 0o755, (1000, 1000));
    check(fixtures::USER_FILE, T::Regular, 0o600, (1000, 1000));
    check(fixtures::SYMLINK, T::Symlink, 0o777, (0, 0));
    check(fixtures::HARDLINK, T::Link, 0o644, (0, 0));
    check(fixtures::FIFO, T::Fifo, 0o644, (0, 0));
    check(fixtures::CONSOLE, T::Char, 0o600, (0, 0));
    check(fixtures::NULL, T::Char, 0o666, (0, 0));
    check(fixtures::STICKY_DIR, T::Directory, 0o1777, (0, 0));
    check(fixtures::LONG_PATH, T::Regular, 0o644, (0, 0));
    assert!(fixtures::LONG_PATH.len() > 100);
    assert_eq!(get(fixtures::CONSOLE).device, Some((5, 1)));
    assert_eq!(get(fixtures::NULL).device, Some((1, 3)));
    assert_eq!(
        get(fixtures::SYMLINK).link.as_deref(),
        Some(fixtures::SYMLINK_TARGET)
    );
    assert_eq!(
        get(fixtures::HARDLINK).link.as_deref(),
        Some(fixtures::HARDLINK_TARGET)
    );
    assert_eq!(
        get(fixtures::CAP_FILE).xattrs,
        vec![(
            "security.capability".to_string(),
            fixtures::CAPABILITY.to_vec()
        )]
    );
    check("sbin/init", T::Regular, 0o755, (0, 0));
    check("bin/busybox", T::Regular, 0o755, (0, 0));
    assert_eq!(get("bin/sh").link.as_deref(), Some("busybox"));
    check(
        &format!("boot/vmlinuz-{}", k.version),
        T::Regular,
        0o644,
        (0, 0),
    );
    check(
        &format!("boot/initrd.img-{}", k.version),
        T::Regular,
        0o644,
        (0, 0),
    );
    let mods = format!("lib/modules/{}", k.version);
    check(&format!("{mods}/modules.dep"), T::Regular, 0o644, (0, 0));
    check(
        &format!("{mods}/kernel/fs/ext4/ext4.ko"),
        T::Regular,
        0o644,
        (0, 0),
    );
    // Nothing but root, 1000 and the shadow group owns anything.
    for (p, i) in &all {
        assert!(
            matches!(i.owner, (0, 0) | (0, 42) | (1000, 1000)),
            "{p} owned by {:?}",
            i.owner
        );
    }

    let grub = entries(&bootroot::rootfs_tar(Variant::Grub));
    for p in [
        "usr/lib/grub/x86_64-efi/normal.mod",
        "usr/lib/grub/x86_64-efi/kernel.img",
        "usr/lib/grub/i386-pc/boot.img",
        "usr/lib/grub/i386-pc/normal.mod",
        "usr/bin/grub-mkimage",
        "usr/share/grub/unicode.pf2",
        fixtures::SHADOW,
    ] {
        assert!(grub.contains_key(p), "no {p} in the Grub root");
    }
    let both = entries(&bootroot::rootfs_tar(Variant::GrubAndSystemdBoot));
    for p in [
        "usr/lib/systemd/boot/efi/systemd-bootx64.efi",
        "usr/lib/grub/x86_64-efi/normal.mod",
        "usr/lib/grub/i386-pc/boot.img",
        fixtures::SHADOW,
    ] {
        assert!(
            both.contains_key(p),
            "no {p} in the GrubAndSystemdBoot root"
        );
    }
    assert!(!grub.contains_key("usr/lib/systemd/boot/efi/systemd-bootx64.efi"));
}
