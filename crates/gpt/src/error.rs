use std::io;

/// What can go wrong reading or writing a GPT.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The disk could not be read.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The disk has no GPT.
    #[error("no GPT: {0}")]
    NotFound(String),
    /// A header or entry array is damaged.
    #[error("corrupt GPT: {0}")]
    Corrupt(String),
    /// A table to write is not possible.
    #[error("invalid GPT: {0}")]
    InvalidOption(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
