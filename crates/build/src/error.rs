//! What can go wrong in a build, naming the file and the place in it.

use std::io;
use std::path::PathBuf;

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
    /// The root filesystem (a directory or an archive) cannot be used.
    #[error("{}{}: {message}", path.display(), member.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Rootfs {
        /// The directory or archive.
        path: PathBuf,
        /// The member or entry concerned, when one is.
        member: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The pieces do not fit: content larger than its partition, partitions
    /// overlapping or past the disk.
    #[error("{0}")]
    Layout(String),
    /// An external tool (mke2fs, grub-mkimage) failed.
    #[error("{tool} failed ({status}): {stderr}")]
    Tool {
        /// The command.
        tool: String,
        /// How it ended.
        status: String,
        /// The last lines it printed.
        stderr: String,
    },
    /// A disk structure could not be made (GPT, FAT).
    #[error(transparent)]
    Disk(#[from] blocksink::Error),
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

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// A build's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
