#![no_main]

use libfuzzer_sys::fuzz_target;

// Any bytes as what the signature check parses: a key file (armored or
// binary OpenPGP) and a package's signature packet. Either parses or is an
// error, never a panic.
fuzz_target!(|data: &[u8]| {
    let (keys, _signature) = pkgstage::signature::parse_untrusted(data);
    assert!(keys <= data.len());
});
