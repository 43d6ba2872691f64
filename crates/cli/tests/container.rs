//! `imgconv build --to oci,oci-archive,docker-archive,tar.gz,tar.zst`: a
//! root filesystem's container images and archives, read back by skopeo,
//! umoci and podman.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use std::path::{Path, PathBuf};

use common::{command, customizer_config, imgconv, s, tree_of};
use testkit::rootfs::{long_path, sample_tar};
use testkit::rpms::sample_repo;
use testkit::{run_ok, tree_contents};

/// A toolkit configuration like Azure Linux's core-container: a disk with
/// only a tar.gz artifact, and a host name.
fn container_config(dir: &Path) -> PathBuf {
    let path = dir.join("core-container.json");
    fs::write(
        &path,
        r#"{
    "IsContainerImage": true,
    "Disks": [{"Artifacts": [{"Name": "core", "Compression": "tar.gz"}]}],
    "SystemConfigs": [{"Name": "Standard", "Hostname": "box"}]
}"#,
    )
    .unwrap();
    path
}

fn build(config: &Path, rootfs: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "build",
        s(config),
        "--rootfs",
        s(rootfs),
        "--output-dir",
        s(out),
        "--tag",
        "example/os:1.0",
        "--cmd",
        r#"["/usr/bin/sh"]"#,
        "--label",
        "org.example.built-by=imgconv",
        "--env",
        "LANG=C.UTF-8",
    ];
    args.extend_from_slice(extra);
    let r = command()
        .args(&args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}

