#![no_main]

use libfuzzer_sys::fuzz_target;

// Any bytes as a package payload (new ASCII cpio): members read to the
// trailer with their data, or an error; the text of a file capability too.
fuzz_target!(|data: &[u8]| {
    if let Ok(n) = pkgstage::install::read_payload_cpio(data) {
        assert!(n as usize <= data.len() / 110 + 1);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(v) = pkgstage::install::capability_xattr(text) {
            assert_eq!(v.len(), 20);
        }
    }
});
