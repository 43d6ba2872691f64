//! The path rules of the tree: names relative to the root, no `..`, and
//! symbolic links followed only where they stay inside it.

use std::collections::HashMap;

/// The parent directories of `rel` that `present` says are not there yet,
/// outermost first: what a stream must make before `rel` can be written.
pub fn missing_parents(rel: &str, present: impl Fn(&str) -> bool) -> Vec<String> {
    let mut missing = Vec::new();
    let mut at = rel;
    while let Some((parent, _)) = at.rsplit_once('/') {
        if present(parent) {
            break;
        }
        missing.push(parent.to_string());
        at = parent;
    }
    missing.reverse();
    missing
}

/// Adds every parent directory of `rel` to `dirs`: what a stream has
/// made once `rel` is written (its parents, implied or not). Stops at the
/// first one already there, whose parents are there too.
pub fn note_parents(dirs: &mut std::collections::HashSet<String>, rel: &str) {
    let mut at = rel;
    while let Some((parent, _)) = at.rsplit_once('/') {
        if !dirs.insert(parent.to_string()) {
            break;
        }
        at = parent;
    }
}

/// A member's path made relative to the root: `./` and `/`-repeats removed;
/// absolute paths, `..` components and NULs refused.
pub fn normalize(raw: &[u8]) -> std::result::Result<String, String> {
    let s = std::str::from_utf8(raw).map_err(|_| "the path is not valid UTF-8".to_string())?;
    if s.starts_with('/') {
        return Err("an absolute path; members must be relative to the root".into());
    }
    if s.contains('\0') {
        return Err("a NUL byte in the path".into());
    }
    let mut parts = Vec::new();
    for part in s.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("a `..` component would leave the root".into()),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// `path` relative to `dir` when it is `dir` or below it (`""` is the
/// root, above everything).
pub fn under<'a>(path: &'a str, dir: &str) -> Option<&'a str> {
    if dir.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(dir)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('/')
    }
}

/// `rel` with every parent that is a symbolic link (in `symlinks`, by path
/// relative to the root of a tree mounted at `mount`; `""` for the whole
/// tree) replaced by what it points at, at most 40 links as the kernel
/// follows them. Absolute targets start again at the tree's root. Where the
/// kernel would stay at `/` on a `..` above it, this refuses instead: a
/// target that climbs out of the tree (or, in a partition, above its
/// mount point) is an error saying why.
pub fn resolve_parents(
    symlinks: &HashMap<String, String>,
    mount: &str,
    rel: &str,
) -> std::result::Result<String, String> {
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    let mut followed = 0;
    let mut i = 0;
    let out = if mount.is_empty() {
        "leads out of the root"
    } else {
        "points out of this partition"
    };
    while i + 1 < parts.len() {
        let prefix = parts[..=i].join("/");
        let Some(target) = symlinks.get(&prefix) else {
            i += 1;
            continue;
        };
        followed += 1;
        let refuse = |why: &str| {
            format!("/{rel} is below the symbolic link {prefix} -> {target}, which {why}")
        };
        if followed > 40 {
            return Err(refuse("leads round in circles"));
        }
        // An absolute target from the tree's root, a relative one from the
        // link's directory; `.` and `..` taken as the kernel takes them.
        let (abs, from) = match target.strip_prefix('/') {
            Some(_) => (true, Vec::new()),
            None => (false, parts[..i].to_vec()),
        };
        let mut b = from;
        for c in target.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    b.pop().ok_or_else(|| refuse(out))?;
                }
                c => b.push(c.to_string()),
            }
        }
        let base: Vec<String> = if abs {
            // Relative to the mount point, which it must be below.
            let whole = b.join("/");
            under(&whole, mount)
                .ok_or_else(|| refuse(out))?
                .split('/')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        } else {
            b
        };
        let rest = parts[i + 1..].to_vec();
        parts = base;
        parts.extend(rest);
        i = 0;
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_and_confined() {
        assert_eq!(normalize(b"./etc/fstab").as_deref(), Ok("etc/fstab"));
        assert_eq!(normalize(b"./").as_deref(), Ok(""));
        assert_eq!(normalize(b"usr//lib/").as_deref(), Ok("usr/lib"));
        assert!(normalize(b"/etc/passwd").is_err());
        assert!(normalize(b"a/../../etc").is_err());
        assert!(normalize(b"..").is_err());
    }
}
