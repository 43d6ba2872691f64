//! The configuration's groups and users in the tree ([`crate::users`]):
//! its account files rewritten, and the homes, mailboxes and `~/.ssh` the
//! tools would make beside them.
//!
//! [`Plan::new`] reads what the tools read from the tree (the account
//! files, `/etc/login.defs`, `/etc/default/useradd`, the skeleton
//! directory, every `~/.ssh/authorized_keys`, and which paths exist and
//! whose they are), applies the configuration once, and keeps the result;
//! an error comes before anything is written. [`Plan::walk`] then hands
//! the tree on as the tools leave it, every time it is read: each entry in
//! its place, the account files and the `authorized_keys` files rewritten
//! with their new bytes (an account file keeps its owner and mode, an
//! `authorized_keys` file becomes the user's), the owners `usermod -g` and
//! the toolkit's `chown -R`/`chmod -R` change, then what the tree lacked —
//! new homes with the skeleton directory copied in (as `useradd -m` copies
//! it: modes and times kept, every entry the user's, a link into the
//! skeleton pointing into the home), `~/.ssh`, mailboxes, key files. Paths
//! are taken through the tree's own symbolic links; something already at a
//! path the tools make only when nothing is there is left as it is.

use std::collections::HashMap;
use std::io::Read;

use crate::config::ImageConfig;
use crate::error;
use crate::rootfs::{under, Entry, EntryKind, EntrySource};
use crate::users::{self, Accounts, Contents, Defaults, Made};
use crate::{Error, ErrorKind, Result};

const PASSWD: &str = "etc/passwd";
const GROUP: &str = "etc/group";
const SHADOW: &str = "etc/shadow";
const GSHADOW: &str = "etc/gshadow";
const LOGIN_DEFS: &str = "etc/login.defs";
const USERADD: &str = "etc/default/useradd";

/// The files read whole.
const READ: &[&str] = &[PASSWD, GROUP, SHADOW, GSHADOW, LOGIN_DEFS, USERADD];

/// Subordinate ID files, which useradd adds new users to.
const SUBORDINATE: &[&str] = &["etc/subuid", "etc/subgid"];

/// The skeleton directory, unless `/etc/default/useradd` says otherwise.
const DEFAULT_SKEL: &str = "etc/skel";

/// Largest file read.
const MAX_READ: u64 = 16 << 20;

/// A visitor of entries.
type Visit<'a> = dyn FnMut(&Entry, &mut dyn Read) -> Result<()> + 'a;

/// What is at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Link,
    HardLink,
    Other,
}

#[derive(Clone, Copy, Debug)]
struct Meta {
    kind: Kind,
    uid: u32,
}

/// What a walk of the tree keeps.
#[derive(Default)]
struct Seen {
    meta: HashMap<String, Meta>,
    symlinks: HashMap<String, String>,
    /// The bytes of [`READ`] and of every `.ssh/authorized_keys`.
    files: HashMap<String, Vec<u8>>,
    /// The entries under the skeleton directory, a file's bytes with it,
    /// in the tree's order.
    skel: Vec<(Entry, Vec<u8>)>,
}

impl Seen {
    /// Walks `tree`, keeping the entries under `skel`.
    fn walk(tree: &dyn EntrySource, skel: &str) -> Result<Seen> {
        let mut seen = Seen::default();
        tree.walk(&mut |entry, data| {
            let path = entry.path.as_str();
            let kind = match &entry.kind {
                EntryKind::Dir => Kind::Dir,
                EntryKind::File { .. } => Kind::File,
                EntryKind::Symlink { target } => {
                    seen.symlinks.insert(path.to_string(), target.clone());
                    Kind::Link
                }
                EntryKind::HardLink { .. } => Kind::HardLink,
                _ => Kind::Other,
            };
            seen.meta.insert(
                path.to_string(),
                Meta {
                    kind,
                    uid: entry.uid,
                },
            );
            let kept = READ.contains(&path) || is_authorized_keys(path);
            let in_skel = !path.is_empty() && under(path, skel).is_some_and(|r| !r.is_empty());
            let mut bytes = Vec::new();
            if let (EntryKind::File { len }, true) = (&entry.kind, kept || in_skel) {
                if *len > MAX_READ {
                    return Err(error::layout(format!(
                        "/{path} is {len} bytes, more than the {MAX_READ} read to make the \
                         configuration's users"
                    )));
                }
                data.take(*len)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::file(path, e))?;
                if kept {
                    seen.files.insert(path.to_string(), bytes.clone());
                }
            }
            if in_skel {
                seen.skel.push((entry.clone(), bytes));
            }
            Ok(())
        })?;
        Ok(seen)
    }
}

