//! `imgconv iso`: a bootable ISO 9660 image from a directory, its
//! extraction, and what `imgconv info` shows of one.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use blocksink::{BuildStamp, Destination, PendingFile};
use iso9660::{
    BiosBoot, EntryKind, FileData, Hybrid, IsoImage, IsoKind, IsoOptions, IsoSummary, IsoWriter,
    Metadata, Tree,
};
use serde::Serialize;

use crate::{Error, OutputTarget, Result};

/// What to build an ISO from, and how.
#[derive(Clone, Debug)]
pub struct IsoJob {
    /// The directory whose tree becomes the image's root.
    pub source: PathBuf,
    /// Where the image goes.
    pub output: OutputTarget,
    /// Volume identifier.
    pub volume_id: String,
    /// Publisher identifier.
    pub publisher: String,
    /// Application identifier.
    pub application: String,
    /// BIOS boot image, a path in the tree (`isolinux/isolinux.bin`).
    pub bios_boot: Option<String>,
    /// 512-byte sectors the BIOS loads.
    pub boot_load_size: u16,
    /// Patch the boot information table into the BIOS image.
    pub boot_info_table: bool,
    /// Path in the tree for the boot catalog.
    pub boot_catalog: String,
    /// UEFI boot image: a FAT image in the tree, a directory (in the tree,
    /// or on the host) to build one from, or a FAT image on the host.
    pub efi_boot: Option<String>,
    /// Make the image bootable from a disk too.
    pub hybrid: bool,
    /// MBR boot code for a hybrid image (isolinux's `isohdpfx.bin`).
    pub hybrid_mbr: Option<PathBuf>,
    /// Leave out Rock Ridge.
    pub no_rock_ridge: bool,
    /// Leave out Joliet.
    pub no_joliet: bool,
}

/// Name an EFI image built or brought in from outside the tree is given.
const EFI_IMAGE_NAME: &str = "efiboot.img";

fn add_efi_image(tree: &mut Tree, path: &str, bytes: Vec<u8>) -> Result<String> {
    let meta = Metadata::new(0o644, tree.get("").map_or(0, |r| r.meta.mtime));
    tree.insert(path, EntryKind::File(FileData::Bytes(bytes.into())), meta)
        .map_err(|e| Error::Usage(format!("--efi-boot: {e} (rename the existing `{path}`)")))?;
    Ok(path.to_string())
}

/// Decides what `--efi-boot` names, adding a built image to the tree.
fn resolve_efi(job: &IsoJob, tree: &mut Tree, arg: &str, stamp: &BuildStamp) -> Result<String> {
    if let Some(node) = tree.get(arg) {
        return match node.kind {
            EntryKind::File(_) => Ok(arg.trim_start_matches('/').to_string()),
            EntryKind::Directory => {
                let dir = job.source.join(arg.trim_start_matches('/'));
                let img =
                    iso9660::fat_image_from_dir(&dir, stamp).map_err(|e| Error::image(&dir, e))?;
                add_efi_image(tree, EFI_IMAGE_NAME, img)
            }
            _ => Err(Error::Usage(format!(
                "--efi-boot {arg}: not a file or directory in the tree"
            ))),
        };
    }
    let host = Path::new(arg);
    if host.is_dir() {
        let img = iso9660::fat_image_from_dir(host, stamp).map_err(|e| Error::image(host, e))?;
        add_efi_image(tree, EFI_IMAGE_NAME, img)
    } else if host.is_file() {
        let bytes = std::fs::read(host).map_err(|e| Error::io(host, e))?;
        add_efi_image(tree, EFI_IMAGE_NAME, bytes)
    } else {
        Err(Error::Usage(format!(
            "--efi-boot {arg}: neither in the tree under {} nor a file or directory here",
            job.source.display()
        )))
    }
}

