//! `imgconv build --to iso`: a live ISO of a root filesystem, read back by
//! xorriso, isoinfo, mtools and squashfs-tools-ng. (That it boots four ways
//! is in build_boot.rs.)
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::{command, customizer_config, s, toolkit_config, tree_of};
use testkit::bootroot::{rootfs_tar, Variant};
use testkit::run_ok;

/// Builds `config` from `rootfs` to `to` (the configuration's artifacts
/// when empty) in `out` with a fixed SOURCE_DATE_EPOCH and `extra`
/// arguments.
fn build(
    config: &Path,
    rootfs: &Path,
    to: &str,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "build",
        s(config),
        "--rootfs",
        s(rootfs),
        "--output-dir",
        s(out),
    ];
    if !to.is_empty() {
        args.extend(["--to", to]);
    }
    args.extend_from_slice(extra);
    command()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(&args)
        .output()
        .unwrap()
}

fn build_ok(config: &Path, rootfs: &Path, to: &str, out: &Path, extra: &[&str]) {
    let r = build(config, rootfs, to, out, extra);
    assert!(
        r.status.success(),
        "imgconv build --to {to} failed:\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
}

/// `tree` with each hard link described as the file it links to: a
/// squashfs holds one inode under several names, and which of them an
/// archive of it lists first is its reader's choice.
fn linked_as_files(tree: BTreeMap<String, String>) -> BTreeMap<String, String> {
    tree.iter()
        .map(|(path, what)| {
            let file = what
                .strip_prefix("HardLink { target: \"")
                .and_then(|rest| rest.split_once('"'))
                .and_then(|(target, _)| tree.get(target))
                .unwrap_or(what);
            (path.clone(), file.clone())
        })
        .collect()
}

#[test]
fn a_live_iso_holds_the_tree_as_squashfs_with_bios_and_uefi_boot_images() {
    let dir = tempfile::tempdir().unwrap();
    let config = toolkit_config(dir.path(), "live", "efi", true, 41, "ext4", 160);
    let rootfs = rootfs_tar(Variant::Grub);
    let one = dir.path().join("one");
    build_ok(
        &config,
        &rootfs,
        "iso,tar",
        &one,
        &["--volume-id", "AZL_LIVE-3.0"],
    );
    // Again, to standard output and on one core: the same bytes.
    let again = std::process::Command::new("taskset")
        .args([
            "-c",
            "0",
            env!("CARGO_BIN_EXE_imgconv"),
            "build",
            s(&config),
        ])
        .args(["--rootfs", s(&rootfs), "--to", "iso", "-o", "-"])
        .args(["--volume-id", "AZL_LIVE-3.0"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let iso = one.join("live.iso");
    assert!(
        fs::read(&iso).unwrap() == again.stdout,
        "two builds with one SOURCE_DATE_EPOCH differ (to a file on every core, to a pipe on one)"
    );

    // The volume and its files, as isoinfo reads them.
    let info = run_ok("isoinfo", &["-d", "-i", s(&iso)]);
    assert!(info.contains("Volume id: AZL_LIVE-3.0"), "{info}");
    let listing = run_ok("isoinfo", &["-R", "-f", "-i", s(&iso)]);
    for want in [
        "/LiveOS/squashfs.img",
        "/boot/grub/grub.cfg",
        "/boot/grub/efi.img",
        "/boot/grub/i386-pc/eltorito.img",
        "/boot/grub/i386-pc/normal.mod",
        "/boot/grub/x86_64-efi/normal.mod",
        "/boot/boot.cat",
    ] {
        assert!(
            listing.lines().any(|l| l == want),
            "isoinfo does not list {want}:\n{listing}"
        );
    }
    assert!(
        listing.lines().any(|l| l.starts_with("/boot/vmlinuz-")),
        "no kernel:\n{listing}"
    );
    assert!(
        listing.lines().any(|l| l.starts_with("/boot/initrd.img-")),
        "no initrd:\n{listing}"
    );

    // El Torito: GRUB for BIOS with its boot information, FAT for UEFI;
    // GRUB's boot sector in a hybrid MBR, and a GPT.
    let report = run_ok(
        "xorriso",
        &[
            "-indev",
            s(&iso),
            "-report_el_torito",
            "plain",
            "-report_system_area",
            "plain",
        ],
    );
    for want in [
        "El Torito img path :   1  /boot/grub/i386-pc/eltorito.img",
        "El Torito img opts :   1  boot-info-table grub2-boot-info",
        "El Torito img path :   2  /boot/grub/efi.img",
        "System area summary: MBR grub2-mbr",
        "GPT partition path :   2  /boot/grub/efi.img",
    ] {
        assert!(
            report.contains(want),
            "xorriso does not report `{want}`:\n{report}"
        );
    }
    for (entry, platform) in [("1", "BIOS"), ("2", "UEFI")] {
        let line = format!("El Torito boot img :   {entry}  {platform}  y");
        assert!(
            report.lines().any(|l| l.starts_with(&line)),
            "no bootable {platform} entry:\n{report}"
        );
    }

    // GRUB's menu boots the kernel with the root found by the volume id.
    let cfg = dir.path().join("grub.cfg");
    let efi = dir.path().join("efi.img");
    let squashfs = dir.path().join("squashfs.img");
    run_ok(
        "xorriso",
        &[
            "-osirrox",
            "on",
            "-indev",
            s(&iso),
            "-extract",
            "/boot/grub/grub.cfg",
            s(&cfg),
            "-extract",
            "/boot/grub/efi.img",
            s(&efi),
            "-extract",
            "/LiveOS/squashfs.img",
            s(&squashfs),
        ],
    );
    let menu = fs::read_to_string(&cfg).unwrap();
    assert!(
        menu.contains("root=live:CDLABEL=AZL_LIVE-3.0 rd.live.image console=ttyS0"),
        "{menu}"
    );
    assert!(
        menu.contains("search --no-floppy --set=root --label AZL_LIVE-3.0"),
        "{menu}"
    );
    let fat = run_ok("fsck.fat", &["-n", s(&efi)]);
    assert!(!fat.contains("differ"), "{fat}");
    let efi_dir = testkit::mtools("mdir", &["-i", s(&efi), "-b", "::/EFI/BOOT"]);
    assert!(efi_dir.contains("BOOTX64.EFI"), "{efi_dir}");

    // zstd at level 6 unless asked otherwise.
    let superblock = run_ok("unsquashfs", &["-s", s(&squashfs)]);
    assert!(
        superblock.contains("Compression zstd") && superblock.contains("compression-level 6"),
        "{superblock}"
    );

    // The root image holds the tree `--to tar` writes, entry for entry.
    let unpacked = dir.path().join("squashfs.tar");
    let tar = run_ok(
        "sh",
        &[
            "-c",
            &format!("sqfs2tar {} > {}", s(&squashfs), s(&unpacked)),
        ],
    );
    assert!(tar.is_empty(), "{tar}");
    let want = linked_as_files(tree_of(&one.join("live.tar")));
    let got = linked_as_files(tree_of(&unpacked));
    let differ: Vec<_> = want
        .iter()
        .filter(|(p, v)| got.get(*p) != Some(*v))
        .map(|(p, v)| format!("{p}: {v} / {:?}", got.get(p)))
        .chain(
            got.keys()
                .filter(|p| !want.contains_key(*p))
                .map(|p| format!("{p}: only in the squashfs")),
        )
        .collect();
    assert!(
        differ.is_empty(),
        "the squashfs differs:\n{}",
        differ.join("\n")
    );
    assert!(want.contains_key("etc/hostname"));
}

#[test]
fn a_live_iso_refuses_a_bad_volume_id_and_a_tree_with_nothing_to_boot() {
    let dir = tempfile::tempdir().unwrap();
    let config = toolkit_config(dir.path(), "live", "efi", true, 41, "ext4", 160);
    let out = dir.path().join("out");
    let r = build(
        &config,
        &rootfs_tar(Variant::Grub),
        "iso",
        &out,
        &["--volume-id", "not a label"],
    );
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("volume id \"not a label\""), "{err}");
    assert!(!out.join("live.iso").exists());

    let r = build(
        &config,
        &rootfs_tar(Variant::Grub),
        "iso",
        &out,
        &["--squashfs-compression", "zstd:30"],
    );
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("zstd's level is 1 to 22"), "{err}");

    // A rootfs archive cut short: its own error, tar2sqfs stopped.
    let cut = dir.path().join("cut.tar");
    let whole = fs::read(rootfs_tar(Variant::Grub)).unwrap();
    fs::write(&cut, &whole[..whole.len() / 2 + 100]).unwrap();
    let r = build(&config, &cut, "iso", &out, &[]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("cut.tar"), "{err}");
    assert!(!out.join("live.iso").exists());

    // A tree without a kernel.
    let bare = dir.path().join("bare.tar");
    testkit::rootfs::sample_tar(&bare);
    let r = build(&config, &bare, "iso", &out, &[]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("kernel"), "{err}");
    let left: Vec<_> = fs::read_dir(&out)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn both_configuration_formats_name_a_live_iso_as_their_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let toolkit = dir.path().join("toolkit.json");
    fs::write(
        &toolkit,
        r#"{"Disks": [{"Artifacts": [{"Name": "rescue", "Type": "iso"}]}],
  "SystemConfigs": [{"Name": "Standard", "Hostname": "rescue",
    "KernelCommandLine": {"ExtraCommandLine": "console=ttyS0"}}]}"#,
    )
    .unwrap();
    let customizer = customizer_config(
        dir.path(),
        "customizer",
        "os:\n  hostname: rescue\noutput:\n  image:\n    format: iso\n    path: live-os.iso\n",
    );
    let rootfs = rootfs_tar(Variant::Grub);
    for (config, file, volume) in [
        (&toolkit, "rescue.iso", "RESCUE"),
        (&customizer, "live-os.iso", "LIVE-OS"),
    ] {
        let out = dir.path().join(volume);
        let r = build(config, &rootfs, "", &out, &[]);
        assert!(
            r.status.success(),
            "{}: {}",
            config.display(),
            String::from_utf8_lossy(&r.stderr)
        );
        let info = run_ok("isoinfo", &["-d", "-i", s(&out.join(file))]);
        assert!(info.contains(&format!("Volume id: {volume}")), "{info}");
    }
}
