//! ISO images checked with xorriso, isoinfo (genisoimage) and 7z, and images
//! those tools make read back by this crate; FAT images checked with
//! fsck.fat, mtools and mkfs.fat's choice of layout.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use blocksink::{BuildStamp, Destination};
use iso9660::fat::{FatImage, FatType};
use iso9660::{Error, IsoImage, IsoKind, IsoOptions, IsoWriter, Naming, Tree};
use testkit::{assert_clean_fat, mtools, run, run_ok};

/// A tree with what Rock Ridge must carry: modes, owners, symlinks (one
/// with a 300-byte component), hard links, long and Unicode names, a tree
/// deeper than ISO 9660's eight levels, a device, a fifo, empty entries.
fn rich_tree(root: &Path) {
    let deep = root.join("a/b/c/d/e/f/g/h/i/j/k");
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("leaf.txt"), b"deep\n").unwrap();
    fs::write(root.join("hello.txt"), b"hello\n").unwrap();
    std::os::unix::fs::chown(root.join("hello.txt"), Some(1234), Some(5678)).unwrap();
    fs::set_permissions(root.join("hello.txt"), fs::Permissions::from_mode(0o4750)).unwrap();
    fs::hard_link(root.join("hello.txt"), root.join("hardlink.txt")).unwrap();
    std::os::unix::fs::symlink("hello.txt", root.join("rel-link")).unwrap();
    std::os::unix::fs::symlink("/etc/../etc/os-release", root.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../".repeat(20) + &"x".repeat(300), root.join("long-link"))
        .unwrap();
    fs::write(root.join("L".repeat(200)), b"long name\n").unwrap();
    fs::write(root.join("café ünïcödé.txt"), b"unicode\n").unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::create_dir(root.join("private")).unwrap();
    fs::set_permissions(root.join("private"), fs::Permissions::from_mode(0o700)).unwrap();
    let mut big = vec![0u8; 3 << 20];
    testkit::Rng::new(7).fill(&mut big);
    fs::write(root.join("private/random.bin"), &big).unwrap();
    run_ok(
        "mknod",
        &[root.join("null").to_str().unwrap(), "c", "1", "3"],
    );
    run_ok("mkfifo", &[root.join("fifo").to_str().unwrap()]);
}

fn write_iso(tree_dir: &Path, out: &Path, opts: IsoOptions, stamp: &BuildStamp) {
    let tree = Tree::from_dir(tree_dir).unwrap();
    let w = IsoWriter::new(tree, opts, stamp).unwrap();
    let f = fs::File::create(out).unwrap();
    w.write(&mut Destination::file(f), &mut |_| {}).unwrap();
}

/// `ls -l` style type and permission letters.
fn mode_string(mode: u32) -> String {
    let t = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        0o020000 => 'c',
        0o060000 => 'b',
        0o010000 => 'p',
        0o140000 => 's',
        _ => '-',
    };
    let mut s = String::from(t);
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        s.push(if mode & (0o400 >> i) != 0 { c } else { '-' });
    }
    let mut b: Vec<char> = s.chars().collect();
    for (bit, at, lower, upper) in [
        (0o4000, 3, 's', 'S'),
        (0o2000, 6, 's', 'S'),
        (0o1000, 9, 't', 'T'),
    ] {
        if mode & bit != 0 {
            b[at] = if b[at] == 'x' { lower } else { upper };
        }
    }
    b.into_iter().collect()
}

