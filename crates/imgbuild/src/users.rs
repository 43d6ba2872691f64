//! A configuration's groups and users, made in a tree's account files as
//! shadow-utils 4.14 leaves them.
//!
//! The Azure Linux toolkit (`Groups`, `Users`) and Image Customizer
//! (`os.groups`, `os.users`) make them by running, in the tree,
//! `groupadd [-g GID]` for each group and then, for each user,
//! `useradd -m [-p HASH] [-u UID] [-d HOME] [-g GROUP]` (a new user) or an
//! edit of the password field of `/etc/shadow` (an existing one), an edit
//! of the expiry fields, `usermod -g`, `usermod -a -G`, `~/.ssh/authorized_keys`
//! and an edit of the login shell in `/etc/passwd`. [`apply`] makes the same
//! changes to the files' bytes — `/etc/passwd`, `/etc/group`, `/etc/shadow`
//! and `/etc/gshadow` ([`Accounts`]) — reading the tools' settings from
//! `/etc/login.defs` and `/etc/default/useradd` ([`Defaults`]), and says
//! what the tree needs beside them ([`Made`]): home directories, mailboxes,
//! `~/.ssh`.
//!
//! The two formats differ where their code does, and the model says how
//! ([`Action`], [`SshLayout`], [`Declared::batch`]): Image Customizer
//! leaves an existing group as it is and changes an existing user, the
//! toolkit makes every group and user but `root` anew (its `groupadd` and
//! `useradd` fail on one that exists) and only changes `root`; Image
//! Customizer makes each file of a `baseConfigs` chain's groups and users
//! in turn; the toolkit copies key files into `~/.ssh` and makes it all
//! 0700.
//!
//! The files are rewritten as the tools' `commonio` layer writes them: a
//! line the edit does not touch stays as it was, malformed or not; a new
//! entry goes before the first NIS (`+`/`-`) line; every line of a changed
//! file ends with a newline; a file nothing changes keeps its bytes.

use std::collections::HashSet;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// Largest user ID both configuration formats take.
const MAX_ID: u32 = 60_000;

/// Longest password `openssl passwd -stdin` hashes whole, as both formats
/// hash a plain one (it cuts a longer one short).
const MAX_PLAIN: usize = 256;

/// Largest `passwordExpiresDays` (`chage`'s bound, the formats' too).
const MAX_EXPIRY_DAYS: u64 = 99_999;

/// Longest user or group name: utmp's `ut_user`, and the group name
/// length Azure Linux builds shadow-utils with.
const MAX_NAME: usize = 32;

/// `crypt(3)`'s base-64 alphabet, for salts.
const CRYPT_ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A user's password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Password {
    /// No password login: `!` for a new user (`useradd`'s own), `*` for an
    /// existing one (as both formats write it; sshd still takes keys). An
    /// empty hash or plain password is the same.
    Locked,
    /// A `crypt(3)` hash, written as it is.
    Hashed(String),
    /// A password hashed with SHA-512 crypt, a trailing line break not
    /// part of it (as `openssl passwd -stdin` reads a line).
    Plain(String),
}

/// What a user's expiry becomes (`PasswordExpiresDays`,
/// `passwordExpiresDays`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordExpiry {
    /// `-1`: none. The maximum age, warning, inactivity, expiry and
    /// reserved fields of `/etc/shadow` are emptied.
    Never,
    /// The account expires this many days after the last password change:
    /// the expiry field is the last-change field plus the days (the
    /// last-change field set to the build's day when empty).
    Days(u64),
}

/// What a configuration's group or user may find in the tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Action {
    /// Made when the tree lacks it, changed when it has it (Image
    /// Customizer's groups and users).
    #[default]
    MakeOrChange,
    /// Made; the tree having it already is an error (the toolkit runs
    /// `groupadd` and `useradd`, which fail then).
    Make,
    /// Changed; the tree lacking it is an error (the toolkit's `root`).
    Change,
}

/// Where a configuration gives a group or a user: errors name it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Declared {
    /// The configuration file.
    pub file: PathBuf,
    /// Its key path there (`SystemConfigs[0].Users[1]`, `os.users[0]`).
    pub field: String,
    /// The file's place in a chain of Image Customizer's `baseConfigs` (0
    /// for the first, and for a configuration without them). Image
    /// Customizer makes one file's groups, then its users, file after
    /// file: groups and users are made batch by batch, each batch's
    /// groups first.
    pub batch: usize,
}

/// How a user's `~/.ssh` is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SshLayout {
    /// Image Customizer's: `~/.ssh` made (0700, the user's and their
    /// primary group's) when nothing is there, `authorized_keys` written
    /// 0600 and theirs, an existing user's own lines kept before the new
    /// ones.
    #[default]
    Customizer,
    /// The toolkit's: each key file copied into `~/.ssh` under its own
    /// name (name, bytes), `authorized_keys` written over with the keys,
    /// then `~/.ssh` and everything in it made the user's and their
    /// primary group's, mode 0700 (`chown -R`, `chmod -R`).
    Toolkit {
        /// The key files: their names and bytes.
        copies: Vec<(String, Vec<u8>)>,
    },
}

/// A group to make (`groupadd [-g GID]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    /// Its name.
    pub name: String,
    /// Only for a new group; the next free one above the others when
    /// `None`.
    pub gid: Option<u32>,
    /// Whether it may, must or must not be in the tree already (one that
    /// is stays as it is).
    pub action: Action,
    /// Where the configuration gives it.
    pub declared: Declared,
}

/// A user to make (`useradd -m`) or to change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    /// Its name.
    pub name: String,
    /// Only for a new user; the next free one above the others when
    /// `None`.
    pub uid: Option<u32>,
    /// Left as it is when `None` (a new user's is then locked).
    pub password: Option<Password>,
    /// Left as it is when `None`.
    pub password_expires: Option<PasswordExpiry>,
    /// The lines of `~/.ssh/authorized_keys`, without line breaks (the key
    /// files' lines, then the keys given); `None` leaves `~/.ssh` as it
    /// is.
    pub ssh_public_keys: Option<Vec<String>>,
    /// How `~/.ssh` is written.
    pub ssh_layout: SshLayout,
    /// A group's name (or GID) that exists. A new user without one gets a
    /// group of its own name when `USERGROUPS_ENAB` is yes.
    pub primary_group: Option<String>,
    /// Groups' names (or GIDs) that exist; the user is added to their
    /// members.
    pub secondary_groups: Vec<String>,
    /// The login shell; left as it is (or `useradd`'s default) when `None`
    /// or empty.
    pub startup_command: Option<String>,
    /// Only for a new user; `HOME/NAME` from `/etc/default/useradd` when
    /// `None`.
    pub home_directory: Option<String>,
    /// Whether it may, must or must not be in the tree already.
    pub action: Action,
    /// Where the configuration gives it.
    pub declared: Declared,
}

/// The account files' bytes: `/etc/passwd`, `/etc/group`, `/etc/shadow`
/// and `/etc/gshadow` (`None`: the tree has none, and gets none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Accounts {
    pub(crate) passwd: Vec<u8>,
    pub(crate) group: Vec<u8>,
    pub(crate) shadow: Vec<u8>,
    pub(crate) gshadow: Option<Vec<u8>>,
}

#[cfg(test)]
impl Accounts {
    /// Whether `/etc/passwd` has a user `name`.
    pub(crate) fn has_user(&self, name: &str) -> bool {
        Table::read(&self.passwd).passwd_entry(name).is_some()
    }

    /// Whether `/etc/group` has a group `name`.
    pub(crate) fn has_group(&self, name: &str) -> bool {
        Table::read(&self.group).group_entry(name).is_some()
    }
}

/// The settings of `useradd` and `groupadd`: `/etc/login.defs` and
/// `/etc/default/useradd`, with the tools' built-in values for what they
/// lack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Defaults {
    uid_min: u64,
    uid_max: u64,
    gid_min: u64,
    gid_max: u64,
    user_groups: bool,
    /// `-1`: an empty field.
    pass_min_days: i64,
    pass_max_days: i64,
    pass_warn_age: i64,
    home_mode: u32,
    mail_dir: Option<String>,
    /// `GROUP=`: a new user's primary group without `USERGROUPS_ENAB`.
    group: Option<String>,
    home: String,
    shell: String,
    inactive: i64,
    expire: i64,
    skel: String,
    create_mail_spool: bool,
}

impl Default for Defaults {
    /// Without either file, as shadow-utils 4.14 is built.
    fn default() -> Defaults {
        Defaults {
            uid_min: 1000,
            uid_max: 60_000,
            gid_min: 1000,
            gid_max: 60_000,
            user_groups: false,
            pass_min_days: -1,
            pass_max_days: -1,
            pass_warn_age: -1,
            home_mode: 0o755,
            mail_dir: Some("/var/mail".into()),
            group: None,
            home: "/home".into(),
            shell: "/bin/bash".into(),
            inactive: -1,
            expire: -1,
            skel: "/etc/skel".into(),
            create_mail_spool: true,
        }
    }
}

