//! A small bootable root file system, as a tar, for the tests that build
//! disks and boot them.
//!
//! The tar holds Debian's kernel (`linux-image-amd64`'s kernel package), a
//! busybox-static userland, an initramfs made here (see [`kernel`]) and a
//! `/sbin/init` that prints `IMGCONV-BOOT-OK host=<hostname>` on the
//! console and powers the machine off. It also holds one of each kind of
//! entry whose metadata a disk builder must keep: see [`fixtures`].
//!
//! Everything comes from Debian packages fetched with `apt-get download` and
//! unpacked with `dpkg-deb -x`, so building needs no root; the tar is built
//! once per machine and cached (see [`cache_dir`]). Entries are owned by
//! root unless said otherwise, whoever builds the tar.
//!
//! The initramfs loads the storage and file system modules, reads `root=`
//! (`PARTUUID=`, `UUID=`, `PARTLABEL=`, `LABEL=` or a `/dev/…` name),
//! `rootfstype=`, `rootflags=` and `init=` from the kernel command line,
//! waits up to 30 s for the device, mounts it read-only and switches to it.
//! `PARTUUID=` is found by reading each partition's entry in its disk's GPT
//! (or the MBR signature for `SSSSSSSS-PP` ids), `PARTLABEL=` from the
//! `PARTNAME` the kernel puts in `/sys/class/block/*/uevent`, `UUID=` and
//! `LABEL=` with busybox's `findfs`. `root=live:CDLABEL=<volume id>` boots
//! a live ISO as dracut's dmsquash-live does: the ISO 9660 file system with
//! that volume id (a CD, or a disk holding the image), its
//! `LiveOS/squashfs.img` mounted through a loop device, and a tmpfs
//! overlay on it as the root.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What the root file system holds besides the kernel and busybox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The kernel, initramfs, busybox, `/sbin/init` and the fixtures.
    Plain,
    /// Plain, plus Debian's GRUB images and modules (`/usr/lib/grub/x86_64-efi`
    /// from grub-efi-amd64-bin, `/usr/lib/grub/i386-pc` from grub-pc-bin) and
    /// grub-common's `grub-mkimage`, `grub-editenv` and `/usr/share/grub`.
    Grub,
    /// Grub, plus systemd-boot-efi's `/usr/lib/systemd/boot/efi`
    /// (`systemd-bootx64.efi` and the stubs): both loaders, as a tree
    /// with systemd installed from a full distribution has them.
    GrubAndSystemdBoot,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::Grub => "grub",
            Variant::GrubAndSystemdBoot => "grub-and-systemd-boot",
        }
    }
}

/// The hostname in the tar's `/etc/hostname`.
pub const HOSTNAME: &str = "imgconv-bootroot";

/// The line `/sbin/init` prints, followed by ` host=<hostname>`.
pub const BOOT_MARKER: &str = "IMGCONV-BOOT-OK";

/// Paths (inside the tar, without the leading `/`) of the entries whose
/// metadata a disk builder must keep. `/sbin/init` prints
/// `IMGCONV-STAT <octal mode> <uid>:<gid> <type> <path>` for each of them
/// before the boot marker.
pub mod fixtures {
    /// `root:shadow` (gid 42), mode 0640.
    pub const SHADOW: &str = "etc/shadow";
    /// Mode 04755 (setuid), owned 0:0.
    pub const SETUID: &str = "usr/bin/passwd";
    /// A directory owned 1000:1000.
    pub const USER_DIR: &str = "home/user";
    /// A file owned 1000:1000, mode 0600.
    pub const USER_FILE: &str = "home/user/notes.txt";
    /// A symbolic link to [`SYMLINK_TARGET`].
    pub const SYMLINK: &str = "etc/os-release";
    /// What [`SYMLINK`] points to.
    pub const SYMLINK_TARGET: &str = "../usr/lib/os-release";
    /// A hard link to [`HARDLINK_TARGET`].
    pub const HARDLINK: &str = "usr/share/imgconv-test/hardlink";
    /// The file [`HARDLINK`] links to.
    pub const HARDLINK_TARGET: &str = "usr/share/imgconv-test/hardlink-target";
    /// A file with a `security.capability` extended attribute
    /// ([`CAPABILITY`]: `cap_net_raw+ep`).
    pub const CAP_FILE: &str = "usr/bin/ping";
    /// A named pipe.
    pub const FIFO: &str = "usr/share/imgconv-test/fifo";
    /// Character device 5,1, mode 0600.
    pub const CONSOLE: &str = "dev/console";
    /// Character device 1,3, mode 0666.
    pub const NULL: &str = "dev/null";
    /// A sticky, world-writable directory (01777).
    pub const STICKY_DIR: &str = "tmp";
    /// A file whose path is longer than 100 bytes (a GNU long name entry).
    pub const LONG_PATH: &str = "usr/share/imgconv-test/a-directory-with-a-rather-long-name-to-pass-the-ustar-limit/and-a-file-with-a-long-name-too.txt";
    /// The `security.capability` value of [`CAP_FILE`]: a revision 2
    /// `vfs_cap_data` with `CAP_NET_RAW` (13) permitted and effective.
    pub const CAPABILITY: [u8; 20] = [
        0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
}

/// Bump when what is built changes, so old caches are not used.
const REVISION: u32 = 7;

/// Modification time of everything made here (2023-11-14).
const MTIME: u64 = 1_700_000_000;

/// Modules the initramfs loads (with what they depend on), in this order:
/// the crypto providers first, as `crc-t10dif`, `crc64-rocksoft` and ext4
/// look them up when they load. Besides qemu's disks, those of VMware
/// (pvscsi, LSI Logic), Hyper-V (storvsc) and Xen.
const INITRD_MODULES: &[&str] = &[
    "crc32c_generic",
    "crct10dif_generic",
    "crc64_rocksoft_generic",
    "virtio_pci",
    "virtio_blk",
    "virtio_scsi",
    "ata_piix",
    "ata_generic",
    "ahci",
    "sd_mod",
    "sr_mod",
    "nvme",
    "vmw_pvscsi",
    "mptspi",
    "hv_storvsc",
    "xen_blkfront",
    "ext4",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_utf8",
    "isofs",
    "loop",
    "squashfs",
    "overlay",
];

/// Modules of [`INITRD_MODULES`] that load only on their hypervisor.
const QUIET_MODULES: &[&str] = &["hv_vmbus", "hv_storvsc", "xen_blkfront"];

/// Where built files are kept: `$IMGCONV_TESTKIT_CACHE`, else the
/// workspace's `target/testkit-cache`, else (if that cannot be made)
/// `imgconv-testkit-cache` in the temporary directory. Delete it to rebuild.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("IMGCONV_TESTKIT_CACHE") {
        fs::create_dir_all(&dir).unwrap();
        return PathBuf::from(dir);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/testkit-cache");
    if fs::create_dir_all(&dir).is_ok() {
        return dir;
    }
    let dir = std::env::temp_dir().join("imgconv-testkit-cache");
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Debian kernel and the initramfs made for it, as files in the cache.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The kernel release, such as `6.1.0-57-amd64`.
    pub version: String,
    /// The kernel image (`vmlinuz-<version>`).
    pub vmlinuz: PathBuf,
    /// The gzip'd newc initramfs (`initrd.img-<version>`).
    pub initrd: PathBuf,
    /// The directory holding both and the rest of what the tar is made from.
    dir: PathBuf,
}

