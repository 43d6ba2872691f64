//! Repositories built with the `rpm` crate and indexed by `createrepo_c`,
//! read from repodata and from the package headers, checked against the
//! real `rpm` tool; corrupted metadata refused by name.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use pkgstage::{Comparison, ErrorKind, FileKind, Mismatch, Package, Repository};
use sha2::Digest;
use testkit::rpms::{build_rpm, createrepo, createrepo_with, rpm_query};

/// Builds the test packages into `dir`; returns their paths.
fn build_all(dir: &Path) -> Vec<PathBuf> {
    testkit::rpms::sample_specs()
        .iter()
        .map(|s| build_rpm(dir, s))
        .collect()
}

fn find<'a>(repo: &'a Repository, name: &str) -> &'a Package {
    repo.packages.iter().find(|p| p.name == name).unwrap()
}

fn sorted(mut packages: Vec<Package>) -> Vec<Package> {
    packages.sort_by(|a, b| a.location.cmp(&b.location));
    packages
}

#[test]
fn repodata_and_headers_give_the_same_packages() {
    let dir = tempfile::tempdir().unwrap();
    build_all(dir.path());
    // Read before createrepo_c: a plain directory.
    let plain = Repository::open(dir.path()).unwrap();
    createrepo(dir.path());
    let md = Repository::open(dir.path()).unwrap();
    assert!(dir.path().join("repodata/repomd.xml").exists());
    assert!(md.files_complete && plain.files_complete);
    assert_eq!(md.packages.len(), 6);
    assert_eq!(sorted(md.packages.clone()), sorted(plain.packages.clone()));
    // Reading the plain directory beside repodata/ gives the same too.
    assert_eq!(
        sorted(Repository::from_rpm_dir(dir.path()).unwrap().packages),
        sorted(plain.packages)
    );

    let app = find(&md, "app");
    assert_eq!(app.nevra(), "app-2.0-1.x86_64");
    assert_eq!(app.location, "app-2.0-1.x86_64.rpm");
    let req: Vec<String> = app.requires.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        req,
        ["libfoo >= 1:1.2", "libfoo.so.1()(64bit)", "/etc/os-release"],
        "rpmlib() and self-satisfied requirements are left out"
    );
    let (op, evr) = app.requires[0].constraint.clone().unwrap();
    assert_eq!((op, evr.epoch, evr.release), (Comparison::Ge, 1, None));
    assert!(app
        .provides
        .iter()
        .any(|d| d.to_string() == "webserver = 2.0"));
    assert_eq!(app.obsoletes[0].to_string(), "oldapp < 2.0");
    assert_eq!(app.conflicts[0].to_string(), "badapp");
    assert!(app.recommends.iter().any(|d| d.name == "app-doc"));
    let lib = find(&md, "libfoo");
    assert_eq!(
        (lib.epoch, lib.nevra().as_str()),
        (1, "libfoo-1:1.2.3-2.x86_64")
    );
    assert_eq!(
        lib.requires
            .iter()
            .map(|d| (d.name.as_str(), d.pre))
            .collect::<Vec<_>>(),
        [("/bin/sh", true), ("base", false)]
    );
    let base = find(&md, "base");
    let kinds: Vec<(&str, FileKind)> = base
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.kind))
        .collect();
    for expected in [
        ("/etc", FileKind::Dir),
        ("/usr/bin", FileKind::Dir),
        ("/bin", FileKind::File),
        ("/etc/os-release", FileKind::File),
    ] {
        assert!(kinds.contains(&expected), "{expected:?} in {kinds:?}");
    }
    let doc = find(&md, "app-doc");
    let (op, evr) = doc.requires[0].constraint.clone().unwrap();
    assert_eq!((op, evr.to_string()), (Comparison::Eq, "2.0-1".into()));
    for p in &md.packages {
        assert_eq!(
            md.package_path(p).unwrap().file_name().unwrap(),
            p.location.as_str()
        );
    }
}

