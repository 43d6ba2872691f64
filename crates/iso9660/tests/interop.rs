//! ISO images checked with xorriso, isoinfo (genisoimage) and 7z, and images
//! those tools make read back by this crate; the EFI image checked with
//! fsck.fat and mtools (the FAT writer's own tests are the `fat` crate's).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use blocksink::{BuildStamp, Destination};
use iso9660::fat::{FatImage, FatTooSmall};
use iso9660::{IsoImage, IsoKind, IsoOptions, IsoWriter, Naming, Tree};
use testkit::{assert_clean_fat, fat_tree, mtools, run, run_ok};

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
    assert_eq!(
        err.detail::<FatTooSmall>().map(|d| d.needed),
        Some(2 << 20),
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
