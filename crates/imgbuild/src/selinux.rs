//! SELinux file contexts: the label a policy gives a path, as libselinux's
//! `selabel_lookup` gives it (what `matchpathcon` prints and `setfiles`
//! applies), in libselinux 3.4 to 3.6.
//!
//! A policy's `contexts/files/file_contexts` holds lines
//! `REGEX [TYPE] CONTEXT`; `file_contexts.homedirs` and
//! `file_contexts.local` add theirs after it. libselinux keeps every line
//! in that order, then moves the lines whose expression has no regular
//! expression meta character (`.^$?*+|[({`, a character after `\` not
//! counted) after the others, keeping the order of each part; a lookup
//! takes the last line that matches. The expression is PCRE2 anchored as
//! `^REGEX$` (no group: a `|` at the top splits the anchors) with `.`
//! matching a newline, matched against the bytes of the path; it is
//! compiled here with `regex-automata`, translated to PCRE2's meaning,
//! and a construct without an equivalent is an error naming the line.
//!
//! Before matching, a path loses repeated `/` and one trailing `/`, then
//! takes the path substitutions: `file_contexts.subs` first, then
//! `file_contexts.subs_dist` on the result (`ALIAS REAL` lines; a path
//! that is `ALIAS` or starts with `ALIAS/` is looked up as `REAL` and the
//! rest of it; within a file the last line that fits wins).
//!
//! A line is tried only when its stem (the expression up to its second
//! `/`, when no meta character comes before) is the path's first
//! component, or it has none: libselinux's rule, which decides some
//! lookups, and what keeps a lookup from trying most lines. The literal
//! text an expression starts with narrows the lines further.
//!
//! The files are read as `setfiles` reads them, which validates them: a
//! malformed line, an expression that does not compile and two lines of
//! `file_contexts` for one expression and overlapping file types are
//! errors naming the file and the line. The contexts themselves are not
//! checked against the policy's types.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
#[cfg(test)]
use std::io::Read;
use std::path::Path;

use regex_automata::meta::Regex;
use regex_automata::util::syntax;

use crate::error::{Error, ErrorKind, Result};

/// The file type bits of a mode.
pub(crate) const S_IFMT: u32 = 0o170000;
/// A socket.
pub(crate) const S_IFSOCK: u32 = 0o140000;
/// A symbolic link.
pub(crate) const S_IFLNK: u32 = 0o120000;
/// A regular file.
pub(crate) const S_IFREG: u32 = 0o100000;
/// A block device.
pub(crate) const S_IFBLK: u32 = 0o060000;
/// A directory.
pub(crate) const S_IFDIR: u32 = 0o040000;
/// A character device.
pub(crate) const S_IFCHR: u32 = 0o020000;
/// A named pipe.
pub(crate) const S_IFIFO: u32 = 0o010000;

#[cfg(test)]
/// The largest policy file read from disk.
const MAX_FILE: u64 = 64 << 20;
/// The largest compiled program of one expression: a real policy's are a
/// few kilobytes.
const MAX_REGEX: usize = 1 << 20;
/// The memory the compiled expressions of a policy may take in all: the
/// reference policy's take 5 MiB.
const MAX_COMPILED: usize = 64 << 20;
/// What a compiled expression takes besides the memory it reports.
const COMPILED_OVERHEAD: usize = 4 << 10;
/// libselinux reads substitution lines with `fgets` into 1024 bytes and
/// would split a longer one.
const MAX_SUBS_LINE: usize = 1022;
/// The marker of a line that gives no context.
const NONE: &str = "<<none>>";

/// A policy's file contexts, ready for lookups.
#[derive(Debug)]
pub(crate) struct FileContexts {
    /// Every line, in the order libselinux tries them last to first.
    specs: Vec<Spec>,
    /// For each stem, the lines to try for a path with that first
    /// component, last first: the stem's and the stemless ones.
    by_stem: HashMap<Box<[u8]>, Vec<u32>>,
    /// The lines to try for a path whose first component is no line's
    /// stem: the stemless ones, last first.
    stemless: Vec<u32>,
    /// `file_contexts.subs`, in the order they are tried (last line first).
    subs: Vec<Substitution>,
    /// `file_contexts.subs_dist`, in the order they are tried.
    subs_dist: Vec<Substitution>,
}

/// One line of a file contexts file.
#[derive(Debug)]
struct Spec {
    /// The expression as written.
    text: Box<str>,
    /// How a path that starts with `prefix` is matched.
    matcher: Matcher,
    /// Bytes every path it matches starts with.
    prefix: Box<[u8]>,
    /// The file type it is for (`S_IF*`), 0 for any.
    mode: u32,
    /// The context, `None` for `<<none>>`.
    context: Option<Box<str>>,
    /// The expression up to its second `/`, when that has no meta character.
    stem: Option<Box<[u8]>>,
    /// Whether the expression has a meta character outside an escape.
    has_meta: bool,
}

/// How a line matches a path that starts with its prefix. Most lines of a
/// policy are a path (`/etc/shadow`) or a path and what is under it
/// (`/etc/ssh(/.*)?`), which need no compiled expression.
#[derive(Debug)]
enum Matcher {
    /// The expression is its prefix: the path is the prefix.
    Exact,
    /// The expression is its prefix and `(/.*)?`: the path is the prefix
    /// or under it.
    Tree,
    /// The expression, anchored and compiled.
    Regex(Regex),
}

impl Matcher {
    /// Whether the path `key`, whose remainder after the prefix is `rest`,
    /// matches. PCRE2's `$` also matches before a final newline.
    fn matches(&self, key: &[u8], rest: &[u8]) -> bool {
        match self {
            Matcher::Exact => rest.is_empty() || rest == b"\n",
            Matcher::Tree => rest.is_empty() || rest == b"\n" || rest[0] == b'/',
            Matcher::Regex(regex) => regex.is_match(key),
        }
    }
}

/// One `ALIAS REAL` line of a substitutions file.
#[derive(Debug)]
struct Substitution {
    alias: Box<[u8]>,
    real: Box<[u8]>,
}

impl FileContexts {
    /// From the policy's files, each as its name (for errors) and bytes:
    /// `file_contexts`, then `file_contexts.homedirs` and
    /// `file_contexts.local` when there are, and the path substitutions
    /// `file_contexts.subs_dist` and `file_contexts.subs`.
    pub(crate) fn parse(
        main: (&Path, &[u8]),
        homedirs: Option<(&Path, &[u8])>,
        local: Option<(&Path, &[u8])>,
        subs_dist: Option<(&Path, &[u8])>,
        subs: Option<(&Path, &[u8])>,
    ) -> Result<FileContexts> {
        let (mut specs, mut compiled) = (Vec::new(), 0);
        read_specs(main.0, main.1, &mut specs, &mut compiled)?;
        no_duplicates(main.0, &specs)?;
        for (name, bytes) in [homedirs, local].into_iter().flatten() {
            read_specs(name, bytes, &mut specs, &mut compiled)?;
        }
        // libselinux's sort_specs: exact paths after the expressions, each
        // part in its own order.
        let (mut specs, exact): (Vec<Spec>, Vec<Spec>) =
            specs.into_iter().map(|(s, _)| s).partition(|s| s.has_meta);
        specs.extend(exact);
        if specs.len() > u32::MAX as usize {
            return Err(invalid(main.0, None, "too many lines".into()));
        }

        let mut stemless = Vec::new();
        let mut by_stem: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
        for (i, spec) in specs.iter().enumerate().rev() {
            match &spec.stem {
                Some(stem) => by_stem.entry(stem.clone()).or_default().push(i as u32),
                None => stemless.push(i as u32),
            }
        }
        for list in by_stem.values_mut() {
            list.extend(&stemless);
            list.sort_unstable_by(|a, b| b.cmp(a));
        }

        let substitutions = |file: Option<(&Path, &[u8])>| match file {
            Some((name, bytes)) => read_substitutions(name, bytes),
            None => Ok(Vec::new()),
        };
        Ok(FileContexts {
            specs,
            by_stem,
            stemless,
            subs: substitutions(subs)?,
            subs_dist: substitutions(subs_dist)?,
        })
    }

