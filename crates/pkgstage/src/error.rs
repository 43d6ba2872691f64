//! What can go wrong reading repositories and installing packages.
//!
//! The stage reports in the workspace's one error model,
//! [`blocksink::Error`]: the file first (a repository's metadata file, a
//! package), then the element, header part or payload member, then what is
//! wrong. Where a program acts on more than the words, the error carries a
//! typed detail ([`blocksink::Error::detail`]): [`Unresolved`] and
//! [`Untrusted`] list the packages concerned, [`Mismatch`] the checksum
//! that does not hold; a tool that failed is its cause
//! ([`blocksink::tool::ToolError`], [`blocksink::Error::cause`]).

use std::fmt;
use std::path::Path;

pub use blocksink::{Error, ErrorKind, Result};

/// The packages asked for cannot be installed: every problem found, each
/// naming the requirement and the package that has it. The detail of an
/// [`ErrorKind::Unresolved`] error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    /// The problems, one per line.
    pub problems: Vec<String>,
}

/// Packages whose signatures do not verify against the trusted keys, each
/// named with why; or, when no keys were given, every package. The detail
/// of an [`ErrorKind::Untrusted`] error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Untrusted {
    /// One line per package: its file and why it is refused.
    pub problems: Vec<String>,
    /// Whether any trusted keys were given.
    pub keys_given: bool,
}

/// A checksum or digest that differs from the one recorded for the bytes:
/// repomd.xml's for a metadata file or package, a package's own for its
/// header and payload. The detail of an [`ErrorKind::Corrupt`] error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Which checksum (`file sha256 checksum`, `header SHA-256 digest
    /// (RPMSIGTAG_SHA256)`).
    pub what: String,
    /// The one recorded.
    pub expected: String,
    /// The one of the bytes.
    pub actual: String,
}

/// The packages cannot be installed, for these `problems`.
pub fn unresolved(problems: Vec<String>) -> Error {
    let text = format!(
        "cannot resolve the packages to install:\n  {}",
        problems.join("\n  ")
    );
    Error::new(ErrorKind::Unresolved, "", text).with_detail(Unresolved { problems })
}

/// One problem that stops the install (a conflict, a missing source).
pub(crate) fn unresolvable(problem: String) -> Error {
    unresolved(vec![problem])
}

/// These packages' signatures do not vouch for them.
pub(crate) fn untrusted(problems: Vec<String>, keys_given: bool) -> Error {
    let head = if keys_given {
        "package signatures do not verify against the trusted keys"
    } else {
        "no trusted keys to check package signatures against: give the \
         repositories' public keys (as rpm --import takes them) or turn the \
         check off (as dnf --nogpgcheck); the packages"
    };
    let text = format!("{head}:\n  {}", problems.join("\n  "));
    Error::new(ErrorKind::Untrusted, "", text).with_detail(Untrusted {
        problems,
        keys_given,
    })
}

/// The bytes of `file` do not have the checksum recorded for them.
pub(crate) fn mismatch(
    file: &Path,
    what: impl fmt::Display,
    recorder: &str,
    expected: String,
    actual: String,
) -> Error {
    let text = format!("{what} is {actual}, {recorder} records {expected}");
    Error::corrupt("", text).path(file).with_detail(Mismatch {
        what: what.to_string(),
        expected,
        actual,
    })
}

/// Repository metadata (`repomd.xml`, `primary.xml`, `filelists.xml`) that
/// is malformed or says something this reader refuses, at `element` (a
/// path, `/metadata/package[3]/location`; `""` for the file as a whole)
/// and the byte `offset` in the decompressed XML when known.
pub fn metadata(
    file: impl AsRef<Path>,
    element: impl Into<String>,
    offset: Option<u64>,
    message: impl Into<String>,
) -> Error {
    placed(file, element.into(), offset, message.into())
}

/// A package whose header cannot be read or used, at `field` (the header
/// part or tag: `signature header`, `RPMTAG_FILEMODES`) and the byte
/// `offset` in the package file when known.
pub fn package(
    file: impl AsRef<Path>,
    field: impl Into<String>,
    offset: Option<u64>,
    message: impl Into<String>,
) -> Error {
    placed(file, field.into(), offset, message.into())
}

fn placed(file: impl AsRef<Path>, at: String, offset: Option<u64>, message: String) -> Error {
    let mut e = Error::corrupt("", message).path(file.as_ref());
    if !at.is_empty() {
        e = e.member(at);
    }
    match offset {
        Some(offset) => e.at(offset),
        None => e,
    }
}

/// A scriptlet that could not run, or failed where rpm stops the install
/// (`%pretrans`, `%pre`): `message` names the package and the scriptlet,
/// with the scriptlet's output.
pub(crate) fn scriptlet(message: String) -> Error {
    Error::new(ErrorKind::Failed, "", message)
}

/// Writing the rpm database at `path` failed.
pub(crate) fn database(path: &Path, cause: rusqlite::Error) -> Error {
    Error::new(ErrorKind::Io, "", "")
        .path(path)
        .caused_by(cause)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_the_file_the_place_and_what() {
        let e = metadata(
            "repodata/primary.xml",
            "/metadata/package[3]/location",
            Some(812),
            "no href",
        );
        assert_eq!(
            e.to_string(),
            "repodata/primary.xml: /metadata/package[3]/location: no href (at offset 812)"
        );
        let e = unresolved(vec!["nothing provides a".into(), "b conflicts".into()]);
        assert_eq!(e.kind(), ErrorKind::Unresolved);
        assert_eq!(e.detail::<Unresolved>().map(|u| u.problems.len()), Some(2));
        let e = mismatch(
            Path::new("x.rpm"),
            "package sha256 checksum",
            "repomd.xml",
            "aa".into(),
            "bb".into(),
        );
        assert_eq!(
            e.to_string(),
            "x.rpm: package sha256 checksum is bb, repomd.xml records aa"
        );
    }
}
