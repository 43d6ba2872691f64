use std::io;

/// What can go wrong writing or reading an ISO 9660 image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A source file or tree cannot go into an image as it is.
    #[error("{path}: {why}")]
    Source {
        /// The path in the source tree or image.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// A builder option is out of range or names something that is not there.
    #[error("invalid ISO option: {0}")]
    InvalidOption(String),
    /// The input has no ISO 9660 primary volume descriptor.
    #[error("not an ISO 9660 image: {0}")]
    NotIso(String),
    /// A structure of the image is damaged; the message names where.
    #[error("corrupt ISO 9660 image: {0}")]
    Corrupt(String),
    /// A FAT file system cannot be made as asked (size, volume label).
    #[error("cannot make a FAT file system: {0}")]
    InvalidFat(String),
    /// A tree does not fit in a FAT file system of the size asked for.
    #[error(
        "{path}: needs a FAT file system of {needed} bytes ({} MiB); {size} bytes is too small",
        needed >> 20
    )]
    FatTooSmall {
        /// The source directory.
        path: String,
        /// The size asked for, in bytes.
        size: u64,
        /// The smallest size, in whole MiB and no less than `size`, that holds it.
        needed: u64,
    },
    /// Extracting would write outside the destination or over something.
    #[error("refusing to extract {path}: {why}")]
    Unsafe {
        /// The path in the image.
        path: String,
        /// Why it is refused.
        why: String,
    },
}

impl Error {
    pub(crate) fn at_path(path: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Source {
            path: path.into(),
            why: why.into(),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            Error::InvalidOption(_)
            | Error::Source { .. }
            | Error::InvalidFat(_)
            | Error::FatTooSmall { .. } => io::Error::new(io::ErrorKind::InvalidInput, e),
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
