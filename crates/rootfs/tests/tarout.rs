//! The tar writer never writes a name an extractor would place outside its
//! destination, whatever entries it is given: no absolute name, no `..`,
//! and nothing below a symbolic link the same archive made. Checked on
//! random entries, and by Python's tarfile extraction filter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Read;

use proptest::prelude::*;
use rootfs::TarWriter;
use rootfs::{Entry, EntryKind};

fn entry(path: &str, kind: EntryKind) -> Entry {
    Entry {
        path: path.to_string(),
        kind,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: 1_700_000_000,
        xattrs: Vec::new(),
    }
}

/// Writes `entries` (refused ones left out) and returns the archive and
/// how many were refused.
fn write(entries: &[Entry]) -> (Vec<u8>, usize) {
    let mut tar = TarWriter::new(Vec::new());
    let mut refused = 0;
    for e in entries {
        let data = match e.kind {
            EntryKind::File { len } => vec![b'x'; len as usize],
            _ => Vec::new(),
        };
        if let Err(err) = tar.append(&e.path, e, &mut data.as_slice()) {
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
            refused += 1;
        }
    }
    (tar.finish().unwrap(), refused)
}

/// A name is relative and plain: no empty, `.` or `..` component.
fn plain(name: &str) -> bool {
    !name.starts_with('/')
        && name
            .trim_end_matches('/')
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Reads the archive back as an extractor would meet it: every name
/// plain, no member below a name that is a symbolic link by then, no
/// directory over a link, and every hard link to a file written before.
fn assert_confined(archive: &[u8]) {
    // What each name is by then: 'l' a symbolic link, 'd' a directory,
    // 'f' anything else.
    let mut names: HashMap<String, char> = HashMap::new();
    let mut reader = tar::Archive::new(archive);
    for member in reader.entries().unwrap() {
        let mut member = member.unwrap();
        let name = member.path().unwrap().to_string_lossy().into_owned();
        let name = name.trim_end_matches('/').to_string();
        if name == "." || name.is_empty() {
            continue;
        }
        assert!(plain(&name), "member name {name:?}");
        let parts: Vec<&str> = name.split('/').collect();
        for i in 1..parts.len() {
            let parent = parts[..i].join("/");
            assert_ne!(
                names.get(&parent),
                Some(&'l'),
                "{name:?} is below the symbolic link {parent:?}"
            );
        }
        let ty = member.header().entry_type();
        if ty == tar::EntryType::Link {
            let target = member.link_name().unwrap().unwrap();
            let target = target.to_string_lossy().into_owned();
            assert!(plain(&target), "hard link to {target:?}");
            assert_eq!(
                names.get(&target),
                Some(&'f'),
                "hard link {name:?} to {target:?}"
            );
        }
        let what = match ty {
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Directory => {
                assert_ne!(
                    names.get(&name),
                    Some(&'l'),
                    "a directory over the link {name:?}"
                );
                'd'
            }
            _ => 'f',
        };
        names.insert(name, what);
        let mut sink = Vec::new();
        member.read_to_end(&mut sink).unwrap();
    }
}

/// Path components, the hostile ones among them.
fn component() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["a", "b", "c", "..", ".", "", "etc"])
}

fn path() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(component(), 1..5))
        .prop_map(|(abs, parts)| format!("{}{}", if abs { "/" } else { "" }, parts.join("/")))
}

fn kind() -> impl Strategy<Value = EntryKind> {
    let target = prop::sample::select(vec![
        "a", "/", "..", "../..", "../../..", "/a/b", "b/../..", "/etc", "c/.", "/../..",
    ]);
    prop_oneof![
        Just(EntryKind::Dir),
        (0u64..3).prop_map(|len| EntryKind::File { len }),
        target.prop_map(|t| EntryKind::Symlink {
            target: t.to_string()
        }),
        path().prop_map(|target| EntryKind::HardLink { target }),
        Just(EntryKind::Fifo),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_member_leaves_the_root(
        entries in prop::collection::vec((path(), kind()), 1..24)
    ) {
        let entries: Vec<Entry> = entries.iter().map(|(p, k)| entry(p, k.clone())).collect();
        let (archive, _) = write(&entries);
        assert_confined(&archive);
    }
}

/// Links out of the tree, and entries placed below them, as a hostile or
/// careless source gives them: what the archive holds is extracted by
/// Python's tarfile with its `tar` filter (which refuses any member that
/// would land outside the destination) without a refusal, and nothing
/// lands outside.
#[test]
fn python_extracts_every_member_inside_its_destination() {
    let dir = tempfile::tempdir().unwrap();
    let entries = [
        entry("", EntryKind::Dir),
        entry("usr", EntryKind::Dir),
        entry("usr/lib", EntryKind::Dir),
        entry(
            "lib",
            EntryKind::Symlink {
                target: "/usr/lib".into(),
            },
        ),
        // The directory a caller makes for a member's parent, at the
        // link's own name: the link stays.
        entry("lib", EntryKind::Dir),
        entry("lib/libc.so", EntryKind::File { len: 2 }),
        entry("lib/sub/deeper", EntryKind::File { len: 2 }),
        entry(
            "up",
            EntryKind::Symlink {
                target: "../../..".into(),
            },
        ),
        entry("up/escaped", EntryKind::File { len: 2 }),
        entry("../escaped", EntryKind::File { len: 2 }),
        entry("/abs", EntryKind::File { len: 2 }),
        entry(
            "hard",
            EntryKind::HardLink {
                target: "lib/libc.so".into(),
            },
        ),
    ];
    let (archive, refused) = write(&entries);
    // Below a link out of the root, `..` and an absolute name.
    assert_eq!(refused, 3);
    assert_confined(&archive);
    let tar = dir.path().join("t.tar");
    std::fs::write(&tar, &archive).unwrap();
    let dest = dir.path().join("dest");
    testkit::python_extract_tar(&tar, &dest);
    // The file below the absolute link is where the link leads inside the
    // tree, and the hard link names it there.
    assert_eq!(std::fs::read(dest.join("usr/lib/libc.so")).unwrap(), b"xx");
    assert_eq!(std::fs::read(dest.join("hard")).unwrap(), b"xx");
    assert_eq!(
        std::fs::read(dest.join("usr/lib/sub/deeper")).unwrap(),
        b"xx"
    );
    assert!(dest.join("lib").is_symlink());
    assert!(!dir.path().join("escaped").exists());
}