/// Builds the image `job` describes; `progress` hears (bytes written, total).
pub fn build_iso(job: &IsoJob, progress: &mut dyn FnMut(u64, u64)) -> Result<IsoSummary> {
    let stamp = BuildStamp::from_env();
    let mut tree = Tree::from_dir(&job.source).map_err(|e| Error::image(&job.source, e))?;
    let efi_boot = match &job.efi_boot {
        Some(arg) => Some(resolve_efi(job, &mut tree, arg, &stamp)?),
        None => None,
    };
    let hybrid = if job.hybrid {
        let mbr_code = match &job.hybrid_mbr {
            Some(p) => Some(std::fs::read(p).map_err(|e| Error::io(p, e))?),
            None => None,
        };
        Some(Hybrid {
            mbr_code,
            ..Hybrid::default()
        })
    } else if job.hybrid_mbr.is_some() {
        return Err(Error::Usage("--hybrid-mbr needs --hybrid".into()));
    } else {
        None
    };
    let opts = IsoOptions {
        volume_id: job.volume_id.clone(),
        publisher: job.publisher.clone(),
        application: job.application.clone(),
        rock_ridge: !job.no_rock_ridge,
        joliet: !job.no_joliet,
        bios_boot: job.bios_boot.as_ref().map(|image| BiosBoot {
            image: image.trim_start_matches('/').to_string(),
            load_sectors: job.boot_load_size,
            boot_info_table: job.boot_info_table,
            grub2_boot_info: false,
        }),
        efi_boot,
        boot_catalog: job.boot_catalog.trim_start_matches('/').to_string(),
        hybrid,
        ..IsoOptions::default()
    };
    let writer = IsoWriter::new(tree, opts, &stamp).map_err(|e| Error::image(&job.source, e))?;
    let total = writer.size();
    let mut report = |done: u64| progress(done, total);
    match &job.output {
        OutputTarget::Path(p) => {
            let inside = |out: &Path| -> Option<bool> {
                let dir = out
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                Some(
                    dir.canonicalize()
                        .ok()?
                        .starts_with(job.source.canonicalize().ok()?),
                )
            };
            if inside(p) == Some(true) {
                return Err(Error::Usage(format!(
                    "the output {} is inside the source tree {}: the next build would take it in",
                    p.display(),
                    job.source.display()
                )));
            }
            let pending = PendingFile::create(p).map_err(|e| Error::io(p, e))?;
            let mut dest = Destination::file(pending.file().map_err(|e| Error::io(p, e))?);
            let summary = writer
                .write(&mut dest, &mut report)
                .map_err(|e| Error::image(p, e))?;
            pending.commit().map_err(|e| Error::io(p, e))?;
            Ok(summary)
        }
        OutputTarget::Stdout => {
            let mut dest = Destination::stream(io::stdout());
            writer
                .write(&mut dest, &mut report)
                .map_err(|e| Error::image("<stdout>", e))
        }
    }
}

/// Extracts the ISO `image` into `dir` (new or empty).
pub fn extract_iso(image: &Path, dir: &Path) -> Result<iso9660::ExtractSummary> {
    let file = File::open(image).map_err(|e| Error::io(image, e))?;
    let iso = IsoImage::open(file).map_err(|e| Error::image(image, e))?;
    iso.extract(dir).map_err(|e| Error::image(image, e))
}

/// One El Torito boot entry, as `imgconv info` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct BootInfo {
    /// BIOS or UEFI.
    pub platform: String,
    /// Marked bootable.
    pub bootable: bool,
    /// 512-byte sectors loaded.
    pub load_sectors: u16,
    /// Sector of the image.
    pub lba: u32,
    /// Path of the image in the tree, when a file points at it.
    pub path: Option<String>,
}

