use std::io;
use std::path::PathBuf;

/// What can go wrong in a conversion, an info, a compare or a check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// An image is malformed or unsupported.
    #[error("{path}: {message}")]
    Image {
        /// The image.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// Reading the input of a conversion failed; the cause says how and where.
    #[error("{path}")]
    Input {
        /// The input.
        path: PathBuf,
        /// What failed (a format crate's error inside, when it has one).
        #[source]
        source: io::Error,
    },
    /// Writing an output failed (a full disk, a closed pipe, a writer's
    /// refusal); the cause says how and where.
    #[error("{path}")]
    Output {
        /// The output as the user named it.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The request itself cannot be carried out (names, formats, options).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Wraps an I/O error with the file it concerns.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An image error naming the file.
    pub fn image(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Error::Image {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