#[test]
fn a_rootfs_becomes_every_container_artifact_that_skopeo_umoci_and_podman_read() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs.tar");
    sample_tar(&rootfs);
    let config = container_config(dir.path());
    let formats = ["--to", "oci,oci-archive,docker-archive,tar.gz,tar.zst"];
    let (out1, out2) = (dir.path().join("out1"), dir.path().join("out2"));
    build(&config, &rootfs, &out1, &formats);
    build(&config, &rootfs, &out2, &formats);

    // Reproducible: the same bytes, every file of every output.
    let (a, b) = (tree_contents(&out1), tree_contents(&out2));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs between two builds");
    }

    // What the tree should be: the rootfs and the configured host name
    // (the rootfs's own /etc/fstab stays: a container has no mounts).
    let mut want = tree_of(&rootfs);
    let mut hostname_tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    hostname_tar
        .append_data(&mut h, "etc/hostname", &b"box\n"[..])
        .unwrap();
    let hostname = dir.path().join("hostname.tar");
    fs::write(&hostname, hostname_tar.into_inner().unwrap()).unwrap();
    want.extend(
        tree_of(&hostname)
            .into_iter()
            .filter(|(k, _)| !k.is_empty()),
    );
    assert!(want.contains_key(&long_path()));

    // The archives hold that tree, with the parent directories the rootfs
    // left out (root's, 0755) before their first child.
    let archived = tree_of(&out1.join("core.tar.gz"));
    for (path, entry) in &want {
        assert_eq!(archived.get(path), Some(entry), "{path}");
    }
    let added: Vec<&String> = archived.keys().filter(|k| !want.contains_key(*k)).collect();
    assert_eq!(
        added,
        ["usr/share", long_path().rsplit_once('/').unwrap().0],
        "{added:?}"
    );
    for dir in added {
        assert!(
            archived[dir].starts_with("Dir 755 0:0 [] 0 "),
            "{}",
            archived[dir]
        );
    }
    let mut want = archived;
    assert_eq!(tree_of(&out1.join("core.tar.zst")), want);
    // And the tools read them: gzip and zstd check their streams, GNU tar
    // lists every member.
    run_ok("gzip", &["-t", s(&out1.join("core.tar.gz"))]);
    for (flag, name) in [("-z", "core.tar.gz"), ("--zstd", "core.tar.zst")] {
        let listing = run_ok("tar", &[flag, "-tf", s(&out1.join(name))]);
        assert_eq!(listing.lines().count(), want.len(), "{name}: {listing}");
    }

    // skopeo reads every image, and copying checks every digest.
    for (transport, file) in [
        ("oci-archive", "core.oci.tar"),
        ("docker-archive", "core.docker.tar"),
        ("oci", "core.oci:1.0"),
    ] {
        let reference = format!("{transport}:{}", out1.join(file).display());
        let inspect: serde_json::Value =
            serde_json::from_str(&run_ok("skopeo", &["inspect", &reference])).unwrap();
        assert_eq!(inspect["Architecture"], "amd64", "{reference}");
        assert_eq!(inspect["Os"], "linux", "{reference}");
        assert_eq!(inspect["Created"], "2023-11-14T22:13:20Z", "{reference}");
        assert_eq!(
            inspect["Labels"]["org.example.built-by"], "imgconv",
            "{reference}"
        );
        assert!(
            inspect["Env"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == "LANG=C.UTF-8"),
            "{inspect}"
        );
        assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1);
        let copy = dir.path().join(format!("copy-{transport}"));
        run_ok(
            "skopeo",
            &["copy", &reference, &format!("dir:{}", copy.display())],
        );
    }
    let raw: serde_json::Value = serde_json::from_str(&run_ok(
        "skopeo",
        &[
            "inspect",
            "--config",
            &format!("oci-archive:{}", out1.join("core.oci.tar").display()),
        ],
    ))
    .unwrap();
    assert_eq!(raw["config"]["Cmd"], serde_json::json!(["/usr/bin/sh"]));
    assert_eq!(raw["rootfs"]["type"], "layers");

    // umoci unpacks the layout to the same tree.
    let bundle = dir.path().join("bundle");
    run_ok(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:1.0", out1.join("core.oci").display()),
            s(&bundle),
        ],
    );
    let mut got = tree_of(&bundle.join("rootfs"));
    // umoci makes the bundle's rootfs directory itself.
    got.remove("");
    want.remove("");
    for (path, entry) in &want {
        assert_eq!(got.get(path), Some(entry), "umoci's {path}");
    }
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(extra.is_empty(), "umoci unpacked more: {extra:?}");

    // Read back as a root filesystem, each image gives the same tree.
    for source in [
        format!("oci-archive:{}", out1.join("core.oci.tar").display()),
        format!("docker-archive:{}", out1.join("core.docker.tar").display()),
        format!("oci:{}:1.0", out1.join("core.oci").display()),
    ] {
        let back = dir.path().join("back.tar");
        let r = imgconv(&[
            "build",
            s(&config),
            "--rootfs",
            &source,
            "--to",
            "tar",
            "-o",
            s(&back),
        ]);
        assert!(
            r.status.success(),
            "{source}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let mut got = tree_of(&back);
        got.remove("");
        // The host name file is the build's own, made now.
        let mut expected = want.clone();
        for t in [&mut got, &mut expected] {
            t.remove("etc/hostname");
        }
        assert_eq!(got, expected, "{source}");
    }

    // podman loads both archives under the tag. (Running a container needs
    // setrlimit, which this machine's sandbox refuses even to podman as root.)
    for file in ["core.oci.tar", "core.docker.tar"] {
        let loaded = run_ok("podman", &["load", "-i", s(&out1.join(file))]);
        assert!(loaded.contains("example/os:1.0"), "{file}: {loaded}");
        let inspect = run_ok(
            "podman",
            &[
                "image",
                "inspect",
                "--format",
                "{{.Architecture}} {{.Config.Cmd}}",
                "example/os:1.0",
            ],
        );
        assert_eq!(inspect.trim(), "amd64 [/usr/bin/sh]", "{file}");
        run_ok("podman", &["rmi", "-f", "example/os:1.0"]);
    }
}

