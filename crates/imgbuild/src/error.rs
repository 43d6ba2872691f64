//! What can go wrong in a build, naming the file and the place in it.
//!
//! A build reports in the workspace's one error model,
//! [`blocksink::Error`], as the package stage and the format crates do, so
//! that an error of any of them passes through a build as it was: a
//! configuration's error names its file and field
//! ([`ErrorKind::Invalid`]); pieces that do not fit say which
//! ([`ErrorKind::Invalid`], no file); a tool that failed is its cause
//! ([`blocksink::tool::ToolError`]); a request the inputs cannot meet
//! carries its [`Problem`] for a program to add its own words (its
//! flags).

use std::path::PathBuf;

pub use blocksink::{Error, ErrorKind, Result};

/// The image configuration `file` asks at `field` (a path of keys,
/// `Disks[0].Partitions[1].FsType`) for something wrong or unsupported.
pub fn config(
    file: impl Into<PathBuf>,
    field: impl Into<String>,
    message: impl Into<String>,
) -> Error {
    let field: String = field.into();
    let e = Error::new(ErrorKind::Invalid, "", message.into()).path(file);
    if field.is_empty() {
        e
    } else {
        e.field(field)
    }
}

/// The pieces do not fit: content larger than its partition, partitions
/// overlapping or past the disk, a tree without what its loader needs.
pub(crate) fn layout(message: String) -> Error {
    Error::new(ErrorKind::Invalid, "", message)
}

/// A request of kind `problem` that cannot be done.
pub fn request(problem: Problem, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Invalid, "", message.into()).with_detail(problem)
}

/// What kind of request a build cannot do: the detail of its error.
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
