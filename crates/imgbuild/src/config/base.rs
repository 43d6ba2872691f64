//! Image Customizer's `baseConfigs`: a configuration built on others,
//! merged into one document as Image Customizer merges them
//! (`docs/imagecustomizer/api/configuration/baseConfig.md`).
//!
//! The chain is every base, depth first in the order listed, then the
//! configuration itself. Scalars of a later file replace an earlier one's
//! (`os.hostname`, `output.image.format`, and `os.selinux` and `os.uki`
//! whole); lists add to the earlier ones (`os.users`, `os.packages.install`,
//! `os.additionalFiles`, `scripts.postCustomization`, the kernel command
//! line's `extraCommandLine`, …); `os.bootloader.resetType` takes the
//! strongest (`hard-reset`); `storage` may stand in one file of the chain
//! only. A relative path in a file (a file to add, a package list, a
//! script) is taken from that file's own directory.

use std::path::{Path, PathBuf};

use super::node::{Field, Node};
use super::read_text;
use crate::error;
use crate::error::{Error, Result};

/// Most files a chain may hold, against runaway or self-made recursion
/// (a cycle is refused by name before that).
const MAX_FILES: usize = 64;

/// Sections replaced whole by a later file, not merged.
const REPLACED: &[&str] = &["os.selinux", "os.uki"];

/// Fields holding a path, relative to their own file's directory: by key
/// path, `[]` standing for every item of a list. (A script keeps its path
/// as written, with its file's directory beside it: [`SCRIPT_DIR_KEY`].)
const PATHS: &[&str] = &[
    "os.additionalFiles[].source",
    "os.additionalDirs[].source",
    "os.packages.installLists[]",
    "os.packages.removeLists[]",
    "os.packages.updateLists[]",
    "os.users[].sshPublicKeyPaths[]",
    "input.image.path",
];

/// The password types whose value is a file's path.
const PASSWORD_FILE_TYPES: &[&str] = &["plain-text-file", "hashed-file"];

/// The key an `os.groups` or `os.users` item of a chain carries its place
/// under: `[batch, file, field]`, the file's place in the chain, the
/// file, and the item's key path there. Image Customizer makes each
/// file's groups and users in turn, and an error in making one names it
/// (no key written in a file can hold a NUL).
pub(crate) const DECLARED_KEY: &str = "\u{0}declared";

/// The configurations `top` (read from `source`) is built on, then `top`:
/// (file, document), with `baseConfigs` taken out of each and relative
/// paths made absolute. Only `top` when it has no `baseConfigs`.
pub(crate) fn chain(source: &Path, top: Node) -> Result<Vec<(PathBuf, Node)>> {
    let mut walk = Walk {
        open: source.canonicalize().into_iter().collect(),
        seen: source.canonicalize().into_iter().collect(),
        out: Vec::new(),
    };
    add(source, top, true, &mut walk)?;
    Ok(walk.out)
}

/// The files being read (the chain from the top to the current one), every
/// file read so far, and the chain made.
struct Walk {
    open: Vec<PathBuf>,
    seen: Vec<PathBuf>,
    out: Vec<(PathBuf, Node)>,
}

