//! Delta (child) disks are refused by every command, as qcow2 backing files,
//! differencing VHDs and VHDX children are: their data depends on a parent
//! that imgconv never opens, so converting them alone would silently lose it.
#![allow(clippy::unwrap_used)]

use testkit::{qemu_compare, qemu_convert, sample_disk};

mod common;
use common::{imgconv, s};

/// Runs `args`, which must fail with a message holding every one of `want`.
fn refused(args: &[&str], want: &[&str]) {
    let out = imgconv(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && out.status.code().is_some(),
        "imgconv {args:?}: {}\n{err}",
        out.status
    );
    for w in want {
        assert!(err.contains(w), "imgconv {args:?}: no {w:?} in: {err}");
    }
}

#[test]
fn vmdk_children_are_refused_by_convert_check_and_info() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("parent.raw");
    sample_disk(&raw, 5 << 20, 61);
    let parent = dir.path().join("parent.vmdk");
    qemu_convert(&["-f", "raw", "-O", "vmdk"], &raw, &parent);
    for sub in [
        "monolithicSparse",
        "streamOptimized",
        "twoGbMaxExtentSparse",
    ] {
        let child = dir.path().join(format!("{sub}.vmdk"));
        testkit::qemu_vmdk_child(&child, sub, "parent.vmdk");
        qemu_compare(&raw, "raw", &child, "vmdk");
        let want = [
            s(&child),
            "line 4: parentCID=",
            "\"parent.vmdk\"",
            "delta disk",
        ];
        let out_dir = dir.path().join(format!("{sub}-out"));
        refused(
            &[
                "convert",
                s(&child),
                "--to",
                "raw,qcow2,vmdk",
                "--output-dir",
                s(&out_dir),
            ],
            &want,
        );
        assert!(
            !out_dir.exists() || std::fs::read_dir(&out_dir).unwrap().next().is_none(),
            "{sub}: output left behind"
        );
        let one = dir.path().join(format!("{sub}-one.raw"));
        refused(&["convert", s(&child), "--to", "raw", "-o", s(&one)], &want);
        assert!(!one.exists(), "{sub}: output left behind");
        refused(&["check", s(&child)], &want);
        refused(&["info", s(&child)], &want);
    }
    // The parent itself, parentCID=ffffffff, converts.
    let back = dir.path().join("back.raw");
    let out = imgconv(&["convert", s(&parent), "--to", "raw", "-o", s(&back)]);
    assert!(out.status.success(), "{out:?}");
    qemu_compare(&raw, "raw", &back, "raw");
}
