//! The `imgconv` binary end to end, checked with qemu-img.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use testkit::{qemu_check, qemu_compare, qemu_info, sample_disk};

mod common;
use common::{imgconv, s};

fn ok(args: &[&str]) -> String {
    let out = imgconv(args);
    assert!(
        out.status.success(),
        "imgconv {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs imgconv with `-o -` into `cat`, which writes `out`: the output is a
/// real, unseekable pipe.
fn through_pipe(args: &[&str], out: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imgconv"))
        .args(args)
        .args(["-o", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let cat = Command::new("cat")
        .stdin(child.stdout.take().unwrap())
        .stdout(std::fs::File::create(out).unwrap())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success() && cat.success(), "{args:?}");
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

#[test]
fn one_pass_to_several_formats() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.img");
    sample_disk(&raw, (20 << 20) + 4096, 11);
    let out = dir.path().join("out");
    ok(&[s(&raw), "--to", "qcow2,raw,vhdx", "--output-dir", s(&out)]);
    qemu_compare(&raw, "raw", &out.join("disk.qcow2"), "qcow2");
    qemu_compare(&raw, "raw", &out.join("disk.vhdx"), "vhdx");
    qemu_check(&out.join("disk.vhdx"), "vhdx");
    qemu_check(&out.join("disk.qcow2"), "qcow2");
    assert_eq!(
        std::fs::read(&raw).unwrap(),
        std::fs::read(out.join("disk.raw")).unwrap()
    );
    let info = qemu_info(&out.join("disk.qcow2"), "qcow2");
    assert_eq!(info["virtual-size"], (20 << 20) + 4096);
}

#[test]
fn any_to_any() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let contents = sample_disk(&raw, 16 << 20, 12);
    let qemu = dir.path().join("q.qcow2");
    testkit::qemu_convert(&["-O", "qcow2", "-c"], &raw, &qemu);
    let ours = dir.path().join("ours.qcow2");
    ok(&[s(&qemu), "--to", "qcow2", "-c", "zstd", "-o", s(&ours)]);
    let back = dir.path().join("back.raw");
    ok(&[s(&ours), "--to", "raw", "-o", s(&back)]);
    assert!(std::fs::read(&back).unwrap() == contents);
    // qemu-img's vpc and vhdx outputs, through imgconv, back to the same bytes.
    for (fmt, opts, ext) in [
        ("vpc", "subformat=dynamic", "vhd"),
        ("vpc", "subformat=fixed,force_size=on", "vhd"),
        ("vhdx", "subformat=dynamic", "vhdx"),
    ] {
        let img = dir.path().join(format!("q.{ext}"));
        testkit::qemu_convert(&["-O", fmt, "-o", opts], &raw, &img);
        let back = dir.path().join(format!("back-{ext}.raw"));
        ok(&[s(&img), "--to", "raw", "-o", s(&back)]);
        // Without force_size, qemu rounds a VHD up to its CHS geometry.
        let back = std::fs::read(&back).unwrap();
        assert!(back[..contents.len()] == contents[..], "{fmt} {opts}");
        assert!(
            back[contents.len()..].iter().all(|&b| b == 0),
            "{fmt} {opts}"
        );
    }
}

#[test]
fn writes_to_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 12 << 20, 13);
    for extra in [&[][..], &["-c"][..]] {
        let out = dir.path().join("piped.qcow2");
        let mut args = vec![s(&raw), "--to", "qcow2"];
        args.extend_from_slice(extra);
        through_pipe(&args, &out);
        qemu_check(&out, "qcow2");
        qemu_compare(&raw, "raw", &out, "qcow2");
    }
}

