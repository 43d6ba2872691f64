//! The package stage's foundation: RPM repositories read into a package list.
//!
//! The first step from packages to a root filesystem without root: a local
//! repository — `repodata/` as `createrepo_c` writes it, or a plain
//! directory of `.rpm` files — becomes a list of [`Package`]s with their
//! versions, dependencies and file lists, ready for a resolver. Metadata is
//! untrusted input: checksums are verified, locations kept inside the
//! repository, and every size and count checked before it is used.
//!
//! # Example
//!
//! ```no_run
//! use pkgstage::Repository;
//!
//! let repo = Repository::open("/srv/repo")?;
//! for p in &repo.packages {
//!     println!("{} at {}", p.nevra(), p.location);
//!     for r in &p.requires {
//!         println!("  requires {r}{}", if r.pre { " (pre)" } else { "" });
//!     }
//! }
//! # Ok::<(), pkgstage::Error>(())
//! ```

mod error;
pub mod install;
pub mod repo;
pub mod resolve;
mod rpmdb;
pub mod signature;

pub use error::{Error, Result};
pub use repo::{
    Checksum, ChecksumAlgorithm, Comparison, Dependency, Evr, FileKind, Package, PackageFile,
    Repository,
};
