//! A whole build as one call: a configuration, a source and the outputs
//! wanted become a [`Job`], and [`Job::run`] makes every output and says
//! what it made in a [`Report`].
//!
//! The source is a root filesystem (a directory, a tar archive or a
//! container image, [`crate::open_rootfs`]) or packages installed from
//! RPM repositories by the package stage (`diskimg-pkg`): the
//! configuration's, or ones the caller names ([`Source::Install`], which
//! with [`Job::without_config`] and [`Job::archive_to`] is the tree of the
//! packages alone as an archive). The outputs are
//! one list over one registry of formats ([`Format`]): every disk format
//! `imgconv` writes (the disk is built once and read into all of them in
//! one pass) and every format of the tree itself ([`crate::TREE_FORMATS`]:
//! tar archives, container images, the live ISO). Every output's name is
//! checked before anything is made, and an output is only ever a finished
//! file: each is written beside its name and renamed when complete.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use imgconv::{FormatOptions, OutputFormat, OutputSpec, OutputTarget};
use pkgstage::install::{InstallOptions, InstallReport, PackageSource};
use pkgstage::resolve::{Chosen, Request, Source as RepoSource};
use pkgstage::signature::GpgCheck;
use serde::Serialize;

use crate::custom::Customized;
use crate::error;
use crate::tree::{TreeKind, TreeTarget, WrittenTree};
use crate::{
    archive_format, build_disk, live, open_rootfs, tree_format, write_tree, BootLoader,
    BuildOptions, BuiltPartition, EntrySource, Error, ImageConfig, InstalledLoader, LiveOptions,
    Problem, Result, TreeFormat, TreeOptions, TREE_FORMATS,
};

/// An output format: a disk format `imgconv` writes, or a format of the
/// root filesystem itself.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    /// A disk image (raw, VHD, VHDX, VMDK, OVA, qcow2).
    Disk(OutputFormat),
    /// The tree as an archive, a container image or a live ISO.
    Tree(&'static TreeFormat),
}

impl Format {
    /// The format called `name` (or one of its aliases).
    pub fn parse(name: &str) -> Result<Format> {
        if let Some(t) = tree_format(name.trim()) {
            return Ok(Format::Tree(t));
        }
        Ok(Format::Disk(OutputFormat::parse(name)?))
    }

    /// Every format, disks first, in the order `--help` lists them.
    pub fn all() -> impl Iterator<Item = Format> {
        OutputFormat::all()
            .map(Format::Disk)
            .chain(TREE_FORMATS.iter().map(Format::Tree))
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Format::Disk(f) => f.name(),
            Format::Tree(t) => t.name,
        }
    }

    /// Its file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Disk(f) => f.extension(),
            Format::Tree(t) => t.extension,
        }
    }
}

/// One output of a build.
#[derive(Clone, Debug)]
pub struct Output {
    /// Its format.
    pub format: Format,
    /// Where it goes.
    pub target: OutputTarget,
    /// The artifact's name (a live ISO's volume id is made from it).
    pub name: String,
}

/// Where the root filesystem comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A directory, a tar archive or a container image
    /// (`oci:DIR[:REF]`, `oci-archive:FILE[:REF]`,
    /// `docker-archive:FILE[:NAME:TAG]`), written as it is.
    Rootfs(PathBuf),
    /// The configuration's packages, installed from repositories.
    Packages(Packages),
    /// Packages the caller names, installed from repositories with the
    /// options given here, as `rpm -i` lays them out. The configuration's
    /// packages and their install options are not used, nor kept in the
    /// image as rpm macros; the rest it generates into the tree is, as for
    /// any source ([`Job::without_config`] generates nothing).
    Install(Install),
}

/// How the configuration's packages are installed.
#[derive(Clone, Debug)]
pub struct Packages {
    /// The repositories, each with its priority (dnf's: lower wins; 99 is
    /// the default).
    pub repos: Vec<(PathBuf, i32)>,
    /// Whether weak dependencies (Recommends) are installed, as dnf does.
    pub recommends: bool,
    /// Whether scriptlets and file triggers run.
    pub scripts: bool,
    /// Which signatures packages must carry.
    pub gpg_check: GpgCheck,
}

