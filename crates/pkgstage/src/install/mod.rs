//! Packages unpacked into a root filesystem stream, without root: each
//! package's payload (a cpio archive, gzip, xz or zstd compressed) read
//! once, every file given the owner, group, mode, time, link target and
//! file capabilities its header records — owner names mapped through the
//! tree's own `/etc/passwd` and `/etc/group` as earlier packages install
//! them, as rpm does — and handed on as [`rootfs::Entry`] values,
//! the form `imgconv build` and a rootfs archive take. Payloads are
//! decompressed ahead on up to four threads; entries are handed on in
//! install order, so the result does not depend on the thread count.
//!
//! - Before any package is unpacked, each package file's checksum is
//!   checked against the repository's record, its digests against its
//!   bytes, and its signatures against the trusted keys
//!   ([`InstallOptions::gpg_check`], see [`crate::signature`]).
//! - `%ghost` files are not made (they are not in payloads); `%doc` files
//!   are left out when asked (rpm's `--excludedocs`).
//! - Directories a package does not own are made as rpm makes them (0755,
//!   root). A directory several packages own is made once; a file two
//!   packages own is made once when both have the same content, and is a
//!   conflict otherwise — unless they are ELF files of different colors
//!   (an x86_64 and an i686 multilib build): then the 64-bit one is made
//!   and the other recorded as the wrong color, as rpm resolves it.
//! - Hard links are kept as links.
//! - The rpm database, `var/lib/rpm/rpmdb.sqlite`, comes last: every
//!   package's header as rpm records an install (excluded docs recorded
//!   as not installed), so `rpm -qa` and `rpm -V` work on the tree.
//!
//! Scriptlets (`%pretrans`, `%pre`, `%post`, `%posttrans`, the install
//! package triggers `%triggerprein` and `%triggerin`, and the install file
//! triggers `%filetriggerin` and `%transfiletriggerin`) run as rpm
//! runs them, in rpm's order, inside an unprivileged sandbox whose `/` is
//! the tree (see [`scripts`](self#scriptlets)). A tree needs a directory
//! to run in, so when the packages have scriptlets they are unpacked into
//! a scratch tree first, the scriptlets run in it, and the tree is read
//! back as entries (see `stage`); when they have none, or
//! [`InstallOptions::no_scripts`] is set, entries stream straight from the
//! payloads. A `%pretrans` or `%pre` that fails stops the install, as rpm
//! leaves that package out; a later one that fails is a warning in the
//! report, as dnf reports it. `<lua>` scriptlets run in an embedded Lua
//! with rpm's extensions, every path resolved inside the tree, programs
//! they run in the sandbox (see `lua`, which lists what is supported).
//!
//! # Scriptlets
//!
//! A scriptlet runs in bubblewrap (`bwrap`): the caller is root in a new
//! user namespace and no other id exists there, so a scriptlet that gives
//! a file another owner fails; the network is cut off; `/dev` holds only
//! the usual devices and `/proc` is the sandbox's own. Its arguments are
//! rpm's for a first install (`1`; file triggers get `0`, as rpm 4.18
//! gives them, and the matching paths on standard input), its environment a clean one with `PATH`, `HOME`,
//! `LANG` and `SOURCE_DATE_EPOCH` (the build's time).

mod cpio;
mod lua;
pub(crate) mod owners;
mod payloads;
pub(crate) mod scripts;
pub use scripts::{NEEDS_BWRAP, NEEDS_USERNS};
pub(crate) mod stage;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use rootfs::{Entry, EntryKind};

use crate::error;
use crate::repo::compress::file_checksum;
use crate::repo::header::read_package_headers;
use crate::resolve::{Resolution, Source};
use crate::rpmdb::{self, Database, InstallTags};
use crate::signature::{verify_package, GpgCheck, Trust};
use crate::{Error, Result};
use scripts::{PackageScripts, Script};
use stage::Stage;

/// How to install.
#[derive(Clone, Debug, Default)]
pub struct InstallOptions {
    /// Leave out files marked `%doc` (rpm's `--excludedocs`).
    pub exclude_docs: bool,
    /// The languages of `%lang` files to install, as rpm's
    /// `%_install_langs` lists them (`en:de`, split at `:`): a file whose
    /// languages none of these begins with is left out and recorded as not
    /// installed, as rpm does; license files are always installed. Empty,
    /// or naming `all`, installs every language (rpm's default).
    pub install_langs: Vec<String>,
    /// Time of the directories made for files whose parents no package
    /// owns, and the install time the rpm database records (seconds since
    /// 1970).
    pub time: i64,
    /// Leave out the rpm database (`var/lib/rpm/rpmdb.sqlite`).
    pub no_rpmdb: bool,
    /// With `no_rpmdb`: list the packages the database would hold in
    /// `var/lib/rpmmanifest/container-manifest-1` (`rpm -qa`) and `-2`
    /// (name, version-release, install and build times, vendor, size,
    /// arch, epoch and source package, tab-separated), as Azure Linux's
    /// toolkit does when it removes the database, for scanners.
    pub rpm_manifests: bool,
    /// Where the rpm database is made before it is handed on (default:
    /// $TMPDIR).
    pub work_dir: Option<PathBuf>,
    /// The keys packages must be signed with, or no signature check
    /// (dnf's `gpgcheck`). The default, no keys, refuses every package.
    pub gpg_check: GpgCheck,
    /// Do not run scriptlets (rpm's `--noscripts`, with `--notriggers`):
    /// the report lists each one left out.
    pub no_scripts: bool,
}

/// A scriptlet the install ran or left out.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScriptletReport {
    /// The package, as name-version-release.arch.
    pub package: String,
    /// Which: `%pre`, `%post`, `%transfiletriggerin /usr/lib64`, ...
    pub scriptlet: String,
    /// `ran`, `skipped`, or `failed: exit status N`.
    pub outcome: String,
    /// What it wrote (standard output and error, the last 64 KiB).
    pub output: String,
}

