//! Image configurations: one model, read from the toolkit's JSON or Image
//! Customizer's YAML.

use std::path::PathBuf;

use uuid::Uuid;

/// Bytes in a MiB, the unit of the toolkit's partition bounds.
pub const MIB: u64 = 1 << 20;

/// What an image configuration asks for, whichever format it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageConfig {
    /// The file it was read from (errors name it; relative paths in it are
    /// relative to its directory).
    pub source: PathBuf,
    /// The images to make: a name and a format each (may be empty: the
    /// command line then decides).
    pub artifacts: Vec<Artifact>,
    /// The disk's size in bytes (the toolkit's `MaxSize`, Image Customizer's
    /// `maxSize`).
    pub disk_size: u64,
    /// Partitions in table order, with their byte ranges resolved.
    pub partitions: Vec<PartitionSpec>,
    /// How the disk boots.
    pub boot: BootType,
    /// Where each file system is mounted, and how fstab names it.
    pub mounts: Vec<Mount>,
    /// `/etc/hostname`, when given.
    pub hostname: Option<String>,
    /// Extra kernel command-line arguments (after `root=…`), as written.
    pub kernel_cmdline: String,
    /// Files copied into the image.
    pub additional_files: Vec<AdditionalFile>,
}

/// One image to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Its name, the stem of its file name (`core` → `core.vhdx`).
    pub name: String,
    /// Its format as imgconv's `--to` names it: `raw`, `vhd`, `vhd-fixed`,
    /// `vhdx`, `vmdk`, `vmdk-stream`, `vmdk-flat`, `ova`, `qcow2`.
    pub format: String,
}

/// One partition of the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpec {
    /// The configuration's id for it (mounts refer to it).
    pub id: String,
    /// The GPT partition name (may be empty).
    pub label: String,
    /// First byte on the disk (a multiple of 512; the configs give MiB).
    pub start: u64,
    /// One past the last byte; `None` runs to the end of the usable space
    /// (the toolkit's `End: 0`, Image Customizer's `grow`).
    pub end: Option<u64>,
    /// What the partition is for: decides its GPT type unless `type_guid`
    /// says otherwise.
    pub role: PartitionRole,
    /// A GPT type GUID given explicitly (`TypeUUID`, or a GUID as the type).
    pub type_guid: Option<Uuid>,
    /// The file system made on it; `None` leaves it empty (a BIOS boot
    /// partition).
    pub fs: Option<FsType>,
}

/// What a partition is for, from the toolkit's `Flags` or Image
/// Customizer's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionRole {
    /// EFI system partition (`esp` flag; type `esp`).
    Esp,
    /// BIOS boot partition for GRUB's core image (`grub`/`bios_grub` flag;
    /// type `bios-grub`).
    BiosBoot,
    /// Extended boot loader partition (type `xbootldr`).
    Xbootldr,
    /// The root file system (type `root`); the toolkit has no flag for it:
    /// its partitions without flags are `Linux`.
    Root,
    /// Any other Linux data partition (`linux-generic`, `home`, …).
    Linux,
}

/// File systems the build makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsType {
    /// FAT with 12, 16 or 32-bit entries chosen by size, as mkfs.vfat does
    /// (`vfat`).
    Vfat,
    /// FAT16 asked for by name (`fat16`).
    Fat16,
    /// FAT32 asked for by name (`fat32`).
    Fat32,
    /// ext2.
    Ext2,
    /// ext3.
    Ext3,
    /// ext4.
    Ext4,
}

/// How the disk boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootType {
    /// UEFI, from the EFI system partition.
    Efi,
    /// BIOS, GRUB's boot sector in the protective MBR and its core image
    /// in the BIOS boot partition.
    Legacy,
    /// Not bootable (`BootType` absent or `none`).
    None,
}

/// A file system's place in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The partition's id.
    pub partition: String,
    /// Absolute mount point (`/`, `/boot/efi`, …).
    pub mount_point: String,
    /// fstab options (`defaults` when not given).
    pub options: String,
    /// How fstab and the kernel command line name the file system.
    pub identifier: MountIdentifier,
}

/// How a file system is named in fstab and on the kernel command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MountIdentifier {
    /// `UUID=` of the file system.
    Uuid,
    /// `PARTUUID=` of the GPT partition (Azure Linux's default).
    #[default]
    PartUuid,
    /// `PARTLABEL=` of the GPT partition.
    PartLabel,
}

/// A file copied into the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdditionalFile {
    /// Where its bytes come from.
    pub source: FileSource,
    /// Absolute path in the image.
    pub destination: String,
    /// Permission bits (`0o644` when not given).
    pub mode: Option<u32>,
}

/// Where an additional file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileSource {
    /// A host file, resolved against the configuration's directory.
    Path(PathBuf),
    /// Bytes written in the configuration itself (Image Customizer's
    /// `content`).
    Content(String),
}