impl Defaults {
    /// The settings from the tree's `/etc/login.defs` and
    /// `/etc/default/useradd` (`None`: the tree has no such file).
    ///
    /// A number the tools cannot read is their built-in value, as they
    /// take it; an `EXPIRE=` that is not a day count or `YYYY-MM-DD`, and a
    /// `GROUPS=` list, are refused.
    pub(crate) fn read(login_defs: Option<&[u8]>, useradd: Option<&[u8]>) -> Result<Defaults> {
        let mut d = Defaults::default();
        let defs = login_defs.map(login_defs_values).unwrap_or_default();
        let get = |key: &str| {
            defs.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let ulong = |key: &str, dflt: u64| {
            get(key)
                .and_then(|v| c_number(v).filter(|n| *n >= 0))
                .map_or(dflt, |n| n as u64)
        };
        let num = |key: &str, dflt: i64| {
            get(key)
                .and_then(c_number)
                .filter(|n| i32::try_from(*n).is_ok())
                .unwrap_or(dflt)
        };
        d.uid_min = ulong("UID_MIN", 1000);
        d.uid_max = ulong("UID_MAX", 60_000);
        d.gid_min = ulong("GID_MIN", 1000);
        d.gid_max = ulong("GID_MAX", 60_000);
        d.user_groups = get("USERGROUPS_ENAB").is_some_and(|v| v.eq_ignore_ascii_case("yes"));
        d.pass_min_days = num("PASS_MIN_DAYS", -1);
        d.pass_max_days = num("PASS_MAX_DAYS", -1);
        d.pass_warn_age = num("PASS_WARN_AGE", -1);
        // useradd: HOME_MODE, else what UMASK leaves of 0777.
        let umask = num("UMASK", 0o22);
        d.home_mode = (num("HOME_MODE", 0o777 & !umask) & 0o7777) as u32;
        d.mail_dir = match (get("MAIL_DIR"), get("MAIL_FILE")) {
            (Some(dir), _) => Some(dir.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("/var/mail".into()),
        };

        for raw in useradd.unwrap_or_default().split(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(raw);
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "GROUP" => d.group = Some(value.to_string()),
                "GROUPS" if !value.is_empty() => {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        "",
                        format!(
                            "/etc/default/useradd: GROUPS={value} (secondary groups for every new user) is not applied by this build"
                        ),
                    ))
                }
                "HOME" => d.home = value.to_string(),
                "SHELL" => d.shell = value.to_string(),
                "INACTIVE" => {
                    d.inactive = c_number(value).filter(|n| *n >= -1).unwrap_or(-1);
                }
                "EXPIRE" => {
                    d.expire = day_number(value).ok_or_else(|| {
                        Error::new(
                            ErrorKind::Unsupported,
                            "",
                            format!(
                                "/etc/default/useradd: EXPIRE={value} is neither a count of days since 1970 nor a YYYY-MM-DD date"
                            ),
                        )
                    })?;
                }
                "SKEL" => {
                    d.skel = if value.is_empty() {
                        "/etc/skel".into()
                    } else {
                        value.to_string()
                    };
                }
                "CREATE_MAIL_SPOOL" => d.create_mail_spool = value.eq_ignore_ascii_case("yes"),
                _ => {}
            }
        }
        Ok(d)
    }
}

/// What the tree needs beside the account files, to be made in this
/// order: homes, directories, files, reowns, then regroups. Paths are
/// relative to the root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Made {
    pub(crate) homes: Vec<Home>,
    /// Made only when nothing is at the path (`~/.ssh`); its parent is
    /// there.
    pub(crate) dirs: Vec<Dir>,
    pub(crate) files: Vec<File>,
    pub(crate) reowns: Vec<Reown>,
    pub(crate) regroups: Vec<Regroup>,
}

/// `chown -R UID:GID` and `chmod -R MODE` on `path`: it and every entry
/// under it owned `uid`:`gid`, with permission bits `mode` (a symbolic
/// link keeps its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reown {
    pub(crate) path: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
}

/// A new user's home directory, as `useradd -m` makes it: only when
/// nothing is at `path` — missing parents made root's, 0755, then the
/// directory `uid`:`gid` `mode`, and what `skel` (a directory relative to
/// the root, if the tree has it) holds copied in with modes kept and
/// every entry made `uid`:`gid`. Something at `path` is left as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Home {
    pub(crate) path: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
    pub(crate) skel: String,
}

/// A directory made when nothing is at `path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dir {
    pub(crate) path: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
}

/// A file, owned `uid`:`gid` with `mode` whenever it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct File {
    pub(crate) path: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
    pub(crate) contents: Contents,
}

/// What a [`File`] holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Contents {
    /// Nothing, made only when nothing is at the path; a file there is left
    /// as it is (`useradd`'s mailbox).
    EmptyIfAbsent,
    /// These bytes, written over the file; after the lines it held when
    /// `after_existing` (each ended by a newline, a carriage return before
    /// it dropped), as Image Customizer rewrites an existing user's
    /// `authorized_keys`.
    Bytes {
        bytes: Vec<u8>,
        after_existing: bool,
    },
}

/// `usermod -g` on a user whose home directory exists and is owned by
/// `uid`: every entry under `home` (itself included) whose group is
/// `from_gid` gets `to_gid`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Regroup {
    pub(crate) home: String,
    pub(crate) uid: u32,
    pub(crate) from_gid: u32,
    pub(crate) to_gid: u32,
}

/// Makes `groups`, then makes or changes `users`, in order, in
/// `accounts`, as the tools leave the files (batch by batch, see
/// [`Declared::batch`]); returns what the tree needs beside them.
/// `days_since_epoch` is the build's day (a new user's last password
/// change); `salt_seed` and a user's name derive the salt of a plain
/// password's hash.
///
/// On an error nothing in `accounts` is changed; the error names the group
/// or user and what is wrong, at the file and field that declare it.
pub(crate) fn apply(
    accounts: &mut Accounts,
    defaults: &Defaults,
    groups: &[Group],
    users: &[User],
    days_since_epoch: u64,
    salt_seed: &[u8],
) -> Result<Made> {
    let mut files = Files {
        passwd: Table::read(&accounts.passwd),
        group: Table::read(&accounts.group),
        shadow: Table::read(&accounts.shadow),
        gshadow: accounts.gshadow.as_deref().map(Table::read),
    };
    let mut made = Made::default();
    let mut batches: Vec<usize> = groups
        .iter()
        .map(|g| g.declared.batch)
        .chain(users.iter().map(|u| u.declared.batch))
        .collect();
    batches.sort_unstable();
    batches.dedup();
    for batch in batches {
        for group in groups.iter().filter(|g| g.declared.batch == batch) {
            files
                .groupadd(group, defaults)
                .map_err(|e| at(e, &group.declared))?;
        }
        for user in users.iter().filter(|u| u.declared.batch == batch) {
            files
                .user(user, defaults, days_since_epoch, salt_seed, &mut made)
                .map_err(|e| at(e, &user.declared))?;
        }
    }
    files.passwd.write(&mut accounts.passwd);
    files.group.write(&mut accounts.group);
    files.shadow.write(&mut accounts.shadow);
    if let (Some(table), Some(bytes)) = (&files.gshadow, &mut accounts.gshadow) {
        table.write(bytes);
    }
    Ok(made)
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::Invalid, "", message)
}

/// `e` named at where `declared` is given, when it says.
fn at(e: Error, declared: &Declared) -> Error {
    if declared.file.as_os_str().is_empty() {
        return e;
    }
    let e = e.path(declared.file.clone());
    if declared.field.is_empty() {
        e
    } else {
        e.field(declared.field.clone())
    }
}

/// One account file's lines.
struct Table {
    lines: Vec<Vec<u8>>,
    changed: bool,
}

impl Table {
    fn read(bytes: &[u8]) -> Table {
        let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        // The piece after the last newline, or the whole of an empty file.
        if lines.last().is_some_and(Vec::is_empty) {
            lines.pop();
        }
        Table {
            lines,
            changed: false,
        }
    }

    /// Into `out`, when changed: every line with its newline.
    fn write(&self, out: &mut Vec<u8>) {
        if self.changed {
            out.clear();
            for line in &self.lines {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
    }

    fn set(&mut self, index: usize, line: Vec<u8>) {
        if self.lines[index] != line {
            self.lines[index] = line;
            self.changed = true;
        }
    }

    /// A new entry, before the NIS entries.
    fn insert(&mut self, line: Vec<u8>) {
        let at = self
            .lines
            .iter()
            .position(|l| is_nis(l))
            .unwrap_or(self.lines.len());
        self.lines.insert(at, line);
        self.changed = true;
    }

    /// The entry of `name` replaced by `line`, or `line` added.
    fn replace_or_insert(&mut self, name: &str, counts: &[usize], line: Vec<u8>) {
        let found = self
            .entries(counts)
            .find(|(_, f)| f[0] == name.as_bytes())
            .map(|(index, _)| index);
        match found {
            Some(index) => self.set(index, line),
            None => self.insert(line),
        }
    }

    /// The lines the tools read as entries (with one of `counts` fields,
    /// not NIS), with their fields.
    fn entries<'a>(
        &'a self,
        counts: &'a [usize],
    ) -> impl Iterator<Item = (usize, Vec<&'a [u8]>)> + 'a {
        self.lines.iter().enumerate().filter_map(move |(i, line)| {
            if is_nis(line) {
                return None;
            }
            let fields: Vec<&[u8]> = line.split(|&b| b == b':').collect();
            counts.contains(&fields.len()).then_some((i, fields))
        })
    }

    fn passwd_entries(&self) -> impl Iterator<Item = PasswdEntry> + '_ {
        self.entries(&[7]).filter_map(|(line, f)| {
            Some(PasswdEntry {
                line,
                name: f[0].to_vec(),
                password: f[1].to_vec(),
                uid: id(f[2])?,
                gid: id(f[3])?,
                gecos: f[4].to_vec(),
                home: f[5].to_vec(),
                shell: f[6].to_vec(),
            })
        })
    }

    fn passwd_entry(&self, name: &str) -> Option<PasswdEntry> {
        self.passwd_entries().find(|e| e.name == name.as_bytes())
    }

    fn group_entries(&self) -> impl Iterator<Item = GroupEntry> + '_ {
        self.entries(&[4]).filter_map(|(line, f)| {
            Some(GroupEntry {
                line,
                name: f[0].to_vec(),
                password: f[1].to_vec(),
                gid: id(f[2])?,
                members: f[3].to_vec(),
            })
        })
    }

    fn group_entry(&self, name: &str) -> Option<GroupEntry> {
        self.group_entries().find(|e| e.name == name.as_bytes())
    }

    /// A group named `key`, or, for a number, the group with that GID (as
    /// the tools' `-g` and `-G` read them).
    fn group_by_name_or_gid(&self, key: &str) -> Option<GroupEntry> {
        match key.parse::<u32>() {
            Ok(gid) if key.bytes().all(|b| b.is_ascii_digit()) => {
                self.group_entries().find(|e| e.gid == gid)
            }
            _ => self.group_entry(key),
        }
    }
}