fn is_authorized_keys(path: &str) -> bool {
    path == ".ssh/authorized_keys" || path.ends_with("/.ssh/authorized_keys")
}

/// Owner, group and permission bits.
type Owner = (u32, u32, u32);

/// The configuration's groups and users, applied to a tree.
pub(crate) struct Plan {
    time: i64,
    /// Files of the tree whose bytes change: path → bytes, and the owner,
    /// group and mode they get (`None`: theirs kept).
    replaced: HashMap<String, (Vec<u8>, Option<Owner>)>,
    /// Owners and modes changed at and under a directory, in order.
    changes: Vec<Change>,
    /// Entries the tree lacks, in order.
    added: Vec<(Entry, Vec<u8>)>,
}

enum Change {
    /// `chown -R UID:GID`, `chmod -R MODE`.
    Reown {
        dir: String,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    /// `usermod -g`'s: the group `from` becomes `to`.
    Regroup { dir: String, from: u32, to: u32 },
}

impl Change {
    fn dir(&self) -> &str {
        match self {
            Change::Reown { dir, .. } | Change::Regroup { dir, .. } => dir,
        }
    }
}

impl Plan {
    /// `config`'s groups and users applied to `tree`, whose time is `time`
    /// (a new user's last password change is its day; plain passwords are
    /// salted from it, so that a build is repeatable).
    pub(crate) fn new(config: &ImageConfig, tree: &dyn EntrySource, time: i64) -> Result<Plan> {
        let mut seen = Seen::walk(tree, DEFAULT_SKEL)?;
        let in_tree = |e: Error| e.path(tree.name());
        let file = |path: &str, needed: bool| -> Result<Option<Vec<u8>>> {
            match seen.meta.get(path) {
                None if needed => Err(in_tree(error::layout(format!(
                    "/{path} is not in the tree; the configuration's groups and users are made in it"
                )))),
                None => Ok(None),
                Some(m) if m.kind != Kind::File => Err(in_tree(error::layout(format!(
                    "/{path} is not a regular file, and the configuration's groups and users are \
                     made in it as one"
                )))),
                Some(_) => Ok(seen.files.get(path).cloned()),
            }
        };
        let mut accounts = Accounts {
            passwd: file(PASSWD, true)?.unwrap_or_default(),
            group: file(GROUP, true)?.unwrap_or_default(),
            shadow: file(SHADOW, true)?.unwrap_or_default(),
            gshadow: file(GSHADOW, false)?,
        };
        let defaults = Defaults::read(
            file(LOGIN_DEFS, false)?.as_deref(),
            file(USERADD, false)?.as_deref(),
        )
        .map_err(in_tree)?;
        let before = accounts.clone();
        let day = u64::try_from(time.div_euclid(86_400)).unwrap_or(0);
        let seed = format!("imgconv accounts {time}");
        let made = users::apply(
            &mut accounts,
            &defaults,
            &config.groups,
            &config.users,
            day,
            seed.as_bytes(),
        )?;

        // useradd gives a new user subordinate IDs where these files are.
        if !made.homes.is_empty() {
            if let Some(ids) = SUBORDINATE.iter().find(|p| seen.meta.contains_key(**p)) {
                return Err(in_tree(error::layout(format!(
                    "/{ids} is in the tree, and useradd would give each new user subordinate IDs \
                     in it, which this build does not"
                ))));
            }
        }
        let what = tree.name().display().to_string();
        // A skeleton directory elsewhere is read now.
        if let Some(home) = made.homes.first() {
            let skel = resolve_all(&seen.symlinks, &what, &home.skel)?;
            if skel != DEFAULT_SKEL {
                seen.skel = Seen::walk(tree, &skel)?.skel;
            }
        }
        let mut plan = Plan {
            time,
            replaced: HashMap::new(),
            changes: Vec::new(),
            added: Vec::new(),
        };
        for (path, old, new) in [
            (PASSWD, &before.passwd, &accounts.passwd),
            (GROUP, &before.group, &accounts.group),
            (SHADOW, &before.shadow, &accounts.shadow),
        ] {
            if old != new {
                plan.replaced.insert(path.to_string(), (new.clone(), None));
            }
        }
        if let (Some(old), Some(new)) = (&before.gshadow, &accounts.gshadow) {
            if old != new {
                plan.replaced
                    .insert(GSHADOW.to_string(), (new.clone(), None));
            }
        }
        Builder {
            seen: &seen,
            what,
            time,
            plan: &mut plan,
            added: HashMap::new(),
            written: HashMap::new(),
        }
        .make(&made)?;
        Ok(plan)
    }

