//! Which packages to install, and in what order: dependency resolution as
//! dnf does it for a fresh root.
//!
//! - A request names packages or capabilities (`bash`, `/bin/sh`,
//!   `libc.so.6()(64bit)`); each requirement of a package chosen is met by a
//!   package already chosen, else by the best candidate: the repository of
//!   the lowest priority number (as dnf's `priority=`), a package named as
//!   the capability before other providers, then the newest version
//!   (`rpmvercmp` order, epoch first), then the name.
//! - Capabilities are package names, virtual provides (versioned or not),
//!   file paths (from the packages' file lists) and rich dependencies
//!   (`(a or b)`, `(a if b else c)`, `(a unless b)`, `and`, `with`,
//!   `without`), `rpmlib(…)` features rpm itself provides.
//! - Architectures: x86_64 and noarch first, then the 32-bit multilib
//!   ones (i686, …) dnf also installs on x86_64; a name built for several
//!   is met by its best architecture's package unless another request
//!   (`glibc.i686`) or requirement (`glibc(x86-32)`) already meets it.
//!   Packages of one name and different architectures install side by
//!   side.
//! - Recommends are installed when they can be (as dnf's default
//!   `install_weak_deps`), unless the request says not to.
//! - A package obsoleted by another available one is replaced by it; two
//!   chosen packages in conflict, or one obsoleting another, are a problem.
//! - Every unmet requirement is reported, each with the package that needs
//!   it, not only the first.
//! - The order installs each package after what it requires, prerequisites
//!   (`Requires(pre)`, `Requires(post)`) first where requirements form a
//!   cycle, as rpm orders a transaction.

mod rich;
pub(crate) mod vercmp;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

pub use rich::{parse as parse_rich, Rich};
pub use vercmp::{evr_cmp, ranges_overlap, rpmvercmp, satisfies};

use crate::repo::{Comparison, Dependency, Evr, Package, Repository};
use crate::Result;

/// Features of rpm itself that packages may require as `rpmlib(…)` (rpm
/// 4.18's list).
const RPMLIB: &[&str] = &[
    "BuiltinLuaScripts",
    "CaretInVersions",
    "CompressedFileNames",
    "ConcurrentAccess",
    "DynamicBuildRequires",
    "ExplicitPackageProvide",
    "FileCaps",
    "FileDigests",
    "HeaderLoadSortsTags",
    "LargeFiles",
    "PartialHardlinkSets",
    "PayloadFilesHavePrefix",
    "PayloadIsBzip2",
    "PayloadIsLzma",
    "PayloadIsXz",
    "PayloadIsZstd",
    "RichDependencies",
    "ScriptletExpansion",
    "ScriptletInterpreterArgs",
    "TildeInVersions",
    "VersionedDependencies",
    "X-CheckUnifiedSystemdir",
];

/// What to install.
#[derive(Clone, Debug)]
pub struct Request {
    /// Package names (`bash`, or `glibc.i686` for one architecture's) or
    /// capabilities.
    pub install: Vec<String>,
    /// Install Recommends too (dnf's default).
    pub recommends: bool,
    /// Architectures accepted, in order of preference; `noarch` is as good
    /// as the first. Where several architectures provide what is needed,
    /// the most preferred is taken, as dnf takes the best architecture.
    pub arches: Vec<String>,
}

/// The architectures an x86_64 system installs, as dnf's (libsolv's)
/// x86_64 policy lists them: its own, then the 32-bit ones multilib
/// packages are built for.
pub const X86_64_ARCHES: &[&str] = &["x86_64", "noarch", "i686", "i586", "i486", "i386"];