struct PasswdEntry {
    line: usize,
    name: Vec<u8>,
    password: Vec<u8>,
    uid: u32,
    gid: u32,
    gecos: Vec<u8>,
    home: Vec<u8>,
    shell: Vec<u8>,
}

impl PasswdEntry {
    fn line(&self) -> Vec<u8> {
        let (uid, gid) = (self.uid.to_string(), self.gid.to_string());
        [
            &self.name[..],
            &self.password,
            uid.as_bytes(),
            gid.as_bytes(),
            &self.gecos,
            &self.home,
            &self.shell,
        ]
        .join(&b':')
    }
}

struct GroupEntry {
    line: usize,
    name: Vec<u8>,
    password: Vec<u8>,
    gid: u32,
    members: Vec<u8>,
}

/// A member list as the tools split it: `a,,b` is three, `a,` one.
fn members(field: &[u8]) -> Vec<&[u8]> {
    let mut list = Vec::new();
    let mut rest = field;
    while !rest.is_empty() {
        match rest.iter().position(|&b| b == b',') {
            Some(i) => {
                list.push(&rest[..i]);
                rest = &rest[i + 1..];
            }
            None => {
                list.push(rest);
                break;
            }
        }
    }
    list
}

/// `fields` with `user` added to the member list in the last one, as
/// `usermod -a -G` writes it; `None` when already a member.
fn with_member(fields: &[&[u8]], user: &str) -> Option<Vec<u8>> {
    let last = fields.len() - 1;
    let mut list = members(fields[last]);
    if list.contains(&user.as_bytes()) {
        return None;
    }
    list.push(user.as_bytes());
    let mut line = fields[..last].join(&b':');
    line.push(b':');
    line.extend_from_slice(&list.join(&b','));
    Some(line)
}

fn is_nis(line: &[u8]) -> bool {
    matches!(line.first(), Some(b'+' | b'-'))
}

/// A decimal user or group ID field.
fn id(field: &[u8]) -> Option<u32> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// A number as C's `strtol(s, NULL, 0)` reads a whole string: decimal,
/// `0x` hex or `0` octal, a sign before.
fn c_number(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (digits, radix) = if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (hex, 16)
    } else if t.len() > 1 && t.starts_with('0') {
        (&t[1..], 8)
    } else {
        (t, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = i64::from_str_radix(digits, radix).ok()?;
    Some(if negative { -n } else { n })
}

/// `login.defs` as shadow-utils reads it: `NAME value` lines, `#`
/// comments, the value's quotes dropped.
fn login_defs_values(bytes: &[u8]) -> Vec<(String, String)> {
    let mut values = Vec::new();
    for raw in bytes.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_end_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
        let name = line.trim_start_matches([' ', '\t']);
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        let Some(end) = name.find([' ', '\t']) else {
            continue;
        };
        let value = name[end + 1..].trim_start_matches([' ', '"', '\t']);
        let value = value.split('"').next().unwrap_or_default();
        values.push((name[..end].to_string(), value.to_string()));
    }
    values
}

