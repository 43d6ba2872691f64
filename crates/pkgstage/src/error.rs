//! What can go wrong reading a repository, naming the file and the place in it.

use std::io;
use std::path::PathBuf;

use blocksink::tool::ToolError;

/// A repository's failure to read. Each names the file, and where one
/// applies the element or header field and the byte offset in it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Repository metadata (`repomd.xml`, `primary.xml`, `filelists.xml`)
    /// is malformed or says something this reader refuses.
    #[error("{}: {element}{}: {message}", file.display(), at(*offset))]
    Metadata {
        /// The metadata file, as repomd.xml names it.
        file: PathBuf,
        /// The element concerned, as a path (`/metadata/package[3]/location`).
        element: String,
        /// Byte offset in the (decompressed) XML, when known.
        offset: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A file's checksum differs from the one `repomd.xml` records for it.
    #[error(
        "{}: {what} {algorithm} checksum is {actual}, repomd.xml records {expected}",
        file.display()
    )]
    Checksum {
        /// The file checked.
        file: PathBuf,
        /// Which checksum: of the file as stored, or of its decompressed contents.
        what: &'static str,
        /// The algorithm (`sha256`).
        algorithm: &'static str,
        /// The checksum repomd.xml records.
        expected: String,
        /// The checksum of the file's bytes.
        actual: String,
    },
    /// An RPM package's header cannot be read.
    #[error("{}: {field}{}: {message}", file.display(), at(*offset))]
    Package {
        /// The package file.
        file: PathBuf,
        /// The header part or tag concerned (`signature header`, `RPMTAG_FILEMODES`).
        field: String,
        /// Byte offset in the package file, when known.
        offset: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// A digest a package records differs from that of its bytes: the
    /// package was changed after it was built.
    #[error("{}: {what} is {actual}, the package records {expected}", file.display())]
    Digest {
        /// The package file.
        file: PathBuf,
        /// Which digest (`header SHA-256 digest (RPMSIGTAG_SHA256)`).
        what: String,
        /// The digest the package records.
        expected: String,
        /// The digest of its bytes.
        actual: String,
    },
    /// Packages whose signatures do not verify against the trusted keys,
    /// each named with why; or, when no keys were given, every package.
    #[error("{}", untrusted(problems, *keys_given))]
    Untrusted {
        /// One line per package: its file and why it is refused.
        problems: Vec<String>,
        /// Whether any trusted keys were given.
        keys_given: bool,
    },
    /// The packages asked for cannot be installed: every problem found,
    /// each naming the requirement and the package that has it.
    #[error("cannot resolve the packages to install:\n  {}", problems.join("\n  "))]
    Unresolved {
        /// The problems, one per line.
        problems: Vec<String>,
    },
    /// Writing the rpm database failed.
    #[error("{}: {source}", path.display())]
    Database {
        /// The database file being written.
        path: PathBuf,
        /// sqlite's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A scriptlet could not run, or failed where rpm stops the install
    /// (`%pretrans`, `%pre`); or scriptlets that cannot be run.
    #[error("{message}")]
    Scriptlet {
        /// What failed, naming the package and the scriptlet, with the
        /// scriptlet's output.
        message: String,
    },
    /// A tool the stage drives (bwrap) is missing, too old or failed.
    #[error("{doing}: {source}")]
    Tool {
        /// What it was for.
        doing: String,
        /// The tool's error: its command, exit status and last words, or
        /// the package to install.
        source: Box<ToolError>,
    },
    /// Reading the installed tree back failed.
    #[error(transparent)]
    Tree(rootfs::Error),
    /// What the entries were handed to failed (a file system too small, an
    /// archive that cannot be written): its own error, as it was.
    #[error(transparent)]
    Stopped(rootfs::Error),
    /// Reading a file or directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
}

/// An error of the shared model back as this stage's: the package error a
/// walk carried ([`rootfs::Error::wrap`]) as it was; any other one of
/// reading the tree.
impl From<rootfs::Error> for Error {
    fn from(e: rootfs::Error) -> Self {
        match e.downcast::<Error>() {
            Ok(inner) => inner,
            Err(e) => Error::Tree(e),
        }
    }
}

/// This stage's error in the shared model, to cross a walk: had back
/// whole by the `From` above.
impl From<Error> for rootfs::Error {
    fn from(e: Error) -> Self {
        rootfs::Error::wrap(e)
    }
}

fn untrusted(problems: &[String], keys_given: bool) -> String {
    let head = if keys_given {
        "package signatures do not verify against the trusted keys"
    } else {
        "no trusted keys to check package signatures against: give the \
         repositories' public keys (as rpm --import takes them) or turn the \
         check off (as dnf --nogpgcheck); the packages"
    };
    format!("{head}:\n  {}", problems.join("\n  "))
}

fn at(offset: Option<u64>) -> String {
    offset.map(|o| format!(" (byte {o})")).unwrap_or_default()
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// `source`, the error of a tool that was `doing` something.
    pub fn tool(doing: impl Into<String>, source: ToolError) -> Self {
        Error::Tool {
            doing: doing.into(),
            source: Box::new(source),
        }
    }

    /// A metadata error at `element` of `file`.
    pub fn metadata(
        file: impl Into<PathBuf>,
        element: impl Into<String>,
        offset: Option<u64>,
        message: impl Into<String>,
    ) -> Self {
        Error::Metadata {
            file: file.into(),
            element: element.into(),
            offset,
            message: message.into(),
        }
    }

    /// A package header error at `field` of `file`.
    pub fn package(
        file: impl Into<PathBuf>,
        field: impl Into<String>,
        offset: Option<u64>,
        message: impl Into<String>,
    ) -> Self {
        Error::Package {
            file: file.into(),
            field: field.into(),
            offset,
            message: message.into(),
        }
    }
}

/// The result of reading a repository.
pub type Result<T, E = Error> = std::result::Result<T, E>;
