//! `imgconv rootfs`: packages from a local repository to a rootfs archive
//! without root, and that archive on to a disk with `imgconv build`.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use common::{imgconv, s, toolkit_config};
use testkit::rpms::sample_repo;
use testkit::{run, run_ok};

#[test]
fn packages_become_an_archive_and_the_archive_a_disk() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    sample_repo(&repo);
    let list = dir.path().join("packages.json");
    fs::write(&list, r#"{"packages": ["webclient"]}"#).unwrap();
    let archive = dir.path().join("rootfs.tar.zst");
    let r = imgconv(&[
        "rootfs",
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--install-list",
        s(&list),
        "-o",
        s(&archive),
        "--json",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&r.stderr).unwrap();
    let order: Vec<&str> = summary["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["package"].as_str().unwrap())
        .collect();
    assert_eq!(order.len(), 5, "{order:?}");
    assert!(order[0].starts_with("base-"), "{order:?}");
    let listing = run_ok("tar", &["--zstd", "-tvf", s(&archive)]);
    assert!(listing.contains("usr/bin/app"), "{listing}");
    // The rpm database comes with the packages, unless left out.
    assert!(listing.contains("var/lib/rpm/rpmdb.sqlite"), "{listing}");
    let bare = dir.path().join("bare.tar");
    let r = imgconv(&[
        "rootfs",
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--install",
        "webclient",
        "--no-rpmdb",
        "-o",
        s(&bare),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let listing = run_ok("tar", &["-tf", s(&bare)]);
    assert!(listing.contains("usr/bin/app"), "{listing}");
    assert!(!listing.contains("var/lib/rpm"), "{listing}");

    // The archive is a rootfs for the build.
    let config = toolkit_config(dir.path(), "pkgs", "none", false, 65, "ext4", 200);
    let out = dir.path().join("out");
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&archive),
        "--to",
        "raw",
        "--output-dir",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let data = fs::read(out.join("pkgs.raw")).unwrap();
    let root = dir.path().join("root.img");
    fs::write(&root, &data[65 << 20..]).unwrap();
    let e2 = run("e2fsck", &["-fn", s(&root)]);
    assert!(
        e2.status.success(),
        "{}",
        String::from_utf8_lossy(&e2.stdout)
    );
    let app = run_ok("debugfs", &["-R", "cat /usr/bin/app", s(&root)]);
    assert_eq!(app, "#!/bin/sh\necho app\n");
}

#[test]
fn unmet_requirements_and_tampered_packages_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let paths = sample_repo(&repo);
    let out = dir.path().join("never.tar");
    let r = imgconv(&[
        "rootfs",
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--install",
        "webclient,nosuch",
        "-o",
        s(&out),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("no package provides nosuch"), "{err}");
    assert!(!out.exists());

    // A package changed after the repository was indexed.
    let (_, libfoo) = paths.iter().find(|(n, _)| n == "libfoo").unwrap();
    let mut bytes = fs::read(libfoo).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(libfoo, bytes).unwrap();
    let r = imgconv(&[
        "rootfs",
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--install",
        "webclient",
        "-o",
        s(&out),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("libfoo") && err.contains("checksum"), "{err}");
    assert!(!out.exists());
    assert!(fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".part")));
}

#[test]
fn a_configuration_with_package_lists_builds_from_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    sample_repo(&repo);
    fs::write(
        dir.path().join("web.json"),
        r#"{"packages": ["webclient"]}"#,
    )
    .unwrap();
    let config = toolkit_config(dir.path(), "straight", "none", false, 65, "ext4", 200);
    let text = fs::read_to_string(&config).unwrap().replace(
        r#""Name": "Standard","#,
        r#""Name": "Standard", "PackageLists": ["web.json"], "DisableRpmDocs": true,"#,
    );
    fs::write(&config, text).unwrap();
    let out = dir.path().join("out");
    let r = imgconv(&[
        "build",
        s(&config),
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--to",
        "raw,qcow2",
        "--output-dir",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let data = fs::read(out.join("straight.raw")).unwrap();
    let root = dir.path().join("root.img");
    fs::write(&root, &data[65 << 20..]).unwrap();
    let e2 = run("e2fsck", &["-fn", s(&root)]);
    assert!(
        e2.status.success(),
        "{}",
        String::from_utf8_lossy(&e2.stdout)
    );
    assert_eq!(
        run_ok("debugfs", &["-R", "cat /usr/lib64/libfoo.so.1", s(&root)]).as_bytes(),
        b"\x7fELF"
    );
    // %doc files are left out, as DisableRpmDocs asks.
    let doc = run(
        "debugfs",
        &["-R", "stat /usr/share/doc/app/README", s(&root)],
    );
    assert!(String::from_utf8_lossy(&doc.stderr).contains("File not found"));
    // The rpm database is in the file system.
    let db = run(
        "debugfs",
        &["-R", "cat /var/lib/rpm/rpmdb.sqlite", s(&root)],
    );
    assert!(db.stdout.starts_with(b"SQLite format 3\0"));

    // A prepared rootfs with a configuration that installs packages: refused.
    let tar = dir.path().join("r.tar");
    testkit::rootfs::sample_tar(&tar);
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&tar),
        "--to",
        "raw",
        "--output-dir",
        s(&out),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("give --repo"));
}
