//! What can go wrong in a build, naming the file and the place in it.

use std::io;
use std::path::PathBuf;

use blocksink::tool::ToolError;

/// A build's failure. Each names what was wrong and where: the config file
/// and field, the rootfs member, the tool and its own words.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image configuration asks for something wrong or unsupported.
    #[error("{}: {field}: {message}", file.display())]
    Config {
        /// The configuration file.
        file: PathBuf,
        /// Where in it, as a path of keys (`Disks[0].Partitions[1].FsType`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The pieces do not fit: content larger than its partition, partitions
    /// overlapping or past the disk.
    #[error("{0}")]
    Layout(String),
    /// An external tool (mke2fs, debugfs, grub-mkimage, tar2sqfs) is
    /// missing, too old, or failed.
    #[error("{}{source}", doing.as_deref().map(|d| format!("{d}: ")).unwrap_or_default())]
    Tool {
        /// What it was doing, when that says more than its command
        /// (`making partition rootfs`).
        doing: Option<String>,
        /// The tool's error: its command, exit status and last words, or
        /// the package to install.
        source: Box<ToolError>,
    },
    /// A disk structure could not be made (GPT, FAT), or the root
    /// filesystem's entries could not be read.
    #[error(transparent)]
    Disk(blocksink::Error),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// A configuration error at `field` of `file`.
    pub fn config(
        file: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Config {
            file: file.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// `source`, the error of a tool that was `doing` something.
    pub fn tool(doing: impl Into<String>, source: ToolError) -> Self {
        Error::Tool {
            doing: Some(doing.into()),
            source: Box::new(source),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<ToolError> for Error {
    fn from(source: ToolError) -> Self {
        Error::Tool {
            doing: None,
            source: Box::new(source),
        }
    }
}

/// An error of the shared model back as this stage's: the build error a
/// walk carried ([`blocksink::Error::wrap`]) as it was, any other as is.
impl From<blocksink::Error> for Error {
    fn from(e: blocksink::Error) -> Self {
        match e.downcast::<Error>() {
            Ok(inner) => inner,
            Err(e) => Error::Disk(e),
        }
    }
}

/// This stage's error in the shared model, to cross a walk: had back
/// whole by the `From` above.
impl From<Error> for blocksink::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Disk(inner) => inner,
            other => blocksink::Error::wrap(other),
        }
    }
}

/// A build's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
