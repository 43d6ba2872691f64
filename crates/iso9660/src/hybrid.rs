//! The hybrid system area that lets one ISO boot from a USB stick as well as
//! from a CD: an MBR (isohybrid boot code, a 0x00 partition over the whole
//! image and a 0xEF partition over the EFI image) and a GPT whose basic-data
//! partitions cover the same ranges — the layout `xorriso -as mkisofs
//! -isohybrid-mbr … -isohybrid-gpt-basdat` makes.

use blocksink::BuildStamp;
use gpt::format::{MbrRecord, ProtectiveMbr};
use uuid::Uuid;
use zerocopy::{FromZeros, IntoBytes};

use crate::error::OPTION;
use crate::writer::MbrKind;
use crate::Result;

/// 512-byte sectors, the unit of MBR and GPT.
const LBA: u64 = 512;
/// Entries in the hybrid GPT's array: 248 × 128 bytes fill the system area
/// up to 32 KiB, so the first usable sector is 64.
const GPT_ENTRIES: u32 = 248;
/// Sectors the backup GPT takes at the end of the image (array + header).
pub(crate) const BACKUP_SECTORS: u64 = GPT_ENTRIES as u64 * 128 / LBA + 1;
/// Images are padded to whole cylinders of 64 heads × 32 sectors (1 MiB).
pub(crate) const CYLINDER: u64 = 64 * 32 * LBA;
/// Offset in a hybrid MBR (inside the boot code) of the sector it loads:
/// the boot image's (isohdpfx.bin, 32 bits) or GRUB's diskboot.img's
/// (boot_hybrid.img, 64 bits). The code before it is copied.
const BOOT_LBA_AT: usize = 432;
/// isolinux images suitable for hybrid boot carry this at byte 0x40.
pub const ISOLINUX_HYBRID_MAGIC: u32 = 0x7078_c0fb;

/// What goes into the hybrid system area.
pub(crate) struct Layout<'a> {
    /// MBR boot code (its first 432 bytes are used).
    pub mbr_code: Option<&'a [u8]>,
    /// Which loader the code is.
    pub mbr_kind: MbrKind,
    /// 2048-byte sector of the BIOS boot image, for the MBR code to load.
    pub bios_lba: Option<u32>,
    /// 2048-byte sector and byte size of the EFI boot image.
    pub efi: Option<(u32, u64)>,
    /// Size of the whole image in bytes (a whole number of cylinders).
    pub image_size: u64,
}

/// CHS address of `lba` with 64 heads and 32 sectors per track; beyond
/// cylinder 1023 the conventional "too far" value.
fn chs(lba: u64) -> [u8; 3] {
    let (heads, secs) = (64u64, 32u64);
    let cyl = lba / (heads * secs);
    if cyl > 1023 {
        return [0xfe, 0xff, 0xff];
    }
    let head = (lba / secs) % heads;
    let sector = lba % secs + 1;
    [
        head as u8,
        (sector as u8) | (((cyl >> 8) as u8) << 6),
        cyl as u8,
    ]
}

fn mbr_record(boot: bool, kind: u8, start: u64, sectors: u64) -> MbrRecord {
    MbrRecord {
        boot_indicator: if boot { 0x80 } else { 0 },
        starting_chs: chs(start),
        os_type: kind,
        ending_chs: chs(start + sectors - 1),
        starting_lba: (start as u32).into(),
        size_in_lba: (sectors.min(u64::from(u32::MAX)) as u32).into(),
    }
}

