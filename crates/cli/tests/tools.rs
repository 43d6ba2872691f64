//! The external tools a build runs: a missing one named with its package
//! whatever the search path holds, and `imgconv doctor` listing them all.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::{command, open_dir, s, toolkit_config};

/// A directory `name` in `dir` with `mode`.
fn dir_with_mode(dir: &Path, name: &str, mode: u32) -> std::path::PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
    d
}

/// `imgconv doctor` (with `extra` arguments) with `PATH` set to `path`.
fn doctor(path: &str, extra: &[&str]) -> Output {
    command()
        .arg("doctor")
        .args(extra)
        .env("PATH", path)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The line of doctor's table for `program`.
fn row<'a>(report: &'a str, program: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.split_whitespace().next() == Some(program))
        .unwrap_or_else(|| panic!("no row for {program}:\n{report}"))
}

#[test]
fn a_tool_missing_behind_an_unreadable_path_entry_is_named_not_found_with_its_package() {
    let dir = tempfile::tempdir().unwrap();
    let out = open_dir(dir.path());
    let config = toolkit_config(dir.path(), "live", "efi", true, 41, "ext4", 160);
    let rootfs = dir.path().join("rootfs.tar");
    testkit::rootfs::sample_tar(&rootfs);
    // First a directory only root may search, then one without tar2sqfs:
    // execvp reports the first entry's EACCES.
    let closed = dir_with_mode(dir.path(), "closed", 0o700);
    let empty = dir_with_mode(dir.path(), "bin", 0o755);
    let path = std::env::join_paths([&closed, &empty]).unwrap();
    let setpriv = blocksink::tool::find("setpriv").expect("setpriv (util-linux)");
    let r = std::process::Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_imgconv"))
        .args(["build", s(&config), "--rootfs", s(&rootfs), "--to", "iso"])
        .args(["--output-dir", s(&out)])
        .env("PATH", path)
        .env("TMPDIR", &out)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "`tar2sqfs` not found in PATH: install Debian's squashfs-tools-ng \
             (Fedora: squashfs-tools-ng)"
        ),
        "{err}"
    );
    assert!(!err.contains("Permission denied"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn doctor_lists_each_tool_with_its_version_and_says_what_is_missing_or_too_old() {
    let full = std::env::var("PATH").unwrap();
    // `mke2fs 1.47.2 (1-Jan-2025)`, on standard error.
    let banner = std::process::Command::new("mke2fs")
        .arg("-V")
        .output()
        .expect("mke2fs (e2fsprogs) runs");
    let banner = String::from_utf8_lossy(&banner.stderr).into_owned();
    let version = banner.split_whitespace().nth(1).unwrap().to_string();

    // Everything there.
    let r = doctor(&full, &[]);
    let report = text(&r);
    assert_eq!(r.status.code(), Some(0), "{report}");
    let mke2fs = row(&report, "mke2fs");
    assert!(
        mke2fs.contains(" ok ") && mke2fs.contains(&format!(" {version} ")),
        "{mke2fs}"
    );
    assert!(
        mke2fs.contains("1.47.1") && mke2fs.contains("e2fsprogs"),
        "{mke2fs}"
    );
    for program in ["debugfs", "grub-mkimage", "tar2sqfs", "bwrap"] {
        row(&report, program);
    }

    // No mke2fs.
    let dir = tempfile::tempdir().unwrap();
    let r = doctor(s(dir.path()), &[]);
    let report = text(&r);
    assert_eq!(r.status.code(), Some(1), "{report}");
    assert!(row(&report, "mke2fs").contains(" missing "), "{report}");
    assert!(
        report.contains("`mke2fs` not found in PATH: install Debian's e2fsprogs"),
        "{report}"
    );

    // An old mke2fs first in the path.
    let stub = dir.path().join("mke2fs");
    std::fs::write(&stub, "#!/bin/sh\necho 'mke2fs 1.46.2 (28-Feb-2021)'\n").unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{full}", dir.path().display());
    let r = doctor(&path, &[]);
    let report = text(&r);
    assert_eq!(r.status.code(), Some(1), "{report}");
    let mke2fs = row(&report, "mke2fs");
    assert!(
        mke2fs.contains(" too old ") && mke2fs.contains(" 1.46.2 "),
        "{mke2fs}"
    );
    assert!(
        report.contains(&format!(
            "`mke2fs` 1.46.2 ({}) is too old: 1.47.1 or later is needed",
            stub.display()
        )),
        "{report}"
    );

    // The same as JSON.
    let r = doctor(&path, &["--json"]);
    assert_eq!(r.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(json["default_build_ready"], false);
    let mke2fs = json["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["program"] == "mke2fs")
        .unwrap();
    assert_eq!(mke2fs["state"], "too old");
    assert_eq!(mke2fs["version"], "1.46.2");
    assert_eq!(mke2fs["minimum"], "1.47.1");
    assert_eq!(mke2fs["debian"], "e2fsprogs");
    assert_eq!(mke2fs["path"], s(&stub));
}
