//! QCOW2 against qemu-img, both ways, plus round trips and hostile inputs.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::Path;

use blocksink::{convert, BlockSource, Destination, MemSource};
use proptest::prelude::*;
use qcow2::{Compression, Qcow2Options, Qcow2Reader, Qcow2Writer};
use testkit::{qemu_check, qemu_compare, qemu_convert, qemu_info, sample_disk};

fn write_qcow2(raw: &Path, out: &Path, opts: Qcow2Options) {
    testkit::convert_file(raw, out, false, |d| Qcow2Writer::new(d, opts).unwrap());
}

fn read_all(img: &Path) -> Vec<u8> {
    testkit::read_disk(&mut Qcow2Reader::open(File::open(img).unwrap()).unwrap())
}

#[test]
fn qemu_accepts_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    // Not a whole number of clusters or MiB.
    sample_disk(&raw, (40 << 20) + 7 * 512 + 3, 1);
    let cases = [
        ("plain", Qcow2Options::default()),
        (
            "small-clusters",
            Qcow2Options {
                cluster_size: 4096,
                ..Default::default()
            },
        ),
        (
            "big-clusters",
            Qcow2Options {
                cluster_size: 2 << 20,
                ..Default::default()
            },
        ),
        (
            "deflate",
            Qcow2Options {
                compression: Some(Compression::DEFLATE),
                ..Default::default()
            },
        ),
        (
            "deflate-512",
            Qcow2Options {
                cluster_size: 512,
                compression: Some(Compression::DEFLATE),
            },
        ),
        (
            "zstd",
            Qcow2Options {
                compression: Some(Compression::ZSTD),
                ..Default::default()
            },
        ),
    ];
    for (name, opts) in cases {
        let out = dir.path().join(format!("{name}.qcow2"));
        write_qcow2(&raw, &out, opts.clone());
        qemu_check(&out, "qcow2");
        qemu_compare(&raw, "raw", &out, "qcow2");
        let info = qemu_info(&out, "qcow2");
        assert_eq!(info["format"], "qcow2", "{name}");
        let raw_len = std::fs::metadata(&raw).unwrap().len();
        assert_eq!(
            info["virtual-size"],
            raw_len.next_multiple_of(512),
            "{name}"
        );
        assert_eq!(info["cluster-size"], opts.cluster_size, "{name}");
        let ctype = if name == "zstd" { "zstd" } else { "zlib" };
        assert_eq!(info["format-specific"]["data"]["compression-type"], ctype);
    }
}

#[test]
fn we_read_what_qemu_writes() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let contents = sample_disk(&raw, 24 << 20, 2);
    let variants: &[&[&str]] = &[
        &["-O", "qcow2"],
        &["-O", "qcow2", "-o", "compat=0.10"],
        &["-O", "qcow2", "-c"],
        &["-O", "qcow2", "-c", "-o", "compression_type=zstd"],
        &["-O", "qcow2", "-o", "cluster_size=4096"],
        &["-O", "qcow2", "-c", "-o", "cluster_size=2M"],
        &["-O", "qcow2", "-o", "lazy_refcounts=on"],
        &["-O", "qcow2", "-o", "extended_l2=on"],
        &["-O", "qcow2", "-o", "extended_l2=on,cluster_size=128k"],
        &["-O", "qcow2", "-o", "preallocation=metadata"],
        &["-O", "qcow2", "-o", "refcount_bits=1"],
    ];
    for (i, args) in variants.iter().enumerate() {
        let img = dir.path().join(format!("q{i}.qcow2"));
        qemu_convert(args, &raw, &img);
        assert!(read_all(&img) == contents, "{args:?}: contents differ");
        let report = Qcow2Reader::open(File::open(&img).unwrap())
            .unwrap()
            .check()
            .unwrap();
        assert!(
            report.corruptions.is_empty(),
            "{args:?}: {:?}",
            report.corruptions
        );
        assert_eq!(report.leaked_clusters, 0, "{args:?}");
    }
}

#[test]
fn stream_layout_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 30 << 20, 3);
    let out = dir.path().join("stream.qcow2");
    let file = File::create(&out).unwrap();
    drop(file);
    testkit::convert_file(&raw, &out, true, |d| {
        Qcow2Writer::new(d, Qcow2Options::default()).unwrap()
    });
    qemu_check(&out, "qcow2");
    qemu_compare(&raw, "raw", &out, "qcow2");
}

#[test]
fn compressed_stream_is_refused() {
    let opts = Qcow2Options {
        compression: Some(Compression::DEFLATE),
        ..Default::default()
    };
    let mut w = Qcow2Writer::new(Destination::stream(std::io::sink()), opts).unwrap();
    let err = convert(
        &mut MemSource::new(vec![1u8; 4096]),
        &mut [&mut w],
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("stream"), "{err}");
}

