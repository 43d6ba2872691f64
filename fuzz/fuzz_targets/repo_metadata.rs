#![no_main]

use libfuzzer_sys::fuzz_target;

// Any bytes as primary.xml: packages whose locations stay inside the
// repository and whose checksums are well formed, or an error naming the file.
fuzz_target!(|data: &[u8]| {
    match pkgstage::repo::parse_primary(data, "fuzz-primary.xml".as_ref()) {
        Ok(packages) => {
            for p in &packages {
                assert!(!p.location.starts_with('/') && !p.location.contains(".."));
                assert_eq!(p.checksum.hex.len(), p.checksum.algorithm.hex_len());
                assert!(p.files.iter().all(|f| f.path.starts_with('/')));
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz-primary.xml")),
    }
});
