//! Long and short (8.3) names, and the volume label.

use std::collections::{HashMap, HashSet};

use crate::error::invalid_fat;
use crate::tree::Node;
use crate::Result;

/// Characters other than `A`–`Z` and `0`–`9` allowed in a short name (FAT
/// specification, "Short Name Requirements").
const SHORT_SPECIALS: &[u8] = b"!#$%&'()-@^_`{}~";

/// The UTF-16 long name for `name`, or why FAT cannot hold it (FAT
/// specification, "Long File Name Implementation": no control characters
/// or `"*/:<>?\|`, no trailing dot or space, 255 units at most).
pub(crate) fn long_name(name: &str) -> Result<Vec<u16>, String> {
    if let Some(c) = name
        .chars()
        .find(|&c| c < ' ' || c == '\x7f' || "\"*/:<>?\\|".contains(c))
    {
        return Err(format!("a FAT name cannot hold {c:?}"));
    }
    if name.ends_with(['.', ' ']) {
        return Err("a FAT name cannot end in a dot or a space".into());
    }
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > 255 {
        return Err(format!(
            "a FAT name holds at most 255 UTF-16 units, not {}",
            units.len()
        ));
    }
    Ok(units)
}

fn short_char_ok(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || SHORT_SPECIALS.contains(&b)
}

/// `name` as a stored 8.3 name, if it already is one: 1–8 characters, maybe
/// a dot and 1–3 more, all allowed in short names (so upper case).
fn as_short_name(name: &str) -> Option<[u8; 11]> {
    let (base, ext) = name.split_once('.').unwrap_or((name, ""));
    let ok = |s: &str, max| s.len() <= max && s.bytes().all(short_char_ok);
    if base.is_empty() || !ok(base, 8) || !ok(ext, 3) || (name.contains('.') && ext.is_empty()) {
        return None;
    }
    let mut short = [b' '; 11];
    short[..base.len()].copy_from_slice(base.as_bytes());
    short[8..8 + ext.len()].copy_from_slice(ext.as_bytes());
    Some(short)
}

/// The base and extension a short name is made from (FAT specification,
/// "Basis-Name Generation Algorithm"): spaces and leading dots dropped, the
/// extension after the last dot, letters in upper case and anything short
/// names cannot hold as `_`; the base is cut to 8 later, with its tail.
fn basis(name: &str) -> (Vec<u8>, Vec<u8>) {
    let squeezed: String = name.chars().filter(|&c| c != ' ').collect();
    let trimmed = squeezed.trim_start_matches('.');
    let (base, ext) = trimmed.rsplit_once('.').unwrap_or((trimmed, ""));
    let map = |s: &str| -> Vec<u8> {
        s.chars()
            .filter(|&c| c != '.')
            .map(|c| {
                let b = c.to_ascii_uppercase();
                if b.is_ascii() && short_char_ok(b as u8) {
                    b as u8
                } else {
                    b'_'
                }
            })
            .collect()
    };
    let mut base = map(base);
    if base.is_empty() {
        base.push(b'_');
    }
    let mut ext = map(ext);
    ext.truncate(3);
    (base, ext)
}

/// Gives each of `children` its short name, unique in the directory: names
/// that already are 8.3 keep it (and no long name), names that only differ
/// from one in case take its upper-case form if free, the rest get a `~N`
/// tail. Long names must differ other than in case, as FAT compares them.
pub(crate) fn assign_short_names(nodes: &mut [Node], children: &[usize]) -> Result<(), String> {
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(children.len());
    for &c in children {
        let name = leaf(&nodes[c].rel);
        let key: String = name
            .chars()
            .map(|ch| {
                let mut up = ch.to_uppercase();
                match (up.next(), up.next()) {
                    (Some(u), None) => u,
                    _ => ch,
                }
            })
            .collect();
        if let Some(&other) = seen.get(&key) {
            return Err(format!(
                "`{}` and `{name}` differ only in case, which FAT does not tell apart",
                leaf(&nodes[other].rel)
            ));
        }
        seen.insert(key, c);
    }
    let mut taken: HashSet<[u8; 11]> = HashSet::with_capacity(children.len());
    for &c in children {
        if let Some(short) = as_short_name(leaf(&nodes[c].rel)) {
            nodes[c].short = short;
            nodes[c].long = None;
            taken.insert(short);
        }
    }
    let mut rest = Vec::new();
    for &c in children {
        if nodes[c].long.is_none() {
            continue;
        }
        let name = leaf(&nodes[c].rel);
        match as_short_name(&name.to_ascii_uppercase()).filter(|s| !taken.contains(s)) {
            Some(short) if name.is_ascii() => {
                nodes[c].short = short;
                taken.insert(short);
            }
            _ => rest.push(c),
        }
    }
    for c in rest {
        let (base, ext) = basis(leaf(&nodes[c].rel));
        let mut short = None;
        for n in 1..=999_999u32 {
            let tail = format!("~{n}");
            let keep = base.len().min(8 - tail.len());
            let mut s = [b' '; 11];
            s[..keep].copy_from_slice(&base[..keep]);
            s[keep..keep + tail.len()].copy_from_slice(tail.as_bytes());
            s[8..8 + ext.len()].copy_from_slice(&ext);
            if taken.insert(s) {
                short = Some(s);
                break;
            }
        }
        nodes[c].short = short.ok_or("more than 999 999 names share a short-name basis")?;
    }
    Ok(())
}

pub(crate) fn leaf(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// The 11-byte volume label for `label`, None when empty.
pub(crate) fn volume_label(label: &str) -> Result<Option<[u8; 11]>> {
    if label.is_empty() {
        return Ok(None);
    }
    let ok = label.len() <= 11
        && !label.starts_with(' ')
        && label.bytes().all(|b| b == b' ' || short_char_ok(b));
    if !ok {
        return Err(invalid_fat(format!(
            "volume label `{label}`: up to 11 characters from A-Z, 0-9, space and \
             !#$%&'()-@^_`{{}}~, not starting with a space"
        )));
    }
    let mut l = [b' '; 11];
    l[..label.len()].copy_from_slice(label.as_bytes());
    Ok(Some(l))
}

pub(crate) fn label_str(label: Option<[u8; 11]>) -> String {
    label.map_or(String::new(), |l| {
        String::from_utf8_lossy(&l).trim_end().to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_follow_the_basis_rules() {
        assert_eq!(as_short_name("BOOTX64.EFI"), Some(*b"BOOTX64 EFI"));
        assert_eq!(as_short_name("bootx64.efi"), None);
        assert_eq!(as_short_name("A.B.C"), None);
        assert_eq!(as_short_name("ABC."), None);
        assert_eq!(as_short_name("NINECHARS"), None);
        assert_eq!(basis("Program Files"), (b"PROGRAMFILES".to_vec(), vec![]));
        assert_eq!(basis(".hidden"), (b"HIDDEN".to_vec(), vec![]));
        assert_eq!(basis("a+b.c.txt.gz"), (b"A_BCTXT".to_vec(), b"GZ".to_vec()));
        assert_eq!(basis("Grüße.html"), (b"GR__E".to_vec(), b"HTM".to_vec()));
    }

    #[test]
    fn long_names_refused_with_the_reason() {
        assert!(long_name("a:b").unwrap_err().contains("':'"));
        assert!(long_name("trailing.").unwrap_err().contains("end in a dot"));
        assert!(long_name(&"x".repeat(256)).unwrap_err().contains("256"));
        assert_eq!(long_name("日本").unwrap(), vec![0x65E5, 0x672C]);
    }
}