/// (mode, uid, gid, size or "major,minor", symlink target) per path, from the
/// source tree.
fn expected(root: &Path) -> BTreeMap<String, (String, u32, u32, String, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = format!("/{}", p.strip_prefix(root).unwrap().to_str().unwrap());
            let ft = m.file_type();
            let size = if ft.is_char_device() || ft.is_block_device() {
                let rdev = m.rdev();
                format!(
                    "{},{}",
                    (rdev >> 8) & 0xfff,
                    (rdev & 0xff) | ((rdev >> 12) & 0xfff00)
                )
            } else if ft.is_file() {
                m.len().to_string()
            } else {
                "0".into()
            };
            let target = if ft.is_symlink() {
                fs::read_link(&p).unwrap().to_str().unwrap().to_string()
            } else {
                String::new()
            };
            out.insert(rel, (mode_string(m.mode()), m.uid(), m.gid(), size, target));
            if ft.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

/// The same facts from `xorriso -find / -exec lsdl`.
fn xorriso_listing(iso: &Path) -> BTreeMap<String, (String, u32, u32, String, String)> {
    let text = run_ok(
        "xorriso",
        &[
            "-indev",
            iso.to_str().unwrap(),
            "-find",
            "/",
            "-exec",
            "lsdl",
        ],
    );
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.contains('\'')) {
        let (fields, rest) = line.split_at(line.find('\'').unwrap());
        let f: Vec<&str> = fields.split_whitespace().collect();
        let mut quoted = rest.split(" -> ");
        let path = quoted.next().unwrap().trim_matches('\'').to_string();
        let target = quoted.next().unwrap_or("").trim_matches('\'').to_string();
        if path == "/" {
            continue;
        }
        out.insert(
            path,
            (
                f[0].to_string(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].to_string(),
                target,
            ),
        );
    }
    out
}

#[test]
fn xorriso_lists_rock_ridge_as_in_the_source_tree() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    rich_tree(&src);
    let iso = dir.path().join("out.iso");
    let opts = IsoOptions {
        volume_id: "RICH_TREE".into(),
        publisher: "imgconv tests".into(),
        ..IsoOptions::default()
    };
    write_iso(&src, &iso, opts, &BuildStamp::fixed(1_700_000_000, "rich"));
    assert_eq!(xorriso_listing(&iso), expected(&src));

    // isoinfo: the volume fields and the Joliet names.
    let d = run_ok("isoinfo", &["-d", "-i", iso.to_str().unwrap()]);
    assert!(d.contains("Volume id: RICH_TREE"), "{d}");
    assert!(d.contains("Publisher id: imgconv tests"), "{d}");
    assert!(d.contains("Joliet with UCS level 3 found"), "{d}");
    assert!(d.contains("Rock Ridge signatures version 1 found"), "{d}");
    let j = run(
        "isoinfo",
        &["-l", "-J", "-j", "iso8859-1", "-i", iso.to_str().unwrap()],
    )
    .stdout;
    let latin1: Vec<u8> = "café ünïcödé.txt".chars().map(|c| c as u8).collect();
    assert!(
        j.windows(latin1.len()).any(|w| w == latin1),
        "{}",
        String::from_utf8_lossy(&j)
    );
    let long = format!(" {} ", "L".repeat(103));
    assert!(j.windows(long.len()).any(|w| w == long.as_bytes()));

    // 7z extracts the files byte for byte.
    let out = dir.path().join("7z");
    run_ok(
        "7z",
        &[
            "x",
            "-y",
            &format!("-o{}", out.display()),
            iso.to_str().unwrap(),
        ],
    );
    for (path, (mode, ..)) in expected(&src) {
        if mode.starts_with('-') && !path.starts_with("/LLL") {
            let want = fs::read(src.join(&path[1..])).unwrap();
            let got = fs::read(out.join(&path[1..]))
                .unwrap_or_else(|e| panic!("7z did not extract {path}: {e}"));
            assert!(want == got, "{path} differs after 7z x");
        }
    }

    // Our reader and extraction agree with the source.
    let img = IsoImage::open(fs::File::open(&iso).unwrap()).unwrap();
    assert_eq!(img.naming(), Naming::RockRidge);
    let ours = dir.path().join("ours");
    let summary = img.extract(&ours).unwrap();
    assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
    assert_eq!(expected(&ours), expected(&src));
    for e in img.entries().unwrap() {
        if e.kind == IsoKind::File {
            let want = fs::read(src.join(String::from_utf8(e.path.clone()).unwrap())).unwrap();
            assert_eq!(
                fs::read(ours.join(String::from_utf8(e.path).unwrap())).unwrap(),
                want
            );
        }
    }
}

