//! Work and memory bounded by the image: directories that overlap or run
//! to the end, multi-extent parts that overlap.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use blocksink::{BuildStamp, Destination};
use iso9660::{IsoImage, IsoOptions, IsoWriter, Tree};

/// A plain ISO 9660 image (no Rock Ridge, no Joliet) of the tree at `dir`.
fn plain_iso(dir: &Path) -> Vec<u8> {
    let opts = IsoOptions {
        rock_ridge: false,
        joliet: false,
        ..Default::default()
    };
    let w = IsoWriter::new(
        Tree::from_dir(dir).unwrap(),
        opts,
        &BuildStamp::fixed(1, "t"),
    )
    .unwrap();
    let out = tempfile::tempfile().unwrap();
    w.write(
        &mut Destination::file(out.try_clone().unwrap()),
        &mut |_| {},
    )
    .unwrap();
    let mut v = Vec::new();
    std::io::Seek::rewind(&mut &out).unwrap();
    std::io::Read::read_to_end(&mut &out, &mut v).unwrap();
    v
}

/// Where the directory record whose identifier is `id` starts (the first
/// such record; path-table entries have another layout).
fn record_of(img: &[u8], id: &[u8]) -> usize {
    let mut pat = vec![id.len() as u8];
    pat.extend_from_slice(id);
    let at = img
        .windows(pat.len())
        .position(|w| w == pat.as_slice())
        .expect("the record is there");
    at - 32
}

fn set_both_endian(img: &mut [u8], at: usize, v: u32) {
    img[at..at + 4].copy_from_slice(&v.to_le_bytes());
    img[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
}

fn entries_err(img: Vec<u8>) -> String {
    let iso = IsoImage::open(img).unwrap();
    iso.entries().unwrap_err().to_string()
}

#[test]
fn overlapping_directories_are_refused_once_they_add_up_past_the_image() {
    let dir = tempfile::tempdir().unwrap();
    // Sibling directories patched to overlap: each starts at its own
    // sector of the (empty) system area and runs to its end, so each alone
    // lies in the image and reads as an empty directory, but together they
    // read the same sectors over and over.
    let names = ["D1", "D2", "D3", "D4", "D5", "D6"];
    for n in names {
        fs::create_dir(dir.path().join(n)).unwrap();
    }
    let mut img = plain_iso(dir.path());
    for (i, id) in names.map(str::as_bytes).into_iter().enumerate() {
        let r = record_of(&img, id);
        let lba = i as u32 + 1;
        set_both_endian(&mut img, r + 2, lba);
        set_both_endian(&mut img, r + 10, (16 - lba) * 2048);
    }
    let err = entries_err(img);
    assert!(
        err.contains("add up to") && err.contains("directory extents overlap"),
        "{err}"
    );
}

#[test]
fn overlapping_multi_extent_parts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("AAAA.BIN"), vec![1u8; 8192]).unwrap();
    fs::write(dir.path().join("BBBB.BIN"), vec![2u8; 8192]).unwrap();
    let good = plain_iso(dir.path());
    let a = record_of(&good, b"AAAA.BIN;1");
    let b = record_of(&good, b"BBBB.BIN;1");
    assert!(b > a, "records sorted by name");

    // AAAA.BIN continued by a record over its own data: one file whose
    // parts overlap (read as such, 8 KiB would become 16 KiB, and chains of
    // them a file many times the image).
    let mut img = good.clone();
    img[a + 25] |= 0x80;
    let a_lba = u32::from_le_bytes(img[a + 2..a + 6].try_into().unwrap());
    set_both_endian(&mut img, b + 2, a_lba);
    let err = entries_err(img);
    assert!(
        err.contains("AAAA.BIN") && err.contains("multi-extent part 2") && err.contains("overlaps"),
        "{err}"
    );

    // Two parts side by side are one 16 KiB file, as ECMA-119 lays them out.
    let mut img = good;
    img[a + 25] |= 0x80;
    let iso = IsoImage::open(img).unwrap();
    let entries = iso.entries().unwrap();
    let f = entries
        .iter()
        .find(|e| e.path.starts_with(b"AAAA"))
        .unwrap();
    assert_eq!(f.size, 16384);
    let mut data = Vec::new();
    iso.read_file(f, &mut data).unwrap();
    assert_eq!(&data[..8192], &[1u8; 8192][..]);
    assert_eq!(&data[8192..], &[2u8; 8192][..]);
}
