//! The rpm database the install writes, read by the real rpm: a rootfs
//! archive extracted as root, then `rpm --root` queries and verifies it;
//! and the database compared, header by header and index row by index
//! row, with the one rpm writes installing the same packages.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use pkgstage::install::{install, InstallOptions};
use pkgstage::resolve::{resolve, Request, Resolution, Source};
use pkgstage::signature::GpgCheck;
use pkgstage::Repository;
use rootfs::TarWriter;
use testkit::rpms::{build_rpm, createrepo, sample_repo, PackageSpec};
use testkit::run_ok;

const DB: &str = "var/lib/rpm/rpmdb.sqlite";
const TIME: i64 = 1_700_000_000;

/// The sample repository with one more package: a `%ghost` log, a doc,
/// a rich requirement, a requirement of its `%post` alone.
fn repo(dir: &Path) -> Repository {
    sample_repo(dir);
    let extra = PackageSpec::new("logger", "3.1", "4")
        .dir("/var", 0o755)
        .dir("/var/log", 0o755)
        .ghost("/var/log/logger.log", 0o640)
        .file("/usr/bin/logger", 0o755, "#!/bin/sh\n")
        .file("/usr/share/doc/logger/NEWS", 0o644, "news\n")
        .requires("(app or webclient)")
        .requires("(libfoo if app)")
        .requires_pre("/bin/sh")
        .provides("syslog = 3")
        .post("true\n");
    build_rpm(dir, &extra);
    createrepo(dir);
    Repository::open(dir).unwrap()
}

fn plan(repo: &Repository) -> Resolution {
    let sources = [Source { repo, priority: 99 }];
    resolve(&sources, &Request::new(["webclient", "logger"])).unwrap()
}

/// Installs `plan` into a tar archive at `archive`; returns the
/// database's bytes as the archive holds them.
fn install_tar(
    repo: &Repository,
    plan: &Resolution,
    options: &InstallOptions,
    archive: &Path,
) -> Vec<u8> {
    let sources = [Source { repo, priority: 99 }];
    let mut tar = TarWriter::new(fs::File::create(archive).unwrap());
    let mut db = Vec::new();
    install(&sources, plan, options, &mut |entry, data| {
        if entry.path == DB {
            let mut bytes = Vec::new();
            data.read_to_end(&mut bytes).unwrap();
            db = bytes.clone();
            return tar
                .append(&entry.path, entry, &mut bytes.as_slice())
                .map_err(|e| pkgstage::Error::file("rootfs.tar", e));
        }
        tar.append(&entry.path, entry, data)
            .map_err(|e| pkgstage::Error::file("rootfs.tar", e))
    })
    .unwrap();
    tar.finish().unwrap();
    db
}

fn extract(archive: &Path, dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    run_ok(
        "tar",
        &[
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "-xpf",
            archive.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
        ],
    );
}