    /// `inner`'s entries as the configuration's groups and users leave
    /// them, then what they add.
    pub(crate) fn walk(
        &self,
        inner: &mut dyn FnMut(&mut Visit<'_>) -> Result<()>,
        visit: &mut Visit<'_>,
    ) -> Result<()> {
        inner(&mut |entry, data| {
            if let Some((bytes, owner)) = self.replaced.get(&entry.path) {
                let mut e = Entry {
                    kind: EntryKind::File {
                        len: bytes.len() as u64,
                    },
                    mtime: self.time,
                    ..entry.clone()
                };
                if let Some((uid, gid, mode)) = *owner {
                    (e.uid, e.gid, e.mode) = (uid, gid, mode);
                }
                self.change(&mut e);
                return visit(&e, &mut bytes.as_slice());
            }
            if self
                .changes
                .iter()
                .any(|c| under(&entry.path, c.dir()).is_some())
            {
                let mut e = entry.clone();
                self.change(&mut e);
                return visit(&e, data);
            }
            visit(entry, data)
        })?;
        for (entry, bytes) in &self.added {
            let mut e = entry.clone();
            self.change(&mut e);
            visit(&e, &mut bytes.as_slice())?;
        }
        Ok(())
    }

    fn change(&self, e: &mut Entry) {
        for c in &self.changes {
            if under(&e.path, c.dir()).is_none() {
                continue;
            }
            match *c {
                Change::Reown { uid, gid, mode, .. } => {
                    (e.uid, e.gid) = (uid, gid);
                    if !matches!(e.kind, EntryKind::Symlink { .. }) {
                        e.mode = mode;
                    }
                }
                Change::Regroup { from, to, .. } => {
                    if e.gid == from {
                        e.gid = to;
                    }
                }
            }
        }
    }
}

/// `path` with every symbolic link in it followed, its last part too.
fn resolve_all(symlinks: &HashMap<String, String>, what: &str, path: &str) -> Result<String> {
    if path.is_empty() {
        return Ok(String::new());
    }
    let with = crate::disk::resolve_parents(symlinks, "", what, &format!("{path}/x"))?;
    Ok(match with.strip_suffix("/x") {
        Some(p) => p.to_string(),
        None => String::new(),
    })
}

/// Makes a plan's entries from what [`users::apply`] says the tree needs.
struct Builder<'a> {
    seen: &'a Seen,
    what: String,
    time: i64,
    plan: &'a mut Plan,
    /// Paths of the plan's added entries: their index and what they are.
    added: HashMap<String, (usize, Meta)>,
    /// The bytes a file has now, where the plan wrote it.
    written: HashMap<String, Vec<u8>>,
}

impl Builder<'_> {
    fn meta(&self, path: &str) -> Option<Meta> {
        match self.added.get(path) {
            Some((_, meta)) => Some(*meta),
            None => self.seen.meta.get(path).copied(),
        }
    }

    fn resolve(&self, path: &str) -> Result<String> {
        crate::disk::resolve_parents(&self.seen.symlinks, "", &self.what, path)
    }

