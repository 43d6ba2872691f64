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
//!
//! This library makes their inputs, once per run.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

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