#[test]
fn a_container_configuration_makes_its_artifact_and_refuses_disks() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs.tar");
    sample_tar(&rootfs);
    let config = container_config(dir.path());
    let out = dir.path().join("out");

    // The configuration's own artifact: core.tar.gz.
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&rootfs),
        "--output-dir",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["core.tar.gz"]);

    // An image layout replaces an earlier one, as a file output does, but
    // not a directory that is something else.
    for _ in 0..2 {
        let r = imgconv(&[
            "build",
            s(&config),
            "--rootfs",
            s(&rootfs),
            "--to",
            "oci",
            "--output-dir",
            s(&out),
        ]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        run_ok(
            "umoci",
            &[
                "stat",
                "--image",
                &format!("{}:latest", out.join("core.oci").display()),
            ],
        );
    }
    assert!(!out.join("core.oci/.replaced").exists());
    fs::remove_dir_all(out.join("core.oci")).unwrap();
    fs::create_dir(out.join("core.oci")).unwrap();
    fs::write(out.join("core.oci/precious"), b"mine").unwrap();
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&rootfs),
        "--to",
        "oci",
        "--output-dir",
        s(&out),
    ]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("not an OCI image layout"));
    assert_eq!(fs::read(out.join("core.oci/precious")).unwrap(), b"mine");
    fs::remove_dir_all(out.join("core.oci")).unwrap();

    // No partitions, no disk.
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&rootfs),
        "--to",
        "qcow2",
        "--output-dir",
        s(&out),
    ]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("no partitions") && err.contains("qcow2"),
        "{err}"
    );

    // An image archive needs a file; a bad tag is named.
    for (args, says) in [
        (&["--to", "oci-archive", "-o", "-"][..], "standard output"),
        (
            &["--to", "oci-archive", "--tag", "Not A Name"][..],
            "Not A Name",
        ),
        (&["--to", "oci", "--layer-compression", "lz4"][..], "lz4"),
    ] {
        let mut all = vec!["build", s(&config), "--rootfs", s(&rootfs), "--output-dir"];
        let fail_dir = dir.path().join("fail");
        all.push(s(&fail_dir));
        all.extend_from_slice(args);
        let r = command()
            .args(&all)
            .stdout(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!r.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!fail_dir.exists() || fs::read_dir(&fail_dir).unwrap().next().is_none());
    }

    // A tar.gz to standard output streams.
    let r = command()
        .args([
            "build",
            s(&config),
            "--rootfs",
            s(&rootfs),
            "--to",
            "tar.gz",
            "-o",
            "-",
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let piped = dir.path().join("piped.tar.gz");
    fs::write(&piped, &r.stdout).unwrap();
    assert_eq!(
        tree_of(&piped).len(),
        tree_of(&out.join("core.tar.gz")).len()
    );
}

#[test]
fn packages_become_a_container_image_with_or_without_their_database() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    sample_repo(&repo);
    // What rpm lists from the database, which the manifests left in its
    // place must list too: `rpm -qa` and the toolkit's query.
    let mut listed_by_rpm: Vec<String> = Vec::new();
    for (remove, db) in [(false, true), (true, false)] {
        let config = dir.path().join(format!("distroless-{remove}.json"));
        fs::write(
            &config,
            format!(
                r#"{{
    "IsContainerImage": true,
    "Disks": [{{"Artifacts": [{{"Name": "distroless", "Compression": "tar.gz"}}]}}],
    "SystemConfigs": [{{"Name": "Standard", "Packages": ["webclient"], "RemoveRpmDb": {remove}}}]
}}"#
            ),
        )
        .unwrap();
        let out = dir.path().join(format!("out-{remove}"));
        // One install time for both builds.
        let r = common::command()
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args([
                "build",
                s(&config),
                "--repo",
                s(&repo),
                "--no-gpg-check",
                "--to",
                "oci-archive,tar.gz",
                "--output-dir",
                s(&out),
            ])
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let bundle = dir.path().join(format!("bundle-{remove}"));
        let layout = dir.path().join(format!("layout-{remove}"));
        run_ok(
            "skopeo",
            &[
                "copy",
                &format!("oci-archive:{}", out.join("distroless.oci.tar").display()),
                &format!("oci:{}:latest", layout.display()),
            ],
        );
        run_ok(
            "umoci",
            &[
                "unpack",
                "--image",
                &format!("{}:latest", layout.display()),
                s(&bundle),
            ],
        );
        let rootfs = bundle.join("rootfs");
        assert!(rootfs.join("usr/bin/app").exists());
        assert_eq!(rootfs.join("var/lib/rpm/rpmdb.sqlite").exists(), db);
        if db {
            let listed = run_ok(
                "rpm",
                &[
                    "--root",
                    s(&rootfs),
                    "--dbpath",
                    "/var/lib/rpm",
                    "-qa",
                    "--qf",
                    "%{NAME}\\n",
                ],
            );
            let mut names: Vec<&str> = listed.lines().collect();
            names.sort_unstable();
            assert_eq!(names, ["app", "app-doc", "base", "libfoo", "webclient"]);
            for qf in [
                None,
                Some(
                    "%{NAME}\t%{VERSION}-%{RELEASE}\t%{INSTALLTIME}\t%{BUILDTIME}\t%{VENDOR}\t\
                     (none)\t%{SIZE}\t%{ARCH}\t%{EPOCHNUM}\t%{SOURCERPM}\n",
                ),
            ] {
                let mut args = vec!["--root", s(&rootfs), "--dbpath", "/var/lib/rpm", "-qa"];
                if let Some(qf) = qf {
                    args.extend(["--qf", qf]);
                }
                listed_by_rpm.push(run_ok("rpm", &args));
            }
        } else {
            // Azure Linux's toolkit lists the packages in the database's
            // place, for scanners.
            assert_eq!(listed_by_rpm.len(), 2);
            for (i, listed) in listed_by_rpm.iter().enumerate() {
                let manifest =
                    rootfs.join(format!("var/lib/rpmmanifest/container-manifest-{}", i + 1));
                assert_eq!(&fs::read_to_string(manifest).unwrap(), listed);
            }
        }
        let archived = tree_of(&out.join("distroless.tar.gz"));
        let unpacked = tree_of(&rootfs);
        let a: Vec<&String> = archived.keys().filter(|k| !k.is_empty()).collect();
        let b: Vec<&String> = unpacked.keys().filter(|k| !k.is_empty()).collect();
        assert_eq!(a, b);
    }
}

