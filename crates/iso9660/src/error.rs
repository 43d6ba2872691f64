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

/// A FAT error (from the EFI image) as this crate's, its text unchanged.
impl From<fat::Error> for Error {
    fn from(e: fat::Error) -> Self {
        match e {
            fat::Error::Io(io) => Error::Io(io),
            fat::Error::Read { path, source } => Error::Source {
                path,
                why: source.to_string(),
            },
            fat::Error::Source { path, why } => Error::Source { path, why },
            fat::Error::InvalidFat(m) => Error::InvalidFat(m),
            fat::Error::FatTooSmall { path, size, needed } => {
                Error::FatTooSmall { path, size, needed }
            }
            other => Error::Io(other.into()),
        }
    }
}

impl Error {
    pub(crate) fn at_path(path: impl Into<String>, why: impl Into<String>) -> Self {
        Error::Source {
            path: path.into(),
            why: why.into(),
        }
    }
}

/// The shared error model's view of an ISO 9660 error: its kind, the
/// format, the field, and this crate's error kept whole as the cause (so
/// `FatTooSmall { needed, .. }` can still be had by downcasting). The text
/// is unchanged: variants that say what they are in their own words carry
/// no format prefix.
impl From<Error> for blocksink::Error {
    fn from(e: Error) -> blocksink::Error {
        use blocksink::ErrorKind as K;
        const F: &str = "ISO 9660";
        let (kind, format, message) = match &e {
            Error::Io(_) => {
                let Error::Io(io) = e else {
                    unreachable!("matched above")
                };
                return blocksink::Error::from_io(io);
            }
            Error::NotIso(m) => (K::InvalidFormat, F, m.clone()),
            Error::Corrupt(m) => (K::Corrupt, F, m.clone()),
            Error::InvalidOption(_) | Error::InvalidFat(_) | Error::FatTooSmall { .. } => {
                (K::OutOfRange, "", e.to_string())
            }
            Error::Source { .. } | Error::Unsafe { .. } => (K::Unsupported, "", e.to_string()),
        };
        blocksink::Error::new(kind, format, message).caused_by(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::from(blocksink::Error::from(e))
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_the_shared_model_with_its_text_and_details_kept() {
        let small = Error::FatTooSmall {
            path: "efi".into(),
            size: 1 << 20,
            needed: 2 << 20,
        };
        let text = small.to_string();
        let shared = blocksink::Error::from(small);
        assert_eq!(shared.kind(), blocksink::ErrorKind::OutOfRange);
        assert_eq!(shared.to_string(), text);
        let cause = std::error::Error::source(&shared)
            .and_then(|c| c.downcast_ref::<Error>())
            .expect("the crate's error is the cause");
        assert!(matches!(cause, Error::FatTooSmall { needed, .. } if *needed == 2 << 20));

        let corrupt = blocksink::Error::from(Error::Corrupt("directory /A: bad length".into()));
        assert_eq!(corrupt.kind(), blocksink::ErrorKind::Corrupt);
        assert_eq!(corrupt.format(), "ISO 9660");
        assert_eq!(
            corrupt.to_string(),
            "corrupt ISO 9660 image: directory /A: bad length"
        );
        assert_eq!(blocksink::chain(&corrupt), corrupt.to_string());

        // Through io::Error and back, as readers pass errors on.
        let io: io::Error = Error::NotIso("no primary volume descriptor".into()).into();
        let found = blocksink::Error::find(&io).expect("carried");
        assert_eq!(found.kind(), blocksink::ErrorKind::InvalidFormat);
    }
}