/// Every format whose writer's spec says it streams goes to a pipe as it
/// is written: with no temporary directory to spool through, the output
/// still arrives whole. Every other format needs one, or a file.
#[test]
fn every_streaming_format_writes_to_a_pipe_without_spooling() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 12 << 20, 29);
    let no_tmp = dir.path().join("no-such-dir");
    let options = imgconv::FormatOptions::default();
    let mut streamed = Vec::new();
    for f in imgconv::OutputFormat::all() {
        let out = dir.path().join(format!("piped.{}", f.extension()));
        let mut child = common::command()
            .args([
                "convert",
                s(&raw),
                "--to",
                f.name(),
                "--seed",
                "pipe",
                "-o",
                "-",
            ])
            .env("TMPDIR", &no_tmp)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stdout.take().unwrap();
        std::io::copy(&mut pipe, &mut std::fs::File::create(&out).unwrap()).unwrap();
        let run = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        if options.streamable(f) {
            assert!(run.status.success(), "{}: {err}", f.name());
            ok(&["compare", s(&raw), s(&out)]);
            streamed.push(f.name());
        } else {
            assert_eq!(run.status.code(), Some(1), "{}: {err}", f.name());
            assert!(
                err.contains("temporary file") || err.contains("standard output"),
                "{}: {err}",
                f.name()
            );
        }
    }
    assert_eq!(
        streamed,
        ["raw", "vhd", "vhd-fixed", "vhdx", "vmdk-stream", "qcow2"]
    );
}

#[test]
fn refuses_clashing_or_input_paths() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 1 << 20, 14);
    let before = std::fs::read(&raw).unwrap();
    let out = imgconv(&[s(&raw), "--to", "raw"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the input"));
    assert_eq!(std::fs::read(&raw).unwrap(), before);

    let out = imgconv(&[s(&raw), "--to", "qcow2,qcow2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("would both be written"));
    assert_eq!(files_in(dir.path()), vec![raw.clone()]);
}

#[test]
fn hostile_input_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 4 << 20, 15);
    let img = dir.path().join("bad.qcow2");
    ok(&[s(&raw), "--to", "qcow2", "-o", s(&img)]);
    let mut bytes = std::fs::read(&img).unwrap();
    // Point the first L2 table far past the end of the file.
    let l1 = u64::from_be_bytes(bytes[40..48].try_into().unwrap()) as usize;
    bytes[l1..l1 + 8].copy_from_slice(&((1u64 << 63) | (1 << 44)).to_be_bytes());
    std::fs::write(&img, &bytes).unwrap();
    let out = imgconv(&[
        s(&img),
        "--to",
        "raw,qcow2",
        "--output-dir",
        s(&dir.path().join("o")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("past the end of the file"), "{err}");
    assert!(files_in(&dir.path().join("o")).is_empty());
    let out = imgconv(&["check", s(&img)]);
    assert_eq!(out.status.code(), Some(2));

    // An L1 table claiming 2^31 entries fails at open, before any allocation.
    bytes[36..40].copy_from_slice(&(1u32 << 31).to_be_bytes());
    std::fs::write(&img, &bytes).unwrap();
    let out = imgconv(&["info", s(&img)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("l1_size"));
}

#[test]
fn info_compare_check() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 8 << 20, 16);
    let img = dir.path().join("disk.qcow2");
    ok(&[s(&raw), "--to", "qcow2", "--cluster-size", "4k"]);
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", "--json", s(&img)])).unwrap();
    assert_eq!(info["format"], "qcow2");
    assert_eq!(info["virtual_size"], 8 << 20);
    assert!(ok(&["check", s(&img)]).contains("No errors"));
    assert!(ok(&["compare", s(&raw), s(&img)]).contains("identical"));
    let other = dir.path().join("other.raw");
    sample_disk(&other, 8 << 20, 17);
    assert_eq!(
        imgconv(&["compare", s(&raw), s(&other)]).status.code(),
        Some(1)
    );
    assert_eq!(
        imgconv(&["compare", s(&raw), "/nonexistent"]).status.code(),
        Some(2)
    );
}

#[test]
fn reproducible_with_source_date_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 8 << 20, 18);
    let mut outputs = Vec::new();
    for i in 0..2 {
        let o = dir.path().join(format!("r{i}"));
        let status = Command::new(env!("CARGO_BIN_EXE_imgconv"))
            .args([
                s(&raw),
                "--to",
                "qcow2,raw,vhd,vhd-fixed,vhdx,vmdk,vmdk-stream",
                "--output-dir",
                s(&o),
            ])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .status()
            .unwrap();
        assert!(status.success());
        outputs.push(o);
    }
    for name in [
        "disk.qcow2",
        "disk.raw",
        "disk.vhd",
        "disk.fixed.vhd",
        "disk.vhdx",
        "disk.vmdk",
        "disk.stream.vmdk",
    ] {
        assert_eq!(
            std::fs::read(outputs[0].join(name)).unwrap(),
            std::fs::read(outputs[1].join(name)).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn vhd_outputs_for_hyperv_and_azure() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let size = (21 << 20) + 3 * 512;
    sample_disk(&raw, size, 19);
    ok(&[s(&raw), "--to", "vhd,vhd-fixed,qcow2"]);
    let (dynamic, fixed) = (
        dir.path().join("disk.vhd"),
        dir.path().join("disk.fixed.vhd"),
    );
    qemu_compare(&raw, "raw", &dynamic, "vpc");
    assert_eq!(qemu_info(&dynamic, "vpc")["virtual-size"], size);
    // Azure: a whole MiB, file = size + 512, identical plus zero padding.
    let rounded = size.next_multiple_of(1 << 20);
    assert_eq!(std::fs::metadata(&fixed).unwrap().len(), rounded + 512);
    assert_eq!(qemu_info(&fixed, "vpc")["virtual-size"], rounded);
    qemu_compare(&raw, "raw", &fixed, "vpc");
    // Our reader reads both back, and any → any works from them.
    let back = dir.path().join("back.raw");
    ok(&[s(&dynamic), "--to", "raw", "-o", s(&back)]);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&raw).unwrap());
    let info: serde_json::Value =
        serde_json::from_str(&ok(&["info", "--json", s(&fixed)])).unwrap();
    assert_eq!(info["format"], "vhd");
    assert_eq!(info["virtual_size"], rounded);
}

