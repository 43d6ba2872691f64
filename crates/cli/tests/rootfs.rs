//! `imgconv rootfs`: packages from a local repository to a rootfs archive
//! without root, and that archive on to a disk with `imgconv build`.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{command, imgconv, s, toolkit_config};
use testkit::rpms::sample_repo;
use testkit::{run, run_ok};

#[test]
fn packages_become_an_archive_and_the_archive_a_disk() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    sample_repo(&repo);
    let list = dir.path().join("packages.json");
    fs::write(&list, r#"{"packages": ["webclient"]}"#).unwrap();
    let archive = dir.path().join("rootfs.tar.zst");
    let r = imgconv(&[
        "rootfs",
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--install-list",
        s(&list),
        "-o",
        s(&archive),
        "--json",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&r.stderr).unwrap();
    let order: Vec<&str> = summary["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["package"].as_str().unwrap())
        .collect();
    assert_eq!(order.len(), 5, "{order:?}");
    assert!(order[0].starts_with("base-"), "{order:?}");
    let listing = run_ok("tar", &["--zstd", "-tvf", s(&archive)]);
    assert!(listing.contains("usr/bin/app"), "{listing}");
    // The rpm database comes with the packages, unless left out.
    assert!(listing.contains("var/lib/rpm/rpmdb.sqlite"), "{listing}");
    let bare = dir.path().join("bare.tar");
    let r = imgconv(&[
        "rootfs",
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--install",
        "webclient",
        "--no-rpmdb",
        "-o",
        s(&bare),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let listing = run_ok("tar", &["-tf", s(&bare)]);
    assert!(listing.contains("usr/bin/app"), "{listing}");
    assert!(!listing.contains("var/lib/rpm"), "{listing}");

    // The archive is a rootfs for the build.
    let config = toolkit_config(dir.path(), "pkgs", "none", false, 65, "ext4", 200);
    let out = dir.path().join("out");
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&archive),
        "--to",
        "raw",
        "--output-dir",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let data = fs::read(out.join("pkgs.raw")).unwrap();
    let root = dir.path().join("root.img");
    fs::write(&root, &data[65 << 20..]).unwrap();
    let e2 = run("e2fsck", &["-fn", s(&root)]);
    assert!(
        e2.status.success(),
        "{}",
        String::from_utf8_lossy(&e2.stdout)
    );
    let app = run_ok("debugfs", &["-R", "cat /usr/bin/app", s(&root)]);
    assert_eq!(app, "#!/bin/sh\necho app\n");
}

#[test]
fn unmet_requirements_and_tampered_packages_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let paths = sample_repo(&repo);
    let out = dir.path().join("never.tar");
    let r = common::rootfs_unchecked(&repo, "webclient,nosuch", &out, &[]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("no package provides nosuch"), "{err}");
    assert!(!out.exists());

    // A package changed after the repository was indexed.
    let (_, libfoo) = paths.iter().find(|(n, _)| n == "libfoo").unwrap();
    let mut bytes = fs::read(libfoo).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(libfoo, bytes).unwrap();
    let r = imgconv(&[
        "rootfs",
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--install",
        "webclient",
        "-o",
        s(&out),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("libfoo") && err.contains("checksum"), "{err}");
    assert!(!out.exists());
    assert!(fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".part")));
}

/// A package whose payload names `/../../../escaped` (as a hostile or
/// broken package can) is refused, naming the package and the member, by
/// `imgconv rootfs` and by `imgconv build --repo`, with no output left.
#[test]
fn a_payload_path_that_leaves_the_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    let spec = testkit::rpms::PackageSpec::new("escape", "1.0", "1")
        .file("/usr/share/escape/ok", 0o644, "inside\n")
        .file("/../../../escaped", 0o644, "outside\n");
    let rpm = testkit::rpms::build_rpm(&repo, &spec);
    testkit::rpms::createrepo(&repo);
    // rpm's own reader sees the file that leaves the root.
    let files = run_ok("rpm", &["-qlp", "--nosignature", s(&rpm)]);
    assert!(files.contains("/../../../escaped"), "{files}");

    let out = dir.path().join("out");
    fs::create_dir_all(&out).unwrap();
    let archive = out.join("rootfs.tar");
    let r = common::rootfs_unchecked(&repo, "escape", &archive, &[]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&rpm.file_name().unwrap().to_string_lossy().into_owned())
            && err.contains("../../../escaped")
            && err.contains("would leave the root"),
        "{err}"
    );
    let config = toolkit_config(dir.path(), "escape", "none", false, 65, "ext4", 200);
    common::add_to_system_config(&config, r#""Packages": ["escape"],"#);
    let r = imgconv(&[
        "build",
        s(&config),
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--to",
        "raw,tar",
        "--output-dir",
        s(&out),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("../../../escaped"), "{err}");
    let left: Vec<_> = fs::read_dir(&out).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Files marked `%lang` are installed for the languages asked
/// (`%_install_langs`, the toolkit's OverrideRpmLocales) and recorded as
/// not installed otherwise, license files always installed: the same
/// files and the same file states as `rpm -i --define '_install_langs …'`.
#[test]
fn files_of_other_languages_are_left_out_as_rpm_leaves_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    let spec = dir.path().join("langs.spec");
    fs::write(
        &spec,
        "Name: langs\nVersion: 1\nRelease: 1\nSummary: files of languages\nLicense: MIT\n\
         BuildArch: noarch\n%description\nFiles of languages.\n%install\n\
         d=%{buildroot}/usr/share/langs\nmkdir -p $d\n\
         for f in plain de fr en en_US de_fr lic; do echo $f > $d/$f; done\n\
         %files\n/usr/share/langs/plain\n%lang(de) /usr/share/langs/de\n\
         %lang(fr) /usr/share/langs/fr\n%lang(en) /usr/share/langs/en\n\
         %lang(en_US) /usr/share/langs/en_US\n%lang(de,fr) /usr/share/langs/de_fr\n\
         %lang(fr) %license /usr/share/langs/lic\n",
    )
    .unwrap();
    common::rpmbuild_into(&repo, dir.path(), &spec, "langs-1-1.noarch.rpm");
    let rpm = repo.join("langs-1-1.noarch.rpm");
    let states = |root: &Path| {
        run_ok(
            "rpm",
            &[
                "--root",
                s(root),
                "--dbpath",
                "/var/lib/rpm",
                "-q",
                "--qf",
                "[%{FILESTATES:fstate} %{FILENAMES}\n]",
                "langs",
            ],
        )
    };
    let files = |root: &Path| {
        let mut names: Vec<String> = fs::read_dir(root.join("usr/share/langs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    for langs in ["de:en_GB", "NONE", "all"] {
        let archive = dir.path().join(format!("{langs}.tar"));
        let r = common::rootfs_unchecked(&repo, "langs", &archive, &["--install-langs", langs]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let ours = dir.path().join(format!("ours-{langs}"));
        fs::create_dir_all(&ours).unwrap();
        run_ok("tar", &["-xf", s(&archive), "-C", s(&ours)]);
        let theirs = dir.path().join(format!("theirs-{langs}"));
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
                "--define",
                &format!("_install_langs {langs}"),
                s(&rpm),
            ],
        );
        assert_eq!(files(&ours), files(&theirs), "{langs}");
        assert_eq!(states(&ours), states(&theirs), "{langs}");
    }
    // What each asked for, so the comparison above compares something.
    let de = files(&dir.path().join("ours-de:en_GB"));
    assert_eq!(de, ["de", "de_fr", "en", "lic", "plain"]);
    assert_eq!(files(&dir.path().join("ours-NONE")), ["lic", "plain"]);
}

#[test]
fn a_configuration_with_package_lists_builds_from_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    sample_repo(&repo);
    fs::write(
        dir.path().join("web.json"),
        r#"{"packages": ["webclient"]}"#,
    )
    .unwrap();
    let config = toolkit_config(dir.path(), "straight", "none", false, 65, "ext4", 200);
    common::add_to_system_config(
        &config,
        r#""PackageLists": ["web.json"], "DisableRpmDocs": true, "OverrideRpmLocales": "NONE","#,
    );
    let out = dir.path().join("out");
    let r = imgconv(&[
        "build",
        s(&config),
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--to",
        "raw,qcow2",
        "--output-dir",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let data = fs::read(out.join("straight.raw")).unwrap();
    let root = dir.path().join("root.img");
    fs::write(&root, &data[65 << 20..]).unwrap();
    let e2 = run("e2fsck", &["-fn", s(&root)]);
    assert!(
        e2.status.success(),
        "{}",
        String::from_utf8_lossy(&e2.stdout)
    );
    assert_eq!(
        run_ok("debugfs", &["-R", "cat /usr/lib64/libfoo.so.1", s(&root)]).as_bytes(),
        b"\x7fELF"
    );
    // %doc files are left out, as DisableRpmDocs asks.
    let doc = run(
        "debugfs",
        &["-R", "stat /usr/share/doc/app/README", s(&root)],
    );
    assert!(String::from_utf8_lossy(&doc.stderr).contains("File not found"));
    // The image keeps the settings for rpm's later installs, as the toolkit
    // writes them.
    let macros = "/usr/lib/rpm/macros.d/macros.installercustomizations";
    let docs = run_ok(
        "debugfs",
        &["-R", &format!("cat {macros}_disable_docs"), s(&root)],
    );
    assert!(docs.lines().any(|l| l == "%_excludedocs 1"), "{docs}");
    let langs = run_ok(
        "debugfs",
        &["-R", &format!("cat {macros}_customize_locales"), s(&root)],
    );
    assert!(
        langs.lines().any(|l| l == "%_install_langs NONE"),
        "{langs}"
    );
    // The rpm database is in the file system.
    let db = run(
        "debugfs",
        &["-R", "cat /var/lib/rpm/rpmdb.sqlite", s(&root)],
    );
    assert!(db.stdout.starts_with(b"SQLite format 3\0"));

    // A prepared rootfs with a configuration that installs packages: refused.
    let tar = dir.path().join("r.tar");
    testkit::rootfs::sample_tar(&tar);
    let r = imgconv(&[
        "build",
        s(&config),
        "--rootfs",
        s(&tar),
        "--to",
        "raw",
        "--output-dir",
        s(&out),
    ]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("give --repo"));
}

/// A GnuPG home of its own, its agent stopped when dropped.
struct GnupgHome(tempfile::TempDir);

impl GnupgHome {
    fn new() -> Self {
        // Short: the agent's socket path must fit in sun_path.
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .unwrap();
        GnupgHome(home)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .env("GNUPGHOME", self.path())
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program} ({e}): the tests need it"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new signing key for `name` (`rsa2048`, `ed25519`): its long key ID.
    fn generate(&self, name: &str, algo: &str) -> String {
        let uid = format!("{name} <{name}@example.test>");
        self.run(
            "gpg",
            &[
                "--batch",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--quick-gen-key",
                &uid,
                algo,
                "sign",
                "never",
            ],
        );
        let listing = self.run("gpg", &["--with-colons", "--list-keys", &uid]);
        let line = listing.lines().find(|l| l.starts_with("pub:")).unwrap();
        line.split(':').nth(4).unwrap().to_string()
    }

    /// The public key of `name`, armored or binary, written to `to`.
    fn export(&self, name: &str, armor: bool, to: &Path) {
        let mut args = vec!["--batch", "--output", s(to)];
        if armor {
            args.push("--armor");
        }
        args.extend(["--export", name]);
        self.run("gpg", &args);
    }

    /// Signs `rpm` in place with `name`'s key, as a distribution signs:
    /// the header, and with `v3` the header and payload too.
    fn sign(&self, name: &str, rpm: &Path, v3: bool) {
        // Debian's rpm looks for gpg2; GnuPG 2 is called gpg there.
        let gpg = std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join("gpg"))
            .find(|p| p.is_file())
            .expect("gpg is not on PATH: the tests need it");
        let gpg_def = format!("__gpg {}", gpg.display());
        let name_def = format!("_gpg_name {name}");
        let path_def = format!("_gpg_path {}", self.path().display());
        let mut args = vec![
            "--define",
            &gpg_def,
            "--define",
            &name_def,
            "--define",
            &path_def,
            "--addsign",
        ];
        if v3 {
            args.push("--rpmv3");
        }
        args.push(s(rpm));
        self.run("rpmsign", &args);
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// Where a package's header (after its 8-byte magic) is: lead, signature
/// header padded to 8 bytes, then the header's intro, index and data.
fn header_range(bytes: &[u8]) -> std::ops::Range<usize> {
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let sig = 96;
    let sig_end = sig + 16 + be(sig + 8) * 16 + be(sig + 12);
    let header = sig_end.div_ceil(8) * 8;
    header..header + 16 + be(header + 8) * 16 + be(header + 12)
}

/// The header digests rpm records of a header's bytes (with its magic):
/// SHA-256, SHA-1 and SHA3-256, in hexadecimal.
fn header_digests(header: &[u8]) -> Vec<String> {
    use sha2::Digest;
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    vec![
        hex(&sha2::Sha256::digest(header)),
        hex(&sha1::Sha1::digest(header)),
        hex(&sha3::Sha3_256::digest(header)),
    ]
}

/// Changes the summary in the package's header; with `fix_digests`, the
/// signature header's digests are made to match, so that only a
/// signature can tell.
fn alter_header(rpm: &Path, fix_digests: bool) {
    let mut bytes = fs::read(rpm).unwrap();
    let range = header_range(&bytes);
    let before = header_digests(&bytes[range.clone()]);
    let at = range.start
        + bytes[range.clone()]
            .windows(4)
            .position(|w| w == b"test")
            .unwrap();
    bytes[at..at + 4].copy_from_slice(b"TEST");
    if fix_digests {
        let after = header_digests(&bytes[range.clone()]);
        let mut fixed = 0;
        for (old, new) in before.iter().zip(&after) {
            if let Some(p) = bytes[..range.start]
                .windows(old.len())
                .position(|w| w == old.as_bytes())
            {
                bytes[p..p + new.len()].copy_from_slice(new.as_bytes());
                fixed += 1;
            }
        }
        assert!(fixed > 0, "no header digest found to fix");
    }
    fs::write(rpm, bytes).unwrap();
}

/// Packages signed as a distribution signs them (rpmsign with a GnuPG
/// key): rpm -K agrees, `--gpg-key` installs them, and a package unsigned,
/// signed by another key or with its signed header altered is refused by
/// name with nothing written; digests are checked even without keys.
#[test]
fn signed_packages_install_with_their_key_and_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let gnupg = GnupgHome::new();
    let vendor = gnupg.generate("vendor", "rsa2048");
    let other = gnupg.generate("other", "ed25519");
    let vendor_key = dir.path().join("RPM-GPG-KEY-vendor");
    let other_key = dir.path().join("other.gpg");
    gnupg.export("vendor", true, &vendor_key);
    gnupg.export("other", false, &other_key);

    let repo = dir.path().join("repo");
    let paths = sample_repo(&repo);
    for (name, rpm) in &paths {
        gnupg.sign("vendor", rpm, name == "app");
    }
    testkit::rpms::createrepo(&repo);
    let libfoo = paths.iter().find(|(n, _)| n == "libfoo").unwrap().1.clone();
    let signed_libfoo = fs::read(&libfoo).unwrap();

    // rpm itself agrees the signatures are good.
    let db = dir.path().join("rpmdb");
    fs::create_dir(&db).unwrap();
    run_ok("rpm", &["--dbpath", s(&db), "--import", s(&vendor_key)]);
    let checked = run_ok("rpm", &["--dbpath", s(&db), "-Kv", s(&libfoo)]);
    eprintln!("rpm -Kv {}:\n{checked}", libfoo.display());
    let brief = run_ok("rpm", &["--dbpath", s(&db), "-K", s(&libfoo)]);
    eprintln!("rpm -K: {brief}");
    assert!(brief.contains("digests signatures OK"), "{brief}");
    assert!(
        checked.contains(&format!("key ID {}: OK", &vendor.to_lowercase()[8..])),
        "{checked}"
    );

    // app carries a header-and-payload signature beside the header's.
    let app = &paths.iter().find(|(n, _)| n == "app").unwrap().1;
    let checked = run_ok("rpm", &["--dbpath", s(&db), "-Kv", s(app)]);
    assert_eq!(checked.matches("Signature, key ID").count(), 2, "{checked}");

    let out = dir.path().join("rootfs.tar");
    let install = |extra: &[&str]| {
        let mut args = vec!["rootfs", "--repo", s(&repo), "--install", "webclient"];
        args.extend_from_slice(extra);
        args.extend(["-o", s(&out)]);
        imgconv(&args)
    };
    let refused = |r: std::process::Output, want: &[&str]| {
        let err = String::from_utf8_lossy(&r.stderr).into_owned();
        assert_eq!(r.status.code(), Some(1), "{err}");
        assert!(err.contains("libfoo-1.2.3-2"), "{err}");
        for w in want {
            assert!(err.contains(w), "{w:?} not in: {err}");
        }
        assert!(!out.exists(), "{err}");
        eprintln!("refused: {err}");
        err
    };

    let r = install(&["--gpg-key", s(&vendor_key)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(run_ok("tar", &["-tf", s(&out)]).contains("usr/lib64/libfoo.so.1"));
    fs::remove_file(&out).unwrap();

    // Neither keys nor --no-gpg-check: stopped before unpacking.
    let err = refused(install(&[]), &["--gpg-key", "--no-gpg-check"]);
    assert!(err.contains(&format!("key ID {vendor}")), "{err}");

    // imgconv build --repo checks them as imgconv rootfs does.
    let config = toolkit_config(dir.path(), "signed", "none", false, 65, "ext4", 200);
    let text = fs::read_to_string(&config).unwrap().replace(
        r#""Name": "Standard","#,
        r#""Name": "Standard", "Packages": ["webclient"],"#,
    );
    fs::write(&config, text).unwrap();
    let built = dir.path().join("built");
    let build = |extra: &[&str]| {
        let mut args = vec!["build", s(&config), "--repo", s(&repo), "--to", "tar.gz"];
        args.extend_from_slice(extra);
        args.extend(["--output-dir", s(&built)]);
        imgconv(&args)
    };
    let r = build(&[]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--gpg-key") && err.contains("libfoo-1.2.3-2"),
        "{err}"
    );
    assert!(!built.exists() || fs::read_dir(&built).unwrap().next().is_none());
    let r = build(&["--gpg-key", s(&vendor_key)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(built.join("signed.tar.gz").exists());

    // Unsigned.
    let unsigned = testkit::rpms::build_rpm(
        dir.path(),
        testkit::rpms::sample_specs()
            .iter()
            .find(|p| p.name == "libfoo")
            .unwrap(),
    );
    fs::copy(&unsigned, &libfoo).unwrap();
    testkit::rpms::createrepo(&repo);
    refused(install(&["--gpg-key", s(&vendor_key)]), &["not signed"]);
    // ... which --no-gpg-check installs.
    let r = install(&["--no-gpg-check"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    fs::remove_file(&out).unwrap();

    // Signed by a key not given; an EdDSA key, given in binary, trusts it.
    gnupg.sign("other", &libfoo, false);
    testkit::rpms::createrepo(&repo);
    refused(
        install(&["--gpg-key", s(&vendor_key)]),
        &[&format!("key ID {other}"), "not among the trusted keys"],
    );
    let r = install(&["--gpg-key", s(&vendor_key), "--gpg-key", s(&other_key)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    fs::remove_file(&out).unwrap();

    // A signed header altered, its digests made to match.
    fs::write(&libfoo, &signed_libfoo).unwrap();
    alter_header(&libfoo, true);
    testkit::rpms::createrepo(&repo);
    let rpm_k = run("rpm", &["--dbpath", s(&db), "-K", s(&libfoo)]);
    assert!(!rpm_k.status.success());
    refused(
        install(&["--gpg-key", s(&vendor_key)]),
        &["bad signature", &format!("key ID {vendor}")],
    );

    // Digests are checked with the signature check off: the header
    // altered, and the payload.
    fs::write(&libfoo, &signed_libfoo).unwrap();
    alter_header(&libfoo, false);
    testkit::rpms::createrepo(&repo);
    refused(install(&["--no-gpg-check"]), &["header SHA-256 digest"]);
    let mut bytes = signed_libfoo.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&libfoo, bytes).unwrap();
    testkit::rpms::createrepo(&repo);
    refused(install(&["--no-gpg-check"]), &["payload SHA-256 digest"]);
}

#[test]
fn the_same_packages_give_the_same_bytes_whatever_order_they_are_read_in() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    sample_repo(&repo);
    // The same packages as a plain directory, under other names: read in
    // another order, without repodata.
    let plain = dir.path().join("plain");
    fs::create_dir(&plain).unwrap();
    let mut rpms: Vec<_> = fs::read_dir(&repo)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rpm"))
        .collect();
    rpms.sort();
    assert!(rpms.len() > 5, "{rpms:?}");
    for (i, rpm) in rpms.iter().rev().enumerate() {
        fs::copy(
            rpm,
            plain.join(format!(
                "{i:02}-{}",
                rpm.file_name().unwrap().to_string_lossy()
            )),
        )
        .unwrap();
    }
    let make = |repo: &Path, out: &Path, one_core: bool| {
        let mut c = if one_core {
            let mut c = std::process::Command::new("taskset");
            c.args(["-c", "0", env!("CARGO_BIN_EXE_imgconv")]);
            c
        } else {
            command()
        };
        let r = c
            .args(["rootfs", "--repo", s(repo), "--no-gpg-check"])
            .args(["--install", "webclient", "-o", s(out)])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        fs::read(out).unwrap()
    };
    let first = make(&repo, &dir.path().join("a.tar"), false);
    let second = make(&plain, &dir.path().join("b.tar"), true);
    assert!(
        first == second,
        "the rootfs differs between a repodata repository on every core and a plain \
         directory on one"
    );
    let listing = run_ok("tar", &["-tf", s(&dir.path().join("a.tar"))]);
    assert!(listing.contains("var/lib/rpm/rpmdb.sqlite"), "{listing}");
}
