//! Throughput of each writer (and reader) on a 64 MiB disk, half data.
#![allow(missing_docs, clippy::unwrap_used)]

use blocksink::{convert, BlockSink, BlockSource, BuildStamp, Destination, MemSource};
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

fn run(make: &dyn Fn(Destination) -> Box<dyn BlockSink>, disk: &[u8]) {
    let out = tempfile::tempfile().unwrap();
    let mut sink = make(Destination::file(out));
    let mut src = MemSource::new(disk.to_vec());
    convert(&mut src, &mut [sink.as_mut()], &mut |_, _| {}).unwrap();
}

fn writers(c: &mut Criterion) {
    let disk = disk();
    let stamp = BuildStamp::fixed(0, "bench");
    let mut g = c.benchmark_group("write 64 MiB (32 MiB data)");
    g.throughput(Throughput::Bytes(SIZE as u64 / 2));
    g.sample_size(10);
    let cases: Vec<(&str, MakeSink)> = vec![
        (
            "qcow2",
            Box::new(|d| {
                Box::new(qcow2::Qcow2Writer::new(d, qcow2::Qcow2Options::default()).unwrap())
            }),
        ),
        (
            "qcow2 deflate",
            Box::new(|d| {
                let o = qcow2::Qcow2Options {
                    compression: Some(qcow2::Compression::DEFLATE),
                    ..Default::default()
                };
                Box::new(qcow2::Qcow2Writer::new(d, o).unwrap())
            }),
        ),
        (
            "qcow2 zstd",
            Box::new(|d| {
                let o = qcow2::Qcow2Options {
                    compression: Some(qcow2::Compression::ZSTD),
                    ..Default::default()
                };
                Box::new(qcow2::Qcow2Writer::new(d, o).unwrap())
            }),
        ),
        ("vhd dynamic", {
            let s = stamp.clone();
            Box::new(move |d| {
                Box::new(vhd::VhdWriter::new(d, vhd::VhdOptions::dynamic(s.clone())).unwrap())
            })
        }),
        ("vhd fixed", {
            let s = stamp.clone();
            Box::new(move |d| {
                Box::new(vhd::VhdWriter::new(d, vhd::VhdOptions::fixed(s.clone())).unwrap())
            })
        }),
    ];
    for (name, make) in &cases {
        g.bench_function(*name, |b| b.iter(|| run(make.as_ref(), &disk)));
    }
    g.finish();
}

fn readers(c: &mut Criterion) {
    let disk = disk();
    let out = tempfile::tempfile().unwrap();
    let opts = qcow2::Qcow2Options {
        compression: Some(qcow2::Compression::DEFLATE),
        ..Default::default()
    };
    let mut w = qcow2::Qcow2Writer::new(Destination::file(out.try_clone().unwrap()), opts).unwrap();
    convert(
        &mut MemSource::new(disk.clone()),
        &mut [&mut w],
        &mut |_, _| {},
    )
    .unwrap();
    let mut g = c.benchmark_group("read 64 MiB (32 MiB data)");
    g.throughput(Throughput::Bytes(SIZE as u64 / 2));
    g.sample_size(10);
    g.bench_function("qcow2 deflate", |b| {
        b.iter(|| {
            let mut r = qcow2::Qcow2Reader::open(out.try_clone().unwrap()).unwrap();
            let mut buf = vec![0u8; 1 << 20];
            for e in r.extents().unwrap() {
                let mut pos = e.offset;
                while pos < e.end() {
                    let n = (e.end() - pos).min(1 << 20) as usize;
                    r.read_at(pos, &mut buf[..n]).unwrap();
                    pos += n as u64;
                }
            }
        })
    });
    g.finish();
}

criterion_group!(benches, writers, readers);
criterion_main!(benches);