/// The kernel and initramfs that the root file systems carry in `/boot`,
/// built (once per machine) if needed. For direct kernel boots.
pub fn kernel() -> Kernel {
    let version = kernel_version();
    let dir = cached(&format!("kernel-{version}-r{REVISION}"), |tmp| {
        build_kernel(&version, tmp)
    });
    Kernel {
        vmlinuz: dir.join(format!("boot/vmlinuz-{version}")),
        initrd: dir.join(format!("boot/initrd.img-{version}")),
        version,
        dir,
    }
}

/// Debian's busybox-static `busybox`: a shell and utilities that run in
/// any tree, for packages whose scriptlets run. Fetched once per machine.
pub fn static_busybox() -> PathBuf {
    let dir = cached("busybox-static-1", |tmp| {
        let scratch = tmp.join("scratch");
        fetch_debs(&scratch, &["busybox-static"]);
        fs::copy(
            scratch.join("busybox-static/bin/busybox"),
            tmp.join("busybox"),
        )
        .unwrap();
        remove(&scratch);
    });
    dir.join("busybox")
}

/// The root file system tar of `variant`, built (once per machine) if needed.
pub fn rootfs_tar(variant: Variant) -> PathBuf {
    let k = kernel();
    let name = format!("rootfs-{}-{}-r{REVISION}.tar", variant.name(), k.version);
    cached(&name, |tmp| build_tar(&k, variant, tmp))
}

/// The release of the kernel `linux-image-amd64` depends on.
fn kernel_version() -> String {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            let out = tool_ok(Command::new("apt-cache").args(["depends", "linux-image-amd64"]));
            out.lines()
                .filter_map(|l| l.trim().trim_start_matches('|').strip_prefix("Depends: "))
                .filter_map(|p| p.strip_prefix("linux-image-"))
                .find(|v| v.ends_with("-amd64"))
                .unwrap_or_else(|| {
                    panic!(
                        "`apt-cache depends linux-image-amd64` names no kernel package:\n{out}\n\
                         run `apt-get update` (the boot tests fetch Debian's kernel)"
                    )
                })
                .to_string()
        })
        .clone()
}

/// Runs a command; a missing program fails with how to get it.
fn tool(cmd: &mut Command) -> std::process::Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {program} ({e}): building the boot test root needs apt-get, apt-cache \
             and dpkg-deb (a Debian system) and the network to Debian's mirrors"
        )
    })
}

