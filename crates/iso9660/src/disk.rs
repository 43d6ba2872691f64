//! An ISO 9660 image as a [`DiskImage`] for programs that open any format:
//! its bytes, read as the disk it also is (a hybrid ISO boots from a USB
//! stick), as qemu-img reads them; its check walks the file system.

use std::io;

use blocksink::{BlockSource, DiskImage, Extent, RawFile, ReaderSpec, Structure};

use crate::{is_iso, IsoImage};

/// The ISO 9660 entry in a format list.
pub const READER: ReaderSpec = ReaderSpec {
    name: "iso9660",
    probe: |head, _| is_iso(head),
    open: |_, file| Ok(Box::new(IsoDisk(RawFile::new(file)?))),
};

/// An ISO 9660 image read as a disk of its bytes.
#[derive(Debug)]
pub struct IsoDisk(RawFile);

impl BlockSource for IsoDisk {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn extents(&mut self) -> io::Result<Vec<Extent>> {
        self.0.extents()
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_at(offset, buf)
    }
}

impl DiskImage for IsoDisk {
    fn format_name(&self) -> &'static str {
        READER.name
    }
    fn details(&self) -> Vec<(String, String)> {
        vec![(
            "note".into(),
            "an ISO 9660 image, read as a raw disk of its bytes".into(),
        )]
    }
    /// Every directory, name and extent, and the El Torito catalog.
    fn check_structure(&mut self) -> blocksink::Result<Structure> {
        let checked = IsoImage::open(self.0.file().try_clone()?).and_then(|iso| {
            let entries = iso.entries()?;
            iso.boot_entries()?;
            Ok(entries)
        });
        Ok(match checked {
            Ok(entries) => Structure::note(format!(
                "ISO 9660 file system: {} entries, every directory and extent within the image",
                entries.len()
            )),
            Err(e) => Structure::errors(vec![format!("ISO 9660 file system: {e}")]),
        })
    }
}
