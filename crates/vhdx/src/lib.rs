//! Read and write VHDX disk images (MS-VHDX v1.0), the format of Hyper-V
//! Generation 2 virtual machines.
//!
//! The writer makes dynamic or fixed disks: file identifier, two headers,
//! two region tables, an empty 1 MiB log (Hyper-V expects one), the metadata
//! region (file parameters, virtual disk size and id, logical sector size
//! 512, physical sector size 4096) and the BAT, whose payload and sector
//! bitmap entries interleave by the chunk ratio. Checksums are CRC-32C. The
//! default block size is 2 MiB; see [`VhdxOptions::block_size`].
//!
//! The reader reads what qemu-img and Hyper-V write. An image whose log
//! still holds entries is refused (never read as if the log were empty), and
//! so are differencing disks.
//!
//! # Example
//!
//! ```
//! use blocksink::{convert, BlockSource, BuildStamp, Destination, MemSource};
//! use vhdx::{VhdxOptions, VhdxReader, VhdxWriter};
//!
//! let mut disk = vec![0u8; 8 << 20];
//! disk[5 << 20] = 1;
//! let file = tempfile::tempfile()?;
//! let opts = VhdxOptions::dynamic(BuildStamp::fixed(1_700_000_000, "example"));
//! let mut writer = VhdxWriter::new(Destination::file(file.try_clone()?), opts)?;
//! convert(&mut MemSource::new(disk.clone()), &mut [&mut writer], &mut |_, _| {})?;
//!
//! let mut reader = VhdxReader::open(file)?;
//! let mut back = vec![0u8; disk.len()];
//! reader.read_at(0, &mut back)?;
//! assert_eq!(back, disk);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
pub mod format;
mod image;
mod reader;
mod spec;
mod writer;

pub use error::{Error, ErrorKind, Result};
pub use image::READER;
pub use reader::{is_vhdx, VhdxInfo, VhdxReader};
pub use spec::{FileParameters, OPTIONS, WRITER, WRITERS};
pub use writer::{VhdxOptions, VhdxWriter};
