//! FAT images checked with fsck.fat, mtools and mkfs.fat's choice of
//! layout.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use blocksink::{BuildStamp, Destination};
use fat::{FatImage, FatTooSmall, FatType};
use testkit::{assert_clean_fat, fat_tree, run, run_ok};

/// The same tree in FAT12, FAT16 and FAT32 file systems of given sizes,
/// written to a file and to memory alike.
#[test]
fn fat_of_each_type_holds_a_deep_wide_long_named_tree() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fat_tree(&src);
    let stamp = BuildStamp::fixed(1_700_000_000, "fat");
    for (size, fat_type) in [
        (8 << 20, FatType::Fat12),
        (64 << 20, FatType::Fat16),
        (600 << 20, FatType::Fat32),
    ] {
        let fs = FatImage::from_dir(&src, size, "ESP", &stamp).unwrap();
        assert_eq!(fs.geometry().fat_type, fat_type, "{size} bytes");
        let img = dir.path().join(format!("{size}.img"));
        let mut dest = Destination::file(fs::File::create(&img).unwrap());
        fs.write(&mut dest, 0).unwrap();
        dest.finish(size).unwrap();
        assert_clean_fat(&img, &src, dir.path());
        if size < 100 << 20 {
            assert!(fs.to_vec().unwrap() == fs::read(&img).unwrap());
        }
    }
}

/// What `mkfs.vfat -C` makes of `kib` KiB: its boot sector.
fn mkfs_boot_sector(dir: &Path, kib: u64) -> Vec<u8> {
    let img = dir.join("mkfs.img");
    let _ = fs::remove_file(&img);
    run_ok(
        "mkfs.vfat",
        &["-n", "ESP", "-C", img.to_str().unwrap(), &kib.to_string()],
    );
    let b = boot_sector(&img);
    fs::remove_file(&img).unwrap();
    b
}

fn boot_sector(img: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut b = vec![0u8; 512];
    fs::File::open(img).unwrap().read_exact(&mut b).unwrap();
    b
}

#[test]
fn fat_layout_is_the_one_mkfs_fat_picks_for_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let stamp = BuildStamp::fixed(0, "layout");
    // Around each change of FAT type and cluster size, FAT32's cluster
    // sizes up to 32 KiB, and sizes that are not whole tracks.
    for kib in [
        100, 1024, 2000, 4096, 4100, 8192, 8200, 9000, 16_384, 65_536, 130_000, 131_072, 131_100,
        262_144, 270_000, 524_287, 524_288, 1_048_576, 8_388_612, 16_777_220, 33_554_436,
    ] {
        let size = kib * 1024;
        let theirs = mkfs_boot_sector(dir.path(), kib);
        let fs = FatImage::from_dir(&empty, size, "ESP", &stamp).unwrap();
        let img = dir.path().join("ours.img");
        let mut dest = Destination::file(fs::File::create(&img).unwrap());
        fs.write(&mut dest, 0).unwrap();
        dest.finish(size).unwrap();
        let ours = boot_sector(&img);
        // BPB from bytes per sector to the total sector count; for FAT32 on
        // to the backup boot sector; then the type string.
        let (bpb, kind) = if fs.geometry().fat_type == FatType::Fat32 {
            (11..52, 82..90)
        } else {
            (11..36, 54..62)
        };
        assert_eq!(
            ours[bpb.clone()],
            theirs[bpb],
            "BPB for {kib} KiB ({:?})",
            fs.geometry()
        );
        assert_eq!(ours[kind.clone()], theirs[kind], "type for {kib} KiB");
        let out = run("fsck.fat", &["-n", img.to_str().unwrap()]);
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && report.lines().count() == 2,
            "fsck.fat on {kib} KiB:\n{report}"
        );
        fs::remove_file(&img).unwrap();
    }
}

#[test]
fn fat_that_cannot_hold_the_tree_names_the_size_that_can() {
    let dir = tempfile::tempdir().unwrap();
    let stamp = BuildStamp::fixed(1_700_000_000, "small");
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("EFI/BOOT")).unwrap();
    fs::write(src.join("EFI/BOOT/BOOTX64.EFI"), vec![1u8; 5 << 20]).unwrap();
    let err = FatImage::from_dir(&src, 4 << 20, "ESP", &stamp).unwrap_err();
    let Some(&FatTooSmall { size, needed }) = err.detail::<FatTooSmall>() else {
        panic!("{err}")
    };
    assert_eq!((size, needed), (4 << 20, 6 << 20));
    assert_eq!(err.file_path(), Some(src.as_path()));
    assert!(err_text(&src, 4 << 20).contains("needs a FAT file system of 6291456 bytes (6 MiB)"));
    let fs = FatImage::from_dir(&src, needed, "ESP", &stamp).unwrap();
    let img = dir.path().join("6m.img");
    fs::write(&img, fs.to_vec().unwrap()).unwrap();
    assert_clean_fat(&img, &src, dir.path());

    // More entries than FAT12/16's 512 root slots: only FAT32 (512 MiB and
    // up) holds them, its root directory a chain of clusters.
    let wide = dir.path().join("wide");
    fs::create_dir(&wide).unwrap();
    for i in 0..600 {
        fs::write(wide.join(format!("root file {i:03}.txt")), i.to_string()).unwrap();
    }
    let err = FatImage::from_dir(&wide, 32 << 20, "", &stamp).unwrap_err();
    assert_eq!(
        err.detail::<FatTooSmall>().map(|d| d.needed),
        Some(512 << 20),
        "{err}"
    );
    let fs = FatImage::from_dir(&wide, 512 << 20, "", &stamp).unwrap();
    assert_eq!(fs.geometry().fat_type, FatType::Fat32);
    let img = dir.path().join("wide.img");
    let mut dest = Destination::file(fs::File::create(&img).unwrap());
    fs.write(&mut dest, 0).unwrap();
    dest.finish(512 << 20).unwrap();
    assert_clean_fat(&img, &wide, dir.path());

    // What FAT cannot hold is refused with the path or option at fault.
    let bad = |f: &dyn Fn(&Path), label: &str, size: u64| {
        let d = tempfile::tempdir().unwrap();
        f(d.path());
        FatImage::from_dir(d.path(), size, label, &stamp)
            .unwrap_err()
            .to_string()
    };
    let e = bad(&|d| fs::write(d.join("a:b"), b"").unwrap(), "", 1 << 20);
    assert!(e.contains("a:b: a FAT name cannot hold ':'"), "{e}");
    let e = bad(
        &|d| {
            fs::write(d.join("Readme"), b"").unwrap();
            fs::write(d.join("README"), b"").unwrap();
        },
        "",
        1 << 20,
    );
    assert!(
        e.contains("`README` and `Readme` differ only in case"),
        "{e}"
    );
    let e = bad(&|_| {}, "lower", 1 << 20);
    assert!(e.contains("volume label `lower`"), "{e}");
    let e = bad(&|_| {}, "", 1_000_000);
    assert!(e.contains("not a whole number of 512-byte sectors"), "{e}");
    let e = bad(
        &|d| std::os::unix::fs::symlink("x", d.join("link")).unwrap(),
        "",
        1 << 20,
    );
    assert!(e.contains("only directories and regular files"), "{e}");
}

fn err_text(src: &Path, size: u64) -> String {
    FatImage::from_dir(src, size, "ESP", &BuildStamp::fixed(0, "e"))
        .unwrap_err()
        .to_string()
}
