//! Entries streamed into a tree one at a time: any order gives the bytes
//! a directory walk gives, copies stand for hard links, the bytes wait in
//! one unnamed file, and errors name paths as the caller names the root.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io;
use std::path::Path;

use blocksink::{BuildStamp, Destination};
use fat::{Error, ErrorKind, FatImage, FatTooSmall, FatTree};
use testkit::{assert_clean_fat, fat_tree};

/// Every directory and file under `root`, as (path, bytes or None for a
/// directory), in a walk's order.
fn entries(root: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(root.join(&rel)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if e.file_type().unwrap().is_dir() {
                out.push((path.clone(), None));
                stack.push(path);
            } else {
                out.push((path, Some(fs::read(e.path()).unwrap())));
            }
        }
    }
    out
}

fn stream(tree: &mut FatTree, entries: &[(String, Option<Vec<u8>>)]) {
    for (path, data) in entries {
        match data {
            None => tree.add_dir(path).unwrap(),
            Some(bytes) => tree
                .add_file(path, bytes.len() as u64, &mut bytes.as_slice())
                .unwrap(),
        }
    }
}

#[test]
fn entries_in_any_order_give_the_bytes_a_directory_walk_gives() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fat_tree(&src);
    let stamp = BuildStamp::fixed(1_700_000_000, "fat");
    let walked = FatImage::from_dir(&src, 8 << 20, "ESP", &stamp)
        .unwrap()
        .to_vec()
        .unwrap();

    let mut all = entries(&src);
    // Files before the directories that hold them, children before parents.
    all.reverse();
    let mut rng = testkit::Rng::new(5);
    let mut shuffled = all.clone();
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i as u64 + 1) as usize);
    }
    // Files only: every directory made as a parent, the empty ones asked for.
    let files_first: Vec<_> = all
        .iter()
        .filter(|(_, d)| d.is_some())
        .chain(all.iter().filter(|(_, d)| d.is_none()))
        .cloned()
        .collect();
    for order in [all, shuffled, files_first] {
        let mut tree = FatTree::new("(esp)");
        stream(&mut tree, &order);
        let fs = tree.build(8 << 20, "ESP", &stamp).unwrap();
        assert!(fs.to_vec().unwrap() == walked, "streamed bytes differ");
    }
}

#[test]
fn bytes_past_the_memory_bound_wait_in_one_unnamed_file_in_the_work_directory() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("EFI/Linux")).unwrap();
    let mut big = vec![0u8; fat::SPOOL_IN_MEMORY + 12345];
    testkit::Rng::new(9).fill(&mut big);
    fs::write(src.join("EFI/Linux/linux.efi"), &big).unwrap();
    fs::write(src.join("small.conf"), b"timeout 0\n").unwrap();
    let stamp = BuildStamp::fixed(1_700_000_000, "big");
    let walked = FatImage::from_dir(&src, 32 << 20, "", &stamp)
        .unwrap()
        .to_vec()
        .unwrap();

    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();
    let mut tree = FatTree::new_in("/boot/efi", &work);
    stream(&mut tree, &entries(&src));
    tree.add_copy("EFI/BOOT/BOOTX64.EFI", "/EFI/Linux/linux.efi")
        .unwrap();
    // The spool is unnamed: nothing shows in the work directory.
    assert_eq!(fs::read_dir(&work).unwrap().count(), 0);
    // One unnamed file there holds the bytes (Linux shows its place).
    let open_there = fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| fs::read_link(fd.unwrap().path()).ok())
        .filter(|target| target.starts_with(&work))
        .count();
    assert_eq!(open_there, 1);
    // Two copies of the big file and the small one, in whole MiB.
    assert_eq!(tree.size_needed("", 0).unwrap(), 17 << 20);
    let fs_ = tree.build(32 << 20, "", &stamp).unwrap();
    let img = dir.path().join("esp.img");
    let mut dest = Destination::file(fs::File::create(&img).unwrap());
    fs_.write(&mut dest, 0).unwrap();
    dest.finish(32 << 20).unwrap();
    assert!(fs::read(&img).unwrap() == fs_.to_vec().unwrap());

    // The same tree with the copy a file of its own.
    fs::create_dir_all(src.join("EFI/BOOT")).unwrap();
    fs::write(src.join("EFI/BOOT/BOOTX64.EFI"), &big).unwrap();
    let with_copy = FatImage::from_dir(&src, 32 << 20, "", &stamp)
        .unwrap()
        .to_vec()
        .unwrap();
    assert!(fs::read(&img).unwrap() == with_copy);
    assert!(walked != with_copy);
    assert_clean_fat(&img, &src, dir.path());
}

