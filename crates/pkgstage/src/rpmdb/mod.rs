//! The rpm database of an installed tree, `var/lib/rpm/rpmdb.sqlite`, in
//! the sqlite form rpm 4.16 and later use (rpm's `lib/backend/sqlite.c`):
//! a `Packages` table of header blobs and one index table per indexed tag,
//! made and filled as rpm makes and fills them, so that `rpm -qa`, `-qf`,
//! `--whatprovides`, `--whatrequires` and `-V` work on the tree.
//!
//! The same packages, options and time give the same bytes: one
//! transaction, a fixed page size, no journal, no time but the one given.

mod blob;

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};

use crate::error;
use crate::resolve::Rich;
use crate::{Error, Result};
use blob::{Added, Blob, CHAR, STRING, STRING_ARRAY};

/// Where the database goes in the tree.
pub(crate) const DB_PATH: &str = "var/lib/rpm/rpmdb.sqlite";

/// Where Azure Linux's toolkit lists the packages of an image whose
/// database it removes (`RemoveRpmDb`), for vulnerability scanners:
/// `rpm -qa`, and `rpm -qa` with the fields the scanners read.
pub(crate) const MANIFESTS: [&str; 2] = [
    "var/lib/rpmmanifest/container-manifest-1",
    "var/lib/rpmmanifest/container-manifest-2",
];

/// rpm's file states (`rpmfileState`).
pub(crate) const FILE_STATE_NORMAL: u8 = 0;
pub(crate) const FILE_STATE_NOT_INSTALLED: u8 = 2;
/// A file another architecture's package installs instead
/// (`RPMFILE_STATE_WRONGCOLOR`).
pub(crate) const FILE_STATE_WRONG_COLOR: u8 = 4;

const TAG_REQUIREFLAGS: u32 = 1048;
const TAG_FILETRIGGERINDEX: u32 = 5070;
const TAG_TRANSFILETRIGGERINDEX: u32 = 5080;
const TAG_BASENAMES: u32 = 1117;
const TAG_PREFIXES: u32 = 1098;

/// The indexes rpm keeps (rpmdb.c, `dbiTags`), in its order: table,
/// tag, whether the key is text (else a blob), whether the tag is an
/// array (then rows are found by package too).
const INDEXES: [(&str, u32, bool, bool); 18] = [
    ("Name", 1000, true, false),
    ("Basenames", 1117, true, true),
    ("Group", 1016, true, false),
    ("Requirename", 1049, true, true),
    ("Providename", 1047, true, true),
    ("Conflictname", 1054, true, true),
    ("Obsoletename", 1090, true, true),
    ("Triggername", 1066, true, true),
    ("Dirnames", 1118, true, true),
    ("Installtid", 1128, false, false),
    ("Sigmd5", 261, false, false),
    ("Sha1header", 269, true, false),
    ("Filetriggername", 5069, true, true),
    ("Transfiletriggername", 5079, true, true),
    ("Recommendname", 5046, true, true),
    ("Suggestname", 5049, true, true),
    ("Supplementname", 5052, true, true),
    ("Enhancename", 5055, true, true),
];

/// What an install adds to each package's header.
pub(crate) struct InstallTags {
    /// Install time and transaction id (seconds since 1970).
    pub(crate) time: u32,
    /// The transaction's color (`%_transaction_color`).
    pub(crate) color: u32,
}

/// An rpm database being written, in a temporary file.
pub(crate) struct Database {
    conn: Connection,
    file: tempfile::NamedTempFile,
    tags: InstallTags,
    /// The lines of the [`MANIFESTS`], a package each, in install order.
    manifests: [String; 2],
    /// Removed should a signal end the process first.
    _registered: blocksink::Scratch,
}

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    error::database(path, e)
}

