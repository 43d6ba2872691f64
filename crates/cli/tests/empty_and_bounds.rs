//! The edges of the size range, end to end: an empty input converted to
//! every format (checked with qemu-img, or refused where the format cannot
//! hold 0 bytes), and headers that claim huge tables in files that cannot
//! hold them (run under an address-space limit, so an allocation sized by
//! a header field would abort the process).
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use testkit::{qemu_check, qemu_compare, qemu_info, run_ok};

mod common;
use common::{imgconv, s};

const GIB: u64 = 1 << 30;

#[test]
fn empty_input_to_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("empty.raw");
    File::create(&raw).unwrap();
    // (--to, extra options, qemu format, whether qemu-img check applies)
    for (to, extra, fmt, checkable) in [
        ("raw", &[][..], "raw", false),
        ("vhd", &[], "vpc", false),
        ("vhdx", &[], "vhdx", true),
        ("vhdx", &["--vhdx-fixed"], "vhdx", true),
        ("vhdx", &["--vhdx-block-size", "128M"], "vhdx", true),
    ] {
        let out = dir.path().join(format!("out-{to}-{}.img", extra.len()));
        let mut args = vec!["convert", s(&raw), "--to", to, "-o", s(&out)];
        args.extend_from_slice(extra);
        let run = imgconv(&args);
        assert!(run.status.success(), "{args:?}: {run:?}");
        let info = qemu_info(&out, fmt);
        assert_eq!(info["virtual-size"], 0, "{args:?}");
        assert_eq!(info["format"], fmt, "{args:?}");
        if checkable {
            qemu_check(&out, fmt);
        }
        qemu_compare(&raw, "raw", &out, fmt);
        // And back through imgconv's own readers.
        let run = imgconv(&["compare", s(&raw), s(&out)]);
        assert!(run.status.success(), "{args:?}: {run:?}");
        let run = imgconv(&["info", "--json", s(&out)]);
        let ours: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(ours["virtual_size"], 0, "{args:?}");
    }
    // The streamable ones, through a pipe.
    for (to, fmt) in [("vhd", "vpc"), ("vhdx", "vhdx")] {
        let out = dir.path().join(format!("piped.{to}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_imgconv"))
            .args(["convert", s(&raw), "--to", to, "-o", "-"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let cat = Command::new("cat")
            .stdin(child.stdout.take().unwrap())
            .stdout(File::create(&out).unwrap())
            .status()
            .unwrap();
        assert!(child.wait().unwrap().success() && cat.success(), "{to}");
        assert_eq!(qemu_info(&out, fmt)["virtual-size"], 0, "{to}");
        qemu_compare(&raw, "raw", &out, fmt);
    }
    // Formats that cannot hold 0 bytes as qemu reads them: refused, nothing left.
    for to in [
        "vhd-fixed",
        "vmdk",
        "vmdk-stream",
        "vmdk-flat",
        "ova",
        "vhdx --vhdx-block-size 256M",
    ] {
        let out_dir = dir.path().join(format!("refused-{to}"));
        let mut args = vec!["convert", s(&raw), "--output-dir", s(&out_dir), "--to"];
        args.extend(to.split(' '));
        let run = imgconv(&args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{to}: {err}");
        assert!(err.contains("cannot hold an empty disk"), "{to}: {err}");
        assert!(
            !out_dir.exists() || std::fs::read_dir(&out_dir).unwrap().next().is_none(),
            "{to}: output left behind"
        );
    }
    // What qemu-img itself makes at size 0 reads as an empty disk here too.
    for (fmt, opts) in [("vpc", "subformat=dynamic"), ("vhdx", "subformat=dynamic")] {
        let theirs = dir.path().join(format!("qemu-{fmt}.img"));
        run_ok(
            "qemu-img",
            &["create", "-f", fmt, "-o", opts, s(&theirs), "0"],
        );
        let run = imgconv(&["compare", s(&raw), s(&theirs)]);
        assert!(run.status.success(), "{fmt}: {run:?}");
    }
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

#[test]
fn an_iso_whose_multi_extent_parts_overlap_is_refused_not_extracted() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("AAAA.BIN"), vec![1u8; 8192]).unwrap();
    std::fs::write(tree.join("BBBB.BIN"), vec![2u8; 8192]).unwrap();
    let iso = dir.path().join("plain.iso");
    let made = imgconv(&[
        "iso",
        s(&tree),
        "-o",
        s(&iso),
        "--no-rock-ridge",
        "--no-joliet",
    ]);
    assert!(made.status.success(), "{made:?}");
    // AAAA.BIN marked as continued, BBBB.BIN's record pointed at AAAA's
    // data: one file of two overlapping parts (chained, such records make
    // a small image extract to a file many times its size).
    let mut img = std::fs::read(&iso).unwrap();
    let record = |img: &[u8], id: &[u8]| {
        let mut pat = vec![id.len() as u8];
        pat.extend_from_slice(id);
        img.windows(pat.len()).position(|w| w == pat).unwrap() - 32
    };
    let (a, b) = (record(&img, b"AAAA.BIN;1"), record(&img, b"BBBB.BIN;1"));
    img[a + 25] |= 0x80;
    let lba: [u8; 8] = img[a + 2..a + 10].try_into().unwrap();
    img[b + 2..b + 10].copy_from_slice(&lba);
    let bad = dir.path().join("bad.iso");
    std::fs::write(&bad, &img).unwrap();

    let out = dir.path().join("out");
    for args in [
        vec!["iso", "--extract", s(&bad), s(&out)],
        vec!["info", s(&bad)],
    ] {
        let run = imgconv_limited(&args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("multi-extent part 2") && err.contains("overlaps part 1"),
            "{args:?}: {err}"
        );
    }
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
}
