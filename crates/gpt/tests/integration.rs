//! GPT against sgdisk, both ways.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::FileExt;
use std::path::Path;

use blocksink::{MemSource, RawFile};
use gpt::{Gpt, PartitionSpec};
use proptest::prelude::*;
use testkit::run_ok;
use uuid::Uuid;

fn specs() -> Vec<PartitionSpec> {
    vec![
        PartitionSpec {
            name: "bios".into(),
            type_name: "bios-grub".into(),
            size: Some(1 << 20),
        },
        PartitionSpec {
            name: "EFI System".into(),
            type_name: "esp".into(),
            size: Some(16 << 20),
        },
        PartitionSpec {
            name: "boot".into(),
            type_name: "xbootldr".into(),
            size: Some((5 << 20) + 100),
        },
        PartitionSpec {
            name: "root ✓".into(),
            type_name: "linux-root-x86-64".into(),
            size: None,
        },
    ]
}

fn write_regions(path: &Path, gpt: &Gpt) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    for (off, bytes) in gpt.regions().unwrap() {
        f.write_all_at(&bytes, off).unwrap();
    }
}

fn sgdisk_verify(path: &Path) {
    let out = run_ok("sgdisk", &["-v", path.to_str().unwrap()]);
    assert!(out.contains("No problems found"), "sgdisk -v: {out}");
}

#[test]
fn sgdisk_accepts_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.raw");
    let size = (100 << 20) + 7 * 512; // not a whole MiB
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    let mut gpt = Gpt::new(size, Uuid::from_u128(7)).unwrap();
    gpt.add_partitions(&specs(), 1 << 20, |i| Uuid::from_u128(i as u128 + 1))
        .unwrap();
    write_regions(&path, &gpt);
    sgdisk_verify(&path);
    let listing = run_ok("sgdisk", &["-p", path.to_str().unwrap()]);
    assert!(
        listing.contains("EF00") && listing.contains("8304") && listing.contains("EF02"),
        "{listing}"
    );
    assert!(listing.contains("root ✓"), "{listing}");
}

/// (number, first, last, code, name) rows of `sgdisk -p`.
fn sgdisk_rows(path: &Path) -> Vec<(u32, u64, u64, String)> {
    let out = run_ok("sgdisk", &["-p", path.to_str().unwrap()]);
    out.lines()
        .skip_while(|l| !l.starts_with("Number"))
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.parse().ok()?,
                f.get(2)?.parse().ok()?,
                f[6..].join(" "),
            ))
        })
        .collect()
}

#[test]
fn we_read_what_sgdisk_writes_and_move_its_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.raw");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    run_ok(
        "sgdisk",
        &[
            "-n",
            "1:1MiB:+8MiB",
            "-t",
            "1:ef00",
            "-c",
            "1:EFI",
            "-n",
            "3:0:+10MiB",
            "-t",
            "3:8200",
            "-c",
            "3:swap",
            "-n",
            "2:0:0",
            "-t",
            "2:8304",
            "-c",
            "2:root",
            path.to_str().unwrap(),
        ],
    );
    let mut src = RawFile::new(std::fs::File::open(&path).unwrap()).unwrap();
    let gpt = Gpt::read(&mut src).unwrap();
    assert!(Gpt::verify(&mut src).unwrap().is_empty());
    let ours: Vec<(u32, u64, u64, String)> = gpt
        .partitions
        .iter()
        .map(|p| (p.number, p.first_lba, p.last_lba, p.name.clone()))
        .collect();
    let mut theirs = sgdisk_rows(&path);
    theirs.sort();
    assert_eq!(ours, theirs);
    assert_eq!(gpt::type_name(&gpt.partitions[2].type_guid), Some("swap"));

    // Grow the disk: the backup is no longer at the end until we move it.
    let grown = (64 << 20) + (3 << 20);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(grown)
        .unwrap();
    let mut src = RawFile::new(std::fs::File::open(&path).unwrap()).unwrap();
    assert!(!Gpt::verify(&mut src).unwrap().is_empty());
    write_regions(&path, &gpt.relocated(grown).unwrap());
    sgdisk_verify(&path);
}

