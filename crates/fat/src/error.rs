//! Errors: this crate reports every failure as a [`blocksink::Error`]. A
//! file or directory is named as the caller names the tree's root
//! ([`Error::file_path`]); a tree too large for the size asked for carries
//! a [`FatTooSmall`] detail.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

pub use blocksink::{Error, ErrorKind, Result};

/// The detail of an error for a tree that does not fit in a FAT file
/// system of the size asked for, had back with
/// [`Error::detail`](blocksink::Error::detail); the error's path is the
/// tree's root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FatTooSmall {
    /// The size asked for, in bytes.
    pub size: u64,
    /// The smallest size, in whole MiB and no less than `size`, that holds
    /// the tree.
    pub needed: u64,
}

/// A FAT file system that cannot be made as asked (size, volume label).
pub(crate) fn invalid_fat(message: impl fmt::Display) -> Error {
    Error::out_of_range("", format!("cannot make a FAT file system: {message}"))
}

/// The tree under `root` needs `needed` bytes where `size` were given.
pub(crate) fn too_small(root: &str, size: u64, needed: u64) -> Error {
    Error::out_of_range(
        "",
        format!(
            "needs a FAT file system of {needed} bytes ({} MiB); {size} bytes is too small",
            needed >> 20
        ),
    )
    .path(root)
    .with_detail(FatTooSmall { size, needed })
}

/// What FAT cannot hold at `path` (a name, a file's size, a special file).
pub(crate) fn unsupported(path: impl Into<PathBuf>, why: impl Into<Cow<'static, str>>) -> Error {
    Error::unsupported("", why).path(path)
}

/// What cannot be done as asked at `path` (a file where a directory is
/// asked for, a path with `..`).
pub(crate) fn invalid(path: impl Into<PathBuf>, why: impl Into<Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::Invalid, "", why).path(path)
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn texts_name_the_path_first_and_the_size_as_a_detail() {
        let small = too_small("/boot/efi", 1 << 20, 2 << 20);
        assert_eq!(
            small.to_string(),
            "/boot/efi: needs a FAT file system of 2097152 bytes (2 MiB); 1048576 bytes is too small"
        );
        assert_eq!(small.kind(), ErrorKind::OutOfRange);
        assert_eq!(
            small.detail::<FatTooSmall>(),
            Some(&FatTooSmall {
                size: 1 << 20,
                needed: 2 << 20
            })
        );
        // Still there when the error is carried inside another.
        assert_eq!(
            Error::wrap(small).detail::<FatTooSmall>().map(|d| d.needed),
            Some(2 << 20)
        );

        let read = Error::file(
            "(esp)/EFI/BOOT/BOOTX64.EFI",
            io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"),
        );
        assert_eq!(read.kind(), ErrorKind::Io);
        assert_eq!(read.to_string(), "(esp)/EFI/BOOT/BOOTX64.EFI: truncated");

        let label = invalid_fat("volume label `x`");
        assert_eq!(
            label.to_string(),
            "cannot make a FAT file system: volume label `x`"
        );
        // Through io::Error and back, as readers pass errors on.
        let io: io::Error = label.into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidInput);
        let found = Error::find(&io).expect("carried");
        assert_eq!(found.kind(), ErrorKind::OutOfRange);

        assert_eq!(
            unsupported("/boot/efi/a:b", "a FAT name cannot hold ':'").to_string(),
            "/boot/efi/a:b: a FAT name cannot hold ':'"
        );
        assert_eq!(
            invalid("/boot/efi/f", "is a file, not a directory").kind(),
            ErrorKind::Invalid
        );
    }
}
