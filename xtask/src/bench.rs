//! `cargo xtask bench`: imgconv against `qemu-img convert`, same inputs,
//! same run, as medians and ratios.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::demo::imgconv_binary;
use crate::{root, sh, tools};

/// One comparison: an imgconv command and the qemu-img commands doing the
/// same work (run one after another, their times added).
struct Case {
    name: String,
    ours: Vec<String>,
    theirs: Vec<Vec<String>>,
    /// Our output and qemu-img's, to compare sizes.
    outputs: Option<(PathBuf, PathBuf)>,
}

/// Times `cmd` from a settled start: its earlier output removed and every
/// dirty page written back first, so one run's write-back does not slow the next.
fn time(cmd: &[String], out_dir: &Path) -> Result<f64> {
    for e in std::fs::read_dir(out_dir)? {
        std::fs::remove_file(e?.path())?;
    }
    sh(&mut Command::new("sync"))?;
    let start = Instant::now();
    let status = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Length of our (0) or qemu-img's (1) output of a case, if it names them.
fn output_len(outputs: &Option<(PathBuf, PathBuf)>, which: usize) -> u64 {
    outputs
        .as_ref()
        .map(|(a, b)| if which == 0 { a } else { b })
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The 16 GiB disk holding 1 GiB of data in 64 MiB pieces.
fn sparse_input(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("sparse-16g.raw");
    if !path.exists() {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(&path)?;
        f.set_len(16 << 30)?;
        let mut rng = testkit::Rng::new(16);
        let mut buf = vec![0u8; 64 << 20];
        for i in 0..16u64 {
            rng.fill(&mut buf);
            f.write_all_at(&buf, i * (1 << 30) + (i % 4) * (64 << 20))?;
        }
    }
    Ok(path)
}

/// 2 GiB of incompressible data.
fn random_input(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("random-2g.raw");
    if !path.exists() {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let mut rng = testkit::Rng::new(2);
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..2048 {
            for c in buf.chunks_mut(8) {
                c.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            f.write_all(&buf)?;
        }
        f.flush()?;
    }
    Ok(path)
}

/// A realistic OS disk: a Debian minbase root (debootstrap) as ext4 and a
/// FAT ESP inside a 4 GiB GPT disk, built without loop devices.
fn os_input(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("os-4g.raw");
    if path.exists() {
        return Ok(path);
    }
    tools::ensure(&["debootstrap", "mkfs.ext4", "mkfs.vfat", "sgdisk"])?;
    let rootfs = dir.join("rootfs");
    if !rootfs.join("etc/debian_version").exists() {
        let _ = std::fs::remove_dir_all(&rootfs);
        sh(Command::new("debootstrap")
            .args(["--variant=minbase", "bookworm"])
            .arg(&rootfs)
            .arg("http://deb.debian.org/debian"))?;
    }
    let tmp = dir.join("os-4g.raw.part");
    let f = std::fs::File::create(&tmp)?;
    f.set_len(4 << 30)?;
    drop(f);
    sh(Command::new("sgdisk")
        .args([
            "--clear",
            "-n",
            "1:1MiB:+255MiB",
            "-t",
            "1:ef00",
            "-n",
            "2:0:0",
            "-t",
            "2:8304",
        ])
        .arg(&tmp)
        .stdout(Stdio::null()))?;
    // ESP: 255 MiB FAT32 at 1 MiB, written in place with mkfs's offset.
    let esp = dir.join("esp.img");
    let _ = std::fs::remove_file(&esp);
    sh(Command::new("mkfs.vfat")
        .args(["-F", "32", "-C"])
        .arg(&esp)
        .arg("261120")
        .stdout(Stdio::null()))?;
    sh(Command::new("dd")
        .arg(format!("if={}", s(&esp)))
        .arg(format!("of={}", s(&tmp)))
        .args(["bs=1M", "seek=1", "conv=notrunc,sparse", "status=none"]))?;
    std::fs::remove_file(&esp)?;
    // Root: ext4 of the rest, built from the directory at its offset.
    let root_start = 256u64 << 20;
    let root_blocks = ((4u64 << 30) - root_start - (1 << 20)) / 4096;
    sh(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", "4096", "-E"])
        .arg(format!("offset={root_start}"))
        .arg("-d")
        .arg(&rootfs)
        .arg(&tmp)
        .arg(root_blocks.to_string()))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// A tree of about 1 GiB for the ISO case: five copies of the debootstrap
/// root (many small files, as an installer tree has).
fn iso_tree(dir: &Path) -> Result<PathBuf> {
    let tree = dir.join("iso-tree");
    tools::ensure(&["xorriso"])?;
    if tree.join("done").exists() {
        return Ok(tree);
    }
    os_input(dir)?;
    let _ = std::fs::remove_dir_all(&tree);
    std::fs::create_dir_all(&tree)?;
    for n in 1..=5 {
        sh(Command::new("cp")
            .args(["-a"])
            .arg(dir.join("rootfs"))
            .arg(tree.join(format!("root{n}"))))?;
    }
    std::fs::write(tree.join("done"), b"")?;
    Ok(tree)
}

fn iso_case(bin: &Path, tree: &Path, out: &Path) -> Case {
    let (ours, theirs) = (out.join("tree.iso"), out.join("tree.xorriso.iso"));
    Case {
        name: "iso -R -J (vs xorriso -as mkisofs)".into(),
        ours: vec![s(bin), "iso".into(), s(tree), "-o".into(), s(&ours)],
        theirs: vec![vec![
            "xorriso".into(),
            "-as".into(),
            "mkisofs".into(),
            "-quiet".into(),
            "-R".into(),
            "-J".into(),
            "-o".into(),
            s(&theirs),
            s(tree),
        ]],
        outputs: Some((ours, theirs)),
    }
}

/// The debootstrap root as an archive, owners as numbers, xattrs kept.
fn rootfs_tar(dir: &Path) -> Result<PathBuf> {
    let tar = dir.join("rootfs.tar");
    if !tar.exists() {
        os_input(dir)?;
        let part = dir.join("rootfs.tar.part");
        sh(Command::new("tar")
            .args(["--numeric-owner", "--xattrs", "--sort=name", "-C"])
            .arg(dir.join("rootfs"))
            .arg("-cf")
            .arg(&part)
            .arg("."))?;
        std::fs::rename(&part, &tar)?;
    }
    Ok(tar)
}

/// The disk the build cases make: a 4 GiB GPT disk with a 255 MiB ESP and
/// an ext4 root; `@LISTS@` is where package lists go.
const BUILD_CONFIG: &str = r#"{
  "Disks": [{
    "PartitionTableType": "gpt",
    "MaxSize": 4096,
    "Partitions": [
      {"ID": "esp", "Flags": ["esp"], "Start": 1, "End": 256, "FsType": "fat32"},
      {"ID": "rootfs", "Start": 256, "End": 0, "FsType": "ext4"}
    ]
  }],
  "SystemConfigs": [{
    "Name": "bench",@LISTS@
    "BootType": "none",
    "PartitionSettings": [
      {"ID": "esp", "MountPoint": "/boot/efi"},
      {"ID": "rootfs", "MountPoint": "/"}
    ]
  }]
}
"#;

/// `imgconv build` of the debootstrap root into raw, vhd-fixed, vhdx and
/// qcow2, against what a root user runs today for the same disk: a sparse
/// file, sgdisk, mkfs.vfat, mke2fs -d, dd into place, and four qemu-img
/// convert runs.
fn build_case(bin: &Path, tar: &Path, out: &Path) -> Result<Case> {
    let dir = tar.parent().unwrap_or(Path::new("."));
    let config = dir.join("bench-build.json");
    std::fs::write(&config, BUILD_CONFIG.replace("@LISTS@", ""))?;
    let script = disk_pipeline(
        &s(tar),
        out,
        &[
            ("-O raw", "pipeline.copy.raw"),
            (
                "-O vpc -o subformat=fixed,force_size=on",
                "pipeline.fixed.vhd",
            ),
            (
                "-O vhdx -o subformat=dynamic,block_size=2M",
                "pipeline.vhdx",
            ),
            ("-O qcow2", "pipeline.qcow2"),
        ],
    );
    Ok(Case {
        name: "build raw,vhd-fixed,vhdx,qcow2 (vs mkfs+dd+4 qemu-img)".into(),
        ours: vec![
            s(bin),
            "build".into(),
            s(&config),
            "--rootfs".into(),
            s(tar),
            "--to".into(),
            "raw,vhd-fixed,vhdx,qcow2".into(),
            "--output-dir".into(),
            s(out),
            "--work-dir".into(),
            s(out),
        ],
        theirs: vec![vec!["sh".into(), "-c".into(), script]],
        outputs: Some((out.join("bench-build.qcow2"), out.join("pipeline.qcow2"))),
    })
}

/// The disk of [`BUILD_CONFIG`] made as root makes it today from `src` (a
/// tar archive or a directory): a sparse file, sgdisk, mkfs.vfat,
/// mke2fs -d, dd into place; then a `qemu-img convert` with each of
/// `converts` (options, output name under `out`).
fn disk_pipeline(src: &str, out: &Path, converts: &[(&str, &str)]) -> String {
    let o = |name: &str| s(&out.join(name));
    let mut script = format!(
        "set -e\n\
         truncate -s 4G {disk}\n\
         sgdisk --clear -n 1:1MiB:+255MiB -t 1:ef00 -n 2:256MiB:0 -t 2:8300 {disk} >/dev/null\n\
         mkfs.vfat -F 32 -C {esp} 261120 >/dev/null\n\
         mke2fs -q -F -t ext4 -d {src} {root} $(( ($(sgdisk -i 2 {disk} | sed -n 's/^Partition size: \\([0-9]*\\).*/\\1/p') * 512) / 1024 ))k\n\
         dd if={esp} of={disk} bs=1M seek=1 conv=notrunc,sparse status=none\n\
         dd if={root} of={disk} bs=1M seek=256 conv=notrunc,sparse status=none\n\
         rm -f {esp} {root}\n",
        disk = o("pipeline.raw"),
        esp = o("esp.img"),
        root = o("root.img"),
    );
    for (options, name) in converts {
        script.push_str(&format!(
            "qemu-img convert {options} {} {}\n",
            o("pipeline.raw"),
            o(name)
        ));
    }
    script
}

/// `imgconv build --to oci-archive` of the debootstrap root (gzip layer,
/// then zstd) against what people run for the same image: umoci (init,
/// new, insert of the tree as one layer, pgzip on every core) and a tar of
/// the layout.
fn container_cases(bin: &Path, tar: &Path, out: &Path) -> Result<Vec<Case>> {
    tools::ensure(&["umoci"])?;
    let dir = tar.parent().unwrap_or(Path::new("."));
    let tree = dir.join("rootfs");
    let config = dir.join("bench-container.json");
    std::fs::write(
        &config,
        r#"{"Disks": [{"Artifacts": [{"Name": "bench", "Compression": "tar.gz"}]}],
  "SystemConfigs": [{"Name": "bench"}]}
"#,
    )?;
    let o = |name: &str| s(&out.join(name));
    let layout = dir.join("umoci-layout");
    let script = format!(
        "set -e\n\
         rm -rf {layout}\n\
         umoci init --layout {layout}\n\
         umoci new --image {layout}:latest\n\
         umoci insert --image {layout}:latest {tree} /\n\
         tar -C {layout} -cf {archive} .\n\
         rm -rf {layout}\n",
        layout = s(&layout),
        tree = s(&tree),
        archive = o("umoci.oci.tar"),
    );
    Ok(["gzip", "zstd"]
        .iter()
        .map(|layer| Case {
            name: format!("build oci-archive, {layer} (vs umoci + tar)"),
            ours: vec![
                s(bin),
                "build".into(),
                s(&config),
                "--rootfs".into(),
                s(&tree),
                "--to".into(),
                "oci-archive".into(),
                "--layer-compression".into(),
                (*layer).into(),
                "-o".into(),
                o("bench.oci.tar"),
            ],
            theirs: vec![vec!["sh".into(), "-c".into(), script.clone()]],
            outputs: Some((out.join("bench.oci.tar"), out.join("umoci.oci.tar"))),
        })
        .collect())
}

/// `imgconv build --to iso` of the debootstrap root with the test kernel,
/// initramfs, busybox init and GRUB laid over it, against the same live ISO
/// made by hand: mksquashfs (zstd, every core), GRUB's El Torito and EFI
/// images from the tree's GRUB, a FAT image with mkfs.vfat and mcopy, and
/// `xorriso -as mkisofs` with GRUB's hybrid MBR.
fn live_iso_cases(bin: &Path, tar: &Path, out: &Path) -> Result<Vec<Case>> {
    tools::ensure(&[
        "mksquashfs",
        "tar2sqfs",
        "xorriso",
        "mkfs.vfat",
        "mcopy",
        "grub-mkimage",
    ])?;
    let dir = tar.parent().unwrap_or(Path::new("."));
    let tree = dir.join("live-rootfs");
    if !tree.join("usr/lib/grub/i386-pc").exists() {
        let part = dir.join("live-rootfs.part");
        let _ = std::fs::remove_dir_all(&part);
        sh(Command::new("cp")
            .arg("-a")
            .arg(dir.join("rootfs"))
            .arg(&part))?;
        let boot = testkit::bootroot::rootfs_tar(testkit::bootroot::Variant::Grub);
        sh(Command::new("tar")
            .args(["--numeric-owner", "--xattrs", "-xf"])
            .arg(&boot)
            .arg("-C")
            .arg(&part))?;
        std::fs::rename(&part, &tree)?;
    }
    let config = dir.join("bench-live.json");
    std::fs::write(
        &config,
        r#"{"Disks": [{"Artifacts": [{"Name": "live", "Type": "iso"}]}],
  "SystemConfigs": [{"Name": "live", "KernelCommandLine": {"ExtraCommandLine": "console=ttyS0"}}]}
"#,
    )?;
    let o = |name: &str| s(&out.join(name));
    let stage = dir.join("live-stage");
    let modules = "biosdisk part_gpt part_msdos fat iso9660 search search_label normal configfile linux echo test boot gzio ls cat serial terminal";
    let efi_modules = "part_gpt part_msdos fat iso9660 search search_label normal configfile linux echo test boot gzio ls cat all_video efi_gop serial terminal";
    let script = |mksquashfs: &str| {
        format!(
        "set -e\n\
         rm -rf {stage}\n\
         mkdir -p {stage}/iso/LiveOS {stage}/iso/boot/grub/i386-pc {stage}/efi/EFI/BOOT\n\
         mksquashfs {tree} {stage}/iso/LiveOS/squashfs.img {mksquashfs} -noappend -quiet -no-progress\n\
         cp {tree}/boot/vmlinuz-* {tree}/boot/initrd.img-* {stage}/iso/boot/\n\
         printf 'search --no-floppy --label --set=root LIVE\\nset prefix=($root)/boot/grub\\n' > {stage}/early.cfg\n\
         grub-mkimage -O i386-pc-eltorito -d {tree}/usr/lib/grub/i386-pc -p /boot/grub -c {stage}/early.cfg -o {stage}/iso/boot/grub/i386-pc/eltorito.img {modules}\n\
         grub-mkimage -O x86_64-efi -d {tree}/usr/lib/grub/x86_64-efi -p /boot/grub -c {stage}/early.cfg -o {stage}/efi/EFI/BOOT/BOOTX64.EFI {efi_modules}\n\
         mkfs.vfat -C {stage}/iso/boot/grub/efi.img 8192 >/dev/null\n\
         mcopy -s -i {stage}/iso/boot/grub/efi.img {stage}/efi/EFI ::/\n\
         k=$(cd {tree}/boot && ls vmlinuz-* | head -n 1); v=${{k#vmlinuz-}}\n\
         printf 'menuentry live {{\\n search --no-floppy --label --set=root LIVE\\n linux /boot/%s root=live:CDLABEL=LIVE rd.live.image console=ttyS0\\n initrd /boot/initrd.img-%s\\n}}\\n' \"$k\" \"$v\" > {stage}/iso/boot/grub/grub.cfg\n\
         xorriso -as mkisofs -quiet -R -J -V LIVE -o {iso} --grub2-mbr {tree}/usr/lib/grub/i386-pc/boot_hybrid.img \\\n\
           -b boot/grub/i386-pc/eltorito.img -no-emul-boot -boot-load-size 4 -boot-info-table --grub2-boot-info \\\n\
           -eltorito-alt-boot -e boot/grub/efi.img -no-emul-boot -isohybrid-gpt-basdat {stage}/iso\n\
         rm -rf {stage}\n",
        stage = s(&stage),
        tree = s(&tree),
        iso = o("xorriso-live.iso"),
    )
    };
    // mksquashfs as it comes (gzip), and with the compression imgconv
    // uses by default.
    Ok([
        ("", "mksquashfs (gzip) + grub-mkimage + xorriso"),
        (
            "-comp zstd -Xcompression-level 6",
            "mksquashfs zstd:6 + grub-mkimage + xorriso",
        ),
    ]
    .into_iter()
    .map(|(args, theirs)| Case {
        name: format!("build iso, live (vs {theirs})"),
        ours: vec![
            s(bin),
            "build".into(),
            s(&config),
            "--rootfs".into(),
            s(&tree),
            "--to".into(),
            "iso".into(),
            "-o".into(),
            o("bench-live.iso"),
            "--work-dir".into(),
            s(out),
        ],
        theirs: vec![vec!["sh".into(), "-c".into(), script(args)]],
        outputs: Some((out.join("bench-live.iso"), out.join("xorriso-live.iso"))),
    })
    .collect())
}

/// A repository made from the debootstrap root: its files in one zstd
/// package per directory three levels down (`usr/lib/x86_64-linux-gnu`,
/// `usr/share/doc`, …; shallower entries by their own parent), indexed by
/// createrepo_c. Returns the repository and the packages' names.
fn bench_repo(tree: &Path, repo: &Path) -> Result<Vec<String>> {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;
    use testkit::rpms::PackageSpec;

    let names_file = repo.join("names");
    if let Ok(text) = std::fs::read_to_string(&names_file) {
        return Ok(text.lines().map(str::to_owned).collect());
    }
    let part = repo.with_extension("part");
    let _ = std::fs::remove_dir_all(&part);
    std::fs::create_dir_all(&part)?;
    let mut groups: BTreeMap<String, PackageSpec> = BTreeMap::new();
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path.strip_prefix(tree)?.to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&path)?;
            // A directory goes with what it holds, anything else with
            // its directory; both three levels down at most.
            let parts: Vec<&str> = rel.split('/').collect();
            let owner = if meta.is_dir() {
                &parts[..]
            } else {
                &parts[..parts.len() - 1]
            };
            let key = match owner[..owner.len().min(3)].join("-") {
                k if k.is_empty() => "filesystem".to_string(),
                k => k,
            };
            let name: String = format!("bench-{key}")
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-._+".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let spec = groups
                .entry(name.clone())
                .or_insert_with(|| PackageSpec::new(&name, "1.0", "1").zstd());
            let mode = (meta.permissions().mode() & 0o7777) as u16;
            let at = format!("/{rel}");
            let taken = std::mem::replace(spec, PackageSpec::new(&name, "1.0", "1"));
            *spec = if meta.file_type().is_symlink() {
                taken.symlink(&at, &std::fs::read_link(&path)?.to_string_lossy())
            } else if meta.is_dir() {
                stack.push(path.clone());
                taken.dir(&at, mode)
            } else if meta.is_file() {
                taken.file(&at, mode, std::fs::read(&path)?)
            } else {
                // Device nodes and pipes: not in packages.
                taken
            };
        }
    }
    let names: Vec<String> = groups.keys().cloned().collect();
    for spec in groups.values() {
        testkit::rpms::build_rpm(&part, spec);
    }
    testkit::rpms::createrepo(&part);
    std::fs::write(part.join("names"), names.join("\n"))?;
    let _ = std::fs::remove_dir_all(repo);
    std::fs::rename(&part, repo)?;
    Ok(names)
}