#[test]
fn same_tree_same_bytes_with_source_date_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    rich_tree(&src);
    let stamp = BuildStamp::fixed(1_600_000_000, "repro");
    let (a, b) = (dir.path().join("a.iso"), dir.path().join("b.iso"));
    write_iso(&src, &a, IsoOptions::default(), &stamp);
    // Touching every file later than the epoch changes nothing: times are clamped.
    run_ok(
        "sh",
        &[
            "-c",
            &format!("find {} -exec touch -h {{}} +", src.display()),
        ],
    );
    write_iso(&src, &b, IsoOptions::default(), &stamp);
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "two builds differ"
    );
}

/// A tree the other tools can all carry (names of 64 characters at most).
fn plain_tree(root: &Path) {
    fs::create_dir_all(root.join("boot/grub")).unwrap();
    fs::create_dir_all(root.join("EFI/BOOT")).unwrap();
    fs::write(root.join("boot/grub/grub.cfg"), b"set timeout=5\n").unwrap();
    fs::write(root.join("README.md"), b"# installer\n").unwrap();
    fs::write(root.join("a file with spaces.txt"), b"spaces\n").unwrap();
    let mut big = vec![0u8; (1 << 20) + 123];
    testkit::Rng::new(3).fill(&mut big);
    fs::write(root.join("EFI/BOOT/big.bin"), &big).unwrap();
    fs::write(root.join("empty"), b"").unwrap();
}

/// Every regular file with its bytes, as 7z extracts them.
fn seven_zip_files(iso: &Path, scratch: &Path) -> BTreeMap<String, Vec<u8>> {
    run_ok(
        "7z",
        &[
            "x",
            "-y",
            &format!("-o{}", scratch.display()),
            iso.to_str().unwrap(),
        ],
    );
    let mut out = BTreeMap::new();
    let mut stack = vec![scratch.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p
                    .strip_prefix(scratch)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn our_files(iso: &Path) -> BTreeMap<String, Vec<u8>> {
    let img = IsoImage::open(fs::File::open(iso).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for e in img.entries().unwrap() {
        if e.kind == IsoKind::File {
            let mut bytes = Vec::new();
            img.read_file(&e, &mut bytes).unwrap();
            out.insert(String::from_utf8(e.path).unwrap(), bytes);
        }
    }
    out
}

#[test]
fn reads_what_xorriso_and_genisoimage_write_as_7z_does() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    plain_tree(&src);
    let s = src.to_str().unwrap();
    let x = dir.path().join("xorriso.iso");
    let g = dir.path().join("genisoimage.iso");
    run_ok(
        "xorriso",
        &["-as", "mkisofs", "-R", "-J", "-o", x.to_str().unwrap(), s],
    );
    run_ok(
        "genisoimage",
        &["-quiet", "-R", "-J", "-o", g.to_str().unwrap(), s],
    );
    for (n, iso) in [x, g].iter().enumerate() {
        let seven = seven_zip_files(iso, &dir.path().join(format!("7z-{n}")));
        assert_eq!(seven.len(), 5);
        assert_eq!(our_files(iso), seven, "{}", iso.display());
        // The Joliet and plain trees list the same files.
        let img = IsoImage::open(fs::File::open(iso).unwrap()).unwrap();
        let joliet: Vec<_> = img
            .entries_with(Naming::Joliet)
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        let rr: Vec<_> = img.entries().unwrap().into_iter().map(|e| e.path).collect();
        assert_eq!(joliet, rr);
        assert_eq!(img.entries_with(Naming::Iso9660).unwrap().len(), rr.len());
    }
}

#[test]
fn files_over_4_gib_are_split_into_extents() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    let big = src.join("big.img");
    let size = (4u64 << 30) + 4096 + 17;
    let f = fs::File::create(&big).unwrap();
    f.set_len(size).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"head", 0).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"tail", size - 4).unwrap();
    let iso = dir.path().join("big.iso");
    write_iso(
        &src,
        &iso,
        IsoOptions::default(),
        &BuildStamp::fixed(0, "big"),
    );
    let listing = xorriso_listing(&iso);
    assert_eq!(listing["/big.img"].3, size.to_string());
    let l = run_ok("isoinfo", &["-l", "-i", iso.to_str().unwrap()]);
    assert_eq!(l.matches("BIG.IMG;1").count(), 2, "{l}");
    let img = IsoImage::open(fs::File::open(&iso).unwrap()).unwrap();
    let e = img
        .entries()
        .unwrap()
        .into_iter()
        .find(|e| e.path == b"big.img")
        .unwrap();
    assert_eq!((e.size, e.extents.len()), (size, 2));
    let (lba, len) = e.extents[1];
    let mut tail = [0u8; 4];
    blocksink::ReadAt::read_exact_at(
        &fs::File::open(&iso).unwrap(),
        &mut tail,
        u64::from(lba) * 2048 + len - 4,
    )
    .unwrap();
    assert_eq!(&tail, b"tail");
}

