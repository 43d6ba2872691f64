//! A bootable OS disk from a root filesystem, without root: the
//! image-generation stage, and the composition of every stage.
//!
//! The image-generation stage of a distribution build: a root filesystem
//! (a directory, or a tar archive as any tool makes one) and an image
//! configuration become a partitioned disk, read by the `imgconv` fan-out
//! straight into every output format.
//!
//! It stands at the top of the layering. Below it: the root filesystem
//! stream (`rootfs`), the package stage that makes one from RPM packages
//! (`pkgstage`), the file system and image writers (`fat`, `iso9660`,
//! `container`, `gpt`), and `imgconv`, which writes a disk into every
//! format in one pass. [`Job`] composes them: a configuration, a source
//! and the outputs, in one call.
//!
//! # Example
//!
//! A bootable raw disk and a VHDX from a directory, as a toolkit
//! configuration describes them — every output written in one pass, and
//! a report of what was made:
//!
//! ```no_run
//! use imgbuild::{Format, Job, Source};
//!
//! let mut job = Job::new("core-efi.json", Source::Rootfs("rootfs/".into()))?;
//! for format in ["raw", "vhdx"] {
//!     job.output_in(Format::parse(format)?, "out".as_ref());
//! }
//! let report = job.run(&mut |_| {})?;
//! if let Some(disk) = &report.disk {
//!     for output in &disk.conversion.outputs {
//!         println!("{:?}: {} bytes", output.path, output.bytes);
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Source::Packages`] installs the configuration's packages from RPM
//! repositories instead; the steps are also there one by one
//! ([`build_disk`] makes the disk as a `BlockSource` any `imgconv` writer
//! reads, [`write_tree`] the tree's own formats).
//!
//! [`config`] reads Azure Linux's two configuration formats into one model,
//! [`ImageConfig`]: the toolkit's image configuration JSON and Image
//! Customizer's YAML. A field the build does not honour is an error naming
//! the field and the file, never silently dropped.

mod accounts;
mod boot;
pub mod config;
mod custom;
mod disk;
mod edit;
pub mod error;
pub mod ext;
pub mod job;
pub mod layers;
pub mod live;
pub mod rootfs;
mod selinux;
mod services;
mod tree;
mod users;
mod vfat;

pub use config::{
    AdditionalFile, Artifact, BootLoader, BootType, FileSource, FsType, ImageConfig, KernelModule,
    ModuleLoad, Mount, MountIdentifier, PartitionRole, PartitionSpec, Script, ScriptStage,
    SelinuxMode, Services,
};
pub use custom::{Customized, RanScript};
pub use disk::{build_disk, BuildOptions, BuiltDisk, BuiltPartition, InstalledLoader};
pub use error::{Error, ErrorKind, Problem, Result};
pub use job::{Format, Job, Output, Progress, Report, Source};
pub use live::LiveOptions;
pub use rootfs::TarWriter;
pub use rootfs::{open_rootfs, EntrySource, Rootfs};
pub use tree::{
    archive_format, tree_format, write_tree, TreeFormat, TreeKind, TreeOptions, TreeTarget,
    WrittenTree, TREE_FORMATS,
};
pub use users::{Action, Declared, Group, Password, PasswordExpiry, SshLayout, User};
