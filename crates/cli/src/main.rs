//! The `imgconv` command line: parses arguments and calls the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use imgconv::{
    default_output_path, Comparison, ConvertJob, FormatOptions, OutputFormat, OutputSpec,
    OutputTarget,
};

/// Standard output's reader has gone (a closed pipe).
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
struct StdoutClosed;

/// Writes one line to standard output; a closed pipe becomes [`StdoutClosed`].
fn stdout_line(line: std::fmt::Arguments<'_>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// A line of the command's output, on standard output.
macro_rules! out {
    ($($arg:tt)*) => {
        stdout_line(format_args!($($arg)*))?
    };
}

/// A line for the user, on standard error; nothing to do if it is closed.
macro_rules! note {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Convert a disk image into many formats in one pass.
///
/// Formats written: see --to (raw, VHD, VHDX, VMDK, OVA, QCOW2).
/// Formats read: raw, vhd, vhdx, vmdk (every variant), ova, qcow2 (any → any).
#[derive(Parser)]
#[command(name = "imgconv", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    convert: ConvertArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Convert INPUT to one or more formats (the default command).
    Convert(Box<ConvertArgs>),
    /// Show an image's format, sizes and format options.
    Info {
        /// The image.
        image: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare the disks of two images (exit 0 identical, 1 different, 2 error).
    Compare {
        /// First image.
        a: PathBuf,
        /// Second image.
        b: PathBuf,
    },
    /// Build a bootable ISO 9660 image from a directory (Rock Ridge + Joliet),
    /// or extract one with --extract.
    Iso(Box<IsoArgs>),
    /// Build a bootable disk from an image configuration (Azure Linux's
    /// toolkit JSON or Image Customizer YAML) and a root filesystem, into
    /// every format asked for in one pass. Needs no root.
    Build(Box<BuildArgs>),
    /// Make a root filesystem archive from RPM packages without root:
    /// resolve what to install from local repositories as dnf would, then
    /// unpack each package with the owners, modes and links its header
    /// records, run its scriptlets in an unprivileged sandbox, and write
    /// the rpm database.
    Rootfs(Box<RootfsArgs>),
    /// Check an image's structure (exit 0 clean, 2 corruptions, 3 leaked clusters only, 1 could not check).
    Check {
        /// The image.
        image: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the external tools builds run: where each is, its version, the
    /// minimum needed and the package to install (exit 1 when the default
    /// build, an ext4 disk booting with GRUB, lacks one).
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct IsoArgs {
    /// The directory whose tree becomes the image (with --extract: the ISO).
    source: PathBuf,
    /// With --extract: the directory to extract into (new or empty).
    extract_to: Option<PathBuf>,
    /// Extract the ISO SOURCE into the directory given after it.
    #[arg(long)]
    extract: bool,
    /// Output ISO file; `-` writes to standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Volume identifier (32 characters at most).
    #[arg(long, short = 'V', default_value = "CDROM")]
    volid: String,
    /// Publisher identifier.
    #[arg(long, default_value = "")]
    publisher: String,
    /// Application identifier.
    #[arg(long, default_value = "")]
    application: String,
    /// BIOS El Torito boot image, a path in the tree (e.g. isolinux/isolinux.bin);
    /// no-emulation, with a boot information table.
    #[arg(long)]
    bios_boot: Option<String>,
    /// 512-byte sectors the BIOS loads from the boot image.
    #[arg(long, default_value_t = 4)]
    boot_load_size: u16,
    /// Do not patch a boot information table into the BIOS boot image.
    #[arg(long)]
    no_boot_info_table: bool,
    /// Path in the tree for the boot catalog.
    #[arg(long, default_value = "boot.cat")]
    boot_catalog: String,
    /// UEFI El Torito boot image: a FAT image in the tree, or a directory
    /// (in the tree or on the host) to build one from (as efiboot.img).
    #[arg(long)]
    efi_boot: Option<String>,
    /// Add an MBR and GPT so the image also boots from a USB stick.
    #[arg(long)]
    hybrid: bool,
    /// MBR boot code for BIOS boot from a disk (isolinux's isohdpfx.bin).
    #[arg(long)]
    hybrid_mbr: Option<PathBuf>,
    /// Leave out Rock Ridge (POSIX names and attributes).
    #[arg(long)]
    no_rock_ridge: bool,
    /// Leave out the Joliet tree.
    #[arg(long)]
    no_joliet: bool,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
}

fn run_iso(a: IsoArgs) -> Result<ExitCode> {
    if a.extract {
        let Some(dir) = &a.extract_to else {
            bail!("--extract needs a destination: imgconv iso --extract IMAGE.iso DIR");
        };
        let s = imgconv::extract_iso(&a.source, dir)?;
        for why in &s.skipped {
            note!("imgconv: not extracted: {why}");
        }
        if a.json {
            out!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "directories": s.directories, "files": s.files, "symlinks": s.symlinks,
                    "bytes": s.bytes, "skipped": s.skipped,
                }))?
            );
        } else {
            out!(
                "extracted {} directories, {} files ({} bytes), {} symlinks into {}",
                s.directories,
                s.files,
                s.bytes,
                s.symlinks,
                dir.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(extra) = &a.extract_to {
        bail!(
            "unexpected argument {} (did you mean --extract?)",
            extra.display()
        );
    }
    let Some(output) = &a.output else {
        bail!("imgconv iso needs -o OUTPUT.iso (or -o - for standard output)");
    };
    let target = if output.as_os_str() == "-" {
        OutputTarget::Stdout
    } else {
        OutputTarget::Path(output.clone())
    };
    let show = matches!(target, OutputTarget::Path(_))
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = progress_bar();
    let job = imgconv::IsoJob {
        source: a.source.clone(),
        output: target,
        volume_id: a.volid.clone(),
        publisher: a.publisher.clone(),
        application: a.application.clone(),
        bios_boot: a.bios_boot.clone(),
        boot_load_size: a.boot_load_size,
        boot_info_table: !a.no_boot_info_table,
        boot_catalog: a.boot_catalog.clone(),
        efi_boot: a.efi_boot.clone(),
        hybrid: a.hybrid,
        hybrid_mbr: a.hybrid_mbr.clone(),
        no_rock_ridge: a.no_rock_ridge,
        no_joliet: a.no_joliet,
    };
    let summary = imgconv::build_iso(&job, &mut |done, total| {
        if show {
            bar.set_length(total);
            bar.set_position(done);
        }
    })?;
    bar.finish_and_clear();
    if a.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "size": summary.size, "directories": summary.directories,
                "files": summary.files, "data_bytes": summary.data_bytes,
            }))?
        );
    } else if matches!(job.output, OutputTarget::Path(_)) {
        out!(
            "{}: {} bytes, {} directories, {} files",
            output.display(),
            summary.size,
            summary.directories,
            summary.files
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_iso_info(i: &imgconv::IsoInfo) -> Result<()> {
    out!("image: {}", i.path.display());
    out!("file format: iso9660");
    out!("volume id: {}", i.volume_id);
    out!("system id: {}", i.system_id);
    out!("publisher: {}", i.publisher);
    out!("data preparer: {}", i.preparer);
    out!("application: {}", i.application);
    if let Some(c) = &i.created {
        out!("created: {c}");
    }
    out!("volume size: {} bytes", i.volume_size);
    out!("file size: {} bytes", i.file_size);
    out!("names: {}", i.naming);
    if let Some(j) = &i.joliet_volume_id {
        out!("joliet volume id: {j}");
    }
    out!(
        "entries: {} directories, {} files ({} bytes), {} other",
        i.directories,
        i.files,
        i.data_bytes,
        i.other
    );
    if let Some(c) = i.boot_catalog {
        out!("El Torito boot catalog: sector {c}");
    }
    for (n, b) in i.boot_entries.iter().enumerate() {
        out!(
            "boot entry {}: {} {} load {} sectors at sector {}{}",
            n + 1,
            b.platform,
            if b.bootable {
                "bootable"
            } else {
                "not bootable"
            },
            b.load_sectors,
            b.lba,
            b.path
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        );
    }
    if let Some(s) = &i.system_area {
        out!("system area: {s}");
    }
    Ok(())
}

#[derive(Args)]
struct RootfsArgs {
    /// A repository: a directory with repodata/ (as createrepo_c writes it)
    /// or of .rpm files; `DIR=PRIORITY` for a priority other than 99
    /// (lower is preferred, as dnf's).
    #[arg(long = "repo", required = true)]
    repos: Vec<String>,
    /// Packages (`name`, or `name.arch` for one architecture's: `glibc.i686`)
    /// or capabilities to install, comma separated or repeated.
    #[arg(long, value_delimiter = ',')]
    install: Vec<String>,
    /// A file naming packages to install: a toolkit package list
    /// (`{"packages": [...]}`) or one name per line.
    #[arg(long)]
    install_list: Vec<PathBuf>,
    /// Leave out weak dependencies (Recommends).
    #[arg(long)]
    no_recommends: bool,
    /// Leave out files marked %doc, as rpm --excludedocs.
    #[arg(long)]
    excludedocs: bool,
    /// Install the files marked %lang only for these languages, as rpm's
    /// %_install_langs: `en:de` (a file's language matches a listed one
    /// that begins with it), `all` (the default), or `NONE` for none.
    #[arg(long, value_name = "LANGS")]
    install_langs: Option<String>,
    /// Leave out the rpm database (var/lib/rpm/rpmdb.sqlite).
    #[arg(long)]
    no_rpmdb: bool,
    /// Do not run the packages' scriptlets and file triggers (rpm's
    /// --noscripts --notriggers); each one left out is listed.
    #[arg(long)]
    no_scripts: bool,
    /// Where the packages are unpacked for their scriptlets to run, and the
    /// rpm database is made (default: $TMPDIR).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    #[command(flatten)]
    gpg: GpgArgs,
    /// The archive to write: .tar, .tar.gz or .tar.zst; `-` for a tar on
    /// standard output.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Print a JSON summary: the packages in install order and why.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BuildArgs {
    /// The image configuration: toolkit JSON (.json) or Image Customizer
    /// YAML (.yaml, .yml).
    config: PathBuf,
    /// The root filesystem: a directory, a tar archive (.tar, .tar.gz,
    /// .tar.xz, .tar.zst; owners, modes, links, devices and xattrs are
    /// taken as the archive records them), or a container image —
    /// oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG]
    /// — its layers applied with their whiteouts.
    #[arg(long, required_unless_present = "repos", conflicts_with = "repos")]
    rootfs: Option<PathBuf>,
    /// Install the configuration's packages (PackageLists, Packages,
    /// KernelOptions; os.packages) from this repository instead of taking a
    /// root filesystem: `DIR` or `DIR=PRIORITY`, as `imgconv rootfs`.
    #[arg(long = "repo")]
    repos: Vec<String>,
    /// With --repo: leave out weak dependencies (Recommends).
    #[arg(long)]
    no_recommends: bool,
    /// With --repo: do not run the packages' scriptlets and file triggers;
    /// each one left out is listed.
    #[arg(long)]
    no_scripts: bool,
    #[command(flatten)]
    gpg: GpgArgs,
    /// Output formats, comma separated: disk formats, and the root file
    /// system's own (tar archives, container images). Default: the
    /// configuration's artifacts.
    #[arg(long, short = 't', value_delimiter = ',', value_parser = BuildFormatParser)]
    to: Vec<imgbuild::Format>,
    /// Output path (one format only); `-` writes to standard output.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Directory for outputs, named after the artifact (`<name>.<ext>`) or
    /// the configuration's stem (default: the current directory).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// Where file system images are made before they are read into the
    /// outputs (default: $TMPDIR).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    #[command(flatten)]
    format: FormatArgs,
    #[command(flatten)]
    container: ContainerArgs,
    /// Live ISO: its volume id, which the kernel finds it by
    /// (`root=live:CDLABEL=ID`; default: the artifact's name in capitals).
    #[arg(long)]
    volume_id: Option<String>,
    /// Live ISO: how its root image is compressed, NAME[:LEVEL] — zstd
    /// (1-22), xz (0-9), gzip (1-9), lzo (1-9) or lz4.
    #[arg(long, default_value = "zstd:6")]
    squashfs_compression: String,
    /// The UEFI boot loader to install from the tree: grub or systemd-boot
    /// (default: the configuration's; toolkit and Image Customizer
    /// configurations boot with GRUB). An ESP whose packages already put
    /// EFI/BOOT/BOOTX64.EFI there keeps it; BIOS always boots GRUB.
    #[arg(long, value_name = "LOADER")]
    boot_loader: Option<imgbuild::BootLoader>,
    /// Print a JSON summary of what was built and written.
    #[arg(long)]
    json: bool,
}

/// Which packages are trusted: every one must be signed by a given key,
/// as dnf's gpgcheck=1, unless the check is turned off.
#[derive(Args)]
struct GpgArgs {
    /// A public key packages must be signed with, ASCII-armored or binary,
    /// as `rpm --import` takes it (repeatable).
    #[arg(long = "gpg-key", value_name = "FILE")]
    gpg_keys: Vec<PathBuf>,
    /// Install packages without checking their signatures, as
    /// `dnf --nogpgcheck` (their digests are still checked).
    #[arg(long, conflicts_with = "gpg_keys")]
    no_gpg_check: bool,
}

impl GpgArgs {
    fn check(&self) -> Result<pkgstage::signature::GpgCheck> {
        Ok(if self.no_gpg_check {
            pkgstage::signature::GpgCheck::Off
        } else {
            pkgstage::signature::GpgCheck::Keys(pkgstage::signature::Keyring::load(&self.gpg_keys)?)
        })
    }
}

/// How a container image (oci, oci-archive, docker-archive) is described.
#[derive(Args)]
struct ContainerArgs {
    /// Container image: the name it is tagged with, NAME[:TAG] (default:
    /// the artifact's name, tag latest).
    #[arg(long)]
    tag: Option<String>,
    /// Container image: a label, KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Container image: an environment variable, KEY=VALUE (repeatable;
    /// PATH has the usual default).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Container image: the entrypoint, as a JSON array
    /// (`["/bin/sh","-c"]`) or words separated by spaces.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container image: the default command (arguments to the entrypoint),
    /// as a JSON array or words separated by spaces.
    #[arg(long)]
    cmd: Option<String>,
    /// Container image: the working directory.
    #[arg(long)]
    workdir: Option<String>,
    /// Container image: the user the command runs as (USER[:GROUP]).
    #[arg(long)]
    user: Option<String>,
    /// Container image: its architecture as OCI names it (amd64, arm64;
    /// default: this machine's).
    #[arg(long)]
    arch: Option<String>,
    /// Container image: layer compression, gzip (default, level 6) or
    /// zstd (level 3), with a level as `gzip:1`, `zstd:19`; a docker
    /// archive's layers are never compressed.
    #[arg(long, value_name = "ALGO[:LEVEL]")]
    layer_compression: Option<String>,
}

impl ContainerArgs {
    /// The image options these flags give, for an image named after
    /// `stem` made at `time`.
    /// The image's options: the configuration's container section with
    /// the flags over it (an `--env` or `--label` replaces the same key).
    fn image_options(
        &self,
        stem: &str,
        time: u64,
        settings: &imgbuild::config::ContainerSettings,
    ) -> Result<container::ImageOptions> {
        let mut config = container::ContainerConfig {
            created: i64::try_from(time).unwrap_or(0),
            architecture: self.arch.clone().unwrap_or_else(|| {
                match std::env::consts::ARCH {
                    "x86_64" => "amd64",
                    "aarch64" => "arm64",
                    "x86" => "386",
                    "powerpc64" => "ppc64le",
                    other => other,
                }
                .to_string()
            }),
            created_by: format!("imgconv build {}", env!("CARGO_PKG_VERSION")),
            labels: settings.labels.iter().cloned().collect(),
            ..Default::default()
        };
        config.env.extend(settings.env.iter().cloned());
        for e in &self.env {
            let Some((key, _)) = e.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                bail!("--env {e:?}: expected KEY=VALUE");
            };
            config
                .env
                .retain(|old| old.split_once('=').map(|(k, _)| k) != Some(key));
            config.env.push(e.clone());
        }
        for l in &self.labels {
            let Some((key, value)) = l.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                bail!("--label {l:?}: expected KEY=VALUE");
            };
            config.labels.insert(key.to_string(), value.to_string());
        }
        config.entrypoint = match self.entrypoint.as_deref() {
            Some(e) => Some(command_words("--entrypoint", e)?),
            None => settings.entrypoint.clone(),
        };
        config.cmd = match self.cmd.as_deref() {
            Some(c) => Some(command_words("--cmd", c)?),
            None => settings.cmd.clone(),
        };
        config.working_dir = self
            .workdir
            .clone()
            .or_else(|| settings.working_dir.clone());
        config.user = self.user.clone().or_else(|| settings.user.clone());
        let compression = match self.layer_compression.as_deref() {
            None => container::Compression::GZIP,
            Some(text) => container::Compression::parse(text)
                .map_err(|why| anyhow::anyhow!("--layer-compression {text:?}: {why}"))?,
        };
        let tag = match self.tag.as_ref().or(settings.tag.as_ref()) {
            Some(t) => t.clone(),
            None => default_name(stem),
        };
        Ok(container::ImageOptions {
            layout: None,
            compression,
            config,
            reference: Some(container::Reference::parse(&tag)?),
        })
    }
}

