//! Throughput of every writer and reader on a 64 MiB disk, half data:
//! qcow2 (plain, deflate, zstd), VHD (dynamic, fixed), VHDX (dynamic,
//! fixed), VMDK (monolithicSparse, streamOptimized, monolithicFlat), OVA and
//! raw; ISO 9660 from a 32 MiB tree and back; GPT tables.
#![allow(missing_docs, clippy::unwrap_used)]

use std::fs::File;
use std::sync::Arc;

use blocksink::{convert, BlockSink, BlockSource, BuildStamp, Destination, MemSource, RawSink};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SIZE: usize = 64 << 20;

/// 64 MiB: alternating 1 MiB of data (half compressible) and 1 MiB of zeros.
fn disk() -> Vec<u8> {
    let mut rng = testkit::Rng::new(99);
    let mut d = vec![0u8; SIZE];
    for chunk in d.chunks_mut(2 << 20) {
        rng.fill(&mut chunk[..1 << 20]);
    }
    d
}

/// Makes the writer under test.
type MakeSink = Box<dyn Fn(Destination) -> Box<dyn BlockSink>>;
/// Opens what that writer wrote.
type Open = Box<dyn Fn(File) -> Box<dyn BlockSource>>;

fn stamp() -> BuildStamp {
    BuildStamp::fixed(0, "bench")
}

fn qcow2_with(compression: Option<qcow2::Compression>) -> MakeSink {
    Box::new(move |d| {
        let o = qcow2::Qcow2Options {
            compression,
            ..Default::default()
        };
        Box::new(qcow2::Qcow2Writer::new(d, o).unwrap())
    })
}

fn vmdk_with(sub: vmdk::VmdkSubformat) -> MakeSink {
    Box::new(move |d| {
        let o = vmdk::VmdkOptions::new(sub, "bench.vmdk", stamp());
        Box::new(vmdk::VmdkWriter::new(d, o).unwrap())
    })
}

/// Every single-file format: its name, its writer, its reader.
fn formats() -> Vec<(&'static str, MakeSink, Open)> {
    let open_qcow2: fn() -> Open = || Box::new(|f| Box::new(qcow2::Qcow2Reader::open(f).unwrap()));
    let open_vhd: fn() -> Open = || Box::new(|f| Box::new(vhd::VhdReader::open(f).unwrap()));
    let open_vhdx: fn() -> Open = || Box::new(|f| Box::new(vhdx::VhdxReader::open(f).unwrap()));
    let open_vmdk: fn() -> Open =
        || Box::new(|f| Box::new(vmdk::VmdkReader::open(Box::new(f)).unwrap()));
    vec![
        (
            "raw",
            Box::new(|d| Box::new(RawSink::new(d))),
            Box::new(|f| Box::new(blocksink::RawFile::new(f).unwrap())),
        ),
        ("qcow2", qcow2_with(None), open_qcow2()),
        (
            "qcow2 deflate",
            qcow2_with(Some(qcow2::Compression::DEFLATE)),
            open_qcow2(),
        ),
        (
            "qcow2 zstd",
            qcow2_with(Some(qcow2::Compression::ZSTD)),
            open_qcow2(),
        ),
        (
            "vhd dynamic",
            Box::new(|d| {
                Box::new(vhd::VhdWriter::new(d, vhd::VhdOptions::dynamic(stamp())).unwrap())
            }),
            open_vhd(),
        ),
        (
            "vhd fixed",
            Box::new(|d| {
                Box::new(vhd::VhdWriter::new(d, vhd::VhdOptions::fixed(stamp())).unwrap())
            }),
            open_vhd(),
        ),
        (
            "vhdx dynamic",
            Box::new(|d| {
                Box::new(vhdx::VhdxWriter::new(d, vhdx::VhdxOptions::dynamic(stamp())).unwrap())
            }),
            open_vhdx(),
        ),
        (
            "vhdx fixed",
            Box::new(|d| {
                Box::new(vhdx::VhdxWriter::new(d, vhdx::VhdxOptions::fixed(stamp())).unwrap())
            }),
            open_vhdx(),
        ),
        (
            "vmdk sparse",
            vmdk_with(vmdk::VmdkSubformat::MonolithicSparse),
            open_vmdk(),
        ),
        (
            "vmdk stream",
            vmdk_with(vmdk::VmdkSubformat::StreamOptimized),
            open_vmdk(),
        ),
        (
            "ova",
            Box::new(|d| {
                let vm = ova_tar::VmSettings::linux("bench");
                Box::new(ova_tar::OvaWriter::new(d, vm, stamp()).unwrap())
            }),
            Box::new(|f| Box::new(ova_tar::OvaReader::open(Arc::new(f)).unwrap())),
        ),
    ]
}

fn write(make: &dyn Fn(Destination) -> Box<dyn BlockSink>, disk: &[u8]) -> File {
    let out = tempfile::tempfile().unwrap();
    let mut sink = make(Destination::file(out.try_clone().unwrap()));
    let mut src = MemSource::new(disk.to_vec());
    convert(&mut src, &mut [sink.as_mut()], &mut |_, _| {}).unwrap();
    out
}

