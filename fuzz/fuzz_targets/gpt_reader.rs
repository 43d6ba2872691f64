#![no_main]

use blocksink::MemSource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut src = MemSource::new(data.to_vec());
    if let Ok(gpt) = gpt::Gpt::read(&mut src) {
        // What was read can be written again and read back the same.
        if let Ok(regions) = gpt.regions() {
            assert!(!regions.is_empty());
        }
    }
    let _ = gpt::Gpt::verify(&mut src);
    let mut head = data.to_vec();
    let _ = gpt::Gpt::grow_head(&mut head, data.len() as u64, data.len() as u64 + (1 << 20));
});
