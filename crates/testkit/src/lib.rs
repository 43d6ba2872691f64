//! Test helpers shared by the imgconv crates: sample disks, and the reference
//! tools (`qemu-img`, `sgdisk`, …) run so that a missing tool fails the test
//! with a message saying how to get it, never skips it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Output};

/// A small deterministic pseudo-random generator (xorshift64*), so sample
/// disks are the same on every run.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A number below `n` (non-zero).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Fills `buf`, mixing compressible text-like runs and random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let compressible = self.below(2) == 0;
        for chunk in buf.chunks_mut(8) {
            let v = if compressible {
                (self.below(16) + u64::from(b'a')) * 0x0101_0101_0101_0101
            } else {
                self.next_u64()
            };
            chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// Writes a sparse raw disk of `size` bytes to `path`: random data regions
/// (some compressible), holes, and zero blocks written inside data, so
/// readers and writers meet every case. Returns its contents.
pub fn sample_disk(path: &Path, size: u64, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut contents = vec![0u8; size as usize];
    let mut f = File::create(path).unwrap();
    f.set_len(size).unwrap();
    let mut pos = 0u64;
    while pos < size {
        let gap = rng.below(3 << 20);
        let len = (1 + rng.below(1 << 20)).min(size.saturating_sub(pos + gap));
        pos += gap;
        if pos >= size || len == 0 {
            break;
        }
        let region = &mut contents[pos as usize..(pos + len) as usize];
        rng.fill(region);
        // Zero blocks inside the data, written as zeros.
        if len > 16384 {
            let z = rng.below(len - 8192) as usize;
            region[z..z + 8192].fill(0);
        }
        f.seek(SeekFrom::Start(pos)).unwrap();
        f.write_all(region).unwrap();
        pos += len;
    }
    // Something in the last bytes, to catch size rounding.
    if size >= 3 {
        let last = size as usize - 3;
        contents[last] = 0x5a;
        f.seek(SeekFrom::Start(last as u64)).unwrap();
        f.write_all(&contents[last..]).unwrap();
    }
    contents
}

/// Runs a reference tool; a missing tool fails the test and says how to get it.
pub fn run(program: &str, args: &[&str]) -> Output {
    match Command::new(program).args(args).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run {program} ({e}): the tests need it; `cargo xtask test` installs the reference tools"
        ),
    }
}

/// Runs a tool and fails the test unless it exits with status 0. Returns stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `qemu-img compare -f fa -F fb a b` must say the images are identical.
pub fn qemu_compare(a: &Path, fa: &str, b: &Path, fb: &str) {
    run_ok("qemu-img", &["compare", "-f", fa, "-F", fb, s(a), s(b)]);
}

/// `qemu-img check -f fmt` must find no errors and no leaks.
pub fn qemu_check(path: &Path, fmt: &str) {
    let out = run_ok("qemu-img", &["check", "-f", fmt, s(path)]);
    assert!(
        out.contains("No errors were found"),
        "qemu-img check: {out}"
    );
}

/// `qemu-img info --output=json -f fmt`.
pub fn qemu_info(path: &Path, fmt: &str) -> serde_json::Value {
    let out = run_ok("qemu-img", &["info", "--output=json", "-f", fmt, s(path)]);
    serde_json::from_str(&out).unwrap()
}

/// `qemu-img convert` with extra arguments (`-O fmt`, `-o …`, `-c`).
pub fn qemu_convert(args: &[&str], src: &Path, dst: &Path) {
    let mut all = vec!["convert"];
    all.extend_from_slice(args);
    all.push(s(src));
    all.push(s(dst));
    run_ok("qemu-img", &all);
}

/// Writes `disk` through the sink `make` builds, into a temporary file, and
/// returns the file's bytes.
pub fn sink_bytes<S: blocksink::BlockSink>(
    disk: &[u8],
    make: impl FnOnce(blocksink::Destination) -> S,
) -> Vec<u8> {
    let f = tempfile::tempfile().unwrap();
    let mut sink = make(blocksink::Destination::file(f.try_clone().unwrap()));
    let mut src = blocksink::MemSource::new(disk.to_vec());
    blocksink::convert(&mut src, &mut [&mut sink], &mut |_, _| {}).unwrap();
    drop(sink);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut &f, &mut out).unwrap();
    out
}