fn patched(iso: &Path, find: &[u8], replace: &[u8]) -> Vec<u8> {
    let mut bytes = fs::read(iso).unwrap();
    let at = bytes
        .windows(find.len())
        .position(|w| w == find)
        .expect("pattern in image");
    bytes[at..at + replace.len()].copy_from_slice(replace);
    bytes
}

#[test]
fn hostile_images_are_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("sub/xx"), b"data").unwrap();
    let iso = dir.path().join("ok.iso");
    write_iso(
        &src,
        &iso,
        IsoOptions {
            joliet: false,
            ..IsoOptions::default()
        },
        &BuildStamp::fixed(0, "h"),
    );

    // A Rock Ridge name of `..` must not leave the destination.
    let evil = patched(&iso, b"NM\x07\x01\x00xx", b"NM\x07\x01\x00..");
    let img = IsoImage::open(evil).unwrap();
    let err = img.extract(&dir.path().join("x1")).unwrap_err().to_string();
    assert!(err.contains("refusing to extract /sub/.."), "{err}");

    // A name holding `/` could reach through a symlink made earlier: refused
    // when listing already.
    let evil = patched(&iso, b"NM\x07\x01\x00xx", b"NM\x07\x01\x00a/");
    let err = IsoImage::open(evil)
        .unwrap()
        .entries()
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds `/` or NUL"), "{err}");

    // A subdirectory pointing back at the root is a loop.
    let plain = IsoImage::open(fs::File::open(&iso).unwrap()).unwrap();
    let root_lba = {
        let b = fs::read(&iso).unwrap();
        u32::from_le_bytes(b[16 * 2048 + 158..16 * 2048 + 162].try_into().unwrap())
    };
    drop(plain);
    let mut bytes = fs::read(&iso).unwrap();
    let rec = bytes.windows(4).rposition(|w| w == b"\x03SUB").unwrap() - 32;
    bytes[rec + 2..rec + 6].copy_from_slice(&root_lba.to_le_bytes());
    let err = IsoImage::open(bytes)
        .unwrap()
        .entries()
        .unwrap_err()
        .to_string();
    assert!(err.contains("directory loop"), "{err}");

    // Truncated images and garbage name where they fail.
    let short = fs::read(&iso).unwrap()[..40 * 1024].to_vec();
    let err = IsoImage::open(short)
        .and_then(|i| i.entries())
        .unwrap_err()
        .to_string();
    assert!(err.contains("past the end"), "{err}");
    let err = IsoImage::open(vec![0u8; 64 * 1024])
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no `CD001`"), "{err}");
}

