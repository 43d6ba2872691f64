//! The reference tools the tests call, installed on demand.

use std::process::Command;

use anyhow::{bail, Result};

use crate::sh;

/// Tools the test suite runs, by command name, or by a file they provide
/// (an absolute path).
pub(crate) const TEST_TOOLS: &[&str] = &[
    "qemu-img",
    "mke2fs",
    MKE2FS_TAR,
    "debugfs",
    "blkid",
    "setpriv",
    "fsck.fat",
    "python3",
    "sgdisk",
    "sfdisk",
    "7z",
    "xmllint",
    "sha512sum",
    "xorriso",
    "isoinfo",
    "genisoimage",
    "mkfs.vfat",
    "mcopy",
    "grub-mkstandalone",
    "grub-mkimage",
    "/usr/lib/grub/x86_64-efi/normal.mod",
    // The benches' trees carry this machine's GRUB for BIOS.
    "/usr/lib/grub/i386-pc/normal.mod",
    "/usr/lib/ISOLINUX/isolinux.bin",
    "/usr/lib/syslinux/modules/bios/ldlinux.c32",
    "/usr/share/ovmf/OVMF.fd",
    "qemu-system-x86_64",
    "createrepo_c",
    "rpm",
    "rpmsign",
    "gpg",
    "dnf",
    "skopeo",
    "umoci",
    "podman",
    "tar2sqfs",
    "rdsquashfs",
    "sqfs2tar",
    "unsquashfs",
    "bwrap",
    "systemctl",
    "matchpathcon",
    SELINUX_FILE_CONTEXTS,
];

/// A real SELinux policy's file contexts (the reference policy's, which
/// the package makes when it is installed), for `matchpathcon` to read.
pub(crate) const SELINUX_FILE_CONTEXTS: &str = "/etc/selinux/default/contexts/files/file_contexts";

/// `mke2fs -d` reading a tar archive: e2fsprogs 1.47.1 or later (Debian has
/// it in the backports suite) and the libarchive it loads at run time.
pub(crate) const MKE2FS_TAR: &str = "mke2fs>=1.47.1";

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
        "mkfs.ext4" | "mke2fs" | "debugfs" => "e2fsprogs",
        "blkid" | "setpriv" => "util-linux",
        "python3" => "python3",
        "mkfs.vfat" | "fsck.fat" => "dosfstools",
        "xorriso" => "xorriso",
        "isoinfo" | "genisoimage" => "genisoimage",
        "mcopy" => "mtools",
        "grub-mkstandalone" | "grub-mkimage" => "grub-common",
        "/usr/lib/grub/x86_64-efi/normal.mod" => "grub-efi-amd64-bin",
        "/usr/lib/grub/i386-pc/normal.mod" => "grub-pc-bin",
        "/usr/lib/ISOLINUX/isolinux.bin" => "isolinux",
        "/usr/lib/syslinux/modules/bios/ldlinux.c32" => "syslinux-common",
        "/usr/share/ovmf/OVMF.fd" => "ovmf",
        "/usr/bin/time" => "time",
        "createrepo_c" => "createrepo-c",
        "rpm" | "rpmsign" => "rpm",
        "gpg" => "gnupg",
        "dnf" => "dnf",
        "skopeo" => "skopeo",
        "umoci" => "umoci",
        "podman" => "podman",
        "tar2sqfs" | "rdsquashfs" | "sqfs2tar" => "squashfs-tools-ng",
        "mksquashfs" | "unsquashfs" => "squashfs-tools",
        "bwrap" => "bubblewrap",
        "systemctl" => "systemd",
        "matchpathcon" => "selinux-utils",
        SELINUX_FILE_CONTEXTS => "selinux-policy-default",
        _ => "",
    }
}

