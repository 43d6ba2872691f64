//! A package repository read into a package list: from `repodata/` as
//! `createrepo_c` writes it, or from the headers of a directory of `.rpm`
//! files.
//!
//! Both ways give the same [`Package`]s: a plain directory's headers are read
//! with the rules `createrepo_c` applies when it writes `primary.xml` (see
//! [`Repository::from_rpm_dir`]), so a resolver sees one model whichever way
//! the repository came.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

pub(crate) mod compress;
pub(crate) mod header;
mod xml;

pub use xml::{parse_filelists, parse_primary};

/// A repository: where it is and the packages it offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// The repository's directory; package locations are relative to it.
    pub root: PathBuf,
    /// The packages, in the order the metadata (or the sorted file names) list them.
    pub packages: Vec<Package>,
    /// Whether each package's [`files`](Package::files) is its whole file
    /// list: true for a plain directory and for repodata with
    /// `filelists.xml`; false when only `primary.xml` was there, which lists
    /// only files under `/etc/`, in `bin/` directories and `/usr/lib/sendmail`.
    pub files_complete: bool,
}

/// One package of a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// Package name (`bash`).
    pub name: String,
    /// Epoch; 0 when the package has none.
    pub epoch: u32,
    /// Upstream version (`5.2.15`).
    pub version: String,
    /// Release (`3.azl3`).
    pub release: String,
    /// Architecture (`x86_64`, `noarch`; `src` for a source package).
    pub arch: String,
    /// Where the package file is, relative to the repository's directory,
    /// with `/` separators; checked to stay inside it.
    pub location: String,
    /// Checksum of the whole package file (the package's `pkgid`).
    pub checksum: Checksum,
    /// Capabilities the package offers (its own name among them).
    pub provides: Vec<Dependency>,
    /// Capabilities it needs installed; [`Dependency::pre`] marks those its
    /// install scriptlets need first.
    pub requires: Vec<Dependency>,
    /// Capabilities that must not be installed with it.
    pub conflicts: Vec<Dependency>,
    /// Packages it replaces.
    pub obsoletes: Vec<Dependency>,
    /// Weak requirements: installed when possible.
    pub recommends: Vec<Dependency>,
    /// Weaker requirements: only hints.
    pub suggests: Vec<Dependency>,
    /// Reverse weak requirements: install this when what it names is.
    pub supplements: Vec<Dependency>,
    /// Reverse hints.
    pub enhances: Vec<Dependency>,
    /// Files, directories and ghosts the package owns, in header order.
    pub files: Vec<PackageFile>,
}

impl Package {
    /// Epoch, version and release.
    pub fn evr(&self) -> Evr {
        Evr {
            epoch: self.epoch,
            version: self.version.clone(),
            release: Some(self.release.clone()),
        }
    }

    /// `name-[epoch:]version-release.arch`, as dnf prints it.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr(), self.arch)
    }
}

/// A checksum: its algorithm and its value in lower-case hexadecimal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: ChecksumAlgorithm,
    /// The value, lower-case hexadecimal.
    pub hex: String,
}

/// The checksum algorithms repodata uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChecksumAlgorithm {
    /// SHA-1 (`sha1`, or `sha` in old repositories).
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256, `createrepo_c`'s default.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl ChecksumAlgorithm {
    /// The algorithm a repodata `type` attribute names, if one this reader knows.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sha" | "sha1" => ChecksumAlgorithm::Sha1,
            "sha224" => ChecksumAlgorithm::Sha224,
            "sha256" => ChecksumAlgorithm::Sha256,
            "sha384" => ChecksumAlgorithm::Sha384,
            "sha512" => ChecksumAlgorithm::Sha512,
            _ => return None,
        })
    }

    /// The name repodata gives it.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Sha1 => "sha1",
            ChecksumAlgorithm::Sha224 => "sha224",
            ChecksumAlgorithm::Sha256 => "sha256",
            ChecksumAlgorithm::Sha384 => "sha384",
            ChecksumAlgorithm::Sha512 => "sha512",
        }
    }

    /// Length of its hexadecimal value.
    pub fn hex_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Sha1 => 40,
            ChecksumAlgorithm::Sha224 => 56,
            ChecksumAlgorithm::Sha256 => 64,
            ChecksumAlgorithm::Sha384 => 96,
            ChecksumAlgorithm::Sha512 => 128,
        }
    }
}

