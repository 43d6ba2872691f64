#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    // A descriptor on its own, and the same bytes as a sparse extent.
    let _ = vmdk::Descriptor::parse(data);
    if let Ok(mut r) = vmdk::VmdkReader::open(Box::new(data.to_vec())) {
        common::read_some(&mut r, 8 << 20);
    }
});
