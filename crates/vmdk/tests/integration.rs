//! VMDK against qemu-img, both ways, plus the stream tail, path safety,
//! round trips and hostile inputs.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::Path;

use blocksink::{convert, BlockSource, BuildStamp, Destination, RawFile};
use proptest::prelude::*;
use testkit::{qemu_check, qemu_compare, qemu_convert, qemu_info, sample_disk};
use vmdk::{VmdkOptions, VmdkReader, VmdkSubformat, VmdkWriter};

fn opts(sub: VmdkSubformat) -> VmdkOptions {
    VmdkOptions::new(sub, "disk.vmdk", BuildStamp::fixed(1_700_000_000, "test"))
}

fn write_vmdk(raw: &Path, out: &Path, o: VmdkOptions, stream: bool) {
    testkit::convert_file(raw, out, stream, |d| VmdkWriter::new(d, o).unwrap());
}

fn read_all(path: &Path) -> Vec<u8> {
    testkit::read_disk(&mut VmdkReader::open_path(path).unwrap())
}

#[test]
fn qemu_accepts_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let size = (70 << 20) + 5 * 512; // more than one grain table, not whole grains
    sample_disk(&raw, size, 41);
    for (name, sub, create) in [
        ("stream", VmdkSubformat::StreamOptimized, "streamOptimized"),
        (
            "sparse",
            VmdkSubformat::MonolithicSparse,
            "monolithicSparse",
        ),
    ] {
        let out = dir.path().join(format!("{name}.vmdk"));
        write_vmdk(&raw, &out, opts(sub), false);
        qemu_check(&out, "vmdk");
        qemu_compare(&raw, "raw", &out, "vmdk");
        let info = qemu_info(&out, "vmdk");
        assert_eq!(info["virtual-size"], size);
        assert_eq!(info["format-specific"]["data"]["create-type"], create);
    }
    // monolithicFlat: a descriptor and the flat extent beside it.
    let desc = dir.path().join("flat.vmdk");
    let flat = dir.path().join("flat-flat.vmdk");
    let mut src = RawFile::new(File::open(&raw).unwrap()).unwrap();
    let mut w = vmdk::VmdkFlatWriter::new(
        Destination::file(File::create(&desc).unwrap()),
        Destination::stream(File::create(&flat).unwrap()),
        VmdkOptions::new(
            VmdkSubformat::MonolithicSparse,
            "flat-flat.vmdk",
            BuildStamp::fixed(0, "t"),
        ),
    )
    .unwrap();
    convert(&mut src, &mut [&mut w], &mut |_, _| {}).unwrap();
    qemu_check(&desc, "vmdk");
    qemu_compare(&raw, "raw", &desc, "vmdk");
    assert_eq!(
        qemu_info(&desc, "vmdk")["format-specific"]["data"]["create-type"],
        "monolithicFlat"
    );
    assert!(testkit::same_disk(
        &read_all(&desc),
        &std::fs::read(&raw).unwrap()
    ));
    // The stream goes to a pipe unchanged.
    let piped = dir.path().join("piped.vmdk");
    write_vmdk(&raw, &piped, opts(VmdkSubformat::StreamOptimized), true);
    assert!(
        std::fs::read(&piped).unwrap() == std::fs::read(dir.path().join("stream.vmdk")).unwrap()
    );
}

/// Parses the end of a stream-optimized file without this crate's reader.
#[test]
fn stream_ends_with_footer_and_end_of_stream() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 9 << 20, 42);
    let out = dir.path().join("s.vmdk");
    write_vmdk(&raw, &out, opts(VmdkSubformat::StreamOptimized), false);
    let b = std::fs::read(&out).unwrap();
    let n = b.len();
    assert_eq!(n % 512, 0);
    let le32 = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let le64 = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    // Header: magic, version 3, compressed + markers, gdOffset at the end.
    assert_eq!(&b[..4], b"KDMV");
    assert_eq!(le32(4), 3);
    assert_eq!(le32(8), 0x30001);
    assert_eq!(le64(56), u64::MAX);
    // Last sector: end-of-stream marker, all zero.
    assert!(b[n - 512..].iter().all(|&x| x == 0));
    // Before it: the footer, a header copy with the real gdOffset.
    let footer = n - 1024;
    assert_eq!(&b[footer..footer + 4], b"KDMV");
    let gd = le64(footer + 56) as usize;
    assert_ne!(gd as u64, u64::MAX);
    // Before that: the footer marker (one sector follows, type 3).
    let fm = n - 1536;
    assert_eq!((le64(fm), le32(fm + 8), le32(fm + 12)), (1, 0, 3));
    // The directory sits behind a GD marker; every table behind a GT marker.
    let gdm = (gd - 1) * 512;
    assert_eq!((le32(gdm + 8), le32(gdm + 12)), (0, 2));
    let first_gt = le32(gd * 512) as usize;
    assert_eq!(le32((first_gt - 1) * 512 + 12), 1);
    // Each grain table entry points at a grain marker for its own LBA.
    for k in 0..512 {
        let grain = le32(first_gt * 512 + 4 * k) as usize;
        if grain != 0 {
            assert_eq!(le64(grain * 512), k as u64 * 128);
            assert!(le32(grain * 512 + 8) > 0);
        }
    }
    // The embedded descriptor names the type.
    let desc = String::from_utf8_lossy(&b[512..512 * 21]);
    assert!(desc.contains("createType=\"streamOptimized\""), "{desc}");
    assert!(desc.contains("ddb.adapterType = \"lsilogic\""));
}