/// Packages named by the caller, and how rpm installs them.
#[derive(Clone, Debug)]
pub struct Install {
    /// The repositories, and how their packages are chosen and checked.
    pub from: Packages,
    /// Package names (`glibc`, `glibc.i686`) or capabilities, in the order
    /// given.
    pub names: Vec<String>,
    /// Leave out files marked `%doc` (rpm's `--excludedocs`).
    pub exclude_docs: bool,
    /// The languages of `%lang` files to install, as rpm's
    /// `%_install_langs` (`en:de`, `NONE`); `None` installs every language.
    pub install_langs: Option<String>,
    /// Leave out the rpm database (`var/lib/rpm/rpmdb.sqlite`).
    pub no_rpmdb: bool,
    /// With `no_rpmdb`: list the packages the database would hold in
    /// `var/lib/rpmmanifest/`, as Azure Linux's toolkit does when it
    /// removes the database.
    pub rpm_manifests: bool,
}

/// What a step of [`Job::run`] is doing, for a progress display.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A step begins (`making the file systems from rootfs.tar`).
    Step(&'a str),
    /// Bytes of the disk read into its outputs, of the total.
    Bytes {
        /// Done so far.
        done: u64,
        /// In all.
        total: u64,
    },
    /// The step is over.
    Done,
}

/// A build: a configuration, a source, outputs, and how to make them.
#[derive(Clone, Debug)]
pub struct Job {
    /// The configuration file, as errors and the report name it.
    pub config_path: PathBuf,
    /// The configuration.
    pub config: ImageConfig,
    /// The root filesystem.
    pub source: Source,
    /// What to write.
    pub outputs: Vec<Output>,
    /// The disk formats' options, and the time and seed every output is
    /// stamped with.
    pub formats: FormatOptions,
    /// Where file system images are made (default: the temporary
    /// directory).
    pub work_dir: Option<PathBuf>,
    /// The boot loader asked for instead of the configuration's.
    pub boot_loader: Option<BootLoader>,
    /// A container image's description (for the image tree formats).
    pub image: container::ImageOptions,
    /// A live ISO's options (its volume id is [`Job::volume_id`]).
    pub live: LiveOptions,
    /// A live ISO's volume id (default: made from the output's name,
    /// [`live::volume_id_from`]).
    pub volume_id: Option<String>,
    /// Directories made for the outputs before they are written
    /// ([`Job::output_in`] adds its own).
    pub output_dirs: Vec<PathBuf>,
}

/// The disk a build made and what it was written as.
#[derive(Debug, Serialize)]
pub struct DiskReport {
    /// Its partitions.
    pub partitions: Vec<BuiltPartition>,
    /// The kernel command line its loader was given.
    pub kernel_cmdline: Option<String>,
    /// The loader installed.
    pub boot_loader: Option<InstalledLoader>,
    /// What the user should know about it.
    pub notes: Vec<String>,
    /// Its outputs.
    pub conversion: imgconv::ConvertReport,
}

/// What a build made.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The configuration.
    pub config: PathBuf,
    /// What the root filesystem was read from.
    pub rootfs: String,
    /// The packages installed, when the build installed them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed: Option<InstallReport>,
    /// The packages the build resolved, in install order, each with why it
    /// was chosen (empty when it installed none). Not serialized.
    #[serde(skip)]
    pub resolved: Vec<Chosen>,
    /// The disk, when a disk format was asked for.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskReport>,
    /// The tree outputs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trees: Vec<WrittenTree>,
    /// The configuration's scripts that ran, in order, with their output.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<crate::RanScript>,
}

impl Job {
    /// A job for the configuration at `path`, from `source`, with no
    /// outputs yet and every option at its default.
    pub fn new(path: impl Into<PathBuf>, source: Source) -> Result<Job> {
        let config_path = path.into();
        let config = ImageConfig::load(&config_path)?;
        Ok(Job {
            config_path,
            config,
            ..Job::without_config(source)
        })
    }

    /// A job without a configuration (its `config_path` is empty), from
    /// `source`: the tree as it is, with nothing generated into it or
    /// changed, for the tree's own formats (a disk needs a configuration's
    /// partitions).
    pub fn without_config(source: Source) -> Job {
        Job {
            config_path: PathBuf::new(),
            config: ImageConfig::empty(Path::new("")),
            source,
            outputs: Vec::new(),
            formats: FormatOptions::default(),
            work_dir: None,
            boot_loader: None,
            image: container::ImageOptions::default(),
            live: LiveOptions::default(),
            volume_id: None,
            output_dirs: Vec::new(),
        }
    }

