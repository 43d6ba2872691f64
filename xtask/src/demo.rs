//! `cargo xtask demo` and `cargo xtask testdata`: sample disks.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::{root, sh, tools};

/// Builds the imgconv binary (release) and returns its path.
pub(crate) fn imgconv_binary() -> Result<PathBuf> {
    sh(Command::new("cargo").current_dir(root()).args([
        "build",
        "--quiet",
        "--release",
        "--bin",
        "imgconv",
    ]))?;
    Ok(root().join("target/release/imgconv"))
}

/// A GPT disk made by sgdisk, with an ESP and a root partition holding data.
pub(crate) fn gpt_disk(path: &Path, size: u64) -> Result<()> {
    tools::ensure(&["sgdisk"])?;
    testkit::sgdisk_disk(path, size, 16);
    // Data in both partitions, with holes between.
    let mut rng = testkit::Rng::new(42);
    let mut buf = vec![0u8; 256 << 10];
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    for start in [1u64 << 20, 20 << 20, 33 << 20, size / 2, size - (3 << 20)] {
        rng.fill(&mut buf);
        f.write_all_at(&buf, start)?;
    }
    Ok(())
}

/// Makes the test images; returns the directory.
pub(crate) fn testdata() -> Result<PathBuf> {
    let dir = root().join("testdata/generated");
    std::fs::create_dir_all(&dir)?;
    gpt_disk(&dir.join("gpt-64m.raw"), 64 << 20)?;
    testkit::sample_disk(&dir.join("sparse-odd.raw"), (48 << 20) + 12345, 7);
    testkit::sample_disk(&dir.join("sparse-100m.raw"), 100 << 20, 8);
    println!("test images in {}", dir.display());
    Ok(dir)
}

/// The demo's image configuration: Azure Linux's toolkit format, a BIOS
/// boot partition, an ESP and an ext4 root — GRUB for BIOS and UEFI.
const DEMO_CONFIG: &str = r#"{
  "Disks": [{
    "PartitionTableType": "gpt",
    "MaxSize": 256,
    "Artifacts": [{"Name": "demo-os", "Type": "vhd"}],
    "Partitions": [
      {"ID": "bios", "Flags": ["bios_grub"], "Start": 1, "End": 9},
      {"ID": "esp", "Flags": ["esp", "boot"], "Start": 9, "End": 73, "FsType": "fat32"},
      {"ID": "rootfs", "Name": "rootfs", "Start": 73, "End": 0, "FsType": "ext4"}
    ]
  }],
  "SystemConfigs": [{
    "Name": "Standard",
    "BootType": "efi",
    "PartitionSettings": [
      {"ID": "esp", "MountPoint": "/boot/efi", "MountOptions": "umask=0077"},
      {"ID": "rootfs", "MountPoint": "/"}
    ],
    "Hostname": "imgconv-demo",
    "KernelCommandLine": {"ExtraCommandLine": "console=ttyS0"}
  }]
}
"#;

/// Builds a bootable disk from a small root filesystem (a Debian kernel,
/// busybox and an initramfs, with GRUB) into every VM format, boots one of
/// them, then converts a plain GPT disk and makes a hybrid ISO.
pub(crate) fn run() -> Result<()> {
    let bin = imgconv_binary()?;
    let dir = root().join("target/demo");
    std::fs::create_dir_all(&dir)?;
    build_demo(&bin, &dir)?;
    let disk = dir.join("demo.raw");
    // 64 MiB and 100 KiB: not a whole MiB, so the fixed VHD rounds it up.
    gpt_disk(&disk, (64 << 20) + (100 << 10))?;
    println!(
        "made {} (GPT with an ESP and a root partition)",
        disk.display()
    );
    sh(Command::new(&bin)
        .arg(&disk)
        .args(["--to", "vhd,vhd-fixed,vhdx,vmdk,vmdk-stream,qcow2"]))?;
    let compressed = dir.join("demo-compressed.qcow2");
    sh(Command::new(&bin)
        .arg(&disk)
        .args(["--to", "qcow2", "-c", "-o"])
        .arg(&compressed))?;
    for out in [
        dir.join("demo.vhd"),
        dir.join("demo.fixed.vhd"),
        dir.join("demo.vhdx"),
        dir.join("demo.vmdk"),
        dir.join("demo.stream.vmdk"),
        dir.join("demo.qcow2"),
        compressed,
    ] {
        println!();
        sh(Command::new(&bin).arg("info").arg(&out))?;
        // The fixed VHD is a larger disk whose GPT moved to its new end;
        // its info above shows the table intact.
        if !out.to_string_lossy().ends_with(".fixed.vhd") {
            sh(Command::new(&bin).arg("compare").arg(&disk).arg(&out))?;
        }
    }
    iso_demo(&bin, &dir)
}