/// Converts the raw disk at `raw` into `out` through the sink `make` builds,
/// writing `out` as a forward-only stream when `stream` is set.
pub fn convert_file<S: blocksink::BlockSink>(
    raw: &Path,
    out: &Path,
    stream: bool,
    make: impl FnOnce(blocksink::Destination) -> S,
) {
    let mut src = blocksink::RawFile::new(File::open(raw).unwrap()).unwrap();
    let f = File::create(out).unwrap();
    let dest = if stream {
        blocksink::Destination::stream(f)
    } else {
        blocksink::Destination::file(f)
    };
    let mut sink = make(dest);
    blocksink::convert(&mut src, &mut [&mut sink], &mut |_, _| {}).unwrap();
}

/// The whole virtual disk of `src`.
pub fn read_disk(src: &mut dyn blocksink::BlockSource) -> Vec<u8> {
    let mut buf = vec![0u8; usize::try_from(src.size()).unwrap()];
    src.read_at(0, &mut buf).unwrap();
    buf
}

/// Random sparse disks up to `max` bytes: a few runs of data in zeros.
pub fn sparse_disk(max: u64) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    (
        1u64..max,
        prop::collection::vec((0u64..max, 1usize..100_000, any::<u8>()), 0..8),
    )
        .prop_map(|(size, writes)| {
            let mut d = vec![0u8; size as usize];
            for (off, len, byte) in writes {
                let off = (off % size) as usize;
                let end = (off + len).min(d.len());
                for (i, b) in d[off..end].iter_mut().enumerate() {
                    *b = byte.wrapping_add((i / 512) as u8) | 1;
                }
            }
            d
        })
}

/// Whether `back` is `disk` followed by nothing but zeros (a format that
/// rounds the size up).
pub fn same_disk(back: &[u8], disk: &[u8]) -> bool {
    back.len() >= disk.len()
        && back[..disk.len()] == disk[..]
        && back[disk.len()..].iter().all(|&b| b == 0)
}

/// A raw disk of `size` bytes at `path` partitioned by sgdisk: an EFI
/// system partition of `esp_mib` MiB at 1 MiB and a root partition filling
/// the rest (what a distribution's disk looks like).
pub fn sgdisk_disk(path: &Path, size: u64, esp_mib: u64) {
    File::create(path).unwrap().set_len(size).unwrap();
    run_ok(
        "sgdisk",
        &[
            "--clear",
            "-n",
            &format!("1:1MiB:+{esp_mib}MiB"),
            "-t",
            "1:ef00",
            "-c",
            "1:EFI System",
            "-n",
            "2:0:0",
            "-t",
            "2:8304",
            "-c",
            "2:root",
            s(path),
        ],
    );
}

/// Every directory (`None`) and file (its bytes) under `root`.
pub fn tree_contents(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            if p.is_dir() {
                out.insert(rel, None);
                stack.push(p);
            } else {
                out.insert(rel, Some(fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// Runs an mtools command with UTF-8 names; it must succeed.
pub fn mtools(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): `cargo xtask test` installs mtools")
        });
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `fsck.fat -n` and `fsck.vfat -n` find nothing wrong with `img` (fsck.fat
/// exits 0 after some repairable problems too, so its report is read: the
/// version line and the summary line are all a clean file system gives),
/// and mtools copies out exactly the tree under `src`.
pub fn assert_clean_fat(img: &Path, src: &Path, scratch: &Path) {
    let i = img.to_str().unwrap();
    let out = run("fsck.fat", &["-n", i]);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "fsck.fat -n {i}: {}\n{report}",
        out.status
    );
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "fsck.fat -n {i} reports problems:\n{report}"
    );
    assert!(lines[0].starts_with("fsck.fat "), "{report}");
    assert!(
        lines[1].starts_with(&format!("{i}: ")) && lines[1].ends_with(" clusters"),
        "{report}"
    );
    run_ok("fsck.vfat", &["-n", i]);

    let out = scratch.join("mcopy");
    fs::create_dir_all(&out).unwrap();
    mtools(
        "mcopy",
        &["-s", "-n", "-i", i, "::/", out.to_str().unwrap()],
    );
    let got = tree_contents(&out);
    let want = tree_contents(src);
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "mcopy of {i}: missing {missing:?}, extra {extra:?}"
    );
    for (k, v) in &want {
        assert!(got[k] == *v, "mcopy of {i}: {k} differs");
    }
    fs::remove_dir_all(&out).unwrap();
}