/// What was installed.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct InstallReport {
    /// Packages unpacked.
    pub packages: usize,
    /// Entries handed on (files, directories, links, devices).
    pub entries: u64,
    /// Bytes of file data.
    pub bytes: u64,
    /// Things to know: owners that no passwd or group entry names,
    /// scriptlets that failed without stopping the install.
    pub notes: Vec<String>,
    /// Every scriptlet of the packages, in the order it ran or would have.
    pub scriptlets: Vec<ScriptletReport>,
}

/// Most bytes of /etc/passwd or /etc/group kept to map owner names.
const MAX_ID_FILE: u64 = 4 << 20;

/// rpm's file flags (`RPMFILE_*`).
const FLAG_DOC: u32 = 1 << 1;
const FLAG_GHOST: u32 = 1 << 6;
const FLAG_LICENSE: u32 = 1 << 7;

/// The header's record of one file.
struct HeaderFile {
    user: String,
    group: String,
    mtime: i64,
    flags: u32,
    /// Left out by the install options (`%doc`, `%lang`), as rpm's
    /// `skipInstallFiles` leaves it out.
    left_out: bool,
    digest: Option<String>,
    caps: Option<String>,
    linkto: String,
}

/// Unpacks the packages of `plan`, in its order, handing each entry (a
/// regular file's bytes after it) to `visit`.
pub fn install(
    sources: &[Source<'_>],
    plan: &Resolution,
    options: &InstallOptions,
    visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
) -> Result<InstallReport> {
    install_keeping(sources, plan, options, visit).map(|(report, _)| report)
}

/// [`install`], keeping the tree scriptlets ran in (when they ran) to hand
/// on again without running them again.
fn install_keeping(
    sources: &[Source<'_>],
    plan: &Resolution,
    options: &InstallOptions,
    visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
) -> Result<(InstallReport, Option<Staged>)> {
    let mut state = State {
        color_skips: HashMap::new(),
        users: [("root".to_string(), 0)].into(),
        groups: [("root".to_string(), 0)].into(),
        owners: HashMap::new(),
        dirs: HashSet::new(),
        unknown: HashSet::new(),
        report: InstallReport::default(),
        options: options.clone(),
        db: None,
    };
    let tscolor = transaction_color(sources, plan);
    if !options.no_rpmdb || options.rpm_manifests {
        let tags = InstallTags {
            // rpm's times are 32-bit; later ones it cannot record.
            time: u32::try_from(options.time).unwrap_or(0),
            color: tscolor,
        };
        state.db = Some(Database::create(options.work_dir.as_deref(), tags)?);
    }
    // Every package checked before any is unpacked.
    let mut checked = Vec::with_capacity(plan.packages.len());
    let mut untrusted = Vec::new();
    for chosen in &plan.packages {
        let repo = sources
            .get(chosen.source)
            .ok_or_else(|| error::unresolvable(format!("{} names no repository", chosen.nevra)))?
            .repo;
        let pkg = &repo.packages[chosen.index];
        let path = repo.package_path(pkg)?;
        let (hex, _) = file_checksum(&path, pkg.checksum.algorithm)?;
        if hex != pkg.checksum.hex {
            return Err(error::mismatch(
                &path,
                format_args!("package {} checksum", pkg.checksum.algorithm.name()),
                "repomd.xml",
                pkg.checksum.hex.clone(),
                hex,
            ));
        }
        let check = verify_package(&path, &options.gpg_check)?;
        for skipped in check.skipped {
            state
                .report
                .notes
                .push(format!("{}: {skipped}", chosen.nevra));
        }
        if let Trust::Untrusted(why) = check.trust {
            untrusted.push(format!("{} ({}): {why}", path.display(), chosen.nevra));
        }
        checked.push((path, chosen.nevra.as_str()));
    }
    if !untrusted.is_empty() {
        return Err(error::untrusted(
            untrusted,
            !matches!(&options.gpg_check, GpgCheck::Keys(k) if k.is_empty()),
        ));
    }
    let mut colored = Vec::new();
    let checked = checked
        .into_iter()
        .map(|(path, nevra)| {
            let headers = read_package_headers(&path)?;
            let scripts = PackageScripts::read(&path, &headers.meta)?;
            colored.push((nevra.to_string(), colored_files(&path, &headers.meta)?));
            Ok((path, nevra, scripts))
        })
        .collect::<Result<Vec<_>>>()?;
    state.color_skips = color_skips(&colored, tscolor);
    let paths: Vec<PathBuf> = checked.iter().map(|(p, _, _)| p.clone()).collect();
    std::thread::scope(|scope| {
        let mut payloads = payloads::Payloads::start(scope, &paths);
        state.unpack_all(&checked, &mut payloads, visit)
    })
}

impl State {
    /// Unpacks the checked packages (running their scriptlets unless
    /// told not to), then the rpm database.
    fn unpack_all(
        mut self,
        checked: &[(PathBuf, &str, PackageScripts)],
        payloads: &mut payloads::Payloads,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
    ) -> Result<(InstallReport, Option<Staged>)> {
        let state = &mut self;
        let options = state.options.clone();
        let has_scripts = checked.iter().any(|(_, _, s)| !s.all().is_empty());
        let mut kept = None;
        if options.no_scripts || !has_scripts {
            for (path, nevra, scripts) in checked {
                for s in scripts.all() {
                    state.report.scriptlets.push(ScriptletReport {
                        package: nevra.to_string(),
                        scriptlet: s.which.clone(),
                        outcome: "skipped".into(),
                        output: String::new(),
                    });
                }
                state.package(path, nevra, &mut payloads.next(), visit)?;
                state.report.packages += 1;
            }
        } else {
            let stage = state.stage_with_scripts(checked, payloads)?;
            let db = match state.db.take() {
                Some(db) => state.db_files(db)?,
                None => Vec::new(),
            };
            let mut staged = Staged {
                stage,
                db,
                time: options.time,
            };
            (state.report.entries, state.report.bytes) = staged.hand_on(visit)?;
            kept = Some(staged);
        }
        if let Some(db) = state.db.take() {
            state.write_rpmdb(db, visit)?;
        }
        let mut unknown: Vec<String> = std::mem::take(&mut state.unknown).into_iter().collect();
        unknown.sort();
        state.report.notes.extend(unknown);
        Ok((std::mem::take(&mut state.report), kept))
    }
}

/// A tree scriptlets ran in, with the rpm database made for it: what an
/// install with scriptlets hands on, as many times as it is asked.
struct Staged {
    stage: Stage,
    /// The rpm database, or the manifests in its place: path, file, length.
    db: Vec<(String, File, u64)>,
    time: i64,
}

impl Staged {
    /// Hands on the tree as the scriptlets left it, then the rpm
    /// database; returns the entries and bytes of files handed on.
    fn hand_on(
        &mut self,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
    ) -> Result<(u64, u64)> {
        let (mut entries, mut bytes) = (0u64, 0u64);
        let mut count = |e: &Entry| {
            entries += 1;
            if let EntryKind::File { len } = e.kind {
                bytes += len;
            }
        };
        let mut dirs = HashSet::new();
        let with_db = !self.db.is_empty();
        let ours: HashSet<String> = self.db.iter().map(|d| d.0.clone()).collect();
        self.stage.walk(self.time, &mut |e, d| {
            // The database (or the lists in its place) is the one made
            // here, not one a scriptlet left.
            if with_db && (e.path.starts_with(rpmdb::DB_PATH) || ours.contains(&e.path)) {
                return Ok(());
            }
            if e.kind == EntryKind::Dir {
                dirs.insert(e.path.clone());
            }
            count(e);
            visit(e, d)
        })?;
        for (path, file, len) in &mut self.db {
            for dir in rootfs::missing_parents(path, |d| dirs.contains(d)) {
                let entry = Entry::implied_dir(dir.clone(), self.time);
                dirs.insert(dir);
                count(&entry);
                visit(&entry, &mut io::empty())?;
            }
            file.seek(io::SeekFrom::Start(0))
                .map_err(|e| Error::file(path.as_str(), e))?;
            let entry = Entry {
                path: path.clone(),
                kind: EntryKind::File { len: *len },
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: self.time,
                xattrs: Vec::new(),
            };
            count(&entry);
            visit(&entry, &mut file.take(*len))?;
        }
        Ok((entries, bytes))
    }
}

/// Resolved packages as the entries of a root filesystem, for
/// `imgbuild::build_disk`: the packages stream into the file systems
/// without an archive or a directory between them.
pub struct PackageSource<'a> {
    /// The repositories.
    pub sources: &'a [Source<'a>],
    /// What to install, in order.
    pub plan: &'a Resolution,
    /// How.
    pub options: InstallOptions,
    /// What errors call the packages (the first repository).
    pub name: std::path::PathBuf,
    report: std::cell::RefCell<Option<InstallReport>>,
    /// The tree scriptlets ran in, for the next walk.
    staged: std::cell::RefCell<Option<Staged>>,
}

