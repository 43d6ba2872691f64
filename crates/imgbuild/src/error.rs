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
    /// A build asked for something it cannot do: outputs the
    /// configuration cannot give, a source that does not fit it.
    #[error("{message}")]
    Request {
        /// Which, for a program to add its own words (its flags).
        problem: Problem,
        /// What is wrong.
        message: String,
    },
    /// Installing the packages failed.
    #[error(transparent)]
    Packages(#[from] pkgstage::Error),
    /// Writing the disk's outputs failed.
    #[error(transparent)]
    Convert(#[from] imgconv::Error),
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

    /// A request of kind `problem` that cannot be done.
    pub fn request(problem: Problem, message: impl Into<String>) -> Self {
        Error::Request {
            problem,
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

/// What kind of request a build cannot do ([`Error::Request`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A disk format, from a configuration without partitions.
    NoDisk,
    /// A prepared tree, with a configuration that installs packages.
    PackagesForATree,
    /// A prepared tree, with a configuration that removes the package
    /// database packages leave (RemoveRpmDb).
    RpmDbForATree,
    /// Packages to install, from a configuration that names none.
    NoPackages,
    /// A format that must seek, to standard output.
    NotAStream,
    /// More than one output to standard output.
    Stdout,
    /// An output that is one of the inputs.
    OutputIsInput,
    /// Two outputs with one name.
    OutputClash,
}

/// An error of the shared model back as this stage's: the build error a
/// walk carried ([`blocksink::Error::wrap`]) as it was, any other as is.
impl From<blocksink::Error> for Error {
    fn from(e: blocksink::Error) -> Self {
        // A package's error, from the package stage walking its tree
        // into the disk, is that stage's error again.
        match e.downcast::<Error>() {
            Ok(inner) => inner,
            Err(e) => match e.downcast::<pkgstage::Error>() {
                Ok(packages) => Error::Packages(packages),
                Err(e) => Error::Disk(e),
            },
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
