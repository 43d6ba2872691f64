//! Small RPM packages and repositories for the package stage's tests: built
//! with the `rpm` crate's builder, indexed by `createrepo_c`, checked with the
//! real `rpm` tool.

use std::path::{Path, PathBuf};
use std::process::Command;

use rpm::{Dependency, FileMode, FileOptions, PackageBuilder, Scriptlet};
use sha2::Digest;

/// Build times and file times of every test package (2000-01-01), so that
/// rebuilding a package gives the same bytes.
const SOURCE_DATE: u32 = 946_684_800;

/// What a package entry is.
#[derive(Clone, Debug)]
pub enum EntryKind {
    /// A regular file with these contents.
    File(Vec<u8>),
    /// A symbolic link to this target.
    Symlink(String),
    /// A directory the package owns.
    Dir,
    /// A `%ghost` file: owned, not in the payload's tree when installed.
    Ghost,
}

/// One file, link or directory of a package.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Absolute path in the installed tree.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Permission bits (`0o755`), without the file type.
    pub mode: u16,
    /// Owner's user name.
    pub user: String,
    /// Owner's group name.
    pub group: String,
}

/// A dependency as a spec file writes it: a name, and optionally a
/// comparison (`>=`, `=`, …) with a version (`[epoch:]version[-release]`).
#[derive(Clone, Debug)]
pub struct Dep {
    /// Package name, virtual capability or file path.
    pub name: String,
    /// The comparison and the version it compares with.
    pub version: Option<(String, String)>,
    /// For requirements: needed by the pre-install scriptlet
    /// (`Requires(pre)`).
    pub pre: bool,
}

impl Dep {
    /// Parses `"name"`, or `"name OP version"` with OP one of `< <= = >= >`;
    /// a rich dependency (`"(a or b)"`) is kept whole as the name.
    pub fn parse(text: &str) -> Dep {
        if text.starts_with('(') {
            return Dep {
                name: text.to_string(),
                version: None,
                pre: false,
            };
        }
        let parts: Vec<&str> = text.split_whitespace().collect();
        match parts.as_slice() {
            [name] => Dep {
                name: name.to_string(),
                version: None,
                pre: false,
            },
            [name, op, version] => {
                assert!(
                    ["<", "<=", "=", ">=", ">"].contains(op),
                    "bad comparison in {text:?}"
                );
                Dep {
                    name: name.to_string(),
                    version: Some((op.to_string(), version.to_string())),
                    pre: false,
                }
            }
            _ => panic!("cannot read dependency {text:?}"),
        }
    }

    fn to_rpm(&self) -> Dependency {
        let mut dep = match &self.version {
            None => Dependency::any(&self.name),
            Some((op, v)) => match op.as_str() {
                "<" => Dependency::less(&self.name, v),
                "<=" => Dependency::less_eq(&self.name, v),
                "=" => Dependency::eq(&self.name, v),
                ">=" => Dependency::greater_eq(&self.name, v),
                ">" => Dependency::greater(&self.name, v),
                _ => unreachable!("checked by Dep::parse"),
            },
        };
        if self.pre {
            dep.flags |= rpm::DependencyFlags::SCRIPT_PRE;
        }
        dep
    }
}

/// A package to build: its identity, contents, dependencies and scriptlets.
#[derive(Clone, Debug)]
pub struct PackageSpec {
    /// Package name.
    pub name: String,
    /// Epoch (0 when the package sets none).
    pub epoch: u32,
    /// Upstream version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Architecture (`x86_64`, `noarch`).
    pub arch: String,
    /// Files, links and directories, in any order.
    pub entries: Vec<Entry>,
    /// `Requires`.
    pub requires: Vec<Dep>,
    /// `Provides` beyond the package's own name, which is always provided.
    pub provides: Vec<Dep>,
    /// `Conflicts`.
    pub conflicts: Vec<Dep>,
    /// `Obsoletes`.
    pub obsoletes: Vec<Dep>,
    /// `Recommends`.
    pub recommends: Vec<Dep>,
    /// The `%pre` scriptlet (shell).
    pub pre: Option<String>,
    /// The `%post` scriptlet (shell).
    pub post: Option<String>,
    /// The `%posttrans` scriptlet (shell).
    pub posttrans: Option<String>,
    /// A `%pretrans -p <lua>` scriptlet.
    pub lua_pretrans: Option<String>,
    /// A `%post -p <lua>` scriptlet (replacing a shell `%post`).
    pub lua_post: Option<String>,
    /// The payload is zstd-compressed (as distributions ship it), not
    /// stored.
    pub zstd: bool,
}