fn sgdisk_disk(path: &Path, size: u64) {
    testkit::sgdisk_disk(path, size, 4);
    testkit::run_ok("sgdisk", &["-v", s(path)]);
}

/// The sectors of a raw disk that start with a GPT header signature.
fn gpt_headers(path: &Path) -> Vec<u64> {
    let disk = std::fs::read(path).unwrap();
    disk.chunks(512)
        .enumerate()
        .filter(|(_, s)| s.starts_with(b"EFI PART"))
        .map(|(i, _)| i as u64)
        .collect()
}

#[test]
fn fixed_vhd_moves_the_backup_gpt() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("gpt.raw");
    sgdisk_disk(&raw, (12 << 20) + 40 * 512);
    let out = imgconv(&[s(&raw), "--to", "vhd-fixed"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("moved the backup GPT"));
    let fixed = dir.path().join("gpt.fixed.vhd");
    let back = dir.path().join("back.raw");
    testkit::qemu_convert(&["-f", "vpc", "-O", "raw"], &fixed, &back);
    assert_eq!(std::fs::metadata(&back).unwrap().len(), 13 << 20);
    let verify = testkit::run_ok("sgdisk", &["-v", s(&back)]);
    assert!(verify.contains("No problems found"), "{verify}");
    // The partitions are unchanged.
    let before = testkit::run_ok("sgdisk", &["-p", s(&raw)]);
    let after = testkit::run_ok("sgdisk", &["-p", s(&back)]);
    let rows = |t: &str| {
        t.lines()
            .skip_while(|l| !l.starts_with("Number"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(&before), rows(&after));
    assert_eq!(gpt_headers(&back), vec![1, (13 << 20) / 512 - 1]);

    // Grown by less than the array's size, the new array covers the old
    // header's sector: still one backup, and a clean table.
    let near = dir.path().join("near.raw");
    sgdisk_disk(&near, (13 << 20) - 4096);
    let near_vhd = dir.path().join("near.vhd");
    ok(&[s(&near), "--to", "vhd-fixed", "-o", s(&near_vhd)]);
    let near_back = dir.path().join("near-back.raw");
    testkit::qemu_convert(&["-f", "vpc", "-O", "raw"], &near_vhd, &near_back);
    assert_eq!(gpt_headers(&near_back), vec![1, (13 << 20) / 512 - 1]);
    let verify = testkit::run_ok("sgdisk", &["-v", s(&near_back)]);
    assert!(verify.contains("No problems found"), "{verify}");

    // Turned off, the disk is only padded.
    let plain = dir.path().join("plain.vhd");
    ok(&[
        s(&raw),
        "--to",
        "vhd-fixed",
        "--no-gpt-grow",
        "-o",
        s(&plain),
    ]);
    qemu_compare(&raw, "raw", &plain, "vpc");
}

#[test]
fn info_lists_the_partitions_sgdisk_made() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("gpt.raw");
    sgdisk_disk(&raw, 16 << 20);
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", "--json", s(&raw)])).unwrap();
    let parts = info["partitions"].as_array().unwrap();
    let listing = testkit::run_ok("sgdisk", &["-p", s(&raw)]);
    let rows: Vec<Vec<String>> = listing
        .lines()
        .skip_while(|l| !l.starts_with("Number"))
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(parts.len(), rows.len());
    for (p, r) in parts.iter().zip(&rows) {
        assert_eq!(p["number"].to_string(), r[0]);
        assert_eq!(p["first_lba"].to_string(), r[1]);
        assert_eq!(p["last_lba"].to_string(), r[2]);
        assert_eq!(p["name"].as_str().unwrap(), r[6..].join(" "));
    }
    assert_eq!(parts[0]["type_name"], "esp");
    assert_eq!(parts[1]["type_name"], "linux-root-x86-64");
    assert!(info["gpt_problems"].as_array().unwrap().is_empty());
}

#[test]
fn vhd_to_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 9 << 20, 20);
    for fmt in ["vhd", "vhd-fixed"] {
        let out = dir.path().join(format!("{fmt}.vhd"));
        through_pipe(&[s(&raw), "--to", fmt], &out);
        qemu_compare(&raw, "raw", &out, "vpc");
    }
}

