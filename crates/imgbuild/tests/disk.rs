//! A disk built from a rootfs archive, checked by the tools of the field:
//! `sgdisk -v`, `e2fsck -fn`, `fsck.fat -n`, `debugfs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use blocksink::{BlockSource, BuildStamp};
use imgbuild::config::MIB;
use imgbuild::{
    build_disk, AdditionalFile, BootType, BuildOptions, Customized, FileSource, FsType,
    ImageConfig, Mount, MountIdentifier, PartitionRole, PartitionSpec, Rootfs,
};
use testkit::{run, run_ok};

fn config(dir: &Path) -> ImageConfig {
    ImageConfig {
        scripts: Vec::new(),
        services: Default::default(),
        selinux: None,
        groups: Vec::new(),
        users: Vec::new(),
        source: dir.join("test.json"),
        artifacts: Vec::new(),
        disk_size: 300 * MIB,
        partitions: vec![
            PartitionSpec {
                id: "boot".into(),
                label: "esp".into(),
                start: MIB,
                end: Some(65 * MIB),
                role: PartitionRole::Esp,
                type_guid: None,
                fs: Some(FsType::Fat32),
            },
            PartitionSpec {
                id: "rootfs".into(),
                label: "rootfs".into(),
                start: 65 * MIB,
                end: None,
                role: PartitionRole::Linux,
                type_guid: None,
                fs: Some(FsType::Ext4),
            },
        ],
        boot: BootType::None,
        boot_loader: imgbuild::BootLoader::Grub,
        mounts: vec![
            Mount {
                partition: "boot".into(),
                mount_point: "/boot/efi".into(),
                options: "umask=0077".into(),
                identifier: MountIdentifier::PartUuid,
            },
            Mount {
                partition: "rootfs".into(),
                mount_point: "/".into(),
                options: String::new(),
                identifier: MountIdentifier::Uuid,
            },
        ],
        hostname: Some("testhost".into()),
        kernel_cmdline: String::new(),
        kernel_args: Vec::new(),
        kernel_args_late: Vec::new(),
        fips: false,
        additional_files: vec![AdditionalFile {
            source: FileSource::Content("hello\n".into()),
            destination: "/etc/motd.d/hello".into(),
            mode: Some(0o600),
        }],
        modules: Vec::new(),
        packages: Default::default(),
        container: Default::default(),
    }
}

fn write_raw(disk: &mut dyn BlockSource, out: &Path) {
    let mut f = File::create(out).unwrap();
    f.set_len(disk.size()).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < disk.size() {
        let n = buf.len().min((disk.size() - at) as usize);
        disk.read_at(at, &mut buf[..n]).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, &buf[..n], at).unwrap();
        at += n as u64;
    }
    f.flush().unwrap();
}

fn extract(raw: &Path, start: u64, size: u64, out: &Path) {
    let data = fs::read(raw).unwrap();
    fs::write(out, &data[start as usize..(start + size) as usize]).unwrap();
}

fn build(dir: &Path, seed: &str) -> (PathBuf, imgbuild::BuiltDisk) {
    let tar = dir.join("rootfs.tar");
    if !tar.exists() {
        testkit::rootfs::sample_tar(&tar);
    }
    let rootfs = Rootfs::open(&tar).unwrap();
    let options = BuildOptions {
        stamp: BuildStamp::fixed(1_700_000_000, seed),
        work_dir: dir.to_path_buf(),
        ..Default::default()
    };
    let cfg = config(dir);
    let tree = Customized::new(&cfg, &rootfs, 1_700_000_000, None).unwrap();
    let mut built = build_disk(&tree, &options).unwrap();
    let raw = dir.join(format!("disk-{seed}.raw"));
    write_raw(&mut built.disk, &raw);
    (raw, built)
}

