//! `imgconv iso`: bootable images booted under emulation four ways (CD and
//! USB disk, SeaBIOS and OVMF) next to what xorriso makes of the same tree,
//! El Torito and hybrid reports from xorriso, `info` and `--extract`.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::run_ok;

const IMGCONV: &str = env!("CARGO_BIN_EXE_imgconv");
const OVMF: &str = "/usr/share/ovmf/OVMF.fd";
const ISOHDPFX: &str = "/usr/lib/ISOLINUX/isohdpfx.bin";
const UEFI_MARK: &str = "IMGCONV-UEFI-BOOTED";
/// isolinux prints this on the serial console when it got as far as
/// loading the kernel the configuration names.
const BIOS_MARK: &str = "Loading no-such-kernel";

/// An installer-like tree: isolinux for BIOS, and beside it (outside the
/// tree) an EFI directory with a standalone GRUB that prints a mark.
fn boot_tree(dir: &Path) -> (PathBuf, PathBuf) {
    let tree = dir.join("tree");
    fs::create_dir_all(tree.join("isolinux")).unwrap();
    fs::copy(
        "/usr/lib/ISOLINUX/isolinux.bin",
        tree.join("isolinux/isolinux.bin"),
    )
    .unwrap();
    fs::copy(
        "/usr/lib/syslinux/modules/bios/ldlinux.c32",
        tree.join("isolinux/ldlinux.c32"),
    )
    .unwrap();
    fs::write(
        tree.join("isolinux/isolinux.cfg"),
        "SERIAL 0 115200\nDEFAULT no-such-kernel\n",
    )
    .unwrap();
    fs::write(tree.join("README"), "installer\n").unwrap();
    let efi = dir.join("efi");
    fs::create_dir_all(efi.join("EFI/BOOT")).unwrap();
    let cfg = dir.join("grub.cfg");
    fs::write(
        &cfg,
        format!("serial\nterminal_output serial console\necho {UEFI_MARK}\nhalt\n"),
    )
    .unwrap();
    run_ok(
        "grub-mkstandalone",
        &[
            "-O",
            "x86_64-efi",
            "--install-modules=normal echo halt serial terminal configfile",
            "--locales=",
            "--fonts=",
            "--themes=",
            "-o",
            efi.join("EFI/BOOT/BOOTX64.EFI").to_str().unwrap(),
            &format!("boot/grub/grub.cfg={}", cfg.display()),
        ],
    );
    (tree, efi)
}