/// `imgconv build` of the test root filesystem, as an ordinary user would
/// run it, then a boot of the result.
fn build_demo(bin: &Path, dir: &Path) -> Result<()> {
    tools::ensure(&[
        tools::MKE2FS_TAR,
        "grub-mkimage",
        "qemu-system-x86_64",
        "/usr/share/ovmf/OVMF.fd",
    ])?;
    let rootfs = testkit::bootroot::rootfs_tar(testkit::bootroot::Variant::Grub);
    let config = dir.join("demo-os.json");
    std::fs::write(&config, DEMO_CONFIG)?;
    println!("building {} from {}", config.display(), rootfs.display());
    sh(Command::new(bin)
        .arg("build")
        .arg(&config)
        .arg("--rootfs")
        .arg(&rootfs)
        .args(["--to", "raw,vhd-fixed,vhdx,vmdk,qcow2", "--output-dir"])
        .arg(dir))?;
    let qcow2 = dir.join("demo-os.qcow2");
    sh(Command::new(bin).arg("info").arg(&qcow2))?;
    for firmware in [
        testkit::boot::Firmware::SeaBios,
        testkit::boot::Firmware::Ovmf,
    ] {
        let opts = testkit::boot::BootOptions {
            firmware,
            ..Default::default()
        };
        let log = testkit::boot::assert_boots(&qcow2, "qcow2", &opts, "imgconv-demo");
        println!(
            "booted {} under {firmware:?} in {:.1} s: {}",
            qcow2.display(),
            log.elapsed.as_secs_f64(),
            log.serial
                .lines()
                .find(|l| l.starts_with(testkit::bootroot::BOOT_MARKER))
                .unwrap_or_default()
        );
    }
    println!();
    Ok(())
}

/// A small installer-like tree made into a hybrid ISO with a UEFI boot
/// image built from a directory, then described and extracted again.
fn iso_demo(bin: &Path, dir: &Path) -> Result<()> {
    let tree = dir.join("iso-tree");
    let efi = dir.join("iso-efi");
    let _ = std::fs::remove_dir_all(&tree);
    let _ = std::fs::remove_dir_all(&efi);
    std::fs::create_dir_all(tree.join("docs"))?;
    std::fs::create_dir_all(efi.join("EFI/BOOT"))?;
    std::fs::write(tree.join("docs/README.txt"), "an installer tree\n")?;
    std::fs::write(
        tree.join("Unicode names — kept by Joliet and Rock Ridge.txt"),
        "ok\n",
    )?;
    std::os::unix::fs::symlink("docs/README.txt", tree.join("README"))?;
    // Any file will do for the demo; a real image holds a boot loader here.
    std::fs::write(efi.join("EFI/BOOT/BOOTX64.EFI"), vec![0u8; 64 << 10])?;
    let iso = dir.join("demo.iso");
    println!();
    sh(Command::new(bin)
        .arg("iso")
        .arg(&tree)
        .arg("-o")
        .arg(&iso)
        .args(["-V", "IMGCONV_DEMO", "--efi-boot"])
        .arg(&efi)
        .arg("--hybrid"))?;
    sh(Command::new(bin).arg("info").arg(&iso))?;
    let out = dir.join("iso-extracted");
    let _ = std::fs::remove_dir_all(&out);
    sh(Command::new(bin)
        .args(["iso", "--extract"])
        .arg(&iso)
        .arg(&out))?;
    Ok(())
}
