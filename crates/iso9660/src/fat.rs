//! A FAT image built from a directory, for the UEFI El Torito entry (the
//! `efiboot.img` holding `EFI/BOOT/BOOTX64.EFI`).

use std::fs;
use std::io::{Cursor, Write};

use std::path::Path;

use blocksink::BuildStamp;

use crate::format::utc;
use crate::{Error, Result};

/// Makes a FAT image holding the files under `dir` (symlinks and special
/// files are refused). The image is sized to its contents with room to
/// spare; file times are `stamp`'s, so the same tree gives the same image.
pub fn fat_image_from_dir(dir: &Path, stamp: &BuildStamp) -> Result<Vec<u8>> {
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    collect(dir, "", &mut files, &mut dirs)?;
    let data: u64 = files
        .iter()
        .map(|(_, len)| len.next_multiple_of(4096) + 4096)
        .sum();
    let entries = (files.len() + dirs.len()) as u64 * 4096;
    // Room for the FATs and root directory, rounded to whole MiB.
    let size = ((data + entries) * 11 / 10 + (1 << 20)).next_multiple_of(1 << 20);
    if size > 4 << 30 {
        return Err(Error::InvalidOption(format!(
            "{}: {size} bytes is too large for an EFI boot image",
            dir.display()
        )));
    }
    let mut img = Cursor::new(vec![0u8; size as usize]);
    let id = u32::from_le_bytes(
        stamp.uuid("efi fat volume id").as_bytes()[..4]
            .try_into()
            .expect("4 bytes"),
    );
    fatfs::format_volume(
        &mut img,
        fatfs::FormatVolumeOptions::new()
            .volume_id(id)
            .volume_label(*b"EFIBOOT    "),
    )?;
    {
        let fs = fatfs::FileSystem::new(&mut img, fatfs::FsOptions::new())?;
        {
            let root = fs.root_dir();
            let when = fat_time(stamp.unix_time() as i64);
            for d in &dirs {
                root.create_dir(d)?;
            }
            for (path, _) in &files {
                let mut f = root.create_file(path)?;
                std::io::copy(&mut fs::File::open(dir.join(path))?, &mut f)?;
                // The setters are deprecated in favour of a `'static` time
                // provider; one fixed time per image is what is wanted here.
                #[allow(deprecated)]
                {
                    f.set_created(when);
                    f.set_modified(when);
                    f.set_accessed(when.date);
                }
                f.flush()?;
            }
        }
        fs.unmount()?;
    }
    Ok(img.into_inner())
}

fn fat_time(unix: i64) -> fatfs::DateTime {
    let (y, mo, d, h, mi, s) = utc(unix.max(315_532_800));
    fatfs::DateTime {
        date: fatfs::Date {
            year: y.min(2107) as u16,
            month: mo as u16,
            day: d as u16,
        },
        time: fatfs::Time {
            hour: h as u16,
            min: mi as u16,
            sec: s as u16,
            millis: 0,
        },
    }
}

fn collect(
    base: &Path,
    rel: &str,
    files: &mut Vec<(String, u64)>,
    dirs: &mut Vec<String>,
) -> Result<()> {
    let here = base.join(rel);
    let mut names: Vec<_> = fs::read_dir(&here)
        .map_err(|e| Error::at_path(here.display().to_string(), e.to_string()))?
        .collect::<std::io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().into_string().map_err(|n| {
            Error::at_path(
                here.join(n).display().to_string(),
                "a FAT name must be valid UTF-8",
            )
        })?;
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ft = e.file_type()?;
        if ft.is_dir() {
            dirs.push(path.clone());
            collect(base, &path, files, dirs)?;
        } else if ft.is_file() {
            files.push((path, e.metadata()?.len()));
        } else {
            return Err(Error::at_path(
                base.join(&path).display().to_string(),
                "only directories and regular files can go into a FAT image",
            ));
        }
    }
    Ok(())
}