impl PackageSpec {
    /// An empty `x86_64` package `name-version-release`.
    pub fn new(name: &str, version: &str, release: &str) -> Self {
        PackageSpec {
            name: name.into(),
            epoch: 0,
            version: version.into(),
            release: release.into(),
            arch: "x86_64".into(),
            entries: Vec::new(),
            requires: Vec::new(),
            provides: Vec::new(),
            conflicts: Vec::new(),
            obsoletes: Vec::new(),
            recommends: Vec::new(),
            pre: None,
            post: None,
            posttrans: None,
            lua_pretrans: None,
            lua_post: None,
            zstd: false,
        }
    }

    /// Sets the architecture.
    pub fn arch(mut self, arch: &str) -> Self {
        self.arch = arch.into();
        self
    }

    /// Sets the epoch.
    pub fn epoch(mut self, epoch: u32) -> Self {
        self.epoch = epoch;
        self
    }

    /// Adds a regular file owned by root.
    pub fn file(self, path: &str, mode: u16, content: impl Into<Vec<u8>>) -> Self {
        self.file_owned(path, mode, "root", "root", content)
    }

    /// Adds a regular file with its owner.
    pub fn file_owned(
        mut self,
        path: &str,
        mode: u16,
        user: &str,
        group: &str,
        content: impl Into<Vec<u8>>,
    ) -> Self {
        self.entries.push(Entry {
            path: path.into(),
            kind: EntryKind::File(content.into()),
            mode,
            user: user.into(),
            group: group.into(),
        });
        self
    }

    /// Adds a symbolic link owned by root.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.entries.push(Entry {
            path: path.into(),
            kind: EntryKind::Symlink(target.into()),
            mode: 0o777,
            user: "root".into(),
            group: "root".into(),
        });
        self
    }

    /// Adds a directory owned by root.
    pub fn dir(mut self, path: &str, mode: u16) -> Self {
        self.entries.push(Entry {
            path: path.into(),
            kind: EntryKind::Dir,
            mode,
            user: "root".into(),
            group: "root".into(),
        });
        self
    }

    /// Adds a `%ghost` file owned by root.
    pub fn ghost(mut self, path: &str, mode: u16) -> Self {
        self.entries.push(Entry {
            path: path.into(),
            kind: EntryKind::Ghost,
            mode,
            user: "root".into(),
            group: "root".into(),
        });
        self
    }

    /// Adds a requirement (`"libfoo >= 1.2-1"`).
    pub fn requires(mut self, dep: &str) -> Self {
        self.requires.push(Dep::parse(dep));
        self
    }

    /// Adds a requirement of the pre-install scriptlet (`Requires(pre)`).
    pub fn requires_pre(mut self, dep: &str) -> Self {
        let mut d = Dep::parse(dep);
        d.pre = true;
        self.requires.push(d);
        self
    }

    /// Adds a capability (`"webserver = 2.0"`).
    pub fn provides(mut self, dep: &str) -> Self {
        self.provides.push(Dep::parse(dep));
        self
    }

    /// Adds a conflict.
    pub fn conflicts(mut self, dep: &str) -> Self {
        self.conflicts.push(Dep::parse(dep));
        self
    }

    /// Adds an obsoleted package (`"oldtool < 2.0"`).
    pub fn obsoletes(mut self, dep: &str) -> Self {
        self.obsoletes.push(Dep::parse(dep));
        self
    }

    /// Adds a weak dependency.
    pub fn recommends(mut self, dep: &str) -> Self {
        self.recommends.push(Dep::parse(dep));
        self
    }

    /// Sets the `%pre` scriptlet.
    pub fn pre(mut self, script: &str) -> Self {
        self.pre = Some(script.into());
        self
    }

    /// Sets the `%post` scriptlet.
    pub fn post(mut self, script: &str) -> Self {
        self.post = Some(script.into());
        self
    }

    /// Sets the `%posttrans` scriptlet.
    pub fn posttrans(mut self, script: &str) -> Self {
        self.posttrans = Some(script.into());
        self
    }

    /// Sets a `%pretrans` scriptlet in Lua.
    pub fn lua_pretrans(mut self, script: &str) -> Self {
        self.lua_pretrans = Some(script.into());
        self
    }

    /// Sets a `%post` scriptlet in Lua.
    pub fn lua_post(mut self, script: &str) -> Self {
        self.lua_post = Some(script.into());
        self
    }

    /// Compresses the payload with zstd.
    pub fn zstd(mut self) -> Self {
        self.zstd = true;
        self
    }

    /// The file name `rpmbuild` would give it: `name-version-release.arch.rpm`.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }
}