/// Boots `args` under qemu until `mark` shows on the serial console.
fn boots(dir: &Path, what: &str, args: &[&str], mark: &str) {
    let log = dir.join(format!("serial-{}.log", what.replace(' ', "-")));
    let _ = fs::remove_file(&log);
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-nographic",
            "-monitor",
            "none",
            "-m",
            "256",
            "-no-reboot",
            "-serial",
        ])
        .arg(format!("file:{}", log.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-x86_64 is installed by `cargo xtask test`");
    let start = Instant::now();
    let mut seen = false;
    while start.elapsed() < Duration::from_secs(120) {
        if fs::read(&log).is_ok_and(|b| String::from_utf8_lossy(&b).contains(mark)) {
            seen = true;
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&fs::read(&log).unwrap_or_default()).into_owned();
    assert!(
        seen,
        "{what}: no `{mark}` on the serial console within 120 s; it shows:\n{text}"
    );
}

fn boots_four_ways(dir: &Path, iso: &Path) {
    let cd = iso.to_str().unwrap().to_string();
    let disk = format!("file={cd},format=raw");
    boots(dir, "bios cd", &["-cdrom", &cd], BIOS_MARK);
    boots(dir, "bios disk", &["-drive", &disk], BIOS_MARK);
    boots(dir, "uefi cd", &["-bios", OVMF, "-cdrom", &cd], UEFI_MARK);
    boots(
        dir,
        "uefi disk",
        &["-bios", OVMF, "-drive", &disk],
        UEFI_MARK,
    );
}

#[test]
fn hybrid_iso_boots_four_ways_like_xorriso_s() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, efi) = boot_tree(dir.path());
    let ours = dir.path().join("ours.iso");
    run_ok(
        IMGCONV,
        &[
            "iso",
            tree.to_str().unwrap(),
            "-o",
            ours.to_str().unwrap(),
            "--volid",
            "IMGCONV_BOOT",
            "--bios-boot",
            "isolinux/isolinux.bin",
            "--boot-catalog",
            "isolinux/boot.cat",
            "--efi-boot",
            efi.to_str().unwrap(),
            "--hybrid",
            "--hybrid-mbr",
            ISOHDPFX,
        ],
    );
    let report = run_ok(
        "xorriso",
        &[
            "-indev",
            ours.to_str().unwrap(),
            "-report_el_torito",
            "plain",
            "-report_system_area",
            "plain",
        ],
    );
    for want in [
        "El Torito img path :   1  /isolinux/isolinux.bin",
        "El Torito img opts :   1  boot-info-table isohybrid-suitable",
        "El Torito img path :   2  /efiboot.img",
        "System area summary: MBR isohybrid cyl-align-on GPT",
        "MBR partition path :   2  /efiboot.img",
        "GPT partition path :   2  /efiboot.img",
    ] {
        assert!(
            report.contains(want),
            "xorriso does not report `{want}`:\n{report}"
        );
    }
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("El Torito boot img :   2  UEFI  y")),
        "{report}"
    );
    let info = run_ok(IMGCONV, &["info", ours.to_str().unwrap()]);
    assert!(
        info.contains("boot entry 1: BIOS bootable load 4 sectors"),
        "{info}"
    );
    assert!(info.contains("(/efiboot.img)"), "{info}");
    assert!(info.contains("system area: hybrid MBR + GPT"), "{info}");
    // The EFI image is reachable as partition 2 of the disk: mtools reads
    // the FAT at the offset GPT and MBR give.
    let parts = run_ok("sfdisk", &["--json", ours.to_str().unwrap()]);
    let start: u64 = parts
        .split("\"start\":")
        .nth(2)
        .and_then(|s| s.split([',', ' ']).find(|w| !w.is_empty()))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no second partition in {parts}"));
    let listing = run_ok(
        "mdir",
        &[
            "-i",
            &format!("{}@@{}", ours.display(), start * 512),
            "::/EFI/BOOT",
        ],
    );
    assert!(listing.contains("BOOTX64"), "{listing}");
    boots_four_ways(dir.path(), &ours);

    // The reference: xorriso's own hybrid image of the same tree boots the same four ways.
    let img = dir.path().join("efiboot.img");
    run_ok("mkfs.vfat", &["-C", img.to_str().unwrap(), "4096"]);
    run_ok(
        "mmd",
        &["-i", img.to_str().unwrap(), "::/EFI", "::/EFI/BOOT"],
    );
    run_ok(
        "mcopy",
        &[
            "-i",
            img.to_str().unwrap(),
            efi.join("EFI/BOOT/BOOTX64.EFI").to_str().unwrap(),
            "::/EFI/BOOT/",
        ],
    );
    fs::copy(&img, tree.join("efiboot.img")).unwrap();
    let reference = dir.path().join("xorriso.iso");
    run_ok(
        "xorriso",
        &[
            "-as",
            "mkisofs",
            "-R",
            "-J",
            "-o",
            reference.to_str().unwrap(),
            "-b",
            "isolinux/isolinux.bin",
            "-c",
            "isolinux/boot.cat",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "-isohybrid-mbr",
            ISOHDPFX,
            "-eltorito-alt-boot",
            "-e",
            "efiboot.img",
            "-no-emul-boot",
            "-isohybrid-gpt-basdat",
            tree.to_str().unwrap(),
        ],
    );
    boots_four_ways(dir.path(), &reference);
}