/// `imgconv rootfs` of every package of [`bench_repo`] against
/// `rpm --root DIR -i --nodeps --noscripts` of the same files followed by
/// `tar -c`, and against `dnf --installroot` and `tar -c`.
fn rootfs_stage_cases(bin: &Path, tar: &Path, out: &Path) -> Result<Vec<Case>> {
    tools::ensure(&["rpm", "dnf", "createrepo_c"])?;
    let dir = tar.parent().unwrap_or(Path::new("."));
    let repo = dir.join("rpm-repo");
    let names = bench_repo(&dir.join("rootfs"), &repo)?;
    let list = dir.join("bench-packages.json");
    std::fs::write(
        &list,
        format!(
            "{{\"packages\": [{}]}}\n",
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )?;
    let root = dir.join("rpm-root");
    let cache = dir.join("dnf-cache");
    let theirs_tar = out.join("theirs-rootfs.tar");
    let rpm = format!(
        "set -e\nrm -rf {root}\nmkdir -p {root}\nrpm --root {root} --initdb\n\
         rpm --root {root} -i --nodeps --noscripts --nosignature {repo}/*.rpm\n\
         tar -C {root} -cf {out} .\nrm -rf {root}\n",
        root = s(&root),
        repo = s(&repo),
        out = s(&theirs_tar),
    );
    let dnf = format!(
        "set -e\nrm -rf {root} {cache}\n\
         dnf -q -y --installroot={root} --setopt=cachedir={cache} --setopt=reposdir=/dev/null \\\n\
           --releasever=1 --nogpgcheck --setopt=install_weak_deps=False \\\n\
           --repofrompath=b,file://{repo} --repo=b install {names} >/dev/null\n\
         tar -C {root} -cf {out} .\nrm -rf {root} {cache}\n",
        root = s(&root),
        cache = s(&cache),
        repo = s(&repo),
        names = names.join(" "),
        out = s(&theirs_tar),
    );
    // Packages to disks in one run, against dnf and the root pipeline.
    let config = dir.join("bench-packages-build.json");
    std::fs::write(
        &config,
        BUILD_CONFIG.replace("@LISTS@", &format!(" \"PackageLists\": [{:?}],", s(&list))),
    )?;
    let pipeline = disk_pipeline(
        &s(&root),
        out,
        &[
            (
                "-O vhdx -o subformat=dynamic,block_size=2M",
                "pipeline.vhdx",
            ),
            ("-O qcow2", "pipeline.qcow2"),
        ],
    );
    let dnf_disks = format!(
        "set -e\nrm -rf {root} {cache}\n\
         dnf -q -y --installroot={root} --setopt=cachedir={cache} --setopt=reposdir=/dev/null \\\n\
           --releasever=1 --nogpgcheck --setopt=install_weak_deps=False \\\n\
           --repofrompath=b,file://{repo} --repo=b install {names} >/dev/null\n\
         {pipeline}rm -rf {root} {cache}\n",
        root = s(&root),
        cache = s(&cache),
        repo = s(&repo),
        names = names.join(" "),
    );
    let disks = Case {
        name: format!(
            "build vhdx,qcow2 from {} packages (vs dnf --installroot + mkfs+dd+2 qemu-img)",
            names.len()
        ),
        ours: vec![
            s(bin),
            "build".into(),
            s(&config),
            "--repo".into(),
            s(&repo),
            "--no-gpg-check".into(),
            "--to".into(),
            "vhdx,qcow2".into(),
            "--output-dir".into(),
            s(out),
            "--work-dir".into(),
            s(out),
        ],
        theirs: vec![vec!["sh".into(), "-c".into(), dnf_disks]],
        outputs: Some((
            out.join("bench-packages-build.qcow2"),
            out.join("pipeline.qcow2"),
        )),
    };
    Ok([
        ("rpm -i --nodeps --noscripts + tar", rpm),
        ("dnf --installroot + tar", dnf),
    ]
    .into_iter()
    .map(|(theirs, script)| Case {
        name: format!("rootfs, {} packages (vs {theirs})", names.len()),
        ours: vec![
            s(bin),
            "rootfs".into(),
            "--repo".into(),
            s(&repo),
            "--no-gpg-check".into(),
            "--install-list".into(),
            s(&list),
            "-o".into(),
            s(&out.join("bench-rootfs.tar")),
        ],
        theirs: vec![vec!["sh".into(), "-c".into(), script]],
        outputs: Some((out.join("bench-rootfs.tar"), theirs_tar.clone())),
    })
    .chain([disks])
    .collect())
}

/// Peak resident memory of `cmd` in KiB, as GNU time reports it.
fn peak_rss_kib(cmd: &[String], out_dir: &Path) -> Result<u64> {
    tools::ensure(&["/usr/bin/time"])?;
    for e in std::fs::read_dir(out_dir)? {
        std::fs::remove_file(e?.path())?;
    }
    let report = out_dir.join("rss.txt");
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .args(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    let text = std::fs::read_to_string(&report)?;
    Ok(text.trim().parse()?)
}

fn cases(bin: &Path, input: &Path, out: &Path) -> Vec<Case> {
    if input.is_dir() {
        return vec![iso_case(bin, input, out)];
    }
    if input.extension().is_some_and(|e| e == "tar") {
        let mut v: Vec<Case> = build_case(bin, input, out).into_iter().collect();
        v.extend(container_cases(bin, input, out).unwrap_or_default());
        match rootfs_stage_cases(bin, input, out) {
            Ok(c) => v.extend(c),
            Err(e) => eprintln!("package stage cases left out: {e:#}"),
        }
        match live_iso_cases(bin, input, out) {
            Ok(c) => v.extend(c),
            Err(e) => eprintln!("live ISO case left out: {e:#}"),
        }
        return v;
    }
    let stem = input
        .file_stem()
        .map(|x| x.to_string_lossy().into_owned())
        .unwrap_or_default();
    let o = |ext: &str| s(&out.join(format!("{stem}.{ext}")));
    let q = |ext: &str| s(&out.join(format!("{stem}.qemu.{ext}")));
    let i = s(input);
    let b = s(bin);
    let mut v = vec![
        Case {
            name: "qcow2".into(),
            ours: vec![
                b.clone(),
                i.clone(),
                "--to".into(),
                "qcow2".into(),
                "-o".into(),
                o("qcow2"),
            ],
            theirs: vec![vec![
                "qemu-img".into(),
                "convert".into(),
                "-O".into(),
                "qcow2".into(),
                i.clone(),
                q("qcow2"),
            ]],
            outputs: Some((o("qcow2").into(), q("qcow2").into())),
        },
        Case {
            name: "qcow2 -c (vs qemu-img -c)".into(),
            ours: vec![
                b.clone(),
                i.clone(),
                "--to".into(),
                "qcow2".into(),
                "-c".into(),
                "-o".into(),
                o("c.qcow2"),
            ],
            theirs: vec![vec![
                "qemu-img".into(),
                "convert".into(),
                "-c".into(),
                "-O".into(),
                "qcow2".into(),
                i.clone(),
                q("c.qcow2"),
            ]],
            outputs: Some((o("c.qcow2").into(), q("c.qcow2").into())),
        },
        Case {
            name: "qcow2 -c (vs qemu-img -c -W -m 16)".into(),
            ours: vec![
                b.clone(),
                i.clone(),
                "--to".into(),
                "qcow2".into(),
                "-c".into(),
                "-o".into(),
                o("c.qcow2"),
            ],
            theirs: vec![vec![
                "qemu-img".into(),
                "convert".into(),
                "-c".into(),
                "-W".into(),
                "-m".into(),
                "16".into(),
                "-O".into(),
                "qcow2".into(),
                i.clone(),
                q("cw.qcow2"),
            ]],
            outputs: Some((o("c.qcow2").into(), q("cw.qcow2").into())),
        },
        Case {
            name: "vhd (dynamic)".into(),
            ours: vec![
                b.clone(),
                i.clone(),
                "--to".into(),
                "vhd".into(),
                "-o".into(),
                o("vhd"),
            ],
            theirs: vec![vec![
                "qemu-img".into(),
                "convert".into(),
                "-O".into(),
                "vpc".into(),
                i.clone(),
                q("vhd"),
            ]],
            outputs: Some((o("vhd").into(), q("vhd").into())),
        },
        Case {
            name: "vhd-fixed".into(),
            ours: vec![
                b.clone(),
                i.clone(),
                "--to".into(),
                "vhd-fixed".into(),
                "-o".into(),
                o("fixed.vhd"),
            ],
            theirs: vec![vec![
                "qemu-img".into(),
                "convert".into(),
                "-O".into(),
                "vpc".into(),
                "-o".into(),
                "subformat=fixed,force_size=on".into(),
                i.clone(),
                q("fixed.vhd"),
            ]],
            outputs: Some((o("fixed.vhd").into(), q("fixed.vhd").into())),
        },
        Case {
            name: "vmdk (monolithicSparse)".into(),
            ours: vec![
                b.clone(),
                i.clone(),
                "--to".into(),
                "vmdk".into(),
                "-o".into(),
                o("vmdk"),
            ],
            theirs: vec![vec![
                "qemu-img".into(),
                "convert".into(),
                "-O".into(),
                "vmdk".into(),
                i.clone(),
                q("vmdk"),
            ]],
            outputs: Some((o("vmdk").into(), q("vmdk").into())),
        },
        Case {
            name: "vmdk-stream (streamOptimized)".into(),
            ours: vec![
                b.clone(),
                i.clone(),
                "--to".into(),
                "vmdk-stream".into(),
                "-o".into(),
                o("stream.vmdk"),
            ],
            theirs: vec![vec![
                "qemu-img".into(),
                "convert".into(),
                "-O".into(),
                "vmdk".into(),
                "-o".into(),
                "subformat=streamOptimized".into(),
                i.clone(),
                q("stream.vmdk"),
            ]],
            outputs: Some((o("stream.vmdk").into(), q("stream.vmdk").into())),
        },
        Case {
            name: "ova (vs our vmdk-stream alone)".into(),
            ours: vec![
                b.clone(),
                i.clone(),
                "--to".into(),
                "ova".into(),
                "-o".into(),
                o("ova"),
            ],
            theirs: vec![vec![
                b.clone(),
                i.clone(),
                "--to".into(),
                "vmdk-stream".into(),
                "-o".into(),
                o("alone.vmdk"),
            ]],
            outputs: Some((o("ova").into(), o("alone.vmdk").into())),
        },
        Case {
            name: "vhdx (vs qemu block_size=2M)".into(),
            ours: vec![
                b.clone(),
                i.clone(),
                "--to".into(),
                "vhdx".into(),
                "-o".into(),
                o("vhdx"),
            ],
            theirs: vec![vec![
                "qemu-img".into(),
                "convert".into(),
                "-O".into(),
                "vhdx".into(),
                "-o".into(),
                "subformat=dynamic,block_size=2M".into(),
                i.clone(),
                q("vhdx"),
            ]],
            outputs: Some((o("vhdx").into(), q("vhdx").into())),
        },
        Case {
            name: "vhdx (vs qemu default block size)".into(),
            ours: vec![
                b.clone(),
                i.clone(),
                "--to".into(),
                "vhdx".into(),
                "-o".into(),
                o("vhdx"),
            ],
            theirs: vec![vec![
                "qemu-img".into(),
                "convert".into(),
                "-O".into(),
                "vhdx".into(),
                i.clone(),
                q("vhdx"),
            ]],
            outputs: Some((o("vhdx").into(), q("vhdx").into())),
        },
    ];
    let all = v
        .iter()
        .filter(|c| ["qcow2", "vhd (dynamic)", "vhd-fixed"].contains(&c.name.as_str()));
    let theirs = all.flat_map(|c| c.theirs.clone()).collect();
    v.push(Case {
        name: "--to vhd,vhd-fixed,qcow2 (vs 3 runs)".into(),
        ours: vec![
            b,
            i,
            "--to".into(),
            "vhd,vhd-fixed,qcow2".into(),
            "--output-dir".into(),
            s(out),
        ],
        theirs,
        outputs: None,
    });
    v
}

/// Runs the benchmark: every case on every input, `runs` times each.
pub(crate) fn run(runs: usize, only: Option<&str>) -> Result<()> {
    let bin = imgconv_binary()?;
    let dir = root().join("target/bench");
    let out = dir.join("out");
    std::fs::create_dir_all(&out)?;
    let mut inputs = Vec::new();
    for (name, make) in [
        ("os", os_input as fn(&Path) -> Result<PathBuf>),
        ("sparse", sparse_input),
        ("random", random_input),
        ("iso", iso_tree),
        ("build", rootfs_tar),
    ] {
        if only.is_none_or(|o| name.contains(o)) {
            inputs.push(make(&dir)?);
        }
    }
    println!(
        "{:<14} {:<36} {:>10} {:>10} {:>7} {:>12} {:>12}",
        "input", "case", "imgconv s", "theirs s", "ratio", "our bytes", "their bytes"
    );
    for input in &inputs {
        for case in cases(&bin, input, &out) {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            let mut sizes = (0, 0);
            for _ in 0..runs.max(1) {
                ours.push(time(&case.ours, &out)?);
                let ours_bytes = output_len(&case.outputs, 0);
                let mut t = 0.0;
                for cmd in &case.theirs {
                    t += time(cmd, &out)?;
                }
                sizes = (ours_bytes, output_len(&case.outputs, 1));
                theirs.push(t);
            }
            let (mo, mt) = (median(ours), median(theirs));
            let (bo, bt) = sizes;
            println!(
                "{:<14} {:<36} {:>10.3} {:>10.3} {:>7.2} {:>12} {:>12}",
                input
                    .file_stem()
                    .map(|x| x.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                case.name,
                mo,
                mt,
                mo / mt,
                bo,
                bt
            );
            if case.name.starts_with("build raw") {
                let kib = peak_rss_kib(&case.ours, &out)?;
                println!(
                    "{:<14} {:<36} peak RSS {} MiB (mke2fs included: it is a child)",
                    "",
                    "",
                    kib / 1024
                );
            }
        }
    }
    println!("ratio = imgconv median / median of the reference tool (qemu-img; xorriso for iso); below 1: imgconv is faster");
    Ok(())
}