    /// The name outputs are called by when the configuration names none:
    /// its first artifact's, else the configuration file's stem.
    pub fn stem(&self) -> String {
        self.config
            .artifacts
            .first()
            .map(|art| art.name.clone())
            .or_else(|| {
                self.config_path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "disk".into())
    }

    /// The configuration's own artifacts as outputs in `dir`
    /// (`<name>.<extension>`).
    pub fn artifact_outputs(&self, dir: &Path) -> Result<Vec<Output>> {
        self.config
            .artifacts
            .iter()
            .map(|art| {
                let format = Format::parse(&art.format)?;
                Ok(Output {
                    format,
                    target: OutputTarget::Path(dir.join(format!(
                        "{}.{}",
                        art.name,
                        format.extension()
                    ))),
                    name: art.name.clone(),
                })
            })
            .collect()
    }

    /// Adds an output of `format` named `<stem>.<extension>` in `dir`,
    /// which is made when the job runs if it is not there.
    pub fn output_in(&mut self, format: Format, dir: &Path) {
        if !self.output_dirs.iter().any(|d| d == dir) {
            self.output_dirs.push(dir.to_path_buf());
        }
        let name = self.stem();
        let target = OutputTarget::Path(dir.join(format!("{name}.{}", format.extension())));
        self.outputs.push(Output {
            format,
            target,
            name,
        });
    }

    /// Adds a tar archive of the tree written to `target`, compressed as
    /// its file name asks ([`archive_format`]); to standard output, an
    /// uncompressed one.
    pub fn archive_to(&mut self, target: OutputTarget) {
        let format = match &target {
            OutputTarget::Path(p) => archive_format(&p.to_string_lossy()),
            OutputTarget::Stdout => archive_format(""),
        };
        self.outputs.push(Output {
            format: Format::Tree(format),
            target,
            name: self.stem(),
        });
    }

    /// Makes every output. Each output's name is checked before anything
    /// is made, and each is written beside its name and renamed when
    /// complete, so a failure leaves no partial output; the disk's formats
    /// are complete before the tree's are written, and stay when a tree
    /// format fails after them.
    pub fn run(&self, progress: &mut dyn FnMut(Progress<'_>)) -> Result<Report> {
        let disks: Vec<OutputSpec> = self
            .outputs
            .iter()
            .filter_map(|o| match o.format {
                Format::Disk(format) => Some(OutputSpec {
                    format,
                    target: o.target.clone(),
                }),
                Format::Tree(_) => None,
            })
            .collect();
        let trees: Vec<(&'static TreeFormat, &Output)> = self
            .outputs
            .iter()
            .filter_map(|o| match o.format {
                Format::Tree(t) => Some((t, o)),
                Format::Disk(_) => None,
            })
            .collect();
        if !disks.is_empty() && !self.config.has_disk() {
            return Err(error::request(
                Problem::NoDisk,
                format!(
                    "{}the configuration describes no disk (no partitions), so it cannot make {}; \
                 its root file system can be written as {}",
                    self.config_named(),
                    disks[0].format.name(),
                    TREE_FORMATS
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let mut inputs = vec![self.config_path.as_path()];
        if let Source::Rootfs(path) = &self.source {
            inputs.push(path);
        }
        // Every output name is checked before anything is made.
        if !disks.is_empty() {
            imgconv::check_outputs(&disks, &inputs)?;
        }
        check_tree_outputs(&trees, &disks, &inputs)?;
        let volume_id = |name: &str| {
            self.volume_id
                .clone()
                .unwrap_or_else(|| live::volume_id_from(name))
        };
        for (format, output) in &trees {
            if matches!(format.kind, TreeKind::LiveIso) {
                live::check_volume_id(&volume_id(&output.name))?;
            }
        }

        // The source: a tree as it is, or the packages installed.
        let tree = self.tree_source();
        let repos = match &tree {
            TreeSource::Packages(install) => install
                .from
                .repos
                .iter()
                .map(|(dir, priority)| Ok((pkgstage::Repository::open(dir)?, *priority)))
                .collect::<Result<Vec<_>>>()?,
            TreeSource::Prepared(_) => Vec::new(),
        };
        let sources: Vec<RepoSource<'_>> = repos
            .iter()
            .map(|(repo, priority)| RepoSource {
                repo,
                priority: *priority,
            })
            .collect();
        let time = i64::try_from(self.formats.stamp.unix_time()).unwrap_or(0);
        let plan;
        let rootfs_source;
        let package_source;
        let mut installed_by: Option<&PackageSource<'_>> = None;
        let source: &dyn EntrySource = match &tree {
            TreeSource::Prepared(path) => {
                self.refuse_packages_for_a_tree()?;
                rootfs_source = open_rootfs(path)?;
                rootfs_source.as_ref()
            }
            TreeSource::Packages(install) => {
                if install.names.is_empty() && matches!(self.source, Source::Packages(_)) {
                    return Err(error::request(
                        Problem::NoPackages,
                        format!(
                            "{}packages are to be installed but the configuration names none \
                         (PackageLists, Packages, KernelOptions; os.packages)",
                            self.config_named()
                        ),
                    ));
                }
                let mut request = Request::new(install.names.clone());
                request.recommends = install.from.recommends;
                plan = pkgstage::resolve::resolve(&sources, &request)?;
                package_source = PackageSource::new(
                    &sources,
                    &plan,
                    InstallOptions {
                        exclude_docs: install.exclude_docs,
                        install_langs: install
                            .install_langs
                            .as_deref()
                            .map(pkgstage::install::split_langs)
                            .unwrap_or_default(),
                        time,
                        no_rpmdb: install.no_rpmdb,
                        rpm_manifests: install.rpm_manifests,
                        work_dir: self.work_dir.clone(),
                        gpg_check: install.from.gpg_check.clone(),
                        no_scripts: !install.from.scripts,
                    },
                );
                installed_by = Some(&package_source);
                &package_source
            }
        };
        let source_name = source.name().display().to_string();
        for dir in &self.output_dirs {
            std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
        }
        let work_dir = self.work_dir.clone().unwrap_or_else(std::env::temp_dir);
        let config = self.built_config();
        if !config.scripts.is_empty() {
            progress(Progress::Step(&format!(
                "running the configuration's scripts in {source_name}"
            )));
        }
        let customized = Customized::new(&config, source, time, Some(&work_dir));
        if !config.scripts.is_empty() {
            progress(Progress::Done);
        }
        let customized = customized?;
        let source: &Customized<'_> = &customized;

        let disk = if disks.is_empty() {
            None
        } else {
            Some(self.disk(source, &disks, &inputs, &work_dir, progress)?)
        };
        let mut tree_options = TreeOptions {
            time,
            image: self.image.clone(),
            build: BuildOptions {
                stamp: self.formats.stamp.mixed_with("tree"),
                work_dir,
                boot_loader: self.boot_loader,
            },
            live: self.live.clone(),
        };
        let mut written = Vec::new();
        for (format, output) in &trees {
            tree_options.live.volume_id = volume_id(&output.name);
            progress(Progress::Step(&format!(
                "writing {} from {source_name}",
                format.name
            )));
            let target = match &output.target {
                OutputTarget::Path(p) => TreeTarget::Path(p.clone()),
                OutputTarget::Stdout => TreeTarget::Stdout,
            };
            let tree = write_tree(source, format, &target, &tree_options);
            progress(Progress::Done);
            written.push(tree?);
        }
        let installed = installed_by.and_then(PackageSource::report);
        Ok(Report {
            config: self.config_path.clone(),
            rootfs: source_name,
            installed,
            resolved: installed_by.map_or_else(Vec::new, |p| p.plan.packages.clone()),
            disk,
            trees: written,
            scripts: customized.scripts().to_vec(),
        })
    }

    /// The configuration the outputs are made from: the job's; for packages
    /// the source names, without the configuration's install options, which
    /// the image would otherwise keep for rpm's later installs (the
    /// toolkit's macro files) although the packages were not installed so.
    fn built_config(&self) -> Cow<'_, ImageConfig> {
        match &self.source {
            Source::Install(_) => {
                let mut config = self.config.clone();
                config.packages.exclude_docs = false;
                config.packages.install_langs = None;
                Cow::Owned(config)
            }
            Source::Rootfs(_) | Source::Packages(_) => Cow::Borrowed(&self.config),
        }
    }

    /// `CONFIG: ` to begin a message about the configuration with, naming
    /// its file; nothing for a job without one.
    fn config_named(&self) -> String {
        if self.config_path.as_os_str().is_empty() {
            String::new()
        } else {
            format!("{}: ", self.config_path.display())
        }
    }

    /// What the tree is made from: the prepared tree, the configuration's
    /// packages, or those the source names.
    fn tree_source(&self) -> TreeSource<'_> {
        let packages = &self.config.packages;
        match &self.source {
            Source::Rootfs(path) => TreeSource::Prepared(path),
            // A database the configuration removes is listed in its place,
            // as the toolkit lists it.
            Source::Packages(from) => TreeSource::Packages(Cow::Owned(Install {
                from: from.clone(),
                names: packages.install.clone(),
                exclude_docs: packages.exclude_docs,
                install_langs: packages.install_langs.clone(),
                no_rpmdb: packages.remove_rpmdb,
                rpm_manifests: packages.remove_rpmdb,
            })),
            Source::Install(install) => TreeSource::Packages(Cow::Borrowed(install)),
        }
    }

    /// A prepared tree is written as it is: a configuration that installs
    /// packages, or removes the database they leave, is refused for one.
    fn refuse_packages_for_a_tree(&self) -> Result<()> {
        let packages = &self.config.packages;
        if !packages.install.is_empty() {
            return Err(error::request(
                Problem::PackagesForATree,
                format!(
                    "{}the configuration installs packages ({}); install them from \
                 repositories, or leave them out of a configuration for a prepared root \
                 filesystem",
                    self.config_named(),
                    packages.install.join(", ")
                ),
            ));
        }
        if packages.remove_rpmdb {
            return Err(error::request(
                Problem::RpmDbForATree,
                format!(
                    "{}RemoveRpmDb applies to the packages a build installs; \
                 a prepared root filesystem is written as it is",
                    self.config_named()
                ),
            ));
        }
        Ok(())
    }

    /// The disk, made from `source` and read into `outputs`.
    fn disk(
        &self,
        source: &Customized<'_>,
        outputs: &[OutputSpec],
        inputs: &[&Path],
        work_dir: &Path,
        progress: &mut dyn FnMut(Progress<'_>),
    ) -> Result<DiskReport> {
        let options = BuildOptions {
            stamp: self.formats.stamp.mixed_with("build"),
            work_dir: work_dir.to_path_buf(),
            boot_loader: self.boot_loader,
        };
        progress(Progress::Step(&format!(
            "making the file systems from {}",
            source.name().display()
        )));
        let built = build_disk(source, &options);
        progress(Progress::Done);
        let mut built = built?;
        let conversion = imgconv::convert_disk(
            &mut built.disk,
            &self.config_path,
            inputs,
            outputs,
            &self.formats,
            &mut |done, total| progress(Progress::Bytes { done, total }),
        );
        progress(Progress::Done);
        Ok(DiskReport {
            partitions: built.partitions,
            kernel_cmdline: built.kernel_cmdline,
            boot_loader: built.loader,
            notes: built.notes,
            conversion: conversion?,
        })
    }
}

/// What a job's tree is made from.
enum TreeSource<'a> {
    /// A directory, an archive or a container image, as it is.
    Prepared(&'a Path),
    /// Packages to install.
    Packages(Cow<'a, Install>),
}

/// Tree outputs' names: none is an input or another output, at most one
/// output goes to standard output, and image formats need a file.
fn check_tree_outputs(
    trees: &[(&'static TreeFormat, &Output)],
    disks: &[OutputSpec],
    inputs: &[&Path],
) -> Result<()> {
    let mut stdout = disks.iter().any(|o| o.target == OutputTarget::Stdout);
    for (i, (format, output)) in trees.iter().enumerate() {
        match &output.target {
            OutputTarget::Stdout => {
                if !format.streams() {
                    return Err(error::request(
                        Problem::NotAStream,
                        format!(
                            "{} cannot be written to standard output (each blob's header is \
                         written once its digest is known); name a file",
                            format.name
                        ),
                    ));
                }
                if stdout {
                    return Err(error::request(
                        Problem::Stdout,
                        "only one output can go to standard output",
                    ));
                }
                stdout = true;
            }
            OutputTarget::Path(p) => {
                if inputs.iter().any(|i| imgconv::same_file(p, i)) {
                    return Err(error::request(
                        Problem::OutputIsInput,
                        format!(
                            "output {} is an input; refusing to overwrite it",
                            p.display()
                        ),
                    ));
                }
                let earlier = disks
                    .iter()
                    .filter_map(|o| match &o.target {
                        OutputTarget::Path(q) => Some((o.format.name(), q)),
                        OutputTarget::Stdout => None,
                    })
                    .chain(trees[..i].iter().filter_map(|(f, o)| match &o.target {
                        OutputTarget::Path(q) => Some((f.name, q)),
                        OutputTarget::Stdout => None,
                    }));
                for (name, q) in earlier {
                    if p == q || imgconv::same_file(p, q) {
                        return Err(error::request(
                            Problem::OutputClash,
                            format!(
                                "outputs {name} and {} would both be written to {}; name them \
                             apart",
                                format.name,
                                p.display()
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