#[test]
fn vmdk_outputs_in_one_pass_and_through_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let contents = sample_disk(&raw, (19 << 20) + 512, 23);
    ok(&[s(&raw), "--to", "vhdx,qcow2,vmdk,vmdk-stream"]);
    for (name, create) in [
        ("disk.vmdk", "monolithicSparse"),
        ("disk.stream.vmdk", "streamOptimized"),
    ] {
        let img = dir.path().join(name);
        qemu_compare(&raw, "raw", &img, "vmdk");
        qemu_check(&img, "vmdk");
        assert_eq!(
            qemu_info(&img, "vmdk")["format-specific"]["data"]["create-type"],
            create
        );
    }
    for fmt in ["vmdk-stream", "vmdk"] {
        let out = dir.path().join(format!("piped-{fmt}.vmdk"));
        through_pipe(&[s(&raw), "--to", fmt], &out);
        qemu_compare(&raw, "raw", &out, "vmdk");
    }
    // monolithicFlat: two files, as ESXi datastores keep them, named apart
    // from the other VMDKs so every format fits in one directory.
    let flat_dir = dir.path().join("esx");
    let every = "raw,vhd,vhd-fixed,vhdx,vmdk,vmdk-stream,vmdk-flat,ova,qcow2";
    ok(&[s(&raw), "--to", every, "--output-dir", s(&flat_dir)]);
    assert_eq!(
        files_in(&flat_dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect::<Vec<_>>(),
        [
            "disk.fixed.vhd",
            "disk.flat-flat.vmdk",
            "disk.flat.vmdk",
            "disk.ova",
            "disk.qcow2",
            "disk.raw",
            "disk.stream.vmdk",
            "disk.vhd",
            "disk.vhdx",
            "disk.vmdk",
        ]
    );
    let descriptor = std::fs::read_to_string(flat_dir.join("disk.flat.vmdk")).unwrap();
    assert!(
        descriptor.contains("\"disk.flat-flat.vmdk\""),
        "{descriptor}"
    );
    for name in ["disk.flat.vmdk", "disk.vmdk", "disk.stream.vmdk"] {
        qemu_compare(&raw, "raw", &flat_dir.join(name), "vmdk");
    }
    let named = dir.path().join("esx.vmdk");
    ok(&[s(&raw), "--to", "vmdk-flat", "-o", s(&named)]);
    assert!(dir.path().join("esx-flat.vmdk").exists());
    qemu_compare(&raw, "raw", &named, "vmdk");
    assert!(!imgconv(&[s(&raw), "--to", "vmdk-flat", "-o", "-"])
        .status
        .success());
    // qemu-img's own VMDKs, every subformat, back to the same bytes.
    for sub in [
        "monolithicSparse",
        "streamOptimized",
        "monolithicFlat",
        "twoGbMaxExtentSparse",
    ] {
        let sub_dir = dir.path().join(sub);
        std::fs::create_dir(&sub_dir).unwrap();
        let img = sub_dir.join("q.vmdk");
        testkit::qemu_convert(
            &["-O", "vmdk", "-o", &format!("subformat={sub}")],
            &raw,
            &img,
        );
        let back = sub_dir.join("back.raw");
        ok(&[s(&img), "--to", "raw", "-o", s(&back)]);
        assert!(std::fs::read(&back).unwrap() == contents, "{sub}");
    }
}

