//! SELinux modes as the toolkit and Image Customizer set them: the kernel
//! command line, `/etc/selinux/config`, and every file labelled from the
//! tree's own policy, compared with `matchpathcon` on the same policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use common::{build_from, customizer_config, s};
use testkit::bootroot::{rootfs_tar, Variant};

/// Debian's reference policy, as the selinux-policy-default package
/// installs it.
const POLICY: &str = "/etc/selinux/default";

/// The bootable test tree with Debian's policy added under
/// /etc/selinux, and a few files in places the policy labels apart.
fn tree_with_policy(dir: &Path) -> PathBuf {
    let tar = dir.join("selinux.tar");
    fs::copy(rootfs_tar(Variant::Grub), &tar).unwrap();
    let extra = dir.join("extra");
    let files = extra.join("etc/selinux/default/contexts/files");
    fs::create_dir_all(&files).unwrap();
    for name in [
        "file_contexts",
        "file_contexts.homedirs",
        "file_contexts.subs_dist",
    ] {
        let from = Path::new(POLICY).join("contexts/files").join(name);
        fs::copy(&from, files.join(name))
            .unwrap_or_else(|e| panic!("{}: {e} (selinux-policy-default)", from.display()));
    }
    fs::write(
        extra.join("etc/selinux/config"),
        "# the tree's own\nSELINUX=disabled\nSELINUXTYPE=default\n",
    )
    .unwrap();
    fs::create_dir_all(extra.join("home/alice/.ssh")).unwrap();
    fs::write(
        extra.join("home/alice/.ssh/authorized_keys"),
        "ssh-ed25519 AAAA\n",
    )
    .unwrap();
    fs::create_dir_all(extra.join("var/log")).unwrap();
    fs::write(extra.join("var/log/messages"), "").unwrap();
    fs::create_dir_all(extra.join("usr/sbin")).unwrap();
    fs::write(extra.join("usr/sbin/sshd"), "").unwrap();
    testkit::run_ok(
        "tar",
        &[
            "-rf",
            s(&tar),
            "--owner=0",
            "--group=0",
            "-C",
            s(&extra),
            "./etc/selinux",
            "./home",
            "./var/log/messages",
            "./usr/sbin/sshd",
        ],
    );
    tar
}

/// `security.selinux` of every entry of an archive (without its NUL).
fn labels(tar: &Path) -> BTreeMap<String, (String, Option<String>)> {
    let mut out = BTreeMap::new();
    imgbuild::Rootfs::open(tar)
        .unwrap()
        .walk(&mut |e, _| {
            let label = e
                .xattrs
                .iter()
                .find(|(n, _)| n == "security.selinux")
                .map(|(_, v)| {
                    assert_eq!(v.last(), Some(&0), "{}: not NUL-terminated", e.path);
                    String::from_utf8(v[..v.len() - 1].to_vec()).unwrap()
                });
            let kind = match &e.kind {
                imgbuild::rootfs::EntryKind::Dir => "dir",
                imgbuild::rootfs::EntryKind::Symlink { .. } => "link",
                imgbuild::rootfs::EntryKind::Char { .. } => "chr_file",
                imgbuild::rootfs::EntryKind::Block { .. } => "blk_file",
                imgbuild::rootfs::EntryKind::Fifo => "fifo_file",
                _ => "file",
            };
            out.insert(format!("/{}", e.path), (kind.to_string(), label));
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn every_file_is_labelled_as_matchpathcon_labels_it() {
    let dir = tempfile::tempdir().unwrap();
    let tar = tree_with_policy(dir.path());
    let config = customizer_config(
        dir.path(),
        "labelled",
        "os:\n  selinux:\n    mode: enforcing\n",
    );
    let out = dir.path().join("out");
    let r = build_from(&config, &tar, "raw,tar", &out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let ours = labels(&out.join("labelled.tar"));
    assert!(ours.len() > 100, "{}", ours.len());

    // matchpathcon on the same policy, each path with its file type.
    let fc = format!("{POLICY}/contexts/files/file_contexts");
    let mut mismatches = Vec::new();
    for kind in ["file", "dir", "link", "chr_file", "blk_file", "fifo_file"] {
        let paths: Vec<&String> = ours
            .iter()
            .filter(|(p, (k, _))| k == kind && p.as_str() != "/")
            .map(|(p, _)| p)
            .collect();
        for chunk in paths.chunks(500) {
            let mut args = vec!["-f", fc.as_str(), "-m", kind];
            args.extend(chunk.iter().map(|p| p.as_str()));
            let listing = testkit::run("matchpathcon", &args);
            for line in String::from_utf8_lossy(&listing.stdout).lines() {
                let (path, context) = line.split_once('\t').unwrap_or((line, ""));
                let want = (context != "<<none>>").then(|| context.to_string());
                let got = &ours[path].1;
                if *got != want {
                    mismatches.push(format!(
                        "{path} ({kind}): ours {got:?}, matchpathcon {want:?}"
                    ));
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    let etc_shadow_like = &ours["/var/log/messages"].1;
    assert!(
        etc_shadow_like
            .as_deref()
            .is_some_and(|c| c.contains(":var_log_t")),
        "{etc_shadow_like:?}"
    );

    // The disk: the mode in its config, the label in the file system, the
    // arguments on the command line.
    let data = fs::read(out.join("labelled.raw")).unwrap();
    let root = dir.path().join("root.img");
    fs::write(&root, &data[97 << 20..]).unwrap();
    let config_text = testkit::run_ok("debugfs", &["-R", "cat /etc/selinux/config", s(&root)]);
    assert_eq!(
        config_text,
        "# the tree's own\nSELINUX=enforcing\nSELINUXTYPE=default\n"
    );
    let xattr = testkit::run_ok(
        "debugfs",
        &["-R", "ea_get /var/log/messages security.selinux", s(&root)],
    );
    assert!(xattr.contains("var_log_t"), "{xattr}");
    let grub = testkit::run_ok("debugfs", &["-R", "cat /boot/grub/grub.cfg", s(&root)]);
    assert!(grub.contains("security=selinux selinux=1 root="), "{grub}");
}

#[test]
fn a_mode_without_a_policy_names_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = customizer_config(
        dir.path(),
        "nopolicy",
        "os:\n  selinux:\n    mode: permissive\n",
    );
    let out = dir.path().join("out");
    let r = build_from(&config, &rootfs_tar(Variant::Grub), "tar", &out);
    assert!(!r.status.success());
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("/etc/selinux/config"), "{stderr}");
    assert!(!out.join("nopolicy.tar").exists());
}
