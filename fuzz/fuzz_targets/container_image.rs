#![no_main]

use std::io::Read;

use imgbuild::EntrySource;
use libfuzzer_sys::fuzz_target;

// Any bytes as an OCI archive and as a docker archive, read as a root
// filesystem: layers found, digests checked, whiteouts applied; entries
// come out confined to the root, or an error.
fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::io::Write::write_all(&mut file, data).expect("written");
    for transport in ["oci-archive", "docker-archive"] {
        let spec = format!("{transport}:{}", file.path().display());
        let Some(source) = container::ImageSource::parse(&spec) else {
            continue;
        };
        let Ok(image) = imgbuild::layers::ImageRootfs::open(&source, &spec) else {
            continue;
        };
        let mut entries = 0u64;
        let _ = image.walk(&mut |entry, bytes| {
            entries += 1;
            assert!(!entry.path.starts_with('/'));
            assert!(!entry.path.split('/').any(|c| c == ".." || c == "."));
            let mut sink = Vec::new();
            let _ = bytes.take(1 << 20).read_to_end(&mut sink);
            Ok(())
        });
    }
});
