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

/// Walks an image's L1 and L2 tables (header fields at their qcow2.txt
/// offsets) and inflates every compressed cluster as qemu declares it, raw
/// deflate with a 4 KiB window (`decompressobj(-12)`), fed 300 bytes at a
/// time as a piecewise reader does, so a back-reference further than the
/// window fails; each cluster must equal the raw disk's. Prints
/// `<compressed> <uncompressed> <bad>`.
const INFLATE_4K: &str = r#"
import struct, sys, zlib
img, raw = open(sys.argv[1], 'rb'), open(sys.argv[2], 'rb')
h = img.read(112)
bits, = struct.unpack('>I', h[20:24])
l1_size, = struct.unpack('>I', h[36:40])
l1_off, = struct.unpack('>Q', h[40:48])
cs, x = 1 << bits, 62 - (bits - 8)
img.seek(l1_off)
l1 = struct.unpack('>%dQ' % l1_size, img.read(8 * l1_size))
compressed = plain = bad = 0
for i, l1e in enumerate(l1):
    l2_off = l1e & 0x00fffffffffffe00
    if not l2_off:
        continue
    img.seek(l2_off)
    for j, e in enumerate(struct.unpack('>%dQ' % (cs // 8), img.read(cs))):
        cluster = i * (cs // 8) + j
        if not e & (1 << 62):
            plain += (e & 0x00fffffffffffe00) != 0
            continue
        compressed += 1
        off = e & ((1 << x) - 1)
        img.seek(off)
        data = img.read((((e >> x) & ((1 << (bits - 8)) - 1)) + 1) * 512 - (off & 511))
        d, out = zlib.decompressobj(-12), []
        try:
            for k in range(0, len(data), 300):
                out.append(d.decompress(data[k:k + 300]))
                if d.eof:
                    break
        except zlib.error as err:
            print('cluster %d at %d: %s' % (cluster, off, err), file=sys.stderr)
            bad += 1
            continue
        raw.seek(cluster * cs)
        if not d.eof or b''.join(out) != raw.read(cs).ljust(cs, b'\0'):
            print('cluster %d at %d: not the disk data' % (cluster, off), file=sys.stderr)
            bad += 1
print(compressed, plain, bad)
"#;

/// Writes `raw` as a deflate-compressed qcow2 with `cluster_size` and
/// `level`, checks it with qemu-img, and has Python inflate every compressed
/// cluster with a 4 KiB window.
fn assert_4k_window(raw: &Path, out: &Path, cluster_size: u32, level: i32) {
    let opts = Qcow2Options {
        cluster_size,
        compression: Some(Compression::Deflate { level }),
    };
    write_qcow2(raw, out, opts);
    qemu_check(out, "qcow2");
    qemu_compare(raw, "raw", out, "qcow2");
    let report = testkit::run("python3", &["-c", INFLATE_4K, s(out), s(raw)]);
    let counts = String::from_utf8_lossy(&report.stdout);
    let counts: Vec<u64> = counts
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let what = format!("cluster_size {cluster_size} level {level}");
    assert!(
        report.status.success() && counts.len() == 3,
        "{what}: {}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(counts[0] > 0, "{what}: no compressed clusters");
    assert_eq!(
        counts[2],
        0,
        "{what}: {} of {} compressed clusters do not inflate with a 4 KiB window:\n{}",
        counts[2],
        counts[0],
        String::from_utf8_lossy(&report.stderr)
            .lines()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Copies regular files from `roots` into `dir` until `budget` bytes, in
/// name order, so the file system holds what an OS disk holds: libraries,
/// text, already-compressed files.
fn gather_files(roots: &[&str], dir: &Path, budget: u64) {
    let mut todo: Vec<std::path::PathBuf> = roots.iter().map(Into::into).collect();
    let mut left = budget;
    let mut n = 0;
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        entries.sort();
        for p in entries.into_iter().rev() {
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if meta.is_dir() {
                todo.push(p);
            } else if meta.is_file() && meta.len() <= 4 << 20 && meta.len() <= left {
                n += 1;
                if std::fs::copy(&p, dir.join(format!("f{n:05}"))).is_ok() {
                    left -= meta.len();
                }
            }
        }
        if left < 4096 {
            return;
        }
    }
    assert!(
        left < budget / 4,
        "found only {} bytes of files",
        budget - left
    );
}

#[test]
fn os_disk_clusters_inflate_with_a_4k_window() {
    let dir = tempfile::tempdir().unwrap();
    // An ext4 holding 64 MiB of the system's own files.
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    gather_files(&["/usr/lib", "/usr/share"], &files, 64 << 20);
    let os = dir.path().join("os.raw");
    testkit::run_ok(
        "mke2fs",
        &[
            "-q",
            "-F",
            "-t",
            "ext4",
            "-b",
            "4096",
            "-d",
            s(&files),
            s(&os),
            "96M",
        ],
    );
    for (cluster_size, level) in [(65536, 6), (65536, 1), (65536, 9), (4096, 6), (2 << 20, 6)] {
        let out = dir.path().join(format!("os-{cluster_size}-{level}.qcow2"));
        assert_4k_window(&os, &out, cluster_size, level);
    }
}

#[test]
fn mixed_clusters_inflate_with_a_4k_window() {
    let dir = tempfile::tempdir().unwrap();
    // Random blocks, holes, and text whose phrases recur from 4 to 30 KiB
    // back, with random runs inside.
    let mixed = dir.path().join("mixed.raw");
    let mut rng = testkit::Rng::new(12);
    let words: Vec<String> = (0..400)
        .map(|_| {
            (0..2 + rng.below(8))
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect()
        })
        .collect();
    let mut disk = vec![0u8; 24 << 20];
    for block in disk.chunks_mut(64 << 10) {
        match rng.below(4) {
            0 => rng.fill(block),
            1 => {}
            _ => {
                let period = 4096 + rng.below(26 << 10) as usize;
                let mut text = Vec::new();
                while text.len() < period {
                    text.extend_from_slice(words[rng.below(400) as usize].as_bytes());
                    text.push(b' ');
                }
                for (i, b) in block.iter_mut().enumerate() {
                    *b = text[i % period];
                }
                let at = rng.below(block.len() as u64 / 2) as usize;
                rng.fill(&mut block[at..at + 8192]);
            }
        }
    }
    std::fs::write(&mixed, &disk).unwrap();
    for (cluster_size, level) in [(65536, 6), (65536, 9), (2 << 20, 1)] {
        let out = dir
            .path()
            .join(format!("mixed-{cluster_size}-{level}.qcow2"));
        assert_4k_window(&mixed, &out, cluster_size, level);
    }
}

#[test]
fn compressed_clusters_fill_the_room_left_before_uncompressed_ones() {
    // 40 times a cluster that deflates to about 40 KiB then a random one
    // (stored as it is), then 80 clusters that deflate to about 1 KiB: these
    // fit in the room after the 40 KiB ones and take no cluster of their own.
    let cs = 64 << 10;
    let mut rng = testkit::Rng::new(40);
    let mut disk = vec![0u8; 160 * cs];
    for (i, c) in disk.chunks_mut(cs).enumerate() {
        let random = match i {
            0..80 if i % 2 == 0 => 40 << 10,
            0..80 => cs,
            _ => 800,
        };
        for b in &mut c[..random] {
            *b = rng.next_u64() as u8;
        }
        for (j, b) in c[random..].iter_mut().enumerate() {
            *b = b"compressible "[j % 13];
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    std::fs::write(&raw, &disk).unwrap();
    let out = dir.path().join("packed.qcow2");
    let opts = Qcow2Options {
        compression: Some(Compression::DEFLATE),
        ..Default::default()
    };
    write_qcow2(&raw, &out, opts);
    qemu_check(&out, "qcow2");
    qemu_compare(&raw, "raw", &out, "qcow2");
    // Header, 40 + 40 data clusters, L2 table, L1 table, refcount table and block.
    let len = std::fs::metadata(&out).unwrap().len();
    assert_eq!(len / cs as u64, 85, "{len} bytes");
}

#[test]
fn an_empty_disk_makes_a_clean_image() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("empty.raw");
    File::create(&raw).unwrap();
    // What qemu-img writes for it: header, refcount table and block.
    let qemu = dir.path().join("qemu.qcow2");
    qemu_convert(&["-O", "qcow2"], &raw, &qemu);
    let qemu_len = std::fs::metadata(&qemu).unwrap().len();
    for (name, stream, compression) in [
        ("file", false, None),
        ("deflate", false, Some(Compression::DEFLATE)),
        ("zstd", false, Some(Compression::ZSTD)),
        ("stream", true, None),
    ] {
        let out = dir.path().join(format!("{name}.qcow2"));
        testkit::convert_file(&raw, &out, stream, |d| {
            let opts = Qcow2Options {
                compression,
                ..Default::default()
            };
            Qcow2Writer::new(d, opts).unwrap()
        });
        let check = testkit::run("qemu-img", &["check", s(&out)]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "{name}: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        assert_eq!(qemu_info(&out, "qcow2")["virtual-size"], 0, "{name}");
        assert_eq!(std::fs::metadata(&out).unwrap().len(), qemu_len, "{name}");
        let mut reader = Qcow2Reader::open(File::open(&out).unwrap()).unwrap();
        assert_eq!(reader.size(), 0);
        let report = reader.check().unwrap();
        assert!(
            report.corruptions.is_empty() && report.leaked_clusters == 0,
            "{name}"
        );
    }
}

#[test]
fn a_stream_refuses_data_outside_its_plan() {
    testkit::refuses_data_outside_the_plan("qcow2", |d| {
        Qcow2Writer::new(d, Qcow2Options::default()).unwrap()
    });
}
