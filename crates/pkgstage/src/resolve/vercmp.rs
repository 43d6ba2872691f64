//! Version comparison as rpm does it (`rpmvercmp`, rpm 4.18): versions
//! split into runs of digits and runs of letters, digits compared as
//! numbers and newer than letters, `~` older than anything (pre-releases),
//! `^` newer than the end (post-release snapshots), other characters only
//! separators.

use std::cmp::Ordering;

use crate::repo::{Comparison, Evr};

/// Compares two version (or release) strings as rpm does.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let separator = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && separator(a[i]) {
            i += 1;
        }
        while j < b.len() && separator(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else {
            break;
        };
        let numeric = ca.is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let ea = i + a[i..].iter().take_while(|c| class(c)).count();
        let eb = j + b[j..].iter().take_while(|c| class(c)).count();
        if ea == i {
            return Ordering::Less;
        }
        if eb == j {
            // A number is newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut sa, mut sb) = (&a[i..ea], &b[j..eb]);
        if numeric {
            while sa.first() == Some(&b'0') {
                sa = &sa[1..];
            }
            while sb.first() == Some(&b'0') {
                sb = &sb[1..];
            }
            match sa.len().cmp(&sb.len()) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match sa.cmp(sb) {
            Ordering::Equal => {}
            o => return o,
        }
        i = ea;
        j = eb;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// Compares epoch, version and release; a release missing on either side
/// is not compared (`>= 1.2` matches every release of 1.2).
pub fn evr_cmp(a: &Evr, b: &Evr) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| rpmvercmp(&a.version, &b.version))
        .then_with(|| match (&a.release, &b.release) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            _ => Ordering::Equal,
        })
}

/// The orderings a comparison accepts: (less, equal, greater).
fn senses(op: Comparison) -> (bool, bool, bool) {
    match op {
        Comparison::Eq => (false, true, false),
        Comparison::Lt => (true, false, false),
        Comparison::Gt => (false, false, true),
        Comparison::Le => (true, true, false),
        Comparison::Ge => (false, true, true),
    }
}

/// Whether a version `have` meets `op want`.
pub fn satisfies(have: &Evr, op: Comparison, want: &Evr) -> bool {
    let (lt, eq, gt) = senses(op);
    match evr_cmp(have, want) {
        Ordering::Less => lt,
        Ordering::Equal => eq,
        Ordering::Greater => gt,
    }
}

/// Whether two version ranges overlap, as rpm matches a versioned provide
/// against a versioned requirement.
pub fn ranges_overlap(p: (Comparison, &Evr), r: (Comparison, &Evr)) -> bool {
    let (pl, pe, pg) = senses(p.0);
    let (rl, re, rg) = senses(r.0);
    match evr_cmp(p.1, r.1) {
        Ordering::Less => pg || rl,
        Ordering::Greater => pl || rg,
        Ordering::Equal => (pe && re) || (pl && rl) || (pg && rg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn as_rpm_orders_versions() {
        // Cases from rpm's own test suite (tests/rpmvercmp.at).
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0.1", Equal),
            ("2.0", "2.0.1", Less),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("5.5p1", "5.5.1", Less),
            ("1.0010", "1.9", Greater),
            ("1.05", "1.5", Equal),
            ("1.0", "1", Greater),
            ("2.50", "2.5", Greater),
            ("fc4", "fc.4", Equal),
            ("FC5", "fc4", Less),
            ("2a", "2.0", Less),
            ("1.0a", "1.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^20160101", "1.0.1", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn ranges() {
        let e = |s: &str| Evr::parse(s).unwrap_or_else(|| panic!("{s}"));
        assert!(satisfies(&e("1.2-3"), Comparison::Ge, &e("1.2")));
        assert!(!satisfies(&e("1.1-9"), Comparison::Ge, &e("1.2")));
        assert!(satisfies(&e("1:0.5-1"), Comparison::Gt, &e("2.0")));
        assert!(ranges_overlap(
            (Comparison::Eq, &e("2.0")),
            (Comparison::Ge, &e("1.0"))
        ));
        assert!(!ranges_overlap(
            (Comparison::Lt, &e("1.0")),
            (Comparison::Ge, &e("1.0"))
        ));
        assert!(ranges_overlap(
            (Comparison::Le, &e("1.0")),
            (Comparison::Ge, &e("1.0"))
        ));
    }
}