#[test]
fn iso_cli_extracts_and_refuses_bad_requests_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("docs")).unwrap();
    fs::write(tree.join("docs/a.txt"), b"alpha\n").unwrap();
    std::os::unix::fs::symlink("docs/a.txt", tree.join("link")).unwrap();
    let iso = dir.path().join("x.iso");
    let t = tree.to_str().unwrap();
    // A boot image that is not in the tree: an error naming it, no output.
    let out = testkit::run(
        IMGCONV,
        &[
            "iso",
            t,
            "-o",
            iso.to_str().unwrap(),
            "--bios-boot",
            "nope.bin",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("BIOS boot image `nope.bin` is not in the tree"));
    assert!(!iso.exists());
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "a temporary file was left behind"
    );

    // An output inside the tree would be taken into the next build.
    let inside = tree.join("x.iso");
    let out = testkit::run(IMGCONV, &["iso", t, "-o", inside.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inside the source tree"));
    assert!(!inside.exists());

    // Written to a pipe, the image is the same as written to a file, EFI
    // image built from a directory and hybrid tables included.
    run_ok(IMGCONV, &["iso", t, "-o", iso.to_str().unwrap()]);
    let efi = dir.path().join("efi");
    fs::create_dir_all(efi.join("EFI/BOOT")).unwrap();
    fs::write(efi.join("EFI/BOOT/BOOTX64.EFI"), vec![7u8; 5000]).unwrap();
    let args = ["--efi-boot", efi.to_str().unwrap(), "--hybrid"];
    let piped = Command::new(IMGCONV)
        .args(["iso", t, "-o", "-"])
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    let filed = dir.path().join("f.iso");
    let status = Command::new(IMGCONV)
        .args(["iso", t, "-o", filed.to_str().unwrap()])
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .status()
        .unwrap();
    assert!(status.success() && piped.status.success());
    assert!(
        piped.stdout == fs::read(&filed).unwrap(),
        "pipe and file outputs differ"
    );

    let x = dir.path().join("x");
    run_ok(
        IMGCONV,
        &[
            "iso",
            "--extract",
            iso.to_str().unwrap(),
            x.to_str().unwrap(),
        ],
    );
    assert_eq!(fs::read(x.join("docs/a.txt")).unwrap(), b"alpha\n");
    assert_eq!(
        fs::read_link(x.join("link")).unwrap(),
        Path::new("docs/a.txt")
    );
    // Extracting again into the now non-empty directory is refused.
    let again = testkit::run(
        IMGCONV,
        &[
            "iso",
            "--extract",
            iso.to_str().unwrap(),
            x.to_str().unwrap(),
        ],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}

#[test]
fn efi_boot_directory_becomes_a_fat_image_fsck_finds_clean() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("README"), b"installer\n").unwrap();
    // Subdirectories (each with `.` and `..`), long and Unicode names, a
    // directory of more than one cluster, files of several clusters.
    let efi = dir.path().join("efi");
    fs::create_dir_all(efi.join("EFI/BOOT")).unwrap();
    fs::create_dir_all(efi.join("EFI/Linux Loader/Themes/Dark Mode/Fonts")).unwrap();
    fs::create_dir_all(efi.join("empty")).unwrap();
    fs::write(efi.join("EFI/BOOT/BOOTX64.EFI"), vec![0x4d; 70_000]).unwrap();
    fs::write(efi.join("EFI/BOOT/grub.cfg"), b"set timeout=0\n").unwrap();
    fs::write(
        efi.join("EFI/Linux Loader/Themes/Dark Mode/Fonts/Ünïcödé Sans 12pt.pf2"),
        vec![3u8; 9000],
    )
    .unwrap();
    for i in 0..200 {
        fs::write(
            efi.join(format!("EFI/Linux Loader/module number {i}.mod")),
            vec![i as u8; i],
        )
        .unwrap();
    }
    let iso = dir.path().join("efi.iso");
    run_ok(
        IMGCONV,
        &[
            "iso",
            tree.to_str().unwrap(),
            "-o",
            iso.to_str().unwrap(),
            "--efi-boot",
            efi.to_str().unwrap(),
        ],
    );
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    let img = out.join("efiboot.img");
    run_ok(
        "xorriso",
        &[
            "-osirrox",
            "on",
            "-indev",
            iso.to_str().unwrap(),
            "-extract",
            "/efiboot.img",
            img.to_str().unwrap(),
        ],
    );
    testkit::assert_clean_fat(&img, &efi, dir.path());
}