impl Request {
    /// Installing `names` for x86_64 (with noarch and the 32-bit multilib
    /// architectures), with recommends.
    pub fn new(names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Request {
            install: names.into_iter().map(Into::into).collect(),
            recommends: true,
            arches: X86_64_ARCHES.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// A repository and its priority (lower is preferred; dnf's default is 99).
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The repository.
    pub repo: &'a Repository,
    /// Its priority.
    pub priority: i32,
}

/// A package to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// Index of its repository in the sources given.
    pub source: usize,
    /// Index of the package in that repository.
    pub index: usize,
    /// `name-[epoch:]version-release.arch`.
    pub nevra: String,
    /// Why: `requested`, or the package and requirement that pulled it in.
    pub reason: String,
}

/// The packages to install, in install order.
#[derive(Clone, Debug, Default)]
pub struct Resolution {
    /// In the order rpm would install them.
    pub packages: Vec<Chosen>,
}

/// A candidate: (source, package index).
type Cand = (usize, usize);

/// A provider of a capability and the version it provides, if any.
type Provider = (Cand, Option<(Comparison, Evr)>);

struct Index<'a> {
    sources: &'a [Source<'a>],
    /// Accepted architectures, most preferred first.
    arches: &'a [String],
    /// Capability name → its providers and the provided version.
    provides: HashMap<&'a str, Vec<Provider>>,
    /// File path → owners.
    files: HashMap<&'a str, Vec<Cand>>,
    /// Package name → packages obsoleting it, with the constraint.
    obsoleted_by: HashMap<&'a str, Vec<(Cand, &'a Dependency)>>,
}

impl<'a> Index<'a> {
    fn pkg(&self, c: Cand) -> &'a Package {
        &self.sources[c.0].repo.packages[c.1]
    }

    fn build(sources: &'a [Source<'a>], arches: &'a [String]) -> Index<'a> {
        let mut ix = Index {
            sources,
            arches,
            provides: HashMap::new(),
            files: HashMap::new(),
            obsoleted_by: HashMap::new(),
        };
        for (s, src) in sources.iter().enumerate() {
            for (i, p) in src.repo.packages.iter().enumerate() {
                if !arches.contains(&p.arch) {
                    continue;
                }
                let c = (s, i);
                ix.provides
                    .entry(p.name.as_str())
                    .or_default()
                    .push((c, Some((Comparison::Eq, p.evr()))));
                for d in &p.provides {
                    ix.provides
                        .entry(d.name.as_str())
                        .or_default()
                        .push((c, d.constraint.clone()));
                }
                for f in &p.files {
                    ix.files.entry(f.path.as_str()).or_default().push(c);
                }
                for o in &p.obsoletes {
                    ix.obsoleted_by
                        .entry(o.name.as_str())
                        .or_default()
                        .push((c, o));
                }
            }
        }
        ix
    }

    /// Every package that provides `name` (with `constraint`).
    fn providers(&self, name: &str, constraint: Option<&(Comparison, Evr)>) -> Vec<Cand> {
        let mut out: Vec<Cand> = Vec::new();
        if let Some(list) = self.provides.get(name) {
            for (c, provided) in list {
                let ok = match (provided, constraint) {
                    (_, None) | (None, _) => true,
                    (Some((pop, pevr)), Some((rop, revr))) => {
                        ranges_overlap((*pop, pevr), (*rop, revr))
                    }
                };
                if ok && !out.contains(c) {
                    out.push(*c);
                }
            }
        }
        if name.starts_with('/') {
            for c in self.files.get(name).into_iter().flatten() {
                if !out.contains(c) {
                    out.push(*c);
                }
            }
        }
        out
    }

    /// How preferred an architecture is: 0 for the first accepted (and
    /// noarch), more the later it comes.
    fn arch_rank(&self, arch: &str) -> usize {
        if arch == "noarch" {
            return 0;
        }
        self.arches
            .iter()
            .filter(|a| *a != "noarch")
            .position(|a| a == arch)
            .unwrap_or(usize::MAX)
    }

    /// Whether `p` is built for a secondary (multilib) architecture: one
    /// that installs beside the first architecture's package of its name.
    fn secondary(&self, p: &Package) -> bool {
        self.arch_rank(&p.arch) > 0
    }

    /// The preferred of `cands` for capability `name`.
    fn best(&self, name: &str, cands: &[Cand]) -> Option<Cand> {
        cands.iter().copied().min_by(|&a, &b| {
            let (pa, pb) = (self.pkg(a), self.pkg(b));
            self.sources[a.0]
                .priority
                .cmp(&self.sources[b.0].priority)
                .then_with(|| self.arch_rank(&pa.arch).cmp(&self.arch_rank(&pb.arch)))
                .then_with(|| (pb.name == name).cmp(&(pa.name == name)))
                .then_with(|| pa.name.cmp(&pb.name))
                .then_with(|| evr_cmp(&pb.evr(), &pa.evr()))
                .then_with(|| a.cmp(&b))
        })
    }

    /// The package that replaces `c` by obsoleting it, if any is available
    /// (followed a few steps).
    fn replacement(&self, mut c: Cand) -> Cand {
        for _ in 0..8 {
            let p = self.pkg(c);
            let by: Vec<Cand> = self
                .obsoleted_by
                .get(p.name.as_str())
                .into_iter()
                .flatten()
                .filter(|(q, o)| {
                    // Not by a worse architecture's (an i686 package's
                    // obsoletes do not replace an x86_64 one).
                    self.pkg(*q).name != p.name
                        && self.arch_rank(&self.pkg(*q).arch) <= self.arch_rank(&p.arch)
                        && o.constraint
                            .as_ref()
                            .is_none_or(|(op, evr)| satisfies(&p.evr(), *op, evr))
                })
                .map(|(q, _)| *q)
                .collect();
            match self.best(&p.name, &by) {
                Some(q) => c = q,
                None => break,
            }
        }
        c
    }
}

