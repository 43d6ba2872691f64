//! Boots a disk image in `qemu-system-x86_64` and returns what the machine
//! wrote on its serial port.
//!
//! The image is opened with `-snapshot`, so it is never modified. KVM is used
//! when it works (see [`kvm_available`]), TCG otherwise.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::bootroot::BOOT_MARKER;

/// The UEFI firmware image the `Ovmf` firmware uses.
pub const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// The firmware the machine starts with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS, qemu's BIOS.
    #[default]
    SeaBios,
    /// OVMF (UEFI), from [`OVMF`].
    Ovmf,
}

/// How the disk is attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bus {
    /// A virtio-blk disk (`/dev/vda`).
    #[default]
    Virtio,
    /// An IDE disk on the i440FX's PIIX controller, as on a Hyper-V
    /// generation 1 machine (`/dev/sda` through ata_piix).
    Ide,
    /// A SATA disk on an AHCI controller (`/dev/sda`).
    Ahci,
    /// An IDE CD-ROM, booted from (`/dev/sr0`).
    Cdrom,
    /// An NVMe disk (`/dev/nvme0n1`).
    Nvme,
}

/// A kernel qemu loads itself (`-kernel`, `-initrd`, `-append`), skipping
/// the firmware's boot loader.
#[derive(Clone, Debug)]
pub struct DirectKernel {
    /// The kernel image.
    pub kernel: PathBuf,
    /// The initramfs.
    pub initrd: PathBuf,
    /// The kernel command line.
    pub append: String,
}

/// How to boot.
#[derive(Clone, Debug, Default)]
pub struct BootOptions {
    /// The firmware.
    pub firmware: Firmware,
    /// How the disk is attached.
    pub bus: Bus,
    /// Boot this kernel directly instead of from the disk.
    pub direct: Option<DirectKernel>,
    /// Give up (and kill qemu) after this long; by default 60 s with KVM,
    /// 240 s without.
    pub timeout: Option<Duration>,
    /// Memory in MiB; 512 if 0.
    pub memory_mib: u32,
    /// More qemu arguments.
    pub extra_args: Vec<String>,
}

/// What a boot gave.
#[derive(Clone, Debug)]
pub struct BootLog {
    /// Everything the machine wrote on its first serial port.
    pub serial: String,
    /// How long qemu ran.
    pub elapsed: Duration,
    /// Whether it ran with KVM.
    pub kvm: bool,
    /// Whether qemu was killed at the timeout.
    pub timed_out: bool,
}

/// qemu's name for a disk format: `vpc` for `vhd`, the same name otherwise
/// (`raw`, `qcow2`, `vmdk`, `vhdx`, …).
fn qemu_format(format: &str) -> &str {
    match format {
        "vhd" => "vpc",
        f => f,
    }
}

const QEMU_HINT: &str = "install it from bookworm-backports, with qemu-utils, so both are \
     version 10: `apt-get install -t bookworm-backports qemu-system-x86 qemu-utils` (add \
     bookworm-backports to /etc/apt/sources.list.d with the mirror of the existing Debian \
     entry if it is missing), or run `cargo xtask test`, which does that";

/// Kills qemu if the test panics while it runs.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether qemu can use KVM here: `/dev/kvm` opens read-write,
/// `IMGCONV_BOOT_NO_KVM` is not set, and a probe boot of the test kernel
/// ([`crate::bootroot::kernel`]) under KVM reaches its initramfs (some
/// hosts offer a `/dev/kvm` that runs the firmware but not a stock kernel).
/// The probe's answer is kept in the cache directory until the host reboots.
pub fn kvm_available() -> bool {
    static KVM: OnceLock<bool> = OnceLock::new();
    *KVM.get_or_init(|| {
        std::env::var_os("IMGCONV_BOOT_NO_KVM").is_none()
            && OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/kvm")
                .is_ok()
            && kvm_probe()
    })
}

/// What the initramfs prints when booted with `imgconv.probe`.
const PROBE_MARKER: &str = "IMGCONV-PROBE-OK";

fn kvm_probe() -> bool {
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let kernel = crate::bootroot::kernel();
    let record = crate::bootroot::cache_dir().join(format!(
        "kvm-probe-{}-{}",
        kernel.version,
        boot_id.trim()
    ));
    if let Ok(answer) = fs::read_to_string(&record) {
        return answer == "yes";
    }
    let dir = tempfile::tempdir().unwrap();
    let mut args = common_args(&dir.path().join("serial.log"), 256, true);
    args.extend([
        "-kernel".into(),
        kernel.vmlinuz.display().to_string(),
        "-initrd".into(),
        kernel.initrd.display().to_string(),
        "-append".into(),
        "imgconv.probe console=ttyS0 panic=-1".into(),
    ]);
    let run = run_qemu(&args, dir.path(), Duration::from_secs(30));
    let ok = run.status.is_some_and(|s| s.success()) && run.serial.contains(PROBE_MARKER);
    if !ok {
        eprintln!(
            "/dev/kvm is there but the test kernel does not boot with it ({}); using TCG",
            match run.status {
                None => "timed out".to_string(),
                Some(s) => format!("{s}: {}", run.stderr.trim()),
            }
        );
    }
    fs::write(&record, if ok { "yes" } else { "no" }).unwrap();
    ok
}

