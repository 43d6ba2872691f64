#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pkgstage::signature::{parse_keys, verify_package, GpgCheck, Keyring, Trust};

/// rpm's test key that signs the hello seeds (crates/pkgstage/tests/data/rpm).
const RSA_KEY: &[u8] = include_bytes!("../../crates/pkgstage/tests/data/rpm/rpm.org-rsa-2048-test.pub");

fn keyring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| {
        assert!(parse_keys(RSA_KEY).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.asc");
        std::fs::write(&path, RSA_KEY).unwrap();
        Keyring::load(&[path]).unwrap()
    })
}

// Any bytes as what the signature check parses: a key file (armored or
// binary OpenPGP, its keys and subkeys judged against their own
// signatures) and a package's signature packet; and bytes that start as
// a package does as a whole package, checked with the check off and
// against rpm's test key. Each is read or is an error, never a panic.
fuzz_target!(|data: &[u8]| {
    let (keys, _signature) = pkgstage::signature::parse_untrusted(data);
    assert!(keys <= data.len());
    if data.starts_with(&[0xed, 0xab, 0xee, 0xdb]) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(data).unwrap();
        let _ = verify_package(file.path(), &GpgCheck::Off);
        if let Ok(check) = verify_package(file.path(), &GpgCheck::Keys(keyring().clone())) {
            if let Trust::Signed(ids) = check.trust {
                assert!(!ids.is_empty());
            }
        }
    }
});