#[test]
fn a_rootfs_archive_becomes_a_clean_disk_with_its_owners() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, built) = build(dir.path(), "a");
    let v = run_ok("sgdisk", &["-v", raw.to_str().unwrap()]);
    assert!(v.contains("No problems found"), "{v}");

    let esp = &built.partitions[0];
    let root = &built.partitions[1];
    let esp_img = dir.path().join("esp.img");
    let root_img = dir.path().join("root.img");
    extract(&raw, esp.start, esp.size, &esp_img);
    extract(&raw, root.start, root.size, &root_img);
    run_ok("fsck.fat", &["-n", esp_img.to_str().unwrap()]);
    let listing = run_ok("mdir", &["-i", esp_img.to_str().unwrap(), "-/", "::"]);
    assert!(listing.contains("BOOTX64"), "{listing}");
    let e2 = run("e2fsck", &["-fn", root_img.to_str().unwrap()]);
    assert!(
        e2.status.success(),
        "{}{}",
        String::from_utf8_lossy(&e2.stdout),
        String::from_utf8_lossy(&e2.stderr)
    );

    let debugfs = |cmd: &str| run_ok("debugfs", &["-R", cmd, root_img.to_str().unwrap()]);
    let shadow = debugfs("stat /etc/shadow");
    assert!(
        shadow.contains("Mode:  0640") && shadow.contains("User:     0   Group:    42"),
        "{shadow}"
    );
    let passwd = debugfs("stat /usr/bin/passwd");
    assert!(passwd.contains("Mode:  04755"), "{passwd}");
    let notes = debugfs("stat /home/user/notes");
    assert!(notes.contains("User:  1000   Group:  1000"), "{notes}");
    let console = debugfs("stat /dev/console");
    assert!(console.contains("Type: character special"), "{console}");
    let ping = debugfs("ea_list /usr/bin/ping");
    assert!(ping.contains("security.capability"), "{ping}");
    let links = debugfs("stat /usr/bin/ping6");
    assert!(links.contains("Links: 2"), "{links}");
    let fstab = debugfs("cat /etc/fstab");
    assert!(
        fstab.contains(&format!(
            "PARTUUID={}\t/boot/efi\tvfat\tumask=0077",
            esp.guid
        )),
        "{fstab}"
    );
    assert!(
        fstab.contains(&format!(
            "UUID={}\t/\text4\tdefaults\t0\t1",
            root.fs_uuid.as_ref().unwrap()
        )),
        "{fstab}"
    );
    assert_eq!(debugfs("cat /etc/hostname"), "testhost\n");
    assert_eq!(debugfs("cat /etc/motd.d/hello"), "hello\n");
    let motd = debugfs("stat /etc/motd.d/hello");
    assert!(motd.contains("Mode:  0600"), "{motd}");
    let efi = debugfs("stat /boot/efi");
    assert!(
        efi.contains("Type: directory") && efi.contains("Mode:  0700"),
        "{efi}"
    );
    let long = debugfs(&format!("cat /{}", testkit::rootfs::long_path()));
    assert_eq!(long, "long");
    // blkid agrees on the identifiers fstab uses.
    let uuid = run_ok(
        "blkid",
        &["-s", "UUID", "-o", "value", root_img.to_str().unwrap()],
    );
    assert_eq!(uuid.trim(), root.fs_uuid.as_deref().unwrap());
}

#[test]
fn the_same_seed_gives_the_same_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = build(dir.path(), "same");
    let first = fs::read(&a).unwrap();
    fs::remove_file(&a).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (b, _) = build(dir.path(), "same");
    assert!(
        first == fs::read(&b).unwrap(),
        "two builds with one seed differ"
    );
    let (c, _) = build(dir.path(), "other");
    assert!(first != fs::read(&c).unwrap());
}