/// What `rpm -qp` says and what the headers and repodata give agree.
#[test]
fn rpm_tool_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let paths = build_all(dir.path());
    createrepo(dir.path());
    let md = Repository::from_repodata(dir.path()).unwrap();
    for path in paths {
        let name = path.file_name().unwrap().to_str().unwrap();
        let p = md.packages.iter().find(|p| p.location == name).unwrap();
        let nevra = rpm_query(
            &path,
            &["--qf", "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}"],
        );
        assert_eq!(
            nevra,
            [format!(
                "{}-{}:{}-{}.{}",
                p.name, p.epoch, p.version, p.release, p.arch
            )]
        );

        let provides: BTreeSet<String> = rpm_query(&path, &["--provides"]).into_iter().collect();
        let ours: BTreeSet<String> = p.provides.iter().map(|d| d.to_string()).collect();
        assert_eq!(ours, provides, "{name}: provides");

        let files: Vec<String> = rpm_query(&path, &["-l"]);
        let mut ours: Vec<String> = p.files.iter().map(|f| f.path.clone()).collect();
        ours.sort();
        assert_eq!(ours, files, "{name}: files");

        // Every requirement read is rpm's, with its pre marker; what rpm
        // lists beyond them is what createrepo_c leaves out.
        let rpm_requires = rpm_query(
            &path,
            &[
                "--qf",
                "[%{REQUIRENAME} %{REQUIREFLAGS:deptype}|%{REQUIRENEVRS}\n]",
            ],
        );
        let mut rpm_kept = Vec::new();
        for line in &rpm_requires {
            let (head, nevr) = line.split_once('|').unwrap();
            let (dep_name, deptype) = head.rsplit_once(' ').unwrap();
            let own_file = p.files.iter().any(|f| f.path == dep_name);
            if dep_name.starts_with("rpmlib(") || own_file {
                continue;
            }
            rpm_kept.push((nevr.to_string(), deptype == "pre"));
        }
        let ours: Vec<(String, bool)> = p.requires.iter().map(|d| (d.to_string(), d.pre)).collect();
        assert_eq!(ours, rpm_kept, "{name}: requires");

        for (query, list) in [("--obsoletes", &p.obsoletes), ("--conflicts", &p.conflicts)] {
            let ours: Vec<String> = list.iter().map(|d| d.to_string()).collect();
            assert_eq!(ours, rpm_query(&path, &[query]), "{name}: {query}");
        }
        let rec = rpm_query(&path, &["--recommends"]);
        let ours: Vec<String> = p.recommends.iter().map(|d| d.to_string()).collect();
        assert_eq!(ours, rec, "{name}: recommends");
    }
}

#[test]
fn every_compression_and_checksum_createrepo_writes() {
    let dir = tempfile::tempdir().unwrap();
    build_all(dir.path());
    let plain = sorted(Repository::from_rpm_dir(dir.path()).unwrap().packages);
    // createrepo_c 0.17 (Debian 12) writes no zstd; see zstd_metadata_reads.
    for options in [
        &["--general-compress-type=xz"][..],
        &["--general-compress-type=gz", "--checksum=sha512"],
        &["--general-compress-type=xz", "--checksum=sha1"],
    ] {
        createrepo_with(dir.path(), options);
        let md = sorted(Repository::from_repodata(dir.path()).unwrap().packages);
        let repomd = fs::read_to_string(dir.path().join("repodata/repomd.xml")).unwrap();
        let ext = options[0].rsplit('=').next().unwrap();
        assert!(
            repomd.contains(&format!("primary.xml.{ext}")),
            "{options:?}"
        );
        assert_eq!(md.len(), plain.len());
        for (a, b) in md.iter().zip(&plain) {
            let mut a = a.clone();
            if let Some(sum) = options.get(1) {
                assert_eq!(format!("--checksum={}", a.checksum.algorithm.name()), *sum);
                assert_eq!(
                    a.checksum.hex,
                    hex(&file_digest(&dir.path().join(&a.location), sum))
                );
                a.checksum = b.checksum.clone();
            }
            assert_eq!(&a, b, "{options:?}");
        }
    }
}

#[test]
fn zstd_metadata_reads_and_bzip2_is_refused() {
    let primary = primary_with(&good_body("a.rpm"), "1");
    let zst = zstd::encode_all(&primary[..], 3).unwrap();
    let dir = handmade_repo(&[("primary", "primary.xml.zst", zst)]);
    assert_eq!(
        Repository::open(dir.path()).unwrap().packages[0].name,
        "a&b"
    );

    let dir = tempfile::tempdir().unwrap();
    build_all(dir.path());
    createrepo_with(dir.path(), &["--general-compress-type=bz2"]);
    let text = error_text(dir.path());
    assert!(
        text.contains("primary.xml.bz2") && text.contains("bzip2"),
        "{text}"
    );
}

