//! VHDX against qemu-img, both ways, plus round trips and hostile inputs.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::Path;

use blocksink::{BlockSource, BuildStamp};
use proptest::prelude::*;
use testkit::{qemu_check, qemu_compare, qemu_convert, qemu_info, sample_disk};
use vhdx::{VhdxOptions, VhdxReader, VhdxWriter};

fn stamp() -> BuildStamp {
    BuildStamp::fixed(1_700_000_000, "test")
}

fn write_vhdx(raw: &Path, out: &Path, opts: VhdxOptions, stream: bool) {
    testkit::convert_file(raw, out, stream, |d| VhdxWriter::new(d, opts).unwrap());
}

fn read_all(img: &Path) -> Vec<u8> {
    testkit::read_disk(&mut VhdxReader::open(File::open(img).unwrap()).unwrap())
}

#[test]
fn qemu_accepts_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let size = (37 << 20) + 3 * 512;
    sample_disk(&raw, size, 31);
    let cases = [
        ("dynamic", VhdxOptions::dynamic(stamp())),
        ("fixed", VhdxOptions::fixed(stamp())),
        (
            "dynamic-32m",
            VhdxOptions {
                block_size: 32 << 20,
                ..VhdxOptions::dynamic(stamp())
            },
        ),
        (
            "dynamic-1m",
            VhdxOptions {
                block_size: 1 << 20,
                ..VhdxOptions::dynamic(stamp())
            },
        ),
    ];
    for (name, opts) in cases {
        for stream in [false, true] {
            let out = dir.path().join(format!("{name}-{stream}.vhdx"));
            write_vhdx(&raw, &out, opts.clone(), stream);
            qemu_check(&out, "vhdx");
            qemu_compare(&raw, "raw", &out, "vhdx");
            let info = qemu_info(&out, "vhdx");
            assert_eq!(info["format"], "vhdx");
            assert_eq!(info["virtual-size"], size, "{name}");
        }
        assert!(
            std::fs::read(dir.path().join(format!("{name}-false.vhdx"))).unwrap()
                == std::fs::read(dir.path().join(format!("{name}-true.vhdx"))).unwrap(),
            "{name}: stream and file differ"
        );
    }
}

#[test]
fn we_read_what_qemu_writes() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let contents = sample_disk(&raw, (30 << 20) + 512, 32);
    for opts in [
        "subformat=dynamic",
        "subformat=fixed",
        "subformat=dynamic,block_size=1M",
        "subformat=dynamic,block_size=8M",
        "subformat=dynamic,block_size=256M",
        "subformat=dynamic,log_size=4M",
    ] {
        let img = dir.path().join("q.vhdx");
        qemu_convert(&["-O", "vhdx", "-o", opts], &raw, &img);
        let back = read_all(&img);
        assert!(back == contents, "{opts}");
    }
}

/// An empty disk, dynamic and fixed, to a file and to a stream: qemu opens
/// it (its BAT region is as large as qemu computes for 0 blocks), checks it
/// clean and finds it equal to an empty raw, as it does `qemu-img create -f
/// vhdx x 0`; and this crate reads both.
#[test]
fn empty_disk() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("empty.raw");
    File::create(&raw).unwrap();
    for (name, fixed, block_size, stream) in [
        ("dynamic", false, 2 << 20, false),
        ("fixed", true, 2 << 20, false),
        ("stream", false, 2 << 20, true),
        ("small-blocks", false, 1 << 20, false),
    ] {
        let out = dir.path().join(format!("{name}.vhdx"));
        let mut o = VhdxOptions::dynamic(stamp());
        (o.fixed, o.block_size) = (fixed, block_size);
        write_vhdx(&raw, &out, o, stream);
        qemu_check(&out, "vhdx");
        qemu_compare(&raw, "raw", &out, "vhdx");
        assert_eq!(qemu_info(&out, "vhdx")["virtual-size"], 0, "{name}");
        assert!(read_all(&out).is_empty(), "{name}");
    }
    // 256 MiB blocks would need a 2 GiB BAT region, more than qemu reads.
    let mut o = VhdxOptions::dynamic(stamp());
    o.block_size = 256 << 20;
    let mut w = VhdxWriter::new(
        blocksink::Destination::file(tempfile::tempfile().unwrap()),
        o,
    )
    .unwrap();
    let err = blocksink::BlockSink::begin(&mut w, 0, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot hold an empty disk"), "{err}");
    let theirs = dir.path().join("qemu.vhdx");
    testkit::run_ok(
        "qemu-img",
        &["create", "-f", "vhdx", theirs.to_str().unwrap(), "0"],
    );
    assert!(read_all(&theirs).is_empty());
}

