#![no_main]
//! The VHDX reader over a small input laid out as an image: the input holds
//! only the bytes that parsers look at, the target puts them at the places
//! the spec fixes and recomputes the CRC-32C checksums, so every input gets
//! past the checksums to the header, region table, metadata and BAT parsers
//! (a whole VHDX is 3 MiB at least, and a checksum is out of a fuzzer's reach).
//!
//! Input: header 1 (its first 80 bytes), header 2 (80), the region table
//! (its first 144 bytes: 16 of header, 4 entries), then the rest split in
//! half: the start of the metadata region and the start of the BAT, each put
//! where the region table says.

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

use common::SparseImage;

const HEADERS: [u64; 2] = [64 << 10, 128 << 10];
const REGION_TABLES: [u64; 2] = [192 << 10, 256 << 10];
const BAT: [u8; 16] = [
    0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42, 0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08,
];
const METADATA: [u8; 16] = [
    0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b, 0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e,
];

/// `bytes` padded with zeros to `len`, with the CRC-32C of the whole put at
/// offset 4 (computed with that field zero), as headers and region tables hold it.
fn checksummed(bytes: &[u8], len: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(len, 0);
    v[4..8].fill(0);
    let crc = crc32c::crc32c(&v);
    v[4..8].copy_from_slice(&crc.to_le_bytes());
    v
}

/// Where the region table puts the region with `guid`, if it lists it.
fn region(table: &[u8], guid: &[u8; 16]) -> Option<u64> {
    table[16..]
        .chunks_exact(32)
        .find(|e| &e[..16] == guid)
        .map(|e| u64::from_le_bytes(e[16..24].try_into().unwrap()))
}

fn image(data: &[u8]) -> SparseImage {
    let part = |from: usize, len: usize| &data[from.min(data.len())..(from + len).min(data.len())];
    let mut img = SparseImage::new(8 << 20);
    img.put(0, b"vhdxfile");
    for (i, at) in HEADERS.iter().enumerate() {
        img.put(*at, &checksummed(part(i * 80, 80), 4096));
    }
    let table = checksummed(part(160, 144), 64 << 10);
    for at in REGION_TABLES {
        img.put(at, &table);
    }
    let rest = part(304, usize::MAX / 2);
    let (meta, bat) = rest.split_at(rest.len() / 2);
    for (guid, bytes) in [(&METADATA, meta), (&BAT, bat)] {
        // Regions past 1 TiB are left out: a real file that large would be
        // sparse too, and the reader must refuse what lies past the end.
        if let Some(at) = region(&table[..144], guid).filter(|a| *a < 1 << 40) {
            img.put(at, bytes);
        }
    }
    img
}

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = vhdx::VhdxReader::open(image(data)) {
        common::read_some(&mut r, 8 << 20);
    }
});
