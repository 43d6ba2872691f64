//! A bootable OS disk from a root filesystem, without root.
//!
//! The image-generation stage of a distribution build: a root filesystem
//! (a directory, or a tar archive as any tool makes one) and an image
//! configuration become a partitioned disk, read by the `imgconv` fan-out
//! straight into every output format.
//!
//! [`config`] reads Azure Linux's two configuration formats into one model,
//! [`ImageConfig`]: the toolkit's image configuration JSON and Image
//! Customizer's YAML. A field the build does not honour is an error naming
//! the field and the file, never silently dropped.

mod boot;
pub mod config;
mod disk;
mod error;
pub mod ext;
pub mod rootfs;
mod tarout;
mod vfat;

pub use config::{
    AdditionalFile, Artifact, BootType, FileSource, FsType, ImageConfig, Mount, MountIdentifier,
    PartitionRole, PartitionSpec,
};
pub use disk::{build_disk, BuildOptions, BuiltDisk, BuiltPartition};
pub use error::{Error, Result};
pub use rootfs::Rootfs;
