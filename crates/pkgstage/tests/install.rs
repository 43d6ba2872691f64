//! Packages unpacked into a rootfs archive without root, compared with the
//! tree the real rpm makes from the same packages (`rpm --root -i`, run as
//! root in the test).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use pkgstage::install::{install, InstallOptions};
use pkgstage::resolve::{resolve, Request, Source};
use pkgstage::signature::GpgCheck;
use pkgstage::Repository;
use rootfs::TarWriter;
use testkit::rpms::sample_repo;
use testkit::run_ok;

/// Every path under `root` with its type, mode, owner, link target or
/// contents (and, for files, mtime and which hard-link group it is in).
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            // Each tree's rpm database: the trees' directories are
            // compared, the databases (rpm's has its lock and journal
            // files beside) are tests/rpmdb.rs's.
            if rel.starts_with("var/lib/rpm/") {
                continue;
            }
            let m = fs::symlink_metadata(&p).unwrap();
            let head = format!("{:o} {}:{}", m.mode(), m.uid(), m.gid());
            let what = if m.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else {
                let first = inodes.entry(m.ino()).or_insert_with(|| rel.clone()).clone();
                use sha2::Digest;
                let digest = sha2::Sha256::digest(fs::read(&p).unwrap());
                format!("sha256 {:x} mtime {} link-group {first}", digest, m.mtime())
            };
            out.insert(rel, format!("{head} {what}"));
        }
    }
    out
}

#[test]
fn the_tree_rpm_makes_from_the_same_packages() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("repo");
    sample_repo(&repo_dir);
    let repo = Repository::open(&repo_dir).unwrap();
    let sources = [Source {
        repo: &repo,
        priority: 99,
    }];
    let plan = resolve(&sources, &Request::new(["webclient"])).unwrap();

    // Ours: a tar archive, extracted as root keeping owners.
    let archive = dir.path().join("rootfs.tar");
    let mut tar = TarWriter::new(fs::File::create(&archive).unwrap());
    let options = InstallOptions {
        exclude_docs: false,
        time: 1_700_000_000,
        gpg_check: GpgCheck::Off,
        ..InstallOptions::default()
    };
    let report = install(&sources, &plan, &options, &mut |entry, data| {
        tar.append(&entry.path, entry, data)
            .map_err(|e| pkgstage::Error::file("rootfs.tar", e))
    })
    .unwrap();
    tar.finish().unwrap();
    // The scriptlets ran in the tree (its shell is busybox), and the tree
    // read back from it is still rpm's file for file.
    let ran: Vec<(&str, &str)> = report
        .scriptlets
        .iter()
        .map(|s| (s.scriptlet.as_str(), s.outcome.as_str()))
        .collect();
    assert_eq!(
        ran,
        [("%post", "ran"), ("%pre", "ran")],
        "{:?}",
        report.scriptlets
    );
    assert_eq!(report.packages, plan.packages.len());
    assert!(
        report.notes.iter().any(|n| n.contains("user daemon")),
        "{:?}",
        report.notes
    );
    let ours = dir.path().join("ours");
    fs::create_dir_all(&ours).unwrap();
    run_ok(
        "tar",
        &[
            "--numeric-owner",
            "--xattrs",
            "-xpf",
            archive.to_str().unwrap(),
            "-C",
            ours.to_str().unwrap(),
        ],
    );

    // rpm's, from the same packages in the same order.
    let theirs = dir.path().join("theirs");
    fs::create_dir_all(&theirs).unwrap();
    let mut args = vec![
        "--root".to_string(),
        theirs.display().to_string(),
        "-i".into(),
        "--nodeps".into(),
        "--noscripts".into(),
        "--nosignature".into(),
        "--dbpath".into(),
        "/var/lib/rpm".into(),
        "--ignorearch".into(),
    ];
    for c in &plan.packages {
        args.push(
            repo.package_path(&repo.packages[c.index])
                .unwrap()
                .display()
                .to_string(),
        );
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_ok("rpm", &args);

    let (a, b) = (tree(&ours), tree(&theirs));
    let mut differences = Vec::new();
    for (path, want) in &b {
        if a.get(path) != Some(want) {
            differences.push(format!("{path}: rpm {want:?}, ours {:?}", a.get(path)));
        }
    }
    for path in a.keys().filter(|p| !b.contains_key(*p)) {
        differences.push(format!("{path}: ours only {:?}", a[path]));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    // Its owner (daemon) is in no passwd here: root's, and not set-user-id,
    // as rpm makes it.
    assert!(
        a["usr/bin/app"].starts_with("100755 0:0"),
        "{}",
        a["usr/bin/app"]
    );
}
