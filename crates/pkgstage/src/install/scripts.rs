//! Install scriptlets: read from package headers, run in the tree being
//! built inside an unprivileged sandbox.
//!
//! Shell and other interpreters' scriptlets: the sandbox is bubblewrap (`bwrap`, as rpm-ostree runs scriptlets): a
//! user namespace in which the caller is root and no other id exists, new
//! mount, pid, network, IPC and UTS namespaces, the tree as `/`, a private
//! `/dev` with the usual devices and a `/proc`. No real root is needed, and
//! nothing a scriptlet does reaches outside the tree. A `chown` to another
//! user, which the single id would refuse, is recorded and succeeds
//! (`owners`), so the tree gets the owners rpm's scriptlets give as root.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::process::Stdio;

use blocksink::tool::Tool;

use super::owners::{self, Owners};
use crate::error;
use crate::repo::{Comparison, Evr};
use crate::{Error, Result};
use std::rc::Rc;

/// Most bytes of a scriptlet's output kept for its report.
pub(super) const MAX_OUTPUT: u64 = 64 << 10;

/// `RPMSENSE_TRIGGERIN`: an install trigger.
pub(super) const SENSE_TRIGGERIN: u32 = 1 << 16;
/// `RPMSENSE_TRIGGERPREIN`: a trigger run before the package's install.
pub(super) const SENSE_TRIGGERPREIN: u32 = 1 << 25;

/// bwrap's options: new namespaces of every kind, the caller root in the
/// user namespace with every capability there (as root's scriptlets have,
/// so that an ordinary user's build is root's), gone with this process.
pub(super) const SANDBOX: &[&str] = &[
    "--unshare-all",
    "--uid",
    "0",
    "--gid",
    "0",
    "--cap-add",
    "ALL",
    "--die-with-parent",
];

/// What a missing or unusable `bwrap` stops.
pub const NEEDS_BWRAP: &str = "scriptlets run in a bubblewrap sandbox";
/// What a system without user namespaces stops.
pub const NEEDS_USERNS: &str = "cannot make a user namespace to run scriptlets in";

/// How long a scriptlet may run before it is stopped and counted failed.
pub(super) const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The search path scriptlets run with (rpm's `%_install_script_path`).
const SCRIPT_PATH: &str = "/sbin:/bin:/usr/sbin:/usr/bin";

/// One scriptlet of a package, or a program run in the tree.
#[derive(Clone, Debug, Default)]
pub(crate) struct Script {
    /// `%pre`, `%post`, `%filetriggerin /usr/lib64` and so on.
    pub(crate) which: String,
    /// The interpreter and its arguments (`/bin/sh` when the header names
    /// none).
    pub(crate) program: Vec<String>,
    /// The script; empty for a bare program (`%post -p /sbin/ldconfig`).
    pub(crate) body: String,
    /// Variables set beside the scriptlets' own.
    pub(crate) env: Vec<(String, String)>,
    /// Host paths made readable in the sandbox, at a path in the tree.
    pub(crate) binds: Vec<(std::path::PathBuf, String)>,
}

impl Script {
    pub(super) fn lua(&self) -> bool {
        self.program.first().is_some_and(|p| p == "<lua>")
    }
}

/// A file trigger: its script and the path prefixes that set it off.
#[derive(Clone, Debug)]
pub(super) struct FileTrigger {
    pub(super) script: Script,
    pub(super) prefixes: Vec<String>,
    pub(super) priority: u32,
}

impl FileTrigger {
    /// The paths of `files` (absolute, of the package being installed)
    /// this trigger matches: those starting with one of its prefixes, as
    /// plain strings (rpm's `strncmp`: `/usr/lib` matches `/usr/lib`
    /// itself and `/usr/lib64/x`).
    pub(super) fn matches<'a>(&self, files: &'a [String]) -> Vec<&'a str> {
        files
            .iter()
            .map(String::as_str)
            .filter(|f| self.prefixes.iter().any(|p| f.starts_with(p.as_str())))
            .collect()
    }

    /// The paths of `files` (absolute, of packages already installed) this
    /// trigger matches as rpm finds them in its database: by directory
    /// name (with its trailing slash) starting with a prefix, so a
    /// directory a prefix names is not itself matched.
    pub(super) fn matches_installed<'a>(&self, files: &'a [String]) -> Vec<&'a str> {
        files
            .iter()
            .map(String::as_str)
            .filter(|f| {
                let dir = &f[..f.rfind('/').map_or(0, |at| at + 1)];
                self.prefixes.iter().any(|p| dir.starts_with(p.as_str()))
            })
            .collect()
    }

    /// Whether it runs before `%post` (priority 10000 and up) or after.
    pub(super) fn before_post(&self) -> bool {
        self.priority >= 10_000
    }
}