impl Database {
    /// A new, empty database in `work_dir` ($TMPDIR when `None`).
    pub(crate) fn create(work_dir: Option<&Path>, tags: InstallTags) -> Result<Self> {
        let dir = work_dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let file = tempfile::Builder::new()
            .prefix(".rpmdb-")
            .suffix(".sqlite")
            .tempfile_in(&dir)
            .map_err(|e| Error::file(&dir, e))?;
        let path = file.path().to_path_buf();
        let conn = Connection::open(&path).map_err(|e| db_error(&path, e))?;
        let db = Database {
            _registered: blocksink::Scratch::register(&path),
            conn,
            file,
            tags,
            manifests: Default::default(),
        };
        db.schema().map_err(|e| db_error(&path, e))?;
        Ok(db)
    }

    /// The tables and indexes, as rpm creates them on opening each index.
    fn schema(&self) -> rusqlite::Result<()> {
        let c = &self.conn;
        // Fixed layout; no journal (the file is ours until it is whole).
        c.pragma_update(None, "page_size", 4096)?;
        c.pragma_update(None, "journal_mode", "OFF")?;
        c.pragma_update(None, "synchronous", "OFF")?;
        c.execute_batch("BEGIN")?;
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS 'Packages' (\
             hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)",
        )?;
        for (table, _, text, array) in INDEXES {
            c.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS '{table}' (key '{}' NOT NULL, \
                 hnum INTEGER NOT NULL, idx INTEGER NOT NULL, \
                 FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))",
                if text { "TEXT" } else { "BLOB" }
            ))?;
            for (column, wanted) in [("key", text), ("hnum", array)] {
                if wanted {
                    c.execute_batch(&format!(
                        "CREATE INDEX IF NOT EXISTS '{table}_{column}_idx' \
                         ON '{table}'({column} ASC)"
                    ))?;
                }
            }
        }
        Ok(())
    }

    /// Adds a package: its headers as read from `path` (signature and
    /// main header blobs), and the state of each of its files.
    pub(crate) fn add(
        &mut self,
        path: &Path,
        signature: &[u8],
        header: &[u8],
        file_states: &[u8],
    ) -> Result<()> {
        let bad = |field: &str, message: String| error::package(path, field, None, message);
        let main = Blob::parse(header).map_err(|m| bad("header", m))?;
        let sig = Blob::parse(signature).map_err(|m| bad("signature header", m))?;
        let mut added =
            blob::merged_signature_tags(&main, &sig).map_err(|m| bad("signature header", m))?;
        // rpm's retrofit: a binary package without a source package name.
        if !main.has(1044) && !main.has(1106) {
            added.push(Added {
                tag: 1044,
                ty: STRING,
                count: 1,
                data: b"(none)\0".to_vec(),
            });
        }
        // A relocatable package installed where it was built for.
        let prefixes = main.strings(TAG_PREFIXES);
        if !prefixes.is_empty() && !main.has(1099) {
            let mut data = Vec::new();
            for p in &prefixes {
                data.extend_from_slice(p.as_bytes());
                data.push(0);
            }
            added.push(Added {
                tag: 1099,
                ty: STRING_ARRAY,
                count: prefixes.len() as u32,
                data,
            });
        }
        let files = main.strings(TAG_BASENAMES).len();
        if files != file_states.len() {
            return Err(bad(
                "RPMTAG_BASENAMES",
                format!("{files} files but {} file states", file_states.len()),
            ));
        }
        if files > 0 {
            added.push(Added {
                tag: 1029,
                ty: CHAR,
                count: files as u32,
                data: file_states.to_vec(),
            });
        }
        added.push(Added::int32(1128, self.tags.time));
        added.push(Added::int32(1008, self.tags.time));
        added.push(Added::int32(1127, self.tags.color));
        let installed = main
            .installed(added)
            .map_err(|m| bad("RPMTAG_HEADERIMMUTABLE", m))?;
        let h = Blob::parse(&installed).map_err(|m| bad("header", m))?;
        self.list(&h);
        let db_path = self.file.path().to_path_buf();
        self.insert(&installed, &h)
            .map_err(|e| db_error(&db_path, e))
    }

    fn insert(&mut self, installed: &[u8], h: &Blob) -> rusqlite::Result<()> {
        let c = &self.conn;
        c.prepare_cached("INSERT OR REPLACE INTO 'Packages' VALUES(?, ?)")?
            .execute(params![None::<i64>, installed])?;
        let hnum = c.last_insert_rowid();
        for (table, tag, text, _) in INDEXES {
            let mut stmt = c.prepare_cached(&format!("INSERT INTO '{table}' VALUES(?, ?, ?)"))?;
            for (key, idx) in index_keys(h, tag) {
                match key {
                    Key::Text(s) if text => stmt.execute(params![s, hnum, idx])?,
                    Key::Text(s) => stmt.execute(params![s.as_bytes(), hnum, idx])?,
                    Key::Bytes(b) => stmt.execute(params![b, hnum, idx])?,
                };
            }
        }
        Ok(())
    }

    /// Adds an installed header's lines to the manifests: `rpm -qa`
    /// (`%{nvra}`) and the toolkit's query, a tag rpm has no value for
    /// shown as rpm shows it, `(none)`.
    fn list(&mut self, h: &Blob) {
        let text = |tag: u32| {
            h.strings(tag)
                .first()
                .map_or_else(|| "(none)".to_string(), |s| s.to_string())
        };
        let number = |tag: u32| {
            h.u32s(tag)
                .first()
                .map_or_else(|| "(none)".to_string(), u32::to_string)
        };
        let (name, version, release, arch) = (text(1000), text(1001), text(1002), text(1022));
        self.manifests[0].push_str(&format!("{name}-{version}-{release}.{arch}\n"));
        // NAME VERSION-RELEASE INSTALLTIME BUILDTIME VENDOR (none) SIZE
        // ARCH EPOCHNUM SOURCERPM, as the toolkit's query has them.
        self.manifests[1].push_str(&format!(
            "{name}\t{version}-{release}\t{}\t{}\t{}\t(none)\t{}\t{arch}\t{}\t{}\n",
            number(1008),
            number(1006),
            text(1011),
            number(1009),
            h.u32s(1003).first().copied().unwrap_or(0),
            text(1044),
        ));
    }

    /// The [`MANIFESTS`]' contents, for the packages added so far.
    pub(crate) fn manifests(&self) -> [&str; 2] {
        [&self.manifests[0], &self.manifests[1]]
    }

    /// Commits and closes the database; the file and its length.
    pub(crate) fn finish(self) -> Result<(File, u64)> {
        let path: PathBuf = self.file.path().to_path_buf();
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| db_error(&path, e))?;
        self.conn.close().map_err(|(_, e)| db_error(&path, e))?;
        let file = File::open(&path).map_err(|e| Error::file(&path, e))?;
        let len = file.metadata().map_err(|e| Error::file(&path, e))?.len();
        // Gone from the directory; still read through `file`.
        self.file.close().map_err(|e| Error::file(&path, e))?;
        Ok((file, len))
    }
}

