use super::*;
use crate::error::Unresolved;
use crate::repo::{Checksum, ChecksumAlgorithm, FileKind, PackageFile};

/// The problems of a resolution that failed for them.
fn unresolved<T>(result: Result<T>) -> Option<Unresolved> {
    result.err()?.detail::<Unresolved>().cloned()
}

/// A package `name-version-1.x86_64` with dependencies written as rpm
/// spec lines (`"libfoo >= 1.2"`, `"(a or b)"`, `"pre:setup"`).
fn pkg(name: &str, version: &str) -> Package {
    Package {
        name: name.into(),
        epoch: 0,
        version: version.into(),
        release: "1".into(),
        arch: "x86_64".into(),
        location: format!("{name}-{version}-1.x86_64.rpm"),
        checksum: Checksum {
            algorithm: ChecksumAlgorithm::Sha256,
            hex: "0".repeat(64),
        },
        provides: Vec::new(),
        requires: Vec::new(),
        conflicts: Vec::new(),
        obsoletes: Vec::new(),
        recommends: Vec::new(),
        suggests: Vec::new(),
        supplements: Vec::new(),
        enhances: Vec::new(),
        files: Vec::new(),
    }
}

fn dep(text: &str) -> Dependency {
    let (pre, text) = match text.strip_prefix("pre:") {
        Some(t) => (true, t),
        None => (false, text),
    };
    if text.starts_with('(') {
        return Dependency {
            name: text.into(),
            constraint: None,
            pre,
        };
    }
    let parts: Vec<&str> = text.split_whitespace().collect();
    let constraint = (parts.len() == 3).then(|| {
        let op = match parts[1] {
            "=" => Comparison::Eq,
            "<" => Comparison::Lt,
            ">" => Comparison::Gt,
            "<=" => Comparison::Le,
            _ => Comparison::Ge,
        };
        (op, Evr::parse(parts[2]).unwrap_or_else(|| panic!("{text}")))
    });
    Dependency {
        name: parts[0].into(),
        constraint,
        pre,
    }
}

trait With {
    fn req(self, d: &str) -> Self;
    fn prov(self, d: &str) -> Self;
    fn file(self, path: &str) -> Self;
    fn conflicts(self, d: &str) -> Self;
    fn obsoletes(self, d: &str) -> Self;
    fn recommends(self, d: &str) -> Self;
    fn arch(self, a: &str) -> Self;
}

impl With for Package {
    fn req(mut self, d: &str) -> Self {
        self.requires.push(dep(d));
        self
    }
    fn prov(mut self, d: &str) -> Self {
        self.provides.push(dep(d));
        self
    }
    fn file(mut self, path: &str) -> Self {
        self.files.push(PackageFile {
            path: path.into(),
            kind: FileKind::File,
        });
        self
    }
    fn conflicts(mut self, d: &str) -> Self {
        self.conflicts.push(dep(d));
        self
    }
    fn obsoletes(mut self, d: &str) -> Self {
        self.obsoletes.push(dep(d));
        self
    }
    fn recommends(mut self, d: &str) -> Self {
        self.recommends.push(dep(d));
        self
    }
    fn arch(mut self, a: &str) -> Self {
        self.arch = a.into();
        self
    }
}

fn repo(packages: Vec<Package>) -> Repository {
    Repository {
        root: "/repo".into(),
        packages,
        files_complete: true,
    }
}

fn names(r: &Resolution) -> Vec<String> {
    r.packages.iter().map(|c| c.nevra.clone()).collect()
}

fn solve(packages: Vec<Package>, install: &[&str]) -> Result<Resolution> {
    let r = repo(packages);
    resolve(
        &[Source {
            repo: &r,
            priority: 99,
        }],
        &Request::new(install.iter().copied()),
    )
}

