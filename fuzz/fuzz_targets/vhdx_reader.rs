#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = vhdx::VhdxReader::open(data.to_vec()) {
        common::read_some(&mut r, 8 << 20);
    }
});
