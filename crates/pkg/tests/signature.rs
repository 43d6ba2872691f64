//! Package signatures checked as rpm checks them, on rpm's own test
//! packages and keys (tests/data/rpm, see its README) and on packages
//! signed here with gpg and rpmsign; rpmkeys, run in the same test, is
//! the judge wherever the rpm installed (4.18) has an opinion.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use pkgstage::signature::{verify_package, GpgCheck, Keyring, PackageCheck, Trust};
use testkit::run;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/rpm")
        .join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// rpmkeys' verdict on `pkg` with `keys` imported into a fresh root:
/// whether `rpmkeys -K` passes, and what `-Kv` says (with the import's
/// complaints: rpm 4.18 refuses some keys outright).
fn rpmkeys(keys: &[&Path], pkg: &Path) -> (bool, String) {
    let root = tempfile::tempdir().unwrap();
    let mut said = String::new();
    for key in keys {
        let out = run("rpmkeys", &["--root", s(root.path()), "--import", s(key)]);
        said.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    let out = run("rpmkeys", &["--root", s(root.path()), "-Kv", s(pkg)]);
    said.push_str(&String::from_utf8_lossy(&out.stdout));
    said.push_str(&String::from_utf8_lossy(&out.stderr));
    eprintln!("rpmkeys -Kv {} with {keys:?}:\n{said}", pkg.display());
    (out.status.success(), said)
}

/// imgconv's verdict on `pkg` with `keys` trusted.
fn ours(keys: &[&Path], pkg: &Path) -> PackageCheck {
    let check = verify_package(pkg, &GpgCheck::Keys(Keyring::load(keys).unwrap())).unwrap();
    eprintln!("imgconv on {} with {keys:?}: {check:?}", pkg.display());
    check
}

/// The reason imgconv refuses `pkg` with `keys`, which rpmkeys refuses too.
fn both_refuse(keys: &[&Path], pkg: &Path) -> String {
    let (rpm_ok, said) = rpmkeys(keys, pkg);
    assert!(!rpm_ok, "rpmkeys accepts {}: {said}", pkg.display());
    match ours(keys, pkg).trust {
        Trust::Untrusted(why) => why,
        other => panic!(
            "imgconv accepts {} ({other:?}), rpm does not",
            pkg.display()
        ),
    }
}

/// The key IDs imgconv trusts `pkg` for with `keys`, which rpmkeys
/// accepts too.
fn both_accept(keys: &[&Path], pkg: &Path) -> PackageCheck {
    let (rpm_ok, said) = rpmkeys(keys, pkg);
    assert!(rpm_ok, "rpmkeys refuses {}: {said}", pkg.display());
    let check = ours(keys, pkg);
    assert!(
        matches!(check.trust, Trust::Signed(_)),
        "imgconv refuses {}, rpm does not: {check:?}",
        pkg.display()
    );
    check
}

fn assert_names(why: &str, words: &[&str]) {
    for w in words {
        assert!(why.contains(w), "{w:?} not in: {why}");
    }
}

/// Where the data of signature-header tag `tag` is in a package's bytes
/// (the signature header follows the 96-byte lead).
fn signature_tag(bytes: &[u8], tag: u32) -> usize {
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let count = be(96 + 8);
    let data = 96 + 16 + count * 16;
    (0..count)
        .map(|i| 96 + 16 + i * 16)
        .find(|&entry| be(entry) == tag as usize)
        .map(|entry| data + be(entry + 8))
        .unwrap_or_else(|| panic!("no signature tag {tag}"))
}

const RPMSIGTAG_RSA: u32 = 268;

/// A copy of `pkg` at `to` with byte `at` of its RPMSIGTAG_RSA packet
/// inverted.
fn corrupt_rsa_signature(pkg: &Path, at: usize, to: &Path) {
    let mut bytes = fs::read(pkg).unwrap();
    let start = signature_tag(&bytes, RPMSIGTAG_RSA);
    bytes[start + at] ^= 0xff;
    fs::write(to, bytes).unwrap();
}

/// hello's header signature (RPMSIGTAG_RSA, a V4 RSA/SHA256 packet of
/// rpm's test key 4344591E1964C5FC) with one byte changed: in the MPI's
/// bit count (the packet no longer parses), in the signature's creation
/// time (it parses, but the hash prefix it carries no longer matches),
/// and in the MPI itself (only the key can tell). rpm calls the first two
/// BAD even without the key, and so is any check here, --no-gpg-check or
/// not; the third is NOKEY to rpm without the key and BAD with it.
#[test]
fn a_corrupt_signature_is_refused_even_with_the_check_off() {
    let dir = tempfile::tempdir().unwrap();
    let key = data("rpm.org-rsa-2048-test.pub");
    let intact = data("hello-2.0-1.x86_64-signed.rpm");
    assert_eq!(
        verify_package(&intact, &GpgCheck::Off).unwrap().trust,
        Trust::Unchecked
    );
    both_accept(&[&key], &intact);

    // Packet: 3-byte header, version, type, algorithms (2), hashed area
    // length (2) and 6 bytes of it (the creation time at 11..15),
    // unhashed area (2 + 10), hash prefix (2), then the MPI's bit count
    // at 29 and its bytes.
    for (at, what, rpm_without_key) in [
        (29, "MPI length", "BAD"),
        (12, "creation time", "BAD"),
        (200, "MPI", "NOKEY"),
    ] {
        let pkg = dir.path().join(format!("corrupt-{at}.rpm"));
        corrupt_rsa_signature(&intact, at, &pkg);
        let (rpm_ok, said) = rpmkeys(&[], &pkg);
        assert!(!rpm_ok);
        let rsa_line = said.lines().find(|l| l.contains("Header ")).unwrap();
        assert!(rsa_line.contains(rpm_without_key), "{what}: {said}");
        let off = verify_package(&pkg, &GpgCheck::Off);
        eprintln!("imgconv --no-gpg-check, {what} changed: {off:?}");
        if rpm_without_key == "BAD" {
            let err = off.unwrap_err().to_string();
            assert_names(&err, &[s(&pkg), "RPMSIGTAG_RSA"]);
            // With the key: refused too, as an error or as untrusted.
            let (rpm_ok, _) = rpmkeys(&[&key], &pkg);
            assert!(!rpm_ok);
            match verify_package(&pkg, &GpgCheck::Keys(Keyring::load(&[&key]).unwrap())) {
                Err(e) => assert_names(&e.to_string(), &[s(&pkg), "RPMSIGTAG_RSA"]),
                Ok(check) => {
                    let Trust::Untrusted(why) = check.trust else {
                        panic!("{what} changed, trusted: {check:?}");
                    };
                    assert_names(&why, &["RPMSIGTAG_RSA", "key ID 4344591E1964C5FC"]);
                }
            }
        } else {
            // A signature that parses by a key not given: what
            // --no-gpg-check is for.
            assert_eq!(off.unwrap().trust, Trust::Unchecked);
            let why = both_refuse(&[&key], &pkg);
            assert_names(
                &why,
                &["bad signature", "RPMSIGTAG_RSA", "key ID 4344591E1964C5FC"],
            );
        }
    }
}

/// rpm's package signed as rpm 6 signs (tests/rpmsigdig.at, "ML-DSA keys
/// and signatures"): RPMSIGTAG_OPENPGP holds an ML-DSA-87+Ed448 V6
/// signature and an RSA one, and the legacy RSA tags the RSA one. With
/// the RSA key it is trusted, as by rpm 4.18 (which reads only the legacy
/// tags) and rpm 6; the ML-DSA signature, which cannot be checked here, is
/// passed over with a note. With only the ML-DSA key nothing vouches for
/// it (rpm 4.18 cannot import that key). A bad RSA signature beside the
/// good ones refuses it, for rpm too.
#[test]
fn every_signature_of_a_dual_signed_package_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = data("hello-2.0-1.x86_64-signed-mldsa87.rpm");
    let rsa = data("rpm.org-rsa-2048-test.pub");
    let mldsa = data("rpm.org-v6-mldsa87-test.asc");

    let check = both_accept(&[&rsa], &pkg);
    assert_eq!(check.trust, Trust::Signed(vec!["4344591E1964C5FC".into()]));
    assert_eq!(check.skipped.len(), 1, "{check:?}");
    assert_names(
        &check.skipped[0],
        &["RPMSIGTAG_OPENPGP signature 1 of 2", "ML-DSA-87+Ed448"],
    );
    let check = both_accept(&[&mldsa, &rsa], &pkg);
    assert_eq!(check.trust, Trust::Signed(vec!["4344591E1964C5FC".into()]));

    let why = both_refuse(&[&mldsa], &pkg);
    assert_names(
        &why,
        &["key ID 4344591E1964C5FC", "not among the trusted keys"],
    );
    assert_eq!(
        verify_package(&pkg, &GpgCheck::Off).unwrap().trust,
        Trust::Unchecked
    );

    let bad = dir.path().join("bad-rsa.rpm");
    corrupt_rsa_signature(&pkg, 200, &bad);
    let why = both_refuse(&[&rsa], &bad);
    assert_names(
        &why,
        &["bad signature", "RPMSIGTAG_RSA", "key ID 4344591E1964C5FC"],
    );
}