/// One package a package trigger (`%triggerin -- name < version`) names.
#[derive(Clone, Debug)]
pub(super) struct TriggerOn {
    /// The package name.
    pub(super) name: String,
    /// Its version range, if any.
    pub(super) constraint: Option<(Comparison, Evr)>,
    /// `SENSE_TRIGGERIN`, `SENSE_TRIGGERPREIN` (or an erase sense).
    pub(super) sense: u32,
    /// Which of the package's trigger scripts it sets off.
    pub(super) script: usize,
}

/// A package's package triggers: scripts, and the packages setting them
/// off in header order.
#[derive(Clone, Debug, Default)]
pub(super) struct PackageTriggers {
    pub(super) scripts: Vec<Script>,
    pub(super) on: Vec<TriggerOn>,
}

impl PackageTriggers {
    /// The script the package `source` sets off with `sense`, as rpm
    /// picks it: the first entry naming the package with a range one of
    /// the package's provides of its name is in.
    pub(super) fn set_off_by(&self, sense: u32, source: &PackageScripts) -> Option<usize> {
        self.on
            .iter()
            .find(|t| {
                t.sense & sense != 0
                    && t.name == source.name
                    && t.constraint.as_ref().is_none_or(|(op, want)| {
                        source.provides.iter().any(|p| {
                            p.as_ref().is_none_or(|(pop, have)| {
                                crate::resolve::ranges_overlap((*pop, have), (*op, want))
                            })
                        })
                    })
            })
            .map(|t| t.script)
    }
}

/// A package's install scriptlets.
#[derive(Clone, Debug, Default)]
pub(super) struct PackageScripts {
    /// Name, and what it provides of its name (`name = evr` at least; a
    /// provide without a version as None), which triggers match.
    pub(super) name: String,
    pub(super) provides: Vec<Option<(Comparison, Evr)>>,
    /// `%triggerprein` and `%triggerin` (`%triggerun`/`%triggerpostun`
    /// are for erasing: kept only as entries that never match).
    pub(super) triggers: PackageTriggers,
    pub(super) pretrans: Option<Script>,
    pub(super) pre: Option<Script>,
    pub(super) post: Option<Script>,
    pub(super) posttrans: Option<Script>,
    pub(super) file_triggers: Vec<FileTrigger>,
    pub(super) trans_file_triggers: Vec<FileTrigger>,
}

