//! A configuration's scripts (the toolkit's `PostInstallScripts` and
//! `FinalizeImageScripts`, Image Customizer's `scripts`) run in the tree as
//! its root, as an ordinary user, after every other change, and what they
//! leave reaches every output; a failing one stops the build by name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use common::{
    add_to_system_config, customizer_config, imgconv_unprivileged, open_dir, s, toolkit_config,
    tree_of,
};
use testkit::bootroot::{rootfs_tar, Variant};

/// Image Customizer's published `runscripts-config.yaml`, verbatim, with
/// its scripts beside it.
fn published() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../imgbuild/tests/configs/imagecustomizer/runscripts-config.yaml")
}

/// The root file system of a raw disk whose root partition starts at
/// `start_mib`, as a file debugfs reads.
fn root_image(disk: &Path, start_mib: u64, dir: &Path) -> std::path::PathBuf {
    let data = fs::read(disk).unwrap();
    let root = dir.join("root.img");
    fs::write(&root, &data[(start_mib << 20) as usize..]).unwrap();
    root
}

#[test]
fn scripts_run_in_the_tree_and_reach_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = open_dir(dir.path());
    fs::write(
        dir.path().join("data.txt"),
        "from the configuration's directory\n",
    )
    .unwrap();
    let config = customizer_config(
        dir.path(),
        "scripted",
        &format!(
            "previewFeatures: [base-configs]
baseConfigs:
- path: {}
os:
  hostname: scripted
  additionalFiles:
  - {{content: \"from the configuration\\n\", destination: /etc/motd}}
scripts:
  postCustomization:
  - name: marker
    content: |
      set -e
      test \"$(cat /etc/hostname)\" = scripted
      echo \"and from a script\" >> /etc/motd
      mkdir -p /var/lib/scripted
      cat /_imageconfigs/data.txt > /var/lib/scripted/data
      echo \"$1 $GREETING\" > /var/lib/scripted/marker
      chown 1000:1000 /var/lib/scripted/marker
      chmod 0640 /var/lib/scripted/marker
    arguments: [hello]
    environmentVariables: {{GREETING: world}}
  finalizeCustomization:
  - content: test -f /var/lib/scripted/marker && echo last > /var/lib/scripted/final
",
            published().display()
        ),
    );
    let r = imgconv_unprivileged(&[
        "build",
        s(&config),
        "--rootfs",
        s(&rootfs_tar(Variant::Grub)),
        "--to",
        "raw,tar",
        "--output-dir",
        s(&out),
        "--json",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let report: serde_json::Value = serde_json::from_slice(&r.stderr).unwrap();
    let scripts = report["scripts"].as_array().unwrap();
    let names: Vec<&str> = scripts
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    // The base's scripts first (lists add up), each list in order, the
    // finalizing ones last.
    assert_eq!(
        names,
        [
            "scripts/postcustomizationscript.sh",
            "postCustomization[1]",
            "marker",
            "scripts/finalizecustomizationscript.sh",
            "finalizeCustomization[1]",
        ]
    );
    let output = |i: usize| scripts[i]["output"].as_str().unwrap();
    assert_eq!(
        output(0),
        "A post customization script\nWorking dir: /\n",
        "{report}"
    );
    assert!(
        output(1).contains("hello world\nbananas and carrots\n"),
        "{report}"
    );
    assert!(output(3).starts_with("A finalize customization script"));

    let tree = tree_of(&out.join("scripted.tar"));
    let entry = |p: &str| tree.get(p).unwrap_or_else(|| panic!("{p} missing"));
    assert!(entry("var/lib/scripted/marker").contains(" 640 1000:1000 "));
    assert!(entry("var/lib/scripted/final").starts_with("File"));
    // No mount point the sandbox made is left in the tree.
    assert!(!tree.contains_key("_imageconfigs"));
    assert!(!tree
        .keys()
        .any(|p| p.starts_with("proc/") || p == "dev/.imgconv-script"));

    // The disk holds the same: read back with debugfs.
    let root = root_image(&out.join("scripted.raw"), 97, dir.path());
    let cat = |p: &str| testkit::run_ok("debugfs", &["-R", &format!("cat {p}"), s(&root)]);
    assert_eq!(cat("/var/lib/scripted/marker"), "hello world\n");
    assert_eq!(cat("/var/lib/scripted/final"), "last\n");
    assert_eq!(
        cat("/var/lib/scripted/data"),
        "from the configuration's directory\n"
    );
    assert_eq!(
        cat("/etc/motd"),
        "from the configuration\nand from a script\n"
    );
    let stat = testkit::run_ok(
        "debugfs",
        &["-R", "stat /var/lib/scripted/marker", s(&root)],
    );
    assert!(stat.contains("User:  1000   Group:  1000"), "{stat}");
    testkit::run_ok("e2fsck", &["-fn", s(&root)]);
}

#[test]
fn toolkit_scripts_get_their_arguments_and_run_without_a_shebang() {
    let dir = tempfile::tempdir().unwrap();
    let out = open_dir(dir.path());
    let config = toolkit_config(dir.path(), "argued", "efi", false, 97, "ext4", 200);
    // As Azure Linux's configure-systemd-networkd.sh: no `#!` line.
    fs::create_dir_all(dir.path().join("postinstallscripts")).unwrap();
    let script = dir.path().join("postinstallscripts/args.sh");
    fs::write(&script, "echo \"$1+$2\" > /etc/args\n").unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    add_to_system_config(
        &config,
        r#""PostInstallScripts": [{"Path": "postinstallscripts/args.sh", "Args": "one two"}],
           "FinalizeImageScripts": [{"Path": "postinstallscripts/args.sh", "Args": "$(cat /etc/hostname) last"}],"#,
    );
    let r = imgconv_unprivileged(&[
        "build",
        s(&config),
        "--rootfs",
        s(&rootfs_tar(Variant::Grub)),
        "--to",
        "tar",
        "--output-dir",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let mut args = String::new();
    imgbuild::Rootfs::open(out.join("argued.tar"))
        .unwrap()
        .walk(&mut |e, data| {
            if e.path == "etc/args" {
                std::io::Read::read_to_string(data, &mut args).unwrap();
            }
            Ok(())
        })
        .unwrap();
    // The finalizing script ran last, its arguments read by the shell.
    assert_eq!(args, "argued+last\n");
}

#[test]
fn a_failing_script_stops_the_build_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = open_dir(dir.path());
    let config = customizer_config(
        dir.path(),
        "failing",
        "scripts:
  postCustomization:
  - content: 'true'
  - name: breaks
    content: |
      echo first line
      echo about to fail >&2
      exit 3
",
    );
    let r = imgconv_unprivileged(&[
        "build",
        s(&config),
        "--rootfs",
        s(&rootfs_tar(Variant::Grub)),
        "--to",
        "raw,tar",
        "--output-dir",
        s(&out),
    ]);
    assert!(!r.status.success());
    let stderr = String::from_utf8_lossy(&r.stderr);
    for part in [
        "failing.yaml",
        "scripts.postCustomization[1]",
        "breaks",
        "exit status 3",
        "first line\nabout to fail",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0, "{stderr}");
}
