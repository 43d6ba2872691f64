//! The image's tree: the source with everything the configuration changes
//! in it, made once and read by every output.
//!
//! [`Customized`] is what the disk, the tree formats and the live ISO are
//! made from, so that a change is written once whichever output reads it:
//! the files the build changes from what the tree holds ([`crate::edit`]),
//! the files it writes whole (the host name, the additional files, the
//! rpm macros the packages were installed with), placed through the
//! tree's own symbolic links, the systemd units enabled and disabled
//! ([`crate::services`]), and then the configuration's scripts. The
//! scripts run as the toolkit and Image Customizer run them: in the tree
//! as its root, after every other change, in the configuration's order,
//! those that finalize the image last. They run in the package stage's
//! sandbox ([`pkgstage::sandbox`]): the tree is written to a scratch
//! directory once, the scripts change it there, and every output reads
//! what they left. Without scripts the tree is streamed, never copied.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use pkgstage::sandbox::Tree;

use crate::config::{FileSource, ImageConfig, ScriptStage, SelinuxMode};
use crate::disk::{file_entry, resolve_parents};
use crate::edit::SELINUX_CONFIG;
use crate::edit::{edits, Edited};
use crate::error;
use crate::rootfs::{Entry, EntryKind, EntrySource};
use crate::selinux::{FileContexts, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG};
use crate::{Error, ErrorKind, Result};

/// Lines of a failed script's output its error quotes.
const TAIL_LINES: usize = 20;

/// A script the configuration ran, and what it wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RanScript {
    /// Its name in the configuration's logs (its path, or its `name`).
    pub name: String,
    /// What it wrote to standard output and standard error (the end of
    /// it, when long).
    pub output: String,
}

/// `source` with `config`'s changes made: the tree every output is made
/// from.
pub struct Customized<'a> {
    config: &'a ImageConfig,
    inner: &'a dyn EntrySource,
    time: i64,
    generated: Vec<(String, Entry, Vec<u8>)>,
    /// The configuration's groups and users, applied to the edited tree.
    accounts: Option<crate::accounts::Plan>,
    /// The tree the scripts ran in, and the source's root directory
    /// (which a scratch tree does not hand back).
    ran: Option<(Tree, Option<Entry>)>,
    scripts: Vec<RanScript>,
    /// The tree's own file contexts, when every file is labelled.
    labels: Option<FileContexts>,
}

