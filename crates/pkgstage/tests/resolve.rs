//! Resolution over a repository built by the tests, checked against dnf's
//! own transaction for the same request.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use pkgstage::resolve::{resolve, Request, Source};
use pkgstage::{Repository, Result, Unresolved};

/// The problems of a resolution that failed for them.
fn unresolved<T>(result: Result<T>) -> Option<Unresolved> {
    result.err()?.detail::<Unresolved>().cloned()
}
use testkit::rpms::{build_rpm, createrepo, dnf_transaction, sample_specs};

fn sample_repo(dir: &Path) -> Repository {
    testkit::rpms::sample_repo(dir);
    Repository::open(dir).unwrap()
}

fn ours(repo: &Repository, names: &[&str], weak: bool) -> (Vec<String>, BTreeSet<String>) {
    let mut req = Request::new(names.iter().copied());
    req.recommends = weak;
    let r = resolve(&[Source { repo, priority: 99 }], &req).unwrap_or_else(|e| panic!("{e}"));
    let plain: Vec<String> = r.packages.iter().map(|c| c.nevra.clone()).collect();
    let set = plain.iter().cloned().collect();
    (plain, set)
}

#[test]
fn the_same_packages_as_dnf_in_an_order_rpm_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let repo = sample_repo(dir.path());
    for (names, weak) in [
        (&["webclient"][..], true),
        (&["webclient"][..], false),
        (&["app"][..], true),
        (&["oldapp"][..], true),
        (&["libfoo", "webclient"][..], false),
    ] {
        let (order, set) = ours(&repo, names, weak);
        assert_eq!(
            set,
            dnf_transaction(dir.path(), names, weak),
            "{names:?} weak={weak}"
        );
        // Each package after what it needs: base, then libfoo, then app.
        let at = |n: &str| order.iter().position(|x| x.starts_with(&format!("{n}-")));
        if let (Some(b), Some(l)) = (at("base"), at("libfoo")) {
            assert!(b < l, "{order:?}");
        }
        if let (Some(l), Some(a)) = (at("libfoo"), at("app")) {
            assert!(l < a, "{order:?}");
        }
    }
}

#[test]
fn a_missing_requirement_names_who_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut specs = sample_specs();
    specs.retain(|s| s.name != "libfoo");
    for spec in specs {
        build_rpm(dir.path(), &spec);
    }
    createrepo(dir.path());
    let repo = Repository::open(dir.path()).unwrap();
    let Some(Unresolved { problems }) = unresolved(resolve(
        &[Source {
            repo: &repo,
            priority: 99,
        }],
        &Request::new(["webclient", "nosuch"]),
    )) else {
        panic!("resolved without libfoo");
    };
    assert!(
        problems
            .iter()
            .any(|p| p.contains("libfoo >= 1:1.2") && p.contains("needed by app-2.0-1.x86_64")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("nosuch")),
        "{problems:?}"
    );
}