/// Reads every byte that may hold data, 1 MiB at a time.
fn read_all(src: &mut dyn BlockSource) {
    let mut buf = vec![0u8; 1 << 20];
    for e in src.extents().unwrap() {
        let mut pos = e.offset;
        while pos < e.end() {
            let n = (e.end() - pos).min(1 << 20) as usize;
            src.read_at(pos, &mut buf[..n]).unwrap();
            pos += n as u64;
        }
    }
}

fn writers(c: &mut Criterion) {
    let disk = disk();
    let mut g = c.benchmark_group("write 64 MiB (32 MiB data)");
    g.throughput(Throughput::Bytes(SIZE as u64 / 2));
    g.sample_size(10);
    for (name, make, _) in formats() {
        g.bench_function(name, |b| b.iter(|| write(make.as_ref(), &disk)));
    }
    g.bench_function("vmdk flat", |b| {
        b.iter(|| {
            let (desc, flat) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
            let o = vmdk::VmdkOptions::new(
                vmdk::VmdkSubformat::MonolithicSparse,
                "bench-flat.vmdk",
                stamp(),
            );
            let mut w =
                vmdk::VmdkFlatWriter::new(Destination::file(desc), Destination::file(flat), o)
                    .unwrap();
            convert(
                &mut MemSource::new(disk.clone()),
                &mut [&mut w],
                &mut |_, _| {},
            )
            .unwrap();
        })
    });
    g.finish();
}

fn readers(c: &mut Criterion) {
    let disk = disk();
    let mut g = c.benchmark_group("read 64 MiB (32 MiB data)");
    g.throughput(Throughput::Bytes(SIZE as u64 / 2));
    g.sample_size(10);
    for (name, make, open) in formats() {
        let file = write(make.as_ref(), &disk);
        g.bench_function(name, |b| {
            b.iter(|| read_all(open(file.try_clone().unwrap()).as_mut()))
        });
    }
    g.finish();
}

/// A 32 MiB tree: 64 files of 512 KiB in 8 directories.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = testkit::Rng::new(7);
    let mut buf = vec![0u8; 512 << 10];
    for d in 0..8 {
        let sub = dir.path().join(format!("dir{d}"));
        std::fs::create_dir(&sub).unwrap();
        for f in 0..8 {
            rng.fill(&mut buf[..256 << 10]);
            std::fs::write(sub.join(format!("file{f}.bin")), &buf).unwrap();
        }
    }
    dir
}

fn write_iso(dir: &std::path::Path) -> File {
    let out = tempfile::tempfile().unwrap();
    let tree = iso9660::Tree::from_dir(dir).unwrap();
    let w = iso9660::IsoWriter::new(tree, iso9660::IsoOptions::default(), &stamp()).unwrap();
    w.write(
        &mut Destination::file(out.try_clone().unwrap()),
        &mut |_| {},
    )
    .unwrap();
    out
}

fn iso(c: &mut Criterion) {
    let dir = tree();
    let mut g = c.benchmark_group("ISO 9660, 32 MiB tree");
    g.throughput(Throughput::Bytes(32 << 20));
    g.sample_size(10);
    g.bench_function("write", |b| b.iter(|| write_iso(dir.path())));
    let iso = write_iso(dir.path());
    g.bench_function("read every file", |b| {
        b.iter(|| {
            let img = iso9660::IsoImage::open(iso.try_clone().unwrap()).unwrap();
            for e in img.entries().unwrap() {
                if e.kind == iso9660::IsoKind::File {
                    img.read_file(&e, &mut std::io::sink()).unwrap();
                }
            }
        })
    });
    g.finish();
}

fn gpt_tables(c: &mut Criterion) {
    let size = 64u64 << 20;
    let specs: Vec<gpt::PartitionSpec> = (0..8)
        .map(|i| gpt::PartitionSpec {
            name: format!("part{i}"),
            type_name: "linux".into(),
            size: Some(4 << 20),
        })
        .collect();
    let build = || {
        let mut t = gpt::Gpt::new(size, uuid::Uuid::from_u128(1)).unwrap();
        t.add_partitions(&specs, 1 << 20, |i| uuid::Uuid::from_u128(i as u128 + 2))
            .unwrap();
        t.regions().unwrap()
    };
    let mut g = c.benchmark_group("GPT, 8 partitions");
    g.bench_function("build", |b| b.iter(build));
    let mut disk = vec![0u8; size as usize];
    for (at, bytes) in build() {
        disk[at as usize..at as usize + bytes.len()].copy_from_slice(&bytes);
    }
    g.bench_function("read and verify", |b| {
        b.iter(|| {
            let mut src = MemSource::new(disk.clone());
            gpt::Gpt::read(&mut src).unwrap();
            gpt::Gpt::verify(&mut src).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, writers, readers, iso, gpt_tables);
criterion_main!(benches);