struct Solver<'a> {
    ix: Index<'a>,
    chosen: Vec<Cand>,
    /// Chosen packages by name and whether of a secondary architecture
    /// (a name's x86_64 and i686 packages install side by side).
    by_name: HashMap<(&'a str, bool), Cand>,
    reason: HashMap<Cand, String>,
    problems: BTreeSet<String>,
    queue: VecDeque<(Dependency, Option<Cand>, bool)>,
    recommends: bool,
}

impl<'a> Solver<'a> {
    fn nevra(&self, c: Cand) -> String {
        self.ix.pkg(c).nevra()
    }

    fn who(&self, by: Option<Cand>) -> String {
        by.map_or_else(|| "the request".to_string(), |c| self.nevra(c))
    }

    /// Whether a chosen package provides the capability.
    fn holds(&self, name: &str, constraint: Option<&(Comparison, Evr)>) -> bool {
        if let Some(f) = name.strip_prefix("rpmlib(") {
            return RPMLIB.contains(&f.trim_end_matches(')'));
        }
        self.ix
            .providers(name, constraint)
            .iter()
            .any(|c| self.chosen.contains(c))
    }

    fn holds_rich(&self, r: &Rich) -> bool {
        match r {
            Rich::Simple(n, c) => self.holds(n, c.as_ref()),
            Rich::And(v) | Rich::With(v) => v.iter().all(|x| self.holds_rich(x)),
            Rich::Or(v) => v.iter().any(|x| self.holds_rich(x)),
            Rich::If(a, b, e) => {
                if self.holds_rich(b) {
                    self.holds_rich(a)
                } else {
                    e.as_ref().is_none_or(|e| self.holds_rich(e))
                }
            }
            Rich::Unless(a, b, e) => {
                if !self.holds_rich(b) {
                    self.holds_rich(a)
                } else {
                    e.as_ref().is_none_or(|e| self.holds_rich(e))
                }
            }
            Rich::Without(a, _) => self.holds_rich(a),
        }
    }

