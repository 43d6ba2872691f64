#![no_main]

use std::io::Read;
use std::path::Path;

use libfuzzer_sys::fuzz_target;

// Any bytes as a rootfs archive (plain, gzip, xz or zstd): entries come out
// confined to the root, each file's bytes exactly its length, or an error.
fuzz_target!(|data: &[u8]| {
    let mut entries = 0u64;
    let _ = rootfs::Rootfs::walk_stream(
        Path::new("fuzz.tar"),
        std::io::Cursor::new(data.to_vec()),
        &mut |entry, bytes| {
            entries += 1;
            assert!(!entry.path.starts_with('/'));
            assert!(!entry.path.split('/').any(|c| c == ".." || c == "."));
            let mut sink = Vec::new();
            let n = bytes.take(1 << 20).read_to_end(&mut sink);
            if let (rootfs::EntryKind::File { len }, Ok(n)) = (&entry.kind, n) {
                assert!(n as u64 <= *len);
            }
            Ok(())
        },
    );
    assert!(entries <= data.len() as u64);
});
