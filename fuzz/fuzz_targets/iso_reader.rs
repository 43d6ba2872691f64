#![no_main]

use libfuzzer_sys::fuzz_target;

use iso9660::{IsoImage, IsoKind, Naming};

fuzz_target!(|data: &[u8]| {
    let Ok(img) = IsoImage::open(data.to_vec()) else {
        return;
    };
    let _ = img.boot_entries();
    for naming in [Naming::RockRidge, Naming::Joliet, Naming::Iso9660] {
        let Ok(entries) = img.entries_with(naming) else {
            continue;
        };
        // Read the files' data, at most 8 MiB in all.
        let mut budget = 8u64 << 20;
        for e in entries.iter().filter(|e| e.kind == IsoKind::File) {
            if e.size > budget {
                break;
            }
            budget -= e.size;
            let mut sink = Vec::new();
            let _ = img.read_file(e, &mut sink);
        }
    }
});