#[test]
fn we_read_what_qemu_writes() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let contents = sample_disk(&raw, (20 << 20) + 512, 43);
    for sub in [
        "monolithicSparse",
        "streamOptimized",
        "monolithicFlat",
        "twoGbMaxExtentSparse",
        "twoGbMaxExtentFlat",
    ] {
        let sub_dir = dir.path().join(sub);
        std::fs::create_dir(&sub_dir).unwrap();
        let img = sub_dir.join("q.vmdk");
        qemu_convert(
            &["-O", "vmdk", "-o", &format!("subformat={sub}")],
            &raw,
            &img,
        );
        assert!(testkit::same_disk(&read_all(&img), &contents), "{sub}");
    }
}

#[test]
fn extent_paths_stay_inside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("img");
    std::fs::create_dir(&inner).unwrap();
    std::fs::write(dir.path().join("secret.raw"), vec![1u8; 1 << 20]).unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.raw"), inner.join("link.raw")).unwrap();
    for name in ["../secret.raw", "/etc/passwd", "link.raw"] {
        let desc = format!(
            "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\nRW 2048 FLAT \"{name}\" 0\n"
        );
        let path = inner.join("d.vmdk");
        std::fs::write(&path, desc).unwrap();
        let err = VmdkReader::open_path(&path).unwrap_err().to_string();
        assert!(err.contains("directory"), "{name}: {err}");
    }
}

/// Delta disks made by qemu-img read as zeros without their parent, so
/// they are refused, naming the line and the parent.
#[test]
fn delta_disks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("parent.raw");
    let contents = sample_disk(&raw, 3 << 20, 44);
    let parent = dir.path().join("parent.vmdk");
    qemu_convert(&["-f", "raw", "-O", "vmdk"], &raw, &parent);
    assert!(testkit::same_disk(&read_all(&parent), &contents));
    for (sub, place) in [
        ("monolithicSparse", "embedded descriptor line 4"),
        ("streamOptimized", "embedded descriptor line 4"),
        ("twoGbMaxExtentSparse", "descriptor line 4"),
    ] {
        let child = dir.path().join(format!("{sub}-child.vmdk"));
        testkit::qemu_vmdk_child(&child, sub, "parent.vmdk");
        // qemu-img reads the parent's data through the child.
        qemu_compare(&raw, "raw", &child, "vmdk");
        let err = VmdkReader::open_path(&child).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{place}: parentCID="))
                && err.contains("delta disk")
                && err.contains("\"parent.vmdk\""),
            "{sub}: {err}"
        );
        if sub != "twoGbMaxExtentSparse" {
            let bytes = std::fs::read(&child).unwrap();
            assert!(VmdkReader::open(Box::new(bytes)).is_err(), "{sub}");
        }
    }
    // Descriptor files: a parentCID, or a parentFileNameHint alone, makes a
    // delta disk; parentCID=ffffffff with no hint is a whole disk.
    std::fs::copy(&raw, dir.path().join("data-flat.vmdk")).unwrap();
    let flat = |header: &str| {
        format!("# Disk DescriptorFile\nversion=1\nCID=1\n{header}createType=\"monolithicFlat\"\nRW 6144 FLAT \"data-flat.vmdk\" 0\n")
    };
    let desc = dir.path().join("flat.vmdk");
    for (header, want) in [
        (
            "parentCID=0badcafe\n",
            "descriptor line 4: parentCID=0badcafe",
        ),
        (
            "parentCID=ffffffff\nparentFileNameHint=\"base.vmdk\"\n",
            "descriptor line 5: parentFileNameHint=base.vmdk",
        ),
    ] {
        std::fs::write(&desc, flat(header)).unwrap();
        let err = VmdkReader::open_path(&desc).unwrap_err().to_string();
        assert!(err.contains(want) && err.contains("delta disk"), "{err}");
    }
    std::fs::write(&desc, flat("parentCID=ffffffff\n")).unwrap();
    assert!(testkit::same_disk(&read_all(&desc), &contents));
}

