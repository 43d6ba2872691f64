//! Criterion benchmarks of the format writers and readers: `cargo bench -p imgconv-benches`.
//! `cargo xtask bench` compares the whole tool against qemu-img.