/// `EXPIRE=` as `useradd` reads it: empty is none (-1), a number is days
/// since 1970, else a `YYYY-MM-DD` date.
fn day_number(value: &str) -> Option<i64> {
    if value.is_empty() {
        return Some(-1);
    }
    if let Some(n) = c_number(value).filter(|_| {
        let digits = value
            .strip_prefix('-')
            .unwrap_or(value)
            .trim_start_matches(' ');
        digits.bytes().all(|b| b.is_ascii_digit())
    }) {
        return Some(n);
    }
    let mut parts = value.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// A user or group name as shadow-utils takes it: letters, digits, `_`,
/// `.`, `-` (not first), a `$` last, not all digits, not `.` or `..`.
fn check_name(what: &str, name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let why = if bytes.is_empty() {
        Some("it is empty".to_string())
    } else if bytes.len() > MAX_NAME {
        Some(format!("it is longer than {MAX_NAME} characters"))
    } else if name == "." || name == ".." {
        Some("it is a directory's name".into())
    } else if bytes.iter().all(u8::is_ascii_digit) {
        Some("it is all digits".into())
    } else if !(bytes[0].is_ascii_alphanumeric() || matches!(bytes[0], b'_' | b'.')) {
        Some("it starts with something other than a letter, a digit, '_' or '.'".into())
    } else if bytes.iter().enumerate().skip(1).any(|(i, &b)| {
        !(b.is_ascii_alphanumeric()
            || matches!(b, b'_' | b'.' | b'-')
            || (b == b'$' && i == bytes.len() - 1))
    }) {
        Some("it holds something other than letters, digits, '_', '.', '-' (or a '$' last)".into())
    } else {
        None
    };
    match why {
        Some(why) => Err(invalid(format!("{what} {name:?}: not a valid name: {why}"))),
        None => Ok(()),
    }
}

/// A path in the tree for an absolute path of it.
fn tree_path(what: &str, path: &str) -> Result<String> {
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(invalid(format!(
                    "{what}: the path {path:?} goes up with '..'"
                )))
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The next free ID in `min..=max` as shadow-utils' `find_new_uid` and
/// `find_new_gid` pick it: `preferred` when free and in range, else one
/// above the highest in range, else the lowest free; never 65535 or
/// 2^32-1, which stand for -1 in places.
fn next_id(used: &HashSet<u32>, min: u64, max: u64, preferred: Option<u32>) -> Option<u32> {
    let max = max.min(u64::from(u32::MAX));
    let free = |id: u64| id != 65_535 && id != u64::from(u32::MAX) && !used.contains(&(id as u32));
    if let Some(p) = preferred.map(u64::from) {
        if (min..=max).contains(&p) && free(p) {
            return Some(p as u32);
        }
    }
    let mut highest = min;
    for &id in used {
        let id = u64::from(id);
        if (min..=max).contains(&id) && id >= highest {
            highest = id + 1;
        }
    }
    if highest > max {
        highest = min;
    }
    if let Some(id) = (highest..=max).find(|&id| free(id)) {
        return Some(id as u32);
    }
    if highest == min {
        return None;
    }
    (min..=max).find(|&id| free(id)).map(|id| id as u32)
}

/// A shadow field for a number, `-1` being empty.
fn field(n: i64) -> String {
    if n == -1 {
        String::new()
    } else {
        n.to_string()
    }
}

/// The hash `password` is written as (empty: none given, or locked).
fn password_hash(
    password: &Password,
    name: &str,
    seed: &[u8],
) -> std::result::Result<String, String> {
    match password {
        Password::Locked => Ok(String::new()),
        Password::Hashed(hash) => {
            if hash.contains([':', '\n']) {
                return Err(
                    "the hashed password holds a ':' or a line break, which would split its /etc/shadow line"
                        .into(),
                );
            }
            Ok(hash.clone())
        }
        Password::Plain(plain) => {
            let plain = plain.strip_suffix('\n').unwrap_or(plain);
            if plain.contains('\n') {
                return Err("the plain-text password is more than one line".into());
            }
            if plain.len() > MAX_PLAIN {
                return Err(format!(
                    "the plain-text password is {} bytes, and openssl passwd, which both formats hash it with, keeps only the first {MAX_PLAIN}",
                    plain.len()
                ));
            }
            if plain.is_empty() {
                return Ok(String::new());
            }
            let digest = Sha256::new()
                .chain_update(seed)
                .chain_update([0])
                .chain_update(name.as_bytes())
                .finalize();
            let salt: String = digest[..16]
                .iter()
                .map(|&b| char::from(CRYPT_ALPHABET[usize::from(b & 63)]))
                .collect();
            let hash = sha_crypt::sha512_crypt_b64(
                plain.as_bytes(),
                salt.as_bytes(),
                &sha_crypt::Sha512Params::default(),
            )
            .map_err(|e| format!("hashing the password failed: {e:?}"))?;
            Ok(format!("$6${salt}${hash}"))
        }
    }
}

/// The account files being changed.
struct Files {
    passwd: Table,
    group: Table,
    shadow: Table,
    gshadow: Option<Table>,
}

impl Files {
    /// `groupadd [-g GID] NAME`, for a group that does not exist.
    fn groupadd(&mut self, group: &Group, d: &Defaults) -> Result<()> {
        let name = &group.name;
        if let Some(existing) = self.group.group_entry(name) {
            return match (group.action, group.gid) {
                (Action::Make, _) => Err(invalid(format!(
                    "group {name:?}: the group exists (gid {}), and groupadd, which the toolkit runs, makes only a new one",
                    existing.gid
                ))),
                (_, Some(gid)) => Err(invalid(format!(
                    "group {name:?}: the group exists (gid {}); a gid ({gid}) is given only for a new group",
                    existing.gid
                ))),
                (_, None) => Ok(()),
            };
        }
        if group.action == Action::Change {
            return Err(invalid(format!(
                "group {name:?}: the tree has no such group to change"
            )));
        }
        check_name("group", name)?;
        let gids: HashSet<u32> = self.group.group_entries().map(|e| e.gid).collect();
        let gid = match group.gid {
            Some(gid) => {
                if let Some(other) = self.group.group_entries().find(|e| e.gid == gid) {
                    return Err(invalid(format!(
                        "group {name:?}: gid {gid} is group {:?}'s",
                        String::from_utf8_lossy(&other.name)
                    )));
                }
                gid
            }
            None => self.free_gid(&gids, d, None, &format!("group {name:?}"))?,
        };
        self.add_group(name, gid, "x");
        Ok(())
    }

    fn free_gid(
        &self,
        gids: &HashSet<u32>,
        d: &Defaults,
        preferred: Option<u32>,
        who: &str,
    ) -> Result<u32> {
        if d.gid_max < d.gid_min {
            return Err(invalid(format!(
                "{who}: login.defs has GID_MIN {} above GID_MAX {}",
                d.gid_min, d.gid_max
            )));
        }
        next_id(gids, d.gid_min, d.gid_max, preferred).ok_or_else(|| {
            invalid(format!(
                "{who}: no gid is free between GID_MIN {} and GID_MAX {}",
                d.gid_min, d.gid_max
            ))
        })
    }

    /// A new group's lines: `/etc/group` with `password`, `/etc/gshadow`
    /// (if there is one) with `!`.
    fn add_group(&mut self, name: &str, gid: u32, password: &str) {
        self.group
            .insert(format!("{name}:{password}:{gid}:").into_bytes());
        if let Some(gshadow) = &mut self.gshadow {
            gshadow.replace_or_insert(name, &[4], format!("{name}:!::").into_bytes());
        }
    }

    /// Everything a configuration's user asks, as the tools do it in turn.
    fn user(
        &mut self,
        user: &User,
        d: &Defaults,
        today: u64,
        seed: &[u8],
        made: &mut Made,
    ) -> Result<()> {
        let name = &user.name;
        let who = format!("user {name:?}");
        if let Some(uid) = user.uid {
            if uid > MAX_ID {
                return Err(invalid(format!(
                    "{who}: uid {uid} is above {MAX_ID}, the largest a configuration takes"
                )));
            }
        }
        if let Some(PasswordExpiry::Days(days)) = user.password_expires {
            if days > MAX_EXPIRY_DAYS {
                return Err(invalid(format!(
                    "{who}: the password expires in {days} days, more than {MAX_EXPIRY_DAYS}"
                )));
            }
        }
        let shell = user.startup_command.as_deref().filter(|s| !s.is_empty());
        if let Some(shell) = shell {
            if shell.contains([':', '\n']) {
                return Err(invalid(format!(
                    "{who}: the startup command {shell:?} holds a ':' or a line break, which would split its /etc/passwd line"
                )));
            }
        }
        let hash = match &user.password {
            Some(p) => {
                Some(password_hash(p, name, seed).map_err(|m| invalid(format!("{who}: {m}")))?)
            }
            None => None,
        };

        let existed = self.passwd.passwd_entry(name).is_some();
        match (user.action, existed) {
            (Action::Make, true) => {
                return Err(invalid(format!(
                "{who}: the user exists, and useradd, which the toolkit runs, makes only a new one"
            )))
            }
            (Action::Change, false) => {
                return Err(invalid(format!(
                    "{who}: /etc/passwd has no such user to change"
                )))
            }
            _ => {}
        }
        if existed {
            if let Some(uid) = user.uid {
                return Err(invalid(format!(
                    "{who}: the user exists; a uid ({uid}) is given only for a new user"
                )));
            }
            if let Some(home) = &user.home_directory {
                return Err(invalid(format!(
                    "{who}: the user exists; a home directory ({home}) is given only for a new user"
                )));
            }
            if let Some(hash) = &hash {
                let value = if hash.is_empty() { "*" } else { hash };
                self.set_password(name, value)?;
            }
        } else {
            self.useradd(user, d, today, hash.as_deref().unwrap_or_default(), made)?;
        }

        if let Some(expiry) = user.password_expires {
            self.expire(name, expiry, today)?;
        }
        if existed {
            if let Some(group) = &user.primary_group {
                self.usermod_g(name, group, made)?;
            }
        }
        if !user.secondary_groups.is_empty() {
            self.usermod_a_g(name, &user.secondary_groups)?;
        }
        if let Some(keys) = &user.ssh_public_keys {
            self.authorized_keys(user, keys, existed, made)?;
        }
        if let Some(shell) = shell {
            self.check_shell_edit(name, shell)?;
            let mut entry = self.entry(name)?;
            entry.shell = shell.as_bytes().to_vec();
            self.passwd.set(entry.line, entry.line());
        }
        Ok(())
    }

    /// Both formats set the login shell with `sed -i
    /// 's|^\(NAME.*\):[^:]*$|\1:SHELL|' /etc/passwd`: refuses what that
    /// would do beside setting the user's own, which is written here —
    /// sed's own characters in the shell, and another line the pattern
    /// takes (one whose name starts as the user's, `.` any character).
    fn check_shell_edit(&self, name: &str, shell: &str) -> Result<()> {
        let who = format!("user {name:?}");
        if let Some(c) = shell.chars().find(|c| matches!(c, '\\' | '&' | '|')) {
            return Err(invalid(format!(
                "{who}: the startup command {shell:?} holds {c:?}, which the sed command both formats set it with reads as its own"
            )));
        }
        let own = self.entry(name)?.line;
        let pattern = name.as_bytes();
        for (i, line) in self.passwd.lines.iter().enumerate() {
            let takes = i != own
                && line.len() >= pattern.len()
                && line.iter().zip(pattern).all(|(l, p)| *p == b'.' || l == p)
                && line[pattern.len()..].contains(&b':');
            if takes {
                return Err(invalid(format!(
                    "{who}: the sed command both formats set the startup command with would change the /etc/passwd line {:?} too, as it starts as {name:?} does",
                    String::from_utf8_lossy(line)
                )));
            }
        }
        Ok(())
    }

    /// The user's `/etc/passwd` entry, made or found before.
    fn entry(&self, name: &str) -> Result<PasswdEntry> {
        self.passwd.passwd_entry(name).ok_or_else(|| {
            invalid(format!(
                "user {name:?}: /etc/passwd has no entry for the user that reads back"
            ))
        })
    }

    /// `useradd -m [-p HASH] [-u UID] [-d HOME] [-g GROUP] NAME`.
    fn useradd(
        &mut self,
        user: &User,
        d: &Defaults,
        today: u64,
        hash: &str,
        made: &mut Made,
    ) -> Result<()> {
        let name = &user.name;
        let who = format!("user {name:?}");
        check_name("user", name)?;
        let home = match &user.home_directory {
            Some(home) if !home.starts_with('/') => {
                return Err(invalid(format!(
                    "{who}: the home directory {home:?} is not an absolute path"
                )))
            }
            Some(home) => home.clone(),
            None => format!("{}/{name}", d.home),
        };
        if d.shell.contains([':', '\n']) {
            return Err(invalid(format!(
                "{who}: /etc/default/useradd's SHELL={:?} holds a ':' or a line break, which would split the user's /etc/passwd line",
                d.shell
            )));
        }
        if home.contains([':', '\n']) {
            return Err(invalid(format!(
                "{who}: the home directory {home:?} holds a ':' or a line break, which would split its /etc/passwd line"
            )));
        }
        let home_path = tree_path(&who, &home)?;

        let group = match &user.primary_group {
            Some(group) => Some(
                self.group
                    .group_by_name_or_gid(group)
                    .ok_or_else(|| {
                        invalid(format!("{who}: the primary group {group:?} does not exist"))
                    })?
                    .gid,
            ),
            None if d.user_groups => {
                if self.group.group_entry(name).is_some() {
                    return Err(invalid(format!(
                        "{who}: a group {name:?} exists; name it as the primary group to make the user in it"
                    )));
                }
                None
            }
            None => Some(
                d.group
                    .as_deref()
                    .and_then(|g| self.group.group_by_name_or_gid(g))
                    .map_or(1000, |g| g.gid),
            ),
        };

        let uid = match user.uid {
            Some(uid) => {
                if let Some(other) = self.passwd.passwd_entries().find(|e| e.uid == uid) {
                    return Err(invalid(format!(
                        "{who}: uid {uid} is user {:?}'s",
                        String::from_utf8_lossy(&other.name)
                    )));
                }
                uid
            }
            None => {
                if d.uid_max < d.uid_min {
                    return Err(invalid(format!(
                        "{who}: login.defs has UID_MIN {} above UID_MAX {}",
                        d.uid_min, d.uid_max
                    )));
                }
                let uids: HashSet<u32> = self.passwd.passwd_entries().map(|e| e.uid).collect();
                next_id(&uids, d.uid_min, d.uid_max, None).ok_or_else(|| {
                    invalid(format!(
                        "{who}: no uid is free between UID_MIN {} and UID_MAX {}",
                        d.uid_min, d.uid_max
                    ))
                })?
            }
        };

        let gid = match group {
            Some(gid) => gid,
            None => {
                // The user's own group, its gid the uid when that is free.
                let gids: HashSet<u32> = self.group.group_entries().map(|e| e.gid).collect();
                let gid = self.free_gid(&gids, d, Some(uid), &who)?;
                let password = if self.gshadow.is_some() { "x" } else { "!" };
                self.add_group(name, gid, password);
                gid
            }
        };

        self.passwd
            .insert(format!("{name}:x:{uid}:{gid}::{home}:{}", d.shell).into_bytes());
        let password = if hash.is_empty() { "!" } else { hash };
        let last_change = if today == 0 { -1 } else { today as i64 };
        let shadow = format!(
            "{name}:{password}:{}:{}:{}:{}:{}:{}:",
            field(last_change),
            field(d.pass_min_days),
            field(d.pass_max_days),
            field(d.pass_warn_age),
            field(d.inactive),
            field(d.expire),
        );
        self.shadow
            .replace_or_insert(name, &[9, 5], shadow.into_bytes());

        made.homes.push(Home {
            path: home_path,
            uid,
            gid,
            mode: d.home_mode,
            skel: tree_path("/etc/default/useradd SKEL", &d.skel)?,
        });
        if let (true, Some(dir)) = (d.create_mail_spool, &d.mail_dir) {
            let (gid, mode) = match self.group.group_entry("mail") {
                Some(mail) => (mail.gid, 0o660),
                None => (gid, 0o600),
            };
            made.files.push(File {
                path: join(&tree_path("login.defs MAIL_DIR", dir)?, name),
                uid,
                gid,
                mode,
                contents: Contents::EmptyIfAbsent,
            });
        }
        Ok(())
    }

    /// An existing user's password, in place in `/etc/shadow`.
    fn set_password(&mut self, name: &str, hash: &str) -> Result<()> {
        let prefix = format!("{name}:");
        let found = self.shadow.lines.iter().enumerate().find_map(|(i, line)| {
            let rest = line.strip_prefix(prefix.as_bytes())?;
            let end = rest.iter().position(|&b| b == b':')?;
            Some((i, prefix.len() + end))
        });
        let Some((index, end)) = found else {
            return Err(invalid(format!(
                "user {name:?}: /etc/shadow has no line for the user to set the password in"
            )));
        };
        let old = &self.shadow.lines[index];
        let mut line = prefix.into_bytes();
        line.extend_from_slice(hash.as_bytes());
        line.extend_from_slice(&old[end..]);
        self.shadow.set(index, line);
        Ok(())
    }

    /// The expiry fields of the user's `/etc/shadow` line.
    fn expire(&mut self, name: &str, expiry: PasswordExpiry, today: u64) -> Result<()> {
        let who = format!("user {name:?}");
        let prefix = format!("{name}:");
        let Some(index) = self
            .shadow
            .lines
            .iter()
            .position(|l| l.starts_with(prefix.as_bytes()))
        else {
            return Err(invalid(format!(
                "{who}: /etc/shadow has no line for the user to set the expiry in"
            )));
        };
        let mut fields: Vec<Vec<u8>> = self.shadow.lines[index]
            .split(|&b| b == b':')
            .map(<[u8]>::to_vec)
            .collect();
        if fields.len() != 9 {
            return Err(invalid(format!(
                "{who}: the user's /etc/shadow line has {} fields, not 9",
                fields.len()
            )));
        }
        match expiry {
            PasswordExpiry::Never => {
                for f in &mut fields[4..] {
                    f.clear();
                }
            }
            PasswordExpiry::Days(days) => {
                if fields[2].is_empty() {
                    fields[2] = today.to_string().into_bytes();
                }
                let last: i64 = std::str::from_utf8(&fields[2])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| {
                        invalid(format!(
                            "{who}: the last password change in /etc/shadow, {:?}, is not a number",
                            String::from_utf8_lossy(&fields[2])
                        ))
                    })?;
                let expires = i64::try_from(days)
                    .ok()
                    .and_then(|d| last.checked_add(d))
                    .ok_or_else(|| {
                        invalid(format!(
                            "{who}: the last password change in /etc/shadow, {last}, plus {days} \
                             days is past the last day /etc/shadow can hold"
                        ))
                    })?;
                fields[7] = expires.to_string().into_bytes();
            }
        }
        self.shadow.set(index, fields.join(&b':'));
        Ok(())
    }

    /// `usermod -g GROUP NAME`.
    fn usermod_g(&mut self, name: &str, group: &str, made: &mut Made) -> Result<()> {
        let who = format!("user {name:?}");
        let gid = self
            .group
            .group_by_name_or_gid(group)
            .ok_or_else(|| invalid(format!("{who}: the primary group {group:?} does not exist")))?
            .gid;
        let mut entry = self.entry(name)?;
        if entry.gid != gid {
            made.regroups.push(Regroup {
                home: tree_path(&who, &String::from_utf8_lossy(&entry.home))?,
                uid: entry.uid,
                from_gid: entry.gid,
                to_gid: gid,
            });
            entry.gid = gid;
            self.passwd.set(entry.line, entry.line());
        }
        Ok(())
    }

    /// `usermod -a -G GROUP,... NAME`: the user added to the members of
    /// each group's `/etc/group` and `/etc/gshadow` entries.
    fn usermod_a_g(&mut self, name: &str, groups: &[String]) -> Result<()> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for group in groups {
            let entry = self.group.group_by_name_or_gid(group).ok_or_else(|| {
                invalid(format!(
                    "user {name:?}: the secondary group {group:?} does not exist"
                ))
            })?;
            if !names.contains(&entry.name) {
                names.push(entry.name);
            }
        }
        let changes: Vec<(usize, Vec<u8>)> = self
            .group
            .group_entries()
            .filter(|e| names.contains(&e.name))
            .filter_map(|e| {
                let gid = e.gid.to_string();
                let fields = [&e.name[..], &e.password, gid.as_bytes(), &e.members];
                with_member(&fields, name).map(|line| (e.line, line))
            })
            .collect();
        for (index, line) in changes {
            self.group.set(index, line);
        }
        if let Some(gshadow) = &mut self.gshadow {
            let mut changes = Vec::new();
            for (index, fields) in gshadow.entries(&[4]) {
                if names.iter().any(|n| n[..] == *fields[0]) {
                    if let Some(line) = with_member(&fields, name) {
                        changes.push((index, line));
                    }
                }
            }
            for (index, line) in changes {
                gshadow.set(index, line);
            }
        }
        Ok(())
    }

    /// `~/.ssh/authorized_keys` with the user's keys, as `user`'s format
    /// writes it.
    fn authorized_keys(
        &mut self,
        user: &User,
        keys: &[String],
        existed: bool,
        made: &mut Made,
    ) -> Result<()> {
        let who = format!("user {:?}", user.name);
        let entry = self.entry(&user.name)?;
        let home = tree_path(&who, &String::from_utf8_lossy(&entry.home))?;
        let ssh = join(&home, ".ssh");
        let mut bytes = Vec::new();
        for key in keys {
            bytes.extend_from_slice(key.as_bytes());
            bytes.push(b'\n');
        }
        made.dirs.push(Dir {
            path: ssh.clone(),
            uid: entry.uid,
            gid: entry.gid,
            mode: 0o700,
        });
        let (mode, after_existing) = match &user.ssh_layout {
            SshLayout::Customizer => (0o600, existed),
            SshLayout::Toolkit { copies } => {
                for (name, bytes) in copies {
                    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                        return Err(invalid(format!(
                            "{who}: {name:?} is not a file name to copy a key file to"
                        )));
                    }
                    made.files.push(File {
                        path: join(&ssh, name),
                        uid: entry.uid,
                        gid: entry.gid,
                        mode: 0o700,
                        contents: Contents::Bytes {
                            bytes: bytes.clone(),
                            after_existing: false,
                        },
                    });
                }
                (0o700, false)
            }
        };
        made.files.push(File {
            path: join(&ssh, "authorized_keys"),
            uid: entry.uid,
            gid: entry.gid,
            mode,
            contents: Contents::Bytes {
                bytes,
                after_existing,
            },
        });
        if let SshLayout::Toolkit { .. } = user.ssh_layout {
            made.reowns.push(Reown {
                path: ssh,
                uid: entry.uid,
                gid: entry.gid,
                mode: 0o700,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;
    use std::process::Command;

    use super::*;

    /// The build's time for the tools (`SOURCE_DATE_EPOCH`), and its day.
    const EPOCH: u64 = 1_700_000_000;
    const TODAY: u64 = EPOCH / 86_400;
    const SEED: &[u8] = b"seed";

    /// Runs a shadow-utils tool (or `openssl`) as the build's time; fails
    /// the test unless it succeeds. Returns stdout.
    fn tool(program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .env("SOURCE_DATE_EPOCH", EPOCH.to_string())
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {program} ({e}): the tests need shadow-utils (Debian's `passwd`) and openssl, run as root")
            });
        assert!(
            out.status.success(),
            "{program} {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn write(root: &Path, path: &str, bytes: &[u8]) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn read(root: &Path, path: &str) -> Vec<u8> {
        fs::read(root.join(path)).unwrap()
    }

    fn accounts(root: &Path) -> Accounts {
        let gshadow = root.join("etc/gshadow");
        Accounts {
            passwd: read(root, "etc/passwd"),
            group: read(root, "etc/group"),
            shadow: read(root, "etc/shadow"),
            gshadow: gshadow.exists().then(|| fs::read(gshadow).unwrap()),
        }
    }

    fn defaults(root: &Path) -> Defaults {
        let file = |p: &str| fs::read(root.join(p)).ok();
        Defaults::read(
            file("etc/login.defs").as_deref(),
            file("etc/default/useradd").as_deref(),
        )
        .unwrap()
    }

    /// Owner, group and permission bits of `path` in `root`.
    fn owner(root: &Path, path: &str) -> (u32, u32, u32) {
        let m = fs::metadata(root.join(path)).unwrap();
        (m.uid(), m.gid(), m.permissions().mode() & 0o7777)
    }

    /// A tree with system accounts, `users`, `mail` and an existing user
    /// `alice` (her password last changed on the build's day, as `usermod
    /// -p` sets it), with shadow-utils' settings.
    fn tree(root: &Path) {
        write(
            root,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/bash\n\
              bin:x:1:1:bin:/bin:/usr/sbin/nologin\n\
              daemon:x:2:2:daemon:/sbin:/usr/sbin/nologin\n\
              alice:x:1000:1000::/home/alice:/bin/bash\n",
        );
        write(
            root,
            "etc/group",
            b"root:x:0:\nbin:x:1:\ndaemon:x:2:\nmail:x:8:\nusers:x:100:\nalice:x:1000:\n",
        );
        write(
            root,
            "etc/shadow",
            format!(
                "root:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n\
                 daemon:*:19000:0:99999:7:::\nalice:$6$old$hash:{TODAY}:0:99999:7:::\n"
            )
            .as_bytes(),
        );
        write(
            root,
            "etc/gshadow",
            b"root:*::\nbin:*::\ndaemon:*::\nmail:*::\nusers:*::\nalice:!::\n",
        );
        write(
            root,
            "etc/login.defs",
            b"# shadow-utils\nMAIL_DIR\t/var/mail\nUID_MIN 1000\nUID_MAX 60000\n\
              GID_MIN 1000\nGID_MAX 60000\nPASS_MAX_DAYS 99999\nPASS_MIN_DAYS 7\n\
              PASS_WARN_AGE 7\nUMASK 022\nHOME_MODE 0700\nUSERGROUPS_ENAB yes\n",
        );
        write(
            root,
            "etc/default/useradd",
            b"GROUP=100\nHOME=/home\nINACTIVE=-1\nEXPIRE=\nSHELL=/bin/bash\n\
              SKEL=/etc/skel\nCREATE_MAIL_SPOOL=yes\n",
        );
        write(root, "etc/skel/.bashrc", b"alias ll='ls -l'\n");
        write(root, "home/alice/notes", b"alice's\n");
        write(root, "var/mail/.keep", b"");
        for path in ["home/alice", "home/alice/notes"] {
            std::os::unix::fs::chown(root.join(path), Some(1000), Some(1000)).unwrap();
        }
    }

    fn salt(hash: &str) -> &str {
        hash.split('$').nth(2).unwrap()
    }

    /// Two groups, a user with everything given, a user with nothing
    /// given, one with a plain password and a home elsewhere, and changes
    /// to an existing user: the four files as groupadd, useradd, usermod
    /// and chage leave them, and what they make beside them.
    #[test]
    fn users_as_the_tools_make_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        tree(root);
        let prefix = root.to_str().unwrap();
        let mut accounts = accounts(root);
        let defaults = defaults(root);

        let plain = password_hash(&Password::Plain("s3cret\n".into()), "dave", SEED).unwrap();
        // openssl's SHA-512 crypt with the same salt: the same hash.
        let openssl = tool(
            "openssl",
            &["passwd", "-6", "-salt", salt(&plain), "s3cret"],
        );
        assert_eq!(openssl.trim_end(), plain);
        assert_eq!(salt(&plain).len(), 16);

        let groups = [
            Group {
                name: "devs".into(),
                gid: None,
                ..Group::default()
            },
            Group {
                name: "ops".into(),
                gid: Some(2000),
                ..Group::default()
            },
            Group {
                name: "users".into(),
                gid: None,
                ..Group::default()
            },
        ];
        let carol = User {
            name: "carol".into(),
            uid: Some(3000),
            password: Some(Password::Hashed("$6$abc$xyz".into())),
            password_expires: Some(PasswordExpiry::Days(90)),
            ssh_public_keys: Some(vec!["ssh-ed25519 AAAAC3 carol@host".into()]),
            primary_group: Some("ops".into()),
            secondary_groups: vec!["devs".into(), "100".into()],
            startup_command: Some("/bin/sh".into()),
            home_directory: None,
            ..User::default()
        };
        let bob = User {
            name: "bob".into(),
            ..User::default()
        };
        let dave = User {
            name: "dave".into(),
            password: Some(Password::Plain("s3cret\n".into())),
            home_directory: Some("/srv/dave".into()),
            ..User::default()
        };
        let alice = User {
            name: "alice".into(),
            password: Some(Password::Locked),
            password_expires: Some(PasswordExpiry::Never),
            ssh_public_keys: Some(vec!["ssh-rsa AAAAB3 alice@host".into()]),
            primary_group: Some("users".into()),
            secondary_groups: vec!["devs".into()],
            startup_command: Some("/bin/zsh".into()),
            ..User::default()
        };
        let made = apply(
            &mut accounts,
            &defaults,
            &groups,
            &[carol, bob, dave, alice],
            TODAY,
            SEED,
        )
        .unwrap();

        // What the toolkit and Image Customizer run, in the tree as a
        // chroot. `users` exists: no groupadd.
        tool("groupadd", &["-R", prefix, "devs"]);
        tool("groupadd", &["-R", prefix, "-g", "2000", "ops"]);
        let expires = (TODAY + 90).to_string();
        tool(
            "useradd",
            &[
                "-R",
                prefix,
                "carol",
                "-m",
                "-p",
                "$6$abc$xyz",
                "-u",
                "3000",
                "-g",
                "ops",
            ],
        );
        tool("chage", &["-R", prefix, "-E", &expires, "carol"]);
        tool("usermod", &["-R", prefix, "-a", "-G", "devs,100", "carol"]);
        tool("usermod", &["-R", prefix, "-s", "/bin/sh", "carol"]);
        tool("useradd", &["-R", prefix, "bob", "-m"]);
        tool(
            "useradd",
            &["-R", prefix, "dave", "-m", "-p", &plain, "-d", "/srv/dave"],
        );
        tool("usermod", &["-R", prefix, "-p", "*", "alice"]);
        tool(
            "chage",
            &[
                "-R", prefix, "-M", "-1", "-W", "-1", "-I", "-1", "-E", "-1", "alice",
            ],
        );
        tool("usermod", &["-R", prefix, "-g", "users", "alice"]);
        tool("usermod", &["-R", prefix, "-a", "-G", "devs", "alice"]);
        tool("usermod", &["-R", prefix, "-s", "/bin/zsh", "alice"]);

        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert_eq!(text(&accounts.passwd), text(&read(root, "etc/passwd")));
        assert_eq!(text(&accounts.group), text(&read(root, "etc/group")));
        assert_eq!(text(&accounts.shadow), text(&read(root, "etc/shadow")));
        assert_eq!(
            text(accounts.gshadow.as_deref().unwrap()),
            text(&read(root, "etc/gshadow"))
        );
        // Spelled out, for what the comparison rests on.
        assert!(text(&accounts.passwd).ends_with(
            "carol:x:3000:2000::/home/carol:/bin/sh\nbob:x:3001:3001::/home/bob:/bin/bash\n\
             dave:x:3002:3002::/srv/dave:/bin/bash\n"
        ));
        assert!(text(&accounts.group).contains("users:x:100:carol\n"));
        assert!(text(&accounts.group).contains("devs:x:1001:carol,alice\n"));
        assert!(text(&accounts.shadow).contains(&format!(
            "carol:$6$abc$xyz:{TODAY}:7:99999:7::{expires}:\nbob:!:{TODAY}:7:99999:7:::\n"
        )));
        assert!(text(&accounts.shadow).contains(&format!("alice:*:{TODAY}:0:::::\n")));

        // The homes and mailboxes useradd made, as `made` describes them.
        let homes: Vec<_> = made
            .homes
            .iter()
            .map(|h| (h.path.as_str(), (h.uid, h.gid, h.mode)))
            .collect();
        assert_eq!(
            homes,
            [
                ("home/carol", (3000, 2000, 0o700)),
                ("home/bob", (3001, 3001, 0o700)),
                ("srv/dave", (3002, 3002, 0o700)),
            ]
        );
        for (path, ids) in &homes {
            assert_eq!(owner(root, path), *ids, "{path}");
            assert_eq!(
                read(root, &format!("{path}/.bashrc")),
                b"alias ll='ls -l'\n"
            );
        }
        assert!(made.homes.iter().all(|h| h.skel == "etc/skel"));
        assert_eq!(owner(root, "srv"), (0, 0, 0o755));
        let mailboxes: Vec<_> = made
            .files
            .iter()
            .filter(|f| f.contents == Contents::EmptyIfAbsent)
            .map(|f| (f.path.as_str(), (f.uid, f.gid, f.mode)))
            .collect();
        assert_eq!(
            mailboxes,
            [
                ("var/mail/carol", (3000, 8, 0o660)),
                ("var/mail/bob", (3001, 8, 0o660)),
                ("var/mail/dave", (3002, 8, 0o660)),
            ]
        );
        for (path, ids) in &mailboxes {
            assert_eq!(owner(root, path), *ids, "{path}");
        }
        // usermod -g moved alice's files to her new group.
        assert_eq!(
            made.regroups,
            [Regroup {
                home: "home/alice".into(),
                uid: 1000,
                from_gid: 1000,
                to_gid: 100,
            }]
        );
        assert_eq!(owner(root, "home/alice/notes").1, 100);
        assert_eq!(owner(root, "home/alice").1, 100);

        // ~/.ssh, after the homes; an existing user's keys after hers.
        assert_eq!(
            made.dirs,
            [
                Dir {
                    path: "home/carol/.ssh".into(),
                    uid: 3000,
                    gid: 2000,
                    mode: 0o700,
                },
                Dir {
                    path: "home/alice/.ssh".into(),
                    uid: 1000,
                    gid: 100,
                    mode: 0o700,
                },
            ]
        );
        let keys: Vec<_> = made
            .files
            .iter()
            .filter(|f| f.contents != Contents::EmptyIfAbsent)
            .collect();
        assert_eq!(
            keys,
            [
                &File {
                    path: "home/carol/.ssh/authorized_keys".into(),
                    uid: 3000,
                    gid: 2000,
                    mode: 0o600,
                    contents: Contents::Bytes {
                        bytes: b"ssh-ed25519 AAAAC3 carol@host\n".to_vec(),
                        after_existing: false,
                    },
                },
                &File {
                    path: "home/alice/.ssh/authorized_keys".into(),
                    uid: 1000,
                    gid: 100,
                    mode: 0o600,
                    contents: Contents::Bytes {
                        bytes: b"ssh-rsa AAAAB3 alice@host\n".to_vec(),
                        after_existing: true,
                    },
                },
            ]
        );
    }

    /// Without `/etc/gshadow` or `/etc/login.defs`: a group's password
    /// field `x` from groupadd, no user groups (`GROUP=`), empty ageing
    /// fields; a new entry goes before the NIS line, malformed lines stay,
    /// and a changed file gets its last newline.
    #[test]
    fn users_without_gshadow_or_login_defs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/bash\nnot an entry\n+@netgroup::::::\n\
              alice:x:1000:1000::/home/alice:/bin/bash",
        );
        write(root, "etc/group", b"root:x:0:\nusers:x:100:\nalice:x:1000:");
        write(
            root,
            "etc/shadow",
            b"root:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n",
        );
        write(
            root,
            "etc/default/useradd",
            b"GROUP=users\nSKEL=/etc/skel\nCREATE_MAIL_SPOOL=no\n",
        );
        let prefix = root.to_str().unwrap();
        let mut accounts = accounts(root);
        assert!(accounts.gshadow.is_none());
        let defaults = defaults(root);
        let groups = [Group {
            name: "devs".into(),
            gid: None,
            ..Group::default()
        }];
        let users = [User {
            name: "bob".into(),
            secondary_groups: vec!["devs".into()],
            ..User::default()
        }];
        let made = apply(&mut accounts, &defaults, &groups, &users, TODAY, SEED).unwrap();

        tool("groupadd", &["-R", prefix, "devs"]);
        tool("useradd", &["-R", prefix, "bob"]);
        tool("usermod", &["-R", prefix, "-a", "-G", "devs", "bob"]);

        assert_eq!(accounts.passwd, read(root, "etc/passwd"));
        assert_eq!(accounts.group, read(root, "etc/group"));
        assert_eq!(accounts.shadow, read(root, "etc/shadow"));
        assert_eq!(
            String::from_utf8_lossy(&accounts.passwd),
            "root:x:0:0:root:/root:/bin/bash\nnot an entry\nbob:x:1001:100::/home/bob:/bin/bash\n\
             +@netgroup::::::\nalice:x:1000:1000::/home/alice:/bin/bash\n"
        );
        assert!(String::from_utf8_lossy(&accounts.group).ends_with("devs:x:1001:bob\n"));
        assert!(
            String::from_utf8_lossy(&accounts.shadow).ends_with(&format!("bob:!:{TODAY}::::::\n"))
        );
        assert!(made.files.is_empty());
        assert_eq!(made.homes[0].mode, 0o755);
    }

    /// A new user's own group without gshadow has `!`, as useradd writes
    /// it; its gid is the uid unless that is taken, then one above the
    /// highest.
    #[test]
    fn users_own_group_and_its_gid() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n");
        write(root, "etc/group", b"root:x:0:\ntaken:x:1005:\n");
        write(root, "etc/shadow", b"root:*:19000:0:99999:7:::\n");
        write(root, "etc/login.defs", b"USERGROUPS_ENAB yes\n");
        write(
            root,
            "etc/default/useradd",
            b"SKEL=/etc/skel\nCREATE_MAIL_SPOOL=no\n",
        );
        let prefix = root.to_str().unwrap();
        let mut accounts = accounts(root);
        let users = [
            User {
                name: "first".into(),
                uid: Some(1005),
                ..User::default()
            },
            User {
                name: "second".into(),
                uid: Some(1002),
                ..User::default()
            },
            User {
                name: "third".into(),
                uid: Some(500),
                ..User::default()
            },
        ];
        apply(&mut accounts, &defaults(root), &[], &users, TODAY, SEED).unwrap();
        tool("useradd", &["-R", prefix, "-u", "1005", "first"]);
        tool("useradd", &["-R", prefix, "-u", "1002", "second"]);
        tool("useradd", &["-R", prefix, "-u", "500", "third"]);
        assert_eq!(accounts.passwd, read(root, "etc/passwd"));
        assert_eq!(accounts.group, read(root, "etc/group"));
        assert_eq!(accounts.shadow, read(root, "etc/shadow"));
        assert_eq!(
            String::from_utf8_lossy(&accounts.group),
            "root:x:0:\ntaken:x:1005:\nfirst:!:1006:\nsecond:!:1002:\nthird:!:1007:\n"
        );
    }

    fn base() -> Accounts {
        Accounts {
            passwd: b"root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n"
                .to_vec(),
            group: b"root:x:0:\nusers:x:100:\nalice:x:1000:\n".to_vec(),
            shadow: b"root:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n".to_vec(),
            gshadow: Some(b"root:*::\nusers:*::\nalice:!::\n".to_vec()),
        }
    }

    fn login_defs() -> Defaults {
        Defaults::read(Some(b"USERGROUPS_ENAB yes\n"), None).unwrap()
    }

    /// The error applying `groups` and `users` to [`base`], which stays as
    /// it was.
    fn refusal(groups: &[Group], users: &[User]) -> String {
        let mut accounts = base();
        let e = apply(&mut accounts, &login_defs(), groups, users, TODAY, SEED).unwrap_err();
        assert_eq!(accounts, base(), "changed on an error: {e}");
        e.to_string()
    }

    fn group(name: &str, gid: Option<u32>) -> Group {
        Group {
            name: name.into(),
            gid,
            ..Group::default()
        }
    }

    fn user(name: &str) -> User {
        User {
            name: name.into(),
            ..User::default()
        }
    }

    #[test]
    fn users_refuse_a_gid_for_an_existing_group() {
        let e = refusal(&[group("users", Some(100))], &[]);
        assert!(e.contains("group \"users\"") && e.contains("exists"), "{e}");
        let mut accounts = base();
        apply(
            &mut accounts,
            &login_defs(),
            &[group("users", None)],
            &[],
            TODAY,
            SEED,
        )
        .unwrap();
        assert_eq!(accounts, base());
    }

    #[test]
    fn users_refuse_a_gid_in_use() {
        let e = refusal(&[group("devs", Some(100))], &[]);
        assert!(
            e.contains("group \"devs\": gid 100 is group \"users\"'s"),
            "{e}"
        );
    }

    #[test]
    fn users_refuse_invalid_names() {
        for name in ["", "-x", "123", "a b", "a:b", "..", "a$b", &"a".repeat(33)] {
            let e = refusal(&[group(name, None)], &[]);
            assert!(
                e.contains(&format!("group {name:?}: not a valid name")),
                "{e}"
            );
            let e = refusal(&[], &[user(name)]);
            assert!(
                e.contains(&format!("user {name:?}: not a valid name")),
                "{e}"
            );
        }
        for name in ["a$", "_x", ".x", "A.b-c", "x1"] {
            let mut accounts = base();
            apply(
                &mut accounts,
                &login_defs(),
                &[],
                &[user(name)],
                TODAY,
                SEED,
            )
            .unwrap();
        }
    }

    #[test]
    fn users_refuse_no_free_id() {
        let defaults = Defaults::read(
            Some(b"USERGROUPS_ENAB yes\nUID_MIN 1000\nUID_MAX 1000\n"),
            None,
        )
        .unwrap();
        let e = apply(&mut base(), &defaults, &[], &[user("bob")], TODAY, SEED).unwrap_err();
        assert!(
            e.to_string()
                .contains("user \"bob\": no uid is free between"),
            "{e}"
        );
        let defaults = Defaults::read(Some(b"GID_MIN 1000\nGID_MAX 1000\n"), None).unwrap();
        let e = apply(
            &mut base(),
            &defaults,
            &[group("devs", None)],
            &[],
            TODAY,
            SEED,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("group \"devs\": no gid is free between"),
            "{e}"
        );
        let defaults = Defaults::read(Some(b"UID_MIN 2000\nUID_MAX 1000\n"), None).unwrap();
        let e = apply(&mut base(), &defaults, &[], &[user("bob")], TODAY, SEED).unwrap_err();
        assert!(
            e.to_string().contains("UID_MIN 2000 above UID_MAX 1000"),
            "{e}"
        );
    }

    #[test]
    fn users_refuse_a_uid_or_home_for_an_existing_user() {
        let e = refusal(
            &[],
            &[User {
                uid: Some(1000),
                ..user("alice")
            }],
        );
        assert!(
            e.contains("user \"alice\": the user exists; a uid (1000)"),
            "{e}"
        );
        let e = refusal(
            &[],
            &[User {
                home_directory: Some("/home/alice".into()),
                ..user("alice")
            }],
        );
        assert!(
            e.contains("user \"alice\": the user exists; a home directory"),
            "{e}"
        );
    }

    #[test]
    fn users_refuse_a_uid_in_use_or_out_of_range() {
        let e = refusal(
            &[],
            &[User {
                uid: Some(1000),
                ..user("bob")
            }],
        );
        assert!(
            e.contains("user \"bob\": uid 1000 is user \"alice\"'s"),
            "{e}"
        );
        let e = refusal(
            &[],
            &[User {
                uid: Some(60_001),
                ..user("bob")
            }],
        );
        assert!(e.contains("user \"bob\": uid 60001 is above 60000"), "{e}");
    }

    #[test]
    fn users_refuse_groups_that_do_not_exist() {
        let e = refusal(
            &[],
            &[User {
                primary_group: Some("wheel".into()),
                ..user("bob")
            }],
        );
        assert!(
            e.contains("user \"bob\": the primary group \"wheel\" does not exist"),
            "{e}"
        );
        let e = refusal(
            &[],
            &[User {
                primary_group: Some("wheel".into()),
                ..user("alice")
            }],
        );
        assert!(
            e.contains("user \"alice\": the primary group \"wheel\" does not exist"),
            "{e}"
        );
        let e = refusal(
            &[],
            &[User {
                secondary_groups: vec!["users".into(), "4242".into()],
                ..user("bob")
            }],
        );
        assert!(
            e.contains("user \"bob\": the secondary group \"4242\" does not exist"),
            "{e}"
        );
    }

    #[test]
    fn users_refuse_a_group_of_the_new_users_name() {
        let mut accounts = base();
        accounts.passwd = b"root:x:0:0:root:/root:/bin/bash\n".to_vec();
        assert!(accounts.has_group("alice") && !accounts.has_user("alice"));
        let e = apply(
            &mut accounts,
            &login_defs(),
            &[],
            &[user("alice")],
            TODAY,
            SEED,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("user \"alice\": a group \"alice\" exists"),
            "{e}"
        );
        // Named as the primary group, it is the user's.
        let alice = User {
            primary_group: Some("alice".into()),
            ..user("alice")
        };
        apply(&mut accounts, &login_defs(), &[], &[alice], TODAY, SEED).unwrap();
        assert!(String::from_utf8_lossy(&accounts.passwd).contains("alice:x:1000:1000:"));
    }

    #[test]
    fn users_refuse_what_would_split_a_line() {
        let cases = [
            (
                User {
                    password: Some(Password::Hashed("$6$a:b".into())),
                    ..user("bob")
                },
                "user \"bob\": the hashed password holds a ':'",
            ),
            (
                User {
                    password: Some(Password::Hashed("$6$ab\n".into())),
                    ..user("alice")
                },
                "user \"alice\": the hashed password holds a ':' or a line break",
            ),
            (
                User {
                    password: Some(Password::Plain("one\ntwo".into())),
                    ..user("bob")
                },
                "user \"bob\": the plain-text password is more than one line",
            ),
            (
                User {
                    startup_command: Some("/bin/sh:x".into()),
                    ..user("alice")
                },
                "user \"alice\": the startup command \"/bin/sh:x\" holds a ':'",
            ),
            (
                User {
                    home_directory: Some("/home/a:b".into()),
                    ..user("bob")
                },
                "user \"bob\": the home directory \"/home/a:b\" holds a ':'",
            ),
            (
                User {
                    home_directory: Some("home/bob".into()),
                    ..user("bob")
                },
                "user \"bob\": the home directory \"home/bob\" is not an absolute path",
            ),
            (
                User {
                    home_directory: Some("/home/../etc".into()),
                    ..user("bob")
                },
                "user \"bob\": the path \"/home/../etc\" goes up",
            ),
            (
                User {
                    password_expires: Some(PasswordExpiry::Days(100_000)),
                    ..user("alice")
                },
                "user \"alice\": the password expires in 100000 days, more than 99999",
            ),
        ];
        for (u, want) in cases {
            let e = refusal(&[], &[u]);
            assert!(e.contains(want), "{e}\nwanted: {want}");
        }
    }

    #[test]
    fn users_refuse_shadow_lines_they_cannot_edit() {
        let mut accounts = base();
        accounts.shadow = b"root:*:19000:0:99999:7:::\n".to_vec();
        let locked = User {
            password: Some(Password::Locked),
            ..user("alice")
        };
        let e = apply(&mut accounts, &login_defs(), &[], &[locked], TODAY, SEED).unwrap_err();
        assert!(
            e.to_string()
                .contains("user \"alice\": /etc/shadow has no line for the user"),
            "{e}"
        );
        accounts.shadow = b"alice:!:19000:0:99999:7\n".to_vec();
        let expiring = User {
            password_expires: Some(PasswordExpiry::Days(3)),
            ..user("alice")
        };
        let e = apply(
            &mut accounts,
            &login_defs(),
            &[],
            std::slice::from_ref(&expiring),
            TODAY,
            SEED,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("user \"alice\": the user's /etc/shadow line has 6 fields, not 9"),
            "{e}"
        );
        accounts.shadow = b"alice:!:soon:0:99999:7:::\n".to_vec();
        let e = apply(
            &mut accounts,
            &login_defs(),
            &[],
            std::slice::from_ref(&expiring),
            TODAY,
            SEED,
        )
        .unwrap_err();
        assert!(e.to_string().contains("user \"alice\": the last password change in /etc/shadow, \"soon\", is not a number"), "{e}");
        // An empty last change is the build's day.
        accounts.shadow = b"alice:!::0:99999:7:::\n".to_vec();
        apply(&mut accounts, &login_defs(), &[], &[expiring], TODAY, SEED).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&accounts.shadow),
            format!("alice:!:{TODAY}:0:99999:7::{}:\n", TODAY + 3)
        );
    }

    #[test]
    fn users_refuse_defaults_they_do_not_apply() {
        let e = Defaults::read(None, Some(b"GROUPS=wheel,video\n")).unwrap_err();
        assert!(
            e.to_string()
                .contains("/etc/default/useradd: GROUPS=wheel,video"),
            "{e}"
        );
        let e = Defaults::read(None, Some(b"EXPIRE=next week\n")).unwrap_err();
        assert!(
            e.to_string()
                .contains("/etc/default/useradd: EXPIRE=next week"),
            "{e}"
        );
        let d = Defaults::read(None, Some(b"EXPIRE=2024-03-01\nGROUPS=\n")).unwrap();
        assert_eq!(d.expire, 19_783);
        let mut accounts = base();
        let d = Defaults::read(Some(b"USERGROUPS_ENAB yes\n"), Some(b"SHELL=/bin/a:b\n")).unwrap();
        let e = apply(&mut accounts, &d, &[], &[user("bob")], TODAY, SEED).unwrap_err();
        assert!(
            e.to_string()
                .contains("user \"bob\": /etc/default/useradd's SHELL=\"/bin/a:b\""),
            "{e}"
        );
    }

    /// login.defs read as shadow-utils reads it: octal and hex numbers,
    /// quotes, the last of a repeated name, unreadable numbers as unset.
    #[test]
    fn users_read_login_defs() {
        let d = Defaults::read(
            Some(
                b"UID_MIN 500\nUID_MIN\t0x400\n  GID_MAX \"7000\"\nUMASK 077\n\
                  PASS_MAX_DAYS lots\nPASS_MIN_DAYS 08\nMAIL_FILE .mail\n#USERGROUPS_ENAB yes\n",
            ),
            None,
        )
        .unwrap();
        assert_eq!((d.uid_min, d.gid_max), (1024, 7000));
        assert_eq!(d.home_mode, 0o700);
        assert_eq!((d.pass_max_days, d.pass_min_days), (-1, -1));
        assert_eq!(d.mail_dir, None);
        assert!(!d.user_groups);
    }

    /// The ID search of find_new_uid/find_new_gid.
    #[test]
    fn users_pick_ids_as_shadow_utils() {
        let used = |ids: &[u32]| ids.iter().copied().collect::<HashSet<u32>>();
        assert_eq!(next_id(&used(&[0, 100]), 1000, 60_000, None), Some(1000));
        assert_eq!(
            next_id(&used(&[1000, 1500]), 1000, 60_000, None),
            Some(1501)
        );
        assert_eq!(
            next_id(&used(&[1000, 1500]), 1000, 60_000, Some(1200)),
            Some(1200)
        );
        assert_eq!(
            next_id(&used(&[1000, 1500]), 1000, 60_000, Some(1500)),
            Some(1501)
        );
        assert_eq!(
            next_id(&used(&[1000, 1500]), 1000, 60_000, Some(999)),
            Some(1501)
        );
        // The top taken: the lowest free.
        assert_eq!(
            next_id(&used(&[1000, 1001, 60_000]), 1000, 60_000, None),
            Some(1002)
        );
        // 65535 is skipped.
        assert_eq!(next_id(&used(&[65_534]), 1000, 70_000, None), Some(65_536));
        assert_eq!(next_id(&used(&[1000]), 1000, 1000, None), None);
    }

    /// A plain password's hash is the same for the same seed and name,
    /// another for another.
    #[test]
    fn users_hash_plain_passwords_deterministically() {
        let hash =
            |seed: &[u8], name| password_hash(&Password::Plain("pw".into()), name, seed).unwrap();
        assert_eq!(hash(SEED, "bob"), hash(SEED, "bob"));
        assert_ne!(salt(&hash(SEED, "bob")), salt(&hash(SEED, "eve")));
        assert_ne!(salt(&hash(SEED, "bob")), salt(&hash(b"other", "bob")));
        assert!(hash(SEED, "bob").starts_with("$6$"));
        assert_eq!(
            password_hash(&Password::Plain("\n".into()), "bob", SEED).unwrap(),
            ""
        );
    }

    /// The toolkit's: every group and user but root made anew, root
    /// changed, key files copied into ~/.ssh and all of it 0700; errors
    /// name the configuration's field.
    #[test]
    fn users_as_the_toolkit_makes_them() {
        let declared = Declared {
            file: "core.json".into(),
            field: "SystemConfigs[0].Groups[0]".into(),
            batch: 0,
        };
        let existing = Group {
            action: Action::Make,
            declared: declared.clone(),
            ..group("users", None)
        };
        let e = apply(&mut base(), &login_defs(), &[existing], &[], TODAY, SEED).unwrap_err();
        assert!(
            e.to_string().contains("group \"users\": the group exists"),
            "{e}"
        );
        assert_eq!(e.file_path(), Some(Path::new("core.json")));
        assert_eq!(e.field_name(), Some("SystemConfigs[0].Groups[0]"));
        let e = refusal(
            &[],
            &[User {
                action: Action::Make,
                ..user("alice")
            }],
        );
        assert!(e.contains("user \"alice\": the user exists"), "{e}");
        let e = refusal(
            &[],
            &[User {
                action: Action::Change,
                ..user("bob")
            }],
        );
        assert!(
            e.contains("user \"bob\": /etc/passwd has no such user"),
            "{e}"
        );

        let bob = User {
            action: Action::Make,
            ssh_public_keys: Some(vec!["ssh-ed25519 AAAA bob".into()]),
            ssh_layout: SshLayout::Toolkit {
                copies: vec![("id.pub".into(), b"ssh-ed25519 AAAA bob\r\n".to_vec())],
            },
            ..user("bob")
        };
        let made = apply(&mut base(), &login_defs(), &[], &[bob], TODAY, SEED).unwrap();
        let files: Vec<_> = made
            .files
            .iter()
            .filter(|f| f.contents != Contents::EmptyIfAbsent)
            .map(|f| (f.path.as_str(), f.mode))
            .collect();
        assert_eq!(
            files,
            [
                ("home/bob/.ssh/id.pub", 0o700),
                ("home/bob/.ssh/authorized_keys", 0o700)
            ]
        );
        assert_eq!(
            made.reowns,
            [Reown {
                path: "home/bob/.ssh".into(),
                uid: 1001,
                gid: 1001,
                mode: 0o700,
            }]
        );
    }

    /// Image Customizer makes each file of a chain's groups, then its
    /// users, file after file.
    #[test]
    fn users_are_made_batch_by_batch() {
        let in_batch = |batch| Declared {
            batch,
            ..Declared::default()
        };
        let gids = |group_batch, user_batch| {
            let mut accounts = base();
            let devs = Group {
                declared: in_batch(group_batch),
                ..group("devs", None)
            };
            let bob = User {
                declared: in_batch(user_batch),
                ..user("bob")
            };
            apply(&mut accounts, &login_defs(), &[devs], &[bob], TODAY, SEED).unwrap();
            let text = String::from_utf8_lossy(&accounts.group).into_owned();
            text.lines().skip(3).map(str::to_owned).collect::<Vec<_>>()
        };
        assert_eq!(gids(0, 0), ["devs:x:1001:", "bob:x:1002:"]);
        assert_eq!(gids(1, 0), ["bob:x:1001:", "devs:x:1002:"]);
    }

    /// The sed command both formats set the login shell with: refused
    /// where it would do more than that.
    #[test]
    fn users_refuse_a_shell_edit_that_would_spread() {
        let e = refusal(
            &[],
            &[User {
                startup_command: Some("/bin/sh -c 'a && b'".into()),
                ..user("alice")
            }],
        );
        assert!(e.contains("holds '&'"), "{e}");
        for name in ["ali", "a.ice"] {
            let e = refusal(
                &[],
                &[User {
                    startup_command: Some("/bin/zsh".into()),
                    ..user(name)
                }],
            );
            assert!(
                e.contains("would change the /etc/passwd line \"alice:x:1000"),
                "{e}"
            );
        }
        let e = refusal(
            &[],
            &[User {
                password: Some(Password::Plain("x".repeat(257))),
                ..user("bob")
            }],
        );
        assert!(e.contains("keeps only the first 256"), "{e}");
    }
}
