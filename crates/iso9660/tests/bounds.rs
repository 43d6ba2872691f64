//! The reader's work is bounded by the image: images xorriso wrote, their
//! directory records patched so that directories share bytes or run to
//! the end, and multi-extent parts overlap, are refused with errors naming
//! the path and the field; a legal two-part file still reads as xorriso
//! reads it.
#![allow(clippy::unwrap_used)]

use std::fs;

use iso9660::{IsoImage, IsoKind};
use testkit::iso::{self, extent, find_record, find_records, set_extent, SECTOR};
use testkit::run_ok;

fn entries_error(bytes: Vec<u8>) -> String {
    IsoImage::open(bytes)
        .unwrap()
        .entries()
        .unwrap_err()
        .to_string()
}

#[test]
fn nested_directories_running_to_the_image_end_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = iso::nested_extents_to_end(dir.path());
    let bytes = fs::read(&path).unwrap();
    let (d1, _) = extent(&bytes, find_record(&bytes, b"D1"));
    let (d2, d2_len) = extent(&bytes, find_record(&bytes, b"D2"));
    let err = entries_error(bytes.clone());
    assert!(
        err.contains(&format!(
            "directory /D1/D2: extent at LBA {d2} ({d2_len} bytes) overlaps directory /D1 (LBA {d1}, "
        )),
        "{err}"
    );
    // Extraction lists first, so it stops there too, having made nothing.
    let img = IsoImage::open(bytes.clone()).unwrap();
    let dest = dir.path().join("out");
    let err = img.extract(&dest).unwrap_err().to_string();
    assert!(err.contains("overlaps directory /D1"), "{err}");
    assert_eq!(fs::read_dir(&dest).unwrap().count(), 0);

    // One sector more and the first directory runs past the end.
    let mut bytes = bytes;
    let rec = find_record(&bytes, b"D1");
    let size = bytes.len() as u32;
    set_extent(
        &mut bytes,
        rec,
        d1,
        size - d1 * SECTOR as u32 + SECTOR as u32,
    );
    let err = entries_error(bytes);
    assert!(
        err.contains(&format!(
            "directory /D1: extent at LBA {d1} ({} bytes) runs past the end of the image ({size} bytes)",
            size - d1 * SECTOR as u32 + SECTOR as u32
        )),
        "{err}"
    );
}

#[test]
fn directories_sharing_an_extent_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir_all(tree.join("a/inner")).unwrap();
    fs::create_dir_all(tree.join("b")).unwrap();
    let mut bytes = iso::xorriso_iso(&tree, &dir.path().join("share.iso"));
    let (a, a_len) = extent(&bytes, find_record(&bytes, b"A"));
    let b = find_record(&bytes, b"B");
    set_extent(&mut bytes, b, a, a_len);
    let err = entries_error(bytes.clone());
    assert!(
        err.contains(&format!(
            "directory /b: extent at LBA {a} ({a_len} bytes) overlaps directory /a (LBA {a}, {a_len} bytes): each directory's bytes are read once"
        )),
        "{err}"
    );
    // A subdirectory pointing at its parent is a loop.
    let inner = find_record(&bytes, b"INNER");
    set_extent(&mut bytes, b, a + 100, a_len);
    set_extent(&mut bytes, inner, a, a_len);
    let err = entries_error(bytes);
    assert!(
        err.contains("directory /a/inner: extent at LBA") && err.contains("a directory loop"),
        "{err}"
    );
}

#[test]
fn overlapping_multi_extent_parts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = iso::overlapping_parts(dir.path());
    let bytes = fs::read(&path).unwrap();
    let (lba, len) = extent(&bytes, find_record(&bytes, b"DATA.BIN;1"));
    let err = entries_error(bytes.clone());
    assert!(
        err.contains(&format!(
            "/d/X: multi-extent part 2 at LBA {lba} ({len} bytes) overlaps part 1 (LBA {lba}, {len} bytes)"
        )),
        "{err}"
    );
    let img = IsoImage::open(bytes).unwrap();
    let err = img
        .extract(&dir.path().join("out"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("overlaps part 1"), "{err}");
}

#[test]
fn a_part_past_the_end_or_overlapping_a_later_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = iso::two_part_file(dir.path(), false);
    let good = fs::read(&path).unwrap();
    let parts = find_records(&good, b"TWO.BIN;1");
    let (first, second) = (parts[0], parts[1]);
    assert_eq!(second, first + usize::from(good[first]));
    let (lba, _) = extent(&good, first);
    let size = good.len() as u32;

    let mut bytes = good.clone();
    let end_lba = size / SECTOR as u32;
    set_extent(&mut bytes, second, end_lba - 1, 4096);
    let err = entries_error(bytes);
    assert!(
        err.contains(&format!(
            "/two.bin: multi-extent part 2 at LBA {} (4096 bytes) runs past the end of the image ({size} bytes)",
            end_lba - 1
        )),
        "{err}"
    );

    // Part 2 one sector into part 1.
    let mut bytes = good;
    set_extent(&mut bytes, second, lba + 1, 4096);
    let err = entries_error(bytes);
    assert!(
        err.contains(&format!(
            "/two.bin: multi-extent part 2 at LBA {} (4096 bytes) overlaps part 1 (LBA {lba}, 4096 bytes)",
            lba + 1
        )),
        "{err}"
    );
}

#[test]
fn disjoint_multi_extent_parts_read_as_xorriso_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    for reversed in [false, true] {
        let (path, expected) = iso::two_part_file(dir.path(), reversed);
        let out = dir.path().join(if reversed {
            "xorriso-rev.bin"
        } else {
            "xorriso.bin"
        });
        run_ok(
            "xorriso",
            &[
                "-osirrox",
                "on",
                "-indev",
                path.to_str().unwrap(),
                "-extract",
                "/two.bin",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(
            fs::read(&out).unwrap(),
            expected,
            "xorriso, reversed {reversed}"
        );

        let img = IsoImage::open(fs::File::open(&path).unwrap()).unwrap();
        let entries = img.entries().unwrap();
        let names: Vec<String> = entries.iter().map(|e| e.display_path()).collect();
        assert_eq!(names, ["/two.bin", "/zz-after.txt"]);
        let two = &entries[0];
        assert_eq!((two.kind.clone(), two.size), (IsoKind::File, 8192));
        assert_eq!(two.extents.len(), 2);
        let mut data = Vec::new();
        img.read_file(two, &mut data).unwrap();
        assert_eq!(data, expected, "reversed {reversed}");
        let dest = dir.path().join(if reversed { "ours-rev" } else { "ours" });
        img.extract(&dest).unwrap();
        assert_eq!(fs::read(dest.join("two.bin")).unwrap(), expected);
        assert_eq!(fs::read(dest.join("zz-after.txt")).unwrap(), b"after\n");
    }
}
