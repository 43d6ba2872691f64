#![no_main]

use libfuzzer_sys::fuzz_target;

// Any bytes as a package payload (new ASCII cpio): members read to the
// trailer with their data, or an error; as a package's headers, its
// scriptlets and file triggers; as text, a file capability and a macro
// expansion of a Lua scriptlet.
fuzz_target!(|data: &[u8]| {
    if let Ok(n) = pkgstage::install::read_payload_cpio(data) {
        assert!(n as usize <= data.len() / 110 + 1);
    }
    let _ = pkgstage::install::read_scriptlets(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(out) = pkgstage::install::expand_macros(text) {
            assert!(out.len() <= 1 << 20);
        }
        if let Ok(v) = pkgstage::install::capability_xattr(text) {
            assert_eq!(v.len(), 20);
        }
    }
});