/// An index key: text, or bytes for a tag that is not a string.
enum Key {
    Text(String),
    Bytes(Vec<u8>),
}

/// The rows rpm puts in `tag`'s index for a header (rpmdb.c,
/// `tag2index`): each value with its position, requirements of install
/// scriptlets alone left out, triggers once, rich dependencies with
/// each name in them as well.
fn index_keys(h: &Blob<'_>, tag: u32) -> Vec<(Key, u32)> {
    let mut out = Vec::new();
    match tag {
        // An i18n string: the one rpm shows (the first); "Unknown" when
        // the header has none.
        1016 => {
            let group = h.strings(tag).first().copied().unwrap_or("Unknown");
            out.push((Key::Text(group.to_string()), 0));
        }
        // rpm's key is the value in the host's order; the hosts of the
        // trees made here are little-endian.
        1128 => {
            for (i, v) in h.u32s(tag).into_iter().enumerate() {
                out.push((Key::Bytes(v.to_le_bytes().to_vec()), i as u32));
            }
        }
        261 => {
            if let Some(b) = h.binary(tag) {
                out.push((Key::Bytes(b.to_vec()), 0));
            }
        }
        _ => {
            let values = h.strings(tag);
            let flags = h.u32s(TAG_REQUIREFLAGS);
            let trigger_index = match tag {
                5069 => h.u32s(TAG_FILETRIGGERINDEX),
                5079 => h.u32s(TAG_TRANSFILETRIGGERINDEX),
                _ => Vec::new(),
            };
            for (i, &value) in values.iter().enumerate() {
                let idx = match tag {
                    5069 | 5079 => match trigger_index.get(i) {
                        Some(&t) => t,
                        None => break,
                    },
                    _ => i as u32,
                };
                if tag == 1049 && flags.get(i).is_some_and(|&f| is_transient(f)) {
                    continue;
                }
                if tag == 1066 && values[..i].contains(&value) {
                    continue;
                }
                out.push((Key::Text(value.to_string()), idx));
                if value.starts_with('(') && matches!(tag, 1049 | 1054 | 5049 | 5052 | 5046 | 5055)
                {
                    for name in rich_names(value) {
                        out.push((Key::Text(name), idx));
                    }
                }
            }
        }
    }
    out
}