    #[cfg(test)]
    /// The files `matchpathcon -f FILE` reads: `FILE` and, when they are
    /// there, `FILE.homedirs`, `FILE.local`, `FILE.subs_dist` and
    /// `FILE.subs`. (A compiled `FILE.bin` libselinux may prefer is not
    /// read: policies make it from the same text.)
    pub(crate) fn read(file: &Path) -> Result<FileContexts> {
        let with = |suffix: &str| {
            let mut name = file.as_os_str().to_owned();
            name.push(".");
            name.push(suffix);
            std::path::PathBuf::from(name)
        };
        let main = read_file(file)?
            .ok_or_else(|| Error::file(file, std::io::Error::from(std::io::ErrorKind::NotFound)))?;
        let names = [
            with("homedirs"),
            with("local"),
            with("subs_dist"),
            with("subs"),
        ];
        let mut others = Vec::new();
        for name in &names {
            others.push(read_file(name)?);
        }
        let given = |i: usize| others[i].as_deref().map(|b| (names[i].as_path(), b));
        FileContexts::parse((file, &main), given(0), given(1), given(2), given(3))
    }

    /// The context of the absolute `path` of file type `mode` (its `S_IFMT`
    /// bits; 0 for any type), or `None` when no line matches or the line
    /// that does says `<<none>>`.
    pub(crate) fn lookup(&self, path: impl AsRef<[u8]>, mode: u32) -> Option<&str> {
        let mut path = path.as_ref();
        // libselinux reads the path as a C string.
        if let Some(nul) = path.iter().position(|&b| b == 0) {
            path = &path[..nul];
        }
        let key = normalize(path)?;
        let key = match self.substitute(&key) {
            Some(real) => Cow::Owned(real),
            None => key,
        };
        let candidates = match stem(&key).and_then(|s| self.by_stem.get(s)) {
            Some(list) => list,
            None => &self.stemless,
        };
        let mode = mode & S_IFMT;
        for &i in candidates {
            let spec = &self.specs[i as usize];
            if mode != 0 && spec.mode != 0 && mode != spec.mode {
                continue;
            }
            if let Some(rest) = key.strip_prefix(&*spec.prefix) {
                if spec.matcher.matches(&key, rest) {
                    return spec.context.as_deref();
                }
            }
        }
        None
    }

    /// `path` as the substitutions make it, if one applies: `.subs`, then
    /// `.subs_dist` on what that gave (libselinux's selabel_sub_key).
    fn substitute(&self, path: &[u8]) -> Option<Vec<u8>> {
        match substitute(&self.subs, path) {
            Some(local) => Some(substitute(&self.subs_dist, &local).unwrap_or(local)),
            None => substitute(&self.subs_dist, path),
        }
    }

    /// The number of lines read, of every file.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.specs.len()
    }
}

#[cfg(test)]
/// The text of `file`, `None` when it does not exist.
fn read_file(file: &Path) -> Result<Option<Vec<u8>>> {
    let f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::file(file, e)),
    };
    let mut bytes = Vec::new();
    f.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::file(file, e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(invalid(
            file,
            None,
            format!("larger than {} MiB", MAX_FILE >> 20),
        ));
    }
    Ok(Some(bytes))
}

fn invalid(file: &Path, line: Option<usize>, message: String) -> Error {
    let e = Error::new(ErrorKind::InvalidFormat, "", message).path(file);
    match line {
        Some(n) => e.member(format!("line {n}")),
        None => e,
    }
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The whitespace-separated words of `line`.
fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| is_space(b)).filter(|w| !w.is_empty())
}

/// The lines of `bytes` as `getline` gives them, numbered from 1.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let lines = if bytes.is_empty() {
        None
    } else {
        Some(body.split(|&b| b == b'\n'))
    };
    lines
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

/// Appends the lines of the file contexts file `name` to `specs`, each
/// with its line number (libselinux's process_line, validating);
/// `compiled_bytes` counts the memory the compiled expressions take.
fn read_specs(
    name: &Path,
    bytes: &[u8],
    specs: &mut Vec<(Spec, usize)>,
    compiled_bytes: &mut usize,
) -> Result<()> {
    for (n, line) in lines(bytes) {
        let bad = |message: String| invalid(name, Some(n), message);
        if line.contains(&0) {
            return Err(bad("a NUL byte in the line".into()));
        }
        let first = line.iter().position(|&b| !is_space(b));
        if first.is_none_or(|i| line[i] == b'#') {
            continue;
        }
        // libselinux reads three words and ignores the rest of the line.
        let fields: Vec<&[u8]> = words(line).take(3).collect();
        if !fields.iter().all(|f| f.is_ascii()) {
            return Err(bad("non-ASCII characters in the line".into()));
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let (regex, kind, context) = match fields[..] {
            [r, c] => (text(r), None, text(c)),
            [r, t, c] => (text(r), Some(text(t)), text(c)),
            _ => return Err(bad("missing fields: REGEX [TYPE] CONTEXT".into())),
        };
        let mode = match kind.as_deref() {
            None => 0,
            Some("--") => S_IFREG,
            Some("-d") => S_IFDIR,
            Some("-l") => S_IFLNK,
            Some("-c") => S_IFCHR,
            Some("-b") => S_IFBLK,
            Some("-p") => S_IFIFO,
            Some("-s") => S_IFSOCK,
            Some(other) => {
                return Err(bad(format!(
                    "invalid file type {other:?} (one of -- -d -l -c -b -p -s)"
                )))
            }
        };
        let context = if context == NONE {
            None
        } else {
            let parts: Vec<&str> = context.split(':').collect();
            if parts.len() < 3 || parts[..3].iter().any(|p| p.is_empty()) {
                return Err(bad(format!(
                    "invalid context {context:?} (USER:ROLE:TYPE[:RANGE] or <<none>>)"
                )));
            }
            Some(context.into_boxed_str())
        };
        // Every expression is checked, whether or not it is compiled.
        let (translated, alternative) =
            translate(&regex).map_err(|why| bad(format!("regular expression {regex:?}: {why}")))?;
        let literal_tree = regex.strip_suffix("(/.*)?").and_then(literal_path);
        let (matcher, prefix) = match (literal_path(&regex), literal_tree) {
            (Some(path), _) => (Matcher::Exact, path),
            (None, Some(path)) => (Matcher::Tree, path),
            (None, None) => {
                let compiled = Regex::builder()
                    .syntax(
                        syntax::Config::new()
                            .unicode(false)
                            .utf8(false)
                            .dot_matches_new_line(true),
                    )
                    .configure(Regex::config().nfa_size_limit(Some(MAX_REGEX)))
                    .build(&format!(r"^{translated}(?:\n?\z)"))
                    .map_err(|e| bad(format!("regular expression {regex:?}: {e}")))?;
                *compiled_bytes += compiled.memory_usage() + COMPILED_OVERHEAD;
                if *compiled_bytes > MAX_COMPILED {
                    return Err(bad(format!(
                        "the expressions take more than {} MiB compiled",
                        MAX_COMPILED >> 20
                    )));
                }
                let prefix = if alternative {
                    Vec::new()
                } else {
                    literal_prefix(&regex)
                };
                (Matcher::Regex(compiled), prefix)
            }
        };
        specs.push((
            Spec {
                prefix: prefix.into(),
                stem: spec_stem(regex.as_bytes()).map(Into::into),
                has_meta: has_meta(&regex),
                text: regex.into_boxed_str(),
                matcher,
                mode,
                context,
            },
            n,
        ));
    }
    Ok(())
}

/// Two lines of `file_contexts` for one expression and file types that
/// overlap (libselinux's nodups_specs, when validating).
fn no_duplicates(name: &Path, specs: &[(Spec, usize)]) -> Result<()> {
    let mut seen: HashMap<&str, Vec<(u32, usize)>> = HashMap::new();
    for (spec, n) in specs {
        let earlier = seen.entry(&spec.text).or_default();
        if let Some((_, first)) = earlier
            .iter()
            .find(|(mode, _)| *mode == 0 || spec.mode == 0 || *mode == spec.mode)
        {
            return Err(invalid(
                name,
                Some(*n),
                format!(
                    "a second line for {:?} and the same file type (line {first})",
                    spec.text
                ),
            ));
        }
        earlier.push((spec.mode, *n));
    }
    Ok(())
}

/// The substitutions of the file `name`, in the order libselinux tries
/// them: last line first. Comments, blank lines and lines of one word
/// are skipped as libselinux skips them; words after the second are
/// ignored.
fn read_substitutions(name: &Path, bytes: &[u8]) -> Result<Vec<Substitution>> {
    let mut subs = Vec::new();
    for (n, line) in lines(bytes) {
        if line.len() > MAX_SUBS_LINE {
            return Err(invalid(
                name,
                Some(n),
                format!("longer than {MAX_SUBS_LINE} bytes"),
            ));
        }
        if line.contains(&0) {
            return Err(invalid(name, Some(n), "a NUL byte in the line".into()));
        }
        let mut w = words(line);
        let (Some(alias), Some(real)) = (w.next(), w.next()) else {
            continue;
        };
        if alias.starts_with(b"#") {
            continue;
        }
        subs.push(Substitution {
            alias: alias.into(),
            real: real.into(),
        });
    }
    subs.reverse();
    Ok(subs)
}

/// `path` through the first of `subs` that applies (libselinux's
/// selabel_sub): one whose alias is the path or a leading part of it
/// ending before a `/`.
fn substitute(subs: &[Substitution], path: &[u8]) -> Option<Vec<u8>> {
    subs.iter().find_map(|s| {
        let rest = path.strip_prefix(&*s.alias)?;
        if !(rest.is_empty() || rest[0] == b'/') {
            return None;
        }
        // A real path of "/" takes the rest without its own slash.
        let rest = if &*s.real == b"/" && !rest.is_empty() {
            &rest[1..]
        } else {
            rest
        };
        Some([&s.real[..], rest].concat())
    })
}

/// `path` without repeated slashes and without one trailing slash, as
/// libselinux looks it up; `None` for an empty path.
fn normalize(path: &[u8]) -> Option<Cow<'_, [u8]>> {
    if path.is_empty() {
        return None;
    }
    let mut key = Cow::Borrowed(path);
    if path.windows(2).any(|w| w == b"//") {
        let mut clean = Vec::with_capacity(path.len());
        for &b in path {
            if !(b == b'/' && clean.last() == Some(&b'/')) {
                clean.push(b);
            }
        }
        key = Cow::Owned(clean);
    }
    if key.len() > 1 && key.ends_with(b"/") {
        match &mut key {
            Cow::Borrowed(k) => *k = &k[..k.len() - 1],
            Cow::Owned(k) => {
                k.pop();
            }
        }
    }
    Some(key)
}