/// Builds `spec` into `dir` (under its usual file name) and returns the
/// package's path. The payload is uncompressed, and times are fixed, so the
/// same spec gives the same bytes.
pub fn build_rpm(dir: &Path, spec: &PackageSpec) -> PathBuf {
    let mut b = PackageBuilder::new(
        &spec.name,
        &spec.version,
        "MIT",
        &spec.arch,
        &format!("{} test package", spec.name),
    )
    .release(&spec.release)
    .epoch(spec.epoch)
    .description(format!(
        "The {} package of the package stage's tests.",
        spec.name
    ))
    .build_host("testkit")
    .source_date(SOURCE_DATE)
    .using_config(rpm::BuildConfig::default().compression(if spec.zstd {
        rpm::CompressionType::Zstd
    } else {
        rpm::CompressionType::None
    }));
    for e in &spec.entries {
        let mut options = FileOptions::new(e.path.clone())
            .user(e.user.clone())
            .group(e.group.clone());
        // Files under /usr/share/doc are %doc, as rpmbuild's %doc puts them.
        if e.path.starts_with("/usr/share/doc/") {
            options = options.is_doc();
        }
        let (options, content) = match &e.kind {
            EntryKind::File(data) => (options.mode(FileMode::regular(e.mode)), data.clone()),
            EntryKind::Symlink(target) => (
                options
                    .mode(FileMode::symbolic_link(e.mode))
                    .symlink(target.clone()),
                Vec::new(),
            ),
            EntryKind::Dir => (options.mode(FileMode::dir(e.mode)), Vec::new()),
            EntryKind::Ghost => (
                options.mode(FileMode::regular(e.mode)).is_ghost(),
                Vec::new(),
            ),
        };
        b = b
            .with_file_contents(content, options)
            .unwrap_or_else(|err| panic!("{}: cannot add {}: {err}", spec.name, e.path));
    }
    for d in &spec.requires {
        b = b.requires(d.to_rpm());
    }
    for d in &spec.provides {
        b = b.provides(d.to_rpm());
    }
    for d in &spec.conflicts {
        b = b.conflicts(d.to_rpm());
    }
    for d in &spec.obsoletes {
        b = b.obsoletes(d.to_rpm());
    }
    for d in &spec.recommends {
        b = b.recommends(d.to_rpm());
    }
    if let Some(s) = &spec.pre {
        b = b.pre_install_script(Scriptlet::new(s.clone()));
    }
    if let Some(s) = &spec.post {
        b = b.post_install_script(Scriptlet::new(s.clone()));
    }
    if let Some(s) = &spec.posttrans {
        b = b.post_trans_script(Scriptlet::new(s.clone()));
    }
    if let Some(s) = &spec.lua_post {
        b = b.post_install_script(Scriptlet::new(s.clone()).prog(vec!["<lua>"]));
    }
    if let Some(s) = &spec.lua_pretrans {
        b = b.pre_trans_script(Scriptlet::new(s.clone()).prog(vec!["<lua>"]));
    }
    let pkg = b
        .build()
        .unwrap_or_else(|err| panic!("cannot build {}: {err}", spec.name));
    let mut bytes = Vec::new();
    pkg.write(&mut bytes).unwrap();
    fix_root_dirname(&mut bytes);
    let path = dir.join(spec.file_name());
    std::fs::write(&path, &bytes)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
    path
}