impl<'a> PackageSource<'a> {
    /// The packages of `plan` from `sources`.
    pub fn new(sources: &'a [Source<'a>], plan: &'a Resolution, options: InstallOptions) -> Self {
        let name = sources
            .first()
            .map(|s| s.repo.root.clone())
            .unwrap_or_else(|| "packages".into());
        PackageSource {
            sources,
            plan,
            options,
            name,
            report: std::cell::RefCell::new(None),
            staged: std::cell::RefCell::new(None),
        }
    }

    /// What the last walk installed.
    pub fn report(&self) -> Option<InstallReport> {
        self.report.borrow().clone()
    }
}

impl rootfs::EntrySource for PackageSource<'_> {
    fn name(&self) -> &Path {
        &self.name
    }

    fn walk(
        &self,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> rootfs::Result<()>,
    ) -> rootfs::Result<()> {
        // Scriptlets run once: a later walk (another output of the same
        // build) reads the tree they left. An error of the build (a file
        // system too small) comes back as it was.
        let mut staged = self.staged.borrow_mut();
        let report = match staged.as_mut() {
            Some(s) => s.hand_on(visit).map(|_| None)?,
            None => {
                let (report, kept) =
                    install_keeping(self.sources, self.plan, &self.options, visit)?;
                *staged = kept;
                Some(report)
            }
        };
        if report.is_some() {
            *self.report.borrow_mut() = report;
        }
        Ok(())
    }
}

struct State {
    /// Files not installed for their color ([`color_skips`]).
    color_skips: ColorSkips,
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
    /// Path → (package, content digest or None for a directory).
    owners: HashMap<String, (String, Option<String>)>,
    dirs: HashSet<String>,
    unknown: HashSet<String>,
    report: InstallReport,
    options: InstallOptions,
    db: Option<Database>,
}