/// The meta characters of libselinux's stems and sorting.
const META: &[u8] = b".^$?*+|[({";

/// A path's stem: up to its second `/`, if it has one.
fn stem(path: &[u8]) -> Option<&[u8]> {
    let i = path.get(1..)?.iter().position(|&b| b == b'/')?;
    Some(&path[..i + 1])
}

/// An expression's stem (libselinux's get_stem_from_spec): up to its
/// second `/`, when no meta character comes before it. A backslash is no
/// exception: `\.` before the second slash means no stem.
fn spec_stem(regex: &[u8]) -> Option<&[u8]> {
    let stem = stem(regex)?;
    (!stem.iter().any(|b| META.contains(b))).then_some(stem)
}

/// Whether the expression has a meta character not escaped by `\`
/// (libselinux's spec_hasMetaChars).
fn has_meta(regex: &str) -> bool {
    let mut b = regex.bytes();
    while let Some(c) = b.next() {
        if c == b'\\' {
            b.next();
        } else if META.contains(&c) {
            return true;
        }
    }
    false
}

/// The path `regex` matches when it is literal text: no meta character and
/// escapes of punctuation only.
fn literal_path(regex: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(regex.len());
    let mut b = regex.bytes();
    while let Some(c) = b.next() {
        match c {
            b'\\' => match b.next() {
                Some(e) if !e.is_ascii_alphanumeric() => out.push(e),
                _ => return None,
            },
            c if META.contains(&c) => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// The bytes every path `regex` matches starts with, when it has no
/// alternative at the top level (`^a|b$` matches `b` at any place): its
/// literal text up to the first construct, less a character a quantifier
/// makes optional.
fn literal_prefix(regex: &str) -> Vec<u8> {
    let b = regex.as_bytes();
    let mut prefix = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => match b.get(i + 1) {
                Some(&c) if !c.is_ascii_alphanumeric() => {
                    prefix.push(c);
                    i += 2;
                }
                _ => break,
            },
            b'?' | b'*' | b'{' => {
                prefix.pop();
                break;
            }
            c if META.contains(&c) => break,
            c => {
                prefix.push(c);
                i += 1;
            }
        }
    }
    prefix
}

/// What came before a quantifier.
#[derive(Clone, Copy, PartialEq)]
enum Before {
    /// An item a quantifier may follow.
    Item,
    /// A quantifier.
    Quantifier,
    /// A quantifier made lazy by `?`.
    Lazy,
    /// The start of the expression, a group or an alternative.
    Start,
}

/// The POSIX classes PCRE2 and `regex-syntax` both know.
const POSIX_CLASSES: &[&str] = &[
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// The PCRE2 expression `pcre` (compiled as libselinux compiles it: no
/// UTF, `.` matching newlines) in `regex-syntax`'s syntax, for a
/// pattern without Unicode: the same bytes match. A construct the crate
/// has no equivalent for, or that PCRE2 versions read differently, is an
/// error saying which. Also whether it has an alternative at the top
/// level.
fn translate(pcre: &str) -> std::result::Result<(String, bool), String> {
    let b = pcre.as_bytes();
    let mut out = String::with_capacity(b.len() * 2);
    let mut before = Before::Start;
    let mut depth = 0usize;
    let mut top_level_alternative = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        i += 1;
        match c {
            b'\\' => {
                match escape(b, &mut i, false)? {
                    Escaped::Byte(v) => literal(&mut out, v),
                    Escaped::Other(text) => out.push_str(text),
                }
                before = Before::Item;
            }
            b'[' => {
                class(b, &mut i, &mut out)?;
                before = Before::Item;
            }
            b'(' => {
                if b.get(i) == Some(&b'*') {
                    return Err("PCRE2 verbs (\"(*\") are not supported".into());
                }
                if b.get(i) == Some(&b'?') {
                    i += 1;
                    if group(b, &mut i, &mut out)? {
                        // A flag setting such as (?i): no group opened.
                        before = Before::Start;
                        continue;
                    }
                } else {
                    out.push('(');
                }
                depth += 1;
                before = Before::Start;
            }
            b')' => {
                if depth == 0 {
                    return Err("unmatched \")\"".into());
                }
                depth -= 1;
                out.push(')');
                before = Before::Item;
            }
            b'|' => {
                top_level_alternative |= depth == 0;
                out.push('|');
                before = Before::Start;
            }
            b'*' | b'+' | b'?' | b'{' => {
                let text = if c == b'{' {
                    match quantifier(b, i - 1)? {
                        Some(len) => {
                            let q = &pcre[i - 1..i - 1 + len];
                            i += len - 1;
                            q
                        }
                        None => {
                            // Not a quantifier: PCRE2 reads "{" as itself.
                            out.push_str(r"\{");
                            before = Before::Item;
                            continue;
                        }
                    }
                } else {
                    &pcre[i - 1..i]
                };
                before = match (before, c) {
                    (Before::Item, _) => Before::Quantifier,
                    (Before::Quantifier, b'?') => Before::Lazy,
                    (Before::Quantifier, b'+') => {
                        return Err("possessive quantifiers are not supported".into())
                    }
                    (Before::Start, _) => {
                        return Err(format!("{text:?} does not follow an item to repeat"))
                    }
                    _ => return Err(format!("{text:?} follows another quantifier")),
                };
                out.push_str(text);
            }
            // PCRE2's `$` (without DOLLAR_ENDONLY) also matches before a
            // newline that ends the subject.
            b'$' => {
                out.push_str(r"(?:\n?\z)");
                before = Before::Item;
            }
            b'^' | b'.' => {
                out.push(c as char);
                before = Before::Item;
            }
            _ => {
                literal(&mut out, c);
                before = Before::Item;
            }
        }
    }
    if depth != 0 {
        return Err("missing \")\"".into());
    }
    Ok((out, top_level_alternative))
}

/// Appends the byte `c` as a literal.
fn literal(out: &mut String, c: u8) {
    if c.is_ascii_alphanumeric() || c == b'/' || c == b'_' {
        out.push(c as char);
    } else {
        let _ = write!(out, r"\x{{{c:02X}}}");
    }
}

/// The length of the quantifier `{n}`, `{n,}` or `{n,m}` at `b[at]`, or
/// `None` when PCRE2 reads the `{` as itself. `{,m}` is an error: a
/// quantifier from PCRE2 10.43 on, literal text before.
fn quantifier(b: &[u8], at: usize) -> std::result::Result<Option<usize>, String> {
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let number = |from: usize, len: usize| -> std::result::Result<u32, String> {
        let n: u32 = std::str::from_utf8(&b[from..from + len])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u32::MAX);
        if n > 65535 {
            return Err("a repeat count larger than 65535".into());
        }
        Ok(n)
    };
    let mut i = at + 1;
    let low = digits(i);
    if low == 0 {
        if b.get(i) == Some(&b',') && digits(i + 1) > 0 {
            return Err("\"{,N}\" means different things to PCRE2 before and after 10.43".into());
        }
        return Ok(None);
    }
    let min = number(i, low)?;
    i += low;
    match b.get(i) {
        Some(b'}') => return Ok(Some(i + 1 - at)),
        Some(b',') => i += 1,
        _ => return Ok(None),
    }
    let high = digits(i);
    if high > 0 {
        let max = number(i, high)?;
        if max < min {
            return Err("a repeat count out of order".into());
        }
    }
    i += high;
    Ok((b.get(i) == Some(&b'}')).then_some(i + 1 - at))
}