/// A tree that exercises FAT directories: ten levels deep, long names (mixed
/// case, Unicode, 220 characters, characters 8.3 names cannot hold, names
/// whose 8.3 forms collide), 340 files in one directory (so it spans
/// clusters), empty directories, empty files and files of several clusters.
fn fat_tree(root: &Path) {
    let mut deep = root.join("Level 1");
    for n in 2..=10 {
        deep = deep.join(format!("level {n}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("leaf.txt"), b"ten levels down\n").unwrap();
    fs::write(root.join("Level 1/level 2/Mid.TXT"), b"mid\n").unwrap();
    fs::create_dir_all(root.join("EFI/BOOT")).unwrap();
    fs::write(root.join("EFI/BOOT/BOOTX64.EFI"), vec![0x4d; 5000]).unwrap();
    fs::write(root.join("readme.txt"), b"lower case 8.3\n").unwrap();
    fs::write(root.join("MiXeD.TxT"), b"mixed\n").unwrap();
    fs::write(
        root.join("A Long File Name With Mixed Case.Text"),
        b"long\n",
    )
    .unwrap();
    fs::write(root.join("x".repeat(220) + ".bin"), b"220 characters\n").unwrap();
    fs::write(root.join("Grüße – 日本語.txt"), b"unicode\n").unwrap();
    fs::write(root.join("a+b,c;d=e[f]g.h.txt"), b"odd characters\n").unwrap();
    fs::write(root.join(".hidden"), b"dot first\n").unwrap();
    fs::write(root.join("Program Files"), b"collides 1\n").unwrap();
    fs::write(root.join("Program Data"), b"collides 2\n").unwrap();
    fs::write(root.join("PROGRA~1"), b"a literal tail\n").unwrap();
    fs::write(root.join("zero.bin"), b"").unwrap();
    fs::create_dir_all(root.join("empty dir")).unwrap();
    fs::create_dir_all(root.join("deep empty/x/y")).unwrap();
    let many = root.join("Many Files");
    fs::create_dir(&many).unwrap();
    for i in 0..340 {
        fs::write(
            many.join(format!("file number {i:03}.dat")),
            vec![i as u8; i],
        )
        .unwrap();
    }
    fs::write(many.join("zero"), b"").unwrap();
    let mut rng = testkit::Rng::new(11);
    for (name, len) in [("big.bin", 300_001), ("two clusters", 4096), ("one", 2048)] {
        let mut b = vec![0u8; len];
        rng.fill(&mut b);
        fs::write(root.join(name), &b).unwrap();
    }
}

#[test]
fn efi_fat_image_is_clean_for_fsck_and_mtools() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fat_tree(&src);
    let stamp = BuildStamp::fixed(1_700_000_000, "fat");
    let bytes = iso9660::fat_image_from_dir(&src, &stamp).unwrap();
    // The smallest whole MiB that holds the tree.
    assert_eq!(bytes.len(), 2 << 20);
    let err = FatImage::from_dir(&src, 1 << 20, "EFIBOOT", &stamp).unwrap_err();
    assert!(
        matches!(err, Error::FatTooSmall { needed, .. } if needed == 2 << 20),
        "{err}"
    );
    let img = dir.path().join("efiboot.img");
    fs::write(&img, &bytes).unwrap();
    assert_clean_fat(&img, &src, dir.path());
    let listing = mtools("mdir", &["-i", img.to_str().unwrap(), "::/"]);
    assert!(
        listing.contains("Volume in drive : is EFIBOOT"),
        "{listing}"
    );
    assert!(
        iso9660::fat_image_from_dir(&src, &stamp).unwrap() == bytes,
        "two builds differ"
    );
}

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
    let Error::FatTooSmall { needed, size, .. } = err else {
        panic!("{err}")
    };
    assert_eq!((size, needed), (4 << 20, 6 << 20));
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
    assert!(
        matches!(err, Error::FatTooSmall { needed, .. } if needed == 512 << 20),
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
