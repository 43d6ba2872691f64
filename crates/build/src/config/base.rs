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
use crate::error::{Error, Result};

/// Most files a chain may hold, against runaway or self-made recursion
/// (a cycle is refused by name before that).
const MAX_FILES: usize = 64;

/// Sections replaced whole by a later file, not merged.
const REPLACED: &[&str] = &["os.selinux", "os.uki"];

/// Fields holding a path, relative to their own file's directory: by key
/// path, `[]` standing for every item of a list.
const PATHS: &[&str] = &[
    "os.additionalFiles[].source",
    "os.additionalDirs[].source",
    "os.packages.installLists[]",
    "os.packages.removeLists[]",
    "os.packages.updateLists[]",
    "scripts.postCustomization[].path",
    "scripts.finalizeCustomization[].path",
    "input.image.path",
];

/// The configurations `top` (read from `source`) is built on, then `top`:
/// (file, document), with `baseConfigs` taken out of each and relative
/// paths made absolute. Only `top` when it has no `baseConfigs`.
pub(crate) fn chain(source: &Path, top: Node) -> Result<Vec<(PathBuf, Node)>> {
    let mut out = Vec::new();
    let mut open: Vec<PathBuf> = source.canonicalize().into_iter().collect();
    add(source, top, &mut open, &mut out)?;
    Ok(out)
}

fn add(
    file: &Path,
    mut doc: Node,
    open: &mut Vec<PathBuf>,
    out: &mut Vec<(PathBuf, Node)>,
) -> Result<()> {
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
    for (i, written_path) in written.into_iter().enumerate() {
        let path = dir.join(&written_path);
        let key = path.canonicalize().map_err(|e| {
            Error::config(
                file,
                format!("baseConfigs[{i}].path"),
                format!("{}: {e}", path.display()),
            )
        })?;
        if open.contains(&key) {
            return Err(Error::config(
                file,
                format!("baseConfigs[{i}].path"),
                format!(
                    "{written_path:?} is a configuration this one is already built on: the \
                     chain {} comes round to it again",
                    open.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
            ));
        }
        if out.len() + open.len() >= MAX_FILES {
            return Err(Error::config(
                file,
                format!("baseConfigs[{i}].path"),
                format!("more than {MAX_FILES} configurations in one chain"),
            ));
        }
        let text = read_text(&path)?;
        let node: Node = serde_yaml_ng::from_str(&text)
            .map_err(|e| Error::config(&path, "(document)", format!("not valid YAML: {e}")))?;
        open.push(key);
        add(&path, node, open, out)?;
        open.pop();
    }
    absolute_paths(&mut doc, dir);
    out.push((file.to_path_buf(), doc));
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

/// Rewrites the [`PATHS`] of `doc` that are relative as `dir`'s.
fn absolute_paths(doc: &mut Node, dir: &Path) {
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

/// The chain merged into one document, as Image Customizer resolves it.
pub(crate) fn merge(chain: &[(PathBuf, Node)]) -> Result<Node> {
    // `storage` from the one file that has it.
    let mut storage: Option<(&Path, &Node)> = None;
    for (file, doc) in chain {
        if let Node::Map(entries) = doc {
            if let Some((_, s)) = entries.iter().find(|(k, _)| k == "storage") {
                if let Some((first, _)) = storage {
                    return Err(Error::config(
                        file,
                        "storage",
                        format!(
                            "storage is given in {} too; Image Customizer takes it from one \
                             configuration of the chain only",
                            first.display()
                        ),
                    ));
                }
                storage = Some((file, s));
            }
        }
    }
    let mut merged = Node::Map(Vec::new());
    for (_, doc) in chain {
        merge_into(&mut merged, doc, "");
    }
    Ok(merged)
}

fn merge_into(into: &mut Node, from: &Node, at: &str) {
    match (into, from) {
        (Node::Map(have), Node::Map(new)) => {
            for (key, value) in new {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match have.iter_mut().find(|(k, _)| k == key) {
                    None => have.push((key.clone(), value.clone())),
                    Some((_, old)) if REPLACED.contains(&path.as_str()) => *old = value.clone(),
                    Some((_, old)) if path == "os.bootloader.resetType" => {
                        // The strongest: a reset over none.
                        if matches!(value, Node::Str(s) if s == "hard-reset") {
                            *old = value.clone();
                        }
                    }
                    Some((_, old)) if path == "previewFeatures" => {
                        if let (Node::Seq(o), Node::Seq(n)) = (&mut *old, value) {
                            for f in n {
                                if !o.contains(f) {
                                    o.push(f.clone());
                                }
                            }
                        }
                    }
                    Some((_, old)) if path.ends_with("kernelCommandLine.extraCommandLine") => {
                        let mut items = as_list(old);
                        items.extend(as_list(value));
                        *old = Node::Seq(items);
                    }
                    Some((_, old)) => merge_into(old, value, &path),
                }
            }
        }
        (Node::Seq(have), Node::Seq(new)) => have.extend(new.iter().cloned()),
        (into, from) => *into = from.clone(),
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
/// that holds its field (the last one that does).
pub(crate) fn attribute(e: Error, chain: &[(PathBuf, Node)]) -> Error {
    let Error::Config {
        file,
        field,
        message,
    } = e
    else {
        return e;
    };
    let steps: Vec<String> = field
        .split('.')
        .map(|s| s.split('[').next().unwrap_or(s).to_string())
        .collect();
    let holder = chain
        .iter()
        .rev()
        .find(|(_, doc)| has_path(doc, &steps))
        .map_or(file, |(f, _)| f.clone());
    Error::Config {
        file: holder,
        field,
        message,
    }
}

fn has_path(node: &Node, steps: &[String]) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return true;
    };
    match node {
        Node::Map(entries) => entries
            .iter()
            .find(|(k, _)| k == step)
            .is_some_and(|(_, v)| {
                rest.is_empty() || has_path(v, rest) || matches!(v, Node::Seq(_))
            }),
        _ => false,
    }
}
