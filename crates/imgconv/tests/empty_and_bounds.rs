//! The edges of the size range, end to end: headers that claim huge tables
//! in files that cannot hold them (run under an address-space limit, so an
//! allocation sized by a header field would abort the process).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

const GIB: u64 = 1 << 30;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs imgconv with 2 GiB of address space and two minutes at most.
fn imgconv_limited(args: &[&str]) -> Output {
    Command::new("sh")
        .args([
            "-c",
            "ulimit -v 2097152 && exec timeout 120 \"$@\"",
            "sh",
            env!("CARGO_BIN_EXE_imgconv"),
        ])
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

/// `info`, `check` and `convert` of `img` each end with exit status 1 and
/// a message holding `want`; no output is left behind.
fn refused_everywhere(img: &Path, want: &str) {
    let out = img.with_extension("out.raw");
    for args in [
        vec!["info", s(img)],
        vec!["check", s(img)],
        vec!["convert", s(img), "--to", "raw", "-o", s(&out)],
    ] {
        let run = imgconv_limited(&args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(
            run.status.code(),
            Some(1),
            "{args:?}: {}\n{err}",
            run.status
        );
        assert!(
            err.contains(s(img)) && err.contains(want),
            "{args:?}: no {want:?} in: {err}"
        );
    }
    assert!(!out.exists());
}

#[test]
fn huge_vhd_tables_are_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    // 2^31 BAT entries of 512-byte blocks, a 2^40-byte disk, an 8 GiB file.
    let img = dir.path().join("claims.vhd");
    testkit::vhd_dynamic_image(8 * GIB, 1 << 40, 512, 1 << 31).write_to(&img);
    refused_everywhere(&img, "max_table_entries = 2147483648");
    // The largest table qemu reads (2 GiB), a hole: every block at sector 0.
    let img = dir.path().join("piled.vhd");
    let entries = (1u32 << 29) - 1;
    let len = 1536 + u64::from(entries) * 4 + 512;
    testkit::vhd_dynamic_image(len, u64::from(entries) * 512, 512, entries).write_to(&img);
    refused_everywhere(&img, "blocks overlap");
}

#[test]
fn huge_vmdk_directories_are_refused_or_read_in_pieces() {
    let dir = tempfile::tempdir().unwrap();
    // 2^31 grain directory entries (8 GiB) in a file that holds them.
    let img = dir.path().join("claims.vmdk");
    testkit::vmdk_sparse_image(9 * GIB, 1 << 31).write_to(&img);
    refused_everywhere(&img, "capacity");
    // qemu's largest directory (2 GiB), no table: a 16 PiB disk of zeros
    // that info and check walk piece by piece.
    let img = dir.path().join("empty.vmdk");
    testkit::vmdk_sparse_image(512 + 2 * GIB, 1 << 29).write_to(&img);
    let run = imgconv_limited(&["info", "--json", s(&img)]);
    assert!(run.status.success(), "{run:?}");
    let info: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(info["virtual_size"], 1u64 << 54);
    assert_eq!(info["data_size"], 0);
    let run = imgconv_limited(&["check", s(&img)]);
    assert!(run.status.success(), "{run:?}");
}

#[test]
fn check_of_a_huge_qcow2_file_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    // 512-byte clusters in a 1 TiB file: 2^31 clusters, no refcount block.
    let img = dir.path().join("huge.qcow2");
    testkit::qcow2_empty_image(1 << 40, 9).write_to(&img);
    let run = imgconv_limited(&["check", s(&img)]);
    let out = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    assert!(
        out.contains("cluster 0 (offset 0x0) is used 1 times but its refcount is 0"),
        "{out}"
    );
}
