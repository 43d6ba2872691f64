//! File identifiers: ISO 9660 names (d-characters, 31 at most, as
//! `mkisofs -l` / interchange level 2 allow) and Joliet names (UCS-2, up to
//! 103 characters, as `-joliet-long` allows), unique within a directory.

use std::collections::HashSet;

/// Longest ISO 9660 identifier written (level 2: 31 characters).
pub(crate) const ISO_MAX: usize = 31;
/// Longest Joliet identifier written, in UTF-16 units.
pub(crate) const JOLIET_MAX: usize = 103;

fn d_char(c: char) -> char {
    match c.to_ascii_uppercase() {
        c @ ('A'..='Z' | '0'..='9' | '_') => c,
        _ => '_',
    }
}

/// The ISO 9660 identifier wanted for `name` (without `;1`): upper-case
/// d-characters; a file keeps one dot before its extension.
fn iso_base(name: &[u8], is_dir: bool) -> (String, String) {
    let s = String::from_utf8_lossy(name);
    let (stem, ext) = match s.rfind('.') {
        Some(i) if !is_dir && i > 0 => (&s[..i], &s[i + 1..]),
        _ => (&s[..], ""),
    };
    let mut stem: String = stem.chars().map(d_char).collect();
    let mut ext: String = ext.chars().map(d_char).take(8).collect();
    if stem.is_empty() {
        stem.push('_');
    }
    let room = if is_dir {
        ISO_MAX
    } else {
        ISO_MAX - 1 - ext.len()
    };
    stem.truncate(room);
    if is_dir {
        ext.clear();
    }
    (stem, ext)
}

fn iso_join(stem: &str, ext: &str, is_dir: bool) -> String {
    if is_dir {
        stem.to_string()
    } else {
        format!("{stem}.{ext}")
    }
}

/// ISO 9660 identifiers for the entries of one directory, in the order
/// given: (`name`, is a directory). Files get `;1`. Clashes are resolved by
/// numbering the end of the stem.
pub(crate) fn iso_names(entries: &[(&[u8], bool)]) -> Vec<Vec<u8>> {
    let mut used = HashSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for &(name, is_dir) in entries {
        let (stem, ext) = iso_base(name, is_dir);
        let mut id = iso_join(&stem, &ext, is_dir);
        let mut n = 1u32;
        while used.contains(&id) {
            let tag = n.to_string();
            let keep = stem
                .len()
                .min(ISO_MAX - usize::from(!is_dir) - ext.len() - tag.len());
            id = iso_join(&format!("{}{tag}", &stem[..keep]), &ext, is_dir);
            n += 1;
        }
        used.insert(id.clone());
        let mut bytes = id.into_bytes();
        if !is_dir {
            bytes.extend_from_slice(b";1");
        }
        out.push(bytes);
    }
    out
}

fn joliet_units(name: &[u8]) -> Vec<u16> {
    let s = String::from_utf8_lossy(name);
    let mapped: String = s
        .chars()
        .map(|c| match c {
            '*' | '/' | ':' | ';' | '?' | '\\' => '_',
            c if (c as u32) < 0x20 => '_',
            c => c,
        })
        .collect();
    let mut units: Vec<u16> = mapped.encode_utf16().collect();
    truncate_units(&mut units, JOLIET_MAX);
    units
}

/// Truncates UTF-16 `units` to at most `n` without splitting a surrogate pair.
fn truncate_units(units: &mut Vec<u16>, mut n: usize) {
    if units.len() <= n {
        return;
    }
    if n > 0 && (0xD800..0xDC00).contains(&units[n - 1]) {
        n -= 1;
    }
    units.truncate(n);
}

/// Joliet identifiers (UCS-2 big-endian bytes) for the entries of one
/// directory, in the order given; clashes get a `~N` suffix.
pub(crate) fn joliet_names(entries: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut used = HashSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for name in entries {
        let base = joliet_units(name);
        let mut id = base.clone();
        let mut n = 1u32;
        while used.contains(&id) {
            let tag: Vec<u16> = format!("~{n}").encode_utf16().collect();
            id = base.clone();
            truncate_units(&mut id, JOLIET_MAX - tag.len());
            id.extend_from_slice(&tag);
            n += 1;
        }
        used.insert(id.clone());
        out.push(id.iter().flat_map(|u| u.to_be_bytes()).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_names_are_d_characters_and_unique() {
        let names = iso_names(&[
            (b"vmlinuz-6.1.0".as_slice(), false),
            (b"initrd.img", false),
            (b"Initrd.img", false),
            (b"isolinux", true),
            (b"lib.d", true),
            (b"a-very-long-file-name-that-goes-on-and-on.conf", false),
            (b".hidden", false),
        ]);
        let shown: Vec<String> = names
            .iter()
            .map(|n| String::from_utf8(n.clone()).unwrap())
            .collect();
        assert_eq!(
            shown,
            [
                "VMLINUZ_6_1.0;1",
                "INITRD.IMG;1",
                "INITRD1.IMG;1",
                "ISOLINUX",
                "LIB_D",
                "A_VERY_LONG_FILE_NAME_THAT.CONF;1",
                "_HIDDEN.;1"
            ]
        );
        assert!(names.iter().all(|n| n.len() <= ISO_MAX + 2));
    }

    #[test]
    fn joliet_names_keep_unicode_and_stay_unique() {
        let long = "x".repeat(200);
        let names = joliet_names(&[
            b"caf\xc3\xa9.txt".as_slice(),
            b"a:b",
            long.as_bytes(),
            long.as_bytes(),
        ]);
        let text = |b: &Vec<u8>| {
            String::from_utf16(
                &b.chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect::<Vec<_>>(),
            )
            .unwrap()
        };
        assert_eq!(text(&names[0]), "café.txt");
        assert_eq!(text(&names[1]), "a_b");
        assert_eq!(text(&names[2]).len(), JOLIET_MAX);
        assert!(text(&names[3]).ends_with("~1"));
        assert_ne!(names[2], names[3]);
    }
}