/// The transaction color rpm records (`%_transaction_color`): 3 on the
/// 64-bit platforms that have 32-bit ones beside them, else 0; from the
/// packages made for a platform (a 64-bit one among them, where 32-bit
/// multilib packages come too), else this machine's.
fn transaction_color(sources: &[Source<'_>], plan: &Resolution) -> u32 {
    let wide = |arch: &str| {
        matches!(
            arch,
            "x86_64"
                | "amd64"
                | "aarch64"
                | "ppc64"
                | "ppc64le"
                | "ppc64p7"
                | "s390x"
                | "riscv64"
                | "loongarch64"
                | "sparc64"
                | "sparc64v"
        ) || arch.starts_with("mips64")
    };
    let mut arches = plan
        .packages
        .iter()
        .filter_map(|c| {
            Some(
                sources
                    .get(c.source)?
                    .repo
                    .packages
                    .get(c.index)?
                    .arch
                    .as_str(),
            )
        })
        .filter(|a| *a != "noarch")
        .peekable();
    let any_wide = match arches.peek() {
        None => wide(std::env::consts::ARCH),
        Some(_) => arches.any(wide),
    };
    if any_wide {
        3
    } else {
        0
    }
}

/// rpm's preferred file color where a 64-bit and a 32-bit package own one
/// path (`%_prefer_color`): 2, ELF64.
const PREFER_COLOR: u32 = 2;

/// The files rpm leaves out for their color, by package (`nevra`): where
/// packages of a 64-bit and a 32-bit architecture (x86_64 and i686
/// multilib) own one path with different files of different colors, the
/// preferred color's file is installed and the other is not, recorded as
/// the wrong color (rpm's `handleColorConflict`).
fn color_skips(colored: &[(String, Vec<ColoredFile>)], tscolor: u32) -> ColorSkips {
    let mut by_path: HashMap<&str, Vec<(usize, u32, &str)>> = HashMap::new();
    for (i, (_, files)) in colored.iter().enumerate() {
        for (path, color, content) in files {
            let color = color & tscolor;
            if color != 0 {
                by_path
                    .entry(path.as_str())
                    .or_default()
                    .push((i, color, content.as_str()));
            }
        }
    }
    let mut skips: ColorSkips = HashMap::new();
    for (path, owners) in by_path {
        for &(i, color, content) in &owners {
            let beaten = color & PREFER_COLOR == 0
                && owners.iter().any(|&(j, other, theirs)| {
                    j != i && other != color && other & PREFER_COLOR != 0 && theirs != content
                });
            if beaten {
                skips
                    .entry(colored[i].0.clone())
                    .or_default()
                    .insert(path.to_string());
            }
        }
    }
    skips
}

/// A file with a color: path, color and content (digest, or link target).
type ColoredFile = (String, u32, String);

/// Files left out for their color: package → absolute paths.
type ColorSkips = HashMap<String, HashSet<String>>;

impl State {
    /// For each of a package's files, whether the options leave it out:
    /// license files never; `%lang` files of languages not installed, and
    /// with `exclude_docs` `%doc` files, as rpm 4.18 leaves them out.
    fn left_out(
        &self,
        path: &Path,
        meta: &rpm::PackageMetadata,
        files: &[rpm::FileEntry],
    ) -> Result<Vec<bool>> {
        let langs = &self.options.install_langs;
        let flangs: &[String] = if langs.is_empty() {
            &[]
        } else {
            meta.header
                .get_entry_data_as_string_array(rpm::IndexTag::RPMTAG_FILELANGS)
                .unwrap_or(&[])
        };
        if !flangs.is_empty() && flangs.len() != files.len() {
            return Err(error::package(
                path,
                "RPMTAG_FILELANGS",
                None,
                format!("{} languages for {} files", flangs.len(), files.len()),
            ));
        }
        Ok(files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let flags = f.flags.bits();
                if flags & FLAG_LICENSE != 0 {
                    return false;
                }
                let lang = flangs.get(i).map_or("", String::as_str);
                !lang_wanted(langs, lang) || (self.options.exclude_docs && flags & FLAG_DOC != 0)
            })
            .collect())
    }

    fn id(&mut self, user: bool, name: &str) -> u32 {
        let map = if user { &self.users } else { &self.groups };
        if let Some(&id) = map.get(name) {
            return id;
        }
        self.unknown.insert(format!(
            "{} {name} is not in the tree's /etc/{}; its files belong to root",
            if user { "user" } else { "group" },
            if user { "passwd" } else { "group" }
        ));
        0
    }

    fn package(
        &mut self,
        path: &Path,
        nevra: &str,
        payload: &mut dyn Read,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
    ) -> Result<Vec<String>> {
        let bad = |field: &str, message: String| error::package(path, field, None, message);
        let mut installed = Vec::new();
        let headers = read_package_headers(path)?;
        let meta = &headers.meta;
        let files = meta
            .get_file_entries()
            .map_err(|e| bad("file list", e.to_string()))?;
        let skips = self.color_skips.remove(nevra).unwrap_or_default();
        let left_out = self.left_out(path, meta, &files)?;
        if let Some(db) = &mut self.db {
            // What the options leave out is not installed, for rpm.
            let states: Vec<u8> = files
                .iter()
                .zip(&left_out)
                .map(|(f, left_out)| {
                    if skips.contains(f.path.to_string_lossy().as_ref()) {
                        rpmdb::FILE_STATE_WRONG_COLOR
                    } else if *left_out {
                        rpmdb::FILE_STATE_NOT_INSTALLED
                    } else {
                        rpmdb::FILE_STATE_NORMAL
                    }
                })
                .collect();
            db.add(path, &headers.signature, &headers.header, &states)?;
        }
        let mut by_path: HashMap<String, HeaderFile> = HashMap::with_capacity(files.len());
        for (f, left_out) in files.into_iter().zip(left_out) {
            let p = f.path.to_string_lossy().into_owned();
            // File triggers see %ghost files (never in a payload), as rpm's do.
            if f.flags.bits() & FLAG_GHOST != 0 {
                installed.push(p.clone());
            }
            by_path.insert(
                p,
                HeaderFile {
                    user: f.ownership.user,
                    group: f.ownership.group,
                    mtime: i64::from(f.modified_at.0),
                    flags: f.flags.bits(),
                    left_out,
                    digest: f.digest.map(|d| d.as_hex().to_string()),
                    caps: f.caps.filter(|c| !c.is_empty()),
                    linkto: f.linkto,
                },
            );
        }
        let mut cpio = cpio::Reader::new(payload);
        // Hard links: members of one inode before the one carrying data.
        let mut links: HashMap<u32, Vec<(String, Entry)>> = HashMap::new();
        let payload_err = |e: io::Error| bad("payload", e.to_string());
        while let Some(m) = cpio.next_member().map_err(payload_err)? {
            // Payload names are `./usr/bin/x` (or `/usr/bin/x`); one that
            // leaves the root (`../`) or is not UTF-8 is refused, as the
            // tree must never hold it.
            let rel = rootfs::normalize(m.name.trim_start_matches('/').as_bytes())
                .map_err(|why| bad("payload", format!("member {:?}: {why}", m.name)))?;
            let abs = format!("/{rel}");
            let Some(hf) = by_path.get(&abs) else {
                return Err(bad(
                    "payload",
                    format!("{abs} is in the payload but not in the header's file list"),
                ));
            };
            if hf.flags & FLAG_GHOST != 0 || hf.left_out || skips.contains(&abs) {
                // A member left out that carries a hard-link set's data
                // hands it to the members kept before it, as rpm installs
                // a partial hard-link set.
                if m.nlink > 1 && m.mode & 0o170000 == 0o100000 && m.size > 0 {
                    let mut held = links.remove(&m.ino).unwrap_or_default().into_iter();
                    if let Some((first, mut e)) = held.next() {
                        e.kind = EntryKind::File { len: m.size };
                        self.emit(&e, &mut cpio.data(), visit)?;
                        for (_, mut e) in held {
                            e.kind = EntryKind::HardLink {
                                target: first.clone(),
                            };
                            self.emit(&e, &mut io::empty(), visit)?;
                        }
                    }
                }
                continue;
            }
            installed.push(abs.clone());
            let kind = match m.mode & 0o170000 {
                0o040000 => EntryKind::Dir,
                0o100000 => EntryKind::File { len: m.size },
                0o120000 => EntryKind::Symlink {
                    target: hf.linkto.clone(),
                },
                0o020000 => EntryKind::Char {
                    major: m.rdev.0,
                    minor: m.rdev.1,
                },
                0o060000 => EntryKind::Block {
                    major: m.rdev.0,
                    minor: m.rdev.1,
                },
                0o010000 => EntryKind::Fifo,
                _ => continue,
            };
            let mut xattrs = Vec::new();
            if let Some(text) = &hf.caps {
                let value = capability_xattr(text)
                    .map_err(|why| bad("RPMTAG_FILECAPS", format!("{abs}: {why}")))?;
                xattrs.push(("security.capability".to_string(), value));
            }
            // An owner the tree does not know becomes root, and the file
            // loses the set-id bit it had for that owner, as rpm does.
            let mut mode = m.mode & 0o7777;
            let uid = self.id(true, &hf.user);
            if uid == 0 && hf.user != "root" && !self.users.contains_key(&hf.user) {
                mode &= !0o4000;
            }
            let gid = self.id(false, &hf.group);
            if gid == 0 && hf.group != "root" && !self.groups.contains_key(&hf.group) {
                mode &= !0o2000;
            }
            let entry = Entry {
                path: rel.clone(),
                kind,
                mode,
                uid,
                gid,
                mtime: hf.mtime,
                xattrs,
            };
            // Who owns the path already.
            let digest = match entry.kind {
                EntryKind::Dir => None,
                _ => Some(hf.digest.clone().unwrap_or_else(|| hf.linkto.clone())),
            };
            if let Some((other, theirs)) = self.owners.get(&rel) {
                if digest.is_none() && theirs.is_none() || digest == *theirs {
                    continue;
                }
                return Err(error::unresolvable(format!(
                    "{abs} of {nevra} conflicts with the file of {other}"
                )));
            }
            self.owners.insert(rel.clone(), (nevra.to_string(), digest));
            self.parents(&rel, visit)?;
            if entry.kind == EntryKind::Dir {
                self.dirs.insert(rel.clone());
            }
            // A hard-link set's data comes with its last member.
            if m.nlink > 1 && matches!(entry.kind, EntryKind::File { .. }) {
                let group = links.entry(m.ino).or_default();
                if m.size == 0 && (group.len() as u32) + 1 < m.nlink {
                    group.push((rel, entry));
                    continue;
                }
                let earlier = std::mem::take(group);
                self.emit(&entry, &mut cpio.data(), visit)?;
                for (_, mut e) in earlier {
                    e.kind = EntryKind::HardLink {
                        target: rel.clone(),
                    };
                    self.emit(&e, &mut io::empty(), visit)?;
                }
                continue;
            }
            let watch = matches!(rel.as_str(), "etc/passwd" | "etc/group");
            if watch {
                let mut bytes = Vec::new();
                cpio.data()
                    .take(MAX_ID_FILE)
                    .read_to_end(&mut bytes)
                    .map_err(payload_err)?;
                self.emit(&entry, &mut bytes.as_slice(), visit)?;
                self.learn_ids(rel == "etc/passwd", &bytes);
            } else {
                self.emit(&entry, &mut cpio.data(), visit)?;
            }
        }
        // Hard-link sets whose members all came empty.
        let mut left: Vec<_> = links.into_values().filter(|g| !g.is_empty()).collect();
        left.sort_by(|a, b| a[0].0.cmp(&b[0].0));
        for group in left {
            let mut it = group.into_iter();
            if let Some((first, e)) = it.next() {
                self.emit(&e, &mut io::empty(), visit)?;
                for (_, mut e) in it {
                    e.kind = EntryKind::HardLink {
                        target: first.clone(),
                    };
                    self.emit(&e, &mut io::empty(), visit)?;
                }
            }
        }
        installed.sort();
        Ok(installed)
    }

    /// Installs the checked packages into a scratch tree, running their
    /// scriptlets in rpm's order.
    fn stage_with_scripts(
        &mut self,
        checked: &[(PathBuf, &str, PackageScripts)],
        payloads: &mut payloads::Payloads,
    ) -> Result<Stage> {
        scripts::check_sandbox()?;
        if let Err(e) = owners::available() {
            self.report.notes.push(format!(
                "a scriptlet's chown to another owner fails here: \
                 recording it needs seccomp user notification ({e})"
            ));
        }
        let mut stage = Stage::new(self.options.work_dir.as_deref())?;
        let one = ["1".to_string()];
        // rpm 4.18 gives file triggers 0 as their argument.
        let zero = ["0".to_string()];
        for (_, nevra, s) in checked {
            if let Some(script) = &s.pretrans {
                self.run_script(&mut stage, nevra, script, &one, &[], true)?;
            }
        }
        // rpm's first argument: how many packages of the name there are
        // once this one is installed (two for the second of a multilib
        // pair); at %posttrans, once all are.
        let count = |upto: usize, name: &str| {
            let n = checked[..upto]
                .iter()
                .filter(|(_, _, s)| s.name == name)
                .count();
            [n.to_string()]
        };
        let mut files: Vec<Vec<String>> = Vec::with_capacity(checked.len());
        for (i, (path, nevra, s)) in checked.iter().enumerate() {
            let now = count(i + 1, &s.name);
            self.package_triggers(&mut stage, checked, i, scripts::SENSE_TRIGGERPREIN)?;
            if let Some(script) = &s.pre {
                self.run_script(&mut stage, nevra, script, &now, &[], true)?;
            }
            // A failure writing the scratch tree names the package and entry.
            files.push(
                self.package(path, nevra, &mut payloads.next(), &mut |e, d| {
                    stage.write(e, d).map_err(|err| {
                        error::package(path, "payload", None, format!("/{}: {err}", e.path))
                    })
                })?,
            );
            self.report.packages += 1;
            // As rpm 4.18: file triggers of priority 10000 and up, then
            // %post, then the rest.
            self.file_triggers(&mut stage, checked, &files, true)?;
            if let Some(script) = &s.post {
                self.run_script(&mut stage, nevra, script, &now, &[], false)?;
            }
            self.package_triggers(&mut stage, checked, i, scripts::SENSE_TRIGGERIN)?;
            self.file_triggers(&mut stage, checked, &files, false)?;
        }
        for (_, nevra, s) in checked {
            if let Some(script) = &s.posttrans {
                let all = count(checked.len(), &s.name);
                self.run_script(&mut stage, nevra, script, &all, &[], false)?;
            }
        }
        // Each package's transaction file triggers in install order, by
        // priority within a package, on every file installed.
        for (_, nevra, s) in checked {
            let mut due: Vec<&scripts::FileTrigger> = s.trans_file_triggers.iter().collect();
            due.sort_by_key(|t| std::cmp::Reverse(t.priority));
            for t in due {
                let matched: Vec<&str> =
                    files.iter().flat_map(|f| t.matches_installed(f)).collect();
                if !matched.is_empty() {
                    let input = stdin_paths(&matched);
                    self.run_script(&mut stage, nevra, &t.script, &zero, &input, false)?;
                }
            }
        }
        Ok(stage)
    }

    /// The package triggers (`%triggerprein` before its `%pre`, `%triggerin`
    /// after its `%post`, by `sense`) the install of package `i` sets off,
    /// as rpm runs them: first those of the installed packages (itself
    /// included once it is installed) naming it, then its own naming
    /// installed packages; each with the number of packages of the
    /// trigger's own name and of the setting-off name installed.
    fn package_triggers(
        &mut self,
        stage: &mut Stage,
        checked: &[(PathBuf, &str, PackageScripts)],
        i: usize,
        sense: u32,
    ) -> Result<()> {
        let installed = &checked[..if sense == scripts::SENSE_TRIGGERIN {
            i + 1
        } else {
            i
        }];
        let count = |name: &str| {
            installed
                .iter()
                .filter(|(_, _, s)| s.name == name)
                .count()
                .to_string()
        };
        let fatal = sense == scripts::SENSE_TRIGGERPREIN;
        let me = &checked[i].2;
        // Others' triggers this package sets off.
        for (_, nevra, other) in installed {
            if let Some(k) = other.triggers.set_off_by(sense, me) {
                let args = [count(&other.name), count(&me.name)];
                self.run_script(stage, nevra, &other.triggers.scripts[k], &args, &[], fatal)?;
            }
        }
        // Its own, set off by installed packages.
        let mut ran = vec![false; me.triggers.scripts.len()];
        for on in &me.triggers.on {
            if ran[on.script] {
                continue;
            }
            let sources: Vec<&PackageScripts> = installed
                .iter()
                .map(|(_, _, s)| s)
                .filter(|s| s.name == on.name)
                .collect();
            for source in &sources {
                if let Some(k) = me.triggers.set_off_by(sense, source) {
                    if !ran[k] {
                        ran[k] = true;
                        let args = [count(&me.name), sources.len().to_string()];
                        let nevra = checked[i].1;
                        self.run_script(stage, nevra, &me.triggers.scripts[k], &args, &[], fatal)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The file triggers (`%filetriggerin`) the last of `files` sets off,
    /// those of priority 10000 and up when `before_post`, else the rest:
    /// first those of every installed package its files match (itself
    /// included), then its own on the files of the packages before it;
    /// higher priorities first.
    fn file_triggers(
        &mut self,
        stage: &mut Stage,
        checked: &[(PathBuf, &str, PackageScripts)],
        files: &[Vec<String>],
        before_post: bool,
    ) -> Result<()> {
        let zero = ["0".to_string()];
        let i = files.len() - 1;
        let mut due: Vec<(u32, usize, &scripts::FileTrigger, Vec<&str>)> = Vec::new();
        for (j, (_, _, other)) in checked.iter().enumerate().take(i + 1) {
            for t in other
                .file_triggers
                .iter()
                .filter(|t| t.before_post() == before_post)
            {
                let matched = t.matches(&files[i]);
                if !matched.is_empty() {
                    due.push((t.priority, j, t, matched));
                }
            }
        }
        due.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut own: Vec<(u32, usize, &scripts::FileTrigger, Vec<&str>)> = Vec::new();
        for t in checked[i]
            .2
            .file_triggers
            .iter()
            .filter(|t| t.before_post() == before_post)
        {
            let matched: Vec<&str> = files[..i]
                .iter()
                .flat_map(|f| t.matches_installed(f))
                .collect();
            if !matched.is_empty() {
                own.push((t.priority, i, t, matched));
            }
        }
        own.sort_by_key(|t| std::cmp::Reverse(t.0));
        for (_, j, t, matched) in due.into_iter().chain(own) {
            let input = stdin_paths(&matched);
            self.run_script(stage, checked[j].1, &t.script, &zero, &input, false)?;
        }
        Ok(())
    }

    /// Runs one scriptlet in the scratch tree and reports it; a failure
    /// is an error when `fatal`, else a note.
    fn run_script(
        &mut self,
        stage: &mut Stage,
        nevra: &str,
        script: &Script,
        args: &[String],
        stdin: &[u8],
        fatal: bool,
    ) -> Result<()> {
        stage.before_sandbox();
        let outcome = scripts::run(
            stage.root(),
            stage.scratch(),
            script,
            args,
            stdin,
            self.options.time,
            stage.owners(),
        )?;
        // A scriptlet may have added users or groups.
        for (users, file) in [(true, "etc/passwd"), (false, "etc/group")] {
            if let Some(bytes) = stage.read(file, MAX_ID_FILE) {
                self.learn_ids(users, &bytes);
            }
        }
        let ok = outcome.ok();
        self.report.scriptlets.push(ScriptletReport {
            package: nevra.to_string(),
            scriptlet: script.which.clone(),
            outcome: if ok {
                "ran".into()
            } else {
                format!("failed: {}", outcome.describe())
            },
            output: outcome.output.clone(),
        });
        if ok {
            return Ok(());
        }
        let what = format!(
            "{} scriptlet of {nevra} failed, {}",
            script.which,
            outcome.describe()
        );
        let output = if outcome.output.trim().is_empty() {
            "(no output)".to_string()
        } else {
            outcome.output.trim_end().to_string()
        };
        if fatal {
            return Err(error::scriptlet(format!(
                "{what}; the package cannot be installed. Its output:\n{output}"
            )));
        }
        self.report.notes.push(format!(
            "{what}; going on, as dnf does. Its output:\n{output}"
        ));
        Ok(())
    }

    fn emit(
        &mut self,
        entry: &Entry,
        data: &mut dyn Read,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        if let EntryKind::File { len } = entry.kind {
            self.report.bytes += len;
        }
        self.report.entries += 1;
        visit(entry, data)
    }

    /// The rpm database as files to hand on: the database, or the
    /// manifests in its place when it is left out.
    fn db_files(&self, db: Database) -> Result<Vec<(String, File, u64)>> {
        if !self.options.no_rpmdb {
            self.db_path_free(rpmdb::DB_PATH)?;
            let (file, len) = db.finish()?;
            return Ok(vec![(rpmdb::DB_PATH.to_string(), file, len)]);
        }
        let dir = self
            .options
            .work_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let mut files = Vec::new();
        for (path, text) in rpmdb::MANIFESTS.iter().zip(db.manifests()) {
            self.db_path_free(path)?;
            let mut file = tempfile::tempfile_in(&dir).map_err(|e| Error::file(&dir, e))?;
            io::Write::write_all(&mut file, text.as_bytes()).map_err(|e| Error::file(&dir, e))?;
            files.push((path.to_string(), file, text.len() as u64));
        }
        Ok(files)
    }

    /// Hands on the rpm database (or the manifests in its place), and the
    /// directories they go in that no package made.
    fn write_rpmdb(
        &mut self,
        db: Database,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        for (path, mut file, len) in self.db_files(db)? {
            self.parents(&path, visit)?;
            file.seek(io::SeekFrom::Start(0))
                .map_err(|e| Error::file(path.as_str(), e))?;
            let entry = Entry {
                path,
                kind: EntryKind::File { len },
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: self.options.time,
                xattrs: Vec::new(),
            };
            self.emit(&entry, &mut file, visit)?;
        }
        Ok(())
    }

    /// Refuses a package that owns the rpm database's path.
    fn db_path_free(&self, path: &str) -> Result<()> {
        match self.owners.get(path) {
            Some((owner, _)) => Err(error::unresolvable(format!(
                "/{path} of {owner} is where the rpm database (or the package list in its \
                 place) goes"
            ))),
            None => Ok(()),
        }
    }

    /// Makes the parent directories of `rel` no package has made yet.
    fn parents(
        &mut self,
        rel: &str,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        let missing = rootfs::missing_parents(rel, |d| self.dirs.contains(d));
        for dir in missing {
            self.dirs.insert(dir.clone());
            let entry = Entry::implied_dir(dir, self.options.time);
            self.emit(&entry, &mut io::empty(), visit)?;
        }
        Ok(())
    }

    /// Learns user or group ids from a passwd or group file's lines.
    fn learn_ids(&mut self, users: bool, bytes: &[u8]) {
        let map = if users {
            &mut self.users
        } else {
            &mut self.groups
        };
        for (name, id) in id_lines(bytes) {
            map.insert(name.to_string(), id);
        }
    }
}

/// The names and ids of an `/etc/passwd` or `/etc/group` file.
fn id_lines(bytes: &[u8]) -> impl Iterator<Item = (&str, u32)> {
    bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| std::str::from_utf8(line).ok())
        .filter_map(|line| {
            let mut f = line.split(':');
            let (name, _, id) = (f.next()?, f.next()?, f.next()?);
            Some((name, id.parse().ok()?))
        })
}

/// Whether a file of languages `flangs` (`RPMTAG_FILELANGS`: `|`-separated,
/// empty for none) is installed under `langs` (`%_install_langs`, split),
/// as rpm 4.18's `skipInstallFiles` decides: a file language matches when
/// a listed language begins with it (`en` matches `en_US`).
fn lang_wanted(langs: &[String], flangs: &str) -> bool {
    if langs.is_empty() || langs.iter().any(|l| l == "all") || flangs.is_empty() {
        return true;
    }
    langs.iter().any(|lang| {
        flangs
            .split('|')
            .any(|l| !l.is_empty() && lang.as_bytes().starts_with(l.as_bytes()))
    })
}

/// A package's files that have a color.
fn colored_files(path: &Path, meta: &rpm::PackageMetadata) -> Result<Vec<ColoredFile>> {
    let colors = match meta
        .header
        .get_entry_data_as_u32_array(rpm::IndexTag::RPMTAG_FILECOLORS)
    {
        Ok(c) => c,
        Err(_) => return Ok(Vec::new()),
    };
    if colors.iter().all(|c| *c == 0) {
        return Ok(Vec::new());
    }
    let files = meta
        .get_file_entries()
        .map_err(|e| error::package(path, "file list", None, e.to_string()))?;
    if files.len() != colors.len() {
        return Err(error::package(
            path,
            "RPMTAG_FILECOLORS",
            None,
            format!("{} colors for {} files", colors.len(), files.len()),
        ));
    }
    Ok(files
        .into_iter()
        .zip(colors)
        .filter(|(f, c)| *c != 0 && f.flags.bits() & FLAG_GHOST == 0)
        .map(|(f, c)| {
            let content = f.digest.map(|d| d.as_hex().to_string()).unwrap_or(f.linkto);
            (f.path.to_string_lossy().into_owned(), c, content)
        })
        .collect())
}

/// Paths for a file trigger's standard input, one per line.
fn stdin_paths(paths: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in paths {
        out.extend_from_slice(p.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The payload, decompressed as the header's `RPMTAG_PAYLOADCOMPRESSOR` says.
pub(crate) fn decompress<'a>(
    path: &Path,
    compressor: rpm::CompressionType,
    raw: impl io::BufRead + 'a,
) -> Result<Box<dyn Read + 'a>> {
    Ok(match compressor {
        rpm::CompressionType::None => Box::new(raw),
        rpm::CompressionType::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        rpm::CompressionType::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(raw)),
        rpm::CompressionType::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| Error::file(path, e))?,
        ),
        other => {
            return Err(error::package(
                path,
                "RPMTAG_PAYLOADCOMPRESSOR",
                None,
                format!("{other} payloads are not supported"),
            ))
        }
    })
}

/// `%_install_langs` split as rpm splits it: at `:`, empty parts dropped.
pub fn split_langs(langs: &str) -> Vec<String> {
    langs
        .split(':')
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Reads any bytes as a package file — lead and headers checked as every
/// package is — and its install scriptlets, triggers and file colors,
/// counting them: the header readers' work on untrusted bytes, for the
/// fuzz target.
#[doc(hidden)]
pub fn read_scriptlets(data: &[u8]) -> usize {
    use std::io::Write;
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return 0;
    };
    if file.write_all(data).is_err() {
        return 0;
    }
    let Ok(headers) = read_package_headers(file.path()) else {
        return 0;
    };
    let scripts = PackageScripts::read(file.path(), &headers.meta).map_or(0, |s| s.all().len());
    scripts + colored_files(file.path(), &headers.meta).map_or(0, |c| c.len())
}

/// `rpm.expand` of Lua scriptlets over the standard macros, for the fuzz
/// target: None when too long or too deep.
#[doc(hidden)]
pub fn expand_macros(text: &str) -> Option<String> {
    lua::expand_standard(text)
}

/// Reads a payload cpio stream to its end, every member's data too — the
/// payload reader's whole work on untrusted bytes, for the fuzz target.
#[doc(hidden)]
pub fn read_payload_cpio(data: impl Read) -> io::Result<u64> {
    let mut r = cpio::Reader::new(data);
    let mut members = 0;
    while let Some(_m) = r.next_member()? {
        io::copy(&mut r.data(), &mut io::sink())?;
        members += 1;
    }
    Ok(members)
}

/// Capability names by number, as libcap spells them (Linux 6.x).
const CAPS: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// The `security.capability` value (VFS_CAP_REVISION_2) of a capability
/// text as rpm's header holds it (`cap_net_raw=ep`, `cap_a,cap_b+ep`,
/// `=ep` for all).
pub fn capability_xattr(text: &str) -> std::result::Result<Vec<u8>, String> {
    let (mut permitted, mut inheritable, mut effective) = (0u64, 0u64, false);
    for clause in text.split_whitespace() {
        let at = clause
            .find(['=', '+', '-'])
            .ok_or_else(|| format!("{clause:?} has no operator"))?;
        let (names, ops) = clause.split_at(at);
        let mut set = 0u64;
        if names.is_empty() || names == "all" {
            set = (1u64 << CAPS.len()) - 1;
        } else {
            for name in names.split(',') {
                let bit = CAPS
                    .iter()
                    .position(|c| c.eq_ignore_ascii_case(name))
                    .ok_or_else(|| format!("unknown capability {name:?}"))?;
                set |= 1 << bit;
            }
        }
        let mut op = ' ';
        for c in ops.chars() {
            match c {
                '=' | '+' | '-' => {
                    if c == '=' {
                        permitted &= !set;
                        inheritable &= !set;
                    }
                    op = c;
                }
                'p' | 'i' | 'e' => {
                    let add = op != '-';
                    let target = match c {
                        'p' => &mut permitted,
                        'i' => &mut inheritable,
                        _ => {
                            effective = add;
                            continue;
                        }
                    };
                    if add {
                        *target |= set;
                    } else {
                        *target &= !set;
                    }
                }
                other => return Err(format!("{clause:?}: unknown flag {other:?}")),
            }
        }
    }
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&(0x0200_0000u32 | u32::from(effective)).to_le_bytes());
    out.extend_from_slice(&(permitted as u32).to_le_bytes());
    out.extend_from_slice(&(inheritable as u32).to_le_bytes());
    out.extend_from_slice(&((permitted >> 32) as u32).to_le_bytes());
    out.extend_from_slice(&((inheritable >> 32) as u32).to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_as_setcap_writes_them() {
        // setcap cap_net_raw=ep: revision 2, effective, permitted bit 13.
        assert_eq!(
            capability_xattr("cap_net_raw=ep").as_deref(),
            Ok(&[1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..])
        );
        let v = capability_xattr("cap_net_admin,cap_net_raw+p").unwrap_or_default();
        assert_eq!(v[0], 0);
        assert_eq!(
            u32::from_le_bytes([v[4], v[5], v[6], v[7]]),
            (1 << 12) | (1 << 13)
        );
        assert!(capability_xattr("cap_nosuch=ep").is_err());
    }
}