/// Entries as odd archives have them, each a defect a disk builder can
/// have: the root's own mode, xattrs mke2fs's tar reader leaves out, a
/// directory after its children, merged /usr, a hard link to a file the
/// build replaces, times before the build's and before 1970, non-ASCII
/// long names.
fn odd_tar(path: &Path) {
    let mut b = tar::Builder::new(File::create(path).unwrap());
    let mut add = |name: &str,
                   ty: tar::EntryType,
                   mode: u32,
                   owner: u64,
                   mtime: u64,
                   data: &[u8],
                   link: Option<&str>,
                   pax: &[(&str, &[u8])]| {
        if !pax.is_empty() {
            b.append_pax_extensions(pax.iter().copied()).unwrap();
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(ty);
        h.set_mode(mode);
        h.set_uid(owner);
        h.set_gid(owner);
        h.set_mtime(mtime);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, name, data).unwrap();
    };
    use tar::EntryType as T;
    let y2017 = 1_500_000_000;
    add("./", T::Directory, 0o555, 0, y2017, b"", None, &[]);
    add("./usr/", T::Directory, 0o755, 0, y2017, b"", None, &[]);
    add("./usr/bin/", T::Directory, 0o755, 0, y2017, b"", None, &[]);
    add(
        "./bin",
        T::Symlink,
        0o777,
        0,
        y2017,
        b"",
        Some("usr/bin"),
        &[],
    );
    add("./etc/", T::Directory, 0o755, 0, y2017, b"", None, &[]);
    add(
        "./etc/labelled",
        T::Regular,
        0o644,
        0,
        y2017,
        b"x",
        None,
        &[
            (
                "SCHILY.xattr.security.selinux",
                b"system_u:object_r:etc_t:s0\0",
            ),
            ("SCHILY.xattr.user.note", b"kept"),
        ],
    );
    add(
        "./etc/hostname",
        T::Regular,
        0o644,
        0,
        y2017,
        b"old\n",
        None,
        &[],
    );
    add(
        "./etc/HOSTNAME",
        T::Link,
        0o644,
        0,
        y2017,
        b"",
        Some("./etc/hostname"),
        &[],
    );
    add(
        "./home/alice/.profile",
        T::Regular,
        0o644,
        1000,
        y2017,
        b"p",
        None,
        &[],
    );
    add(
        "./home/alice/",
        T::Directory,
        0o700,
        1000,
        y2017,
        b"",
        None,
        &[],
    );
    add(
        "./var/old",
        T::Regular,
        0o644,
        0,
        0,
        b"o",
        None,
        &[("mtime", b"-100")],
    );
    let long = format!("./usr/share/{}", "é".repeat(80));
    add(&long, T::Regular, 0o644, 0, y2017, b"u", None, &[]);
    b.finish().unwrap();
}

#[test]
fn odd_archives_keep_their_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("odd.tar");
    odd_tar(&tar);
    let mut cfg = config(dir.path());
    cfg.additional_files.push(AdditionalFile {
        source: FileSource::Content("hi\n".into()),
        destination: "/bin/hello".into(),
        mode: Some(0o755),
    });
    let options = BuildOptions {
        stamp: BuildStamp::fixed(946_684_800, "odd"),
        work_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let rootfs = Rootfs::open(&tar).unwrap();
    let tree = Customized::new(&cfg, &rootfs, 946_684_800, None).unwrap();
    let mut built = build_disk(&tree, &options).unwrap();
    let raw = dir.path().join("odd.raw");
    write_raw(&mut built.disk, &raw);
    let root = &built.partitions[1];
    let img = dir.path().join("root.img");
    extract(&raw, root.start, root.size, &img);
    let e2 = run("e2fsck", &["-fn", img.to_str().unwrap()]);
    assert!(
        e2.status.success(),
        "{}",
        String::from_utf8_lossy(&e2.stdout)
    );
    let debugfs = |cmd: &str| run_ok("debugfs", &["-R", cmd, img.to_str().unwrap()]);

    let top = debugfs("stat /");
    assert!(top.contains("Mode:  0555"), "{top}");
    let ea = debugfs("ea_list /etc/labelled");
    assert!(
        ea.contains("security.selinux") && ea.contains("system_u:object_r:etc_t:s0"),
        "{ea}"
    );
    assert!(ea.contains("user.note") && ea.contains("kept"), "{ea}");
    let alice = debugfs("stat /home/alice");
    assert!(
        alice.contains("Mode:  0700") && alice.contains("User:  1000"),
        "{alice}"
    );
    // /bin is usr/bin: the added file lands there, the link stays a link.
    assert_eq!(debugfs("cat /usr/bin/hello"), "hi\n");
    assert!(debugfs("stat /bin").contains("Type: symlink"));
    // The hard link follows the file the build wrote.
    assert_eq!(debugfs("cat /etc/HOSTNAME"), "testhost\n");
    assert!(debugfs("stat /etc/hostname").contains("Links: 2"));
    // Times are the archive's, not clamped to the build's (2000).
    let labelled = debugfs("stat /etc/labelled");
    assert!(labelled.contains("2017"), "{labelled}");
    let long = debugfs(&format!("cat /usr/share/{}", "é".repeat(80)));
    assert_eq!(long, "u");
}
