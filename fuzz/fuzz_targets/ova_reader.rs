#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let bytes = blocksink::Bytes::copy_from_slice(data);
    let _ = ova_tar::members(&bytes);
    if let Ok(mut r) = ova_tar::OvaReader::open(bytes) {
        common::read_some(&mut r, 8 << 20);
    }
});
