//! Criterion benchmarks of imgconv: `cargo bench -p imgconv-benches`.
//! `cargo xtask bench` compares the whole tool against qemu-img.
//!
//! The benches walk the format registries, so a new format is benched
//! without touching them:
//!
//! - `writers`: every disk format of `imgconv::WRITERS` written from a
//!   64 MiB raw disk (half data) through `imgconv::convert`, and read back
//!   into a raw disk through the readers; an ISO 9660 image of a tree
//!   written and read; GPT tables built and read.
//! - `stages`: every tree format of `imgbuild::TREE_FORMATS` (archives,
//!   container images, the live ISO) built from one root filesystem through
//!   `imgbuild::Job`; an ext4 disk built from it; the package stage
//!   resolving and installing a small RPM repository.
//!
//! This library makes their inputs, once per run.
#![allow(clippy::unwrap_used)]

use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use testkit::rpms::{build_rpm, createrepo, PackageSpec};
use testkit::Rng;

/// The virtual size of the sample disk.
pub const DISK_SIZE: u64 = 64 << 20;

/// The bytes of data in it: the rest is holes.
pub const DISK_DATA: u64 = DISK_SIZE / 2;

/// Writes the sample disk, a sparse raw file of [`DISK_SIZE`] at `path`:
/// 1 MiB of data (some pieces compressible, some random) then a 1 MiB
/// hole, over and over. Holes are never written, so SEEK_DATA finds them.
pub fn sample_disk(path: &Path) {
    let mut rng = Rng::new(99);
    let mut f = File::create(path).unwrap();
    f.set_len(DISK_SIZE).unwrap();
    let mut piece = vec![0u8; 1 << 20];
    for at in (0..DISK_SIZE).step_by(2 << 20) {
        rng.fill(&mut piece);
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&piece).unwrap();
    }
}

/// A root filesystem written as a tar archive.
#[derive(Clone, Debug)]
pub struct SampleTree {
    /// The archive.
    pub tar: PathBuf,
    /// Bytes of file data in it.
    pub bytes: u64,
}

/// Every entry's modification time.
const MTIME: u64 = 1_700_000_000;

/// GRUB's module directories a live ISO boots with, and the Debian
/// packages that install them on this machine.
const GRUB_DIRS: [(&str, &str); 2] = [
    ("usr/lib/grub/i386-pc", "grub-pc-bin"),
    ("usr/lib/grub/x86_64-efi", "grub-efi-amd64-bin"),
];

struct TarTree {
    builder: tar::Builder<File>,
    bytes: u64,
}

impl TarTree {
    fn header(path: &str, kind: tar::EntryType, mode: u32, len: u64) -> tar::Header {
        testkit::rootfs::gnu_header(path, kind, mode, len, MTIME)
    }

    fn dir(&mut self, path: &str) {
        let h = Self::header(path, tar::EntryType::Directory, 0o755, 0);
        self.builder.append(&h, std::io::empty()).unwrap();
    }

    fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        let h = Self::header(path, tar::EntryType::Regular, mode, data.len() as u64);
        self.builder.append(&h, data).unwrap();
        self.bytes += data.len() as u64;
    }

    fn link(&mut self, path: &str, kind: tar::EntryType, target: &str) {
        let mut h = Self::header(path, kind, 0o777, 0);
        h.set_link_name(target).unwrap();
        h.set_cksum();
        self.builder.append(&h, std::io::empty()).unwrap();
    }
}