fn qcow2_bytes(disk: &[u8], opts: Qcow2Options) -> Vec<u8> {
    testkit::sink_bytes(disk, |d| Qcow2Writer::new(d, opts).unwrap())
}

#[test]
fn hostile_headers_are_refused() {
    let good = qcow2_bytes(&[7u8; 70000], Qcow2Options::default());
    let mut huge_l1 = good.clone();
    huge_l1[36..40].copy_from_slice(&(1u32 << 31).to_be_bytes());
    let err = Qcow2Reader::open(huge_l1).unwrap_err().to_string();
    assert!(err.contains("l1_size"), "{err}");

    let mut bad_bits = good.clone();
    bad_bits[20..24].copy_from_slice(&40u32.to_be_bytes());
    assert!(Qcow2Reader::open(bad_bits)
        .unwrap_err()
        .to_string()
        .contains("cluster_bits"));

    let mut backing = good.clone();
    backing[8..16].copy_from_slice(&200u64.to_be_bytes());
    backing[16..20].copy_from_slice(&4u32.to_be_bytes());
    let err = Qcow2Reader::open(backing).unwrap_err().to_string();
    assert!(err.contains("backing file"), "{err}");

    // The L1 entry pointing past the end of the file: an error when reading.
    let l1_off = u64::from_be_bytes(good[40..48].try_into().unwrap()) as usize;
    let mut far = good.clone();
    far[l1_off..l1_off + 8].copy_from_slice(&((1u64 << 40) | (1 << 63)).to_be_bytes());
    let mut r = Qcow2Reader::open(far).unwrap();
    let mut buf = [0u8; 512];
    let err = r.read_at(0, &mut buf).unwrap_err().to_string();
    assert!(err.contains("past the end"), "{err}");

    for cut in [0, 50, 100, 200] {
        assert!(Qcow2Reader::open(good[..cut].to_vec()).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn round_trip(disk in testkit::sparse_disk(3 << 20), bits in 9u32..18, mode in 0u8..3) {
        let compression = match mode {
            0 => None,
            1 => Some(Compression::DEFLATE),
            _ => Some(Compression::ZSTD),
        };
        let opts = Qcow2Options { cluster_size: 1 << bits, compression };
        let img = qcow2_bytes(&disk, opts);
        let mut r = Qcow2Reader::open(img).unwrap();
        prop_assert_eq!(r.size(), (disk.len() as u64).next_multiple_of(512));
        prop_assert!(testkit::same_disk(&testkit::read_disk(&mut r), &disk));
    }
}

/// `check` on a huge, nearly empty file: memory and time follow the
/// references the tables hold, not the length of the file (a 1 PiB file of
/// 512-byte clusters would mean 2^41 counters).
#[test]
fn check_of_a_huge_sparse_file_stays_small() {
    let img = testkit::qcow2_empty_image(1 << 50, 9);
    let report = Qcow2Reader::open(img.clone()).unwrap().check().unwrap();
    // The header and the refcount table are used, and no block counts them.
    assert_eq!(report.leaked_clusters, 0);
    assert_eq!(
        report.corruptions,
        [
            "cluster 0 (offset 0x0) is used 1 times but its refcount is 0",
            "cluster 1 (offset 0x200) is used 1 times but its refcount is 0",
        ]
    );
    assert!(img.largest_read() <= 512, "{}", img.largest_read());
}

#[test]
fn check_agrees_with_qemu_on_leaks_and_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 8 << 20, 5);
    let img = dir.path().join("d.qcow2");
    write_qcow2(&raw, &img, Qcow2Options::default());
    let bytes = std::fs::read(&img).unwrap();
    let rt = u64::from_be_bytes(bytes[48..56].try_into().unwrap()) as usize;
    let block = u64::from_be_bytes(bytes[rt..rt + 8].try_into().unwrap()) as usize;
    // (cluster, refcount): the header counted twice leaks; the first data
    // cluster with refcount 0 is corrupt; with 2, its COPIED flag is wrong.
    for (cluster, value, qemu_exit, leaks, corrupt) in [
        (0usize, 2u16, 3, 1, false),
        (1, 0, 2, 0, true),
        (1, 2, 2, 1, true),
    ] {
        let mut b = bytes.clone();
        b[block + 2 * cluster..block + 2 * cluster + 2].copy_from_slice(&value.to_be_bytes());
        std::fs::write(&img, &b).unwrap();
        let out = testkit::run("qemu-img", &["check", img.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(qemu_exit));
        let report = Qcow2Reader::open(b).unwrap().check().unwrap();
        assert_eq!(report.leaked_clusters, leaks);
        assert_eq!(
            !report.corruptions.is_empty(),
            corrupt,
            "{:?}",
            report.corruptions
        );
    }
}