/// An image name made from an artifact's name: lower case, each character
/// a repository name may not hold a `-`, and `image` if nothing is left.
fn default_name(stem: &str) -> String {
    let name: String = stem
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if name.is_empty() {
        "image".into()
    } else {
        name.into()
    }
}

/// A command given as a JSON array of strings, or as words separated by
/// white space.
fn command_words(flag: &str, text: &str) -> Result<Vec<String>> {
    if text.trim_start().starts_with('[') {
        serde_json::from_str(text)
            .with_context(|| format!("{flag} {text:?}: not a JSON array of strings"))
    } else {
        Ok(text.split_whitespace().map(str::to_string).collect())
    }
}

/// A format `imgconv build` writes: a disk image, or one made from the
/// root file system itself.
/// Parses `imgconv build --to` names: every disk writer's and the tree
/// formats'.
#[derive(Clone)]
struct BuildFormatParser;

impl clap::builder::TypedValueParser for BuildFormatParser {
    type Value = imgbuild::Format;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<imgbuild::Format, clap::Error> {
        parse_listed(self, cmd, arg, value, |name| {
            Ok(imgbuild::Format::parse(name)?)
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        let disks = OutputFormatParser.possible_values().into_iter().flatten();
        let trees = imgbuild::TREE_FORMATS.iter().map(|f| {
            clap::builder::PossibleValue::new(f.name)
                .aliases(f.aliases.iter().copied())
                .help(format!("{} (.{})", f.description, f.extension))
        });
        Some(Box::new(disks.chain(trees)))
    }
}

#[derive(Args)]
struct ConvertArgs {
    /// The input image: raw, or any format imgconv reads.
    input: Option<PathBuf>,
    /// Output formats, comma separated. Each output is named
    /// `<stem>.<extension>` as listed; a vmdk-flat one keeps its data in
    /// `<stem>.flat-flat.vmdk` (with `-o NAME.vmdk`, in `NAME-flat.vmdk`).
    #[arg(long, short = 't', value_delimiter = ',', value_parser = OutputFormatParser)]
    to: Vec<OutputFormat>,
    /// Output path (one format only); `-` writes to standard output.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Directory for outputs named `<stem>.<ext>` (default: beside the input).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    #[command(flatten)]
    format: FormatArgs,
    /// Print a JSON summary of what was written.
    #[arg(long)]
    json: bool,
}

/// Options of the output formats, shared by `convert` and `build`.
#[derive(Args)]
struct FormatArgs {
    #[command(flatten)]
    values: FormatFlags,
    /// vhd-fixed: when rounding the disk up to a whole MiB, leave a GPT's
    /// backup header where it was (by default it moves to the new end).
    #[arg(long)]
    no_gpt_grow: bool,
    /// Seed for the identifiers written into outputs, with their times
    /// fixed too (SOURCE_DATE_EPOCH when set, else 2000-01-01 00:00 UTC):
    /// the same input and seed give byte-identical outputs. Default: both
    /// from SOURCE_DATE_EPOCH when set, else random identifiers and the
    /// current time.
    #[arg(long)]
    seed: Option<String>,
}

/// The output formats' own options, as flags made from what each format
/// crate declares ([`imgconv::OPTIONS`]): `--NAME` (and its short form)
/// for each, and `--option FORMAT.NAME=VALUE` for any. A format's new
/// option is a flag here without a change to this file.
struct FormatFlags(imgconv::FormatValues);

/// The id of `--option`'s argument.
const OPTION_ARG: &str = "option";

/// A flag's value checked by its format, the others at their defaults:
/// a bad one is refused as clap refuses any, with the format's reason.
fn check_option_value(
    set: &'static blocksink::FormatOptionSet,
    name: &'static str,
) -> impl clap::builder::TypedValueParser<Value = String> {
    move |value: &str| -> Result<String, String> {
        set.check(name, value).map_err(|e| option_reason(&e))?;
        Ok(value.to_string())
    }
}

/// Why a format refused a value, without the option's name and value,
/// which clap says.
fn option_reason(e: &blocksink::Error) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string)
}