/// What `imgconv info` shows of an ISO image.
#[derive(Clone, Debug, Serialize)]
pub struct IsoInfo {
    /// The image.
    pub path: PathBuf,
    /// Volume identifier.
    pub volume_id: String,
    /// System identifier.
    pub system_id: String,
    /// Publisher identifier.
    pub publisher: String,
    /// Data preparer identifier.
    pub preparer: String,
    /// Application identifier.
    pub application: String,
    /// Creation date.
    pub created: Option<String>,
    /// Volume size in bytes.
    pub volume_size: u64,
    /// File size in bytes.
    pub file_size: u64,
    /// The names used: Rock Ridge, Joliet or ISO 9660.
    pub naming: String,
    /// Joliet volume identifier, when there is a Joliet tree.
    pub joliet_volume_id: Option<String>,
    /// Directories (the root not counted).
    pub directories: u64,
    /// Regular files.
    pub files: u64,
    /// Symlinks, devices and other entries.
    pub other: u64,
    /// Bytes of file data.
    pub data_bytes: u64,
    /// Sector of the El Torito boot catalog.
    pub boot_catalog: Option<u32>,
    /// El Torito boot entries.
    pub boot_entries: Vec<BootInfo>,
    /// What the system area holds: "hybrid MBR + GPT", "MBR", or nothing.
    pub system_area: Option<String>,
}

/// Reads what `imgconv info` shows of the ISO `path`.
pub fn iso_info(path: &Path) -> Result<IsoInfo> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; 1024];
    blocksink::ReadAt::read_exact_at(&file, &mut head, 0).map_err(|e| Error::io(path, e))?;
    let iso = IsoImage::open(file).map_err(|e| Error::image(path, e))?;
    let entries = iso.entries().map_err(|e| Error::image(path, e))?;
    let boot = iso.boot_entries().map_err(|e| Error::image(path, e))?;
    let (mut directories, mut files, mut other, mut data_bytes) = (0, 0, 0, 0);
    for e in &entries {
        match e.kind {
            IsoKind::Directory => directories += 1,
            IsoKind::File => {
                files += 1;
                data_bytes += e.size;
            }
            _ => other += 1,
        }
    }
    let boot_entries = boot
        .iter()
        .map(|b| BootInfo {
            platform: b.platform_name().into(),
            bootable: b.bootable,
            load_sectors: b.sectors,
            lba: b.lba,
            path: entries
                .iter()
                .find(|e| e.extents.first().is_some_and(|x| x.0 == b.lba))
                .map(|e| e.display_path()),
        })
        .collect();
    let system_area = match (
        head[510..512] == [0x55, 0xAA],
        &head[512..520] == b"EFI PART",
    ) {
        (true, true) => Some("hybrid MBR + GPT".into()),
        (true, false) => Some("MBR".into()),
        (false, true) => Some("GPT".into()),
        _ => None,
    };
    Ok(IsoInfo {
        path: path.to_path_buf(),
        volume_id: iso.primary.volume_id.clone(),
        system_id: iso.primary.system_id.clone(),
        publisher: iso.primary.publisher.clone(),
        preparer: iso.primary.preparer.clone(),
        application: iso.primary.application.clone(),
        created: iso.primary.created.clone(),
        volume_size: u64::from(iso.primary.sectors) * 2048,
        file_size: iso.size(),
        naming: format!("{:?}", iso.naming()),
        joliet_volume_id: iso.joliet.as_ref().map(|j| j.volume_id.clone()),
        directories,
        files,
        other,
        data_bytes,
        boot_catalog: iso.boot_catalog,
        boot_entries,
        system_area,
    })
}

/// Whether the file at `path` is an ISO 9660 image.
pub fn is_iso_file(path: &Path) -> bool {
    // Only files and block devices are opened: opening a named pipe would
    // wait for a writer (open_image names what else the path is).
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() && !std::os::unix::fs::FileTypeExt::is_block_device(&meta.file_type()) {
        return false;
    }
    let Ok(file) = File::open(path) else {
        return false;
    };
    let mut head = vec![0u8; 32774];
    blocksink::ReadAt::read_exact_at(&file, &mut head, 0).is_ok() && iso9660::is_iso(&head)
}
