//! ISO 9660 images for reader tests: xorriso writes a valid image of a
//! small tree, then its directory records are patched (ECMA-119 9.1: the
//! extent's LBA at byte 2 and its length at byte 10, both-endian; the flags
//! at byte 25; the identifier's length at 32 and the identifier at 33).

use std::fs;
use std::path::{Path, PathBuf};

use crate::{run_ok, Rng};

/// Bytes per ISO 9660 sector.
pub const SECTOR: usize = 2048;
/// Directory record flag: a directory.
pub const DIRECTORY: u8 = 0x02;
/// Directory record flag: more records of the same file follow.
pub const MULTI_EXTENT: u8 = 0x80;

/// Writes an image of the directory `tree` to `out` with Rock Ridge names
/// and no Joliet tree (`xorriso -as mkisofs -R`), and returns its bytes.
pub fn xorriso_iso(tree: &Path, out: &Path) -> Vec<u8> {
    xorriso_mkisofs(&["-R"], tree, out)
}

/// Writes an image of `tree` to `out` with `xorriso -as mkisofs` and the
/// options `opts`, and returns its bytes.
pub fn xorriso_mkisofs(opts: &[&str], tree: &Path, out: &Path) -> Vec<u8> {
    let mut args = vec!["-as", "mkisofs", "-quiet"];
    args.extend_from_slice(opts);
    args.extend(["-o", out.to_str().unwrap(), tree.to_str().unwrap()]);
    run_ok("xorriso", &args);
    fs::read(out).unwrap()
}

/// Offsets of the directory records whose ISO 9660 identifier is `id`
/// (`b"D1"`, `b"DATA.BIN;1"`), in image order.
pub fn find_records(iso: &[u8], id: &[u8]) -> Vec<usize> {
    let mut pattern = vec![id.len() as u8];
    pattern.extend_from_slice(id);
    iso.windows(pattern.len())
        .enumerate()
        .filter(|&(at, w)| w == pattern && at >= 32 && usize::from(iso[at - 32]) >= 33 + id.len())
        .map(|(at, _)| at - 32)
        .collect()
}

/// Offset of the one directory record whose identifier is `id`.
pub fn find_record(iso: &[u8], id: &[u8]) -> usize {
    let hits = find_records(iso, id);
    assert_eq!(
        hits.len(),
        1,
        "record {:?} found at {hits:?}",
        String::from_utf8_lossy(id)
    );
    hits[0]
}

/// The (LBA, length) of the record at `rec`.
pub fn extent(iso: &[u8], rec: usize) -> (u32, u32) {
    let le = |at: usize| u32::from_le_bytes(iso[at..at + 4].try_into().unwrap());
    (le(rec + 2), le(rec + 10))
}

/// Points the record at `rec` at `len` bytes at `lba`.
pub fn set_extent(iso: &mut [u8], rec: usize, lba: u32, len: u32) {
    for (at, v) in [(rec + 2, lba), (rec + 10, len)] {
        iso[at..at + 4].copy_from_slice(&v.to_le_bytes());
        iso[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
    }
}

/// A directory record without system use fields.
pub fn record(lba: u32, len: u32, flags: u8, id: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8; 33 + id.len() + usize::from(id.len() % 2 == 0)];
    r[0] = r.len() as u8;
    set_extent(&mut r, 0, lba, len);
    r[25] = flags;
    r[28..32].copy_from_slice(&[1, 0, 0, 1]);
    r[32] = id.len() as u8;
    r[33..33 + id.len()].copy_from_slice(id);
    r
}

/// Fills whole sectors from `lba` for `len` bytes with copies of `rec`,
/// as many as fit in each sector.
fn fill_with_records(iso: &mut [u8], lba: u32, len: usize, rec: &[u8]) {
    let start = lba as usize * SECTOR;
    for sector in iso[start..start + len].chunks_mut(SECTOR) {
        for slot in sector.chunks_exact_mut(rec.len()) {
            slot.copy_from_slice(rec);
        }
    }
}

/// Directories nested in [`nested_extents_to_end`].
pub const NESTED_DEPTH: u32 = 200;