#[test]
fn a_file_added_again_is_replaced() {
    let stamp = BuildStamp::fixed(0, "again");
    let mut once = FatTree::new("x");
    once.add_file("a/b.txt", 3, &mut &b"new"[..]).unwrap();
    let mut twice = FatTree::new("x");
    twice.add_file("a/b.txt", 5, &mut &b"older"[..]).unwrap();
    twice.add_dir("a").unwrap();
    twice.add_file("/a/b.txt", 3, &mut &b"new"[..]).unwrap();
    let bytes = |t: FatTree| t.build(1 << 20, "", &stamp).unwrap().to_vec().unwrap();
    assert!(bytes(once) == bytes(twice));
}

/// One way of adding to a tree.
type Add<'a> = &'a dyn Fn(&mut FatTree) -> fat::Result<()>;

fn build_err(tree: FatTree, size: u64) -> Error {
    tree.build(size, "ESP", &BuildStamp::fixed(0, "e"))
        .unwrap_err()
}

#[test]
fn errors_name_paths_under_the_callers_root() {
    let mut tree = FatTree::new("/boot/efi");
    tree.add_file("EFI/a:b", 0, &mut io::empty()).unwrap();
    assert_eq!(
        build_err(tree, 1 << 20).to_string(),
        "/boot/efi/EFI/a:b: a FAT name cannot hold ':'"
    );

    let mut tree = FatTree::new("(esp)");
    tree.add_file("Readme", 0, &mut io::empty()).unwrap();
    tree.add_file("README", 0, &mut io::empty()).unwrap();
    assert_eq!(
        tree.size_needed("", 0).unwrap_err().to_string(),
        "(esp)/: `README` and `Readme` differ only in case, which FAT does not tell apart"
    );

    let mut tree = FatTree::new("/boot/efi");
    tree.add_file("EFI/BOOT/BOOTX64.EFI", 5 << 20, &mut io::repeat(1))
        .unwrap();
    let err = build_err(tree, 4 << 20);
    assert_eq!(
        err.to_string(),
        "/boot/efi: needs a FAT file system of 6291456 bytes (6 MiB); 4194304 bytes is too small"
    );
    assert_eq!(err.file_path(), Some(Path::new("/boot/efi")));
    assert_eq!(
        err.detail::<FatTooSmall>(),
        Some(&FatTooSmall {
            size: 4 << 20,
            needed: 6 << 20
        })
    );

    // What cannot be added says so at once, naming the path.
    let mut tree = FatTree::new("/boot/efi");
    let e = tree.add_file("x", 10, &mut &b"abc"[..]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(e.file_path(), Some(Path::new("/boot/efi/x")));
    assert_eq!(
        e.io_error().map(io::Error::kind),
        Some(io::ErrorKind::UnexpectedEof)
    );
    assert_eq!(
        e.to_string(),
        "/boot/efi/x: the data ends after 3 of its 10 bytes"
    );
    let e = tree
        .add_file("huge", u64::from(u32::MAX) + 1, &mut io::empty())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/boot/efi/huge: 4294967296 bytes is more than a FAT file can hold (4 GiB - 1)"
    );
    tree.add_file("f", 1, &mut &b"f"[..]).unwrap();
    let cases: [(Add, &str); 6] = [
        (&|t| t.add_dir("f"), "/boot/efi/f: is a file, not a directory"),
        (
            &|t| t.add_file("f/g", 0, &mut io::empty()),
            "/boot/efi/f: is a file, not a directory",
        ),
        (
            &|t| {
                t.add_dir("d")?;
                t.add_file("d", 0, &mut io::empty())
            },
            "/boot/efi/d: is a directory, not a file",
        ),
        (
            &|t| t.add_file("a/../b", 0, &mut io::empty()),
            "/boot/efi/a/../b: a path in a FAT file system is names between `/`, without empty parts, `.` or `..`",
        ),
        (
            &|t| t.add_copy("g", "missing"),
            "/boot/efi/g: a copy of /boot/efi/missing, which is not a file added before",
        ),
        (
            &|t| t.add_file("/", 0, &mut io::empty()),
            "/boot/efi/: is the root directory, not a file",
        ),
    ];
    for (add, want) in cases {
        assert_eq!(add(&mut tree).unwrap_err().to_string(), want);
    }
    // The tree is still whole after refusals.
    tree.build(1 << 20, "", &BuildStamp::fixed(0, "e")).unwrap();
}