#[test]
fn ova_in_the_same_pass_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let contents = sample_disk(&raw, 13 << 20, 24);
    ok(&[
        s(&raw),
        "--to",
        "vhdx,qcow2,vmdk,ova",
        "--cpus",
        "4",
        "--firmware",
        "bios",
    ]);
    let ova = dir.path().join("disk.ova");
    let listing = testkit::run_ok("tar", &["tf", s(&ova)]);
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        ["disk.ovf", "disk.mf", "disk-disk1.vmdk"]
    );
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", "--json", s(&ova)])).unwrap();
    assert_eq!(info["format"], "ova");
    let back = dir.path().join("back.raw");
    ok(&[s(&ova), "--to", "raw", "-o", s(&back)]);
    assert!(std::fs::read(&back).unwrap() == contents);
    let x = dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    testkit::run_ok("tar", &["xf", s(&ova), "-C", s(&x)]);
    let ovf = std::fs::read_to_string(x.join("disk.ovf")).unwrap();
    assert!(ovf.contains("<rasd:VirtualQuantity>4</rasd:VirtualQuantity>"));
    assert!(ovf.contains("vmw:value=\"bios\""));
    qemu_compare(&raw, "raw", &x.join("disk-disk1.vmdk"), "vmdk");
    testkit::run_ok("xmllint", &["--noout", s(&x.join("disk.ovf"))]);

    // Through a pipe the disk is spooled and copied behind OVF and manifest.
    let piped = dir.path().join("piped.ova");
    through_pipe(&[s(&raw), "--to", "ova"], &piped);
    let listing = testkit::run_ok("tar", &["tf", s(&piped)]);
    assert_eq!(listing.lines().count(), 3, "{listing}");
    let back = dir.path().join("back2.raw");
    ok(&[s(&piped), "--to", "raw", "-o", s(&back)]);
    assert!(std::fs::read(&back).unwrap() == contents);
}

#[test]
fn vhdx_and_vmdk_from_qcow2_and_vhd_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, (11 << 20) + 512, 25);
    let qemu_qcow2 = dir.path().join("in.qcow2");
    testkit::qemu_convert(&["-O", "qcow2", "-c"], &raw, &qemu_qcow2);
    let qemu_vhd = dir.path().join("in.vhd");
    testkit::qemu_convert(&["-O", "vpc", "-o", "force_size=on"], &raw, &qemu_vhd);
    for input in [&qemu_qcow2, &qemu_vhd] {
        let out = dir.path().join(input.extension().unwrap());
        ok(&[
            s(input),
            "--to",
            "vhdx,vmdk,vmdk-stream",
            "--output-dir",
            s(&out),
        ]);
        for (name, fmt) in [
            ("in.vhdx", "vhdx"),
            ("in.vmdk", "vmdk"),
            ("in.stream.vmdk", "vmdk"),
        ] {
            let img = out.join(name);
            qemu_compare(&raw, "raw", &img, fmt);
            qemu_check(&img, fmt);
            assert_eq!(
                qemu_info(&img, fmt)["virtual-size"],
                (11 << 20) + 512,
                "{name}"
            );
        }
    }
}

#[test]
fn outputs_without_a_seed_check_clean() {
    // Random identifiers are drawn once per output: the VHD footer and its
    // copy, the two VHDX headers, agree.
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("d.raw");
    sample_disk(&raw, 8 << 20, 71);
    let out = dir.path().join("out");
    ok(&[
        raw.to_str().unwrap(),
        "--to",
        "vhd,vhd-fixed,vhdx,qcow2,vmdk",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    for name in ["d.vhd", "d.fixed.vhd", "d.vhdx", "d.qcow2", "d.vmdk"] {
        let p = out.join(name);
        let r = imgconv(&["check", p.to_str().unwrap()]);
        assert!(
            r.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        );
    }
}