impl<'a> Customized<'a> {
    /// The tree `config` makes of `source`; `time` is the build's (the
    /// time of what it writes). The configuration's scripts, if any, run
    /// now, in a scratch tree under `work_dir` (default: $TMPDIR); one
    /// that fails is an error naming it, its exit status and the end of
    /// its output. With an SELinux mode that labels, the tree is written
    /// there too, and every file is labelled from the tree's own policy
    /// as it is read (`security.selinux`, as `setfiles` sets it).
    pub fn new(
        config: &'a ImageConfig,
        source: &'a dyn EntrySource,
        time: i64,
        work_dir: Option<&Path>,
    ) -> Result<Customized<'a>> {
        let mut tree = Customized {
            config,
            inner: source,
            time,
            generated: generated_files(config, time)?,
            accounts: None,
            ran: None,
            scripts: Vec::new(),
            labels: None,
        };
        if !config.groups.is_empty() || !config.users.is_empty() {
            let edited = Edited {
                inner: source,
                edits: edits(config),
                time,
            };
            tree.accounts = Some(crate::accounts::Plan::new(config, &edited, time)?);
        }
        let labels = config.selinux.is_some_and(SelinuxMode::labels);
        if !config.scripts.is_empty() || labels {
            tree.materialize(work_dir, labels)?;
        }
        Ok(tree)
    }

    /// The configuration the tree was made for.
    pub fn config(&self) -> &ImageConfig {
        self.config
    }

    /// The scripts that ran, in order.
    pub fn scripts(&self) -> &[RanScript] {
        &self.scripts
    }

    /// The files the build writes whole (path, entry, bytes).
    pub(crate) fn generated(&self) -> &[(String, Entry, Vec<u8>)] {
        &self.generated
    }

    /// The tree written to a scratch directory, the scripts run in it,
    /// and the policy read from it when files are labelled.
    fn materialize(&mut self, work_dir: Option<&Path>, labels: bool) -> Result<()> {
        let scripts = !self.config.scripts.is_empty();
        let mut tree = Tree::new(work_dir, self.time, scripts)?;
        let mut root = None;
        let mut dirs: HashSet<String> = HashSet::new();
        self.stream(&mut |entry, data| {
            if entry.path.is_empty() {
                root = Some(entry.clone());
                return Ok(());
            }
            // A parent an archive leaves out is made, as an unpacker
            // makes it.
            for dir in crate::rootfs::missing_parents(&entry.path, |d| dirs.contains(d)) {
                tree.add(
                    &Entry::implied_dir(dir.clone(), entry.mtime),
                    &mut std::io::empty(),
                )?;
                dirs.insert(dir);
            }
            if entry.kind == EntryKind::Dir {
                dirs.insert(entry.path.clone());
            }
            tree.add(entry, data)
        })?;
        let order = [ScriptStage::PostCustomization, ScriptStage::Finalize];
        for stage in order {
            for script in self.config.scripts.iter().filter(|s| s.stage == stage) {
                let outcome = tree.run(&script.program)?;
                if !outcome.ok() {
                    let lines: Vec<&str> = outcome.output.lines().collect();
                    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
                    let said = if tail.trim().is_empty() {
                        "; it wrote nothing".to_string()
                    } else {
                        format!("; its output ends:\n{tail}")
                    };
                    return Err(Error::new(
                        ErrorKind::Failed,
                        "",
                        format!(
                            "script {} failed ({}){said}",
                            script.program.name,
                            outcome.describe()
                        ),
                    )
                    .path(&self.config.source)
                    .field(script.field.clone()));
                }
                self.scripts.push(RanScript {
                    name: script.program.name.clone(),
                    output: outcome.output,
                });
            }
        }
        if labels {
            self.labels = Some(file_contexts(&tree)?);
        }
        self.ran = Some((tree, root));
        Ok(())
    }

    /// The source with every change but the scripts made: the files'
    /// ([`Self::files`]), then the services'.
    fn stream(&self, visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>) -> Result<()> {
        if self.config.services.is_empty() {
            return self.files(visit);
        }
        crate::services::walk(
            &self.config.services,
            &self.config.source,
            self.time,
            &mut |v| self.files(v),
            visit,
        )
    }

    /// The source with the edits made, the groups and users
    /// ([`crate::accounts`]), and the generated files in place: every
    /// entry but those a generated file replaces, then the generated
    /// files (through the tree's symbolic links, a missing parent made
    /// first, root's, 0755), then hard links to them.
    fn files(&self, visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>) -> Result<()> {
        let edited = Edited {
            inner: self.inner,
            edits: edits(self.config),
            time: self.time,
        };
        let tree = |v: &mut dyn FnMut(&Entry, &mut dyn Read) -> Result<()>| match &self.accounts {
            Some(plan) => plan.walk(&mut |v| edited.walk(v), v),
            None => edited.walk(v),
        };
        if self.generated.is_empty() {
            return tree(visit);
        }
        let replaced: HashSet<&str> = self.generated.iter().map(|g| g.0.as_str()).collect();
        let mut symlinks: HashMap<String, String> = HashMap::new();
        let mut dirs: HashSet<String> = HashSet::new();
        let mut deferred: Vec<Entry> = Vec::new();
        tree(&mut |entry, data| {
            crate::rootfs::note_parents(&mut dirs, &entry.path);
            if replaced.contains(entry.path.as_str()) {
                return Ok(());
            }
            match &entry.kind {
                EntryKind::HardLink { target } if replaced.contains(target.as_str()) => {
                    deferred.push(entry.clone());
                    return Ok(());
                }
                EntryKind::Symlink { target } => {
                    symlinks.insert(entry.path.clone(), target.clone());
                }
                EntryKind::Dir => {
                    dirs.insert(entry.path.clone());
                }
                _ => {}
            }
            visit(entry, data)
        })?;
        let what = self.inner.name().display().to_string();
        let mut placed: HashMap<&str, String> = HashMap::new();
        for (path, entry, bytes) in &self.generated {
            let at = resolve_parents(&symlinks, "", &what, path)?;
            for dir in crate::rootfs::missing_parents(&at, |d| dirs.contains(d)) {
                let parent = Entry::implied_dir(dir.clone(), entry.mtime);
                dirs.insert(dir);
                visit(&parent, &mut std::io::empty())?;
            }
            let e = Entry {
                path: at.clone(),
                ..entry.clone()
            };
            visit(&e, &mut bytes.as_slice())?;
            placed.insert(path.as_str(), at);
        }
        for link in deferred {
            let EntryKind::HardLink { target } = &link.kind else {
                continue;
            };
            let e = Entry {
                kind: EntryKind::HardLink {
                    target: placed
                        .get(target.as_str())
                        .cloned()
                        .unwrap_or(target.clone()),
                },
                ..link.clone()
            };
            visit(&e, &mut std::io::empty())?;
        }
        Ok(())
    }
}