/// No VMDK holds an empty disk as qemu reads it — it takes a sparse extent
/// of capacity 0 for a descriptor file (and cannot open what `qemu-img
/// create -f vmdk x 0` makes), and skips a flat extent of 0 sectors — so
/// every writer refuses one.
#[test]
fn empty_disk_is_refused() {
    use blocksink::BlockSink;
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("qemu.vmdk");
    testkit::run_ok(
        "qemu-img",
        &["create", "-f", "vmdk", theirs.to_str().unwrap(), "0"],
    );
    assert!(
        testkit::run("qemu-img", &["info", theirs.to_str().unwrap()])
            .status
            .code()
            .is_some_and(|c| c != 0)
    );
    let dest = || Destination::file(tempfile::tempfile().unwrap());
    for (sub, name) in [
        (VmdkSubformat::StreamOptimized, "streamOptimized"),
        (VmdkSubformat::MonolithicSparse, "monolithicSparse"),
    ] {
        let mut w = VmdkWriter::new(dest(), opts(sub)).unwrap();
        let err = w.begin(0, &[]).unwrap_err().to_string();
        assert!(
            err.contains(&format!("a {name} VMDK cannot hold an empty disk")),
            "{err}"
        );
    }
    let mut w = vmdk::VmdkFlatWriter::new(
        dest(),
        dest(),
        VmdkOptions::new(
            VmdkSubformat::MonolithicSparse,
            "x-flat.vmdk",
            BuildStamp::fixed(0, "t"),
        ),
    )
    .unwrap();
    let err = w.begin(0, &[]).unwrap_err().to_string();
    assert!(
        err.contains("monolithicFlat VMDK cannot hold an empty disk"),
        "{err}"
    );
}

fn vmdk_bytes(disk: &[u8], sub: VmdkSubformat) -> Vec<u8> {
    testkit::sink_bytes(disk, |d| VmdkWriter::new(d, opts(sub)).unwrap())
}

#[test]
fn hostile_images_are_refused() {
    let disk = vec![9u8; 1 << 20];
    let good = vmdk_bytes(&disk, VmdkSubformat::MonolithicSparse);
    // Grain directory past the end of the file.
    let mut far = good.clone();
    far[56..64].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let err = VmdkReader::open(Box::new(far)).unwrap_err().to_string();
    assert!(err.contains("past the end"), "{err}");
    // A stream whose footer is missing.
    let stream = vmdk_bytes(&disk, VmdkSubformat::StreamOptimized);
    let cut = stream[..stream.len() - 1536].to_vec();
    let err = VmdkReader::open(Box::new(cut)).unwrap_err().to_string();
    assert!(err.contains("footer"), "{err}");
    // A grain whose data is not zlib.
    let mut bad = stream.clone();
    bad[128 * 512 + 12..128 * 512 + 20].fill(0xff);
    let mut r = VmdkReader::open(Box::new(bad)).unwrap();
    let mut buf = vec![0u8; 4096];
    assert!(r
        .read_at(0, &mut buf)
        .unwrap_err()
        .to_string()
        .contains("zlib"));
    assert!(VmdkReader::open(Box::new(vec![0u8; 100])).is_err());
}

/// Headers that claim huge grain directories: refused by qemu's limit, or
/// read in bounded pieces — never one allocation sized by the header.
#[test]
fn tables_sized_by_the_header_are_bounded() {
    use testkit::vmdk_sparse_image;
    const GIB: u64 = 1 << 30;
    // 2^31 directory entries (an 8 GiB directory) in a file that holds it.
    let img = vmdk_sparse_image(9 * GIB, 1 << 31);
    let err = VmdkReader::open(Box::new(img.clone()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("capacity") && err.contains("2^29"), "{err}");
    assert!(img.largest_read() <= 512, "{}", img.largest_read());
    // The directory runs past the end of the file.
    let err = VmdkReader::open(Box::new(vmdk_sparse_image(GIB, 1 << 29)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gdOffset") && err.contains("past the end"),
        "{err}"
    );
    // qemu's largest directory, 2 GiB, with no table: a 16 PiB disk of
    // zeros, opened and walked piece by piece.
    let img = vmdk_sparse_image(512 + 2 * GIB, 1 << 29);
    let mut r = VmdkReader::open(Box::new(img.clone())).unwrap();
    assert_eq!(r.size(), 1 << 54);
    assert!(r.extents().unwrap().is_empty());
    let mut buf = vec![1u8; 4096];
    r.read_at((1 << 54) - 4096, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    assert!(img.largest_read() <= 64 << 10, "{}", img.largest_read());
    // Two directory entries naming overlapping tables (a table is 4 sectors).
    let mut img = vmdk_sparse_image(GIB, 4);
    let mut gd = Vec::new();
    for sector in [8u32, 0, 10, 0] {
        gd.extend_from_slice(&sector.to_le_bytes());
    }
    img.put(512, &gd);
    let err = VmdkReader::open(Box::new(img)).unwrap_err().to_string();
    assert!(err.contains("sectors 8 and 10, which overlap"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn round_trip(disk in testkit::sparse_disk(5 << 20), stream in any::<bool>()) {
        let sub = if stream { VmdkSubformat::StreamOptimized } else { VmdkSubformat::MonolithicSparse };
        let mut r = VmdkReader::open(Box::new(vmdk_bytes(&disk, sub))).unwrap();
        prop_assert_eq!(r.size(), (disk.len() as u64).next_multiple_of(512));
        prop_assert!(testkit::same_disk(&testkit::read_disk(&mut r), &disk));
    }
}

#[test]
fn a_stream_refuses_data_outside_its_plan() {
    testkit::refuses_data_outside_the_plan("VMDK", |d| {
        VmdkWriter::new(d, opts(VmdkSubformat::StreamOptimized)).unwrap()
    });
}
