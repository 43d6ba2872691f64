//! Faults around a run: a closed pipe, a signal, an output that cannot be
//! placed, inputs that are not disks. Each ends with a clear message and
//! nothing left behind.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use testkit::sample_disk;

mod common;
use common::{command as imgconv, imgconv as run, s};

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A pipe whose reader has already gone: the write end of a finished
/// process's standard input.
fn closed_pipe() -> Stdio {
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let writer = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    Stdio::from(writer)
}

/// Runs imgconv with `args` writing into a pipe whose reader has gone.
/// While the pipe is made, a process another test thread forks holds a
/// copy of its read end until it execs; a run that still found a reader
/// (exit 0) is tried again with a new pipe.
fn into_closed_pipe(args: &[&str]) -> std::process::Output {
    for _ in 0..5 {
        let out = imgconv()
            .args(args)
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        if out.status.code() != Some(0) {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{args:?} found a reader on a closed pipe five times");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 4 << 20, 3);
    let other = dir.path().join("other.raw");
    sample_disk(&other, 4 << 20, 4);
    for args in [
        vec!["info", s(&raw)],
        vec!["info", "--json", s(&raw)],
        vec!["check", s(&raw)],
        vec!["check", "--json", s(&raw)],
        vec!["compare", s(&raw), s(&raw)],
        vec!["compare", s(&raw), s(&other)],
    ] {
        let out = into_closed_pipe(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }

    // An image bound for a pipe whose reader has gone: one line, an error
    // status, no file anywhere.
    for fmt in ["qcow2", "vhdx", "vmdk-stream"] {
        let out = into_closed_pipe(&[s(&raw), "--to", fmt, "-o", "-"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{fmt}: {err}");
        assert_eq!(err.lines().count(), 1, "{fmt}: {err}");
        assert!(
            err.contains("standard output") && err.contains("closed"),
            "{fmt}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(names_in(dir.path()), ["disk.raw", "other.raw"]);
}

#[test]
fn a_signal_removes_unfinished_outputs() {
    let dir = tempfile::tempdir().unwrap();
    // Incompressible data: compressing it keeps the run busy for seconds.
    let raw = dir.path().join("big.raw");
    let mut data = vec![0u8; 384 << 20];
    testkit::Rng::new(9).fill(&mut data);
    std::fs::write(&raw, &data).unwrap();
    drop(data);
    let out_dir = dir.path().join("out");
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let mut child = imgconv()
            .args([
                s(&raw),
                "--to",
                "qcow2,vhdx",
                "-c",
                "--output-dir",
                s(&out_dir),
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait until the temporary outputs exist, then interrupt.
        let started = std::time::Instant::now();
        while !out_dir.exists() || names_in(&out_dir).len() < 2 {
            assert!(started.elapsed().as_secs() < 60, "no temporary outputs");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(names_in(&out_dir).iter().all(|n| n.ends_with(".part")));
        testkit::run_ok("kill", &[&format!("-{signal}"), &child.id().to_string()]);
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(code), "{signal}: {err}");
        assert!(err.contains("unfinished outputs removed"), "{err}");
        assert!(names_in(&out_dir).is_empty(), "{:?}", names_in(&out_dir));
    }
}

#[test]
fn outputs_are_placed_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("x.raw");
    sample_disk(&raw, 4 << 20, 5);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();

    // The second output's name is taken by a directory: refused before
    // anything is written.
    std::fs::create_dir(out.join("x.vhd")).unwrap();
    let r = run(&[s(&raw), "--to", "qcow2,vhd", "--output-dir", s(&out)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("x.vhd exists and is a directory"), "{err}");
    assert_eq!(names_in(&out), ["x.vhd"]);
    std::fs::remove_dir(out.join("x.vhd")).unwrap();

    // A monolithicFlat VMDK whose extent name is taken: no descriptor
    // without its data.
    std::fs::create_dir(out.join("x.flat-flat.vmdk")).unwrap();
    let r = run(&[s(&raw), "--to", "qcow2,vmdk-flat", "--output-dir", s(&out)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("x.flat-flat.vmdk exists and is a directory"),
        "{err}"
    );
    assert_eq!(names_in(&out), ["x.flat-flat.vmdk"]);

    // A device is never replaced by an output.
    let r = run(&[s(&raw), "--to", "raw", "-o", "/dev/null"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("/dev/null exists and is a character device"),
        "{err}"
    );
    assert!(Path::new("/dev/null").metadata().is_ok());
}

#[test]
fn inputs_that_are_not_disks_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    testkit::run_ok("mkfifo", &[s(&fifo)]);
    let out = dir.path().join("o.qcow2");
    for (input, kind) in [
        (PathBuf::from("/dev/zero"), "a character device"),
        (PathBuf::from("/dev/null"), "a character device"),
        (fifo.clone(), "a named pipe"),
        (dir.path().to_path_buf(), "a directory"),
    ] {
        for args in [
            vec![s(&input), "--to", "qcow2", "-o", s(&out)],
            vec!["info", s(&input)],
            vec!["check", s(&input)],
        ] {
            let r = run(&args);
            let err = String::from_utf8_lossy(&r.stderr);
            assert!(!r.status.success(), "{args:?}");
            assert!(
                err.contains(&format!("is {kind}, not a disk image")),
                "{args:?}: {err}"
            );
        }
    }
    assert_eq!(names_in(dir.path()), ["fifo"]);
}

#[test]
fn an_iso_input_is_said_to_be_one() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("hello.txt"), b"hello").unwrap();
    let iso = dir.path().join("cd.iso");
    let r = run(&["iso", s(&tree), "-o", s(&iso)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));

    let vmdk = dir.path().join("cd.vmdk");
    let r = run(&[s(&iso), "--to", "vmdk", "-o", s(&vmdk)]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("is an ISO 9660 image"), "{err}");
    testkit::qemu_compare(&iso, "raw", &vmdk, "vmdk");

    let r = run(&["check", "--json", s(&iso)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let report: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(report["format"], "iso9660");
    assert!(report["notes"][0]
        .as_str()
        .unwrap()
        .contains("ISO 9660 file system"));
}

/// A 2 MiB tmpfs mounted for the life of the value.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: PathBuf) -> Self {
        std::fs::create_dir(&at).unwrap();
        testkit::run_ok("mount", &["-t", "tmpfs", "-o", "size=2m", "tmpfs", s(&at)]);
        SmallDisk(at)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_named_as_the_output_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.raw");
    sample_disk(&input, 16 << 20, 61);
    let small = SmallDisk::mount(dir.path().join("small"));
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    // The first output fits elsewhere; the second fills the small disk.
    let r = run(&[
        s(&input),
        "--to",
        "qcow2",
        "-o",
        s(&small.0.join("x.qcow2")),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    let want = format!("imgconv: {}: ", small.0.join("x.qcow2").display());
    assert!(err.starts_with(&want), "{err}");
    assert_eq!(err.matches("No space left on device").count(), 1, "{err}");
    assert!(!err.contains("in.raw"), "the input is not to blame: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(names_in(&small.0).is_empty());

    let r = run(&[s(&input), "--to", "vhd", "-o", s(&big.join("y.vhd"))]);
    assert!(r.status.success());
    // An input error names the input.
    let cut = dir.path().join("cut.vhd");
    let bytes = std::fs::read(big.join("y.vhd")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let r = run(&[s(&cut), "--to", "qcow2", "-o", s(&big.join("z.qcow2"))]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.starts_with(&format!("imgconv: {}", cut.display())),
        "{err}"
    );
}