fn table_bytes() -> Vec<u8> {
    let mut gpt = Gpt::new(8 << 20, Uuid::from_u128(3)).unwrap();
    gpt.add_partitions(&specs()[..1], 1 << 20, |_| Uuid::from_u128(4))
        .unwrap();
    let mut disk = vec![0u8; 8 << 20];
    for (off, bytes) in gpt.regions().unwrap() {
        disk[off as usize..off as usize + bytes.len()].copy_from_slice(&bytes);
    }
    disk
}

fn rehash_header(disk: &mut [u8], at: usize) {
    disk[at + 16..at + 20].fill(0);
    let crc = crc32fast::hash(&disk[at..at + 92]);
    disk[at + 16..at + 20].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn hostile_tables_are_refused() {
    let good = table_bytes();
    // 2^31 entries, with a header CRC that matches: refused before any allocation.
    let mut huge = good.clone();
    huge[512 + 80..512 + 84].copy_from_slice(&(1u32 << 31).to_le_bytes());
    rehash_header(&mut huge, 512);
    let backup = huge.len() - 512;
    huge[backup + 80..backup + 84].copy_from_slice(&(1u32 << 31).to_le_bytes());
    rehash_header(&mut huge, backup);
    let err = Gpt::read(&mut MemSource::new(huge))
        .unwrap_err()
        .to_string();
    assert!(err.contains("2147483648 entries"), "{err}");

    // A flipped bit in the primary: read falls back to the backup, verify reports it.
    let mut flipped = good.clone();
    flipped[512 + 40] ^= 1;
    let mut src = MemSource::new(flipped);
    assert_eq!(Gpt::read(&mut src).unwrap().partitions.len(), 1);
    let problems = Gpt::verify(&mut src).unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("primary header") && p.contains("CRC32")),
        "{problems:?}"
    );

    // Overlapping entries are reported.
    let mut gpt = Gpt::read(&mut MemSource::new(good.clone())).unwrap();
    let mut second = gpt.partitions[0].clone();
    second.number = 2;
    second.first_lba += 10;
    gpt.partitions.push(second);
    let mut disk = good.clone();
    for (off, bytes) in gpt.regions().unwrap() {
        disk[off as usize..off as usize + bytes.len()].copy_from_slice(&bytes);
    }
    let problems = Gpt::verify(&mut MemSource::new(disk)).unwrap();
    assert!(
        problems.iter().any(|p| p.contains("overlap")),
        "{problems:?}"
    );

    assert!(Gpt::read(&mut MemSource::new(vec![0u8; 4096])).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn round_trip(sizes in prop::collection::vec(1u64..4 << 20, 1..6), mib in 16u64..64, grow in any::<bool>()) {
        let disk_size = mib << 20;
        let mut specs: Vec<PartitionSpec> = sizes
            .iter()
            .enumerate()
            .map(|(i, s)| PartitionSpec { name: format!("p{i}"), type_name: "linux".into(), size: Some(*s) })
            .collect();
        if grow {
            specs.last_mut().unwrap().size = None;
        }
        let mut gpt = Gpt::new(disk_size, Uuid::from_u128(9)).unwrap();
        gpt.add_partitions(&specs, 1 << 20, |i| Uuid::from_u128(i as u128 + 10)).unwrap();
        for p in &gpt.partitions {
            prop_assert_eq!(p.first_lba % 2048, 0);
        }
        let mut disk = vec![0u8; disk_size as usize];
        for (off, bytes) in gpt.regions().unwrap() {
            disk[off as usize..off as usize + bytes.len()].copy_from_slice(&bytes);
        }
        let mut src = MemSource::new(disk);
        prop_assert!(Gpt::verify(&mut src).unwrap().is_empty());
        prop_assert_eq!(Gpt::read(&mut src).unwrap(), gpt);
    }
}
