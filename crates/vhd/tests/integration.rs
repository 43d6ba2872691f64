//! VHD against qemu-img, both ways, plus round trips and hostile inputs.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::Path;

use blocksink::{BlockSource, BuildStamp};
use proptest::prelude::*;
use testkit::{qemu_compare, qemu_convert, qemu_info, sample_disk};
use vhd::{VhdOptions, VhdReader, VhdWriter};

fn stamp() -> BuildStamp {
    BuildStamp::fixed(1_700_000_000, "test")
}

fn write_vhd(raw: &Path, out: &Path, opts: VhdOptions, stream: bool) {
    testkit::convert_file(raw, out, stream, |d| VhdWriter::new(d, opts).unwrap());
}

fn read_all(img: &Path) -> Vec<u8> {
    testkit::read_disk(&mut VhdReader::open(File::open(img).unwrap()).unwrap())
}

#[test]
fn qemu_reads_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let size = (33 << 20) + 5 * 512;
    sample_disk(&raw, size, 21);
    for stream in [false, true] {
        let dynamic = dir.path().join(format!("dyn-{stream}.vhd"));
        write_vhd(&raw, &dynamic, VhdOptions::dynamic(stamp()), stream);
        qemu_compare(&raw, "raw", &dynamic, "vpc");
        let info = qemu_info(&dynamic, "vpc");
        assert_eq!(info["virtual-size"], size);
        assert_eq!(info["format"], "vpc");

        let fixed = dir.path().join(format!("fixed-{stream}.vhd"));
        write_vhd(&raw, &fixed, VhdOptions::fixed(stamp()), stream);
        // Rounded up to a whole MiB; file = size + footer, as Azure requires.
        let rounded = size.next_multiple_of(1 << 20);
        assert_eq!(std::fs::metadata(&fixed).unwrap().len(), rounded + 512);
        let info = qemu_info(&fixed, "vpc");
        assert_eq!(info["virtual-size"], rounded);
        assert_eq!(info["format"], "vpc");
        qemu_compare(&raw, "raw", &fixed, "vpc");
    }
    // The streamed files are the same bytes as the seekable ones.
    for kind in ["dyn", "fixed"] {
        assert!(
            std::fs::read(dir.path().join(format!("{kind}-false.vhd"))).unwrap()
                == std::fs::read(dir.path().join(format!("{kind}-true.vhd"))).unwrap(),
            "{kind}"
        );
    }
}

#[test]
fn we_read_what_qemu_writes() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let size = 30 << 20; // not a CHS-exact size
    let contents = sample_disk(&raw, size, 22);
    for opts in [
        "subformat=dynamic",
        "subformat=fixed",
        "subformat=dynamic,force_size=on",
        "subformat=fixed,force_size=on",
    ] {
        let img = dir.path().join("q.vhd");
        qemu_convert(&["-O", "vpc", "-o", opts], &raw, &img);
        let qemu_size = qemu_info(&img, "vpc")["virtual-size"].as_u64().unwrap();
        let back = read_all(&img);
        assert_eq!(back.len() as u64, qemu_size, "{opts}: size as qemu sees it");
        assert!(back.len() >= contents.len(), "{opts}");
        assert!(back[..contents.len()] == contents[..], "{opts}");
        assert!(back[contents.len()..].iter().all(|&b| b == 0), "{opts}");
    }
}

/// An empty disk: a dynamic VHD holds it (qemu opens it and finds it equal
/// to an empty raw, as it does `qemu-img create -f vpc x 0`); a fixed one
/// cannot (its only footer would sit at offset 0, where qemu looks for a
/// dynamic disk's copy — qemu cannot open its own), and is refused.
#[test]
fn empty_disk() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("empty.raw");
    File::create(&raw).unwrap();
    for stream in [false, true] {
        let out = dir.path().join(format!("dynamic-{stream}.vhd"));
        write_vhd(&raw, &out, VhdOptions::dynamic(stamp()), stream);
        assert_eq!(qemu_info(&out, "vpc")["virtual-size"], 0);
        qemu_compare(&raw, "raw", &out, "vpc");
        assert!(read_all(&out).is_empty());
    }
    let theirs = dir.path().join("qemu.vhd");
    testkit::run_ok(
        "qemu-img",
        &[
            "create",
            "-f",
            "vpc",
            "-o",
            "subformat=fixed",
            theirs.to_str().unwrap(),
            "0",
        ],
    );
    assert!(
        testkit::run("qemu-img", &["info", theirs.to_str().unwrap()])
            .status
            .code()
            .is_some_and(|c| c != 0)
    );
    let mut w = VhdWriter::new(
        blocksink::Destination::file(tempfile::tempfile().unwrap()),
        VhdOptions::fixed(stamp()),
    )
    .unwrap();
    let err = blocksink::BlockSink::begin(&mut w, 0, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("fixed VHD cannot hold an empty disk"), "{err}");
}

fn vhd_bytes(disk: &[u8], opts: VhdOptions) -> Vec<u8> {
    testkit::sink_bytes(disk, |d| VhdWriter::new(d, opts).unwrap())
}

