//! The command line's arguments: what clap parses, and the library's job
//! each command's arguments describe.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use imgconv::{default_output_path, ConvertJob, OutputFormat, OutputSpec, OutputTarget};

mod container;
mod formats;

use container::ContainerArgs;
use formats::{format_options, BuildFormatParser, FormatArgs, OutputFormatParser};

/// Convert a disk image into many formats in one pass.
///
/// Formats written: see --to (raw, VHD, VHDX, VMDK, OVA, QCOW2).
/// Formats read: raw, vhd, vhdx, vmdk (every variant), ova, qcow2 (any → any).
#[derive(Parser)]
#[command(name = "imgconv", version, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) convert: ConvertArgs,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
pub(crate) struct IsoArgs {
    /// The directory whose tree becomes the image (with --extract: the ISO).
    pub(crate) source: PathBuf,
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
    pub(crate) json: bool,
}

impl IsoArgs {
    /// With --extract, the directory to extract the image into.
    pub(crate) fn extract_into(&self) -> Result<Option<&Path>> {
        if !self.extract {
            return Ok(None);
        }
        let Some(dir) = &self.extract_to else {
            bail!("--extract needs a destination: imgconv iso --extract IMAGE.iso DIR");
        };
        Ok(Some(dir))
    }

    /// The image these arguments describe.
    pub(crate) fn job(&self) -> Result<imgconv::IsoJob> {
        if let Some(extra) = &self.extract_to {
            bail!(
                "unexpected argument {} (did you mean --extract?)",
                extra.display()
            );
        }
        let Some(output) = &self.output else {
            bail!("imgconv iso needs -o OUTPUT.iso (or -o - for standard output)");
        };
        Ok(imgconv::IsoJob {
            source: self.source.clone(),
            output: output_target(output),
            volume_id: self.volid.clone(),
            publisher: self.publisher.clone(),
            application: self.application.clone(),
            bios_boot: self.bios_boot.clone(),
            boot_load_size: self.boot_load_size,
            boot_info_table: !self.no_boot_info_table,
            boot_catalog: self.boot_catalog.clone(),
            efi_boot: self.efi_boot.clone(),
            hybrid: self.hybrid,
            hybrid_mbr: self.hybrid_mbr.clone(),
            no_rock_ridge: self.no_rock_ridge,
            no_joliet: self.no_joliet,
        })
    }
}

#[derive(Args)]
pub(crate) struct RootfsArgs {
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
    pub(crate) output: PathBuf,
    /// Print a JSON summary: the packages in install order and why.
    #[arg(long)]
    pub(crate) json: bool,
}

impl RootfsArgs {
    /// A job installing the packages named into the archive named, which
    /// no configuration adds to.
    pub(crate) fn job(&self) -> Result<imgbuild::Job> {
        let mut names = self.install.clone();
        for list in &self.install_list {
            names.extend(imgbuild::config::read_package_list(list).map_err(anyhow::Error::msg)?);
        }
        if names.is_empty() {
            bail!("nothing to install: name packages with --install or --install-list");
        }
        let source = imgbuild::Source::Install(imgbuild::job::Install {
            from: imgbuild::job::Packages {
                repos: parse_repos(&self.repos)?,
                recommends: !self.no_recommends,
                scripts: !self.no_scripts,
                gpg_check: self.gpg.check()?,
            },
            names,
            exclude_docs: self.excludedocs,
            install_langs: self.install_langs.clone(),
            no_rpmdb: self.no_rpmdb,
            rpm_manifests: false,
        });
        let target = output_target(&self.output);
        if target == OutputTarget::Stdout {
            refuse_terminal("an archive")?;
        }
        let mut job = imgbuild::Job::without_config(source);
        job.archive_to(target);
        job.work_dir.clone_from(&self.work_dir);
        Ok(job)
    }
}

#[derive(Args)]
pub(crate) struct BuildArgs {
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
    pub(crate) json: bool,
}