fn add(file: &Path, mut doc: Node, top: bool, walk: &mut Walk) -> Result<()> {
    if !matches!(doc, Node::Map(_) | Node::Null) {
        return Err(error::config(
            file,
            "(document)",
            format!("a configuration is a map of sections, not {}", doc.kind()),
        ));
    }
    let dir = file.parent().unwrap_or(Path::new(""));
    // The paths listed, read before they are taken out.
    let mut written = Vec::new();
    if matches!(doc, Node::Map(_)) {
        let mut top = Field::root(file, &doc).obj()?;
        if let Some(bases) = top.get("baseConfigs") {
            for item in bases.seq()? {
                let mut base = item.obj()?;
                let path = base.require("path")?.str()?.to_owned();
                base.finish()?;
                written.push(path);
            }
        }
    }
    take(&mut doc, "baseConfigs");
    // As Image Customizer checks each file that has base configurations.
    let preview = match &doc {
        Node::Map(entries) => entries.iter().find(|(k, _)| k == "previewFeatures"),
        _ => None,
    };
    if !written.is_empty()
        && !matches!(preview, Some((_, Node::Seq(f))) if f.contains(&Node::Str("base-configs".into())))
    {
        return Err(error::config(
            file,
            "baseConfigs",
            "base configurations are a preview feature of Image Customizer: previewFeatures must \
             list base-configs",
        ));
    }
    for (i, written_path) in written.into_iter().enumerate() {
        let path = dir.join(&written_path);
        let key = path.canonicalize().map_err(|e| {
            error::config(
                file,
                format!("baseConfigs[{i}].path"),
                format!("{}: {e}", path.display()),
            )
        })?;
        if walk.open.contains(&key) {
            return Err(error::config(
                file,
                format!("baseConfigs[{i}].path"),
                format!(
                    "{written_path:?} is a configuration this one is already built on: the \
                     chain {} comes round to it again",
                    walk.open
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            ));
        }
        if walk.seen.contains(&key) {
            return Err(error::config(
                file,
                format!("baseConfigs[{i}].path"),
                format!(
                    "{written_path:?} is read once already in this chain; Image Customizer \
                     reads each file once"
                ),
            ));
        }
        if walk.seen.len() >= MAX_FILES {
            return Err(error::config(
                file,
                format!("baseConfigs[{i}].path"),
                format!("more than {MAX_FILES} configurations in one chain"),
            ));
        }
        let text = read_text(&path)?;
        let node: Node = serde_yaml_ng::from_str(&text)
            .map_err(|e| error::config(&path, "(document)", format!("not valid YAML: {e}")))?;
        walk.open.push(key.clone());
        walk.seen.push(key);
        add(&path, node, false, walk)?;
        walk.open.pop();
    }
    // The top file's paths are read from its directory as a file without
    // bases is; a base's are made absolute from its own.
    if !top {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        absolute_paths(&mut doc, &dir);
    }
    walk.out.push((file.to_path_buf(), doc));
    Ok(())
}

/// Removes `key` from a map document and returns its value.
fn take(doc: &mut Node, key: &str) -> Option<Node> {
    let Node::Map(entries) = doc else {
        return None;
    };
    let i = entries.iter().position(|(k, _)| k == key)?;
    Some(entries.remove(i).1)
}

/// The key a base's script carries its file's directory under, which the
/// script sees at `/_imageconfigs` as Image Customizer runs each file's
/// scripts with its own (no key written in a file can hold a NUL).
pub(crate) const SCRIPT_DIR_KEY: &str = "\u{0}configDir";

/// Rewrites the [`PATHS`] of `doc` that are relative as `dir`'s, and
/// gives each script `dir` as its configuration's directory.
fn absolute_paths(doc: &mut Node, dir: &Path) {
    for list in [
        "scripts.postCustomization[]",
        "scripts.finalizeCustomization[]",
    ] {
        let steps: Vec<&str> = list.split('.').collect();
        visit_path(doc, &steps, &mut |item| {
            if let Node::Map(entries) = item {
                entries.push((
                    SCRIPT_DIR_KEY.to_string(),
                    Node::Str(dir.to_string_lossy().into_owned()),
                ));
            }
        });
    }
    visit_path(doc, &["os", "users[]", "password"], &mut |password| {
        let Node::Map(entries) = password else {
            return;
        };
        let file_type = entries.iter().any(|(k, v)| {
            k == "type" && matches!(v, Node::Str(t) if PASSWORD_FILE_TYPES.contains(&t.as_str()))
        });
        if !file_type {
            return;
        }
        for (k, v) in entries.iter_mut() {
            if let (true, Node::Str(s)) = (k == "value", v) {
                if !s.is_empty() && Path::new(s.as_str()).is_relative() {
                    *s = dir.join(&*s).to_string_lossy().into_owned();
                }
            }
        }
    });
    for pattern in PATHS {
        let steps: Vec<&str> = pattern.split('.').collect();
        visit_path(doc, &steps, &mut |value| {
            if let Node::Str(s) = value {
                if !s.is_empty() && Path::new(s.as_str()).is_relative() {
                    *s = dir.join(&*s).to_string_lossy().into_owned();
                }
            }
        });
    }
}

fn visit_path(node: &mut Node, steps: &[&str], f: &mut dyn FnMut(&mut Node)) {
    let Some((step, rest)) = steps.split_first() else {
        f(node);
        return;
    };
    let (key, each) = match step.strip_suffix("[]") {
        Some(k) => (k, true),
        None => (*step, false),
    };
    let Node::Map(entries) = node else {
        return;
    };
    let Some((_, value)) = entries.iter_mut().find(|(k, _)| k == key) else {
        return;
    };
    if each {
        if let Node::Seq(items) = value {
            for item in items {
                visit_path(item, rest, f);
            }
        }
    } else {
        visit_path(value, rest, f);
    }
}

/// Where the items of each merged list came from: by the list's key
/// path, (file in the chain, how many items) in order.
pub(crate) type ListOrigins = Vec<(String, Vec<(usize, usize)>)>;

/// Whether a value asks for nothing (absent, empty), so that it leaves an
/// earlier file's value as it is.
fn is_empty(node: &Node) -> bool {
    match node {
        Node::Null => true,
        Node::Str(s) => s.is_empty(),
        Node::Map(m) => m.iter().all(|(_, v)| is_empty(v)),
        Node::Seq(s) => s.is_empty(),
        _ => false,
    }
}

/// The chain merged into one document, as Image Customizer resolves it,
/// and where each list's items came from.
pub(crate) fn merge(chain: &[(PathBuf, Node)]) -> Result<(Node, ListOrigins)> {
    // `storage` from the one file that sets anything in it.
    let mut storage: Option<&Path> = None;
    for (file, doc) in chain {
        if let Node::Map(entries) = doc {
            if let Some((_, s)) = entries.iter().find(|(k, _)| k == "storage") {
                if is_empty(s) {
                    continue;
                }
                if let Some(first) = storage {
                    return Err(error::config(
                        file,
                        "storage",
                        format!(
                            "storage is given in {} too; Image Customizer takes it from one \
                             configuration of the chain only",
                            first.display()
                        ),
                    ));
                }
                storage = Some(file);
            }
        }
    }
    let mut merged = Node::Map(Vec::new());
    let mut origins = ListOrigins::new();
    for (i, (file, doc)) in chain.iter().enumerate() {
        let mut doc = doc.clone();
        for list in ["groups", "users"] {
            let mut index = 0;
            visit_path(&mut doc, &["os", &format!("{list}[]")], &mut |item| {
                if let Node::Map(entries) = item {
                    entries.push((
                        DECLARED_KEY.to_string(),
                        Node::Seq(vec![
                            Node::Int(i as i128),
                            Node::Str(file.to_string_lossy().into_owned()),
                            Node::Str(format!("os.{list}[{index}]")),
                        ]),
                    ));
                }
                index += 1;
            });
        }
        merge_into(&mut merged, &doc, "", i, &mut origins);
    }
    Ok((merged, origins))
}

fn note(origins: &mut ListOrigins, path: &str, file: usize, items: usize) {
    match origins.iter_mut().find(|(p, _)| p == path) {
        Some((_, from)) => from.push((file, items)),
        None => origins.push((path.to_string(), vec![(file, items)])),
    }
}

fn merge_into(into: &mut Node, from: &Node, at: &str, file: usize, origins: &mut ListOrigins) {
    let (Node::Map(have), Node::Map(new)) = (&mut *into, from) else {
        if !is_empty(from) {
            *into = from.clone();
        }
        return;
    };
    for (key, value) in new {
        if is_empty(value) {
            continue;
        }
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        let old = match have.iter_mut().find(|(k, _)| k == key) {
            Some((_, old)) => old,
            None => {
                match value {
                    // A map is merged into an empty one, so that the lists
                    // in it are noted.
                    Node::Map(_) => {
                        let mut empty = Node::Map(Vec::new());
                        merge_into(&mut empty, value, &path, file, origins);
                        have.push((key.clone(), empty));
                    }
                    Node::Seq(items) => {
                        note(origins, &path, file, items.len());
                        have.push((key.clone(), value.clone()));
                    }
                    _ => have.push((key.clone(), value.clone())),
                }
                continue;
            }
        };
        if REPLACED.contains(&path.as_str()) {
            *old = value.clone();
        } else if path == "os.bootloader.resetType" {
            // The strongest: a reset over none.
            if matches!(value, Node::Str(s) if s == "hard-reset") {
                *old = value.clone();
            }
        } else if path == "previewFeatures" {
            if let (Node::Seq(o), Node::Seq(n)) = (&mut *old, value) {
                for f in n {
                    if !o.contains(f) {
                        o.push(f.clone());
                    }
                }
            }
        } else if path.ends_with("kernelCommandLine.extraCommandLine") {
            let mut items = as_list(old);
            items.extend(as_list(value));
            *old = Node::Seq(items);
        } else if let (Node::Seq(o), Node::Seq(n)) = (&mut *old, value) {
            note(origins, &path, file, n.len());
            o.extend(n.iter().cloned());
        } else {
            merge_into(old, value, &path, file, origins);
        }
    }
}

/// A command line given as one string or a list, as a list.
fn as_list(node: &Node) -> Vec<Node> {
    match node {
        Node::Seq(items) => items.clone(),
        Node::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// An error about the merged document, named at the file of the chain
/// that holds its field: for an item of a merged list, the file that gave
/// it and its place there; otherwise the last file that has the field.
pub(crate) fn attribute(e: Error, chain: &[(PathBuf, Node)], origins: &ListOrigins) -> Error {
    let (Some(file), Some(field)) = (e.file_path(), e.field_name()) else {
        return e;
    };
    let (file, field) = (file.to_path_buf(), field.to_string());
    // `os.additionalFiles[2].source`: the list and the item.
    if let Some((list, rest)) = field.split_once('[') {
        if let Some((index, after)) = rest.split_once(']') {
            if let (Ok(mut index), Some((_, from))) = (
                index.parse::<usize>(),
                origins.iter().find(|(p, _)| p == list),
            ) {
                for (i, count) in from {
                    if index < *count {
                        return e
                            .path(chain[*i].0.clone())
                            .field(format!("{list}[{index}]{after}"));
                    }
                    index -= count;
                }
            }
        }
    }
    let steps: Vec<String> = field
        .split('.')
        .map(|s| s.split('[').next().unwrap_or(s).to_string())
        .collect();
    let holder = chain
        .iter()
        .rev()
        .find(|(_, doc)| has_path(doc, &steps))
        .map_or(file, |(f, _)| f.clone());
    e.path(holder)
}

fn has_path(node: &Node, steps: &[String]) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return true;
    };
    match node {
        Node::Map(entries) => entries
            .iter()
            .find(|(k, _)| k == step)
            .is_some_and(|(_, v)| rest.is_empty() || has_path(v, rest)),
        _ => false,
    }
}