impl EntrySource for Customized<'_> {
    fn name(&self) -> &Path {
        self.inner.name()
    }

    fn walk(
        &self,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> rootfs::Result<()>,
    ) -> rootfs::Result<()> {
        let Some((tree, root)) = &self.ran else {
            return self.stream(visit);
        };
        let Some(labels) = &self.labels else {
            if let Some(root) = root {
                visit(root, &mut std::io::empty())?;
            }
            return tree.walk(visit);
        };
        let mut labelled = |entry: &Entry, data: &mut dyn Read| {
            let mut e = entry.clone();
            let (path, mode) = match &e.kind {
                // A link's inode is its target's, labelled there.
                EntryKind::HardLink { target } => (target.as_str(), S_IFREG),
                EntryKind::File { .. } => (e.path.as_str(), S_IFREG),
                EntryKind::Dir => (e.path.as_str(), S_IFDIR),
                EntryKind::Symlink { .. } => (e.path.as_str(), S_IFLNK),
                EntryKind::Char { .. } => (e.path.as_str(), S_IFCHR),
                EntryKind::Block { .. } => (e.path.as_str(), S_IFBLK),
                EntryKind::Fifo => (e.path.as_str(), S_IFIFO),
            };
            // A path no rule labels (or `<<none>>`) keeps what it has, as
            // setfiles leaves it.
            if let Some(context) = labels.lookup(format!("/{path}"), mode) {
                // As setfilecon writes it: NUL-terminated.
                let mut value = context.as_bytes().to_vec();
                value.push(0);
                e.xattrs.retain(|(name, _)| name != SELINUX_XATTR);
                e.xattrs.push((SELINUX_XATTR.to_string(), value));
            }
            visit(&e, data)
        };
        let root = root
            .clone()
            .unwrap_or_else(|| Entry::implied_dir(String::new(), self.time));
        labelled(&root, &mut std::io::empty())?;
        tree.walk(&mut labelled)
    }
}

/// The extended attribute SELinux labels are kept in.
const SELINUX_XATTR: &str = "security.selinux";

/// Largest policy file read.
const MAX_POLICY_FILE: u64 = 64 << 20;