/// The arguments every run has: machine, memory, serial port to `serial`,
/// no display, no reboot, snapshot, and the accelerator.
fn common_args(serial: &Path, memory_mib: u32, kvm: bool) -> Vec<String> {
    let mut args: Vec<String> = [
        "-nodefaults",
        "-machine",
        "pc",
        "-m",
        &memory_mib.to_string(),
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        &format!("file:{}", serial.display()),
        "-no-reboot",
        "-snapshot",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    if kvm {
        args.extend(["-accel", "kvm", "-cpu", "host"].map(String::from));
    } else {
        args.extend(["-accel", "tcg"].map(String::from));
    }
    args
}

/// How a qemu run ended.
struct Run {
    /// qemu's exit status, or `None` if it was killed at the timeout.
    status: Option<ExitStatus>,
    serial: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs qemu with `args` (whose serial port goes to `dir/serial.log`),
/// killing it after `timeout`.
fn run_qemu(args: &[String], dir: &Path, timeout: Duration) -> Run {
    let stderr = dir.join("qemu.stderr");
    let start = Instant::now();
    let child = Command::new("qemu-system-x86_64")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run qemu-system-x86_64 ({e}): {QEMU_HINT}"));
    let mut qemu = Qemu(child);
    let status = loop {
        if let Some(status) = qemu.0.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() >= timeout {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = start.elapsed();
    drop(qemu);
    Run {
        status,
        serial: String::from_utf8_lossy(&fs::read(dir.join("serial.log")).unwrap_or_default())
            .into_owned(),
        stderr: fs::read_to_string(&stderr).unwrap_or_default(),
        elapsed,
    }
}

/// Boots `disk` (in qemu's `format`, `vhd` meaning `vpc`) as `opts` say and
/// returns the serial log and how it went. Fails if qemu or OVMF is missing,
/// or qemu fails.
pub fn boot_log(disk: &Path, format: &str, opts: &BootOptions) -> BootLog {
    if opts.firmware == Firmware::Ovmf {
        assert!(
            Path::new(OVMF).exists(),
            "no {OVMF}: the boot tests need OVMF: `apt-get install ovmf`"
        );
    }
    let kvm = kvm_available();
    let timeout = opts
        .timeout
        .unwrap_or(Duration::from_secs(if kvm { 60 } else { 240 }));
    let dir = tempfile::tempdir().unwrap();
    let memory = if opts.memory_mib == 0 {
        512
    } else {
        opts.memory_mib
    };
    let mut args = common_args(&dir.path().join("serial.log"), memory, kvm);
    if opts.firmware == Firmware::Ovmf {
        args.extend(["-bios".into(), OVMF.into()]);
    }
    let file = format!(
        "file={},format={}",
        disk.display().to_string().replace(',', ",,"),
        qemu_format(format)
    );
    match opts.bus {
        Bus::Virtio => args.extend(["-drive".into(), format!("{file},if=virtio")]),
        Bus::Ide => args.extend(["-drive".into(), format!("{file},if=ide,index=0,media=disk")]),
        Bus::Ahci => args.extend([
            "-device".into(),
            "ahci,id=ahci".into(),
            "-drive".into(),
            format!("{file},if=none,id=disk0"),
            "-device".into(),
            "ide-hd,drive=disk0,bus=ahci.0".into(),
        ]),
        Bus::Nvme => args.extend([
            "-drive".into(),
            format!("{file},if=none,id=disk0"),
            "-device".into(),
            "nvme,drive=disk0,serial=imgconv".into(),
        ]),
        Bus::Cdrom => args.extend([
            "-drive".into(),
            format!("{file},if=ide,index=1,media=cdrom"),
            "-boot".into(),
            "d".into(),
        ]),
    }
    if let Some(d) = &opts.direct {
        args.extend([
            "-kernel".into(),
            d.kernel.display().to_string(),
            "-initrd".into(),
            d.initrd.display().to_string(),
            "-append".into(),
            d.append.clone(),
        ]);
    }
    args.extend(opts.extra_args.iter().cloned());

    let run = run_qemu(&args, dir.path(), timeout);
    if let Some(status) = run.status {
        assert!(
            status.success(),
            "qemu-system-x86_64 {args:?} failed ({status}):\n{}\nserial:\n{}",
            run.stderr,
            tail(&run.serial, 60)
        );
    }
    BootLog {
        serial: run.serial,
        elapsed: run.elapsed,
        kvm,
        timed_out: run.status.is_none(),
    }
}

/// Boots `disk` (in qemu's `format`, `vhd` meaning `vpc`) as `opts` say and
/// returns the serial log, once the machine has powered off or the timeout
/// has passed.
pub fn boot(disk: &Path, format: &str, opts: &BootOptions) -> String {
    boot_log(disk, format, opts).serial
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Boots `disk` and fails, showing the serial log's last 60 lines, unless
/// the machine printed a line ending in `IMGCONV-BOOT-OK host=<hostname>`
/// (see [`crate::bootroot`]; without `console=ttyS0` the marker follows the
/// boot loader's screen codes on its line). Returns the boot's log.
pub fn assert_boots(disk: &Path, format: &str, opts: &BootOptions, hostname: &str) -> BootLog {
    let log = boot_log(disk, format, opts);
    let marker = format!("{BOOT_MARKER} host={hostname}");
    assert!(
        log.serial.lines().any(|l| l.trim_end().ends_with(&marker)),
        "{disk:?} ({format}, {:?}, {:?}, {}) did not print {marker:?}{} after {:.1} s; serial log's end:\n{}",
        opts.firmware,
        opts.bus,
        if log.kvm { "KVM" } else { "TCG" },
        if log.timed_out { " and timed out" } else { "" },
        log.elapsed.as_secs_f64(),
        tail(&log.serial, 60)
    );
    log
}