    /// Whether some available package could meet `r`.
    fn possible(&self, r: &Rich) -> bool {
        match r {
            Rich::Simple(n, c) => {
                self.holds(n, c.as_ref()) || !self.ix.providers(n, c.as_ref()).is_empty()
            }
            Rich::And(v) | Rich::With(v) => v.iter().all(|x| self.possible(x)),
            Rich::Or(v) => v.iter().any(|x| self.possible(x)),
            Rich::If(a, _, _) | Rich::Unless(a, _, _) | Rich::Without(a, _) => self.possible(a),
        }
    }

    fn add(&mut self, c: Cand, why: String) {
        let p = self.ix.pkg(c);
        if self.chosen.contains(&c) {
            return;
        }
        let key = (p.name.as_str(), self.ix.secondary(p));
        if let Some(&other) = self.by_name.get(&key) {
            self.problems.insert(format!(
                "{} and {} are both needed ({why})",
                self.nevra(other),
                self.nevra(c)
            ));
            return;
        }
        self.chosen.push(c);
        self.by_name.insert(key, c);
        self.reason.insert(c, why);
        for d in &p.requires {
            self.queue.push_back((d.clone(), Some(c), false));
        }
        if self.recommends {
            for d in &p.recommends {
                self.queue.push_back((d.clone(), Some(c), true));
            }
        }
    }

    /// Meets a simple requirement; false when nothing can.
    fn need(&mut self, dep: &Dependency, by: Option<Cand>, weak: bool) -> bool {
        // A request of a package's name asks for a package of that name
        // (its best architecture's, or what obsoletes it), not for
        // whatever provides the name.
        if by.is_none() {
            let named = self.named(&dep.name, |_| true);
            if !named.is_empty() {
                if self.chosen.iter().any(|&c| self.ix.pkg(c).name == dep.name) {
                    return true;
                }
                if let Some(best) = self.ix.best(&dep.name, &named) {
                    let best = self.ix.replacement(best);
                    self.add(best, "requested".into());
                }
                return true;
            }
        }
        if self.holds(&dep.name, dep.constraint.as_ref()) {
            return true;
        }
        if dep.name.starts_with("rpmlib(") {
            if !weak {
                self.problems.insert(format!(
                    "{dep} needed by {} is a feature this installer's rpm does not have",
                    self.who(by)
                ));
            }
            return false;
        }
        let cands = self.ix.providers(&dep.name, dep.constraint.as_ref());
        let Some(best) = self.ix.best(&dep.name, &cands) else {
            if !weak {
                self.problems
                    .insert(format!("nothing provides {dep} needed by {}", self.who(by)));
            }
            return false;
        };
        let best = self.ix.replacement(best);
        let why = match by {
            None => "requested".to_string(),
            Some(c) => format!("{dep} needed by {}", self.nevra(c)),
        };
        self.add(best, why);
        true
    }

    fn need_rich(&mut self, r: &Rich, text: &str, by: Option<Cand>, weak: bool) {
        match r {
            Rich::Simple(n, c) => {
                let dep = Dependency {
                    name: n.clone(),
                    constraint: c.clone(),
                    pre: false,
                };
                self.need(&dep, by, weak);
            }
            Rich::And(v) | Rich::With(v) => {
                for x in v {
                    self.need_rich(x, text, by, weak);
                }
            }
            Rich::Or(v) => {
                if v.iter().any(|x| self.holds_rich(x)) {
                    return;
                }
                match v.iter().find(|x| self.possible(x)) {
                    Some(x) => self.need_rich(x, text, by, weak),
                    None if !weak => {
                        self.problems.insert(format!(
                            "nothing provides {text} needed by {}",
                            self.who(by)
                        ));
                    }
                    None => {}
                }
            }
            Rich::If(a, b, e) => {
                if self.holds_rich(b) {
                    self.need_rich(a, text, by, weak);
                } else if let Some(e) = e {
                    self.need_rich(e, text, by, weak);
                }
            }
            Rich::Unless(a, b, e) => {
                if !self.holds_rich(b) {
                    self.need_rich(a, text, by, weak);
                } else if let Some(e) = e {
                    self.need_rich(e, text, by, weak);
                }
            }
            Rich::Without(a, _) => self.need_rich(a, text, by, weak),
        }
    }

