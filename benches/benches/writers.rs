//! The disk formats, walked from imgconv's registries: every writer of
//! `imgconv::WRITERS` writing the sample disk (a raw file of 64 MiB, half
//! of it data) through `imgconv::convert`, and each output read back into
//! a raw disk through the readers `imgconv::READERS` detects it with; an
//! ISO 9660 image of a 32 MiB tree written and read; GPT tables.
#![allow(missing_docs, clippy::unwrap_used)]

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use blocksink::{BuildStamp, Destination, MemSource};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use imgconv::{
    convert, ConvertJob, ConvertReport, FormatOptions, FormatValues, OutputFormat, OutputSpec,
    OutputTarget,
};
use imgconv_benches::{sample_disk, DISK_DATA};

/// Option settings benched beside every format's defaults, as
/// `FORMAT.NAME[=VALUE]`: those that change what the writer and its
/// reader do (compression, a fixed layout). Each is benched with the
/// writer of the same name; a new format needs none to be benched.
const VARIANTS: &[&str] = &[
    "qcow2.compress=deflate",
    "qcow2.compress=zstd",
    "vhdx.vhdx-fixed",
];

/// One output to bench: a format and the options it is written with.
struct Case {
    /// The bench's name: the format's, and the option if one is set.
    name: String,
    format: OutputFormat,
    options: FormatOptions,
}

fn stamp() -> BuildStamp {
    BuildStamp::fixed(0, "bench")
}

fn options(values: &FormatValues) -> FormatOptions {
    FormatOptions {
        stamp: stamp(),
        ..FormatOptions::from_values(values).unwrap()
    }
}

/// Every output format, in the order `--help` lists them, each with its
/// defaults and then with each of its [`VARIANTS`].
fn cases() -> Vec<Case> {
    for v in VARIANTS {
        let format = v.split_once('.').unwrap().0;
        assert!(
            OutputFormat::parse(format).is_ok(),
            "variant {v}: no writer is called {format}"
        );
    }
    let mut cases = Vec::new();
    for format in OutputFormat::all() {
        cases.push(Case {
            name: format.name().to_string(),
            format,
            options: options(&FormatValues::new()),
        });
        for v in VARIANTS {
            let Some((_, option)) = v.split_once('.').filter(|(name, _)| *name == format.name())
            else {
                continue;
            };
            let mut values = FormatValues::new();
            values.assign(v).unwrap();
            cases.push(Case {
                name: format!("{} {option}", format.name()),
                format,
                options: options(&values),
            });
        }
    }
    cases
}

/// Converts `input` (any format the readers know) into `output`.
fn convert_one(
    input: &Path,
    output: &Path,
    format: OutputFormat,
    options: &FormatOptions,
) -> ConvertReport {
    let job = ConvertJob {
        input: input.to_path_buf(),
        outputs: vec![OutputSpec {
            format,
            target: OutputTarget::Path(output.to_path_buf()),
        }],
        options: options.clone(),
    };
    convert(&job, &mut |_, _| {}).unwrap()
}

/// Ten samples each, over a short measurement: the whole run stays within
/// minutes on two cores.
fn quick<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

/// Every output format written from the sample disk, then each output
/// read back into a raw disk.
fn disk_formats(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw);
    let cases = cases();

    let mut g = quick(c, "write 64 MiB disk, 32 MiB data");
    g.throughput(Throughput::Bytes(DISK_DATA));
    for case in &cases {
        let out = dir.path().join(format!("out.{}", case.format.extension()));
        g.bench_function(&case.name, |b| {
            b.iter(|| convert_one(&raw, &out, case.format, &case.options))
        });
    }
    g.finish();

    let back = dir.path().join("back.raw");
    let to_raw = OutputFormat::parse("raw").unwrap();
    let plain = options(&FormatValues::new());
    let mut g = quick(c, "read 64 MiB disk, 32 MiB data");
    g.throughput(Throughput::Bytes(DISK_DATA));
    for (i, case) in cases.iter().enumerate() {
        // Each output apart, under the name it was written with: a VMDK's
        // descriptor names its extent file.
        let written = dir
            .path()
            .join(i.to_string())
            .join(format!("disk.{}", case.format.extension()));
        std::fs::create_dir_all(written.parent().unwrap()).unwrap();
        convert_one(&raw, &written, case.format, &case.options);
        let report = convert_one(&written, &back, to_raw, &plain);
        assert_eq!(
            report.data_bytes,
            DISK_DATA,
            "{}: read back as {}",
            case.name,
            report.input_format.name()
        );
        g.bench_function(&case.name, |b| {
            b.iter(|| convert_one(&written, &back, to_raw, &plain))
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

fn write_iso(dir: &Path) -> File {
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
    let mut g = quick(c, "ISO 9660, 32 MiB tree");
    g.throughput(Throughput::Bytes(32 << 20));
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
    let mut g = quick(c, "GPT, 8 partitions");
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

criterion_group!(benches, disk_formats, iso, gpt_tables);
criterion_main!(benches);
