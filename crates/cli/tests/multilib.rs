//! Multilib: x86_64 and i686 builds of one package installed side by side,
//! as dnf chooses them and rpm installs them — the 64-bit file where both
//! own a path with ELF files of different colors, the 32-bit one recorded
//! as the wrong color.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::s;
use testkit::rpms::{createrepo, dnf_transaction};
use testkit::run_ok;

/// A minimal ELF executable header and program header: 32-bit i386 or
/// 64-bit x86-64, as `file` (and so rpmbuild's file colors) tells them.
fn elf(wide: bool) -> Vec<u8> {
    let mut b = vec![0x7f, b'E', b'L', b'F', if wide { 2 } else { 1 }, 1, 1];
    b.resize(16, 0);
    let (half, word) = (
        |b: &mut Vec<u8>, v: u16| b.extend(v.to_le_bytes()),
        |b: &mut Vec<u8>, v: u32| b.extend(v.to_le_bytes()),
    );
    let addr = |b: &mut Vec<u8>, v: u64| {
        if wide {
            b.extend(v.to_le_bytes())
        } else {
            b.extend((v as u32).to_le_bytes())
        }
    };
    let (ehsize, phsize) = if wide { (64u16, 56u16) } else { (52, 32) };
    let total = u64::from(ehsize + phsize);
    half(&mut b, 2); // executable
    half(&mut b, if wide { 62 } else { 3 });
    word(&mut b, 1);
    addr(&mut b, 0x40_0000 + total); // entry
    addr(&mut b, u64::from(ehsize)); // program headers
    addr(&mut b, 0); // no section headers
    word(&mut b, 0);
    for v in [ehsize, phsize, 1, 0, 0, 0] {
        half(&mut b, v);
    }
    // One loadable segment: the file itself.
    word(&mut b, 1);
    if wide {
        word(&mut b, 5);
    }
    addr(&mut b, 0);
    addr(&mut b, 0x40_0000);
    addr(&mut b, 0x40_0000);
    addr(&mut b, total);
    addr(&mut b, total);
    if !wide {
        word(&mut b, 5);
    }
    addr(&mut b, 0x1000);
    assert_eq!(b.len() as u64, total);
    b
}

/// `multi` built by rpmbuild for x86_64 and i686 (each with its ELF
/// `/usr/bin/multi-tool` and the same text file), a package needing the
/// i686 one by its ISA provide, and packages where names and provides of
/// two architectures meet: `cap` only for i686 beside an x86_64 `bar`
/// providing `cap` (and `needcap` requiring it), a noarch `barp`
/// providing `multi`.
fn repo(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("repo");
    let top = dir.join("rpmbuild");
    fs::create_dir_all(&repo).unwrap();
    fs::create_dir_all(top.join("SOURCES")).unwrap();
    fs::write(top.join("SOURCES/tool.x86_64"), elf(true)).unwrap();
    fs::write(top.join("SOURCES/tool.i686"), elf(false)).unwrap();
    let common = "Version: 1\nRelease: 1\nSummary: multilib\nLicense: MIT\nAutoReqProv: no\n\
                  %global debug_package %{nil}\n%global __os_install_post %{nil}\n\
                  %global _build_id_links none\n\
                  %undefine _missing_build_ids_terminate_build\n\
                  %description\nMultilib.\n";
    let multi = dir.join("multi.spec");
    fs::write(
        &multi,
        format!(
            "Name: multi\n{common}\
             %install\nmkdir -p %{{buildroot}}/usr/bin %{{buildroot}}/usr/share/multi\n\
             install -m 755 %{{_sourcedir}}/tool.%{{_target_cpu}} %{{buildroot}}/usr/bin/multi-tool\n\
             echo shared > %{{buildroot}}/usr/share/multi/data\n\
             mkdir -p %{{buildroot}}/usr/arch32\n\
             %if \"%{{_target_cpu}}\" == \"i686\"\n\
             ln %{{buildroot}}/usr/bin/multi-tool %{{buildroot}}/usr/arch32/multi-tool\n\
             %endif\n\
             %files\n/usr/bin/multi-tool\n/usr/share/multi/data\n/usr/arch32\n"
        ),
    )
    .unwrap();
    let user = dir.join("user32.spec");
    fs::write(
        &user,
        format!(
            "Name: user32\n{common}Requires: multi(x86-32)\n\
             %install\nmkdir -p %{{buildroot}}/usr/share/user32\n\
             echo 32 > %{{buildroot}}/usr/share/user32/note\n\
             %files\n/usr/share/user32/note\n"
        ),
    )
    .unwrap();
    let mut specs = vec![(multi.clone(), "x86_64"), (multi, "i686"), (user, "i686")];
    for (name, header, target) in [
        ("cap", "", "i686"),
        ("bar", "Provides: cap\n", "x86_64"),
        ("needcap", "Requires: cap\n", "x86_64"),
        ("barp", "BuildArch: noarch\nProvides: multi\n", "x86_64"),
    ] {
        let spec = dir.join(format!("{name}.spec"));
        fs::write(
            &spec,
            format!("Name: {name}\n{header}{common}%install\nmkdir -p %{{buildroot}}\n%files\n"),
        )
        .unwrap();
        specs.push((spec, target));
    }
    for (spec, target) in &specs {
        run_ok(
            "rpmbuild",
            &[
                "-bb",
                "--quiet",
                "--nodeps",
                "--target",
                target,
                "--define",
                &format!("_topdir {}", top.display()),
                s(spec),
            ],
        );
    }
    for arch in ["x86_64", "i686", "noarch"] {
        for f in fs::read_dir(top.join("RPMS").join(arch)).unwrap() {
            let f = f.unwrap().path();
            fs::copy(&f, repo.join(f.file_name().unwrap())).unwrap();
        }
    }
    createrepo(&repo);
    repo
}