    fn take(&mut self, dep: Dependency, by: Option<Cand>, weak: bool) {
        if dep.name.starts_with('(') {
            match rich::parse(&dep.name) {
                Ok(r) => self.need_rich(&r, &dep.name, by, weak),
                Err(why) => {
                    self.problems
                        .insert(format!("{} needed by {}: {why}", dep.name, self.who(by)));
                }
            }
        } else {
            self.need(&dep, by, weak);
        }
    }

    fn run(&mut self) {
        // Conditional requirements (`if`, `unless`) are looked at again once
        // nothing else is left, until the set stops growing.
        loop {
            while let Some((dep, by, weak)) = self.queue.pop_front() {
                self.take(dep, by, weak);
            }
            let before = self.chosen.len();
            let chosen = self.chosen.clone();
            for c in chosen {
                let p = self.ix.pkg(c);
                for d in &p.requires {
                    if d.name.starts_with('(') && !self.holds_dep(d) {
                        self.queue.push_back((d.clone(), Some(c), false));
                    }
                }
            }
            while let Some((dep, by, weak)) = self.queue.pop_front() {
                self.take(dep, by, weak);
            }
            if self.chosen.len() == before {
                break;
            }
        }
    }

    fn holds_dep(&self, d: &Dependency) -> bool {
        match rich::parse(&d.name) {
            Ok(r) => self.holds_rich(&r),
            Err(_) => true,
        }
    }

    /// The best package `request` names as `name.arch`, if it is one.
    fn named_arch(&self, request: &str) -> Option<Cand> {
        let (name, arch) = request.rsplit_once('.')?;
        if !self.ix.arches.iter().any(|a| a == arch) {
            return None;
        }
        let cands = self.named(name, |p| p.arch == arch);
        self.ix.best(name, &cands)
    }

    /// The packages named `name` that `keep` keeps.
    fn named(&self, name: &str, keep: impl Fn(&Package) -> bool) -> Vec<Cand> {
        self.ix
            .provides
            .get(name)
            .into_iter()
            .flatten()
            .map(|(c, _)| *c)
            .filter(|&c| {
                let p = self.ix.pkg(c);
                p.name == name && keep(p)
            })
            .collect()
    }

    /// Whether packages named `name` are built for both the first
    /// architecture and a secondary one.
    fn multiarch(&self, name: &str) -> bool {
        let secondary = self.named(name, |_| true);
        let mut kinds = secondary.iter().map(|&c| self.ix.secondary(self.ix.pkg(c)));
        let first = kinds.next();
        kinds.any(|k| Some(k) != first)
    }

    /// Conflicts and obsoletes among the chosen packages (obsoletes of
    /// either architecture's package of a name).
    fn check_conflicts(&mut self) {
        for &c in &self.chosen {
            let p = self.ix.pkg(c);
            for d in &p.conflicts {
                for o in self.ix.providers(&d.name, d.constraint.as_ref()) {
                    if o != c && self.chosen.contains(&o) {
                        self.problems.insert(format!(
                            "{} conflicts with {} ({d})",
                            p.nevra(),
                            self.nevra(o)
                        ));
                    }
                }
            }
            for d in &p.obsoletes {
                for o in [false, true]
                    .iter()
                    .filter_map(|k| self.by_name.get(&(d.name.as_str(), *k)).copied())
                {
                    let q = self.ix.pkg(o);
                    let hit = o != c
                        && q.name != p.name
                        && d.constraint
                            .as_ref()
                            .is_none_or(|(op, evr)| satisfies(&q.evr(), *op, evr));
                    if hit {
                        self.problems.insert(format!(
                            "{} obsoletes {}, which is needed too",
                            p.nevra(),
                            q.nevra()
                        ));
                    }
                }
            }
        }
    }