/// `rpm --root ROOT --dbpath /var/lib/rpm ARGS`: its exit status,
/// standard output and standard error. (Debian's rpm keeps its own
/// database elsewhere; the tree's is where Azure Linux's rpm has it.)
fn rpm(root: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("rpm")
        .arg("--root")
        .arg(root)
        .args(["--dbpath", "/var/lib/rpm"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run rpm ({e}): the tests need it (apt-get install rpm)")
        });
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn rpm_ok(root: &Path, args: &[&str]) -> Vec<String> {
    let (ok, out, err) = rpm(root, args);
    assert!(ok, "rpm {args:?} failed:\n{out}{err}");
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn rpm_queries_and_verifies_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(&dir.path().join("repo"));
    let plan = plan(&repo);
    let archive = dir.path().join("rootfs.tar");
    let options = InstallOptions {
        exclude_docs: true,
        time: TIME,
        work_dir: Some(dir.path().to_path_buf()),
        gpg_check: GpgCheck::Off,
        ..InstallOptions::default()
    };
    install_tar(&repo, &plan, &options, &archive);
    let root = dir.path().join("root");
    extract(&archive, &root);

    // Exactly the installed set (the test packages record epoch 0, which
    // rpm's %{NEVRA} spells out and the plan's names leave out).
    let mut want: Vec<String> = plan.packages.iter().map(|c| c.nevra.clone()).collect();
    want.sort();
    let got: Vec<String> = rpm_ok(&root, &["-qa", "--qf", "%{NEVRA}\n"])
        .iter()
        .map(|n| n.replace("-0:", "-"))
        .collect();
    assert_eq!(got, want);
    assert!(want.iter().any(|n| n.starts_with("app-doc-")), "{want:?}");

    // Every file as the headers say: the excluded docs and the ghost,
    // absent, are not reported. (Dependencies are not checked: the test
    // packages' own provides carry no epoch, a quirk of their builder.)
    let (ok, out, err) = rpm(&root, &["-Va", "--nodeps"]);
    assert!(
        ok && out.is_empty() && err.is_empty(),
        "rpm -Va:\n{out}{err}"
    );
    assert!(!root.join("usr/share/doc/app/README").exists());
    assert!(!root.join("var/log/logger.log").exists());
    let (_, out, _) = rpm(&root, &["-Vv", "--nodeps", "logger"]);
    assert!(out.contains("/var/log/logger.log"), "{out}");

    // The indexes.
    assert_eq!(
        rpm_ok(&root, &["-qf", "/usr/bin/app"]),
        ["app-2.0-1.x86_64"]
    );
    assert_eq!(
        rpm_ok(&root, &["-qf", "/var/log/logger.log"]),
        ["logger-3.1-4.x86_64"]
    );
    assert_eq!(
        rpm_ok(&root, &["-q", "--whatprovides", "webserver"]),
        ["app-2.0-1.x86_64"]
    );
    assert_eq!(
        rpm_ok(&root, &["-q", "--whatprovides", "libfoo.so.1()(64bit)"]),
        ["libfoo-1.2.3-2.x86_64"]
    );
    assert_eq!(
        rpm_ok(&root, &["-q", "--whatrequires", "webserver"]),
        ["webclient-1.0-1.noarch"]
    );
    // A name inside a rich requirement.
    assert_eq!(
        rpm_ok(&root, &["-q", "--whatrequires", "webclient"]),
        ["logger-3.1-4.x86_64"]
    );
    assert_eq!(
        rpm_ok(&root, &["-q", "--whatrecommends", "app-doc"]),
        ["app-2.0-1.x86_64"]
    );
    assert_eq!(
        rpm_ok(&root, &["-q", "--whatobsoletes", "oldapp"]),
        ["app-2.0-1.x86_64"]
    );
    assert_eq!(
        rpm_ok(
            &root,
            &["-q", "--qf", "%{INSTALLTIME} %{INSTALLTID}\n", "base"]
        ),
        [format!("{TIME} {TIME}")]
    );
    assert_eq!(
        rpm_ok(&root, &["-q", "-g", "Unspecified"]).len(),
        plan.packages.len()
    );
    // The database passes rpm's own check.
    rpm_ok(&root, &["--verifydb"]);
}

#[test]
fn the_same_install_gives_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(&dir.path().join("repo"));
    let plan = plan(&repo);
    let options = InstallOptions {
        time: TIME,
        gpg_check: GpgCheck::Off,
        ..InstallOptions::default()
    };
    let a = install_tar(&repo, &plan, &options, &dir.path().join("a.tar"));
    let b = install_tar(&repo, &plan, &options, &dir.path().join("b.tar"));
    assert!(a.len() > 4096 && a.starts_with(b"SQLite format 3\0"));
    assert!(a == b, "two installs wrote different databases");
    let later = InstallOptions {
        time: TIME + 1,
        gpg_check: GpgCheck::Off,
        ..InstallOptions::default()
    };
    let c = install_tar(&repo, &plan, &later, &dir.path().join("c.tar"));
    assert!(a != c, "the install time is not in the database");
    // Left out when asked.
    let none = InstallOptions {
        no_rpmdb: true,
        gpg_check: GpgCheck::Off,
        ..InstallOptions::default()
    };
    assert!(install_tar(&repo, &plan, &none, &dir.path().join("d.tar")).is_empty());
}

