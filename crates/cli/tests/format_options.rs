//! The output formats' flags come from what each format crate declares:
//! every declared option is a flag of `convert` and `build`, and
//! `--option FORMAT.NAME=VALUE` sets the same.
#![allow(clippy::unwrap_used)]

use blocksink::OptionKind;
use testkit::sample_disk;

mod common;
use common::{imgconv, s};

fn help(args: &[&str]) -> String {
    let out = imgconv(args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_declared_option_is_a_flag_in_help() {
    for args in [&["-h"][..], &["convert", "-h"], &["build", "-h"]] {
        let text = help(args);
        for set in imgconv::OPTIONS {
            for spec in set.options {
                let mut flag = format!("--{}", spec.name);
                if let Some(c) = spec.short {
                    flag = format!("-{c}, {flag}");
                }
                match spec.kind {
                    OptionKind::Flag => {}
                    OptionKind::Value => flag = format!("{flag} <{}>", spec.value_name),
                    OptionKind::OptionalValue { .. } => {
                        flag = format!("{flag} [<{}>]", spec.value_name);
                    }
                }
                assert!(text.contains(&flag), "{args:?}: {flag}\n{text}");
                assert!(text.contains(spec.help), "{args:?}: {}\n{text}", spec.help);
                if let Some(d) = spec.default {
                    assert!(
                        text.contains(&format!("{} [default: {d}]", spec.help)),
                        "{args:?}: {flag} [default: {d}]\n{text}"
                    );
                }
            }
        }
        for flag in [
            "--seed <SEED>",
            "--no-gpt-grow",
            "--option <FORMAT.NAME=VALUE>",
        ] {
            assert!(text.contains(flag), "{args:?}: {flag}\n{text}");
        }
    }
}

#[test]
fn option_by_name_writes_what_the_flag_does() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 4 << 20, 5);
    let write = |name: &str, args: &[&str]| {
        let out = dir.path().join(name);
        let mut all = vec![s(&raw), "--seed", "s", "-o", s(&out)];
        all.extend(args);
        let run = imgconv(&all);
        assert!(run.status.success(), "{args:?}: {run:?}");
        std::fs::read(&out).unwrap()
    };
    let flags = write(
        "a.qcow2",
        &[
            "--to",
            "qcow2",
            "--cluster-size",
            "4k",
            "-c",
            "--compression-level",
            "1",
        ],
    );
    let named = write(
        "b.qcow2",
        &[
            "--to",
            "qcow2",
            "--option",
            "qcow2.cluster-size=4k",
            "--option",
            "qcow2.compress",
            "--option=qcow2.compression-level=1",
        ],
    );
    assert_eq!(flags, named);
    assert_ne!(flags, write("c.qcow2", &["--to", "qcow2"]));
    // A named option goes over the flag.
    let over = write(
        "d.vhdx",
        &[
            "--to",
            "vhdx",
            "--vhdx-block-size",
            "8M",
            "--option",
            "vhdx.vhdx-block-size=1M",
        ],
    );
    assert_eq!(
        over,
        write("e.vhdx", &["--to", "vhdx", "--vhdx-block-size", "1M"])
    );
    assert_eq!(
        write(
            "f.vhdx",
            &["--to", "vhdx", "--option", "vhdx.vhdx-fixed=on"]
        ),
        write("g.vhdx", &["--to", "vhdx", "--vhdx-fixed"])
    );
}

#[test]
fn bad_values_are_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.raw");
    for (args, want) in [
        (&["--cluster-size", "4x"][..], "unknown size suffix \"x\""),
        (
            &["--cluster-size", "8G"],
            "cluster size 8589934592 is too large",
        ),
        (&["--vhd-block-size", "1.5M"], "invalid size \"1.5M\""),
        (
            &["-c", "lz4"],
            "unknown compression \"lz4\": use deflate or zstd",
        ),
        (&["--cpus", "two"], "invalid digit found in string"),
        (
            &["--option", "qcow2.cluster-size=4x"],
            "unknown size suffix \"x\"",
        ),
        (
            &["--option", "qcow2.clustersize=4k"],
            "qcow2 options: cluster-size",
        ),
        (
            &["--option", "qcow3.cluster-size=4k"],
            "those that do: qcow2",
        ),
        (
            &["--option", "cluster-size=4k"],
            "expected FORMAT.NAME=VALUE",
        ),
        (&["--option", "vhdx.vhdx-fixed=maybe"], "use on or off"),
    ] {
        let mut all = vec![s(&missing), "--to", "qcow2"];
        all.extend(args);
        let run = imgconv(&all);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("missing.raw"), "{args:?}: {err}");
    }
}