/// About 8 MiB, plain ISO 9660 names: `D1/D2/…/D200`, each directory's
/// extent running to the end of the image, and every other record of the
/// image a record of a file chained by the multi-extent flag, each part the
/// whole image. The directories' sectors lie in reverse order (`D200`
/// first), so each directory's extent holds its own sector and those of
/// its ancestors, where the record of the next directory down is read as
/// one more part of the chained file: without bounds a reader lists about
/// 250,000 parts per directory, 50 million in all, each as large as the
/// image.
pub fn nested_extents_to_end(dir: &Path) -> PathBuf {
    let tree = dir.join("nested-tree");
    fs::create_dir_all(tree.join("d1")).unwrap();
    fs::write(tree.join("pad.bin"), vec![0u8; 8 << 20]).unwrap();
    let out = dir.join("nested.iso");
    let mut iso = xorriso_mkisofs(&["--norock"], &tree, &out);
    let size = iso.len() as u32;
    let to_end = |lba: u32| size - lba * SECTOR as u32;
    let (pad, _) = extent(&iso, find_record(&iso, b"PAD.BIN;1"));
    let chained = record(0, size, MULTI_EXTENT, b"X");
    fill_with_records(
        &mut iso,
        pad,
        size as usize - pad as usize * SECTOR,
        &chained,
    );
    // D1 in the last of the sectors, D200 in the first.
    let sector_of = |depth: u32| pad + NESTED_DEPTH - depth;
    let d1 = find_record(&iso, b"D1");
    set_extent(&mut iso, d1, sector_of(1), to_end(sector_of(1)));
    for depth in 1..NESTED_DEPTH {
        let child = sector_of(depth + 1);
        let rec = record(
            child,
            to_end(child),
            DIRECTORY,
            format!("D{}", depth + 1).as_bytes(),
        );
        let at = sector_of(depth) as usize * SECTOR;
        iso[at..at + rec.len()].copy_from_slice(&rec);
        let rest = &mut iso[at + rec.len()..at + SECTOR];
        let fit = rest.len() / chained.len() * chained.len();
        rest.fill(0);
        for slot in rest[..fit].chunks_exact_mut(chained.len()) {
            slot.copy_from_slice(&chained);
        }
    }
    fs::write(&out, &iso).unwrap();
    out
}

/// About 1 MiB: the directory `d` patched to read the sectors of
/// `data.bin`, which are filled with records of one file chained by the
/// multi-extent flag, every part the whole of `data.bin`: tens of
/// thousands of overlapping parts, a file hundreds of times the image.
pub fn overlapping_parts(dir: &Path) -> PathBuf {
    let tree = dir.join("overlap-tree");
    fs::create_dir_all(tree.join("d")).unwrap();
    fs::write(tree.join("data.bin"), vec![0u8; 900 << 10]).unwrap();
    let out = dir.join("overlap.iso");
    let mut iso = xorriso_iso(&tree, &out);
    let data = find_record(&iso, b"DATA.BIN;1");
    let (lba, len) = extent(&iso, data);
    let d = find_record(&iso, b"D");
    set_extent(&mut iso, d, lba, len);
    fill_with_records(
        &mut iso,
        lba,
        len as usize,
        &record(lba, len, MULTI_EXTENT, b"X"),
    );
    fs::write(&out, &iso).unwrap();
    out
}

/// A valid image whose file `two.bin` (8 KiB) is stored as two parts, its
/// record doubled and the multi-extent flag set on the first: each part 4
/// KiB, the first half of the data first, or with `reversed` the second
/// half first. Returns the image and the file's bytes as any reader must
/// give them.
pub fn two_part_file(dir: &Path, reversed: bool) -> (PathBuf, Vec<u8>) {
    let tree = dir.join(if reversed { "two-rev-tree" } else { "two-tree" });
    fs::create_dir_all(&tree).unwrap();
    let mut data = vec![0u8; 8192];
    Rng::new(9).fill(&mut data);
    fs::write(tree.join("two.bin"), &data).unwrap();
    fs::write(tree.join("zz-after.txt"), b"after\n").unwrap();
    let out = dir.join(if reversed { "two-rev.iso" } else { "two.iso" });
    let mut iso = xorriso_iso(&tree, &out);
    let rec = find_record(&iso, b"TWO.BIN;1");
    let rec_len = usize::from(iso[rec]);
    let (lba, len) = extent(&iso, rec);
    assert_eq!(len, 8192);
    // Make room for a second record in the same sector.
    let sector_end = (rec / SECTOR + 1) * SECTOR;
    let mut used = rec;
    while used < sector_end && iso[used] != 0 {
        used += usize::from(iso[used]);
    }
    assert!(
        used + rec_len <= sector_end,
        "no room in the directory sector"
    );
    iso.copy_within(rec..used, rec + rec_len);
    let (first, second) = if reversed {
        ((lba + 2, &data[4096..]), (lba, &data[..4096]))
    } else {
        ((lba, &data[..4096]), (lba + 2, &data[4096..]))
    };
    set_extent(&mut iso, rec, first.0, 4096);
    iso[rec + 25] |= MULTI_EXTENT;
    set_extent(&mut iso, rec + rec_len, second.0, 4096);
    let expected = [first.1, second.1].concat();
    fs::write(&out, &iso).unwrap();
    (out, expected)
}
