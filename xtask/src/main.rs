//! `cargo xtask …`: the project's chores, so that a newcomer needs only cargo.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

mod bench;
mod demo;
mod tools;

#[derive(Parser)]
#[command(about = "imgconv project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install the reference tools the tests call, then run every test.
    Test,
    /// Make a small GPT disk and convert it to every format (into target/demo).
    Demo,
    /// Make the test images under testdata/generated.
    Testdata,
    /// Run every fuzz target for a while each.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
    },
    /// Time imgconv against `qemu-img convert` on the same inputs.
    Bench {
        /// Runs per measurement (the median is reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Only the inputs whose name contains this.
        #[arg(long)]
        only: Option<String>,
    },
}

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs `cmd`, failing with its name when it fails.
pub(crate) fn sh(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn fuzz(seconds: u32) -> Result<()> {
    tools::ensure(&["cargo-fuzz"])?;
    let fuzz_dir = root().join("fuzz");
    let list = Command::new("cargo")
        .args(["fuzz", "list"])
        .current_dir(&fuzz_dir)
        .output()?;
    let targets = String::from_utf8(list.stdout)?;
    for target in targets.lines().filter(|t| !t.trim().is_empty()) {
        println!("fuzzing {target} for {seconds} s");
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus)?;
        let seeds = fuzz_dir.join("seeds").join(target);
        // Inputs up to twice the largest seed: each target's seeds are its
        // smallest valid files (a VHDX seed holds only the tables it lays
        // out), so every input can be a valid one and a bit more.
        let largest = std::fs::read_dir(&seeds)
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        let max_len = (largest * 2).max(64 << 10);
        let mut run = Command::new("cargo");
        run.current_dir(&fuzz_dir)
            .args(["fuzz", "run", "-s", "none", target])
            .arg(&corpus)
            .arg(&seeds)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                &format!("-max_len={max_len}"),
                "-rss_limit_mb=2048",
            ]);
        // The format's magic values and field constants.
        let dict = fuzz_dir.join("dicts").join(format!("{target}.dict"));
        if dict.exists() {
            run.arg(format!("-dict={}", dict.display()));
        }
        sh(&mut run)?;
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Test => {
            tools::ensure(tools::TEST_TOOLS)?;
            // The boot tests fetch Debian's kernel with apt-get download.
            tools::ensure_apt_lists()?;
            sh(cargo().args(["test", "--workspace", "--all-targets"]))?;
            sh(cargo().args(["test", "--workspace", "--doc"]))
        }
        Task::Demo => demo::run(),
        Task::Testdata => demo::testdata().map(|_| ()),
        Task::Fuzz { seconds } => fuzz(seconds),
        Task::Bench { runs, only } => bench::run(runs, only.as_deref()),
    }
}
