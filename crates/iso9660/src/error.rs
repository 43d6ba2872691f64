//! Errors: this crate reports every failure as a [`blocksink::Error`],
//! named for its format. A source file is named as its path on the host
//! ([`Error::file_path`]), an entry of the tree being written as its path
//! in the tree ([`Error::member_name`]).

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

pub use blocksink::{Error, ErrorKind, Result};

/// The format in this crate's errors: `not an ISO 9660 image: …`,
/// `corrupt ISO 9660 image: …`.
pub(crate) const F: blocksink::Format = blocksink::Format::new("ISO 9660");

/// Options of the writer and the reader, named as users know them:
/// `invalid ISO option: …`.
pub(crate) const OPTION: blocksink::Format = blocksink::Format::new("ISO");

/// What an ISO 9660 image cannot hold at the tree's entry `path` (a name
/// too long).
pub(crate) fn unsupported_entry(
    path: impl Into<String>,
    why: impl Into<Cow<'static, str>>,
) -> Error {
    Error::unsupported("", why).member(path)
}

/// What cannot be done as asked at the tree's entry `path` (a name taken,
/// a file where a directory is needed).
pub(crate) fn invalid_entry(path: impl Into<String>, why: impl Into<Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::Invalid, "", why).member(path)
}

/// What cannot be done as asked with the host's file `path`.
pub(crate) fn invalid_file(path: impl Into<PathBuf>, why: impl Into<Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::Invalid, "", why).path(path)
}

/// An extraction refused: it would write outside the destination or over
/// something; `path` is the destination or the image's entry.
pub(crate) fn refused(path: impl fmt::Display, why: impl fmt::Display) -> Error {
    Error::new(
        ErrorKind::Invalid,
        "",
        format!("refusing to extract {path}: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn texts_name_the_format_and_where() {
        let corrupt = F.corrupt("directory /A: bad length");
        assert_eq!(corrupt.kind(), ErrorKind::Corrupt);
        assert_eq!(corrupt.format(), "ISO 9660");
        assert_eq!(
            corrupt.to_string(),
            "corrupt ISO 9660 image: directory /A: bad length"
        );
        assert_eq!(blocksink::chain(&corrupt), corrupt.to_string());
        assert_eq!(
            F.not_this("no primary volume descriptor").to_string(),
            "not an ISO 9660 image: no primary volume descriptor"
        );
        assert_eq!(
            OPTION.option("more than 31 boot entries").to_string(),
            "invalid ISO option: more than 31 boot entries"
        );
        assert_eq!(
            invalid_entry("boot/x", "already in the tree").to_string(),
            "boot/x: already in the tree"
        );
        assert_eq!(
            refused("/a/..", "the name is empty").to_string(),
            "refusing to extract /a/..: the name is empty"
        );

        // Through io::Error and back, as readers pass errors on.
        let io: io::Error = F.not_this("no primary volume descriptor").into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidData);
        let found = Error::find(&io).expect("carried");
        assert_eq!(found.kind(), ErrorKind::InvalidFormat);
    }
}