impl BuildArgs {
    /// The build these arguments ask for: the configuration's artifacts,
    /// or the formats named.
    pub(crate) fn job(&self) -> Result<imgbuild::Job> {
        let source = match &self.rootfs {
            Some(path) => imgbuild::Source::Rootfs(path.clone()),
            None => imgbuild::Source::Packages(imgbuild::job::Packages {
                repos: parse_repos(&self.repos)?,
                recommends: !self.no_recommends,
                scripts: !self.no_scripts,
                gpg_check: self.gpg.check()?,
            }),
        };
        let mut job = imgbuild::Job::new(&self.config, source)?;
        let dir = self
            .output_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("."));
        let mut outputs = if self.to.is_empty() {
            if job.config.artifacts.is_empty() {
                bail!(
                    "{}: no artifacts are configured; name the formats with --to",
                    self.config.display()
                );
            }
            job.artifact_outputs(&dir)?
        } else {
            let stem = job.stem();
            self.to
                .iter()
                .map(|&format| imgbuild::Output {
                    format,
                    target: OutputTarget::Path(dir.join(format!("{stem}.{}", format.extension()))),
                    name: stem.clone(),
                })
                .collect()
        };
        if let Some(p) = &self.output {
            if outputs.len() > 1 {
                bail!(
                    "-o names one output, but {} formats were asked for; use --output-dir",
                    outputs.len()
                );
            }
            for o in &mut outputs {
                o.target = output_target(p);
            }
        }
        if outputs.iter().any(|o| o.target == OutputTarget::Stdout) {
            refuse_terminal("an image")?;
        }
        job.outputs = outputs;
        job.formats = format_options(&self.format)?;
        // The image flags are read only when an image is asked for.
        let wants = |kind: fn(&imgbuild::TreeKind) -> bool| {
            job.outputs
                .iter()
                .any(|o| matches!(o.format, imgbuild::Format::Tree(t) if kind(&t.kind)))
        };
        if wants(|k| matches!(k, imgbuild::TreeKind::Image(_))) {
            job.image = self.container.image_options(
                &job.stem(),
                job.formats.stamp.unix_time(),
                &job.config.container,
            )?;
        }
        if wants(|k| matches!(k, imgbuild::TreeKind::LiveIso)) {
            job.live.compression = self.squashfs_compression.parse()?;
        }
        job.volume_id.clone_from(&self.volume_id);
        job.work_dir.clone_from(&self.work_dir);
        job.boot_loader = self.boot_loader;
        job.output_dirs.extend(self.output_dir.clone());
        Ok(job)
    }
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

#[derive(Args)]
pub(crate) struct ConvertArgs {
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
    pub(crate) json: bool,
}

impl ConvertArgs {
    /// The conversion these arguments ask for; the output directory is
    /// made.
    pub(crate) fn job(&self) -> Result<ConvertJob> {
        let Some(input) = self.input.clone() else {
            bail!("no input image given; see imgconv --help");
        };
        if self.to.is_empty() {
            let names: Vec<&str> = OutputFormat::all().map(OutputFormat::name).collect();
            bail!(
                "no output format given: use --to FMT[,FMT…] ({})",
                names.join(", ")
            );
        }
        let formats = self.to.clone();
        if self.output.is_some() && formats.len() > 1 {
            bail!(
                "-o names one output, but {} formats were asked for; use --output-dir",
                formats.len()
            );
        }
        if let Some(dir) = &self.output_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let outputs = formats
            .iter()
            .map(|&format| {
                let target = match &self.output {
                    Some(p) => output_target(p),
                    None => OutputTarget::Path(default_output_path(
                        &input,
                        format,
                        self.output_dir.as_deref(),
                    )),
                };
                OutputSpec { format, target }
            })
            .collect::<Vec<_>>();
        if outputs.iter().any(|o| o.target == OutputTarget::Stdout) {
            refuse_terminal("a disk image")?;
        }
        Ok(ConvertJob {
            input,
            outputs,
            options: format_options(&self.format)?,
        })
    }
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

/// Where `-o PATH` sends an output: `-` is standard output.
fn output_target(path: &Path) -> OutputTarget {
    if path.as_os_str() == "-" {
        OutputTarget::Stdout
    } else {
        OutputTarget::Path(path.to_path_buf())
    }
}

/// Refuses to write `what` to standard output when it is a terminal.
fn refuse_terminal(what: &str) -> Result<()> {
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        bail!("refusing to write {what} to a terminal; redirect standard output");
    }
    Ok(())
}
