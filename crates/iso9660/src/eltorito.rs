//! El Torito: the boot catalog (validation entry, default entry, section
//! headers and entries) and the boot information table `mkisofs
//! -boot-info-table` patches into a no-emulation boot image.

use crate::error::{F, OPTION};
use crate::format::{get_u16_le, get_u32_le, SECTOR};
use crate::Result;

/// Platform ID of a PC BIOS entry.
pub const PLATFORM_BIOS: u8 = 0;
/// Platform ID of a UEFI entry.
pub const PLATFORM_EFI: u8 = 0xEF;

/// One bootable image in the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootEntry {
    /// Platform ID: 0 for BIOS, 0xEF for UEFI.
    pub platform: u8,
    /// Whether the entry is marked bootable (0x88).
    pub bootable: bool,
    /// Emulation type (0: no emulation).
    pub media: u8,
    /// Load segment (0 means 0x7C0).
    pub load_segment: u16,
    /// Virtual 512-byte sectors loaded by the BIOS.
    pub sectors: u16,
    /// Sector (2048 bytes) of the image.
    pub lba: u32,
}

impl BootEntry {
    fn encode(&self) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[0] = if self.bootable { 0x88 } else { 0 };
        e[1] = self.media;
        e[2..4].copy_from_slice(&self.load_segment.to_le_bytes());
        e[6..8].copy_from_slice(&self.sectors.to_le_bytes());
        e[8..12].copy_from_slice(&self.lba.to_le_bytes());
        e
    }

    fn decode(platform: u8, e: &[u8]) -> BootEntry {
        BootEntry {
            platform,
            bootable: e[0] == 0x88,
            media: e[1] & 0x0f,
            load_segment: get_u16_le(&e[2..]),
            sectors: get_u16_le(&e[6..]),
            lba: get_u32_le(&e[8..]),
        }
    }

    /// The platform's name as xorriso prints it.
    pub fn platform_name(&self) -> &'static str {
        match self.platform {
            PLATFORM_BIOS => "BIOS",
            PLATFORM_EFI => "UEFI",
            1 => "PowerPC",
            2 => "Mac",
            _ => "other",
        }
    }
}

/// The 16-bit sum the validation entry's checksum makes zero.
fn word_sum(b: &[u8]) -> u16 {
    b.chunks_exact(2).fold(0u16, |s, w| {
        s.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    })
}