impl PackageScripts {
    /// Reads the install scriptlets `meta` records: a scriptlet is there
    /// when its script or its interpreter is (`%post -p /sbin/ldconfig`
    /// has no script), and an interpreter is a string or, with
    /// arguments, a string array, as rpmbuild writes them.
    pub(super) fn read(path: &Path, meta: &rpm::PackageMetadata) -> Result<Self> {
        use rpm::IndexTag as T;
        let h = &meta.header;
        let one = |which: &str, body: T, prog: T| {
            let body = h.get_entry_data_as_string(body).ok().map(str::to_string);
            let program = h
                .get_entry_data_as_string(prog)
                .map(|p| vec![p.to_string()])
                .or_else(|_| {
                    h.get_entry_data_as_string_array(prog)
                        .map(<[String]>::to_vec)
                })
                .ok()
                .filter(|p| !p.is_empty() && !p[0].is_empty());
            if body.is_none() && program.is_none() {
                return None;
            }
            Some(Script {
                which: which.to_string(),
                program: program.unwrap_or_else(|| vec!["/bin/sh".to_string()]),
                body: body.unwrap_or_default(),
                ..Script::default()
            })
        };
        Ok(PackageScripts {
            name: h
                .get_entry_data_as_string(T::RPMTAG_NAME)
                .unwrap_or_default()
                .to_string(),
            provides: {
                let name = h.get_entry_data_as_string(T::RPMTAG_NAME).unwrap_or("");
                let epoch = h.get_entry_data_as_u32(T::RPMTAG_EPOCH).unwrap_or(0);
                let version = h.get_entry_data_as_string(T::RPMTAG_VERSION).unwrap_or("");
                let release = h.get_entry_data_as_string(T::RPMTAG_RELEASE).unwrap_or("");
                let own = Evr {
                    epoch,
                    version: version.to_string(),
                    release: Some(release.to_string()),
                };
                let mut provides = vec![Some((Comparison::Eq, own))];
                for d in meta.get_provides().unwrap_or_default() {
                    if d.name == name {
                        let op = Comparison::from_rpmsense(d.flags.bits());
                        provides.push(match (op, Evr::parse(&d.version)) {
                            (Some(op), Some(evr)) if !d.version.is_empty() => Some((op, evr)),
                            _ => None,
                        });
                    }
                }
                provides
            },
            triggers: package_triggers(path, meta)?,
            pretrans: one("%pretrans", T::RPMTAG_PRETRANS, T::RPMTAG_PRETRANSPROG),
            pre: one("%pre", T::RPMTAG_PREIN, T::RPMTAG_PREINPROG),
            post: one("%post", T::RPMTAG_POSTIN, T::RPMTAG_POSTINPROG),
            posttrans: one("%posttrans", T::RPMTAG_POSTTRANS, T::RPMTAG_POSTTRANSPROG),
            file_triggers: triggers(path, meta, false)?,
            trans_file_triggers: triggers(path, meta, true)?,
        })
    }

    /// Every scriptlet, in the order they would run.
    pub(super) fn all(&self) -> Vec<&Script> {
        let mut out: Vec<&Script> = [&self.pretrans, &self.pre, &self.post, &self.posttrans]
            .into_iter()
            .flatten()
            .collect();
        out.extend(self.file_triggers.iter().map(|t| &t.script));
        out.extend(self.trans_file_triggers.iter().map(|t| &t.script));
        out.extend(
            self.triggers
                .scripts
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    self.triggers
                        .on
                        .iter()
                        .any(|t| {
                            t.script == i && t.sense & (SENSE_TRIGGERIN | SENSE_TRIGGERPREIN) != 0
                        })
                        .then_some(s)
                }),
        );
        out
    }
}

/// Trigger script `i`'s interpreter and arguments, from a header's
/// `*TRIGGERSCRIPTPROG` strings (`/bin/sh` where none is named).
fn trigger_program(progs: &[String], i: usize) -> Vec<String> {
    progs
        .get(i)
        .filter(|p| !p.is_empty())
        .map(|p| p.split_whitespace().map(str::to_string).collect())
        .unwrap_or_else(|| vec!["/bin/sh".to_string()])
}