/// The file contexts of the policy `/etc/selinux/config` names
/// (`SELINUXTYPE=`), from the tree: `file_contexts` (required), then
/// `.homedirs` and `.local`, and the path substitutions `.subs_dist` and
/// `.subs`, as libselinux reads them.
fn file_contexts(tree: &Tree) -> Result<FileContexts> {
    let missing = |path: &str, what: &str| {
        error::layout(format!(
            "the SELinux mode labels every file from the tree's policy, but {what} /{path} is \
             not in the tree (install the policy's package: selinux-policy)"
        ))
    };
    let config = tree
        .read(SELINUX_CONFIG, MAX_POLICY_FILE)
        .ok_or_else(|| missing(SELINUX_CONFIG, "the SELinux configuration"))?;
    let text = String::from_utf8_lossy(&config);
    let kind = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("SELINUXTYPE="))
        .next_back()
        .map(|t| t.trim().trim_matches('"').to_string())
        .filter(|t| !t.is_empty() && !t.contains('/') && t != "." && t != "..")
        .ok_or_else(|| {
            error::layout(format!(
                "/{SELINUX_CONFIG} names no policy (SELINUXTYPE=), whose file contexts label \
                 the files"
            ))
        })?;
    let dir = format!("etc/selinux/{kind}/contexts/files");
    let main_path = format!("{dir}/file_contexts");
    let main = tree
        .read(&main_path, MAX_POLICY_FILE + 1)
        .ok_or_else(|| missing(&main_path, "its file contexts"))?;
    let too_large = |path: &str| {
        error::layout(format!(
            "/{path} is larger than the {} MiB a policy file may be",
            MAX_POLICY_FILE >> 20
        ))
    };
    if main.len() as u64 > MAX_POLICY_FILE {
        return Err(too_large(&main_path));
    }
    let read = |name: &str| {
        let path = format!("{dir}/{name}");
        tree.read(&path, MAX_POLICY_FILE + 1).map(|b| (path, b))
    };
    let homedirs = read("file_contexts.homedirs");
    let local = read("file_contexts.local");
    let subs_dist = read("file_contexts.subs_dist");
    let subs = read("file_contexts.subs");
    for (path, bytes) in [&homedirs, &local, &subs_dist, &subs].into_iter().flatten() {
        if bytes.len() as u64 > MAX_POLICY_FILE {
            return Err(too_large(path));
        }
    }
    // Named as the tree has them, in errors.
    let named = |f: &Option<(String, Vec<u8>)>| {
        f.as_ref()
            .map(|(p, b)| (std::path::PathBuf::from(format!("/{p}")), b.clone()))
    };
    let [homedirs, local, subs_dist, subs] = [&homedirs, &local, &subs_dist, &subs].map(named);
    FileContexts::parse(
        (Path::new(&format!("/{main_path}")), &main),
        borrowed(&homedirs),
        borrowed(&local),
        borrowed(&subs_dist),
        borrowed(&subs),
    )
}

/// A named policy file, borrowed.
fn borrowed(f: &Option<(std::path::PathBuf, Vec<u8>)>) -> Option<(&Path, &[u8])> {
    f.as_ref().map(|(p, b)| (p.as_path(), b.as_slice()))
}

/// The files the build writes itself from `config` (the host name, the
/// additional files, the rpm macros its packages were installed with), as
/// (path, entry, bytes); they replace the tree's own.
pub(crate) fn generated_files(
    config: &ImageConfig,
    time: i64,
) -> Result<Vec<(String, Entry, Vec<u8>)>> {
    let mut generated: Vec<(String, Entry, Vec<u8>)> = Vec::new();
    if let Some(host) = &config.hostname {
        generated.push(file_entry(
            "etc/hostname",
            format!("{host}\n").into_bytes(),
            0o644,
            time,
        ));
    }
    for (i, f) in config.additional_files.iter().enumerate() {
        let field = format!("additional file {}", i + 1);
        let path = crate::rootfs::normalize(f.destination.trim_start_matches('/').as_bytes())
            .map_err(|why| {
                error::config(
                    &config.source,
                    &field,
                    format!("destination {:?}: {why}", f.destination),
                )
            })?;
        let bytes = match &f.source {
            FileSource::Content(s) => s.clone().into_bytes(),
            // Resolved against the configuration's directory when read.
            FileSource::Path(p) => std::fs::read(p).map_err(|e| {
                error::config(&config.source, &field, format!("{}: {e}", p.display()))
            })?,
        };
        generated.push(file_entry(&path, bytes, f.mode.unwrap_or(0o644), time));
    }
    // What the packages were installed with stays in the image for rpm's
    // later installs, in the files the toolkit writes it to.
    let macros = [
        (
            "disable_docs",
            config
                .packages
                .exclude_docs
                .then(|| "%_excludedocs 1".to_string()),
        ),
        (
            "customize_locales",
            config
                .packages
                .install_langs
                .as_ref()
                .map(|langs| format!("%_install_langs {langs}")),
        ),
    ];
    for (name, line) in macros {
        if let Some(line) = line {
            let text = format!(
                "# Written by imgconv from the image configuration: how its packages were \
                 installed.\n# Packages installed before a change here keep their files until \
                 they are reinstalled.\n{line}\n"
            );
            generated.push(file_entry(
                &format!("usr/lib/rpm/macros.d/macros.installercustomizations_{name}"),
                text.into_bytes(),
                0o644,
                time,
            ));
        }
    }
    Ok(generated)
}