fn file_digest(path: &Path, sum: &str) -> Vec<u8> {
    let data = fs::read(path).unwrap();
    match sum {
        "--checksum=sha512" => sha2::Sha512::digest(&data).to_vec(),
        _ => sha1::Sha1::digest(&data).to_vec(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A repository whose repodata is written by hand: `files` are
/// (type, file name under repodata/, contents); repomd.xml records each
/// one's SHA-256 and size.
fn handmade_repo(files: &[(&str, &str, Vec<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("repodata")).unwrap();
    let mut repomd = String::from(
        "<?xml version=\"1.0\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\">\n",
    );
    for (kind, name, data) in files {
        fs::write(dir.path().join("repodata").join(name), data).unwrap();
        repomd += &format!(
            "<data type=\"{kind}\"><checksum type=\"sha256\">{}</checksum><location href=\"repodata/{name}\"/><size>{}</size></data>\n",
            hex(&sha2::Sha256::digest(data)),
            data.len()
        );
    }
    repomd += "</repomd>\n";
    fs::write(dir.path().join("repodata/repomd.xml"), repomd).unwrap();
    dir
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const SUM: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn primary_with(package_body: &str, count: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="{count}">
<package type="rpm">{package_body}</package>
</metadata>"#
    )
    .into_bytes()
}

fn good_body(href: &str) -> String {
    format!(
        r#"<name>a&amp;b</name><arch>noarch</arch><version epoch="0" ver="1" rel="1"/>
<checksum type="sha256" pkgid="YES">{SUM}</checksum><location href="{href}"/>
<format><rpm:requires><rpm:entry name="x" flags="GE" epoch="2" ver="1.0"/></rpm:requires><file>/etc/a&lt;b</file></format>"#
    )
}

#[test]
fn handmade_metadata_reads() {
    let dir = handmade_repo(&[(
        "primary",
        "primary.xml.gz",
        gzip(&primary_with(&good_body("sub/a.rpm"), "1")),
    )]);
    let repo = Repository::open(dir.path()).unwrap();
    assert!(!repo.files_complete);
    let p = &repo.packages[0];
    assert_eq!(p.name, "a&b");
    assert_eq!(p.files[0].path, "/etc/a<b");
    assert_eq!(p.requires[0].to_string(), "x >= 2:1.0");
}

fn error_text(dir: &Path) -> String {
    let e = Repository::open(dir).unwrap_err();
    e.to_string()
}

#[test]
fn wrong_checksum_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    build_all(dir.path());
    createrepo(dir.path());
    let primary = dir.path().join("repodata/primary.xml.gz");
    let mut data = fs::read(&primary).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0x40;
    fs::write(&primary, data).unwrap();
    let e = Repository::open(dir.path()).unwrap_err();
    assert!(e.detail::<Mismatch>().is_some(), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("primary.xml.gz") && text.contains("sha256"),
        "{text}"
    );
}

#[test]
fn truncated_gzip_is_refused_by_name() {
    let mut data = gzip(&primary_with(&good_body("a.rpm"), "1"));
    data.truncate(data.len() - 20);
    let dir = handmade_repo(&[("primary", "primary.xml.gz", data)]);
    let text = error_text(dir.path());
    assert!(
        text.contains("primary.xml.gz") && text.contains("decompress"),
        "{text}"
    );
}

#[test]
fn hrefs_leaving_the_repository_are_refused() {
    for href in [
        "../evil.rpm",
        "a/../../evil.rpm",
        "/etc/evil.rpm",
        "http://example.com/x.rpm",
    ] {
        let dir = handmade_repo(&[(
            "primary",
            "primary.xml",
            primary_with(&good_body(href), "1"),
        )]);
        let text = error_text(dir.path());
        assert!(
            text.contains("primary.xml")
                && text.contains("/metadata/package[1]/location")
                && text.contains(href),
            "{text}"
        );
    }
    // And in repomd.xml itself.
    let dir = handmade_repo(&[(
        "primary",
        "primary.xml",
        primary_with(&good_body("a.rpm"), "1"),
    )]);
    let repomd = dir.path().join("repodata/repomd.xml");
    let text = fs::read_to_string(&repomd)
        .unwrap()
        .replace("repodata/primary.xml", "../primary.xml");
    fs::write(&repomd, text).unwrap();
    let text = error_text(dir.path());
    assert!(
        text.contains("repomd.xml") && text.contains("location") && text.contains(".."),
        "{text}"
    );
}

#[test]
fn malformed_metadata_is_refused_by_element() {
    let cases: &[(&str, &str, &str)] = &[
        ("<name>a</nam>", "1", "malformed XML"),
        (
            &good_body("a.rpm").replace("flags=\"GE\"", "flags=\"XX\""),
            "1",
            "/metadata/package[1]/format/rpm:requires/rpm:entry",
        ),
        (
            &good_body("a.rpm").replace("epoch=\"2\"", "epoch=\"99999999999\""),
            "1",
            "epoch",
        ),
        (
            &good_body("a.rpm").replace(SUM, "abc"),
            "1",
            "/metadata/package[1]/checksum",
        ),
        (
            &good_body("a.rpm").replace("<arch>noarch</arch>", ""),
            "1",
            "no <arch>",
        ),
        (
            &good_body("a.rpm"),
            "18446744073709551615",
            "declares 18446744073709551615 packages but has 1",
        ),
        (
            &good_body("a.rpm"),
            "99999999999999999999999",
            "is not a number",
        ),
        (
            &good_body("a.rpm").replace("</name>", "</name><name>b</name>"),
            "1",
            "given twice",
        ),
        (
            &good_body("a.rpm").replace("/etc/a&lt;b", "/etc/&bogus;"),
            "1",
            "unknown entity",
        ),
    ];
    for (body, count, expected) in cases {
        let dir = handmade_repo(&[("primary", "primary.xml", primary_with(body, count))]);
        let text = error_text(dir.path());
        assert!(
            text.contains("primary.xml") && text.contains(expected),
            "{expected}: {text}"
        );
    }
    // Text longer than any path is refused, not buffered.
    let long = "x".repeat(100_000);
    let dir = handmade_repo(&[(
        "primary",
        "primary.xml",
        primary_with(
            &good_body("a.rpm").replace("<name>a&amp;b", &format!("<name>{long}")),
            "1",
        ),
    )]);
    assert!(error_text(dir.path()).contains("longer than"));
}

#[test]
fn missing_files_are_named() {
    let dir = handmade_repo(&[(
        "primary",
        "primary.xml",
        primary_with(&good_body("a.rpm"), "1"),
    )]);
    fs::remove_file(dir.path().join("repodata/primary.xml")).unwrap();
    let e = Repository::open(dir.path()).unwrap_err();
    assert!(
        e.kind() == ErrorKind::Io && e.to_string().contains("repodata/primary.xml"),
        "{e}"
    );
    let dir = handmade_repo(&[("other", "other.xml", b"<otherdata/>".to_vec())]);
    assert!(error_text(dir.path()).contains("no <data type=\"primary\">"));
    let e = Repository::open(dir.path().join("nothing")).unwrap_err();
    assert!(e.to_string().contains("nothing"), "{e}");
}

#[test]
fn filelists_must_match_primary() {
    let primary = primary_with(&good_body("a.rpm"), "1");
    let filelists = |id: &str| {
        format!(r#"<filelists packages="1"><package pkgid="{id}" name="a&amp;b" arch="noarch"><version epoch="0" ver="1" rel="1"/><file type="dir">/etc</file><file>/etc/a&lt;b</file></package></filelists>"#).into_bytes()
    };
    let dir = handmade_repo(&[
        ("primary", "primary.xml", primary.clone()),
        ("filelists", "filelists.xml", filelists(SUM)),
    ]);
    let repo = Repository::open(dir.path()).unwrap();
    assert!(repo.files_complete);
    assert_eq!(repo.packages[0].files.len(), 2);
    assert_eq!(repo.packages[0].files[0].kind, FileKind::Dir);
    let other = SUM.replace("00", "ff");
    let dir = handmade_repo(&[
        ("primary", "primary.xml", primary),
        ("filelists", "filelists.xml", filelists(&other)),
    ]);
    let text = error_text(dir.path());
    assert!(
        text.contains("filelists.xml") && text.contains(&other),
        "{text}"
    );
}

/// Packages whose headers lie about their sizes are refused before any
/// allocation they ask for.
#[test]
fn bad_package_headers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = build_rpm(dir.path(), &testkit::rpms::sample_specs()[0]);
    let good = fs::read(&path).unwrap();
    let sig_il = 96 + 8;
    // Signature header length, padded; the main header follows.
    let be = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let sig_len = 16 + be(&good, 96 + 8) * 16 + be(&good, 96 + 12);
    let hdr = 96 + sig_len.next_multiple_of(8);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (good[..50].to_vec(), "truncated"),
        (b"not a package at all, not at all, really not, ......................................................".to_vec(), "lead magic"),
        (patch(&good, sig_il, 0xffff_ffff), "index entries"),
        (patch(&good, hdr + 12, 0x0fff_0000), "past the end"),
        (patch(&good, hdr + 16 + 8, 0x7fff_ffff), "data offset"),
        (patch(&good, hdr + 16 + 12, 0x7fff_ffff), "go past"),
        (patch(&good, hdr + 16 + 4, 77), "unknown data type"),
    ];
    for (bytes, expected) in cases {
        fs::write(&path, &bytes).unwrap();
        let text = error_text(dir.path());
        assert!(
            text.contains("base-1.0-1.noarch.rpm") && text.contains(expected),
            "{expected}: {text}"
        );
    }
}

fn patch(bytes: &[u8], at: usize, value: u32) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at..at + 4].copy_from_slice(&value.to_be_bytes());
    b
}