/// Runs a command and fails unless it succeeds; returns its stdout.
fn tool_ok(cmd: &mut Command) -> String {
    let out = tool(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cache_dir()/name`, made by `build` into a temporary name and renamed
/// into place, under a lock so concurrent tests build it once; what older
/// revisions or kernels left of the same kind is then removed.
fn cached(name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let dir = cache_dir();
    let out = dir.join(name);
    if out.exists() {
        return out;
    }
    // What an older revision or kernel left: `kernel-…` or `rootfs-<variant>-…`.
    let kind = &name[..name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len())];
    let lock = File::create(dir.join(".lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    if out.exists() {
        return out;
    }
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    remove(&tmp);
    build(&tmp);
    fs::rename(&tmp, &out).unwrap();
    for e in fs::read_dir(&dir).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        if n != name
            && n.starts_with(kind)
            && n[kind.len()..].starts_with(|c: char| c.is_ascii_digit())
        {
            remove(&dir.join(n));
        }
    }
    out
}

fn remove(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).unwrap(),
        Ok(_) => fs::remove_file(path).unwrap(),
        Err(_) => {}
    }
}

/// Downloads `packages` with `apt-get download` into `scratch` and unpacks
/// each with `dpkg-deb -x` into `scratch/<package>`.
fn fetch_debs(scratch: &Path, packages: &[&str]) {
    fs::create_dir_all(scratch).unwrap();
    let mut cmd = Command::new("apt-get");
    cmd.current_dir(scratch).arg("download").args(packages);
    tool_ok(&mut cmd);
    for p in packages {
        let deb = fs::read_dir(scratch)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|f| {
                let n = f.file_name().unwrap().to_string_lossy();
                n.starts_with(&format!("{p}_")) && n.ends_with(".deb")
            })
            .unwrap_or_else(|| panic!("apt-get download {p} left no .deb in {scratch:?}"));
        tool_ok(
            Command::new("dpkg-deb")
                .arg("-x")
                .arg(&deb)
                .arg(scratch.join(p)),
        );
        fs::remove_file(&deb).unwrap();
    }
}

/// The value of `key` in a kernel module's `.modinfo` strings.
fn modinfo<'a>(ko: &'a [u8], key: &str) -> Option<&'a str> {
    let pat = format!("\0{key}=");
    let at = ko.windows(pat.len()).position(|w| w == pat.as_bytes())? + pat.len();
    let end = ko[at..].iter().position(|&b| b == 0)? + at;
    std::str::from_utf8(&ko[at..end]).ok()
}

fn norm(module: &str) -> String {
    module.replace('-', "_")
}

/// Builds the kernel directory: `boot/vmlinuz-*`, `boot/initrd.img-*`, the
/// modules the initramfs loads under `lib/modules/<version>` with their
/// `modules.dep`, `busybox` and `applets` (busybox's applet names).
fn build_kernel(version: &str, out: &Path) {
    let scratch = out.join("scratch");
    let image = format!("linux-image-{version}");
    fetch_debs(&scratch, &[&image, "busybox-static"]);
    let kroot = scratch.join(&image);
    let mods = kroot.join("lib/modules").join(version);

    // Every module by name, and what it depends on.
    let mut index: HashMap<String, PathBuf> = HashMap::new();
    let mut stack = vec![mods.join("kernel")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(stem) = p.file_name().unwrap().to_str().unwrap().strip_suffix(".ko")
            {
                index.insert(norm(stem), p.strip_prefix(&mods).unwrap().to_path_buf());
            }
        }
    }
    assert!(
        index.len() > 100,
        "{image} has no uncompressed modules (*.ko) under {mods:?}: compressed ones are not supported"
    );
    let builtin = fs::read_to_string(mods.join("modules.builtin")).unwrap_or_default();
    let deps = |name: &str| -> Vec<String> {
        let ko = fs::read(mods.join(&index[name])).unwrap();
        modinfo(&ko, "depends")
            .unwrap_or("")
            .split(',')
            .filter(|d| !d.is_empty())
            .map(norm)
            .collect()
    };
    // Depth first: every module after what it depends on.
    fn visit(
        name: &str,
        index: &HashMap<String, PathBuf>,
        builtin: &str,
        deps: &dyn Fn(&str) -> Vec<String>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !index.contains_key(name) {
            let built_in = builtin.lines().any(|l| {
                l.rsplit('/')
                    .next()
                    .and_then(|f| f.strip_suffix(".ko"))
                    .map(norm)
                    == Some(name.to_string())
            });
            assert!(
                built_in,
                "module {name} is neither in the kernel package nor built in"
            );
            return;
        }
        if seen.insert(name.to_string()) {
            for d in deps(name) {
                visit(&d, index, builtin, deps, seen, order);
            }
            order.push(name.to_string());
        }
    }
    let (mut seen, mut order) = (BTreeSet::new(), Vec::new());
    for m in INITRD_MODULES {
        visit(m, &index, &builtin, &deps, &mut seen, &mut order);
    }

    let out_mods = out.join("lib/modules").join(version);
    let mut dep_lines = String::new();
    let mut order_lines = String::new();
    for m in &order {
        let rel = &index[m];
        fs::create_dir_all(out_mods.join(rel.parent().unwrap())).unwrap();
        fs::copy(mods.join(rel), out_mods.join(rel)).unwrap();
        // modules.dep lists every module a module needs, those loaded last
        // first (as depmod writes it).
        let mut all = BTreeSet::new();
        let mut todo = deps(m);
        while let Some(d) = todo.pop() {
            if index.contains_key(&d) && all.insert(d.clone()) {
                todo.extend(deps(&d));
            }
        }
        let mut needed: Vec<&String> = order.iter().filter(|o| all.contains(*o)).collect();
        needed.reverse();
        let needed: Vec<String> = needed
            .iter()
            .map(|n| index[*n].display().to_string())
            .collect();
        dep_lines.push_str(&format!("{}: {}\n", rel.display(), needed.join(" ")));
        order_lines.push_str(&format!("{}\n", rel.display()));
    }
    fs::write(
        out_mods.join("modules.dep"),
        dep_lines.replace(": \n", ":\n"),
    )
    .unwrap();
    fs::write(out_mods.join("modules.order"), &order_lines).unwrap();
    fs::write(out_mods.join("modules.builtin"), &builtin).unwrap();

    let boot = out.join("boot");
    fs::create_dir_all(&boot).unwrap();
    let vmlinuz = format!("vmlinuz-{version}");
    fs::copy(kroot.join("boot").join(&vmlinuz), boot.join(&vmlinuz)).unwrap();

    let busybox = scratch.join("busybox-static/bin/busybox");
    fs::copy(&busybox, out.join("busybox")).unwrap();
    let applets = tool_ok(Command::new(&busybox).arg("--list"));
    assert!(
        applets.lines().any(|a| a == "switch_root"),
        "busybox --list: {applets}"
    );
    fs::write(out.join("applets"), &applets).unwrap();

    let initrd = initramfs(
        version,
        &fs::read(&busybox).unwrap(),
        &applets,
        &out_mods,
        &order,
        &index,
        &order.iter().map(|m| (m.clone(), deps(m))).collect(),
    );
    fs::write(boot.join(format!("initrd.img-{version}")), initrd).unwrap();
    fs::remove_dir_all(&scratch).unwrap();
}

/// The initramfs's `/init`; `@KVER@` and `@LOAD@` are filled in.
const INIT_SCRIPT: &str = r#"#!/bin/sh
# imgconv test initramfs: loads the storage and file system modules, finds
# the root= device, mounts it read-only and switches to it.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# A boot that only checks the machine runs this far.
case " $(cat /proc/cmdline) " in
    *" imgconv.probe "*) echo IMGCONV-PROBE-OK; poweroff -f ;;
esac

log() { echo "imgconv-initrd: $*"; }
fail() {
    log "FAILED: $*"
    log "block devices:"
    for d in /sys/class/block/*; do
        [ -e "$d/uevent" ] && echo "  $(basename "$d"): $(tr '\n' ' ' < "$d/uevent")"
    done
    poweroff -f
    sleep 10
}

KVER=@KVER@
load() { insmod "/lib/modules/$KVER/$1" || log "cannot load $1"; }
# load_quiet MODULE DEPENDENCY...: loads MODULE if its dependencies are.
load_quiet() {
    m=$1
    shift
    for d in "$@"; do [ -d "/sys/module/$d" ] || return 0; done
    insmod "/lib/modules/$KVER/$m" 2>/dev/null
}
@LOAD@

root= fstype=auto flags=ro init=/sbin/init
set -f
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        root=*) root="${arg#root=}" ;;
        rootfstype=*) fstype="${arg#rootfstype=}" ;;
        rootflags=*) flags="ro,${arg#rootflags=}" ;;
        init=*) init="${arg#init=}" ;;
    esac
done
set +f

# COUNT hex bytes of file $1 at byte offset $2, space separated.
hexbytes() { dd if="$1" bs=1 skip="$2" count="$3" 2>/dev/null | od -An -tx1 -v; }
# The little-endian number in bytes "$@".
le() { h=; for b in "$@"; do h="$b$h"; done; echo $((0x${h:-0})); }
lower() { echo "$1" | tr 'A-F' 'a-f'; }

# The PARTUUID of partition /sys/class/block/$1: its unique GUID in the
# disk's GPT, or SSSSSSSS-PP (MBR signature, partition number).
partuuid() {
    n=$(cat "/sys/class/block/$1/partition")
    disk=$(basename "$(readlink -f "/sys/class/block/$1/..")")
    dev=/dev/$disk
    ss=$(cat "/sys/class/block/$disk/queue/logical_block_size" 2>/dev/null || echo 512)
    if [ "$(hexbytes "$dev" "$ss" 8 | tr -d ' \n')" = 4546492050415254 ]; then
        lba=$(le $(hexbytes "$dev" $((ss + 72)) 8))
        count=$(le $(hexbytes "$dev" $((ss + 80)) 4))
        size=$(le $(hexbytes "$dev" $((ss + 84)) 4))
        [ "$n" -le "$count" ] || return 1
        set -- $(hexbytes "$dev" $((lba * ss + (n - 1) * size + 16)) 16)
        [ $# -eq 16 ] || return 1
        echo "$4$3$2$1-$6$5-$8$7-$9${10}-${11}${12}${13}${14}${15}${16}"
    else
        set -- $(hexbytes "$dev" 440 4)
        [ $# -eq 4 ] || return 1
        printf '%s%s%s%s-%02x\n' "$4" "$3" "$2" "$1" "$n"
    fi
}

# The device node of root= $1, if it is there yet.
resolve() {
    case "$1" in
        PARTUUID=*)
            want=$(lower "${1#PARTUUID=}")
            for d in /sys/class/block/*; do
                p=$(basename "$d")
                [ -e "$d/partition" ] && [ "$(partuuid "$p")" = "$want" ] && echo "/dev/$p" && return
            done ;;
        PARTLABEL=*)
            want="${1#PARTLABEL=}"
            for d in /sys/class/block/*; do
                [ -e "$d/partition" ] || continue
                [ "$(sed -n 's/^PARTNAME=//p' "$d/uevent")" = "$want" ] && echo "/dev/$(basename "$d")" && return
            done ;;
        UUID=*) findfs "UUID=$(lower "${1#UUID=}")" 2>/dev/null ;;
        LABEL=*) findfs "$1" 2>/dev/null ;;
        /dev/*) echo "$1" ;;
        *) echo "/dev/$1" ;;
    esac
}

[ -n "$root" ] || fail "no root= on the kernel command line"
# The device holding an ISO 9660 file system whose volume id is $1.
by_cdlabel() {
    for d in /sys/class/block/*; do
        dev=/dev/$(basename "$d")
        [ -b "$dev" ] || continue
        [ "$(dd if="$dev" bs=1 skip=32769 count=5 2>/dev/null)" = CD001 ] || continue
        id=$(dd if="$dev" bs=1 skip=32808 count=32 2>/dev/null | sed 's/ *$//')
        [ "$id" = "$1" ] && echo "$dev" && return
    done
}
case "$root" in
    live:CDLABEL=*)
        want="${root#live:CDLABEL=}"
        log "looking for the live image on volume $want"
        i=0
        while :; do
            dev=$(by_cdlabel "$want")
            [ -n "$dev" ] && break
            i=$((i + 1))
            [ $i -lt 150 ] || fail "no ISO 9660 volume $want in 30 s"
            usleep 200000
        done
        log "live image on $dev"
        mkdir -p /run/iso /run/squash /run/rw /newroot
        mount -t iso9660 -o ro "$dev" /run/iso || fail "cannot mount $dev"
        [ -f /run/iso/LiveOS/squashfs.img ] || fail "no LiveOS/squashfs.img on $dev"
        mount -t squashfs -o ro,loop /run/iso/LiveOS/squashfs.img /run/squash ||
            fail "cannot mount LiveOS/squashfs.img"
        mount -t tmpfs -o mode=0755 tmpfs /run/rw
        mkdir -p /run/rw/upper /run/rw/work
        mount -t overlay -o lowerdir=/run/squash,upperdir=/run/rw/upper,workdir=/run/rw/work overlay /newroot ||
            fail "cannot mount the overlay"
        [ -e "/newroot$init" ] || [ -L "/newroot$init" ] || fail "no $init in the live image"
        [ -d /newroot/dev ] && mount -o move /dev /newroot/dev
        umount /sys
        umount /proc
        exec switch_root /newroot "$init"
        ;;
esac
log "looking for root=$root"
i=0
while :; do
    dev=$(resolve "$root")
    [ -n "$dev" ] && [ -b "$dev" ] && break
    i=$((i + 1))
    [ $i -lt 150 ] || fail "root=$root not found in 30 s"
    usleep 200000
done
log "root=$root is $dev"
mkdir -p /newroot
if [ "$fstype" = auto ]; then
    mount -o "$flags" "$dev" /newroot || fail "cannot mount $dev"
else
    mount -t "$fstype" -o "$flags" "$dev" /newroot || fail "cannot mount $dev ($fstype)"
fi
[ -e "/newroot$init" ] || [ -L "/newroot$init" ] || fail "no $init on $dev"
[ -d /newroot/dev ] && mount -o move /dev /newroot/dev
umount /sys
umount /proc
exec switch_root /newroot "$init"
"#;

/// The root's `/sbin/init`; `@STAT@` is filled in.
const ROOT_INIT: &str = r#"#!/bin/sh
# imgconv test root: reports the metadata of a few files and that it
# booted, then powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc 2>/dev/null
for f in @STAT@; do
    echo "IMGCONV-STAT $(stat -c '%a %u:%g %F' "/$f") /$f" > /dev/console
done
msg="IMGCONV-BOOT-OK host=$(cat /etc/hostname)"
echo "$msg" > /dev/console
echo "$msg" > /dev/ttyS0 2>/dev/null
sync
poweroff -f
"#;

/// A newc (`070701`) cpio archive.
struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            nlink,
            MTIME,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.buf.extend_from_slice(header.as_bytes());
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }
    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }
    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, (0, 0), b"");
    }
    fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        self.entry(name, 0o100000 | mode, (0, 0), data);
    }
    fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, 0o120777, (0, 0), target.as_bytes());
    }
    fn finish(mut self) -> Vec<u8> {
        // The trailer: ino 0, mode 0, nlink 1, name "TRAILER!!!".
        let mut t = String::from("070701");
        for v in [0u32, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 11, 0] {
            t.push_str(&format!("{v:08x}"));
        }
        self.buf.extend_from_slice(t.as_bytes());
        self.buf.extend_from_slice(b"TRAILER!!!\0");
        self.pad();
        self.buf
    }
}

/// The gzip'd initramfs: busybox and its applets in /bin, the modules in
/// `order` (from `mods`, where `index` says, needing what `deps` says) and
/// `/init`.
fn initramfs(
    version: &str,
    busybox: &[u8],
    applets: &str,
    mods: &Path,
    order: &[String],
    index: &HashMap<String, PathBuf>,
    deps: &HashMap<String, Vec<String>>,
) -> Vec<u8> {
    let mut c = Cpio {
        buf: Vec::new(),
        ino: 0,
    };
    for d in ["bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules"] {
        c.dir(d);
    }
    c.entry("dev/console", 0o020600, (5, 1), b"");
    c.file("bin/busybox", 0o755, busybox);
    for a in applets.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        c.symlink(&format!("bin/{a}"), "busybox");
    }
    let base = format!("lib/modules/{version}");
    c.dir(&base);
    let mut dirs = BTreeSet::new();
    let mut load = String::new();
    for m in order {
        let rel = &index[m];
        for a in rel.parent().unwrap().ancestors() {
            if !a.as_os_str().is_empty() {
                dirs.insert(a.to_path_buf());
            }
        }
        if QUIET_MODULES.contains(&m.as_str()) {
            // These refuse to load off their hypervisor: no need to say so,
            // nor to try what needs them.
            load.push_str(&format!(
                "load_quiet {} {}\n",
                rel.display(),
                deps[m].join(" ")
            ));
        } else {
            load.push_str(&format!("load {}\n", rel.display()));
        }
    }
    for d in &dirs {
        c.dir(&format!("{base}/{}", d.display()));
    }
    for m in order {
        let rel = &index[m];
        c.file(
            &format!("{base}/{}", rel.display()),
            0o644,
            &fs::read(mods.join(rel)).unwrap(),
        );
    }
    for f in ["modules.dep", "modules.order", "modules.builtin"] {
        c.file(
            &format!("{base}/{f}"),
            0o644,
            &fs::read(mods.join(f)).unwrap(),
        );
    }
    let init = INIT_SCRIPT
        .replace("@KVER@", version)
        .replace("@LOAD@", load.trim_end());
    c.file("init", 0o755, init.as_bytes());
    let cpio = c.finish();

    let mut z = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0; z.gzip_compress_bound(cpio.len())];
    let n = z.gzip_compress(&cpio, &mut out).unwrap();
    out.truncate(n);
    out
}

/// One entry of the tar being built.
enum Node {
    Dir,
    File(Content),
    Symlink(String),
    Hardlink(String),
    Char(u32, u32),
    Fifo,
}

enum Content {
    Bytes(Vec<u8>),
    Path(PathBuf),
}

struct Entry {
    node: Node,
    mode: u32,
    uid: u64,
    gid: u64,
    xattrs: Vec<(String, Vec<u8>)>,
}

#[derive(Default)]
struct Tree(BTreeMap<String, Entry>);

impl Tree {
    fn put(&mut self, path: &str, node: Node, mode: u32) -> &mut Entry {
        // Parents first, as plain root directories unless already there.
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            self.0
                .entry(p.to_str().unwrap().to_string())
                .or_insert(Entry {
                    node: Node::Dir,
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    xattrs: Vec::new(),
                });
            parent = p.parent();
        }
        let e = Entry {
            node,
            mode,
            uid: 0,
            gid: 0,
            xattrs: Vec::new(),
        };
        self.0.insert(path.to_string(), e);
        self.0.get_mut(path).unwrap()
    }
    fn dir(&mut self, path: &str, mode: u32) -> &mut Entry {
        self.put(path, Node::Dir, mode)
    }
    fn bytes(&mut self, path: &str, mode: u32, data: impl Into<Vec<u8>>) -> &mut Entry {
        self.put(path, Node::File(Content::Bytes(data.into())), mode)
    }
    fn symlink(&mut self, path: &str, target: &str) -> &mut Entry {
        self.put(path, Node::Symlink(target.to_string()), 0o777)
    }
    /// Adds the tree under `src` (directories, files and symlinks), owned by
    /// root with the modes they have there, at `dest`.
    fn copy(&mut self, src: &Path, dest: &str) {
        let m = fs::symlink_metadata(src).unwrap();
        let mode = m.permissions().mode() & 0o7777;
        if m.file_type().is_symlink() {
            let target = fs::read_link(src).unwrap();
            self.symlink(dest, target.to_str().unwrap());
        } else if m.is_dir() {
            self.dir(dest, mode);
            let mut names: Vec<_> = fs::read_dir(src)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            for n in names {
                self.copy(&src.join(&n), &format!("{dest}/{}", n.to_str().unwrap()));
            }
        } else {
            assert!(m.is_file(), "{src:?}: not a file, directory or symlink");
            self.put(dest, Node::File(Content::Path(src.to_path_buf())), mode);
        }
    }
}

/// A pax extended header record: `<len> <key>=<value>\n`, `len` counting
/// the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while (len.to_string().len() + rest) != len {
        len = len.to_string().len() + rest;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

fn write_tar(tree: &Tree, out: &Path) {
    let mut b = tar::Builder::new(BufWriter::new(File::create(out).unwrap()));
    let mut hardlinks = Vec::new();
    for (path, e) in &tree.0 {
        if let Node::Hardlink(_) = e.node {
            hardlinks.push((path, e));
            continue;
        }
        append(&mut b, path, e);
    }
    for (path, e) in hardlinks {
        append(&mut b, path, e);
    }
    b.into_inner().unwrap().flush().unwrap();
}

fn append<W: Write>(b: &mut tar::Builder<W>, path: &str, e: &Entry) {
    if !e.xattrs.is_empty() {
        let mut records = Vec::new();
        for (k, v) in &e.xattrs {
            records.extend(pax_record(&format!("SCHILY.xattr.{k}"), v));
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_mode(0o644);
        h.set_mtime(MTIME);
        h.set_size(records.len() as u64);
        let name = format!(
            "PaxHeaders/{}",
            Path::new(path).file_name().unwrap().to_str().unwrap()
        );
        b.append_data(&mut h, name, records.as_slice()).unwrap();
    }
    let mut h = tar::Header::new_gnu();
    h.set_mode(e.mode);
    h.set_uid(e.uid);
    h.set_gid(e.gid);
    h.set_mtime(MTIME);
    h.set_size(0);
    if e.uid == 0 {
        h.set_username("root").unwrap();
    }
    match e.gid {
        0 => h.set_groupname("root").unwrap(),
        42 => h.set_groupname("shadow").unwrap(),
        _ => {}
    }
    match &e.node {
        Node::Dir => {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, format!("{path}/"), std::io::empty())
                .unwrap();
        }
        Node::File(Content::Bytes(data)) => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, path, data.as_slice()).unwrap();
        }
        Node::File(Content::Path(src)) => {
            h.set_entry_type(tar::EntryType::Regular);
            let f = File::open(src).unwrap();
            h.set_size(f.metadata().unwrap().size());
            b.append_data(&mut h, path, f).unwrap();
        }
        Node::Symlink(target) => {
            h.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut h, path, target).unwrap();
        }
        Node::Hardlink(target) => {
            h.set_entry_type(tar::EntryType::Link);
            b.append_link(&mut h, path, target).unwrap();
        }
        Node::Char(major, minor) => {
            h.set_entry_type(tar::EntryType::Char);
            h.set_device_major(*major).unwrap();
            h.set_device_minor(*minor).unwrap();
            b.append_data(&mut h, path, std::io::empty()).unwrap();
        }
        Node::Fifo => {
            h.set_entry_type(tar::EntryType::Fifo);
            b.append_data(&mut h, path, std::io::empty()).unwrap();
        }
    }
}

/// Writes the root file system tar of `variant` to `out`.
fn build_tar(k: &Kernel, variant: Variant, out: &Path) {
    use fixtures::*;
    let v = &k.version;
    let mut t = Tree::default();
    for d in [
        "bin",
        "boot",
        "dev",
        "etc",
        "home",
        "lib",
        "mnt",
        "proc",
        "run",
        "sbin",
        "sys",
        "usr/bin",
        "usr/lib",
        "usr/sbin",
        "usr/share",
        "var",
    ] {
        t.dir(d, 0o755);
    }
    t.dir("root", 0o700);
    t.dir(STICKY_DIR, 0o1777);

    // The kernel, the initramfs and the modules it loads.
    t.copy(&k.vmlinuz, &format!("boot/vmlinuz-{v}"));
    t.copy(&k.initrd, &format!("boot/initrd.img-{v}"));
    t.copy(
        &k.dir.join("lib/modules").join(v),
        &format!("lib/modules/{v}"),
    );

    // busybox and its applets.
    t.copy(&k.dir.join("busybox"), "bin/busybox");
    t.0.get_mut("bin/busybox").unwrap().mode = 0o755;
    let applets = fs::read_to_string(k.dir.join("applets")).unwrap();
    for a in applets.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        t.symlink(&format!("bin/{a}"), "busybox");
    }
    let stat = [
        SHADOW, SETUID, USER_DIR, USER_FILE, SYMLINK, HARDLINK, CAP_FILE, FIFO, CONSOLE, NULL,
        STICKY_DIR,
    ];
    t.bytes(
        "sbin/init",
        0o755,
        ROOT_INIT.replace("@STAT@", &stat.join(" ")),
    );

    t.bytes("etc/hostname", 0o644, format!("{HOSTNAME}\n"));
    t.bytes(
        "etc/passwd",
        0o644,
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
    );
    t.bytes(
        "etc/group",
        0o644,
        "root:x:0:\nshadow:x:42:\nuser:x:1000:\n",
    );
    t.bytes(
        SHADOW,
        0o640,
        "root:*:19000:0:99999:7:::\nuser:*:19000:0:99999:7:::\n",
    )
    .gid = 42;
    t.bytes(
        "etc/fstab",
        0o644,
        "# the root is mounted read-only by the initramfs\n",
    );
    t.bytes(
        "usr/lib/os-release",
        0o644,
        "PRETTY_NAME=\"imgconv boot test root\"\nID=imgconv-test\n",
    );
    t.symlink(SYMLINK, SYMLINK_TARGET);
    t.bytes(
        SETUID,
        0o4755,
        "#!/bin/sh\necho \"passwd: not in this test root\" >&2\nexit 1\n",
    );
    let e = t.dir(USER_DIR, 0o755);
    (e.uid, e.gid) = (1000, 1000);
    let e = t.bytes(USER_FILE, 0o600, "owned by uid 1000 and gid 1000\n");
    (e.uid, e.gid) = (1000, 1000);
    t.bytes(
        CAP_FILE,
        0o755,
        "#!/bin/sh\necho \"ping: not in this test root\" >&2\nexit 1\n",
    )
    .xattrs
    .push(("security.capability".into(), CAPABILITY.to_vec()));
    t.bytes(HARDLINK_TARGET, 0o644, "one file, two names\n");
    t.put(HARDLINK, Node::Hardlink(HARDLINK_TARGET.into()), 0o644);
    t.put(FIFO, Node::Fifo, 0o644);
    t.put(CONSOLE, Node::Char(5, 1), 0o600);
    t.put(NULL, Node::Char(1, 3), 0o666);
    t.bytes(LONG_PATH, 0o644, "a path longer than 100 bytes\n");

    let scratch = out.with_extension("scratch");
    match variant {
        Variant::Plain => {}
        Variant::Grub | Variant::GrubAndSystemdBoot => {
            fetch_debs(
                &scratch,
                &["grub-efi-amd64-bin", "grub-pc-bin", "grub-common"],
            );
            t.copy(
                &scratch.join("grub-efi-amd64-bin/usr/lib/grub/x86_64-efi"),
                "usr/lib/grub/x86_64-efi",
            );
            t.copy(
                &scratch.join("grub-pc-bin/usr/lib/grub/i386-pc"),
                "usr/lib/grub/i386-pc",
            );
            for f in [
                "usr/bin/grub-mkimage",
                "usr/bin/grub-editenv",
                "usr/share/grub",
            ] {
                t.copy(&scratch.join("grub-common").join(f), f);
            }
        }
    }
    if variant == Variant::GrubAndSystemdBoot {
        fetch_debs(&scratch, &["systemd-boot-efi"]);
        t.copy(
            &scratch.join("systemd-boot-efi/usr/lib/systemd/boot"),
            "usr/lib/systemd/boot",
        );
    }
    write_tar(&t, out);
    remove(&scratch);
}

/// The [`Variant::Grub`] root as an RPM repository, indexed by
/// `createrepo_c`: `filesystem` (directories, `/etc`, `/sbin/init`, the
/// fixtures), `busybox` (the binary and its applet links, so `/bin/sh`),
/// `grub2` (GRUB's images, modules and tools) and `kernel` (the kernel and
/// its modules; its `%posttrans` puts the initramfs in `/boot`, as a
/// distribution's kernel package has dracut make it). Devices, the FIFO
/// and the hard link are left out: packages make none of them here.
pub fn package_repo(dir: &Path) -> PathBuf {
    use crate::rpms::{build_rpm, createrepo, PackageSpec};
    let version = kernel_version();
    let prebuilt = format!("/lib/modules/{version}/initramfs-prebuilt.img");
    let mut specs = [
        PackageSpec::new("filesystem", "1.0", "1").arch("noarch"),
        PackageSpec::new("busybox", "1.35.0", "1")
            .requires("filesystem")
            .provides("/bin/sh"),
        PackageSpec::new("grub2", "2.06", "1").requires("filesystem"),
        PackageSpec::new("kernel", &version.replace('-', "_"), "1")
            .requires("filesystem")
            .requires_pre("/bin/sh")
            .posttrans(&format!(
                "cp {prebuilt} /boot/initrd.img-{version}\necho \"initramfs for {version}\"\n"
            )),
    ];
    let tar_path = rootfs_tar(Variant::Grub);
    let mut archive = tar::Archive::new(File::open(&tar_path).unwrap());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let abs = format!("/{path}");
        let mode = (h.mode().unwrap() & 0o7777) as u16;
        let user = h.username().ok().flatten().unwrap_or("root").to_string();
        let group = h.groupname().ok().flatten().unwrap_or("root").to_string();
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned());
        let pkg = if path.starts_with("lib/modules") || path.starts_with("boot/vmlinuz") {
            3
        } else if path.starts_with("usr/lib/grub")
            || path.starts_with("usr/share/grub")
            || path.starts_with("usr/bin/grub-")
        {
            2
        } else if path == "bin/busybox" || link.as_deref() == Some("busybox") {
            1
        } else {
            0
        };
        let spec = std::mem::replace(&mut specs[pkg], PackageSpec::new("x", "0", "0"));
        specs[pkg] = match h.entry_type() {
            tar::EntryType::Directory => spec.dir(&abs, mode),
            tar::EntryType::Symlink => spec.symlink(&abs, &link.unwrap()),
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).unwrap();
                if path.starts_with("boot/initrd.img-") {
                    // The kernel's %posttrans makes it.
                    specs[3] = std::mem::replace(&mut specs[3], PackageSpec::new("x", "0", "0"))
                        .file(&prebuilt, 0o644, data);
                    spec
                } else {
                    spec.file_owned(&abs, mode, &user, &group, data)
                }
            }
            _ => spec,
        };
    }
    let repo = dir.join("repo");
    fs::create_dir_all(&repo).unwrap();
    for spec in &specs {
        build_rpm(&repo, &spec.clone().zstd());
    }
    createrepo(&repo);
    repo
}
