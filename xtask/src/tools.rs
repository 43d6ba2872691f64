//! The reference tools the tests call, installed on demand.

use std::process::Command;

use anyhow::{bail, Result};

use crate::sh;

/// Tools the test suite runs, by command name.
pub(crate) const TEST_TOOLS: [&str; 6] =
    ["qemu-img", "sgdisk", "sfdisk", "7z", "xmllint", "sha512sum"];

/// The Debian package that provides a command.
fn package(tool: &str) -> &'static str {
    match tool {
        "qemu-img" => "qemu-utils",
        "sgdisk" => "gdisk",
        "sfdisk" => "fdisk",
        "7z" => "p7zip-full",
        "xmllint" => "libxml2-utils",
        "sha512sum" => "coreutils",
        "debootstrap" => "debootstrap",
        "mkfs.ext4" => "e2fsprogs",
        "mkfs.vfat" => "dosfstools",
        _ => "",
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Installs whichever of `tools` are missing: Debian packages with apt-get
/// (as root, or through sudo), cargo-fuzz with cargo.
pub(crate) fn ensure(tools: &[&str]) -> Result<()> {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if missing.contains(&"cargo-fuzz") {
        sh(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))?;
    }
    let packages: Vec<&str> = missing
        .iter()
        .map(|t| package(t))
        .filter(|p| !p.is_empty())
        .collect();
    if packages.is_empty() {
        return Ok(());
    }
    println!("installing {}", packages.join(" "));
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let apt = |args: &[&str]| {
        let mut all: Vec<&str> = sudo.to_vec();
        all.push("apt-get");
        all.extend_from_slice(args);
        let mut c = Command::new(all[0]);
        c.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    sh(&mut apt(&["update", "-q"]))?;
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend_from_slice(&packages);
    sh(&mut apt(&install))?;
    let still: Vec<&&str> = missing
        .iter()
        .filter(|t| **t != "cargo-fuzz" && !have(t))
        .collect();
    if !still.is_empty() {
        bail!("still missing after installing: {still:?}");
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}
