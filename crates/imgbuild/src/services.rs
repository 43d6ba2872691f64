//! systemd units enabled and disabled as `systemctl enable` and `systemctl
//! disable` leave the tree (Image Customizer's `os.services`), without
//! running them.
//!
//! The unit files are found as systemctl finds them offline, in the
//! system unit search path (`/etc/systemd/system`, `/run/systemd/system`,
//! `/usr/local/lib/systemd/system`, `/usr/lib/systemd/system`, and
//! `/lib/systemd/system` where the tree keeps units there), the first
//! one found by name winning and a symbolic link (an alias) followed. Each
//! unit's `[Install]` section says what enabling it makes, all in
//! `/etc/systemd/system`: `WantedBy=` a link in `TARGET.wants/`,
//! `RequiredBy=` in `TARGET.requires/`, `UpheldBy=` in `TARGET.upholds/`,
//! `Alias=` a link of that name, `Also=` the units enabled with it; a
//! template (`name@.service`) is enabled as its `DefaultInstance=`, an
//! instance (`name@x.service`) from its template. Each link points at the
//! unit file's absolute path. Disabling removes every link in
//! `/etc/systemd/system` to the unit's file, or named after the unit in
//! a `.wants`, `.requires` or `.upholds` directory, and does the same for
//! its `Also=` units. Every unit is enabled first, then the others
//! disabled, in the configuration's order, as Image Customizer runs
//! systemctl. A unit that is not in the tree is an error naming it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use crate::config::Services;
use crate::error;
use crate::rootfs::{Entry, EntryKind};
use crate::{Error, Result};

