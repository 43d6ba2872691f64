//! The package stage: RPM packages to a root filesystem, without root.
//!
//! The first of imgconv's stages. Local RPM repositories ([`repo`]:
//! `repodata/` as `createrepo_c` writes it, or a directory of `.rpm` files)
//! are read into one package list; [`resolve`] picks what to install as dnf
//! does for an empty root; [`install`] checks each package ([`signature`]:
//! its digests and OpenPGP signatures, as `rpm -K`), unpacks its payload as
//! `rpm --root -i` lays the files out, runs its scriptlets and triggers in
//! an unprivileged sandbox, writes the rpm database as rpm 4.18 does, and
//! hands the tree on as a stream of entries in the root filesystem model
//! (the `rootfs` crate): into a tar archive, or straight into the disk
//! stage's file systems. It knows nothing of disks. Packages and metadata
//! are untrusted input: checksums and signatures are verified, locations
//! kept inside the repository, paths inside the root, and every size and
//! count checked before it is used.
//!
//! # Example
//!
//! ```no_run
//! use pkgstage::install::{install, InstallOptions};
//! use pkgstage::resolve::{resolve, Request, Source};
//! use pkgstage::signature::{GpgCheck, Keyring};
//! use pkgstage::Repository;
//!
//! let repo = Repository::open("/srv/repo")?;
//! let sources = [Source { repo: &repo, priority: 99 }];
//! let plan = resolve(&sources, &Request::new(["bash", "coreutils"]))?;
//! let options = InstallOptions {
//!     gpg_check: GpgCheck::Keys(Keyring::load(&["RPM-GPG-KEY"])?),
//!     ..Default::default()
//! };
//! let mut tar = rootfs::TarWriter::new(std::fs::File::create("rootfs.tar")?);
//! install(&sources, &plan, &options, &mut |entry, data| {
//!     tar.append(&entry.path, entry, data)
//!         .map_err(|e| pkgstage::Error::file("rootfs.tar", e))
//! })?;
//! tar.finish()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
pub mod install;
pub mod repo;
pub mod resolve;
mod rpmdb;
pub mod sandbox;
pub mod signature;

pub use error::{Error, ErrorKind, Mismatch, Result, Unresolved, Untrusted};
pub use repo::{
    Checksum, ChecksumAlgorithm, Comparison, Dependency, Evr, FileKind, Package, PackageFile,
    Repository,
};