/// The `rpm` crate (0.18) records the directory of entries at the top of the
/// tree (`/etc`, `/bin`) as `//`, where rpmbuild writes `/`. Rewrites that
/// directory name in the written package's header and lays the header's
/// data out again (each entry aligned for its type, as rpm checks when it
/// loads a header), then makes the signature header's size and header
/// digests again.
fn fix_root_dirname(bytes: &mut Vec<u8>) {
    const RPMTAG_DIRNAMES: u32 = 1118;
    const RPMSIGTAG_SIZE: u32 = 1000;
    const RPMSIGTAG_SHA256: u32 = 273;
    const RPMSIGTAG_SHA3_256: u32 = 279;
    let be32 = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    let at32 = |b: &[u8], at: usize| be32(b, at) as usize;
    // Lead, then the signature header padded to 8 bytes, then the header.
    let sig = 96;
    let sig_len = 16 + at32(bytes, sig + 8) * 16 + at32(bytes, sig + 12);
    let hdr = sig + sig_len.next_multiple_of(8);
    let count = at32(bytes, hdr + 8);
    let store = hdr + 16 + count * 16;
    let store_len = at32(bytes, hdr + 12);
    let data = &bytes[store..store + store_len];
    // (index, tag, type, offset, count), in the order the data lies.
    let mut entries: Vec<(usize, u32, u32, usize, usize)> = (0..count)
        .map(|i| {
            let e = hdr + 16 + i * 16;
            (
                i,
                be32(bytes, e),
                be32(bytes, e + 4),
                at32(bytes, e + 8),
                at32(bytes, e + 12),
            )
        })
        .collect();
    entries.sort_by_key(|e| e.3);
    let strings_len = |from: usize, n: usize| {
        let mut end = from;
        for _ in 0..n {
            end += data[end..].iter().position(|&c| c == 0).unwrap() + 1;
        }
        end - from
    };
    let mut out: Vec<u8> = Vec::with_capacity(store_len);
    let mut offsets = vec![0u32; count];
    let mut changed = false;
    for &(i, tag, ty, offset, n) in &entries {
        let (align, len) = match ty {
            0 | 1 | 2 | 7 => (1, n),
            3 => (2, 2 * n),
            4 => (4, 4 * n),
            5 => (8, 8 * n),
            6 => (1, strings_len(offset, 1)),
            _ => (1, strings_len(offset, n)),
        };
        out.resize(out.len().next_multiple_of(align), 0);
        offsets[i] = out.len() as u32;
        let value = &data[offset..offset + len];
        if tag == RPMTAG_DIRNAMES {
            for name in value[..len - 1].split(|&c| c == 0) {
                changed |= name == b"//";
                out.extend_from_slice(if name == b"//" { b"/" } else { name });
                out.push(0);
            }
        } else {
            out.extend_from_slice(value);
        }
    }
    if !changed {
        return;
    }
    let mut header = bytes[hdr..hdr + 8].to_vec();
    header.extend_from_slice(&(count as u32).to_be_bytes());
    header.extend_from_slice(&(out.len() as u32).to_be_bytes());
    for (i, offset) in offsets.iter().enumerate() {
        let e = hdr + 16 + i * 16;
        header.extend_from_slice(&bytes[e..e + 8]);
        header.extend_from_slice(&offset.to_be_bytes());
        header.extend_from_slice(&bytes[e + 12..e + 16]);
    }
    header.extend_from_slice(&out);
    let payload = bytes.split_off(store + store_len);
    bytes.truncate(hdr);
    let sha256 = hex(&sha2::Sha256::digest(&header));
    let sha3 = hex(&sha3::Sha3_256::digest(&header));
    let size = ((header.len() + payload.len()) as u32).to_be_bytes();
    let sig_store = sig + 16 + at32(bytes, sig + 8) * 16;
    for i in 0..at32(bytes, sig + 8) {
        let e = sig + 16 + i * 16;
        let value: &[u8] = match be32(bytes, e) {
            RPMSIGTAG_SHA256 => sha256.as_bytes(),
            RPMSIGTAG_SHA3_256 => sha3.as_bytes(),
            RPMSIGTAG_SIZE => &size,
            _ => continue,
        };
        let at = sig_store + at32(bytes, e + 8);
        bytes[at..at + value.len()].copy_from_slice(value);
    }
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(&payload);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Indexes the packages under `dir` with `createrepo_c`, writing
/// `dir/repodata/` (with `createrepo_c`'s defaults: gzip, SHA-256). A missing
/// `createrepo_c` fails the test with the way to install it.
pub fn createrepo(dir: &Path) {
    createrepo_with(dir, &[]);
}

/// Like [`createrepo`], with more `createrepo_c` options
/// (`--compress-type=xz`, `--checksum=sha512`, …).
pub fn createrepo_with(dir: &Path, options: &[&str]) {
    let mut args: Vec<&str> = vec!["--quiet", "--no-database", "--simple-md-filenames"];
    args.extend_from_slice(options);
    args.push(dir.to_str().expect("test paths are UTF-8"));
    let out = match Command::new("createrepo_c").args(&args).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run createrepo_c ({e}): the tests need it; `cargo xtask test` installs it, or `apt-get install createrepo-c`"
        ),
    };
    assert!(
        out.status.success(),
        "createrepo_c {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the real `rpm` tool says about a package file: `rpm -qp` with
/// `query` (`--requires`, `--provides`, `-l`, `--qf …`), one line each.
/// A missing `rpm` fails the test with the way to install it.
pub fn rpm_query(package: &Path, query: &[&str]) -> Vec<String> {
    let mut args = vec!["-qp", "--nosignature", "--nodigest"];
    args.extend_from_slice(query);
    args.push(package.to_str().expect("test paths are UTF-8"));
    let out = match Command::new("rpm").args(&args).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run rpm ({e}): the tests need it; `cargo xtask test` installs it, or `apt-get install rpm`"
        ),
    };
    assert!(
        out.status.success(),
        "rpm {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && *l != "(contains no files)")
        .map(str::to_string)
        .collect()
}

