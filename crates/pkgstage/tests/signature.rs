//! Package signatures checked as rpm checks them, on rpm's own test
//! packages and keys (tests/data/rpm, see its README) and on packages
//! signed here with gpg and rpmsign; rpmkeys, run in the same test, is
//! the judge wherever the rpm installed (4.18) has an opinion.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use pkgstage::signature::{verify_package, GpgCheck, Keyring, PackageCheck, Trust};
use testkit::{run, run_ok};

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

/// rpm's own case (tests/rpmsigdig.at, "rpmkeys --import signed with a
/// good / an expired / a revoked subkey"): hello signed on 2022-04-13 by
/// Alice's subkey 1F71177215217EE0, which one copy of her key lets expire
/// on 2022-04-12 and another revokes (key compromised). rpm 4.19 and
/// later accept the first and refuse the others; the rpm 4.18 here cannot
/// import Alice's keys at all (their binding signatures carry a critical
/// embedded signature), so it refuses all three.
#[test]
fn a_signature_by_an_expired_or_revoked_subkey_is_refused_as_rpm_refuses_it() {
    let pkg = data("hello-2.0-1.x86_64-signed-with-subkey.rpm");
    let check = ours(&[&data("alice.asc")], &pkg);
    assert_eq!(check.trust, Trust::Signed(vec!["1F71177215217EE0".into()]));

    let why = both_refuse(&[&data("alice-expired-subkey.asc")], &pkg);
    assert_names(
        &why,
        &[
            "key ID 1F71177215217EE0 (a subkey of B3A771BFEB04E625)",
            "the subkey expired on 2022-04-12 00:00:15 UTC",
            "made on 2022-04-13 14:22:42 UTC",
        ],
    );
    let why = both_refuse(&[&data("alice-revoked-subkey.asc")], &pkg);
    assert_names(
        &why,
        &[
            "key ID 1F71177215217EE0 (a subkey of B3A771BFEB04E625)",
            "the subkey has been revoked",
            "compromised",
            "it was the maid",
        ],
    );
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

    fn gpg(&self, args: &[&str], input: &str) -> String {
        use std::io::Write;
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", self.0.path())
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run gpg ({e}): the tests need it"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new key for `name` with `usage` (`cert`, `sign,cert`): its
    /// fingerprint.
    fn generate(&self, name: &str, usage: &str) -> String {
        let uid = format!("{name} <{name}@example.test>");
        self.gpg(&["--quick-gen-key", &uid, "rsa2048", usage, "never"], "");
        self.fingerprints(name)[0].clone()
    }

    /// The fingerprints of `name`'s primary key and subkeys, in order.
    fn fingerprints(&self, name: &str) -> Vec<String> {
        let listing = self.gpg(&["--with-colons", "--list-keys", name], "");
        listing
            .lines()
            .filter(|l| l.starts_with("fpr:"))
            .map(|l| l.split(':').nth(9).unwrap().to_string())
            .collect()
    }

    /// A signing subkey added to `fpr`: its fingerprint.
    fn add_signing_subkey(&self, fpr: &str, name: &str) -> String {
        self.gpg(&["--quick-add-key", fpr, "rsa2048", "sign", "never"], "");
        self.fingerprints(name).last().unwrap().clone()
    }

    /// The armored public key of `fpr`, written to `to`.
    fn export(&self, fpr: &str, to: &Path) {
        self.gpg(
            &["--yes", "--armor", "--output", s(to), "--export", fpr],
            "",
        );
    }

    /// Signs `rpm` in place with the key or subkey `fpr` (a `!` after it
    /// makes gpg use that very subkey).
    fn sign(&self, fpr: &str, rpm: &Path) {
        let out = Command::new("rpmsign")
            .args(["--define", "__gpg /usr/bin/gpg"])
            .args(["--define", &format!("_gpg_name {fpr}")])
            .args([
                "--define",
                &format!("_gpg_path {}", self.0.path().display()),
            ])
            .args(["--addsign", s(rpm)])
            .output()
            .unwrap_or_else(|e| panic!("cannot run rpmsign ({e}): the tests need it"));
        assert!(
            out.status.success(),
            "rpmsign: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.0.path())
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

/// rpm's hello package with its signatures taken off, copied to `to`.
fn unsigned_hello(to: &Path) {
    fs::copy(data("hello-2.0-1.x86_64-signed.rpm"), to).unwrap();
    run_ok("rpmsign", &["--delsign", s(to)]);
}

/// Keys made here with gpg, subkeys signing: a good subkey is trusted as
/// rpm trusts it; a subkey revoked after signing is refused, as by rpm
/// (4.18 refuses to import such a key); a primary key whose key flags no
/// longer allow signing is refused (rpm 4.18 does not read key flags, so
/// rpmkeys is not asked; rpm's Sequoia backend refuses such keys).
#[test]
fn subkeys_made_by_gpg_are_trusted_only_while_valid_for_signing() {
    let dir = tempfile::tempdir().unwrap();
    let gnupg = GnupgHome::new();

    let good = gnupg.generate("good", "cert");
    let good_sub = gnupg.add_signing_subkey(&good, "good");
    let good_key = dir.path().join("good.asc");
    gnupg.export(&good, &good_key);
    let pkg = dir.path().join("good.rpm");
    unsigned_hello(&pkg);
    gnupg.sign(&format!("{good_sub}!"), &pkg);
    let check = both_accept(&[&good_key], &pkg);
    assert_eq!(check.trust, Trust::Signed(vec![good_sub[24..].to_string()]));

    let revoked = gnupg.generate("revoked", "cert");
    let revoked_sub = gnupg.add_signing_subkey(&revoked, "revoked");
    let pkg = dir.path().join("revoked.rpm");
    unsigned_hello(&pkg);
    gnupg.sign(&format!("{revoked_sub}!"), &pkg);
    // gpg's key editor: select subkey 1, revoke it, reason 1 (key
    // compromised) with a line of text, confirm, save.
    gnupg.gpg(
        &["--command-fd", "0", "--edit-key", &revoked],
        "key 1\nrevkey\ny\n1\nleaked\n\ny\nsave\n",
    );
    let revoked_key = dir.path().join("revoked.asc");
    gnupg.export(&revoked, &revoked_key);
    let why = both_refuse(&[&revoked_key], &pkg);
    assert_names(
        &why,
        &[
            &format!("key ID {}", &revoked_sub[24..]),
            &format!("a subkey of {}", &revoked[24..]),
            "the subkey has been revoked",
            "leaked",
        ],
    );

    let usage = gnupg.generate("usage", "sign,cert");
    let pkg = dir.path().join("usage.rpm");
    unsigned_hello(&pkg);
    gnupg.sign(&usage, &pkg);
    let usage_key = dir.path().join("usage.asc");
    gnupg.export(&usage, &usage_key);
    assert!(matches!(ours(&[&usage_key], &pkg).trust, Trust::Signed(_)));
    // A new self-signature whose key flags say certify only.
    gnupg.gpg(
        &["--command-fd", "0", "--edit-key", &usage],
        "change-usage\nS\nQ\nsave\n",
    );
    gnupg.export(&usage, &usage_key);
    let Trust::Untrusted(why) = ours(&[&usage_key], &pkg).trust else {
        panic!("a key not for signing is trusted");
    };
    assert_names(
        &why,
        &[&format!("key ID {}", &usage[24..]), "not valid for signing"],
    );
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