/// `rpm --root` on `root`'s database: `args`' output.
fn rpm_q(root: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("rpm")
        .args(["--root", s(root), "--dbpath", "/var/lib/rpm"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rpm {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn both_architectures_install_as_dnf_chooses_and_rpm_installs_them() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    for names in [
        &["multi"][..],
        &["multi", "multi.i686"][..],
        &["multi.x86_64", "multi.i686"][..],
        &["user32", "multi"][..],
        &["needcap"][..],
        &["cap"][..],
        &["multi", "barp"][..],
    ] {
        let archive = dir.path().join("rootfs.tar");
        let r = common::command()
            .args(["rootfs", "--repo", s(&repo), "--no-gpg-check", "--install"])
            .arg(names.join(","))
            .args(["-o", s(&archive), "--json"])
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let summary: serde_json::Value = serde_json::from_slice(&r.stderr).unwrap();
        let ours: std::collections::BTreeSet<String> = summary["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["package"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ours, dnf_transaction(&repo, names, true), "{names:?}");
    }

    // Both multi packages: the tree, the database and rpm's verdict as
    // rpm's own install of the two leaves them.
    let archive = dir.path().join("both.tar");
    let r = common::imgconv(&[
        "rootfs",
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--install",
        "multi.i686,multi.x86_64",
        "-o",
        s(&archive),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let ours = dir.path().join("ours");
    fs::create_dir_all(&ours).unwrap();
    run_ok("tar", &["-xpf", s(&archive), "-C", s(&ours)]);
    let theirs = dir.path().join("theirs");
    fs::create_dir_all(&theirs).unwrap();
    run_ok(
        "rpm",
        &[
            "--root",
            s(&theirs),
            "--dbpath",
            "/var/lib/rpm",
            "-i",
            "--nodeps",
            "--nosignature",
            "--ignorearch",
            s(&repo.join("multi-1-1.i686.rpm")),
            s(&repo.join("multi-1-1.x86_64.rpm")),
        ],
    );
    let tool = fs::read(ours.join("usr/bin/multi-tool")).unwrap();
    assert_eq!(tool, elf(true), "the 64-bit file is installed");
    assert_eq!(tool, fs::read(theirs.join("usr/bin/multi-tool")).unwrap());
    // The i686 file's other hard link keeps the data the left-out member
    // carried in the payload.
    let linked = fs::read(ours.join("usr/arch32/multi-tool")).unwrap();
    assert_eq!(linked, elf(false));
    assert_eq!(
        linked,
        fs::read(theirs.join("usr/arch32/multi-tool")).unwrap()
    );
    assert_eq!(
        fs::read(ours.join("usr/share/multi/data")).unwrap(),
        b"shared\n"
    );
    let states = "[%{FILESTATES:fstate} %{FILECOLORS} %{FILENAMES}\n]";
    for nevra in ["multi-1-1.i686", "multi-1-1.x86_64"] {
        let q = ["-q", "--qf", states, nevra];
        assert_eq!(rpm_q(&ours, &q), rpm_q(&theirs, &q), "{nevra}");
    }
    assert!(rpm_q(&ours, &["-q", "--qf", states, "multi-1-1.i686"])
        .contains("wrong color 1 /usr/bin/multi-tool"));
    assert_eq!(rpm_q(&ours, &["-Va"]), "");
}