/// The catalog sector for `entries`: the first is the default entry; each
/// further one gets a section header of its own.
pub(crate) fn catalog(entries: &[BootEntry]) -> Result<Vec<u8>> {
    let Some(first) = entries.first() else {
        return Err(OPTION.option("a boot catalog needs one entry at least"));
    };
    if entries.len() > 31 {
        return Err(OPTION.option("more than 31 boot entries"));
    }
    let mut c = vec![0u8; SECTOR as usize];
    c[0] = 1;
    c[1] = first.platform;
    c[30] = 0x55;
    c[31] = 0xAA;
    let sum = word_sum(&c[..32]);
    c[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
    c[32..64].copy_from_slice(&first.encode());
    let rest = &entries[1..];
    for (i, e) in rest.iter().enumerate() {
        let at = 64 + i * 64;
        c[at] = if i + 1 == rest.len() { 0x91 } else { 0x90 };
        c[at + 1] = e.platform;
        c[at + 2..at + 4].copy_from_slice(&1u16.to_le_bytes());
        c[at + 32..at + 64].copy_from_slice(&e.encode());
    }
    Ok(c)
}

/// Reads a catalog sector: its entries, the default first.
pub(crate) fn parse_catalog(c: &[u8], lba: u64) -> Result<Vec<BootEntry>> {
    let bad = |why: &str| F.corrupt(format!("El Torito boot catalog at sector {lba}: {why}"));
    if c.len() < 64 || c[0] != 1 || c[30..32] != [0x55, 0xAA] {
        return Err(bad("no validation entry (header ID 1, key 55 AA)"));
    }
    if word_sum(&c[..32]) != 0 {
        return Err(bad("validation entry checksum does not sum to zero"));
    }
    let mut out = vec![BootEntry::decode(c[1], &c[32..64])];
    let mut at = 64;
    while at + 32 <= c.len() {
        let header = c[at];
        if header != 0x90 && header != 0x91 {
            break;
        }
        let platform = c[at + 1];
        let n = usize::from(get_u16_le(&c[at + 2..]));
        at += 32;
        for _ in 0..n {
            if at + 32 > c.len() {
                return Err(bad("a section runs past the catalog sector"));
            }
            // Selection-criteria extensions (0x44) carry no entry of their own.
            if c[at] != 0x44 {
                out.push(BootEntry::decode(platform, &c[at..at + 32]));
            }
            at += 32;
        }
        if header == 0x91 {
            break;
        }
    }
    Ok(out)
}

/// Byte of a GRUB `i386-pc-eltorito` image where `diskboot.img`'s block
/// list starts: the 64-bit sector its first run begins at.
pub(crate) const GRUB2_BOOT_INFO_AT: u64 = 2048 + 512 - 12;

/// Tells the `diskboot.img` inside a GRUB El Torito image at 2048-byte
/// sector `lba` where the rest of GRUB's core lies when the image is read
/// as a disk: the 512-byte sector after diskboot's own (`lba` × 4 + 5), as
/// xorriso's `--grub2-boot-info` does. The run's length, set by
/// `grub-mkimage`, is kept.
pub(crate) fn patch_grub2_boot_info(image: &mut [u8], lba: u32) -> Result<()> {
    let at = GRUB2_BOOT_INFO_AT as usize;
    let Some(field) = image.get_mut(at..at + 8) else {
        return Err(OPTION.option(format!(
            "a {}-byte boot image is too short for GRUB's block list at byte {at}",
            image.len()
        )));
    };
    field.copy_from_slice(&(u64::from(lba) * 4 + 5).to_le_bytes());
    Ok(())
}

/// Patches the 56-byte boot information table into `image` (at byte 8):
/// primary volume descriptor sector 16, the image's own sector and length,
/// and the 32-bit sum of its words from byte 64 on.
pub(crate) fn patch_boot_info_table(image: &mut [u8], lba: u32) -> Result<()> {
    if image.len() < 64 {
        return Err(OPTION.option(format!(
            "a {}-byte boot image is too short for a boot information table",
            image.len()
        )));
    }
    let len =
        u32::try_from(image.len()).map_err(|_| OPTION.option("boot image of 4 GiB or more"))?;
    let sum = image[64..].chunks(4).fold(0u32, |s, w| {
        let mut b = [0u8; 4];
        b[..w.len()].copy_from_slice(w);
        s.wrapping_add(u32::from_le_bytes(b))
    });
    image[8..12].copy_from_slice(&16u32.to_le_bytes());
    image[12..16].copy_from_slice(&lba.to_le_bytes());
    image[16..20].copy_from_slice(&len.to_le_bytes());
    image[20..24].copy_from_slice(&sum.to_le_bytes());
    image[24..64].fill(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_round_trips() {
        let entries = vec![
            BootEntry {
                platform: PLATFORM_BIOS,
                bootable: true,
                media: 0,
                load_segment: 0,
                sectors: 4,
                lba: 40,
            },
            BootEntry {
                platform: PLATFORM_EFI,
                bootable: true,
                media: 0,
                load_segment: 0,
                sectors: 2880,
                lba: 41,
            },
        ];
        let c = catalog(&entries).unwrap();
        assert_eq!(parse_catalog(&c, 33).unwrap(), entries);
        let mut broken = c.clone();
        broken[4] ^= 1;
        assert!(parse_catalog(&broken, 33)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
    }

    #[test]
    fn grub2_boot_info_points_past_diskboot() {
        let mut img = vec![0u8; 4096];
        patch_grub2_boot_info(&mut img, 30).unwrap();
        assert_eq!(&img[2548..2556], &125u64.to_le_bytes());
        assert!(patch_grub2_boot_info(&mut [0u8; 2550], 30).is_err());
    }

    #[test]
    fn boot_info_table_sums_words_after_byte_64() {
        let mut img = vec![0u8; 70];
        img[64] = 1;
        img[68] = 2;
        patch_boot_info_table(&mut img, 99).unwrap();
        assert_eq!(get_u32_le(&img[8..]), 16);
        assert_eq!(get_u32_le(&img[12..]), 99);
        assert_eq!(get_u32_le(&img[16..]), 70);
        assert_eq!(get_u32_le(&img[20..]), 3);
    }
}
