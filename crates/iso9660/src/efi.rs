//! The FAT image a UEFI El Torito entry boots from, built from a directory
//! by the `fat` crate.

use std::path::Path;

use blocksink::BuildStamp;

use crate::error::OPTION;
use crate::Result;

/// The FAT image for the UEFI El Torito entry: the tree under `dir` in the
/// smallest whole number of MiB that holds it, labelled `EFIBOOT`, laid
/// out as `mkfs.fat` would for that size.
pub fn fat_image_from_dir(dir: &Path, stamp: &BuildStamp) -> Result<Vec<u8>> {
    const LABEL: &str = "EFIBOOT";
    let tree = fat::FatTree::from_dir(dir)?;
    let size = tree.size_needed(LABEL, 0)?;
    if size > 4 << 30 {
        return Err(OPTION.option(format!(
            "{}: {size} bytes is too large for an EFI boot image",
            dir.display()
        )));
    }
    tree.build(size, LABEL, stamp)?.to_vec()
}