/// `--option FORMAT.NAME[=VALUE]`, checked by its format.
fn check_assignment(text: &str) -> Result<String, String> {
    let mut values = imgconv::FormatValues::new();
    values.assign(text).map_err(|e| e.to_string())?;
    values.check().map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

impl Args for FormatFlags {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        use blocksink::OptionKind;
        use clap::{Arg, ArgAction};
        for &set in imgconv::OPTIONS {
            for spec in set.options {
                let mut arg = Arg::new(spec.name).long(spec.name).help(spec.help);
                if let Some(short) = spec.short {
                    arg = arg.short(short);
                }
                arg = match spec.kind {
                    OptionKind::Flag => arg.action(ArgAction::SetTrue),
                    OptionKind::Value => arg.action(ArgAction::Set),
                    OptionKind::OptionalValue { when_bare } => arg
                        .action(ArgAction::Set)
                        .num_args(0..=1)
                        .default_missing_value(when_bare),
                };
                if spec.kind != OptionKind::Flag {
                    arg = arg
                        .value_name(spec.value_name)
                        .value_parser(check_option_value(set, spec.name));
                    if let Some(default) = spec.default {
                        arg = arg.default_value(default);
                    }
                }
                cmd = cmd.arg(arg);
            }
        }
        cmd.arg(
            Arg::new(OPTION_ARG)
                .long("option")
                .value_name("FORMAT.NAME=VALUE")
                .action(ArgAction::Append)
                .value_parser(check_assignment)
                .help(
                    "An output format's option by name, over its flag: FORMAT.NAME=VALUE, \
                     or FORMAT.NAME to turn a flag on (qcow2.cluster-size=1M; repeatable)",
                ),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for FormatFlags {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = FormatFlags(imgconv::FormatValues::new());
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        let invalid = |e: imgconv::Error| {
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n"))
        };
        for &set in imgconv::OPTIONS {
            for spec in set.options {
                // Only what was given: a declared default is the format's
                // to apply.
                if matches.value_source(spec.name) != Some(clap::parser::ValueSource::CommandLine) {
                    continue;
                }
                if spec.kind == blocksink::OptionKind::Flag {
                    if matches.get_flag(spec.name) {
                        self.0.set_bare(set.format, spec.name).map_err(invalid)?;
                    }
                } else if let Some(value) = matches.get_one::<String>(spec.name) {
                    self.0.set(set.format, spec.name, value).map_err(invalid)?;
                }
            }
        }
        for text in matches.get_many::<String>(OPTION_ARG).into_iter().flatten() {
            self.0.assign(text).map_err(invalid)?;
        }
        Ok(())
    }
}

/// `value` parsed with `parse` once it is one of `parser`'s listed names
/// (clap says which are, and suggests the nearest, when it is not).
fn parse_listed<T>(
    parser: &impl clap::builder::TypedValueParser,
    cmd: &clap::Command,
    arg: Option<&clap::Arg>,
    value: &std::ffi::OsStr,
    parse: impl Fn(&str) -> Result<T>,
) -> Result<T, clap::Error> {
    let value = value
        .to_str()
        .map_or(value, |s| std::ffi::OsStr::new(s.trim()));
    let names =
        clap::builder::PossibleValuesParser::new(parser.possible_values().into_iter().flatten());
    let name = clap::builder::TypedValueParser::parse_ref(&names, cmd, arg, value)?;
    parse(&name).map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e))
}