/// Epoch, version and release of a package or of a dependency's version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Evr {
    /// Epoch; 0 when none is written (as rpm compares).
    pub epoch: u32,
    /// Version.
    pub version: String,
    /// Release; a dependency may leave it out (`libfoo >= 1.2` matches any release).
    pub release: Option<String>,
}

impl Evr {
    /// Reads `[epoch:]version[-release]` as rpm headers store a dependency's
    /// version. An epoch that is not a number is refused.
    pub fn parse(text: &str) -> Option<Evr> {
        let (epoch, rest) = match text.split_once(':') {
            Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
                (e.parse().ok()?, rest)
            }
            Some(_) => return None,
            None => (0, text),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r.to_string())),
            None => (rest, None),
        };
        Some(Evr {
            epoch,
            version: version.to_string(),
            release,
        })
    }
}

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}:", self.epoch)?;
        }
        f.write_str(&self.version)?;
        if let Some(r) = &self.release {
            write!(f, "-{r}")?;
        }
        Ok(())
    }
}

/// How a dependency's version constrains the other side's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comparison {
    /// `=` (`EQ`).
    Eq,
    /// `<` (`LT`).
    Lt,
    /// `>` (`GT`).
    Gt,
    /// `<=` (`LE`).
    Le,
    /// `>=` (`GE`).
    Ge,
}

impl Comparison {
    /// The comparison a repodata `flags` attribute names.
    pub fn from_flags(flags: &str) -> Option<Self> {
        Some(match flags {
            "EQ" => Comparison::Eq,
            "LT" => Comparison::Lt,
            "GT" => Comparison::Gt,
            "LE" => Comparison::Le,
            "GE" => Comparison::Ge,
            _ => return None,
        })
    }

    /// The comparison of rpm header dependency flags (`RPMSENSE_LESS` 2,
    /// `RPMSENSE_GREATER` 4, `RPMSENSE_EQUAL` 8); none for other sets.
    pub fn from_rpmsense(flags: u32) -> Option<Self> {
        Some(match flags & 0xf {
            2 => Comparison::Lt,
            4 => Comparison::Gt,
            8 => Comparison::Eq,
            10 => Comparison::Le,
            12 => Comparison::Ge,
            _ => return None,
        })
    }

    /// The operator as a spec file writes it (`>=`).
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Eq => "=",
            Comparison::Lt => "<",
            Comparison::Gt => ">",
            Comparison::Le => "<=",
            Comparison::Ge => ">=",
        }
    }
}

/// A dependency: a capability name (a package, a virtual name, a file path
/// or a rich dependency such as `(a or b)`), and optionally a version constraint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dependency {
    /// The capability.
    pub name: String,
    /// The version constraint, if any.
    pub constraint: Option<(Comparison, Evr)>,
    /// For requirements: needed before the package's install scriptlets run
    /// (`Requires(pre)`, `Requires(post)`, `PreReq`; repodata's `pre="1"`).
    pub pre: bool,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some((op, evr)) = &self.constraint {
            write!(f, " {} {evr}", op.symbol())?;
        }
        Ok(())
    }
}

/// A path a package owns.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PackageFile {
    /// Absolute path in the installed tree.
    pub path: String,
    /// What it is.
    pub kind: FileKind,
}

/// What a package's path is, as repodata tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A file, symbolic link or other non-directory in the payload.
    File,
    /// A directory.
    Dir,
    /// A ghost: owned but not in the payload (made at run time).
    Ghost,
}

