//! The front half, through the library's own entry points: every tree
//! format of `imgbuild::Job`'s registry (tar archives, container images,
//! the live ISO) built from the sample root filesystem (a tar of about
//! 3,700 entries, 33 MiB of data), an ext4 disk built from it with mke2fs,
//! and the package stage resolving and installing a small RPM repository
//! (26 packages, 1,955 entries) into an entry stream. Throughput is the
//! tree's file data, or the packages'.
#![allow(missing_docs, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use blocksink::BuildStamp;
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};
use imgbuild::job::Output;
use imgbuild::{Format, Job, Source};
use imgconv::{OutputFormat, OutputTarget};
use imgconv_benches::{image_config, package_repo, sample_tree, TOP_PACKAGE};
use pkgstage::install::{install, InstallOptions, InstallReport};
use pkgstage::resolve::{resolve, Request, Source as RepoSource};
use pkgstage::signature::GpgCheck;
use pkgstage::Repository;

/// The time and seed every output is stamped with.
const TIME: u64 = 1_700_000_000;

/// Ten samples each, over a short measurement: the whole run stays within
/// minutes on two cores.
fn quick<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g
}

/// A job making `format` of the tree at `tree` into `out`, as
/// `config` describes the image, with its scratch files in `work`.
fn job(config: &Path, tree: &Path, format: Format, out: &Path, work: &Path) -> Job {
    let mut job = Job::new(config, Source::Rootfs(tree.to_path_buf())).unwrap();
    job.formats.stamp = BuildStamp::fixed(TIME, "bench");
    job.work_dir = Some(work.to_path_buf());
    job.outputs.push(Output {
        format,
        target: OutputTarget::Path(out.to_path_buf()),
        name: "bench".into(),
    });
    job
}

/// Runs `job` once before `out` is made again (an OCI layout is a
/// directory), the removal not timed.
fn bench_job(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, job: &Job, out: &Path) {
    let remove = || {
        let _ = std::fs::remove_file(out).or_else(|_| std::fs::remove_dir_all(out));
    };
    g.bench_function(name, |b| {
        b.iter_batched(
            remove,
            |()| job.run(&mut |_| {}).unwrap(),
            BatchSize::PerIteration,
        )
    });
}

/// Every tree format, then the ext4 disk, from one sample tree.
fn from_the_tree(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let tree = sample_tree(&dir.path().join("rootfs.tar"));
    let config = image_config(dir.path());
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let out_path = |format: Format| -> PathBuf {
        dir.path()
            .join("out")
            .join(format!("bench.{}", format.extension()))
    };
    std::fs::create_dir_all(dir.path().join("out")).unwrap();

    let mut g = quick(c, "tree formats");
    g.throughput(Throughput::Bytes(tree.bytes));
    for format in Format::all().filter(|f| matches!(f, Format::Tree(_))) {
        let out = out_path(format);
        let job = job(&config, &tree.tar, format, &out, &work);
        bench_job(&mut g, format.name(), &job, &out);
    }
    g.finish();

    let mut g = quick(c, "disk build");
    g.throughput(Throughput::Bytes(tree.bytes));
    let raw = Format::Disk(OutputFormat::parse("raw").unwrap());
    let out = out_path(raw);
    let job = job(&config, &tree.tar, raw, &out, &work);
    bench_job(&mut g, "ext4 root, raw", &job, &out);
    g.finish();
}

fn package_install(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("repo");
    package_repo(&repo_dir);
    let repo = Repository::open(&repo_dir).unwrap();
    let sources = [RepoSource {
        repo: &repo,
        priority: 99,
    }];
    let request = Request::new([TOP_PACKAGE]);
    let options = InstallOptions {
        time: TIME as i64,
        work_dir: Some(dir.path().to_path_buf()),
        gpg_check: GpgCheck::Off,
        no_scripts: true,
        ..InstallOptions::default()
    };
    // The entries are read to the end, as a consumer of the stream would.
    let run = || -> InstallReport {
        let plan = resolve(&sources, &request).unwrap();
        install(&sources, &plan, &options, &mut |_, data| {
            std::io::copy(data, &mut std::io::sink())
                .map(drop)
                .map_err(|e| pkgstage::Error::file("the entry stream", e))
        })
        .unwrap()
    };
    let first = run();
    let mut g = quick(c, "package stage");
    g.throughput(Throughput::Bytes(first.bytes));
    g.bench_function("resolve and install", |b| b.iter(run));
    g.finish();
}

criterion_group!(benches, from_the_tree, package_install);
criterion_main!(benches);