/// Parses `--to` names against the registry of writers, which lists them
/// (with what each writes and its extension) in `--help` and in the error
/// for a name that is none of them.
#[derive(Clone)]
struct OutputFormatParser;

impl clap::builder::TypedValueParser for OutputFormatParser {
    type Value = OutputFormat;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<OutputFormat, clap::Error> {
        parse_listed(self, cmd, arg, value, |name| Ok(OutputFormat::parse(name)?))
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(OutputFormat::all().map(|f| {
            clap::builder::PossibleValue::new(f.name())
                .aliases(f.spec().aliases.iter().copied())
                .help(format!("{} (.{})", f.description(), f.extension()))
        })))
    }
}

/// The time outputs are stamped with under `--seed` when
/// SOURCE_DATE_EPOCH is not set: 2000-01-01 00:00:00 UTC, which every
/// format's time field can hold (FAT's start in 1980, VHD's in 2000).
const SEED_TIME: u64 = 946_684_800;

fn format_options(a: &FormatArgs) -> Result<FormatOptions> {
    let mut opts = FormatOptions::default();
    if let Some(seed) = &a.seed {
        // A stamp from SOURCE_DATE_EPOCH keeps its time; otherwise a fixed
        // one, so that the seed alone makes outputs repeatable.
        let time = if opts.stamp.is_reproducible() {
            opts.stamp.unix_time()
        } else {
            SEED_TIME
        };
        opts.stamp = blocksink::BuildStamp::fixed(time, seed);
    }
    opts.set_values(&a.values.0)?;
    opts.grow_gpt = !a.no_gpt_grow;
    Ok(opts)
}