fn have(tool: &str) -> bool {
    if tool == MKE2FS_TAR {
        return mke2fs_reads_tar();
    }
    if tool.starts_with('/') {
        return std::path::Path::new(tool).exists();
    }
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
    // From the backports suite: qemu-img 10 and the emulator together
    // (the emulator from the plain suite would replace qemu-img with the
    // old one), and an e2fsprogs whose mke2fs reads tar archives.
    let mut backports: Vec<&str> = Vec::new();
    if missing.contains(&"qemu-system-x86_64") {
        backports.extend(["qemu-utils", "qemu-system-x86"]);
    }
    if missing.contains(&MKE2FS_TAR) {
        backports.extend(["e2fsprogs", "libarchive13"]);
    }
    if packages.is_empty() && backports.is_empty() {
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
    if !backports.is_empty() {
        add_backports()?;
    }
    sh(&mut apt(&["update", "-q"]))?;
    if !packages.is_empty() {
        let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
        install.extend_from_slice(&packages);
        sh(&mut apt(&install))?;
    }
    if !backports.is_empty() {
        let suite = format!("{}-backports", codename()?);
        let mut install = vec![
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "-t",
            &suite,
        ];
        install.extend_from_slice(&backports);
        sh(&mut apt(&install))?;
    }
    let still: Vec<&&str> = missing
        .iter()
        .filter(|t| **t != "cargo-fuzz" && !have(t))
        .collect();
    if !still.is_empty() {
        bail!("still missing after installing: {still:?}");
    }
    Ok(())
}

/// Runs `apt-get update` when apt has no package lists yet (a fresh
/// machine whose tools were all there), so `apt-get download` works.
pub(crate) fn ensure_apt_lists() -> Result<()> {
    let has_lists = std::fs::read_dir("/var/lib/apt/lists")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
        })
        .unwrap_or(false);
    if has_lists {
        return Ok(());
    }
    let mut c = if is_root() {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.arg("apt-get");
        c
    };
    sh(c.args(["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Whether `mke2fs` is 1.47.1 or later and libarchive is installed.
fn mke2fs_reads_tar() -> bool {
    let Ok(out) = Command::new("mke2fs").arg("-V").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stderr);
    let version: Vec<u32> = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse().unwrap_or(0))
        .collect();
    let libarchive = Command::new("sh")
        .args(["-c", "ldconfig -p | grep -q 'libarchive.so.13 '"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    version >= vec![1, 47, 1] && libarchive
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// The Debian release name, from /etc/os-release.
fn codename() -> Result<String> {
    let text = std::fs::read_to_string("/etc/os-release")?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string())
        .ok_or_else(|| anyhow::anyhow!("no VERSION_CODENAME in /etc/os-release"))
}

/// Adds the release's backports suite to apt, with the mirror apt already
/// uses for Debian, unless some source lists it already.
fn add_backports() -> Result<()> {
    let suite = format!("{}-backports", codename()?);
    let mut mirror = None;
    let mut files = vec![std::path::PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(dir.filter_map(|e| e.ok().map(|e| e.path())));
    }
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        if text
            .lines()
            .any(|l| !l.trim_start().starts_with('#') && l.contains(&suite))
        {
            return Ok(());
        }
        for line in text.lines().map(str::trim) {
            let uri = line
                .strip_prefix("URIs:")
                .map(|u| u.split_whitespace().next().unwrap_or(""))
                .or_else(|| {
                    line.strip_prefix("deb ")
                        .and_then(|r| r.split_whitespace().find(|w| w.contains("://")))
                });
            if let Some(uri) = uri {
                if mirror.is_none() && uri.contains("debian") && !uri.contains("security") {
                    mirror = Some(uri.to_string());
                }
            }
        }
    }
    let mirror = mirror.unwrap_or_else(|| "http://deb.debian.org/debian".into());
    let entry = format!(
        "Types: deb\nURIs: {mirror}\nSuites: {suite}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    );
    let path = "/etc/apt/sources.list.d/imgconv-backports.sources";
    println!("adding {suite} from {mirror} to apt ({path})");
    if is_root() {
        std::fs::write(path, entry)?;
    } else {
        let mut tee = Command::new("sudo")
            .args(["tee", path])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()?;
        std::io::Write::write_all(tee.stdin.as_mut().expect("piped"), entry.as_bytes())?;
        if !tee.wait()?.success() {
            bail!("could not write {path}");
        }
    }
    Ok(())
}