/// The package triggers of a package's header (`RPMTAG_TRIGGER*`).
fn package_triggers(path: &Path, meta: &rpm::PackageMetadata) -> Result<PackageTriggers> {
    use rpm::IndexTag as T;
    let h = &meta.header;
    let Ok(bodies) = h.get_entry_data_as_string_array(T::RPMTAG_TRIGGERSCRIPTS) else {
        return Ok(PackageTriggers::default());
    };
    let label = "%trigger";
    let bad = |message: String| error::package(path, "RPMTAG_TRIGGERNAME", None, message);
    let progs = h
        .get_entry_data_as_string_array(T::RPMTAG_TRIGGERSCRIPTPROG)
        .unwrap_or(&[]);
    let names = h
        .get_entry_data_as_string_array(T::RPMTAG_TRIGGERNAME)
        .unwrap_or(&[]);
    let versions = h
        .get_entry_data_as_string_array(T::RPMTAG_TRIGGERVERSION)
        .unwrap_or(&[]);
    let index = h
        .get_entry_data_as_u32_array(T::RPMTAG_TRIGGERINDEX)
        .unwrap_or_default();
    let flags = h
        .get_entry_data_as_u32_array(T::RPMTAG_TRIGGERFLAGS)
        .unwrap_or_default();
    if index.len() != names.len() || flags.len() != names.len() {
        return Err(bad(format!(
            "{} names but {} indexes and {} flags",
            names.len(),
            index.len(),
            flags.len()
        )));
    }
    let mut on = Vec::with_capacity(names.len());
    for (k, ((name, &i), &f)) in names.iter().zip(&index).zip(&flags).enumerate() {
        let script = i as usize;
        if script >= bodies.len() {
            return Err(bad(format!("{name} names trigger {i} of {}", bodies.len())));
        }
        let version = versions.get(k).map(String::as_str).unwrap_or("");
        let constraint = match Comparison::from_rpmsense(f) {
            Some(op) if !version.is_empty() => Some((
                op,
                Evr::parse(version)
                    .ok_or_else(|| bad(format!("{name}: version {version:?} cannot be read")))?,
            )),
            _ => None,
        };
        on.push(TriggerOn {
            name: name.clone(),
            constraint,
            sense: f,
            script,
        });
    }
    let scripts = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let kind = match on.iter().find(|t| t.script == i).map(|t| t.sense) {
                Some(f) if f & SENSE_TRIGGERPREIN != 0 => "%triggerprein",
                Some(f) if f & SENSE_TRIGGERIN != 0 => "%triggerin",
                _ => label,
            };
            let names: Vec<&str> = on
                .iter()
                .filter(|t| t.script == i)
                .map(|t| t.name.as_str())
                .collect();
            Script {
                which: format!("{kind} -- {}", names.join(" ")),
                program: trigger_program(progs, i),
                body: body.clone(),
                ..Script::default()
            }
        })
        .collect();
    Ok(PackageTriggers { scripts, on })
}

/// The install file triggers (`%filetriggerin`, or `%transfiletriggerin`
/// when `trans`) of a package's header.
fn triggers(path: &Path, meta: &rpm::PackageMetadata, trans: bool) -> Result<Vec<FileTrigger>> {
    use rpm::IndexTag as T;
    let (scripts, progs, names, index, flags, priorities, label) = if trans {
        (
            T::RPMTAG_TRANSFILETRIGGERSCRIPTS,
            T::RPMTAG_TRANSFILETRIGGERSCRIPTPROG,
            T::RPMTAG_TRANSFILETRIGGERNAME,
            T::RPMTAG_TRANSFILETRIGGERINDEX,
            T::RPMTAG_TRANSFILETRIGGERFLAGS,
            T::RPMTAG_TRANSFILETRIGGERPRIORITIES,
            "%transfiletriggerin",
        )
    } else {
        (
            T::RPMTAG_FILETRIGGERSCRIPTS,
            T::RPMTAG_FILETRIGGERSCRIPTPROG,
            T::RPMTAG_FILETRIGGERNAME,
            T::RPMTAG_FILETRIGGERINDEX,
            T::RPMTAG_FILETRIGGERFLAGS,
            T::RPMTAG_FILETRIGGERPRIORITIES,
            "%filetriggerin",
        )
    };
    let h = &meta.header;
    let Ok(bodies) = h.get_entry_data_as_string_array(scripts) else {
        return Ok(Vec::new());
    };
    let bad = |field: &str, message: String| error::package(path, field, None, message);
    let progs = h.get_entry_data_as_string_array(progs).unwrap_or(&[]);
    let names = h.get_entry_data_as_string_array(names).unwrap_or(&[]);
    let index = h.get_entry_data_as_u32_array(index).unwrap_or_default();
    let flags = h.get_entry_data_as_u32_array(flags).unwrap_or_default();
    let priorities = h
        .get_entry_data_as_u32_array(priorities)
        .unwrap_or_default();
    if index.len() != names.len() || flags.len() != names.len() {
        return Err(bad(
            label,
            format!(
                "{} prefixes but {} indexes and {} flags",
                names.len(),
                index.len(),
                flags.len()
            ),
        ));
    }
    let mut out: Vec<Option<FileTrigger>> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            Some(FileTrigger {
                script: Script {
                    which: label.to_string(),
                    program: trigger_program(progs, i),
                    body: body.clone(),
                    ..Script::default()
                },
                prefixes: Vec::new(),
                priority: priorities.get(i).copied().unwrap_or(1_000_000),
            })
        })
        .collect();
    for ((name, &i), &f) in names.iter().zip(&index).zip(&flags) {
        let trigger = out.get_mut(i as usize).ok_or_else(|| {
            bad(
                label,
                format!("prefix {name} names trigger {i} of {}", bodies.len()),
            )
        })?;
        // Only install triggers; erase ones have nothing to do here.
        if f & SENSE_TRIGGERIN == 0 {
            *trigger = None;
        } else if let Some(t) = trigger {
            t.prefixes.push(name.clone());
        }
    }
    Ok(out
        .into_iter()
        .flatten()
        .filter(|t| !t.prefixes.is_empty())
        .map(|mut t| {
            t.script.which = format!("{label} {}", t.prefixes.join(" "));
            t
        })
        .collect())
}