/// The group after `(?` at `b[*i]`: appends its opening in the crate's
/// syntax. `Ok(true)` for a flag setting that opens no group.
fn group(b: &[u8], i: &mut usize, out: &mut String) -> std::result::Result<bool, String> {
    let rest = &b[*i..];
    if rest.starts_with(b":") {
        *i += 1;
        out.push_str("(?:");
        return Ok(false);
    }
    let named = if rest.starts_with(b"P<") {
        Some((2, b'>'))
    } else if rest.starts_with(b"<") && rest.get(1).is_some_and(|c| !matches!(c, b'=' | b'!')) {
        Some((1, b'>'))
    } else if rest.starts_with(b"'") {
        Some((1, b'\''))
    } else {
        None
    };
    if let Some((skip, end)) = named {
        let name_len = rest[skip..].iter().take_while(|&&c| c != end).count();
        let name = &rest[skip..skip + name_len];
        let valid = name.first().is_some_and(|c| !c.is_ascii_digit())
            && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
            && rest.get(skip + name_len) == Some(&end);
        if !valid {
            return Err("a malformed group name".into());
        }
        out.push_str("(?P<");
        out.extend(name.iter().map(|&c| c as char));
        out.push('>');
        *i += skip + name_len + 1;
        return Ok(false);
    }
    // Flags: (?i), (?-i), (?i:...), with only the flags that mean the same.
    let flags_len = rest
        .iter()
        .take_while(|c| matches!(c, b'i' | b's' | b'-'))
        .count();
    match rest.get(flags_len) {
        Some(&end @ (b')' | b':')) if flags_len > 0 => {
            out.push_str("(?");
            out.extend(rest[..=flags_len].iter().map(|&c| c as char));
            *i += flags_len + 1;
            Ok(end == b')')
        }
        _ => {
            let what = rest.iter().take(2).map(|&c| c as char).collect::<String>();
            Err(format!(
                "the group \"(?{what}\" is not supported (only (?:, named groups and the flags i and s)"
            ))
        }
    }
}