    /// Install order: each package after the chosen packages that meet its
    /// requirements; in a cycle, prerequisites first; ties by name, then
    /// architecture.
    fn order(&self) -> Vec<Cand> {
        let n = self.chosen.len();
        let pos: HashMap<Cand, usize> = self
            .chosen
            .iter()
            .enumerate()
            .map(|(i, c)| (*c, i))
            .collect();
        // deps[i]: (j, pre) — i needs j installed first.
        let mut deps: Vec<Vec<(usize, bool)>> = vec![Vec::new(); n];
        for (i, &c) in self.chosen.iter().enumerate() {
            for d in &self.ix.pkg(c).requires {
                if d.name.starts_with('(') || d.name.starts_with("rpmlib(") {
                    continue;
                }
                for o in self.ix.providers(&d.name, d.constraint.as_ref()) {
                    if let Some(&j) = pos.get(&o) {
                        if j != i && !deps[i].contains(&(j, d.pre)) {
                            deps[i].push((j, d.pre));
                        }
                    }
                }
            }
        }
        let name = |i: usize| {
            let p = self.ix.pkg(self.chosen[i]);
            (p.name.as_str(), p.arch.as_str())
        };
        let mut done = vec![false; n];
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let ready = |strict: bool, done: &[bool]| -> Option<usize> {
                (0..n)
                    .filter(|&i| !done[i])
                    .filter(|&i| deps[i].iter().all(|&(j, pre)| done[j] || (!strict && !pre)))
                    .min_by(|&a, &b| name(a).cmp(&name(b)))
            };
            let next = ready(true, &done)
                .or_else(|| ready(false, &done))
                .or_else(|| {
                    (0..n)
                        .filter(|&i| !done[i])
                        .min_by(|&a, &b| name(a).cmp(&name(b)))
                });
            let Some(i) = next else { break };
            done[i] = true;
            out.push(self.chosen[i]);
        }
        out
    }
}

/// Resolves `request` against `sources`.
pub fn resolve(sources: &[Source<'_>], request: &Request) -> Result<Resolution> {
    let ix = Index::build(sources, &request.arches);
    let mut s = Solver {
        ix,
        chosen: Vec::new(),
        by_name: HashMap::new(),
        reason: HashMap::new(),
        problems: BTreeSet::new(),
        queue: VecDeque::new(),
        recommends: request.recommends,
    };
    // As libsolv weighs the jobs together: a name several architectures
    // build (x86_64 and i686 `glibc`) is asked for last, so that a package
    // of it another request needs (`glibc.i686`, or `glibc(x86-32)`)
    // already meets it; otherwise its best architecture's comes.
    let mut seen = HashSet::new();
    let mut later = Vec::new();
    for name in &request.install {
        if !seen.insert(name.as_str()) {
            continue;
        }
        // A name with an architecture: that architecture's best package,
        // never another obsoleting it (as dnf).
        if let Some(c) = s.named_arch(name) {
            s.add(c, "requested".into());
            continue;
        }
        if s.ix.providers(name, None).is_empty() {
            s.problems
                .insert(format!("no package provides {name} (asked to install)"));
            continue;
        }
        let dep = Dependency {
            name: name.clone(),
            constraint: None,
            pre: false,
        };
        if s.multiarch(name) {
            later.push(dep);
        } else {
            s.queue.push_back((dep, None, false));
        }
    }
    s.run();
    for dep in later {
        s.queue.push_back((dep, None, false));
        s.run();
    }
    s.check_conflicts();
    if !s.problems.is_empty() {
        return Err(crate::error::unresolved(s.problems.into_iter().collect()));
    }
    let packages = s
        .order()
        .into_iter()
        .map(|c| Chosen {
            source: c.0,
            index: c.1,
            nevra: s.nevra(c),
            reason: s.reason.get(&c).cloned().unwrap_or_default(),
        })
        .collect();
    Ok(Resolution { packages })
}

#[cfg(test)]
mod tests;