/// How a scriptlet ended.
pub struct Outcome {
    /// Its exit status, or None when a signal ended it.
    pub status: Option<i32>,
    /// What it wrote to standard output and standard error, the last
    /// [`MAX_OUTPUT`] bytes.
    pub output: String,
}

impl Outcome {
    /// Whether it exited with status 0.
    pub fn ok(&self) -> bool {
        self.status == Some(0)
    }

    /// rpm's words for a failure: `exit status 1`.
    pub fn describe(&self) -> String {
        match self.status {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_string(),
        }
    }
}

/// Runs `script` with `args` in the tree at `root`, `stdin` on its
/// standard input; `scratch` holds the script and its output meanwhile.
pub(crate) fn run(
    root: &Path,
    scratch: &Path,
    script: &Script,
    args: &[String],
    stdin: &[u8],
    time: i64,
    owners: &Rc<Owners>,
) -> Result<Outcome> {
    let io_err = |e: std::io::Error| Error::file(scratch, e);
    let mut input = tempfile::tempfile_in(scratch).map_err(io_err)?;
    input.write_all(stdin).map_err(io_err)?;
    input.rewind().map_err(io_err)?;
    let mut output = tempfile::tempfile_in(scratch).map_err(io_err)?;

    // The sandbox when it exits 1: maybe bwrap's own failure.
    let mut sandbox_exit_1 = None;
    let status = if script.lua() {
        let fd = rustix::fs::open(
            root,
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Error::file(root, e.into()))?;
        let (root, scratch) = (root.to_path_buf(), scratch.to_path_buf());
        let which = format!("a program {} runs", script.which);
        let given = owners.clone();
        let exec: super::lua::Exec = std::rc::Rc::new(move |argv: &[String]| {
            let program = Script {
                which: which.clone(),
                program: argv.to_vec(),
                ..Script::default()
            };
            let o = run(&root, &scratch, &program, &[], &[], time, &given)?;
            Ok((o.status, o.output))
        });
        let files = String::from_utf8_lossy(stdin)
            .lines()
            .map(str::to_string)
            .collect();
        return Ok(super::lua::run(
            fd,
            script,
            args,
            files,
            time,
            exec,
            owners.clone(),
        ));
    } else {
        let mut body = tempfile::NamedTempFile::new_in(scratch).map_err(io_err)?;
        body.write_all(script.body.as_bytes()).map_err(io_err)?;
        body.flush().map_err(io_err)?;
        // bwrap under a shell that sets the umask scriptlets get (rpm's
        // 022), whatever the caller's.
        let bwrap = Tool::new("bwrap")
            .resolve()
            .map_err(|e| Error::failed(NEEDS_BWRAP, e))?;
        let mut cmd = Tool::new("sh");
        cmd.args(["-c", "umask 022 && exec \"$0\" \"$@\""])
            .arg(bwrap)
            .args(SANDBOX)
            .arg("--bind")
            .arg(root)
            .arg("/")
            .args(["--dev", "/dev", "--proc", "/proc"])
            .args(["--chdir", "/", "--clearenv"])
            .args(["--setenv", "PATH", SCRIPT_PATH, "--setenv", "HOME", "/root"])
            .args(["--setenv", "LANG", "C", "--setenv", "SOURCE_DATE_EPOCH"])
            .arg(time.to_string())
            // systemctl works on the tree's files (a preset enables a
            // unit) instead of asking a service manager, as it does in
            // rpm's chroot.
            .args(["--setenv", "SYSTEMD_OFFLINE", "1"]);
        for (key, value) in &script.env {
            cmd.args(["--setenv", key, value]);
        }
        for (host, at) in &script.binds {
            cmd.arg("--ro-bind").arg(host).arg(at);
        }
        let mut argv = script.program.clone();
        if !script.body.is_empty() {
            // The script where rpm's temporary file would be, outside the
            // tree; rpm passes the arguments only with a script.
            let at = "/dev/.rpm-script";
            cmd.arg("--ro-bind").arg(body.path()).arg(at);
            argv.push(at.to_string());
            argv.extend(args.iter().cloned());
        }
        cmd.arg("--").args(&argv);
        cmd.stdin(Stdio::from(input))
            .stdout(Stdio::from(output.try_clone().map_err(io_err)?))
            .stderr(Stdio::from(output.try_clone().map_err(io_err)?));
        let mut sandbox = cmd.command().map_err(|e| Error::failed(NEEDS_BWRAP, e))?;
        // Ownership changes are recorded, not made (see `owners`).
        let pending = match owners::available() {
            Ok(()) => owners::arm(&mut sandbox).map_err(io_err)?,
            Err(_) => None,
        };
        let mut child = sandbox
            .spawn()
            .map_err(|e| Error::failed(NEEDS_BWRAP, cmd.not_started(e)))?;
        // Dropped (closing this end) only with the command.
        drop(sandbox);
        let mut listener = match pending.map(owners::Pending::listen).transpose() {
            Ok(l) => l,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error::scriptlet(format!(
                    "cannot watch {}'s ownership changes: {e}",
                    script.which
                )));
            }
        };
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(1);
        let status = loop {
            if let Some(status) = child.try_wait().map_err(io_err)? {
                break status;
            }
            if started.elapsed() > TIMEOUT {
                // bwrap dies with its child gone (--die-with-parent is
                // about this process; killing bwrap ends the sandbox).
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Outcome {
                    status: None,
                    output: format!(
                        "{}stopped after {} s\n",
                        read_tail(&mut output).unwrap_or_default(),
                        TIMEOUT.as_secs()
                    ),
                });
            }
            let served = match &mut listener {
                Some(l) => l.serve(owners, pause),
                None => {
                    std::thread::sleep(pause);
                    false
                }
            };
            if served {
                pause = std::time::Duration::from_millis(1);
                continue;
            }
            pause = (pause * 2).min(std::time::Duration::from_millis(20));
        };
        if status.code() == Some(1) {
            sandbox_exit_1 = Some((cmd, status));
        }
        status.code()
    };
    let out = read_tail(&mut output).map_err(io_err)?;
    // A program that is not there fails as rpm's exec does (127); any
    // other failure of bwrap's own (a namespace or mount refused) is not
    // the scriptlet's: nothing ran.
    if status == Some(1) && out.starts_with("bwrap: execvp ") {
        return Ok(Outcome {
            status: Some(127),
            output: out,
        });
    }
    if let Some((sandbox, exit)) = sandbox_exit_1.filter(|_| out.starts_with("bwrap: ")) {
        return Err(Error::failed(
            format!("cannot run {}", script.which),
            sandbox.failed(Some(exit), out.as_bytes()),
        ));
    }
    Ok(Outcome {
        status,
        output: out,
    })
}

/// The last [`MAX_OUTPUT`] bytes of `output`.
fn read_tail(output: &mut File) -> std::io::Result<String> {
    let len = output.seek(std::io::SeekFrom::End(0))?;
    output.seek(std::io::SeekFrom::Start(len.saturating_sub(MAX_OUTPUT)))?;
    let mut bytes = Vec::new();
    output.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Checks that the sandbox runs at all, so that a machine without it is
/// named once, before any package is unpacked.
pub(crate) fn check_sandbox() -> Result<()> {
    blocksink::tool::require("bwrap").map_err(|e| Error::failed(NEEDS_BWRAP, e))?;
    Tool::new("bwrap")
        .args([
            "--unshare-user",
            "--uid",
            "0",
            "--ro-bind",
            "/",
            "/",
            "true",
        ])
        .output()
        .map_err(|e| {
            let doing = match e.status {
                Some(_) => NEEDS_USERNS,
                None => NEEDS_BWRAP,
            };
            Error::failed(doing, e)
        })?;
    Ok(())
}

/// Reads at most `limit` bytes of `file`.
pub(super) fn read_limited(mut file: File, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    (&mut file).take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}
