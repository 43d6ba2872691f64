use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A cause of any kind: a format crate's [`blocksink::Error`], an I/O
/// error, or words.
pub type Cause = Box<dyn StdError + Send + Sync + 'static>;

/// What can go wrong in a conversion, an info, a compare or a check: the
/// file it concerns, and the cause, kept whole.
///
/// Its text is `file: cause`; [`source`](StdError::source) goes on from
/// what the cause's own text does not already say, so printing the chain
/// ([`blocksink::chain`]) says every cause once.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// An image is malformed or unsupported.
    Image {
        /// The image.
        path: PathBuf,
        /// What is wrong, and where.
        source: Cause,
    },
    /// Reading the input of a conversion failed; the cause says how and where.
    Input {
        /// The input.
        path: PathBuf,
        /// What failed (a format crate's error inside, when it has one:
        /// [`blocksink::Error::find`]).
        source: io::Error,
    },
    /// Writing an output failed (a full disk, a closed pipe, a writer's
    /// refusal); the cause says how and where.
    Output {
        /// The output as the user named it.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// The request itself cannot be carried out (names, formats, options).
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

    /// An image error naming the file; `cause` is kept as it is.
    pub fn image(path: impl Into<PathBuf>, cause: impl Into<Cause>) -> Self {
        Error::Image {
            path: path.into(),
            source: cause.into(),
        }
    }

    /// The file the error concerns, if it concerns one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::Image { path, .. }
            | Error::Input { path, .. }
            | Error::Output { path, .. } => Some(path),
            Error::Usage(_) => None,
        }
    }

    /// The cause, whole (its text follows the file name in this error's).
    pub fn cause(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Io { source, .. }
            | Error::Input { source, .. }
            | Error::Output { source, .. } => Some(source),
            Error::Image { source, .. } => Some(source.as_ref()),
            Error::Usage(_) => None,
        }
    }

    /// The format crate's error behind this one, when there is one.
    pub fn format_error(&self) -> Option<&blocksink::Error> {
        let cause = self.cause()?;
        cause.downcast_ref::<blocksink::Error>().or_else(|| {
            cause
                .downcast_ref::<io::Error>()
                .and_then(blocksink::Error::find)
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path(), self.cause()) {
            (Some(path), Some(cause)) => write!(f, "{}: {cause}", path.display()),
            _ => match self {
                Error::Usage(m) => f.write_str(m),
                _ => Ok(()),
            },
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        // The cause's text is part of this error's; what follows is its cause.
        self.cause().and_then(StdError::source)
    }
}

/// A conversion's error in the one model of the stages above it (a
/// build): carried whole, its text and its causes as they are.
impl From<Error> for blocksink::Error {
    fn from(e: Error) -> Self {
        blocksink::Error::wrap(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io { source, .. }
            | Error::Input { source, .. }
            | Error::Output { source, .. } => source.kind(),
            Error::Image { .. } => io::ErrorKind::InvalidData,
            Error::Usage(_) => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