/// The test repository's packages: a base owning /etc and /usr/bin, a
/// library, an application needing the library at a version, a virtual
/// provide and a file requirement, the old package it obsoletes, a client
/// of the virtual provide, and a documentation package it recommends.
pub fn sample_specs() -> Vec<PackageSpec> {
    vec![
        PackageSpec::new("base", "1.0", "1")
            .arch("noarch")
            .dir("/etc", 0o755)
            .dir("/usr", 0o755)
            .dir("/usr/bin", 0o755)
            .dir("/usr/lib64", 0o755)
            .symlink("/bin", "usr/bin")
            .file("/etc/os-release", 0o644, "NAME=test\n")
            .file(
                "/usr/bin/sh",
                0o755,
                std::fs::read(crate::bootroot::static_busybox()).unwrap(),
            )
            .provides("/bin/sh")
            .post("echo base installed\n"),
        PackageSpec::new("libfoo", "1.2.3", "2")
            .epoch(1)
            .file(
                "/usr/lib64/libfoo.so.1",
                0o755,
                vec![0x7f, b'E', b'L', b'F'],
            )
            .provides("libfoo.so.1()(64bit)")
            .requires_pre("/bin/sh")
            .requires("base")
            .pre("echo installing libfoo\n"),
        PackageSpec::new("app", "2.0", "1")
            .file_owned(
                "/usr/bin/app",
                0o4755,
                "daemon",
                "wheel",
                "#!/bin/sh\necho app\n",
            )
            .file("/etc/app.conf", 0o600, "port=80\n")
            .requires("libfoo >= 1:1.2")
            .requires("libfoo.so.1()(64bit)")
            .requires("/etc/os-release")
            // Satisfied by its own file: left out of repodata.
            .requires("/usr/bin/app")
            .provides("webserver = 2.0")
            .obsoletes("oldapp < 2.0")
            .conflicts("badapp")
            .recommends("app-doc"),
        PackageSpec::new("oldapp", "1.5", "1").file("/usr/bin/oldapp", 0o755, "old\n"),
        PackageSpec::new("webclient", "1.0", "1")
            .arch("noarch")
            .file("/usr/share/webclient/index.html", 0o644, "<p>hi</p>\n")
            .requires("webserver >= 2.0"),
        PackageSpec::new("app-doc", "2.0", "1")
            .arch("noarch")
            .file("/usr/share/doc/app/README", 0o644, "read me\n")
            .requires("app = 2.0-1"),
    ]
}

/// The sample packages ([`sample_specs`]) built into `dir` and indexed by
/// `createrepo_c`; returns each package's name and file.
pub fn sample_repo(dir: &Path) -> Vec<(String, PathBuf)> {
    std::fs::create_dir_all(dir).unwrap();
    let built = sample_specs()
        .iter()
        .map(|spec| (spec.name.clone(), build_rpm(dir, spec)))
        .collect();
    createrepo(dir);
    built
}

/// The packages dnf would install for `names` into an empty root, as
/// `name-version-release.arch`, from `dnf install --assumeno`'s table.
pub fn dnf_transaction(
    repo: &Path,
    names: &[&str],
    weak: bool,
) -> std::collections::BTreeSet<String> {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("root");
    let out = Command::new("dnf")
        .arg(format!("--installroot={}", root.display()))
        .arg(format!(
            "--setopt=cachedir={}",
            scratch.path().join("cache").display()
        ))
        .args([
            "--setopt=reposdir=/dev/null",
            "--releasever=1",
            "--assumeno",
            "--nogpgcheck",
        ])
        .arg(format!("--setopt=install_weak_deps={weak}"))
        .arg(format!("--repofrompath=t,file://{}", repo.display()))
        .args(["--repo=t", "install"])
        .args(names)
        .output()
        .unwrap_or_else(|e| panic!("cannot run dnf ({e}): `cargo xtask test` installs it"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // Rows of the table: name, arch, version-release, repo, size.
    let mut got = std::collections::BTreeSet::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.starts_with("Installing") {
            in_table = true;
            continue;
        }
        if line.starts_with("Transaction Summary") {
            break;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if in_table && words.len() >= 4 && words[3] == "t" {
            got.insert(format!("{}-{}.{}", words[0], words[2], words[1]));
        }
    }
    assert!(
        !got.is_empty(),
        "no transaction in dnf's output:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    got
}