/// Writes the sample root filesystem to `path` as a tar archive, about
/// 33 MiB: 3,000 small files (64 bytes to 4 KiB) in 60 directories, eight
/// 2 MiB libraries, links, a kernel and an initrd of made-up bytes (a live
/// ISO only copies them), and this machine's GRUB modules for BIOS and
/// UEFI, which a live ISO's boot images are made from (as the command
/// line's golden test takes them from Debian's packages).
pub fn sample_tree(path: &Path) -> SampleTree {
    let mut t = TarTree {
        builder: tar::Builder::new(File::create(path).unwrap()),
        bytes: 0,
    };
    let mut rng = Rng::new(0x7733);
    let bytes = |rng: &mut Rng, n: usize| {
        let mut v = vec![0; n];
        rng.fill(&mut v);
        v
    };
    for dir in [
        "boot",
        "etc",
        "usr",
        "usr/bin",
        "usr/lib",
        "usr/lib/grub",
        "usr/share",
        "usr/share/doc",
        "var",
    ] {
        t.dir(dir);
    }
    t.file("etc/os-release", 0o644, b"ID=bench\nNAME=Bench\n");
    t.file("boot/vmlinuz-6.1.0-bench", 0o644, &bytes(&mut rng, 4 << 20));
    t.file(
        "boot/initrd.img-6.1.0-bench",
        0o644,
        &bytes(&mut rng, 2 << 20),
    );
    for d in 0..60 {
        let dir = format!("usr/share/doc/pkg{d:02}");
        t.dir(&dir);
        for f in 0..50 {
            let len = 64 + rng.below(4096 - 64) as usize;
            let data = bytes(&mut rng, len);
            t.file(&format!("{dir}/file{f:02}.txt"), 0o644, &data);
        }
    }
    for i in 0..8 {
        let data = bytes(&mut rng, 2 << 20);
        t.file(&format!("usr/lib/libbench{i}.so.1"), 0o755, &data);
        t.link(
            &format!("usr/lib/libbench{i}.so"),
            tar::EntryType::Symlink,
            &format!("libbench{i}.so.1"),
        );
    }
    t.file("usr/bin/tool", 0o755, &bytes(&mut rng, 200_000));
    t.link("usr/bin/tool2", tar::EntryType::Link, "usr/bin/tool");
    for (dir, package) in GRUB_DIRS {
        let host = Path::new("/").join(dir);
        let mut names: Vec<_> = fs::read_dir(&host)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e}: the live ISO bench boots with this machine's GRUB modules; \
                     install Debian's {package}",
                    host.display()
                )
            })
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().unwrap().is_file())
            .map(|e| e.file_name())
            .collect();
        names.sort();
        t.dir(dir);
        for name in names {
            let data = fs::read(host.join(&name)).unwrap();
            t.file(&format!("{dir}/{}", name.to_string_lossy()), 0o644, &data);
        }
    }
    t.builder.finish().unwrap();
    SampleTree {
        tar: path.to_path_buf(),
        bytes: t.bytes,
    }
}

/// Writes an image configuration (the toolkit's JSON) to `dir`: a 128 MiB
/// GPT disk whose one partition is the ext4 root, booting nothing, so a
/// disk is made with mke2fs alone. Tree formats take the same one.
pub fn image_config(dir: &Path) -> PathBuf {
    let path = dir.join("bench.json");
    fs::write(
        &path,
        r#"{
  "Disks": [{
    "PartitionTableType": "gpt",
    "MaxSize": 128,
    "Partitions": [
      {"ID": "rootfs", "Name": "rootfs", "Start": 1, "End": 0, "FsType": "ext4"}
    ]
  }],
  "SystemConfigs": [{
    "Name": "bench",
    "BootType": "none",
    "PartitionSettings": [{"ID": "rootfs", "MountPoint": "/"}],
    "Hostname": "bench"
  }]
}
"#,
    )
    .unwrap();
    path
}

/// The package [`package_repo`]'s request names: it needs every other.
pub const TOP_PACKAGE: &str = "bench-app";

/// Builds a small RPM repository in `dir` with testkit's package builder
/// (zstd payloads, as distributions ship them) and indexes it with
/// `createrepo_c`: a `bench-filesystem` owning the directories, 24
/// libraries of 80 files each (64 bytes to 16 KiB), each needing the one
/// before it by a soname, and [`TOP_PACKAGE`] needing them all.
pub fn package_repo(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let mut rng = Rng::new(0x5e90);
    let mut specs = vec![PackageSpec::new("bench-filesystem", "1.0", "1")
        .arch("noarch")
        .dir("/etc", 0o755)
        .dir("/usr", 0o755)
        .dir("/usr/bin", 0o755)
        .dir("/usr/lib64", 0o755)
        .dir("/usr/share", 0o755)
        .file("/etc/os-release", 0o644, "ID=bench\n")];
    let mut app = PackageSpec::new(TOP_PACKAGE, "1.0", "1")
        .requires("bench-filesystem")
        .file("/usr/bin/bench-app", 0o755, vec![0x7f, b'E', b'L', b'F']);
    for i in 0..24 {
        let name = format!("bench-lib{i:02}");
        let soname = format!("libbench{i:02}.so.1()(64bit)");
        let mut spec = PackageSpec::new(&name, "1.0", "1")
            .requires("bench-filesystem")
            .provides(&soname)
            .dir(&format!("/usr/lib64/{name}"), 0o755);
        if i > 0 {
            spec = spec.requires(&format!("libbench{:02}.so.1()(64bit)", i - 1));
        }
        for f in 0..80 {
            let mut data = vec![0; 64 + rng.below((16 << 10) - 64) as usize];
            rng.fill(&mut data);
            spec = spec.file(&format!("/usr/lib64/{name}/part{f:02}.so"), 0o755, data);
        }
        specs.push(spec);
        app = app.requires(&soname);
    }
    specs.push(app);
    for spec in specs {
        build_rpm(dir, &spec.zstd());
    }
    createrepo(dir);
}