fn refix_footer(img: &mut [u8], at: usize) {
    img[at + 64..at + 68].fill(0);
    let sum = vhd::format::checksum(&img[at..at + 512], 64);
    img[at + 64..at + 68].copy_from_slice(&sum.to_be_bytes());
}

#[test]
fn hostile_images_are_refused() {
    let disk = vec![3u8; 5 << 20];
    let good = vhd_bytes(&disk, VhdOptions::dynamic(stamp()));
    // A BAT entry pointing past the end of the file.
    let mut far = good.clone();
    far[1536..1540].copy_from_slice(&0x0100_0000u32.to_be_bytes());
    let err = VhdReader::open(far).unwrap_err().to_string();
    assert!(
        err.contains("BAT entry 0") && err.contains("past the end"),
        "{err}"
    );

    let mut flipped = good.clone();
    let end = flipped.len() - 512;
    flipped[end + 40] ^= 1;
    flipped[40] ^= 1;
    let err = VhdReader::open(flipped).unwrap_err().to_string();
    assert!(err.contains("checksum"), "{err}");

    // A fixed disk claiming more than the file holds.
    let mut fixed = vhd_bytes(&disk, VhdOptions::fixed(stamp()));
    let at = fixed.len() - 512;
    fixed[at + 48..at + 56].copy_from_slice(&(1u64 << 40).to_be_bytes());
    refix_footer(&mut fixed, at);
    let err = VhdReader::open(fixed).unwrap_err().to_string();
    assert!(err.contains("current_size"), "{err}");

    assert!(VhdReader::open(vec![0u8; 100]).is_err());
    assert!(VhdReader::open(good[..3000].to_vec()).is_err());
}

/// Headers that claim huge tables: refused by the spec's and qemu's limits,
/// or read in bounded pieces — never one allocation sized by the header.
#[test]
fn tables_sized_by_the_header_are_bounded() {
    use testkit::vhd_dynamic_image;
    const GIB: u64 = 1 << 30;
    // 2^31 entries of 512-byte blocks for a 2^40-byte disk, in an 8 GiB file.
    let img = vhd_dynamic_image(8 * GIB, 1 << 40, 512, 1 << 31);
    let err = VhdReader::open(img.clone()).unwrap_err().to_string();
    assert!(
        err.contains("max_table_entries = 2147483648") && err.contains("2^29"),
        "{err}"
    );
    assert!(img.largest_read() <= 1024, "{}", img.largest_read());
    // Larger than a VHD can be.
    let err = VhdReader::open(vhd_dynamic_image(8 * GIB, 2041 * GIB, 2 << 20, 1 << 20))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("current_size") && err.contains("2040 GiB"),
        "{err}"
    );
    // The BAT runs past the end of the file.
    let err = VhdReader::open(vhd_dynamic_image(1 << 20, GIB, 512, 1 << 21))
        .unwrap_err()
        .to_string();
    assert!(err.contains("table_offset = 1536"), "{err}");
    // qemu's largest table, 2 GiB, in a file that holds it. Every entry 0
    // (a hole) puts every block at sector 0: more blocks than the file
    // holds, refused at the first one too many, read in pieces.
    let entries = (1u32 << 29) - 1;
    let size = u64::from(entries) * 512;
    let len = 1536 + u64::from(entries) * 4 + 512;
    let img = vhd_dynamic_image(len, size, 512, entries);
    let err = VhdReader::open(img.clone()).unwrap_err().to_string();
    assert!(
        err.contains("BAT entry 2097153 (offset 8390148)") && err.contains("blocks overlap"),
        "{err}"
    );
    assert!(img.largest_read() <= 64 << 10, "{}", img.largest_read());
    // The same table, every block unallocated: opens, reads as zeros, and
    // every walk of the table goes piece by piece.
    let mut img = vhd_dynamic_image(len, size, 512, entries);
    img.fill(1536, u64::from(entries) * 4, 0xff);
    let mut r = VhdReader::open(img.clone()).unwrap();
    assert_eq!(r.size(), size);
    assert!(r.extents().unwrap().is_empty());
    assert!(r.check().unwrap().is_empty());
    let mut buf = vec![1u8; 4096];
    r.read_at(size - 4096, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    assert!(img.largest_read() <= 64 << 10, "{}", img.largest_read());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn round_trip(disk in testkit::sparse_disk(9 << 20), fixed in any::<bool>()) {
        let opts = if fixed { VhdOptions::fixed(stamp()) } else { VhdOptions::dynamic(stamp()) };
        let want_size = opts.virtual_size(disk.len() as u64);
        let mut r = VhdReader::open(vhd_bytes(&disk, opts)).unwrap();
        prop_assert_eq!(r.size(), want_size);
        prop_assert!(testkit::same_disk(&testkit::read_disk(&mut r), &disk));
    }
}

#[test]
fn a_stream_refuses_data_outside_its_plan() {
    testkit::refuses_data_outside_the_plan("VHD", |d| {
        VhdWriter::new(d, VhdOptions::dynamic(stamp())).unwrap()
    });
}
