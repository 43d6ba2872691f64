//! Test helpers shared by the imgconv crates: sample disks, and the reference
//! tools (`qemu-img`, `sgdisk`, …) run so that a missing tool fails the test
//! with a message saying how to get it, never skips it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Output};

pub mod boot;
pub mod bootroot;
pub mod iso;
pub mod rootfs;
pub mod rpms;

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

/// A VMDK delta disk made by `qemu-img create -b`: `child` of `subformat`
/// on the VMDK `parent` (a name relative to the child's directory).
pub fn qemu_vmdk_child(child: &Path, subformat: &str, parent: &str) {
    run_ok(
        "qemu-img",
        &[
            "create",
            "-f",
            "vmdk",
            "-o",
            &format!("subformat={subformat}"),
            "-b",
            parent,
            "-F",
            "vmdk",
            child.to_str().unwrap(),
        ],
    );
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

/// Extracts the tar archive `tar` into `dest` with Python's tarfile and
/// its `tar` extraction filter, which refuses any member that would land
/// outside `dest` (an absolute or `..` name, or one through a symbolic
/// link out of it); fails the test on a refusal.
pub fn python_extract_tar(tar: &Path, dest: &Path) {
    run_ok(
        "python3",
        &[
            "-c",
            "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='tar')",
            s(tar),
            s(dest),
        ],
    );
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

/// Starts the streaming writer `make` builds on an 8 MiB disk whose plan
/// holds only its first 64 KiB, writes that, then hands it 64 KiB at 4 MiB,
/// outside the plan: the typed error the writer refuses it with (checked to
/// be [`blocksink::ErrorKind::OutOfRange`] of `format`, field `plan`, at
/// disk offset 4 MiB), from the write or at the latest from `finish`.
pub fn refuses_data_outside_the_plan<S: blocksink::BlockSink>(
    format: &str,
    make: impl FnOnce(blocksink::Destination) -> S,
) {
    let mut sink = make(blocksink::Destination::stream(std::io::sink()));
    sink.begin(8 << 20, &[blocksink::Extent::new(0, 64 << 10)])
        .unwrap();
    let data = blocksink::Bytes::from(vec![0x5a; 64 << 10]);
    sink.write(0, data.clone()).unwrap();
    let err = match sink.write(4 << 20, data) {
        Err(e) => e,
        Ok(()) => sink.finish().expect_err("data outside the plan is refused"),
    };
    let e = blocksink::Error::find(&err).unwrap_or_else(|| panic!("not a blocksink::Error: {err}"));
    assert_eq!(e.kind(), blocksink::ErrorKind::OutOfRange, "{e}");
    assert_eq!(e.format(), format, "{e}");
    assert_eq!(e.field_name(), Some("plan"), "{e}");
    assert_eq!(e.offset(), Some(4 << 20), "{e}");
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

/// A tree that exercises FAT directories: ten levels deep, long names (mixed
/// case, Unicode, 220 characters, characters 8.3 names cannot hold, names
/// whose 8.3 forms collide), 340 files in one directory (so it spans
/// clusters), empty directories, empty files and files of several clusters.
pub fn fat_tree(root: &Path) {
    let mut deep = root.join("Level 1");
    for n in 2..=10 {
        deep = deep.join(format!("level {n}"));
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("leaf.txt"), b"ten levels down\n").unwrap();
    fs::write(root.join("Level 1/level 2/Mid.TXT"), b"mid\n").unwrap();
    fs::create_dir_all(root.join("EFI/BOOT")).unwrap();
    fs::write(root.join("EFI/BOOT/BOOTX64.EFI"), vec![0x4d; 5000]).unwrap();
    fs::write(root.join("readme.txt"), b"lower case 8.3\n").unwrap();
    fs::write(root.join("MiXeD.TxT"), b"mixed\n").unwrap();
    fs::write(
        root.join("A Long File Name With Mixed Case.Text"),
        b"long\n",
    )
    .unwrap();
    fs::write(root.join("x".repeat(220) + ".bin"), b"220 characters\n").unwrap();
    fs::write(root.join("Grüße – 日本語.txt"), b"unicode\n").unwrap();
    fs::write(root.join("a+b,c;d=e[f]g.h.txt"), b"odd characters\n").unwrap();
    fs::write(root.join(".hidden"), b"dot first\n").unwrap();
    fs::write(root.join("Program Files"), b"collides 1\n").unwrap();
    fs::write(root.join("Program Data"), b"collides 2\n").unwrap();
    fs::write(root.join("PROGRA~1"), b"a literal tail\n").unwrap();
    fs::write(root.join("zero.bin"), b"").unwrap();
    fs::create_dir_all(root.join("empty dir")).unwrap();
    fs::create_dir_all(root.join("deep empty/x/y")).unwrap();
    let many = root.join("Many Files");
    fs::create_dir(&many).unwrap();
    for i in 0..340 {
        fs::write(
            many.join(format!("file number {i:03}.dat")),
            vec![i as u8; i],
        )
        .unwrap();
    }
    fs::write(many.join("zero"), b"").unwrap();
    let mut rng = Rng::new(11);
    for (name, len) in [("big.bin", 300_001), ("two clusters", 4096), ("one", 2048)] {
        let mut b = vec![0u8; len];
        rng.fill(&mut b);
        fs::write(root.join(name), &b).unwrap();
    }
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

/// An image file that is mostly hole: a length, a few pieces of bytes and
/// runs of one repeated byte, zeros elsewhere. Readers take it as a
/// [`blocksink::ReadAt`] (it holds nothing the size of the file), and it
/// records the largest single read, so a test can show that a reader takes
/// its tables in bounded pieces; [`SparseImage::write_to`] makes it a
/// sparse file for the command line.
#[derive(Clone, Debug)]
pub struct SparseImage {
    /// Length of the file in bytes.
    pub len: u64,
    pieces: Vec<(u64, Vec<u8>)>,
    fills: Vec<(u64, u64, u8)>,
    largest_read: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SparseImage {
    /// A file of `len` bytes, all zeros.
    pub fn new(len: u64) -> Self {
        SparseImage {
            len,
            pieces: Vec::new(),
            fills: Vec::new(),
            largest_read: Default::default(),
        }
    }

    /// Puts `bytes` at `at` (later pieces win where they overlap).
    pub fn put(&mut self, at: u64, bytes: &[u8]) -> &mut Self {
        self.pieces.push((at, bytes.to_vec()));
        self
    }

    /// Fills `len` bytes from `at` with `byte` (pieces win over fills).
    pub fn fill(&mut self, at: u64, len: u64, byte: u8) -> &mut Self {
        self.fills.push((at, len, byte));
        self
    }

    /// The largest single read asked of this image (or a clone) so far.
    pub fn largest_read(&self) -> u64 {
        self.largest_read.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes the image to `path` as a sparse file: only the pieces and the
    /// fills take space.
    pub fn write_to(&self, path: &Path) {
        let mut f = File::create(path).unwrap();
        f.set_len(self.len).unwrap();
        for &(at, len, byte) in &self.fills {
            let chunk = vec![byte; (1 << 20).min(len) as usize];
            let mut pos = 0;
            while pos < len {
                let n = (len - pos).min(chunk.len() as u64) as usize;
                f.seek(SeekFrom::Start(at + pos)).unwrap();
                f.write_all(&chunk[..n]).unwrap();
                pos += n as u64;
            }
        }
        for (at, bytes) in &self.pieces {
            f.seek(SeekFrom::Start(*at)).unwrap();
            f.write_all(bytes).unwrap();
        }
    }
}

impl blocksink::ReadAt for SparseImage {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.largest_read
            .fetch_max(buf.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "read past the end")
            })?;
        buf.fill(0);
        // The part of [at, at + len) this read covers: (in buf, in the run).
        let overlap = |at: u64, len: u64| {
            let (from, to) = (at.max(offset), (at + len).min(end));
            (from < to).then(|| {
                let b = (from - offset) as usize..(to - offset) as usize;
                let r = (from - at) as usize..(to - at) as usize;
                (b, r)
            })
        };
        for &(at, len, byte) in &self.fills {
            if let Some((b, _)) = overlap(at, len) {
                buf[b].fill(byte);
            }
        }
        for (at, bytes) in &self.pieces {
            if let Some((b, r)) = overlap(*at, bytes.len() as u64) {
                buf[b].copy_from_slice(&bytes[r]);
            }
        }
        Ok(())
    }

    fn size(&self) -> std::io::Result<u64> {
        Ok(self.len)
    }
}

/// Header, footer copy and dynamic disk header of a dynamic VHD whose BAT
/// (at offset 1536, `entries` entries of blocks of `block_size` bytes) is a
/// hole — every entry 0 — for a disk of `size` bytes, in a file of `len`
/// bytes ending with the footer. Built byte by byte, as the VHD
/// specification lays the structures out.
pub fn vhd_dynamic_image(len: u64, size: u64, block_size: u32, entries: u32) -> SparseImage {
    fn checksum(b: &[u8], field: usize) -> u32 {
        let sum = b
            .iter()
            .enumerate()
            .filter(|(i, _)| !(field..field + 4).contains(i))
            .fold(0u32, |s, (_, &x)| s.wrapping_add(u32::from(x)));
        !sum
    }
    let mut footer = [0u8; 512];
    footer[..8].copy_from_slice(b"conectix");
    footer[8..12].copy_from_slice(&2u32.to_be_bytes()); // features: reserved bit
    footer[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    footer[16..24].copy_from_slice(&512u64.to_be_bytes()); // data offset
    footer[28..32].copy_from_slice(b"qem2"); // trust current_size
    footer[40..48].copy_from_slice(&size.to_be_bytes());
    footer[48..56].copy_from_slice(&size.to_be_bytes());
    footer[56..60].copy_from_slice(&[0xff, 0xff, 16, 255]); // maximum CHS
    footer[60..64].copy_from_slice(&3u32.to_be_bytes()); // dynamic
    let sum = checksum(&footer, 64);
    footer[64..68].copy_from_slice(&sum.to_be_bytes());
    let mut dynamic = [0u8; 1024];
    dynamic[..8].copy_from_slice(b"cxsparse");
    dynamic[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
    dynamic[16..24].copy_from_slice(&1536u64.to_be_bytes());
    dynamic[24..28].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    dynamic[28..32].copy_from_slice(&entries.to_be_bytes());
    dynamic[32..36].copy_from_slice(&block_size.to_be_bytes());
    let sum = checksum(&dynamic, 36);
    dynamic[36..40].copy_from_slice(&sum.to_be_bytes());
    let mut img = SparseImage::new(len);
    img.put(0, &footer)
        .put(512, &dynamic)
        .put(len - 512, &footer);
    img
}

/// A monolithicSparse VMDK header (version 1, 64 KiB grains, 512-entry
/// grain tables) whose capacity needs a grain directory of `gd_entries`
/// entries, the directory at sector 1 and a hole — no table allocated —
/// in a file of `len` bytes. Built byte by byte, as VMware's Virtual Disk
/// Format 5.0 lays the header out.
pub fn vmdk_sparse_image(len: u64, gd_entries: u64) -> SparseImage {
    let mut h = [0u8; 512];
    h[..4].copy_from_slice(b"KDMV");
    h[4..8].copy_from_slice(&1u32.to_le_bytes()); // version
    h[8..12].copy_from_slice(&3u32.to_le_bytes()); // newline test, redundant GT
    h[12..20].copy_from_slice(&(gd_entries * 512 * 128).to_le_bytes()); // capacity
    h[20..28].copy_from_slice(&128u64.to_le_bytes()); // grain size
    h[44..48].copy_from_slice(&512u32.to_le_bytes()); // numGTEsPerGT
    h[48..56].copy_from_slice(&1u64.to_le_bytes()); // rgdOffset
    h[56..64].copy_from_slice(&1u64.to_le_bytes()); // gdOffset
    h[64..72].copy_from_slice(&128u64.to_le_bytes()); // overHead
    h[73..77].copy_from_slice(b"\n \r\n");
    let mut img = SparseImage::new(len);
    img.put(0, &h);
    img
}

/// A qcow2 v3 header with `cluster_bits`-bit clusters, an empty disk (no
/// L1 table) and a one-cluster refcount table at cluster 1 that is a hole
/// (no refcount block), in a file of `len` bytes. Built byte by byte, as
/// qemu's docs/interop/qcow2.txt lays the header out.
pub fn qcow2_empty_image(len: u64, cluster_bits: u32) -> SparseImage {
    let mut h = [0u8; 112];
    h[..4].copy_from_slice(b"QFI\xfb");
    h[4..8].copy_from_slice(&3u32.to_be_bytes());
    h[20..24].copy_from_slice(&cluster_bits.to_be_bytes());
    h[48..56].copy_from_slice(&(1u64 << cluster_bits).to_be_bytes()); // refcount table
    h[56..60].copy_from_slice(&1u32.to_be_bytes());
    h[96..100].copy_from_slice(&4u32.to_be_bytes()); // 16-bit refcounts
    h[100..104].copy_from_slice(&112u32.to_be_bytes());
    let mut img = SparseImage::new(len);
    img.put(0, &h);
    img
}