/// A layer tar of `entries`: (path, kind, mode, contents) where kind is
/// 'd' (directory) or 'f' (file).
fn layer_tar(path: &Path, entries: &[(&str, char, u32, &[u8])]) {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, mode, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(*mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_650_000_000);
        h.set_size(data.len() as u64);
        h.set_entry_type(if *kind == 'd' {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        b.append_data(&mut h, name, *data).unwrap();
    }
    fs::write(path, b.into_inner().unwrap()).unwrap();
}

#[test]
fn a_layered_image_with_whiteouts_is_a_rootfs_as_umoci_unpacks_it() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.tar");
    sample_tar(&base);
    let extra = dir.path().join("extra.tar");
    layer_tar(
        &extra,
        &[
            ("opt/", 'd', 0o755, b""),
            ("opt/keep/", 'd', 0o755, b""),
            ("opt/keep/a", 'f', 0o644, b"kept"),
            ("opt/gone/", 'd', 0o755, b""),
            ("opt/gone/b", 'f', 0o644, b"hidden by an opaque whiteout"),
            ("opt/gone/sub/", 'd', 0o755, b""),
            ("opt/gone/sub/deep", 'f', 0o644, b"hidden too"),
            ("etc/remove-me", 'f', 0o644, b"deleted by a whiteout"),
            // A directory this layer implies without an entry of its own.
            (
                "srv/data/file",
                'f',
                0o644,
                b"under a directory replaced later",
            ),
        ],
    );
    let top = dir.path().join("top.tar");
    layer_tar(
        &top,
        &[
            ("etc/.wh.remove-me", 'f', 0o644, b""),
            ("opt/gone/", 'd', 0o700, b""),
            ("opt/gone/.wh..wh..opq", 'f', 0o644, b""),
            ("opt/gone/c", 'f', 0o644, b"new in the opaque directory"),
            ("usr/bin/passwd", 'f', 0o755, b"replaced"),
            ("home/user/", 'd', 0o750, b""),
            ("srv/data", 'f', 0o644, b"a file where a directory was"),
        ],
    );
    let layout = dir.path().join("layout");
    let image = format!("{}:t", layout.display());
    run_ok("umoci", &["init", "--layout", s(&layout)]);
    run_ok("umoci", &["new", "--image", &image]);
    // An empty layer (as some builders make for a step that changes no
    // file) between the others.
    let empty = dir.path().join("empty.tar");
    layer_tar(&empty, &[]);
    for layer in [&base, &empty, &extra, &top] {
        run_ok("umoci", &["raw", "add-layer", "--image", &image, s(layer)]);
    }
    let bundle = dir.path().join("bundle");
    run_ok("umoci", &["unpack", "--image", &image, s(&bundle)]);
    let mut want = tree_of(&bundle.join("rootfs"));
    want.remove("");
    assert!(want.contains_key("opt/gone/c") && !want.contains_key("opt/gone/b"));
    assert!(!want.contains_key("etc/remove-me"));
    assert!(want.contains_key("srv/data") && !want.contains_key("srv/data/file"));

    let config = container_config(dir.path());
    // skopeo makes the same image a docker archive and an OCI archive.
    let docker = dir.path().join("image.docker.tar");
    let oci_archive = dir.path().join("image.oci.tar");
    run_ok(
        "skopeo",
        &[
            "copy",
            &format!("oci:{image}"),
            &format!("docker-archive:{}:example/layered:1", docker.display()),
        ],
    );
    run_ok(
        "skopeo",
        &[
            "copy",
            &format!("oci:{image}"),
            &format!("oci-archive:{}:t", oci_archive.display()),
        ],
    );
    for (i, source) in [
        format!("oci:{image}"),
        format!("oci-archive:{}", oci_archive.display()),
        format!("docker-archive:{}", docker.display()),
        format!("docker-archive:{}:example/layered:1", docker.display()),
    ]
    .iter()
    .enumerate()
    {
        let out = dir.path().join(format!("flat{i}.tar"));
        let r = imgconv(&[
            "build",
            s(&config),
            "--rootfs",
            source,
            "--to",
            "tar",
            "-o",
            s(&out),
        ]);
        assert!(
            r.status.success(),
            "{source}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let mut got = tree_of(&out);
        got.remove("");
        // The configuration's host name is the build's own.
        got.remove("etc/hostname");
        for (path, entry) in &want {
            assert_eq!(got.get(path), Some(entry), "{source}: {path}");
        }
        let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
        assert!(extra.is_empty(), "{source}: more than umoci: {extra:?}");
    }

    // A layer that does not match its digest is named.
    let blobs = layout.join("blobs/sha256");
    let biggest = fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(&biggest).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    fs::write(&biggest, &bytes).unwrap();
    let out = dir.path().join("never.tar");
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        &format!("oci:{image}"),
        "--to",
        "tar",
        "-o",
        s(&out),
    ]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("layer")
            && (err.contains("digest") || err.contains("corrupt") || err.contains("invalid")),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn a_configurations_container_section_sets_the_image_under_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs.tar");
    sample_tar(&rootfs);
    let toolkit = dir.path().join("app.json");
    fs::write(
        &toolkit,
        r#"{
    "Disks": [{"Artifacts": [{"Name": "app", "Compression": "tar.gz"}]}],
    "SystemConfigs": [{"Name": "Standard"}],
    "Container": {
        "Tag": "example/app:2.1",
        "Labels": {"org.example.team": "os", "org.example.tier": "base"},
        "Env": ["LANG=C.UTF-8", "MODE=config"],
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo hi"],
        "WorkingDir": "/srv",
        "User": "1000:1000"
    }
}"#,
    )
    .unwrap();
    let customizer = customizer_config(
        dir.path(),
        "app",
        r#"container:
  tag: example/app:2.1
  labels: {org.example.team: os, org.example.tier: base}
  env: [LANG=C.UTF-8, MODE=config]
  entrypoint: [/bin/sh, -c]
  cmd: [echo hi]
  workingDir: /srv
  user: "1000:1000"
"#,
    );
    for config in [&toolkit, &customizer] {
        let out = dir.path().join("out");
        let _ = fs::remove_dir_all(&out);
        // The flags win: one label and one variable replaced, a command.
        let r = command()
            .args([
                "build",
                s(config),
                "--rootfs",
                s(&rootfs),
                "--to",
                "oci-archive",
            ])
            .args(["--output-dir", s(&out), "--label", "org.example.tier=app"])
            .args(["--env", "MODE=flag", "--cmd", r#"["echo", "flag"]"#])
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let reference = format!("oci-archive:{}", out.join("app.oci.tar").display());
        let image: serde_json::Value =
            serde_json::from_str(&run_ok("skopeo", &["inspect", "--config", &reference])).unwrap();
        let c = &image["config"];
        assert_eq!(
            c["Entrypoint"],
            serde_json::json!(["/bin/sh", "-c"]),
            "{image}"
        );
        assert_eq!(c["Cmd"], serde_json::json!(["echo", "flag"]), "{image}");
        assert_eq!(c["WorkingDir"], "/srv", "{image}");
        assert_eq!(c["User"], "1000:1000", "{image}");
        assert_eq!(c["Labels"]["org.example.team"], "os", "{image}");
        assert_eq!(c["Labels"]["org.example.tier"], "app", "{image}");
        let env: Vec<&str> = c["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(env.contains(&"LANG=C.UTF-8"), "{env:?}");
        assert!(
            env.contains(&"MODE=flag") && !env.contains(&"MODE=config"),
            "{env:?}"
        );
        let index: serde_json::Value = serde_json::from_str(&run_ok(
            "tar",
            &["-xOf", s(&out.join("app.oci.tar")), "index.json"],
        ))
        .unwrap();
        assert_eq!(
            index["manifests"][0]["annotations"]["io.containerd.image.name"], "example/app:2.1",
            "{index}"
        );
    }

    // A section that is not one is refused by its field.
    let bad = dir.path().join("bad.json");
    fs::write(
        &bad,
        r#"{"Disks": [{"Artifacts": [{"Name": "app", "Compression": "tar.gz"}]}],
    "SystemConfigs": [{"Name": "Standard"}], "Container": {"WorkingDir": "srv"}}"#,
    )
    .unwrap();
    let r = imgconv(&[
        "build",
        s(&bad),
        "--rootfs",
        s(&rootfs),
        "--output-dir",
        s(&dir.path().join("o")),
    ]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("Container.WorkingDir"), "{err}");
}