/// Whether a requirement is only of installing (rpmds.h,
/// `isTransientReq`): of install scriptlets, rpmlib or keyring, and
/// neither of erase scriptlets nor meta.
fn is_transient(flags: u32) -> bool {
    const INSTALL_ONLY: u32 = (1 << 9) | (1 << 10) | (1 << 24) | (1 << 26) | (1 << 7) | (1 << 5);
    const ERASE_ONLY: u32 = (1 << 11) | (1 << 12);
    const META: u32 = 1 << 29;
    flags & INSTALL_ONLY != 0 && flags & ERASE_ONLY == 0 && flags & META == 0
}

/// The names a rich dependency mentions, as rpm indexes them (rpmdb.c,
/// `updateRichDep`): those of conditions (`if`, `unless`) marked `!`,
/// an `else` branch's condition again unmarked, rpmlib names left out;
/// sorted, once each.
fn rich_names(text: &str) -> Vec<String> {
    fn walk(r: &Rich, negated: bool, out: &mut Vec<String>) {
        match r {
            Rich::Simple(name, _) => {
                if !name.is_empty() && !name.starts_with("rpmlib(") {
                    out.push(format!("{}{name}", if negated { '!' } else { ' ' }));
                }
            }
            Rich::And(all) | Rich::Or(all) | Rich::With(all) => {
                for r in all {
                    walk(r, negated, out);
                }
            }
            Rich::Without(a, b) => {
                walk(a, negated, out);
                walk(b, negated, out);
            }
            Rich::If(then, cond, otherwise) | Rich::Unless(then, cond, otherwise) => {
                walk(then, negated, out);
                let at = out.len();
                walk(cond, !negated, out);
                if let Some(otherwise) = otherwise {
                    let flipped: Vec<String> = out[at..]
                        .iter()
                        .map(|n| {
                            let (mark, name) = n.split_at(1);
                            format!("{}{name}", if mark == "!" { ' ' } else { '!' })
                        })
                        .collect();
                    out.extend(flipped);
                    walk(otherwise, negated, out);
                }
            }
        }
    }
    let Ok(rich) = crate::resolve::parse_rich(text) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    walk(&rich, false, &mut names);
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| n.strip_prefix(' ').map(str::to_string).unwrap_or(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rich_dependencies_index_each_name() {
        assert_eq!(rich_names("(a >= 1 or b)"), ["a", "b"]);
        assert_eq!(rich_names("(a if b)"), ["a", "!b"]);
        assert_eq!(rich_names("(a if b else c)"), ["a", "b", "c", "!b"]);
        assert_eq!(rich_names("(y and (z unless y))"), ["y", "z", "!y"]);
    }

    #[test]
    fn scriptlet_requirements_are_transient() {
        assert!(is_transient(1 << 9));
        assert!(is_transient(1 << 24));
        assert!(!is_transient((1 << 9) | (1 << 11)));
        assert!(!is_transient(0));
        assert!(!is_transient(1 << 6));
    }
}