#[test]
fn requirements_by_name_provide_file_and_version_in_order() {
    let packages = vec![
        pkg("filesystem", "3.18"),
        pkg("glibc", "2.38")
            .req("filesystem")
            .prov("libc.so.6()(64bit)"),
        pkg("glibc", "2.35")
            .req("filesystem")
            .prov("libc.so.6()(64bit)"),
        pkg("bash", "5.2")
            .req("libc.so.6()(64bit)")
            .file("/bin/sh")
            .req("glibc >= 2.36"),
        pkg("app", "1.0")
            .req("/bin/sh")
            .req("rpmlib(PayloadIsZstd) <= 5.4.18-1"),
        pkg("unrelated", "1"),
    ];
    let r = solve(packages, &["app"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        names(&r),
        [
            "filesystem-3.18-1.x86_64",
            "glibc-2.38-1.x86_64",
            "bash-5.2-1.x86_64",
            "app-1.0-1.x86_64"
        ]
    );
    assert_eq!(
        r.packages[0].reason,
        "filesystem needed by glibc-2.38-1.x86_64"
    );
    assert_eq!(r.packages[3].reason, "requested");
}

#[test]
fn every_unmet_requirement_is_reported_with_who_needs_it() {
    let packages = vec![
        pkg("a", "1").req("missing-one").req("b"),
        pkg("b", "1").req("libx >= 2"),
        pkg("libx", "1.9"),
    ];
    let Some(Unresolved { problems }) = unresolved(solve(packages, &["a", "nosuch"])) else {
        panic!("resolved");
    };
    assert_eq!(
        problems,
        [
            "no package provides nosuch (asked to install)",
            "nothing provides libx >= 2 needed by b-1-1.x86_64",
            "nothing provides missing-one needed by a-1-1.x86_64",
        ]
    );
}

#[test]
fn rich_dependencies_weak_dependencies_and_arches() {
    let packages = vec![
        pkg("app", "1")
            .req("(editor-a or editor-b)")
            .req("(plugin if gui)")
            .req("(cli-help unless gui)")
            .recommends("docs")
            .recommends("absent"),
        pkg("editor-b", "1"),
        pkg("plugin", "1"),
        pkg("cli-help", "1"),
        pkg("docs", "1").arch("noarch"),
        pkg("i686-only", "1").arch("i686"),
    ];
    let r = solve(packages.clone(), &["app"]).unwrap_or_else(|e| panic!("{e}"));
    let got = names(&r);
    assert!(got.contains(&"editor-b-1-1.x86_64".to_string()), "{got:?}");
    assert!(got.contains(&"cli-help-1-1.x86_64".to_string()), "{got:?}");
    assert!(got.contains(&"docs-1-1.noarch".to_string()), "{got:?}");
    assert!(!got.iter().any(|n| n.starts_with("plugin")), "{got:?}");

    // With gui, the plugin comes and the cli help does not.
    let mut more = packages.clone();
    more.push(pkg("gui", "1"));
    let r = solve(more, &["gui", "app"]).unwrap_or_else(|e| panic!("{e}"));
    let got = names(&r);
    assert!(got.iter().any(|n| n.starts_with("plugin")), "{got:?}");
    assert!(!got.iter().any(|n| n.starts_with("cli-help")), "{got:?}");

    // No recommends when asked.
    let rp = repo(packages);
    let mut req = Request::new(["app"]);
    req.recommends = false;
    let r = resolve(
        &[Source {
            repo: &rp,
            priority: 99,
        }],
        &req,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!names(&r).iter().any(|n| n.starts_with("docs")));

    // As dnf on x86_64: a package only built for i686 installs; an
    // aarch64 one does not.
    let r = solve(vec![pkg("i686-only", "1").arch("i686")], &["i686-only"]).unwrap();
    assert_eq!(names(&r), ["i686-only-1-1.i686"]);
    let Some(Unresolved { problems }) = unresolved(solve(
        vec![pkg("arm-only", "1").arch("aarch64")],
        &["arm-only"],
    )) else {
        panic!("an aarch64 package installed on x86_64");
    };
    assert_eq!(problems.len(), 1);
}

#[test]
fn multilib_packages_install_side_by_side_the_best_arch_first() {
    let packages = || {
        vec![
            pkg("glibc", "2.38").prov("libc.so.6()(64bit)"),
            pkg("glibc", "2.38").arch("i686").prov("libc.so.6"),
            // A newer i686 build does not beat the x86_64 one.
            pkg("zlib", "1.3").req("libc.so.6()(64bit)"),
            pkg("zlib", "1.4").arch("i686").req("libc.so.6"),
            pkg("app32", "1").arch("i686").req("zlib(x86-32)"),
        ]
        .into_iter()
        .map(|p| {
            let isa = if p.arch == "i686" { "x86-32" } else { "x86-64" };
            let own = format!("{}({isa}) = {}-1", p.name, p.version);
            p.prov(&own)
        })
        .collect::<Vec<_>>()
    };
    let r = solve(packages(), &["zlib"]).unwrap();
    assert_eq!(names(&r), ["glibc-2.38-1.x86_64", "zlib-1.3-1.x86_64"]);
    // As dnf weighs the two: the name is met by the i686 package asked for.
    let r = solve(packages(), &["zlib", "zlib.i686"]).unwrap();
    assert_eq!(names(&r), ["glibc-2.38-1.i686", "zlib-1.4-1.i686"]);
    let r = solve(packages(), &["zlib.x86_64", "zlib.i686"]).unwrap();
    assert_eq!(
        names(&r),
        [
            "glibc-2.38-1.i686",
            "glibc-2.38-1.x86_64",
            "zlib-1.4-1.i686",
            "zlib-1.3-1.x86_64"
        ]
    );
    // A requirement takes the best architecture before a package of the
    // name; a request takes the name (as dnf: `needcap` brings `bar`).
    let more = || {
        let mut p = packages();
        p.push(pkg("cap", "1").arch("i686"));
        p.push(pkg("bar", "1").prov("cap"));
        p.push(pkg("needcap", "1").req("cap"));
        p
    };
    assert_eq!(
        names(&solve(more(), &["needcap"]).unwrap()),
        ["bar-1-1.x86_64", "needcap-1-1.x86_64"]
    );
    assert_eq!(names(&solve(more(), &["cap"]).unwrap()), ["cap-1-1.i686"]);
    // Obsoletes: never instead of a name.arch request; an i686 package's
    // not for an x86_64 one.
    let obsoleting = |arch: &str| {
        let mut p = packages();
        p.push(pkg("obs", "1").arch(arch).obsoletes("zlib"));
        p
    };
    assert_eq!(
        names(&solve(obsoleting("i686"), &["zlib"]).unwrap()),
        ["glibc-2.38-1.x86_64", "zlib-1.3-1.x86_64"]
    );
    assert_eq!(
        names(&solve(obsoleting("x86_64"), &["zlib.i686"]).unwrap()),
        ["glibc-2.38-1.i686", "zlib-1.4-1.i686"]
    );
    assert_eq!(
        names(&solve(obsoleting("x86_64"), &["zlib"]).unwrap()),
        ["obs-1-1.x86_64"]
    );
    // An i686 package's requirements take i686 packages where they name
    // them (sonames, `(x86-32)`).
    let r = solve(packages(), &["app32"]).unwrap();
    assert_eq!(
        names(&r),
        ["glibc-2.38-1.i686", "zlib-1.4-1.i686", "app32-1-1.i686"]
    );
}

#[test]
fn obsoletes_replace_and_conflicts_refuse() {
    let packages = vec![
        pkg("old-tool", "1"),
        pkg("new-tool", "2")
            .obsoletes("old-tool < 2")
            .prov("old-tool = 2"),
        pkg("user", "1").req("old-tool"),
    ];
    let r = solve(packages, &["user"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&r), ["new-tool-2-1.x86_64", "user-1-1.x86_64"]);

    let packages = vec![pkg("a", "1").conflicts("b"), pkg("b", "1")];
    let Some(Unresolved { problems }) = unresolved(solve(packages, &["a", "b"])) else {
        panic!("conflict installed");
    };
    assert_eq!(problems, ["a-1-1.x86_64 conflicts with b-1-1.x86_64 (b)"]);
}

#[test]
fn priorities_and_newest_versions_choose() {
    let low = repo(vec![pkg("tool", "9")]);
    let high = repo(vec![pkg("tool", "1")]);
    let sources = [
        Source {
            repo: &low,
            priority: 99,
        },
        Source {
            repo: &high,
            priority: 10,
        },
    ];
    let r = resolve(&sources, &Request::new(["tool"])).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&r), ["tool-1-1.x86_64"]);
    let mut versions = vec![
        pkg("tool", "1.10"),
        pkg("tool", "1.9"),
        pkg("tool", "1.10~rc1"),
    ];
    versions.rotate_left(1);
    let r = solve(versions, &["tool"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&r), ["tool-1.10-1.x86_64"]);
}

#[test]
fn prerequisites_first_in_a_cycle() {
    let packages = vec![
        pkg("setup", "1").req("shell"),
        pkg("shell", "1").req("pre:setup"),
    ];
    let r = solve(packages, &["setup"]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&r), ["setup-1-1.x86_64", "shell-1-1.x86_64"]);
}