/// Every row of every table, in order, with the headers' install times
/// (INSTALLTIME, INSTALLTID) and the Installtid keys blanked.
fn dump(db: &Path) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut out = Vec::new();
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables.sort();
    for t in tables {
        if t == "Packages" {
            let mut s = conn
                .prepare("SELECT hnum, blob FROM Packages ORDER BY hnum")
                .unwrap();
            let rows = s
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .unwrap();
            for row in rows {
                let (hnum, mut blob) = row.unwrap();
                blank_install_times(&mut blob);
                out.push(format!("Packages {hnum} {}", hex(&blob)));
            }
            continue;
        }
        let mut s = conn
            .prepare(&format!("SELECT key, hnum, idx FROM '{t}' ORDER BY rowid"))
            .unwrap();
        let rows = s
            .query_map([], |r| {
                let key = match r.get_ref(0)? {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(_) if t == "Installtid" => "(time)".into(),
                    rusqlite::types::ValueRef::Blob(b) => hex(b),
                    other => format!("{other:?}"),
                };
                Ok(format!(
                    "{t} {key:?} {} {}",
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?
                ))
            })
            .unwrap();
        for row in rows {
            out.push(row.unwrap());
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Zeroes the values of INSTALLTIME (1008) and INSTALLTID (1128).
fn blank_install_times(blob: &mut [u8]) {
    let be = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let il = be(blob, 0);
    let store = 8 + il * 16;
    for i in 0..il {
        let e = 8 + i * 16;
        if matches!(be(blob, e), 1008 | 1128) {
            let at = store + be(blob, e + 8);
            blob[at..at + 4].fill(0);
        }
    }
}

#[test]
fn the_database_rpm_writes_for_the_same_packages() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("repo");
    let repo = repo(&repo_dir);
    let plan = plan(&repo);
    for exclude_docs in [false, true] {
        let archive = dir.path().join(format!("rootfs-{exclude_docs}.tar"));
        let options = InstallOptions {
            exclude_docs,
            time: TIME,
            gpg_check: GpgCheck::Off,
            ..InstallOptions::default()
        };
        let ours = dir.path().join(format!("ours-{exclude_docs}.sqlite"));
        fs::write(&ours, install_tar(&repo, &plan, &options, &archive)).unwrap();

        let theirs = dir.path().join(format!("theirs-{exclude_docs}"));
        fs::create_dir_all(&theirs).unwrap();
        let mut args: Vec<String> = [
            "-i",
            "--nodeps",
            "--noscripts",
            "--nosignature",
            "--noorder",
            "--ignorearch",
        ]
        .map(String::from)
        .to_vec();
        if exclude_docs {
            args.push("--excludedocs".into());
        }
        for c in &plan.packages {
            let p: PathBuf = repo.package_path(&repo.packages[c.index]).unwrap();
            args.push(p.display().to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rpm_ok(&theirs, &args);
        let (a, b) = (dump(&ours), dump(&theirs.join(DB)));
        let differences: Vec<String> = b
            .iter()
            .zip(&a)
            .filter(|(b, a)| a != b)
            .map(|(b, a)| format!("rpm:  {b}\nours: {a}"))
            .collect();
        assert!(
            differences.is_empty() && a.len() == b.len(),
            "excludedocs {exclude_docs}: {} rows ours, {} rpm's\n{}",
            a.len(),
            b.len(),
            differences.join("\n")
        );
    }
}
