//! Image Customizer's `os.services`: units enabled and disabled in the
//! tree exactly as `systemctl enable` and `systemctl disable` leave it,
//! compared with the real systemctl (`--root`) on the same tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::{build_from, customizer_config, s};

fn unit(root: &Path, path: &str, install: &str) {
    let file = root.join(path);
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(
        file,
        format!("[Unit]\nDescription=test\n\n[Service]\nExecStart=/bin/true\n\n{install}"),
    )
    .unwrap();
}

/// A tree with units in both unit directories, some already enabled, a
/// mask, a template and a unit in /etc.
fn tree(root: &Path) {
    let lib = "usr/lib/systemd/system";
    unit(
        root,
        &format!("{lib}/a.service"),
        "[Install]\nWantedBy=multi-user.target\nAlias=alpha.service\nAlso=b.socket\n",
    );
    unit(
        root,
        &format!("{lib}/b.socket"),
        "[Install]\nWantedBy=sockets.target\n",
    );
    unit(
        root,
        &format!("{lib}/getty@.service"),
        "[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n",
    );
    unit(
        root,
        &format!("{lib}/serial-getty@.service"),
        "[Install]\nWantedBy=getty.target\n",
    );
    unit(root, &format!("{lib}/c.service"), "");
    unit(
        root,
        &format!("{lib}/d.service"),
        "[Install]\nWantedBy=multi-user.target\nRequiredBy=e.target\nAlias=delta.service\n",
    );
    unit(
        root,
        &format!("{lib}/f.timer"),
        "[Install]\nWantedBy=timers.target\n",
    );
    unit(
        root,
        "lib/systemd/system/old.service",
        "[Install]\nWantedBy=multi-user.target \\\n  graphical.target\n",
    );
    unit(
        root,
        "etc/systemd/system/local.service",
        "[Install]\nWantedBy=multi-user.target\n",
    );
    let etc = root.join("etc/systemd/system");
    for (dir, name) in [
        ("multi-user.target.wants", "d.service"),
        ("e.target.requires", "d.service"),
    ] {
        fs::create_dir_all(etc.join(dir)).unwrap();
        symlink(format!("/{lib}/d.service"), etc.join(dir).join(name)).unwrap();
    }
    symlink(format!("/{lib}/d.service"), etc.join("delta.service")).unwrap();
    symlink("/dev/null", etc.join("masked.service")).unwrap();
    fs::create_dir_all(root.join("bin")).unwrap();
}

/// Every symbolic link under etc/systemd/system of a directory tree.
fn links_in_dir(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.join("etc/systemd/system")];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let meta = fs::symlink_metadata(e.path()).unwrap();
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            if meta.file_type().is_symlink() {
                out.insert(rel, fs::read_link(e.path()).unwrap().display().to_string());
            } else if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

/// Every symbolic link under etc/systemd/system of an archive.
fn links_in_tar(tar: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    imgbuild::Rootfs::open(tar)
        .unwrap()
        .walk(&mut |e, _| {
            if let imgbuild::rootfs::EntryKind::Symlink { target } = &e.kind {
                if e.path.starts_with("etc/systemd/system/") {
                    out.insert(e.path.clone(), target.clone());
                }
            }
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn services_are_linked_as_systemctl_links_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    tree(&root);
    let enable = [
        "a",
        "getty@.service",
        "serial-getty@ttyS0",
        "local",
        "old",
        "f.timer",
        "c",
    ];
    let disable = ["d"];
    let config = customizer_config(
        dir.path(),
        "services",
        &format!(
            "os:\n  services:\n    enable: [{}]\n    disable: [{}]\n",
            enable.join(", "),
            disable.join(", ")
        ),
    );
    let out = dir.path().join("out");
    let r = build_from(&config, &root, "tar", &out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let ours = links_in_tar(&out.join("services.tar"));

    // The real systemctl on a copy of the same tree.
    let copy = dir.path().join("copy");
    testkit::run_ok("cp", &["-a", s(&root), s(&copy)]);
    let root_arg = format!("--root={}", copy.display());
    let mut args = vec![root_arg.as_str(), "enable"];
    args.extend(enable);
    testkit::run_ok("systemctl", &args);
    let mut args = vec![root_arg.as_str(), "disable"];
    args.extend(disable);
    testkit::run_ok("systemctl", &args);
    let theirs = links_in_dir(&copy);
    assert_eq!(ours, theirs);
    // What the comparison covers.
    for link in [
        "etc/systemd/system/multi-user.target.wants/a.service",
        "etc/systemd/system/alpha.service",
        "etc/systemd/system/sockets.target.wants/b.socket",
        "etc/systemd/system/getty.target.wants/getty@tty1.service",
        "etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service",
        "etc/systemd/system/graphical.target.wants/old.service",
        "etc/systemd/system/masked.service",
    ] {
        assert!(ours.contains_key(link), "{link}: {ours:?}");
    }
    assert!(!ours.contains_key("etc/systemd/system/delta.service"));
}

#[test]
fn a_unit_not_in_the_tree_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    tree(&root);
    let config = customizer_config(
        dir.path(),
        "missing",
        "os:\n  services:\n    enable: [a]\n    disable: [nosuch]\n",
    );
    let out = dir.path().join("out");
    let r = build_from(&config, &root, "tar", &out);
    assert!(!r.status.success());
    let stderr = String::from_utf8_lossy(&r.stderr);
    for part in ["missing.yaml", "os.services.disable[0]", "nosuch.service"] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    assert!(!out.join("missing.tar").exists());
}