impl Repository {
    /// Reads the repository at `dir`: its `repodata/repomd.xml` if it has one
    /// ([`from_repodata`](Self::from_repodata)), otherwise the `.rpm` files
    /// under it ([`from_rpm_dir`](Self::from_rpm_dir)).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let repomd = dir.join("repodata").join("repomd.xml");
        match std::fs::symlink_metadata(&repomd) {
            Ok(_) => Self::from_repodata(dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let meta = std::fs::metadata(dir).map_err(|e| Error::file(dir, e))?;
                if !meta.is_dir() {
                    return Err(Error::file(
                        dir,
                        std::io::Error::other("not a directory (a repository is a directory)"),
                    ));
                }
                Self::from_rpm_dir(dir)
            }
            Err(e) => Err(Error::file(repomd, e)),
        }
    }

    /// Reads `dir/repodata/repomd.xml` and the `primary` and (when listed)
    /// `filelists` metadata it points to, gzip, xz or zstd compressed or
    /// plain, each checked against the checksums and sizes repomd.xml
    /// records before its packages are taken.
    pub fn from_repodata(dir: impl AsRef<Path>) -> Result<Self> {
        xml::read_repodata(dir.as_ref())
    }

    /// Reads the headers of the `.rpm` files under `dir` (and its
    /// subdirectories; `repodata/` is not looked in), in the order of their
    /// sorted paths. Each package's checksum is the SHA-256 of its file, as
    /// `createrepo_c` computes by default.
    ///
    /// Dependencies are taken as `createrepo_c` writes them to
    /// `primary.xml`: `rpmlib(…)` requirements (rpm's own features) are left
    /// out, as are requirements the package satisfies itself (one of its
    /// provides, or one of its own files under `/etc/` or in a `bin/`
    /// directory) and repeats of the same requirement; a version without
    /// an epoch has epoch 0. One difference remains: `createrepo_c` keeps
    /// only the highest of a package's `libc.so.6(GLIBC_…)` requirements,
    /// this reader keeps them all.
    pub fn from_rpm_dir(dir: impl AsRef<Path>) -> Result<Self> {
        header::read_rpm_dir(dir.as_ref())
    }

    /// The package file of `package`, checked to be inside the repository's
    /// directory once symbolic links are followed.
    pub fn package_path(&self, package: &Package) -> Result<PathBuf> {
        let root = self
            .root
            .canonicalize()
            .map_err(|e| Error::file(&self.root, e))?;
        let joined = self.root.join(&package.location);
        let real = joined.canonicalize().map_err(|e| Error::file(&joined, e))?;
        if !real.starts_with(&root) {
            return Err(Error::file(
                joined,
                std::io::Error::other(format!(
                    "leads outside the repository, to {}",
                    real.display()
                )),
            ));
        }
        Ok(real)
    }
}

/// Checks a location from metadata (`href`) names a path inside the
/// repository: relative, no `..`, no empty name. Returns why not.
pub(crate) fn check_location(href: &str) -> std::result::Result<(), String> {
    if href.is_empty() {
        return Err("empty location".into());
    }
    if href.contains('\0') || href.contains('\\') {
        return Err(format!("location {href:?} has a NUL or a backslash"));
    }
    for c in Path::new(href).components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "location {href:?} has a `..` and could leave the repository"
                ))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "location {href:?} is absolute; it must be inside the repository"
                ))
            }
        }
    }
    if href.contains("://") {
        return Err(format!(
            "location {href:?} is a URL; only local repositories are read"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evr_parse() {
        let e = Evr::parse("1:2.3-4.el9").unwrap();
        assert_eq!((e.epoch, e.version.as_str()), (1, "2.3"));
        assert_eq!(e.release.as_deref(), Some("4.el9"));
        assert_eq!(e.to_string(), "1:2.3-4.el9");
        let e = Evr::parse("2.0").unwrap();
        assert_eq!((e.epoch, e.release), (0, None));
        assert!(Evr::parse("x:1").is_none());
        assert!(Evr::parse("99999999999:1").is_none());
    }

    #[test]
    fn locations() {
        assert!(check_location("a/b.rpm").is_ok());
        assert!(check_location("./b.rpm").is_ok());
        for bad in [
            "",
            "../b.rpm",
            "a/../../b.rpm",
            "/etc/passwd",
            "a\\b",
            "http://x/y.rpm",
        ] {
            assert!(check_location(bad).is_err(), "{bad}");
        }
    }
}