    fn add(&mut self, entry: Entry, bytes: Vec<u8>) {
        let kind = match entry.kind {
            EntryKind::Dir => Kind::Dir,
            EntryKind::File { .. } => Kind::File,
            EntryKind::Symlink { .. } => Kind::Link,
            EntryKind::HardLink { .. } => Kind::HardLink,
            _ => Kind::Other,
        };
        let meta = Meta {
            kind,
            uid: entry.uid,
        };
        self.added
            .insert(entry.path.clone(), (self.plan.added.len(), meta));
        self.plan.added.push((entry, bytes));
    }

    /// Whether the directory `path` would hold a new entry there.
    fn parent_is_dir(&self, path: &str) -> bool {
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        parent.is_empty() || self.meta(parent).is_some_and(|m| m.kind == Kind::Dir)
    }

    fn refuse(&self, path: &str, why: &str) -> Error {
        Error::new(ErrorKind::Invalid, "", format!("/{path}: {why}")).path(self.what.clone())
    }

    fn make(mut self, made: &Made) -> Result<()> {
        for home in &made.homes {
            self.home(home)?;
        }
        for dir in &made.dirs {
            let at = self.resolve(&dir.path)?;
            if self.meta(&at).is_some() {
                continue;
            }
            if !self.parent_is_dir(&at) {
                return Err(self.refuse(
                    &at,
                    "its parent is not a directory of the tree, so a user's directory cannot be \
                     made there",
                ));
            }
            let entry = Entry {
                mode: dir.mode,
                uid: dir.uid,
                gid: dir.gid,
                ..Entry::implied_dir(at, self.time)
            };
            self.add(entry, Vec::new());
        }
        for file in &made.files {
            self.file(file)?;
        }
        for reown in &made.reowns {
            let dir = resolve_all(&self.seen.symlinks, &self.what, &reown.path)?;
            self.plan.changes.push(Change::Reown {
                dir,
                uid: reown.uid,
                gid: reown.gid,
                mode: reown.mode,
            });
        }
        for regroup in &made.regroups {
            let dir = resolve_all(&self.seen.symlinks, &self.what, &regroup.home)?;
            // As usermod: only a home the user owns.
            if self
                .meta(&dir)
                .is_some_and(|m| m.kind == Kind::Dir && m.uid == regroup.uid)
            {
                self.plan.changes.push(Change::Regroup {
                    dir,
                    from: regroup.from_gid,
                    to: regroup.to_gid,
                });
            }
        }
        Ok(())
    }

    /// `useradd -m`'s home: made only where nothing is, its missing
    /// parents root's and 0755, the skeleton copied in.
    fn home(&mut self, home: &users::Home) -> Result<()> {
        let at = self.resolve(&home.path)?;
        if at.is_empty() || self.meta(&at).is_some() {
            return Ok(());
        }
        for dir in crate::rootfs::missing_parents(&at, |d| self.meta(d).is_some()) {
            if !self.parent_is_dir(&dir) {
                return Err(self.refuse(&dir, "a home directory's parent cannot be made here"));
            }
            self.add(Entry::implied_dir(dir, self.time), Vec::new());
        }
        if !self.parent_is_dir(&at) {
            return Err(self.refuse(
                &at,
                "its parent is not a directory of the tree, so the home cannot be made there",
            ));
        }
        self.add(
            Entry {
                mode: home.mode,
                uid: home.uid,
                gid: home.gid,
                ..Entry::implied_dir(at.clone(), self.time)
            },
            Vec::new(),
        );
        let skel = resolve_all(&self.seen.symlinks, &self.what, &home.skel)?;
        if self
            .seen
            .meta
            .get(&skel)
            .is_none_or(|m| m.kind != Kind::Dir)
        {
            return Ok(());
        }
        // copy_tree's links into the skeleton, as useradd names both.
        let (from, to) = (format!("/{}", home.skel), format!("/{}", home.path));
        for (entry, bytes) in &self.seen.skel {
            let Some(rel) = under(&entry.path, &skel).filter(|r| !r.is_empty()) else {
                continue;
            };
            let kind =
                match &entry.kind {
                    EntryKind::Symlink { target } => EntryKind::Symlink {
                        target: match target.strip_prefix(&from) {
                            Some(rest) => format!("{to}{rest}"),
                            None => target.clone(),
                        },
                    },
                    EntryKind::HardLink { target } => match under(target, &skel) {
                        Some(t) if !t.is_empty() => EntryKind::HardLink {
                            target: format!("{at}/{t}"),
                        },
                        _ => return Err(self.refuse(
                            &entry.path,
                            "a hard link in the skeleton directory to a file outside it is not \
                             copied into a new home by this build",
                        )),
                    },
                    other => other.clone(),
                };
            let copy = Entry {
                path: format!("{at}/{rel}"),
                kind,
                uid: home.uid,
                gid: home.gid,
                ..entry.clone()
            };
            self.add(copy, bytes.clone());
        }
        Ok(())
    }