fn vhdx_bytes(disk: &[u8], opts: VhdxOptions) -> Vec<u8> {
    testkit::sink_bytes(disk, |d| VhdxWriter::new(d, opts).unwrap())
}

fn rehash(img: &mut [u8], at: usize, len: usize) {
    img[at + 4..at + 8].fill(0);
    let c = crc32c::crc32c(&img[at..at + len]);
    img[at + 4..at + 8].copy_from_slice(&c.to_le_bytes());
}

#[test]
fn hostile_images_are_refused() {
    let disk = vec![5u8; 3 << 20];
    let good = vhdx_bytes(&disk, VhdxOptions::dynamic(stamp()));
    // A log that still holds entries: refused, not read as if empty.
    let mut dirty = good.clone();
    for at in [64 << 10, 128 << 10] {
        dirty[at + 48..at + 64].copy_from_slice(&[7u8; 16]);
        rehash(&mut dirty, at, 4096);
    }
    let err = VhdxReader::open(dirty).unwrap_err().to_string();
    assert!(err.contains("log"), "{err}");

    // A BAT entry pointing past the end of the file.
    let mut far = good.clone();
    let bat = 3 << 20;
    far[bat..bat + 8].copy_from_slice(&((1u64 << 40) | 6).to_le_bytes());
    let err = VhdxReader::open(far).unwrap_err().to_string();
    assert!(err.contains("outside the file"), "{err}");

    // Both headers damaged.
    let mut flipped = good.clone();
    flipped[(64 << 10) + 100] ^= 1;
    flipped[(128 << 10) + 100] ^= 1;
    let err = VhdxReader::open(flipped).unwrap_err().to_string();
    assert!(err.contains("CRC-32C"), "{err}");

    // One header damaged: the other one is used.
    let mut one = good.clone();
    one[(128 << 10) + 100] ^= 1;
    assert_eq!(VhdxReader::open(one).unwrap().info().header.0, 1);

    // Every BAT entry naming the one block the file holds: more blocks
    // than the file can hold, so they overlap.
    let mut sparse = vec![0u8; 64 << 20];
    sparse[..1 << 20].fill(5);
    let mut opts = VhdxOptions::dynamic(stamp());
    opts.block_size = 1 << 20;
    let mut piled = vhdx_bytes(&sparse, opts);
    let first = piled[bat..bat + 8].to_vec();
    for b in 1..64 {
        piled[bat + 8 * b..bat + 8 * b + 8].copy_from_slice(&first);
    }
    let err = VhdxReader::open(piled).unwrap_err().to_string();
    assert!(err.contains("blocks overlap"), "{err}");

    // A metadata item listed twice.
    let meta = 2 << 20;
    let mut twice = good.clone();
    let count = u16::from_le_bytes([twice[meta + 10], twice[meta + 11]]) as usize;
    let entry = twice[meta + 32..meta + 64].to_vec();
    twice[meta + 32 + 32 * count..meta + 64 + 32 * count].copy_from_slice(&entry);
    twice[meta + 10..meta + 12].copy_from_slice(&(count as u16 + 1).to_le_bytes());
    let err = VhdxReader::open(twice).unwrap_err().to_string();
    assert!(err.contains("appears twice"), "{err}");

    assert!(VhdxReader::open(good[..5 << 20].to_vec()).is_err() || good.len() <= 5 << 20);
    assert!(VhdxReader::open(vec![0u8; 4 << 20]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn round_trip(disk in testkit::sparse_disk(9 << 20), fixed in any::<bool>()) {
        let opts = if fixed { VhdxOptions::fixed(stamp()) } else { VhdxOptions::dynamic(stamp()) };
        let mut r = VhdxReader::open(vhdx_bytes(&disk, opts)).unwrap();
        prop_assert_eq!(r.size(), (disk.len() as u64).next_multiple_of(512));
        prop_assert!(testkit::same_disk(&testkit::read_disk(&mut r), &disk));
    }
}

#[test]
fn a_stream_refuses_data_outside_its_plan() {
    testkit::refuses_data_outside_the_plan("VHDX", |d| {
        VhdxWriter::new(d, VhdxOptions::dynamic(stamp())).unwrap()
    });
}