/// The system unit search path, in systemctl's order, relative to the
/// root.
const SEARCH_PATH: &[&str] = &[
    "etc/systemd/system",
    "run/systemd/system",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// Where enabling writes its links (and the only place disabling looks).
const CONFIG_DIR: &str = "etc/systemd/system";

/// Largest unit file read.
const MAX_UNIT: u64 = 1 << 20;

/// The unit types `systemctl enable` knows, by suffix.
const UNIT_SUFFIXES: &[&str] = &[
    ".service",
    ".socket",
    ".target",
    ".timer",
    ".path",
    ".mount",
    ".automount",
    ".swap",
    ".slice",
    ".scope",
    ".device",
];

/// What the walk saw of the unit directories.
#[derive(Default)]
struct Units {
    /// Unit files: path → bytes.
    files: HashMap<String, Vec<u8>>,
    /// Symbolic links in the unit directories: path → target.
    links: HashMap<String, String>,
}

/// A visitor of entries.
type Visit<'a> = dyn FnMut(&Entry, &mut dyn Read) -> Result<()> + 'a;

/// `inner`'s entries with `services` applied: every entry under
/// `/etc/systemd/system` held back until the end, then handed on with the
/// links disabling removes left out and those enabling makes added.
pub(crate) fn walk(
    services: &Services,
    source: &Path,
    time: i64,
    inner: &mut dyn FnMut(&mut Visit<'_>) -> Result<()>,
    visit: &mut Visit<'_>,
) -> Result<()> {
    let mut units = Units::default();
    let mut held: Vec<(Entry, Vec<u8>)> = Vec::new();
    // Every directory the tree has (an entry's parents included), so that
    // a link's missing parents are made once.
    let mut dirs: HashSet<String> = HashSet::new();
    let mut linked_config: Option<String> = None;
    let mut held_paths: HashSet<String> = HashSet::new();
    let in_unit_dir = |p: &str| {
        SEARCH_PATH
            .iter()
            .any(|d| p.strip_prefix(d).is_some_and(|rest| rest.starts_with('/')))
    };
    inner(&mut |entry, data| {
        let path = entry.path.as_str();
        crate::rootfs::note_parents(&mut dirs, path);
        match &entry.kind {
            EntryKind::Dir => {
                dirs.insert(path.to_string());
            }
            EntryKind::Symlink { .. }
                if CONFIG_DIR == path
                    || CONFIG_DIR
                        .strip_prefix(path)
                        .is_some_and(|r| r.starts_with('/')) =>
            {
                linked_config = Some(path.to_string());
            }
            _ => {}
        }
        let config = path == CONFIG_DIR
            || path
                .strip_prefix(CONFIG_DIR)
                .is_some_and(|r| r.starts_with('/'));
        let linked_to_held =
            matches!(&entry.kind, EntryKind::HardLink { target } if held_paths.contains(target));
        let mut bytes = Vec::new();
        if let EntryKind::File { len } = entry.kind {
            if in_unit_dir(path) && is_unit_name(file_name(path)) {
                if len > MAX_UNIT {
                    return Err(error::layout(format!(
                        "/{path} is {len} bytes, more than the {MAX_UNIT} a unit file may be"
                    )));
                }
                data.take(len)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::file(path, e))?;
                units.files.insert(path.to_string(), bytes.clone());
            } else if config {
                if len > MAX_UNIT {
                    return Err(error::layout(format!(
                        "/{path} is {len} bytes, more than the {MAX_UNIT} a file in \
                         /{CONFIG_DIR} may be when services are enabled"
                    )));
                }
                data.take(len)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::file(path, e))?;
            }
        }
        if let EntryKind::Symlink { target } = &entry.kind {
            if in_unit_dir(path) {
                units.links.insert(path.to_string(), target.clone());
            }
        }
        if config || linked_to_held {
            held_paths.insert(path.to_string());
            held.push((entry.clone(), bytes));
            return Ok(());
        }
        if bytes.is_empty() {
            visit(entry, data)
        } else {
            visit(entry, &mut bytes.as_slice())
        }
    })?;

    if let Some(link) = linked_config {
        return Err(error::layout(format!(
            "/{link} is a symbolic link in the tree; the units enabled are linked in \
             /{CONFIG_DIR}, which must be a directory of the tree's own"
        )));
    }
    let mut links: BTreeMap<String, String> = held
        .iter()
        .filter_map(|(e, _)| match &e.kind {
            EntryKind::Symlink { target } => Some((e.path.clone(), target.clone())),
            _ => None,
        })
        .collect();
    let before = links.clone();
    let at = |what: &str, i: usize| format!("os.services.{what}[{i}]");
    for (i, name) in services.enable.iter().enumerate() {
        let mut seen = HashSet::new();
        enable(&units, name, &mut links, &mut seen)
            .map_err(|why| error::config(source, at("enable", i), why))?;
    }
    for (i, name) in services.disable.iter().enumerate() {
        let mut seen = HashSet::new();
        disable(&units, name, &mut links, &mut seen)
            .map_err(|why| error::config(source, at("disable", i), why))?;
    }

    for (entry, bytes) in &held {
        if matches!(entry.kind, EntryKind::Symlink { .. }) && !links.contains_key(&entry.path) {
            continue;
        }
        visit(entry, &mut bytes.as_slice())?;
    }
    for (path, target) in &links {
        if before.get(path) == Some(target) {
            continue;
        }
        for dir in crate::rootfs::missing_parents(path, |d| dirs.contains(d)) {
            visit(
                &Entry::implied_dir(dir.clone(), time),
                &mut std::io::empty(),
            )?;
            dirs.insert(dir);
        }
        let entry = Entry {
            kind: EntryKind::Symlink {
                target: target.clone(),
            },
            mode: 0o777,
            ..Entry::implied_dir(path.clone(), time)
        };
        visit(&entry, &mut std::io::empty())?;
    }
    Ok(())
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_unit_name(name: &str) -> bool {
    UNIT_SUFFIXES
        .iter()
        .any(|s| name.ends_with(s) && name.len() > s.len())
}

/// `name` as systemctl takes it: `.service` added when it has no unit
/// suffix.
fn unit_name(name: &str) -> std::result::Result<String, String> {
    if name.is_empty() || name.contains('/') || name.contains(char::is_whitespace) {
        return Err(format!("{name:?} is not a unit name"));
    }
    Ok(if is_unit_name(name) {
        name.to_string()
    } else {
        format!("{name}.service")
    })
}

/// A unit's template (`a@.service` for `a@x.service`) and instance.
fn split_instance(name: &str) -> Option<(String, &str)> {
    let (prefix, rest) = name.split_once('@')?;
    let dot = rest.rfind('.')?;
    let (instance, suffix) = rest.split_at(dot);
    Some((format!("{prefix}@{suffix}"), instance))
}

/// The file of unit `name`: its path in the tree, following aliases.
fn find(units: &Units, name: &str) -> Option<String> {
    for dir in SEARCH_PATH {
        let mut path = format!("{dir}/{name}");
        for _ in 0..32 {
            if units.files.contains_key(&path) {
                return Some(path);
            }
            let Some(target) = units.links.get(&path) else {
                break;
            };
            path = resolve_link(&path, target);
        }
    }
    None
}

/// Where the link at `path` to `target` leads, relative to the root.
fn resolve_link(path: &str, target: &str) -> String {
    let joined = if let Some(abs) = target.strip_prefix('/') {
        abs.to_string()
    } else {
        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
        format!("{parent}/{target}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// A unit file's `[Install]` settings: key → values, in order.
fn install_section(bytes: &[u8]) -> BTreeMap<String, Vec<String>> {
    let text = String::from_utf8_lossy(bytes);
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut in_install = false;
    let mut pending = String::new();
    for raw in text.lines() {
        // A line ending in a backslash continues on the next.
        if let Some(start) = raw.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            continue;
        }
        let line = std::mem::take(&mut pending) + raw;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_install = line == "[Install]";
            continue;
        }
        if !in_install {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let values = out.entry(key.trim().to_string()).or_default();
        if value.trim().is_empty() {
            // An empty assignment resets the list.
            values.clear();
        } else {
            values.extend(value.split_whitespace().map(str::to_string));
        }
    }
    out
}

/// The unit a name stands for, its file, and the name to link it by (the
/// instance for a template with a default one).
struct Found {
    file: String,
    install: BTreeMap<String, Vec<String>>,
    link_name: Option<String>,
}

fn lookup(units: &Units, name: &str) -> std::result::Result<Found, String> {
    let name = unit_name(name)?;
    let (file, instance) = match find(units, &name) {
        Some(file) => (file, None),
        None => match split_instance(&name) {
            Some((template, instance)) if !instance.is_empty() => match find(units, &template) {
                Some(file) => (file, Some(name.clone())),
                None => return Err(not_found(&name)),
            },
            _ => return Err(not_found(&name)),
        },
    };
    let install = install_section(&units.files[&file]);
    let own = file_name(&file).to_string();
    let link_name = match (instance, split_instance(&own)) {
        (Some(instance), _) => Some(instance),
        // A template: its default instance, else nothing to link.
        (None, Some((_, ""))) => match install.get("DefaultInstance").and_then(|v| v.last()) {
            Some(i) => {
                check_plain(&own, "DefaultInstance", i)?;
                Some(own.replacen("@.", &format!("@{i}."), 1))
            }
            None => None,
        },
        (None, _) => Some(name.clone()),
    };
    Ok(Found {
        file,
        install,
        link_name,
    })
}

fn not_found(name: &str) -> String {
    format!(
        "unit {name} is not in the tree (looked in /{})",
        SEARCH_PATH.join(", /")
    )
}

/// `systemctl enable NAME`.
fn enable(
    units: &Units,
    name: &str,
    links: &mut BTreeMap<String, String>,
    seen: &mut HashSet<String>,
) -> std::result::Result<(), String> {
    if !seen.insert(name.to_string()) {
        return Ok(());
    }
    let found = lookup(units, name)?;
    let target = format!("/{}", found.file);
    let mut add = |path: String| -> std::result::Result<(), String> {
        match links.get(&path) {
            Some(t) if *t == target => Ok(()),
            Some(t) => Err(format!(
                "enabling {name} would link /{path} to {target}, but it is a link to {t}"
            )),
            None => {
                links.insert(path, target.clone());
                Ok(())
            }
        }
    };
    if let Some(link_name) = &found.link_name {
        for (key, dir) in [
            ("WantedBy", "wants"),
            ("RequiredBy", "requires"),
            ("UpheldBy", "upholds"),
        ] {
            for unit in found.install.get(key).into_iter().flatten() {
                check_plain(name, key, unit)?;
                add(format!("{CONFIG_DIR}/{unit}.{dir}/{link_name}"))?;
            }
        }
    }
    for alias in found.install.get("Alias").into_iter().flatten() {
        check_plain(name, "Alias", alias)?;
        // A link in the configuration directory to the unit's own file
        // there would point at itself.
        if format!("{CONFIG_DIR}/{alias}") != found.file {
            add(format!("{CONFIG_DIR}/{alias}"))?;
        }
    }
    for also in found.install.get("Also").into_iter().flatten() {
        enable(units, also, links, seen)?;
    }
    Ok(())
}

/// `systemctl disable NAME`.
fn disable(
    units: &Units,
    name: &str,
    links: &mut BTreeMap<String, String>,
    seen: &mut HashSet<String>,
) -> std::result::Result<(), String> {
    if !seen.insert(name.to_string()) {
        return Ok(());
    }
    let found = lookup(units, name)?;
    let mut names: HashSet<String> = HashSet::new();
    names.insert(unit_name(name)?);
    if let Some(n) = &found.link_name {
        names.insert(n.clone());
    }
    let aliases: HashSet<&String> = found.install.get("Alias").into_iter().flatten().collect();
    links.retain(|path, target| {
        let to_file = resolve_link(path, target) == found.file;
        let (dir, file) = path.rsplit_once('/').unwrap_or(("", path.as_str()));
        let dependency = names.contains(file)
            && (dir.ends_with(".wants") || dir.ends_with(".requires") || dir.ends_with(".upholds"));
        // An alias, not a mask (a link to /dev/null stays).
        let alias =
            dir == CONFIG_DIR && aliases.contains(&file.to_string()) && target != "/dev/null";
        !(to_file || dependency || alias)
    });
    for also in found.install.get("Also").into_iter().flatten() {
        disable(units, also, links, seen)?;
    }
    Ok(())
}

/// Refuses a unit name with systemd's specifiers, which this does not
/// expand.
fn check_plain(unit: &str, key: &str, value: &str) -> std::result::Result<(), String> {
    if value.contains('%')
        || value.contains('/')
        || value.is_empty()
        || value == "."
        || value == ".."
    {
        return Err(format!(
            "{unit}'s [Install] {key}={value} uses specifiers or a path, which are not expanded"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_sections_read_as_systemd_reads_them() {
        let unit = b"[Unit]\nWantedBy=no.target\n[Install]\nWantedBy=a.target \\\n  b.target\n\
                     Alias=x.service\nAlias=\nAlias=y.service\n# WantedBy=c.target\n";
        let install = install_section(unit);
        assert_eq!(install["WantedBy"], ["a.target", "b.target"]);
        assert_eq!(install["Alias"], ["y.service"]);
    }

    #[test]
    fn names_templates_and_links() {
        assert_eq!(unit_name("sshd").unwrap(), "sshd.service");
        assert_eq!(unit_name("a.timer").unwrap(), "a.timer");
        assert!(unit_name("a b").is_err());
        assert_eq!(
            split_instance("getty@tty1.service"),
            Some(("getty@.service".into(), "tty1"))
        );
        assert_eq!(
            resolve_link("etc/systemd/system/a.service", "../../../usr/lib/x.service"),
            "usr/lib/x.service"
        );
        // What a unit's [Install] names becomes a path: no way out of its
        // directory.
        for bad in ["..", ".", "x/../../y", "%i", ""] {
            assert!(
                check_plain("a@.service", "DefaultInstance", bad).is_err(),
                "{bad}"
            );
        }
        assert!(check_plain("a@.service", "DefaultInstance", "tty1").is_ok());
    }
}
