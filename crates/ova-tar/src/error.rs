use std::io;

/// What can go wrong reading or writing a OVA image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The underlying file could not be read or written.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file is not a tar archive.
    #[error("not an OVA: no ustar archive at offset 0")]
    BadMagic,
    /// A header field holds a value this crate cannot accept.
    #[error("invalid OVA: {field} = {value}: {why}")]
    BadHeader {
        /// The field's name as the spec spells it.
        field: &'static str,
        /// Its value.
        value: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The image uses a feature this crate does not implement.
    #[error("unsupported OVA: {0}")]
    Unsupported(String),
    /// A table entry points somewhere it must not.
    #[error("corrupt OVA: {0}")]
    Corrupt(String),
    /// A writer option is out of range.
    #[error("invalid OVA option: {0}")]
    InvalidOption(String),
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Io(e) => e,
            Error::InvalidOption(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
            Error::Unsupported(_) => io::Error::new(io::ErrorKind::Unsupported, e),
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