/// The system area (first 32 KiB) and the backup GPT with the offset it
/// goes to.
pub(crate) fn system_area(l: &Layout<'_>, stamp: &BuildStamp) -> Result<(Vec<u8>, u64, Vec<u8>)> {
    if l.image_size % CYLINDER != 0 || l.image_size < CYLINDER {
        return Err(OPTION.option(format!(
            "hybrid image size {} is not a whole number of 1 MiB cylinders",
            l.image_size
        )));
    }
    let sectors = l.image_size / LBA;
    let disk_guid = stamp.uuid("iso hybrid gpt disk guid");
    let basic_data = Uuid::from_u128(0xebd0a0a2_b9e5_4433_87c0_68b6b72699c7);
    let mut g = gpt::Gpt {
        disk_size: l.image_size,
        disk_guid,
        first_usable_lba: 64,
        last_usable_lba: sectors - BACKUP_SECTORS - 1,
        backup_lba: sectors - 1,
        num_entries: GPT_ENTRIES,
        entry_size: 128,
        partitions: Vec::new(),
    };
    // Required + read-only, as xorriso marks them.
    let attributes = (1u64 << 60) | 1;
    g.partitions.push(gpt::Partition {
        number: 1,
        type_guid: basic_data,
        guid: stamp.uuid("iso hybrid gpt partition 1"),
        first_lba: 0,
        last_lba: g.last_usable_lba,
        attributes,
        name: "ISO9660".into(),
    });
    if let Some((lba, size)) = l.efi {
        let start = u64::from(lba) * 4;
        g.partitions.push(gpt::Partition {
            number: 2,
            type_guid: basic_data,
            guid: stamp.uuid("iso hybrid gpt partition 2"),
            first_lba: start,
            last_lba: start + size.div_ceil(LBA).max(1) - 1,
            attributes,
            name: "EFI boot image".into(),
        });
    }
    let regions = g
        .regions()
        .map_err(|e| OPTION.option(format!("hybrid GPT: {e}")))?;
    let (mut head, (tail_at, tail)) = match <[(u64, Vec<u8>); 2]>::try_from(regions) {
        Ok([(_, head), tail]) => (head, tail),
        Err(_) => return Err(OPTION.option("hybrid GPT: unexpected layout")),
    };
    head.resize(32 * 1024, 0);
    let mut mbr = ProtectiveMbr::new_zeroed();
    if let Some(code) = l.mbr_code {
        if code.len() < BOOT_LBA_AT {
            return Err(OPTION.option(format!(
                "hybrid MBR code is {} bytes; it needs {BOOT_LBA_AT} at least (the loader's is 512)",
                code.len()
            )));
        }
        mbr.boot_code[..BOOT_LBA_AT].copy_from_slice(&code[..BOOT_LBA_AT]);
    }
    if let Some(lba) = l.bios_lba {
        match l.mbr_kind {
            MbrKind::Isohybrid => mbr.boot_code[BOOT_LBA_AT..BOOT_LBA_AT + 4]
                .copy_from_slice(&(lba * 4).to_le_bytes()),
            MbrKind::Grub2 => mbr.boot_code[BOOT_LBA_AT..BOOT_LBA_AT + 8]
                .copy_from_slice(&(u64::from(lba) * 4 + 4).to_le_bytes()),
        }
    }
    mbr.disk_signature
        .copy_from_slice(&disk_guid.as_bytes()[..4]);
    mbr.records[0] = mbr_record(true, 0x00, 0, sectors);
    if let Some((lba, size)) = l.efi {
        mbr.records[1] = mbr_record(false, 0xef, u64::from(lba) * 4, size.div_ceil(LBA).max(1));
    }
    mbr.signature = [0x55, 0xaa];
    head[..512].copy_from_slice(mbr.as_bytes());
    Ok((head, tail_at, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chs_of_first_cylinders() {
        assert_eq!(chs(0), [0, 1, 0]);
        assert_eq!(chs(6143), [63, 32, 2]);
        assert_eq!(chs(1 << 30), [0xfe, 0xff, 0xff]);
    }

    #[test]
    fn system_area_holds_mbr_and_gpt() {
        let stamp = BuildStamp::fixed(0, "t");
        let (head, at, tail) = system_area(
            &Layout {
                mbr_code: Some(&[0x33; 512]),
                mbr_kind: MbrKind::Isohybrid,
                bios_lba: Some(1058),
                efi: Some((34, 2 << 20)),
                image_size: 3 << 20,
            },
            &stamp,
        )
        .unwrap();
        assert_eq!(head.len(), 32 * 1024);
        assert_eq!(&head[432..436], &(1058u32 * 4).to_le_bytes());
        assert_eq!(&head[510..512], &[0x55, 0xAA]);
        assert_eq!(&head[512..520], b"EFI PART");
        assert_eq!(head[462 + 4], 0xef);
        assert_eq!(at + tail.len() as u64, 3 << 20);
    }

    #[test]
    fn grub_mbr_is_told_where_diskboot_is() {
        let stamp = BuildStamp::fixed(0, "t");
        let (head, _, _) = system_area(
            &Layout {
                mbr_code: Some(&[0x33; 512]),
                mbr_kind: MbrKind::Grub2,
                bios_lba: Some(30),
                efi: None,
                image_size: 1 << 20,
            },
            &stamp,
        )
        .unwrap();
        assert_eq!(&head[432..440], &124u64.to_le_bytes());
        assert_eq!(&head[..432], &[0x33; 432]);
        assert_eq!(&head[510..512], &[0x55, 0xAA]);
    }
}