fn progress_bar() -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn run_convert(a: ConvertArgs) -> Result<ExitCode> {
    let Some(input) = a.input.clone() else {
        bail!("no input image given; see imgconv --help");
    };
    if a.to.is_empty() {
        let names: Vec<&str> = OutputFormat::all().map(OutputFormat::name).collect();
        bail!(
            "no output format given: use --to FMT[,FMT…] ({})",
            names.join(", ")
        );
    }
    let formats = a.to.clone();
    if a.output.is_some() && formats.len() > 1 {
        bail!(
            "-o names one output, but {} formats were asked for; use --output-dir",
            formats.len()
        );
    }
    if let Some(dir) = &a.output_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let outputs = formats
        .iter()
        .map(|&format| {
            let target = match &a.output {
                Some(p) if p.as_os_str() == "-" => OutputTarget::Stdout,
                Some(p) => OutputTarget::Path(p.clone()),
                None => {
                    OutputTarget::Path(default_output_path(&input, format, a.output_dir.as_deref()))
                }
            };
            OutputSpec { format, target }
        })
        .collect::<Vec<_>>();
    if outputs.iter().any(|o| o.target == OutputTarget::Stdout)
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        bail!("refusing to write a disk image to a terminal; redirect standard output");
    }
    let job = ConvertJob {
        input,
        outputs,
        options: format_options(&a.format)?,
    };
    let bar = progress_bar();
    let report = imgconv::convert(&job, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = report?;
    if report.input_format == imgconv::InputFormat::ISO {
        note!(
            "note: {} is an ISO 9660 image; its bytes were converted as a raw disk",
            report.input.display()
        );
    }
    if a.json {
        note!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_outputs(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per output written, and what each output's writer noted.
fn print_outputs(report: &imgconv::ConvertReport) {
    for o in &report.outputs {
        if let Some(p) = &o.path {
            note!(
                "wrote {} ({}, {} bytes)",
                p.display(),
                o.format.name(),
                o.bytes
            );
        }
        if let Some(note) = &o.note {
            note!("note: {}: {note}", o.format.name());
        }
    }
}

fn run_build(a: BuildArgs) -> Result<ExitCode> {
    let source = match &a.rootfs {
        Some(path) => imgbuild::Source::Rootfs(path.clone()),
        None => imgbuild::Source::Packages(imgbuild::job::Packages {
            repos: parse_repos(&a.repos)?,
            recommends: !a.no_recommends,
            scripts: !a.no_scripts,
            gpg_check: a.gpg.check()?,
        }),
    };
    let mut job = imgbuild::Job::new(&a.config, source)?;
    let dir = a.output_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut outputs = if a.to.is_empty() {
        if job.config.artifacts.is_empty() {
            bail!(
                "{}: no artifacts are configured; name the formats with --to",
                a.config.display()
            );
        }
        job.artifact_outputs(&dir)?
    } else {
        let stem = job.stem();
        a.to.iter()
            .map(|&format| imgbuild::Output {
                format,
                target: OutputTarget::Path(dir.join(format!("{stem}.{}", format.extension()))),
                name: stem.clone(),
            })
            .collect()
    };
    if let Some(p) = &a.output {
        if outputs.len() > 1 {
            bail!(
                "-o names one output, but {} formats were asked for; use --output-dir",
                outputs.len()
            );
        }
        for o in &mut outputs {
            o.target = if p.as_os_str() == "-" {
                OutputTarget::Stdout
            } else {
                OutputTarget::Path(p.clone())
            };
        }
    }
    if outputs.iter().any(|o| o.target == OutputTarget::Stdout)
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
    {
        bail!("refusing to write an image to a terminal; redirect standard output");
    }
    job.outputs = outputs;
    job.formats = format_options(&a.format)?;
    // The image flags are read only when an image is asked for.
    let wants = |kind: fn(&imgbuild::TreeKind) -> bool| {
        job.outputs
            .iter()
            .any(|o| matches!(o.format, imgbuild::Format::Tree(t) if kind(&t.kind)))
    };
    if wants(|k| matches!(k, imgbuild::TreeKind::Image(_))) {
        job.image = a.container.image_options(
            &job.stem(),
            job.formats.stamp.unix_time(),
            &job.config.container,
        )?;
    }
    if wants(|k| matches!(k, imgbuild::TreeKind::LiveIso)) {
        job.live.compression = a.squashfs_compression.parse()?;
    }
    job.volume_id.clone_from(&a.volume_id);
    job.work_dir.clone_from(&a.work_dir);
    job.boot_loader = a.boot_loader;
    job.output_dirs.extend(a.output_dir.clone());

    let mut bar: Option<indicatif::ProgressBar> = None;
    let report = job.run(&mut |step| match step {
        imgbuild::Progress::Step(what) => bar = Some(spinner(what.to_string())),
        imgbuild::Progress::Bytes { done, total } => {
            let b = bar.get_or_insert_with(progress_bar);
            b.set_length(total);
            b.set_position(done);
        }
        imgbuild::Progress::Done => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
        }
    });
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    let report = report?;
    if a.json {
        note!(
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(&report)?)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(installed) = &report.installed {
        print_install_notes(installed);
    }
    if let Some(disk) = &report.disk {
        if let Some(l) = &disk.boot_loader {
            let each: Vec<String> = [("UEFI", &l.uefi), ("BIOS", &l.bios)]
                .iter()
                .filter_map(|(firmware, name)| name.as_ref().map(|n| format!("{n} for {firmware}")))
                .collect();
            if !each.is_empty() {
                note!("boot loader: {} ({})", each.join(", "), l.reason);
            }
        }
        for n in &disk.notes {
            note!("note: {n}");
        }
        print_outputs(&disk.conversion);
    }
    for t in &report.trees {
        if let Some(p) = &t.path {
            note!("wrote {} ({}, {} bytes)", p.display(), t.format, t.bytes);
        }
        if let Some(image) = &t.image {
            note!("note: {}: manifest {}", t.format, image.manifest.digest);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The flags that would mend `e`, when it is one they mend: the libraries
/// say what is wrong, the command line which of its flags changes it.
fn hint(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use imgbuild::Problem;
    match e.downcast_ref::<imgbuild::Error>() {
        Some(imgbuild::Error::Request { problem, .. }) => {
            return match problem {
                Problem::PackagesForATree => Some("give --repo to install them, not --rootfs"),
                Problem::RpmDbForATree => Some("RemoveRpmDb applies with --repo"),
                Problem::NoPackages => Some("--repo installs a configuration's packages"),
                Problem::NotAStream => Some("name a file with -o"),
                Problem::OutputClash => Some("name them apart with -o or --output-dir"),
                _ => None,
            };
        }
        // Shown as the error they hold, which is where the hint is.
        Some(imgbuild::Error::Packages(inner)) => return hint(inner),
        Some(imgbuild::Error::Disk(inner)) => return hint(inner),
        _ => {}
    }
    match e.downcast_ref::<pkgstage::Error>() {
        Some(pkgstage::Error::Untrusted {
            keys_given: false, ..
        }) => return Some("give the keys with --gpg-key FILE, or --no-gpg-check not to check"),
        // No sandbox at all; a scriptlet that failed in one is not mended so.
        Some(pkgstage::Error::Tool { doing, .. })
            if [
                pkgstage::install::NEEDS_BWRAP,
                pkgstage::install::NEEDS_USERNS,
            ]
            .contains(&doing.as_str()) =>
        {
            return Some("give --no-scripts to install without running the scriptlets")
        }
        _ => {}
    }
    // Its causes, among them an error carried inside another (a
    // package's, across the disk's walk of the tree).
    e.source().and_then(hint)
}

/// A spinner saying what is being done, until it is cleared.
fn spinner(message: String) -> indicatif::ProgressBar {
    let bar = progress_bar();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(150));
    bar
}

/// The repositories `--repo DIR[=PRIORITY]` names, with their priorities.
fn parse_repos(specs: &[String]) -> Result<Vec<(PathBuf, i32)>> {
    specs
        .iter()
        .map(|spec| match spec.rsplit_once('=') {
            Some((d, p)) => Ok((
                PathBuf::from(d),
                p.parse::<i32>()
                    .with_context(|| format!("--repo {spec}: {p:?} is not a priority"))?,
            )),
            None => Ok((PathBuf::from(spec), 99)),
        })
        .collect()
}

fn run_rootfs(a: RootfsArgs) -> Result<ExitCode> {
    let mut names = a.install.clone();
    for list in &a.install_list {
        names.extend(imgbuild::config::read_package_list(list).map_err(anyhow::Error::msg)?);
    }
    if names.is_empty() {
        bail!("nothing to install: name packages with --install or --install-list");
    }
    let source = imgbuild::Source::Install(imgbuild::job::Install {
        from: imgbuild::job::Packages {
            repos: parse_repos(&a.repos)?,
            recommends: !a.no_recommends,
            scripts: !a.no_scripts,
            gpg_check: a.gpg.check()?,
        },
        names,
        exclude_docs: a.excludedocs,
        install_langs: a.install_langs.clone(),
        no_rpmdb: a.no_rpmdb,
        rpm_manifests: false,
    });
    let target = if a.output.as_os_str() == "-" {
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            bail!("refusing to write an archive to a terminal; redirect standard output");
        }
        OutputTarget::Stdout
    } else {
        OutputTarget::Path(a.output.clone())
    };
    let mut job = imgbuild::Job::without_config(source);
    job.archive_to(target);
    job.work_dir.clone_from(&a.work_dir);
    let report = job.run(&mut |_| {})?;
    let installed = report.installed.unwrap_or_default();
    let shown = a.output.display().to_string();
    if a.json {
        let packages: Vec<serde_json::Value> = report
            .resolved
            .iter()
            .map(|c| serde_json::json!({"package": c.nevra, "reason": c.reason}))
            .collect();
        note!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "output": a.output,
                "packages": packages,
                "installed": installed,
            }))?
        );
    } else {
        print_install_notes(&installed);
        note!(
            "wrote {shown}: {} packages, {} entries, {} bytes of files",
            installed.packages,
            installed.entries,
            installed.bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The notes of a package install, and the scriptlets it left out.
fn print_install_notes(report: &pkgstage::install::InstallReport) {
    for n in &report.notes {
        note!("note: {n}");
    }
    for s in report.scriptlets.iter().filter(|s| s.outcome == "skipped") {
        note!("note: skipped {} of {}", s.scriptlet, s.package);
    }
}

fn run_info(image: PathBuf, json: bool) -> Result<ExitCode> {
    if imgconv::is_iso_file(&image) {
        let i = imgconv::iso_info(&image)?;
        if json {
            out!("{}", serde_json::to_string_pretty(&i)?);
        } else {
            print_iso_info(&i)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let i = imgconv::info(&image)?;
    if json {
        out!("{}", serde_json::to_string_pretty(&i)?);
        return Ok(ExitCode::SUCCESS);
    }
    out!("image: {}", i.path.display());
    out!("file format: {}", i.format.name());
    out!("virtual size: {} bytes", i.virtual_size);
    out!("file size: {} bytes", i.file_size);
    out!("disk size: {} bytes", i.allocated_size);
    out!("data: {} bytes", i.data_size);
    for (k, v) in &i.format_options {
        out!("    {k}: {v}");
    }
    if let Some(parts) = &i.partitions {
        out!("partition table: gpt");
        out!(
            "{:>6} {:>12} {:>12} {:>14}  {:<20} name",
            "number",
            "start",
            "end",
            "size",
            "type"
        );
        for p in parts {
            let ty = p
                .type_name
                .map(str::to_string)
                .unwrap_or_else(|| p.type_guid.clone());
            out!(
                "{:>6} {:>12} {:>12} {:>14}  {:<20} {}",
                p.number,
                p.first_lba,
                p.last_lba,
                p.size,
                ty,
                p.name
            );
        }
    }
    for problem in &i.gpt_problems {
        out!("GPT problem: {problem}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit 0 identical, 1 different, 2 could not compare (as `qemu-img compare`).
fn run_compare(a: PathBuf, b: PathBuf) -> Result<ExitCode> {
    match imgconv::compare(&a, &b) {
        Ok(Comparison::Identical { size_mismatch }) => {
            if size_mismatch {
                out!("Warning: Image size mismatch!");
            }
            out!("Images are identical.");
            Ok(ExitCode::SUCCESS)
        }
        Ok(Comparison::Differ { offset }) => {
            out!("Content mismatch at offset {offset}!");
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            note!("imgconv: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Exit 0 clean, 2 corruptions, 3 leaked clusters only, 1 could not check
/// (as `qemu-img check`).
fn run_check(image: PathBuf, json: bool) -> Result<ExitCode> {
    let r = match imgconv::check(&image) {
        Ok(r) => r,
        Err(e) => {
            note!("imgconv: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if json {
        out!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        for e in &r.errors {
            out!("ERROR {e}");
        }
        for n in &r.notes {
            out!("note: {n}");
        }
        if r.leaked_clusters > 0 {
            out!(
                "{} leaked clusters were found on the image.",
                r.leaked_clusters
            );
        }
        if r.errors.is_empty() && r.leaked_clusters == 0 {
            out!("No errors were found on the image.");
        } else if !r.errors.is_empty() {
            out!("{} errors were found on the image.", r.errors.len());
        }
    }
    Ok(ExitCode::from(
        match (r.errors.is_empty(), r.leaked_clusters) {
            (false, _) => 2,
            (true, 0) => 0,
            (true, _) => 3,
        },
    ))
}

/// Exit 0 when the default build has every tool it needs, else 1.
fn run_doctor(json: bool) -> Result<ExitCode> {
    let checked = blocksink::tool::doctor();
    let ready = !checked.iter().any(|c| c.blocks_default_build());
    if json {
        let tools: Vec<_> = checked
            .iter()
            .map(|c| {
                serde_json::json!({
                    "program": c.tool.program,
                    "state": c.state.as_str(),
                    "path": c.path,
                    "version": c.version,
                    "minimum": c.tool.minimum.map(|m| m.version.to_string()),
                    "default_build": c.tool.default_build,
                    "purpose": c.tool.purpose,
                    "debian": c.tool.debian,
                    "fedora": c.tool.fedora,
                })
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "default_build_ready": ready,
                "tools": tools,
            }))?
        );
    } else {
        let mut rows = vec![[
            "TOOL".to_string(),
            "STATE".into(),
            "VERSION".into(),
            "MINIMUM".into(),
            "DEFAULT BUILD".into(),
            "PATH".into(),
            "DEBIAN / FEDORA PACKAGE".into(),
        ]];
        for c in &checked {
            rows.push([
                c.tool.program.to_string(),
                c.state.as_str().into(),
                c.version.clone().unwrap_or_else(|| "-".into()),
                c.tool
                    .minimum
                    .map_or_else(|| "-".into(), |m| m.version.to_string()),
                if c.tool.default_build {
                    "needs it"
                } else {
                    "-"
                }
                .into(),
                c.path
                    .as_ref()
                    .map_or_else(|| "-".into(), |p| p.display().to_string()),
                format!("{} / {}", c.tool.debian, c.tool.fedora),
            ]);
        }
        let mut widths = [0; 7];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in &rows {
            let line: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:w$}"))
                .collect();
            out!("{}", line.join("  ").trim_end());
        }
        for c in &checked {
            if let Some(e) = c.error() {
                out!("");
                out!("{e}");
            }
        }
        out!("");
        if ready {
            out!("The default build (an ext4 disk booting with GRUB) has every tool it needs.");
        } else {
            let lacking: Vec<&str> = checked
                .iter()
                .filter(|c| c.blocks_default_build())
                .map(|c| c.tool.program)
                .collect();
            out!(
                "The default build (an ext4 disk booting with GRUB) cannot run: {} {}.",
                lacking.join(", "),
                if lacking.len() == 1 {
                    "is missing or too old"
                } else {
                    "are missing or too old"
                }
            );
        }
    }
    Ok(if ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// On SIGINT, SIGTERM or SIGHUP, removes the outputs still being written
/// and exits as the signal would (128 + its number).
fn remove_unfinished_outputs_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            blocksink::remove_pending_files();
            note!("imgconv: interrupted by signal {signal}; unfinished outputs removed");
            std::process::exit(128 + signal);
        }
    });
}

fn main() -> ExitCode {
    remove_unfinished_outputs_on_signals();
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_convert(cli.convert),
        Some(Command::Convert(a)) => run_convert(*a),
        Some(Command::Iso(a)) => run_iso(*a),
        Some(Command::Build(a)) => run_build(*a),
        Some(Command::Rootfs(a)) => run_rootfs(*a),
        Some(Command::Info { image, json }) => run_info(image, json),
        Some(Command::Compare { a, b }) => run_compare(a, b),
        Some(Command::Check { image, json }) => run_check(image, json),
        Some(Command::Doctor { json }) => run_doctor(json),
    };
    match result {
        Ok(code) => code,
        // Its reader has gone: end quietly, with the status of a process
        // that SIGPIPE ended (128 + 13), as other command-line tools do.
        Err(e) if e.is::<StdoutClosed>() => ExitCode::from(141),
        Err(e) => {
            note!("imgconv: {}", blocksink::chain(e.as_ref()));
            if let Some(hint) = hint(e.as_ref()) {
                note!("imgconv: {hint}");
            }
            ExitCode::from(1)
        }
    }
}
