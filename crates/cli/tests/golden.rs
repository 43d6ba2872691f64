//! The same inputs give the same bytes, release after release: a disk
//! (raw), an OCI archive and a live ISO built at a fixed SOURCE_DATE_EPOCH
//! and seed from a tree this test writes, checked against the digests in
//! `golden/outputs.txt`.
//!
//! The tree is made here, header by header, so nothing in it depends on the
//! machine but the GRUB modules it copies from the test trees; the file systems inside the
//! outputs come from mke2fs, tar2sqfs and grub-mkimage, whose versions (and
//! the modules') are recorded beside the digests. Outputs that change while
//! those stay the same are a change of ours, and fail here. After a change
//! that means to alter the bytes, or new versions of those tools, run the
//! test with `IMGCONV_BLESS=1` to write the file anew, and say why in the
//! commit.
#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use common::{command, s, toolkit_config};
use sha2::{Digest, Sha256};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/outputs.txt");
const MTIME: u64 = 1_690_000_000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn sha256_file(path: &Path) -> String {
    let mut hasher = Sha256::new();
    let mut f = fs::File::open(path).unwrap();
    std::io::copy(&mut f, &mut hasher).unwrap();
    hex(&hasher.finalize())
}

fn header(path: &str, kind: tar::EntryType, mode: u32, len: u64) -> tar::Header {
    testkit::rootfs::gnu_header(path, kind, mode, len, MTIME)
}

/// The GRUB module directories the tree carries.
const GRUB_DIRS: [&str; 2] = ["usr/lib/grub/x86_64-efi", "usr/lib/grub/i386-pc"];

/// The tree: a few directories, files of fixed bytes, links, a kernel and
/// initrd of fixed bytes, and GRUB's modules.
fn write_tree(tar_path: &Path) {
    let mut b = tar::Builder::new(fs::File::create(tar_path).unwrap());
    let dir = |b: &mut tar::Builder<fs::File>, path: &str, mode: u32| {
        let h = header(path, tar::EntryType::Directory, mode, 0);
        b.append(&h, std::io::empty()).unwrap();
    };
    let file = |b: &mut tar::Builder<fs::File>, path: &str, mode: u32, data: &[u8]| {
        let h = header(path, tar::EntryType::Regular, mode, data.len() as u64);
        b.append(&h, data).unwrap();
    };
    let mut rng = testkit::Rng::new(0x601d);
    let mut bytes = |n: usize| {
        let mut v = vec![0; n];
        rng.fill(&mut v);
        v
    };
    for (path, mode) in [
        ("boot", 0o755),
        ("boot/efi", 0o700),
        ("etc", 0o755),
        ("usr", 0o755),
        ("usr/bin", 0o755),
        ("usr/lib", 0o755),
        ("usr/lib/grub", 0o755),
        ("usr/share", 0o755),
        ("usr/share/doc", 0o755),
        ("var", 0o755),
        ("var/tmp", 0o1777),
    ] {
        dir(&mut b, path, mode);
    }
    file(&mut b, "boot/vmlinuz-6.1.0-golden", 0o644, &bytes(3 << 20));
    file(
        &mut b,
        "boot/initrd.img-6.1.0-golden",
        0o644,
        &bytes(1 << 20),
    );
    file(&mut b, "etc/os-release", 0o644, b"ID=golden\nNAME=Golden\n");
    file(&mut b, "usr/bin/tool", 0o755, &bytes(200_000));
    file(&mut b, "usr/share/doc/zeros", 0o644, &vec![0; 5 << 20]);
    file(&mut b, "usr/share/doc/sparse", 0o600, &{
        let mut v = vec![0; 3 << 20];
        v[1 << 20..(1 << 20) + 4096].copy_from_slice(&bytes(4096));
        v
    });
    let mut link = header("usr/bin/link", tar::EntryType::Symlink, 0o777, 0);
    link.set_link_name("tool").unwrap();
    link.set_cksum();
    b.append(&link, std::io::empty()).unwrap();
    let mut hard = header("usr/bin/hard", tar::EntryType::Link, 0o755, 0);
    hard.set_link_name("usr/bin/tool").unwrap();
    hard.set_cksum();
    b.append(&hard, std::io::empty()).unwrap();
    // GRUB's modules, as the test trees carry them (from Debian's
    // grub-efi-amd64-bin and grub-pc-bin), in the order they list them.
    let grub = testkit::bootroot::rootfs_tar(testkit::bootroot::Variant::Grub);
    let mut archive = tar::Archive::new(fs::File::open(&grub).unwrap());
    for member in archive.entries().unwrap() {
        let mut member = member.unwrap();
        let path = member.path().unwrap().to_string_lossy().into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if !GRUB_DIRS.iter().any(|d| path.starts_with(d)) {
            continue;
        }
        match member.header().entry_type() {
            tar::EntryType::Directory => dir(&mut b, &path, 0o755),
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut member, &mut data).unwrap();
                file(&mut b, &path, 0o644, &data);
            }
            other => panic!("{path}: {other:?} in GRUB's modules"),
        }
    }
    b.finish().unwrap();
}

/// What the outputs' bytes depend on besides our code: the versions of the
/// tools that make the file systems and loaders, and the GRUB modules.
fn tools_fingerprint(tree: &Path) -> String {
    let mut text = String::new();
    for (program, arg) in [
        ("mke2fs", "-V"),
        ("tar2sqfs", "--version"),
        ("grub-mkimage", "--version"),
    ] {
        let out = std::process::Command::new(program)
            .arg(arg)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        let both = [out.stdout, out.stderr].concat();
        let first = String::from_utf8_lossy(&both)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let _ = writeln!(text, "{program}: {first}");
    }
    let _ = writeln!(text, "tree: {}", sha256_file(tree));
    text
}

#[test]
fn a_disk_an_oci_archive_and_a_live_iso_keep_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree.tar");
    write_tree(&tree);
    let config = toolkit_config(dir.path(), "golden", "efi", true, 41, "ext4", 160);
    let out = dir.path().join("out");
    let r = command()
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args([
            "build",
            s(&config),
            "--rootfs",
            s(&tree),
            "--to",
            "raw,oci-archive,iso",
            "--seed",
            "golden",
            "--output-dir",
            s(&out),
        ])
        .output()
        .unwrap();
    assert!(
        r.status.success(),
        "imgconv build failed:\n{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let mut got = tools_fingerprint(&tree);
    for name in ["golden.raw", "golden.oci.tar", "golden.iso"] {
        let _ = writeln!(got, "{}  {name}", sha256_file(&out.join(name)));
    }
    if std::env::var_os("IMGCONV_BLESS").is_some() {
        fs::create_dir_all(Path::new(GOLDEN).parent().unwrap()).unwrap();
        fs::write(GOLDEN, &got).unwrap();
        return;
    }
    let want = fs::read_to_string(GOLDEN).unwrap();
    let tools = |t: &str| {
        t.lines()
            .filter(|l| !l.contains("  golden."))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        tools(&want),
        tools(&got),
        "the tools or the GRUB modules differ from those {GOLDEN} was written with: \
         check that the outputs differ only by them, then run with IMGCONV_BLESS=1"
    );
    assert_eq!(
        want, got,
        "the outputs' bytes changed; if that is meant, run with IMGCONV_BLESS=1 and say why"
    );
}