    fn file(&mut self, file: &users::File) -> Result<()> {
        let at = self.resolve(&file.path)?;
        let meta = self.meta(&at);
        let (bytes, after_existing): (&[u8], bool) =
            match &file.contents {
                Contents::EmptyIfAbsent => {
                    // useradd only warns when it cannot make the mailbox.
                    if meta.is_some() || !self.parent_is_dir(&at) {
                        return Ok(());
                    }
                    (&[], false)
                }
                Contents::Bytes {
                    bytes,
                    after_existing,
                } => {
                    match meta {
                        Some(m) if m.kind != Kind::File => return Err(self.refuse(
                            &at,
                            "is not a regular file, and the configuration's users write it as one",
                        )),
                        None if !self.parent_is_dir(&at) => {
                            return Err(self.refuse(
                                &at,
                                "its parent is not a directory of the tree, so the file cannot be \
                             written",
                            ))
                        }
                        _ => {}
                    }
                    (bytes, *after_existing)
                }
            };
        let mut new = Vec::new();
        if after_existing && meta.is_some() {
            let old = match self.written.get(&at) {
                Some(b) => b.clone(),
                None => self.seen.files.get(&at).cloned().unwrap_or_default(),
            };
            // Read as lines, as Image Customizer reads them back.
            let text = old.split(|&b| b == b'\n');
            let mut lines: Vec<&[u8]> = text.collect();
            if old.is_empty() || old.ends_with(b"\n") {
                lines.pop();
            }
            for line in lines {
                new.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
                new.push(b'\n');
            }
        }
        new.extend_from_slice(bytes);
        self.written.insert(at.clone(), new.clone());
        let owner = (file.uid, file.gid, file.mode);
        if let Some(&(index, _)) = self.added.get(&at) {
            let (entry, old) = &mut self.plan.added[index];
            (entry.uid, entry.gid, entry.mode) = owner;
            entry.kind = EntryKind::File {
                len: new.len() as u64,
            };
            *old = new;
        } else if meta.is_some() {
            self.plan.replaced.insert(at, (new, Some(owner)));
        } else {
            let entry = Entry {
                kind: EntryKind::File {
                    len: new.len() as u64,
                },
                mode: file.mode,
                uid: file.uid,
                gid: file.gid,
                ..Entry::implied_dir(at, self.time)
            };
            self.add(entry, new);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::{chown, symlink, PermissionsExt};
    use std::path::Path;

    use super::*;
    use crate::rootfs::Rootfs;
    use crate::users::{Password, User};

    fn write(root: &Path, path: &str, text: &str, mode: u32) {
        let file = root.join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, text).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A tree whose /home is a link to /var/home, with a user `ann` who
    /// owns her home and has keys, and a skeleton with a link into itself.
    fn tree(root: &Path) {
        write(
            root,
            PASSWD,
            "root:x:0:0:root:/root:/bin/sh\nann:x:1000:1000::/home/ann:/bin/sh\n",
            0o644,
        );
        write(root, GROUP, "root:x:0:\nann:x:1000:\nstaff:x:50:\n", 0o644);
        write(
            root,
            SHADOW,
            "root:*:1:0:99999:7:::\nann:*:1:0:99999:7:::\n",
            0o640,
        );
        write(
            root,
            LOGIN_DEFS,
            "USERGROUPS_ENAB yes\nHOME_MODE 0700\n",
            0o644,
        );
        write(
            root,
            USERADD,
            "SKEL=/etc/skel\nCREATE_MAIL_SPOOL=no\n",
            0o644,
        );
        write(root, "etc/skel/.rc", "rc\n", 0o640);
        symlink("/etc/skel/.rc", root.join("etc/skel/.link")).unwrap();
        write(root, "var/home/ann/notes", "ann's\n", 0o600);
        write(root, "var/home/ann/.ssh/authorized_keys", "old\r\n", 0o644);
        symlink("var/home", root.join("home")).unwrap();
        for p in ["var/home/ann", "var/home/ann/notes", "var/home/ann/.ssh"] {
            chown(root.join(p), Some(1000), Some(1000)).unwrap();
        }
    }

    fn config(root: &Path, users: Vec<User>) -> ImageConfig {
        ImageConfig {
            users,
            ..ImageConfig::empty(&root.join("config.yaml"))
        }
    }

    /// The tree as the plan hands it on: entry and bytes by path.
    fn walked(tree: &Rootfs, plan: &Plan) -> BTreeMap<String, (Entry, String)> {
        let mut out = BTreeMap::new();
        plan.walk(&mut |v| tree.walk(v), &mut |entry, data| {
            let mut text = String::new();
            data.read_to_string(&mut text).unwrap();
            out.insert(entry.path.clone(), (entry.clone(), text));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn accounts_make_homes_keys_and_owners_in_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        tree(&root);
        let source = Rootfs::open(&root).unwrap();
        let users = vec![
            User {
                name: "bob".into(),
                password: Some(Password::Locked),
                ..User::default()
            },
            User {
                name: "ann".into(),
                primary_group: Some("staff".into()),
                ssh_public_keys: Some(vec!["new".into()]),
                ..User::default()
            },
        ];
        let plan = Plan::new(&config(&root, users), &source, 86_400 * 10).unwrap();
        let out = walked(&source, &plan);
        let at = |p: &str| {
            let (e, text) = out.get(p).unwrap_or_else(|| panic!("{p} not handed on"));
            (e.mode, e.uid, e.gid, text.as_str())
        };
        // The account files: new bytes, their own mode.
        assert_eq!(
            at(SHADOW),
            (
                0o640,
                0,
                0,
                "root:*:1:0:99999:7:::\nann:*:1:0:99999:7:::\nbob:!:10::::::\n"
            )
        );
        // bob's home through /home's link, the skeleton in it, its link
        // pointing into the home.
        assert!(!out.contains_key("home/bob"));
        assert_eq!(at("var/home/bob"), (0o700, 1001, 1001, ""));
        assert_eq!(at("var/home/bob/.rc"), (0o640, 1001, 1001, "rc\n"));
        assert_eq!(
            out["var/home/bob/.link"].0.kind,
            EntryKind::Symlink {
                target: "/home/bob/.rc".into()
            }
        );
        // ann's files moved to her new group; her keys after her own,
        // hers, 0600; her existing ~/.ssh left as it is.
        assert_eq!(at("var/home/ann/notes"), (0o600, 1000, 50, "ann's\n"));
        assert_eq!(at("var/home/ann").2, 50);
        assert_eq!(
            at("var/home/ann/.ssh/authorized_keys"),
            (0o600, 1000, 50, "old\nnew\n")
        );
        // The second walk hands on the same.
        assert_eq!(walked(&source, &plan).len(), out.len());
    }

    #[test]
    fn accounts_refuse_a_tree_they_cannot_make_them_in() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        tree(&root);
        let bob = || {
            vec![User {
                name: "bob".into(),
                ..User::default()
            }]
        };
        write(&root, "etc/subuid", "", 0o644);
        let e = Plan::new(&config(&root, bob()), &Rootfs::open(&root).unwrap(), 0)
            .err()
            .unwrap();
        assert!(e.to_string().contains("/etc/subuid is in the tree"), "{e}");
        fs::remove_file(root.join("etc/subuid")).unwrap();
        fs::remove_file(root.join(PASSWD)).unwrap();
        let e = Plan::new(&config(&root, bob()), &Rootfs::open(&root).unwrap(), 0)
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("/etc/passwd is not in the tree"),
            "{e}"
        );
    }
}