/// What an escape stands for.
enum Escaped {
    /// One byte.
    Byte(u8),
    /// A class (`\d`) or an assertion (`\b`), in the crate's syntax.
    Other(&'static str),
}

/// The escape after `\` at `b[*i]`, in a class or outside one.
fn escape(b: &[u8], i: &mut usize, in_class: bool) -> std::result::Result<Escaped, String> {
    let Some(&c) = b.get(*i) else {
        return Err("\"\\\" at the end".into());
    };
    *i += 1;
    Ok(match c {
        c if !c.is_ascii_alphanumeric() => Escaped::Byte(c),
        b'd' => Escaped::Other(r"\d"),
        b'D' => Escaped::Other(r"\D"),
        b'w' => Escaped::Other(r"\w"),
        b'W' => Escaped::Other(r"\W"),
        b's' => Escaped::Other(r"\s"),
        b'S' => Escaped::Other(r"\S"),
        // In a class, \b is a backspace.
        b'b' if in_class => Escaped::Byte(0x08),
        b'b' => Escaped::Other(r"\b"),
        b'B' if !in_class => Escaped::Other(r"\B"),
        b'A' if !in_class => Escaped::Other(r"\A"),
        b'z' if !in_class => Escaped::Other(r"\z"),
        b'n' => Escaped::Byte(b'\n'),
        b't' => Escaped::Byte(b'\t'),
        b'r' => Escaped::Byte(b'\r'),
        b'f' => Escaped::Byte(0x0c),
        b'a' => Escaped::Byte(0x07),
        b'e' => Escaped::Byte(0x1b),
        b'x' => Escaped::Byte(hex(b, i)?),
        _ => return Err(format!("the escape \"\\{}\" is not supported", c as char)),
    })
}

/// The value of `\x` at `b[*i]`: `{H..}`, or up to two hex digits.
fn hex(b: &[u8], i: &mut usize) -> std::result::Result<u8, String> {
    let value = |digits: &[u8]| {
        digits
            .iter()
            .try_fold(0u32, |v, &d| {
                let d = (d as char).to_digit(16)?;
                v.checked_mul(16)?.checked_add(d)
            })
            .filter(|&v| v <= 0xff)
            .map(|v| v as u8)
    };
    if b.get(*i) == Some(&b'{') {
        let len = b[*i + 1..].iter().take_while(|&&c| c != b'}').count();
        let digits = &b[*i + 1..*i + 1 + len];
        if digits.is_empty() || b.get(*i + 1 + len).is_none() {
            return Err("a malformed \"\\x{...}\"".into());
        }
        *i += len + 2;
        return value(digits).ok_or_else(|| "a character code above \\xff".to_string());
    }
    let len = b[*i..]
        .iter()
        .take(2)
        .take_while(|c| c.is_ascii_hexdigit())
        .count();
    let v = value(&b[*i..*i + len]).unwrap_or(0);
    *i += len;
    Ok(v)
}

/// One member of a class.
enum Member {
    Byte(u8),
    /// An escape such as `\d` or a POSIX class, in the crate's syntax.
    Set(String),
}

/// The class after `[` at `b[*i]`, appended as PCRE2 reads it: `[` is a
/// member (no nesting), `-` between two characters a range.
fn class(b: &[u8], i: &mut usize, out: &mut String) -> std::result::Result<(), String> {
    out.push('[');
    if b.get(*i) == Some(&b'^') {
        out.push('^');
        *i += 1;
    }
    let member = |i: &mut usize| -> std::result::Result<Member, String> {
        let c = b[*i];
        *i += 1;
        match c {
            b'\\' => Ok(match escape(b, i, true)? {
                Escaped::Byte(v) => Member::Byte(v),
                Escaped::Other(text) => Member::Set(text.to_string()),
            }),
            b'[' if matches!(b.get(*i), Some(b':' | b'.' | b'=')) => {
                let kind = b[*i];
                let body = &b[*i + 1..];
                let len = body.iter().take_while(|&&c| c != kind).count();
                let name = std::str::from_utf8(&body[..len]).unwrap_or("");
                let (negated, bare) = match name.strip_prefix('^') {
                    Some(n) => (true, n),
                    None => (false, name),
                };
                if kind != b':'
                    || body.get(len + 1) != Some(&b']')
                    || !POSIX_CLASSES.contains(&bare)
                {
                    return Err(format!(
                        "the class member \"[{}\" is not supported",
                        kind as char
                    ));
                }
                *i += len + 3;
                let caret = if negated { "^" } else { "" };
                Ok(Member::Set(format!("[[:{caret}{bare}:]]")))
            }
            c => Ok(Member::Byte(c)),
        }
    };
    let mut first = true;
    loop {
        let Some(&c) = b.get(*i) else {
            return Err("missing \"]\"".into());
        };
        if c == b']' && !first {
            *i += 1;
            break;
        }
        first = false;
        let m = member(i)?;
        let range = b.get(*i) == Some(&b'-') && b.get(*i + 1).is_some_and(|&c| c != b']');
        match (m, range) {
            (Member::Byte(lo), true) => {
                *i += 1;
                let Member::Byte(hi) = member(i)? else {
                    return Err("a range to a class".into());
                };
                if hi < lo {
                    return Err("a range out of order".into());
                }
                let _ = write!(out, r"\x{{{lo:02X}}}-\x{{{hi:02X}}}");
            }
            (Member::Byte(v), false) => {
                let _ = write!(out, r"\x{{{v:02X}}}");
            }
            (Member::Set(_), true) => return Err("a range from a class".into()),
            (Member::Set(s), false) => out.push_str(&s),
        }
    }
    out.push(']');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contexts(main: &str) -> FileContexts {
        FileContexts::parse(
            (Path::new("file_contexts"), main.as_bytes()),
            None,
            None,
            None,
            None,
        )
        .unwrap()
    }

    fn error(main: &str) -> String {
        FileContexts::parse(
            (Path::new("file_contexts"), main.as_bytes()),
            None,
            None,
            None,
            None,
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn the_last_match_wins_and_exact_paths_come_last() {
        let fc = contexts(
            "/usr/bin/tool  u:r:exact_t\n\
             /usr(/.*)?     u:r:usr_t\n\
             /usr/bin(/.*)? u:r:bin_t\n\
             /usr/bin/t.*   -- u:r:t_t\n\
             /usr/bin/tool\\.d u:r:escaped_t\n",
        );
        // The exact line is moved after every expression.
        assert_eq!(fc.lookup("/usr/bin/tool", S_IFREG), Some("u:r:exact_t"));
        assert_eq!(fc.lookup("/usr/bin/tx", S_IFREG), Some("u:r:t_t"));
        assert_eq!(fc.lookup("/usr/bin/tx", S_IFDIR), Some("u:r:bin_t"));
        assert_eq!(fc.lookup("/usr/bin/tx", 0), Some("u:r:t_t"));
        assert_eq!(fc.lookup("/usr/lib", S_IFDIR), Some("u:r:usr_t"));
        // `\.` is no meta character: an exact path too.
        assert_eq!(fc.lookup("/usr/bin/tool.d", S_IFDIR), Some("u:r:escaped_t"));
        assert_eq!(fc.lookup("/etc", S_IFDIR), None);
    }

    #[test]
    fn none_stops_the_lookup() {
        let fc = contexts("/.* u:r:default_t\n/tmp/.* <<none>>\n/tmp/keep -- u:r:keep_t\n");
        assert_eq!(fc.lookup("/tmp/x", S_IFREG), None);
        assert_eq!(fc.lookup("/tmp/keep", S_IFREG), Some("u:r:keep_t"));
        assert_eq!(fc.lookup("/tmp/keep", S_IFDIR), None);
        assert_eq!(fc.lookup("/tmp", S_IFDIR), Some("u:r:default_t"));
    }

    #[test]
    fn paths_are_cleaned_and_anchors_are_not_grouped() {
        let fc = contexts("/.* u:r:default_t\n/a|/b u:r:alt_t\n/x/y -d u:r:xy_t\n");
        assert_eq!(fc.lookup("//x///y/", S_IFDIR), Some("u:r:xy_t"));
        assert_eq!(fc.lookup("/", S_IFDIR), Some("u:r:default_t"));
        assert_eq!(fc.lookup("", S_IFDIR), None);
        // `^/a|/b$`: a path starting with /a, or one ending in /b.
        assert_eq!(fc.lookup("/abc", S_IFREG), Some("u:r:alt_t"));
        assert_eq!(fc.lookup("/q/b", S_IFREG), Some("u:r:alt_t"));
        assert_eq!(fc.lookup("/q/bc", S_IFREG), Some("u:r:default_t"));
        // `$` also matches before a final newline.
        assert_eq!(fc.lookup("/x/y\n", S_IFDIR), Some("u:r:xy_t"));
    }

    #[test]
    fn a_line_with_a_stem_is_tried_only_under_it() {
        // `/usr\-x/...` has the stem `/usr\-x`, which no path's first
        // component is written as: libselinux never matches it.
        let fc = contexts("/.* u:r:default_t\n/usr\\-x/.* u:r:dash_t\n/o(pt)?/.* u:r:opt_t\n");
        assert_eq!(fc.lookup("/usr-x/a", S_IFREG), Some("u:r:default_t"));
        assert_eq!(fc.lookup("/opt/a", S_IFREG), Some("u:r:opt_t"));
        assert_eq!(fc.lookup("/o/a", S_IFREG), Some("u:r:opt_t"));
    }

    #[test]
    fn homedirs_and_local_follow_and_exact_lines_still_come_last() {
        let fc = FileContexts::parse(
            (
                Path::new("fc"),
                b"/srv(/.*)? u:r:srv_t\n/srv/www u:r:www_t\n",
            ),
            Some((Path::new("fc.homedirs"), b"/srv/w.* u:r:home_t\n")),
            Some((
                Path::new("fc.local"),
                b"/srv/www.* u:r:local_t\n/srv/a u:r:a_t\n",
            )),
            None,
            None,
        )
        .unwrap();
        assert_eq!(fc.len(), 5);
        // The local expression comes after the homedirs one, but the main
        // file's exact line comes after both.
        assert_eq!(fc.lookup("/srv/www1", S_IFREG), Some("u:r:local_t"));
        assert_eq!(fc.lookup("/srv/www", S_IFREG), Some("u:r:www_t"));
        assert_eq!(fc.lookup("/srv/wa", S_IFREG), Some("u:r:home_t"));
        assert_eq!(fc.lookup("/srv/a", S_IFREG), Some("u:r:a_t"));
    }

    #[test]
    fn substitutions_local_first_then_dist() {
        let fc = FileContexts::parse(
            (
                Path::new("fc"),
                b"/.* u:r:default_t\n/usr/lib(/.*)? u:r:lib_t\n/srv/data(/.*)? u:r:data_t\n",
            ),
            None,
            None,
            Some((
                Path::new("fc.subs_dist"),
                b"# comment\n/lib /usr/lib\n/lib /usr/nothing\n/web /data\nonly-one\n",
            )),
            Some((Path::new("fc.subs"), b"  /data /srv/data\n/root /\n")),
        )
        .unwrap();
        // Within a file the last line wins.
        assert_eq!(fc.lookup("/lib/x", S_IFREG), Some("u:r:default_t"));
        assert_eq!(fc.lookup("/libx", S_IFREG), Some("u:r:default_t"));
        // `.subs` first, then `.subs_dist` on what it gave; `.subs_dist`
        // then `.subs` is not tried.
        assert_eq!(fc.lookup("/data/f", S_IFREG), Some("u:r:data_t"));
        assert_eq!(fc.lookup("/web/f", S_IFREG), Some("u:r:default_t"));
        assert_eq!(fc.substitute(b"/web/f").as_deref(), Some(&b"/data/f"[..]));
        assert_eq!(fc.substitute(b"/root/a").as_deref(), Some(&b"/a"[..]));
        assert_eq!(fc.substitute(b"/root").as_deref(), Some(&b"/"[..]));
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        for (text, want) in [
            ("/a u:r:a_t\n/b\n", "file_contexts: line 2: missing fields"),
            ("/a -x u:r:a_t\n", "line 1: invalid file type \"-x\""),
            ("/a u:r:a_t # x\n", "line 1: invalid file type \"u:r:a_t\""),
            ("/a -- # x\n", "line 1: invalid context \"#\""),
            ("/a --\n", "line 1: invalid context \"--\""),
            (
                "# ok\n/a(  u:r:a_t\n",
                "line 2: regular expression \"/a(\": missing \")\"",
            ),
            ("/a[z-a] u:r:a_t\n", "out of order"),
            ("/a\\Qx u:r:a_t\n", "the escape \"\\Q\""),
            ("/a(?=x) u:r:a_t\n", "the group \"(?=x\""),
            ("/a*+ u:r:a_t\n", "possessive"),
            ("/a{,2} u:r:a_t\n", "10.43"),
            ("/é u:r:a_t\n", "non-ASCII"),
            (
                "/a u:r:a_t\n/a -- u:r:b_t\n",
                "line 2: a second line for \"/a\"",
            ),
        ] {
            let e = error(text);
            assert!(e.contains(want), "{text:?}: {e}");
        }
        // Different file types are no duplicates; comments, blank lines
        // and words after the third are fine.
        let fc = contexts("/a -- u:r:a_t\n\n   # x\n/a -d u:r:b_t extra words\n");
        assert_eq!(fc.lookup("/a", S_IFDIR), Some("u:r:b_t"));
    }

    #[test]
    fn compiled_expressions_are_bounded() {
        let e = error("/a[a-z]{65535} u:r:a_t\n");
        assert!(e.contains("line 1: regular expression"), "{e}");
        // Some 50 KiB each.
        let many: String = (0..1500)
            .map(|i| format!("/{i}[a-z]{{1000}}\\.d u:r:a_t\n"))
            .collect();
        let e = error(&many);
        assert!(e.contains("more than 64 MiB compiled"), "{e}");
    }

    #[test]
    fn pcre_syntax_means_what_pcre2_means() {
        let fc = contexts(
            "/.* u:r:default_t\n\
             /c/[]a-]x u:r:class_t\n\
             /c/[[:digit:][]y u:r:posix_t\n\
             /c/a{2}z u:r:count_t\n\
             /c/{x} u:r:brace_t\n\
             /c/\\<w\\> u:r:angle_t\n\
             /c/(?i)CASE u:r:case_t\n\
             /c/\\x41\\x{42} u:r:hex_t\n\
             /c/d.t u:r:dot_t\n\
             /c/[^/]*\\.so(\\.[^/]*)* u:r:lib_t\n",
        );
        for (path, want) in [
            ("/c/]x", "u:r:class_t"),
            ("/c/-x", "u:r:class_t"),
            ("/c/5y", "u:r:posix_t"),
            ("/c/[y", "u:r:posix_t"),
            ("/c/aaz", "u:r:count_t"),
            ("/c/{x}", "u:r:brace_t"),
            ("/c/<w>", "u:r:angle_t"),
            ("/c/case", "u:r:case_t"),
            ("/c/AB", "u:r:hex_t"),
            ("/c/libz.so.1.2", "u:r:lib_t"),
            ("/c/\u{e9}.so", "u:r:lib_t"),
            // `.` is one byte, whatever the bytes are.
            ("/c/d\u{e9}t", "u:r:default_t"),
        ] {
            assert_eq!(fc.lookup(path, S_IFREG), Some(want), "{path}");
        }
        assert_eq!(fc.lookup(b"/c/d\xfft", S_IFREG), Some("u:r:dot_t"));
    }

    /// The policy the package selinux-policy-default installs.
    const POLICY: &str = "/etc/selinux/default/contexts/files";

    /// The file types, with the names `matchpathcon -m` takes.
    const MODES: [(u32, &str); 7] = [
        (S_IFREG, "file"),
        (S_IFDIR, "dir"),
        (S_IFLNK, "lnk"),
        (S_IFCHR, "chr"),
        (S_IFBLK, "blk"),
        (S_IFIFO, "pipe"),
        (S_IFSOCK, "sock"),
    ];

    /// What `matchpathcon -N -n -f FILE [-m MODE] PATH...` prints for each
    /// path, `None` for `<<none>>`.
    fn matchpathcon(file: &Path, mode: Option<&str>, paths: &[&[u8]]) -> Vec<Option<String>> {
        use std::os::unix::ffi::OsStrExt;
        let mut all = Vec::new();
        for chunk in paths.chunks(2000) {
            let mut command = std::process::Command::new("matchpathcon");
            command.args(["-N", "-n", "-f"]).arg(file);
            if let Some(mode) = mode {
                command.args(["-m", mode]);
            }
            command.args(chunk.iter().map(|p| std::ffi::OsStr::from_bytes(p)));
            let out = command.output().unwrap_or_else(|e| {
                panic!(
                    "cannot run matchpathcon ({e}): the tests need it (Debian package \
                     selinux-utils); `cargo xtask test` installs the reference tools"
                )
            });
            assert!(
                out.status.success(),
                "matchpathcon failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout).unwrap();
            let lines: Vec<Option<String>> = text
                .lines()
                .map(|l| (l != NONE).then(|| l.to_string()))
                .collect();
            assert_eq!(lines.len(), chunk.len(), "{text}");
            all.extend(lines);
        }
        all
    }

    /// Compares `lookup` with matchpathcon for every path and file type,
    /// and with no file type for the paths this machine does not have
    /// (matchpathcon takes the type of one that exists). Returns the
    /// number of lookups compared.
    fn compare(file: &Path, fc: &FileContexts, paths: &[Vec<u8>]) -> usize {
        use std::os::unix::ffi::OsStrExt;
        let all: Vec<&[u8]> = paths.iter().map(|p| &p[..]).collect();
        let absent: Vec<&[u8]> = all
            .iter()
            .copied()
            .filter(|p| std::fs::symlink_metadata(std::ffi::OsStr::from_bytes(p)).is_err())
            .collect();
        let runs = MODES.iter().map(|&(mode, name)| (mode, Some(name)));
        let (mut compared, mut differ) = (0, Vec::new());
        for (mode, name) in runs.chain([(0, None)]) {
            let paths = if name.is_some() { &all } else { &absent };
            let want = matchpathcon(file, name, paths);
            for (path, want) in paths.iter().zip(want) {
                let got = fc.lookup(path, mode);
                if got != want.as_deref() {
                    differ.push(format!(
                        "{:?} -m {}: matchpathcon {want:?}, lookup {got:?}",
                        String::from_utf8_lossy(path),
                        name.unwrap_or("(none)"),
                    ));
                }
                compared += 1;
            }
        }
        assert!(
            differ.is_empty(),
            "{} of {compared} lookups differ from matchpathcon:\n{}",
            differ.len(),
            differ[..differ.len().min(40)].join("\n")
        );
        compared
    }

    #[test]
    fn hand_written_lines_agree_with_matchpathcon() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file_contexts");
        let write = |suffix: &str, text: &str| {
            let mut name = file.as_os_str().to_owned();
            name.push(suffix);
            std::fs::write(name, text).unwrap();
        };
        write(
            "",
            "/.*                 u:r:default_t\n\
             /usr/bin/tool       u:r:exact_t\n\
             /usr(/.*)?          u:r:usr_t\n\
             /usr/bin(/.*)?      u:r:bin_t\n\
             /usr/bin/t.*    --  u:r:t_t\n\
             /usr/bin/tool\\.d   u:r:escaped_t\n\
             /usr/bin/x\\d       u:r:digit_t\n\
             /tmp/.*             <<none>>\n\
             /tmp/keep       --  u:r:keep_t\n\
             /a|/b               u:r:alt_t\n\
             /usr\\-x/.*         u:r:dash_t\n\
             /o(pt)?/.*          u:r:opt_t\n\
             /srv(/.*)?          u:r:srv_t\n\
             /srv/www            u:r:www_t\n\
             /x/y            -d  u:r:xy_t\n\
             /dev/null       -c  u:r:null_t\n\
             /dev/[^/]*      -b  u:r:block_t\n\
             /run/.*\\.sock  -s  u:r:sock_t\n\
             /run/.*\\.fifo  -p  u:r:fifo_t\n\
             /lnk/.*         -l  u:r:link_t\n\
             /c/[]a-]x           u:r:class_t\n\
             /c/[[:digit:][]y    u:r:posix_t\n\
             /c/a{2}z            u:r:count_t\n\
             /c/{x}              u:r:brace_t\n\
             /c/\\<w\\>          u:r:angle_t\n\
             /c/(?i)CASE         u:r:case_t\n\
             /c/\\x41\\x{42}     u:r:hex_t\n\
             /c/d.t              u:r:dot_t\n\
             /c/[^/]*\\.so(\\.[^/]*)* u:r:lib_t\n\
             /data(/.*)?         u:r:data_t\n\
             /srv/data(/.*)?     u:r:srvdata_t\n\
             /usr/lib(/.*)?      u:r:lib_t\n",
        );
        write(
            ".homedirs",
            "/srv/w.* u:r:home_t\n/home/[^/]+/\\.ssh(/.*)? u:r:ssh_t\n",
        );
        write(
            ".local",
            "/srv/www.* u:r:local_t\n/srv/a u:r:a_t\n/usr/bin/tool -- u:r:mine_t\n",
        );
        write(
            ".subs_dist",
            "# comment\n/lib /usr/lib\n/lib /usr/nothing\n/web /data\nonly-one\n/lib64 /usr/lib\n",
        );
        write(".subs", "  /data /srv/data\n/root /\n/bin /usr/bin extra\n");
        let fc = FileContexts::read(&file).unwrap();
        let mut paths: Vec<Vec<u8>> = [
            "/",
            "/usr",
            "/usr/",
            "/usr/bin",
            "/usr/bin/tool",
            "/usr/bin/tool.d",
            "/usr/bin/toolxd",
            "/usr/bin/x1",
            "/usr/bin/xd",
            "/usr/bin/tx",
            "/usr/lib",
            "/usr/lib/x",
            "/etc",
            "/tmp",
            "/tmp/x",
            "/tmp/keep",
            "/a",
            "/abc",
            "/q/b",
            "/q/bc",
            "/b",
            "/usr-x/a",
            "/usr-x",
            "/opt/a",
            "/o/a",
            "/op/a",
            "/srv",
            "/srv/www",
            "/srv/www1",
            "/srv/wa",
            "/srv/a",
            "/srv/b",
            "/x/y",
            "/x/y/",
            "//x///y/",
            "/x/y\n",
            "/x/y\n\n",
            "/dev/null",
            "/dev/sda",
            "/dev/sda/1",
            "/run/a.sock",
            "/run/a.fifo",
            "/lnk/l",
            "/c/]x",
            "/c/-x",
            "/c/ax",
            "/c/5y",
            "/c/[y",
            "/c/aaz",
            "/c/az",
            "/c/{x}",
            "/c/<w>",
            "/c/w",
            "/c/case",
            "/c/CASE",
            "/c/cAsE",
            "/c/AB",
            "/c/ab",
            "/c/dxt",
            "/c/d\u{e9}t",
            "/c/libz.so.1.2",
            "/c/\u{e9}.so",
            "/lib",
            "/lib/x",
            "/libx",
            "/lib64/ld.so",
            "/lib/x/",
            "/web/f",
            "/data/f",
            "/data",
            "/root",
            "/root/a",
            "/root/tmp/x",
            "/bin/sh",
            "/bin",
            "/home/alice/.ssh/authorized_keys",
            "/home/alice/.sshx",
            "relative/path",
            "usr/bin/tool",
        ]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
        paths.push(b"/c/d\xfft".to_vec());
        paths.push(b"/c/\xff\xfe.so".to_vec());
        let compared = compare(&file, &fc, &paths);
        assert!(compared > paths.len() * MODES.len());
    }

    /// A path `regex` roughly matches: its literal text, `.` and each class
    /// as one character, each group's first alternative, and its optional
    /// parts kept or left out.
    fn sample(regex: &[u8], optional: bool) -> Vec<u8> {
        fn skip_alternatives(re: &[u8], i: &mut usize) {
            let mut depth = 0;
            while *i < re.len() {
                match re[*i] {
                    b'\\' => *i += 1,
                    b'(' => depth += 1,
                    b')' if depth == 0 => return,
                    b')' => depth -= 1,
                    _ => {}
                }
                *i += 1;
            }
        }
        fn sequence(re: &[u8], i: &mut usize, optional: bool, out: &mut Vec<u8>) {
            while *i < re.len() {
                let start = out.len();
                match re[*i] {
                    b')' => return,
                    b'|' => return skip_alternatives(re, i),
                    b'(' => {
                        *i += 1;
                        if re[*i..].starts_with(b"?:") {
                            *i += 2;
                        }
                        sequence(re, i, optional, out);
                        *i += 1;
                    }
                    b'\\' => {
                        out.push(re.get(*i + 1).copied().unwrap_or(b'x'));
                        *i += 2;
                    }
                    b'[' => {
                        *i += 1;
                        let negated = re.get(*i) == Some(&b'^');
                        *i += usize::from(negated);
                        let first = re.get(*i).copied().unwrap_or(b'x');
                        *i += 1;
                        while *i < re.len() && re[*i] != b']' {
                            *i += if re[*i] == b'\\' { 2 } else { 1 };
                        }
                        *i += 1;
                        out.push(if negated || first == b'\\' {
                            b'x'
                        } else {
                            first
                        });
                    }
                    b'.' => {
                        out.push(b'x');
                        *i += 1;
                    }
                    b'^' | b'$' => *i += 1,
                    c => {
                        out.push(c);
                        *i += 1;
                    }
                }
                match re.get(*i) {
                    Some(b'?' | b'*') => {
                        *i += 1;
                        if !optional {
                            out.truncate(start);
                        }
                    }
                    Some(b'+') => *i += 1,
                    _ => {}
                }
            }
        }
        let (mut out, mut i) = (Vec::new(), 0);
        sequence(regex, &mut i, optional, &mut out);
        out
    }

    /// Paths of a typical Linux tree, and of its home directories.
    const TYPICAL: &[&str] = &[
        "/",
        "/bin",
        "/bin/bash",
        "/bin/sh",
        "/sbin/init",
        "/sbin/ldconfig",
        "/lib",
        "/lib64",
        "/lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/modules",
        "/lib/modules/6.1.0-18-amd64/kernel/fs/ext4/ext4.ko",
        "/lib/firmware/iwlwifi.ucode",
        "/lib/systemd/systemd",
        "/lib/systemd/system/ssh.service",
        "/usr",
        "/usr/bin",
        "/usr/bin/bash",
        "/usr/bin/ls",
        "/usr/bin/sudo",
        "/usr/bin/passwd",
        "/usr/bin/ssh",
        "/usr/bin/python3",
        "/usr/bin/dbus-daemon",
        "/usr/bin/crontab",
        "/usr/bin/gpg",
        "/usr/sbin/sshd",
        "/usr/sbin/crond",
        "/usr/sbin/cron",
        "/usr/sbin/rsyslogd",
        "/usr/sbin/setfiles",
        "/usr/sbin/unix_chkpwd",
        "/usr/sbin/agetty",
        "/usr/lib/systemd/systemd",
        "/usr/lib/systemd/systemd-journald",
        "/usr/lib/systemd/system/x.service",
        "/usr/lib/systemd/system/sshd.service",
        "/usr/lib/systemd/user/x.service",
        "/usr/lib/systemd/system-generators/g",
        "/usr/lib/x86_64-linux-gnu/libselinux.so.1",
        "/usr/lib64/libc.so.6",
        "/usr/lib/libfoo.so.1",
        "/usr/lib/os-release",
        "/usr/lib/modules/6.1/vmlinuz",
        "/usr/libexec/openssh/sftp-server",
        "/usr/lib/openssh/sftp-server",
        "/usr/lib/rpm/macros",
        "/usr/local/bin/tool",
        "/usr/local/lib/libx.so",
        "/usr/local/lib64/liby.so",
        "/usr/share/doc/bash/README",
        "/usr/share/man/man1/ls.1.gz",
        "/usr/share/zoneinfo/UTC",
        "/usr/include/stdio.h",
        "/usr/src/kernels",
        "/etc",
        "/etc/shadow",
        "/etc/gshadow",
        "/etc/passwd",
        "/etc/group",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/fstab",
        "/etc/machine-id",
        "/etc/hostname",
        "/etc/sudoers",
        "/etc/sudoers.d/wheel",
        "/etc/ssh/sshd_config",
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/ssh/ssh_host_ed25519_key.pub",
        "/etc/selinux/config",
        "/etc/selinux/default/policy/policy.33",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/systemd/system",
        "/etc/systemd/system/multi-user.target.wants/sshd.service",
        "/etc/systemd/system/default.target",
        "/etc/systemd/user",
        "/etc/init.d/ssh",
        "/etc/rc.d/init.d/network",
        "/etc/cron.d/job",
        "/etc/crontab",
        "/etc/yum.repos.d/x.repo",
        "/etc/dnf/dnf.conf",
        "/etc/default/grub",
        "/etc/grub.d/40_custom",
        "/etc/ld.so.cache",
        "/etc/localtime",
        "/etc/motd",
        "/etc/security/limits.conf",
        "/etc/pam.d/sshd",
        "/etc/NetworkManager/system-connections/eth0.nmconnection",
        "/etc/cloud/cloud.cfg",
        "/boot",
        "/boot/vmlinuz-6.1",
        "/boot/initramfs-6.1.img",
        "/boot/grub2/grub.cfg",
        "/boot/grub/grub.cfg",
        "/boot/efi",
        "/boot/efi/EFI/BOOT/BOOTX64.EFI",
        "/boot/loader/entries/x.conf",
        "/boot/System.map-6.1",
        "/var",
        "/var/log",
        "/var/log/messages",
        "/var/log/secure",
        "/var/log/wtmp",
        "/var/log/lastlog",
        "/var/log/journal",
        "/var/log/journal/abc/system.journal",
        "/var/log/audit/audit.log",
        "/var/log/private/x.log",
        "/var/lib",
        "/var/lib/rpm",
        "/var/lib/rpm/rpmdb.sqlite",
        "/var/lib/dnf/history.sqlite",
        "/var/lib/dpkg/status",
        "/var/lib/systemd/random-seed",
        "/var/lib/private/x",
        "/var/lib/selinux",
        "/var/cache/dnf",
        "/var/cache/private/x",
        "/var/spool/cron/root",
        "/var/spool/mail/alice",
        "/var/mail",
        "/var/tmp",
        "/var/tmp/x",
        "/var/run",
        "/var/run/sshd.pid",
        "/var/lock",
        "/var/lock/subsys/x",
        "/var/www/html/index.html",
        "/var/empty/sshd",
        "/run",
        "/run/lock",
        "/run/lock/x",
        "/run/sshd.pid",
        "/run/utmp",
        "/run/systemd/journal/socket",
        "/run/dbus/system_bus_socket",
        "/run/user/1000",
        "/tmp",
        "/tmp/x",
        "/tmp/.X11-unix",
        "/tmp/.X11-unix/X0",
        "/dev",
        "/dev/null",
        "/dev/zero",
        "/dev/random",
        "/dev/urandom",
        "/dev/console",
        "/dev/tty",
        "/dev/tty1",
        "/dev/ttyS0",
        "/dev/pts",
        "/dev/pts/0",
        "/dev/ptmx",
        "/dev/sda",
        "/dev/sda1",
        "/dev/vda",
        "/dev/nvme0n1p1",
        "/dev/loop0",
        "/dev/mapper/control",
        "/dev/kvm",
        "/dev/shm",
        "/dev/log",
        "/dev/initctl",
        "/dev/fuse",
        "/dev/net/tun",
        "/dev/rtc0",
        "/dev/disk/by-uuid/x",
        "/proc",
        "/proc/1",
        "/sys",
        "/sys/fs/selinux",
        "/sys/kernel",
        "/home",
        "/home/alice",
        "/home/alice/.ssh",
        "/home/alice/.ssh/authorized_keys",
        "/home/alice/.bashrc",
        "/home/alice/.bash_history",
        "/home/alice/.config/app.conf",
        "/home/alice/.cache/x",
        "/home/alice/.local/share/x",
        "/home/alice/public_html/i.html",
        "/home/alice/bin/script",
        "/home/alice/.gnupg/pubring.kbx",
        "/root",
        "/root/.ssh",
        "/root/.ssh/authorized_keys",
        "/root/.bashrc",
        "/root/anaconda-ks.cfg",
        "/mnt",
        "/mnt/data",
        "/media",
        "/media/cdrom",
        "/srv",
        "/srv/www",
        "/opt",
        "/opt/app/bin/x",
        "/opt/app/lib/libx.so",
        "/lost+found",
        "/.autorelabel",
        "/aquota.user",
        "/swapfile",
        "/usr/bin/",
        "//usr//bin//bash",
        "/usr/lib/systemd/system/",
        "/etc/shadow\n",
        "usr/bin/bash",
        "/nonexistent-top/x",
        "/data/x",
        "/data",
        "/srv/www/html/i.html",
        "/srv/myapp/f",
    ];

    #[test]
    fn the_real_policy_agrees_with_matchpathcon() {
        let policy = Path::new(POLICY);
        assert!(
            policy.join("file_contexts").is_file(),
            "no {POLICY}/file_contexts: the tests need the policy of the Debian package \
             selinux-policy-default; `cargo xtask test` installs it"
        );
        // A copy without the compiled file_contexts.bin matchpathcon would
        // prefer, and with a .local and a .subs of our own.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file_contexts");
        for suffix in ["", ".homedirs", ".subs_dist"] {
            let from = policy.join(format!("file_contexts{suffix}"));
            std::fs::copy(&from, dir.path().join(format!("file_contexts{suffix}")))
                .unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        }
        std::fs::write(
            dir.path().join("file_contexts.local"),
            "/srv/myapp(/.*)?       system_u:object_r:httpd_sys_content_t:s0\n\
             /opt/app/bin/x     --  system_u:object_r:bin_t:s0\n\
             /usr/bin/bash      --  system_u:object_r:bin_t:s0\n\
             /var/log/myapp(/.*)?   system_u:object_r:var_log_t:s0\n\
             /etc/.*\\.conf      --  system_u:object_r:etc_runtime_t:s0\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("file_contexts.subs"),
            "/data /srv/myapp\n/srv/www /var/www\n",
        )
        .unwrap();

        let start = std::time::Instant::now();
        let fc = FileContexts::read(&file).unwrap();
        let parsed = start.elapsed();
        assert!(fc.len() > 4000, "{} lines", fc.len());

        // The typical paths, and for every line two paths it matches (or
        // nearly) and one under each.
        let mut paths: std::collections::BTreeSet<Vec<u8>> =
            TYPICAL.iter().map(|p| p.as_bytes().to_vec()).collect();
        for spec in &fc.specs {
            for optional in [true, false] {
                let path = sample(spec.text.as_bytes(), optional);
                paths.insert([&path[..], b"/y"].concat());
                paths.insert(path);
            }
        }
        let paths: Vec<Vec<u8>> = paths.into_iter().collect();
        let compared = compare(&file, &fc, &paths);

        let start = std::time::Instant::now();
        let mut found = 0usize;
        for path in &paths {
            for (mode, _) in MODES {
                found += usize::from(fc.lookup(path, mode).is_some());
            }
        }
        let elapsed = start.elapsed();
        let lookups = paths.len() * MODES.len();
        println!(
            "{} lines parsed in {parsed:?}; {compared} lookups equal to matchpathcon's \
             ({} paths); {lookups} lookups ({found} with a context) in {elapsed:?}: {:.0}/s",
            fc.len(),
            paths.len(),
            lookups as f64 / elapsed.as_secs_f64(),
        );
    }
}
