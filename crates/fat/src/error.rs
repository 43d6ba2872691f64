use std::io;

/// What can go wrong making a FAT file system.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Writing the file system failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// A file's bytes could not be read, or kept until the layout.
    #[error("{path}: {source}")]
    Read {
        /// The file, as the caller names it.
        path: String,
        /// The system's error.
        source: io::Error,
    },
    /// A file or directory cannot go into a FAT file system as it is.
    #[error("{path}: {why}")]
    Source {
        /// The path, as the caller names it.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// A FAT file system cannot be made as asked (size, volume label).
    #[error("cannot make a FAT file system: {0}")]
    InvalidFat(String),
    /// A tree does not fit in a FAT file system of the size asked for.
    #[error(
        "{path}: needs a FAT file system of {needed} bytes ({} MiB); {size} bytes is too small",
        needed >> 20
    )]
    FatTooSmall {
        /// The tree's root, as the caller names it.
        path: String,
        /// The size asked for, in bytes.
        size: u64,
        /// The smallest size, in whole MiB and no less than `size`, that holds it.
        needed: u64,
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

/// The shared error model's view of a FAT error: its kind, and this
/// crate's error kept whole as the cause (so `FatTooSmall { needed, .. }`
/// can still be had by downcasting; a read error's cause is the system's
/// error). The text is unchanged.
impl From<Error> for blocksink::Error {
    fn from(e: Error) -> blocksink::Error {
        use blocksink::ErrorKind as K;
        let kind = match &e {
            Error::Io(_) => {
                let Error::Io(io) = e else {
                    unreachable!("matched above")
                };
                return blocksink::Error::from_io(io);
            }
            // The system's error is the cause, shown after the path.
            Error::Read { .. } => {
                let Error::Read { path, source } = e else {
                    unreachable!("matched above")
                };
                return blocksink::Error::new(K::Io, "", path).caused_by(source);
            }
            Error::InvalidFat(_) | Error::FatTooSmall { .. } => K::OutOfRange,
            Error::Source { .. } => K::Unsupported,
        };
        blocksink::Error::new(kind, "", e.to_string()).caused_by(e)
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
            path: "/boot/efi".into(),
            size: 1 << 20,
            needed: 2 << 20,
        };
        let text = small.to_string();
        assert_eq!(
            text,
            "/boot/efi: needs a FAT file system of 2097152 bytes (2 MiB); 1048576 bytes is too small"
        );
        let shared = blocksink::Error::from(small);
        assert_eq!(shared.kind(), blocksink::ErrorKind::OutOfRange);
        assert_eq!(shared.to_string(), text);
        let cause = std::error::Error::source(&shared)
            .and_then(|c| c.downcast_ref::<Error>())
            .expect("the crate's error is the cause");
        assert!(matches!(cause, Error::FatTooSmall { needed, .. } if *needed == 2 << 20));

        let read = Error::Read {
            path: "(esp)/EFI/BOOT/BOOTX64.EFI".into(),
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"),
        };
        let shared = blocksink::Error::from(read);
        assert_eq!(shared.kind(), blocksink::ErrorKind::Io);
        assert_eq!(shared.to_string(), "(esp)/EFI/BOOT/BOOTX64.EFI: truncated");

        // Through io::Error and back, as readers pass errors on.
        let io: io::Error = Error::InvalidFat("no".into()).into();
        let found = blocksink::Error::find(&io).expect("carried");
        assert_eq!(found.kind(), blocksink::ErrorKind::OutOfRange);
    }
}
