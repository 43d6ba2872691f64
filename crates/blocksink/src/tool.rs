//! The one way the crates run an external program (`mke2fs`, `tar2sqfs`,
//! `bwrap` …), and the one table of every program they run.
//!
//! A [`Tool`] is looked up in `PATH` as a shell does — an entry that is
//! missing or cannot be searched is passed over, the first executable
//! regular file is taken — rather than left to `execvp`, which reports
//! the last error it met ("Permission denied" for an unreadable entry)
//! instead of saying that the program is not there. Every failure is a
//! [`ToolError`]: for a missing or too old program it names the package
//! to install, from [`TOOLS`]; for a failed one, the command, its exit
//! status and the end of what it wrote on standard error. [`doctor`]
//! checks every program of the table.
//!
//! # Example
//!
//! ```
//! use blocksink::tool::Tool;
//!
//! let out = Tool::new("sh").args(["-c", "echo hello"]).output()?;
//! assert_eq!(out.stdout, b"hello\n");
//!
//! let missing = Tool::new("no-such-tool-here").output().unwrap_err();
//! assert!(missing.is_not_found());
//! assert_eq!(missing.to_string(), "`no-such-tool-here` not found in PATH");
//! # Ok::<(), blocksink::tool::ToolError>(())
//! ```

// A ToolError is made once per failed program, never on a hot path, and
// its fields are what callers read; crates that keep one in their own
// error box it.
#![allow(clippy::result_large_err)]

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};

/// The most of a failed program's standard error an error keeps: its last
/// [`TAIL_LINES`] lines, and of those at most this many bytes.
pub const TAIL_BYTES: usize = 4096;
/// The most lines of a failed program's standard error an error keeps.
pub const TAIL_LINES: usize = 20;

/// The search path when `PATH` is not set, as glibc's `execvp` uses.
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// A program version as `major.minor.patch` (a missing part is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// The version at the start of `word` (`1.47.2`, `2.06-13+deb12u2`,
    /// `0.8.0`): up to three dot-separated numbers; `None` if it does not
    /// start with a digit.
    pub fn parse(word: &str) -> Option<Version> {
        let dotted: &str = word
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .unwrap_or("");
        let mut parts = dotted.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next().flatten()?;
        let minor = parts.next().flatten().unwrap_or(0);
        let patch = parts.next().flatten().unwrap_or(0);
        Some(Version(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The oldest version of a program that does what the crates ask of it.
#[derive(Clone, Copy, Debug)]
pub struct Minimum {
    /// The version.
    pub version: Version,
    /// Why, as a clause (`"its -d reads a tar archive from 1.47.1 on"`).
    pub why: &'static str,
}

/// An external program the crates run: what it is for, where to get it and
/// how new it must be. [`TOOLS`] lists them all.
#[derive(Debug)]
#[non_exhaustive]
pub struct ToolInfo {
    /// The program's name, as looked up in `PATH`.
    pub program: &'static str,
    /// What the crates use it for, as a clause after "it"
    /// (`"makes live ISOs' squashfs root"`).
    pub purpose: &'static str,
    /// The Debian package that installs it.
    pub debian: &'static str,
    /// The Fedora package that installs it.
    pub fedora: &'static str,
    /// The arguments that make it print its version; empty when it has
    /// none (its version does not matter).
    pub version_args: &'static [&'static str],
    /// Which whitespace-separated word (from 0) of the first line it then
    /// prints, on standard output or else on standard error, is the
    /// version: `mke2fs 1.47.2 (1-Jan-2025)` → 1.
    pub version_word: usize,
    /// The oldest version that will do, when an older one would not.
    pub minimum: Option<Minimum>,
    /// Whether the default `imgconv build` (an ext4 disk booting with
    /// GRUB) runs it.
    pub default_build: bool,
}

/// Every external program the crates run.
pub static TOOLS: &[ToolInfo] = &[
    ToolInfo {
        program: "mke2fs",
        purpose: "makes ext2/ext3/ext4 file systems from a tar stream (mke2fs -d)",
        debian: "e2fsprogs",
        fedora: "e2fsprogs",
        version_args: &["-V"],
        version_word: 1,
        minimum: Some(Minimum {
            version: Version(1, 47, 1),
            why: "its -d reads a tar archive from 1.47.1 on (Debian 12: bookworm-backports)",
        }),
        default_build: true,
    },
    ToolInfo {
        program: "debugfs",
        purpose: "sets the extended attributes mke2fs -d leaves out (SELinux labels, ACLs)",
        debian: "e2fsprogs",
        fedora: "e2fsprogs",
        version_args: &["-V"],
        version_word: 1,
        minimum: None,
        default_build: true,
    },
    ToolInfo {
        program: "grub-mkimage",
        purpose: "makes GRUB's BIOS and UEFI boot images from the tree's own GRUB modules",
        debian: "grub-common",
        fedora: "grub2-tools, which names it grub2-mkimage",
        version_args: &["--version"],
        version_word: 2,
        minimum: None,
        default_build: true,
    },
    ToolInfo {
        program: "tar2sqfs",
        purpose: "makes live ISOs' squashfs root",
        debian: "squashfs-tools-ng",
        fedora: "squashfs-tools-ng",
        version_args: &["--version"],
        version_word: 2,
        minimum: None,
        default_build: false,
    },
    ToolInfo {
        program: "bwrap",
        purpose: "runs RPM scriptlets and a configuration's scripts in an unprivileged sandbox",
        debian: "bubblewrap",
        fedora: "bubblewrap",
        version_args: &["--version"],
        version_word: 1,
        minimum: Some(Minimum {
            version: Version(0, 5, 0),
            why: "the sandbox's --clearenv came in 0.5.0",
        }),
        default_build: false,
    },
    ToolInfo {
        program: "sh",
        purpose: "starts the scriptlet sandbox with rpm's umask",
        debian: "dash",
        fedora: "bash",
        version_args: &[],
        version_word: 0,
        minimum: None,
        default_build: false,
    },
    ToolInfo {
        program: "true",
        purpose: "tries whether scriptlets' ownership changes can be recorded",
        debian: "coreutils",
        fedora: "coreutils",
        version_args: &[],
        version_word: 0,
        minimum: None,
        default_build: false,
    },
];

/// What [`TOOLS`] says of `program`, if it lists it.
pub fn info(program: &str) -> Option<&'static ToolInfo> {
    TOOLS.iter().find(|t| t.program == program)
}

/// Where `program` is: as given when it holds a slash, else the first
/// executable regular file of that name in `search` (a `PATH` value). An
/// entry that is missing or cannot be searched is passed over, as a shell
/// does; an empty entry is the current directory.
pub fn find_in(program: &OsStr, search: &OsStr) -> Option<PathBuf> {
    if program.as_encoded_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    if program.is_empty() {
        return None;
    }
    std::env::split_paths(search).find_map(|dir| {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let candidate = dir.join(program);
        if !std::fs::metadata(&candidate).ok()?.is_file() {
            return None;
        }
        rustix::fs::accessat(
            rustix::fs::CWD,
            &candidate,
            rustix::fs::Access::EXEC_OK,
            rustix::fs::AtFlags::EACCESS,
        )
        .ok()?;
        // A relative entry is relative to this process's directory, not
        // to the one the program may be started in.
        if candidate.is_relative() {
            return std::env::current_dir().ok().map(|d| d.join(&candidate));
        }
        Some(candidate)
    })
}

/// Where `program` is in this process's `PATH` (see [`find_in`]).
pub fn find(program: &str) -> Option<PathBuf> {
    let search = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    find_in(program.as_ref(), &search)
}

/// An external program to run: a builder like [`std::process::Command`]'s
/// whose program is looked up in `PATH` by [`find_in`] and whose failures
/// are [`ToolError`]s.
#[derive(Debug)]
pub struct Tool {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    stdin: Option<Stdio>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
    log_dir: Option<PathBuf>,
    resolved: Option<PathBuf>,
}

impl Tool {
    /// The program `program`: a name to look up in `PATH`, or a path (with
    /// a slash) used as it is.
    pub fn new(program: impl AsRef<OsStr>) -> Tool {
        Tool {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            envs: Vec::new(),
            cwd: None,
            stdin: None,
            stdout: None,
            stderr: None,
            log_dir: None,
            resolved: None,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Tool {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Tool
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets an environment variable for the program (`PATH` also changes
    /// where it is looked up).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Tool {
        self.envs.push((
            key.as_ref().to_os_string(),
            Some(value.as_ref().to_os_string()),
        ));
        self
    }

    /// Removes an environment variable from the program's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Tool {
        self.envs.push((key.as_ref().to_os_string(), None));
        self
    }

    /// The directory the program runs in.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Tool {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The program's standard input.
    pub fn stdin(&mut self, stdin: impl Into<Stdio>) -> &mut Tool {
        self.stdin = Some(stdin.into());
        self
    }

    /// The program's standard output.
    pub fn stdout(&mut self, stdout: impl Into<Stdio>) -> &mut Tool {
        self.stdout = Some(stdout.into());
        self
    }

    /// The program's standard error.
    pub fn stderr(&mut self, stderr: impl Into<Stdio>) -> &mut Tool {
        self.stderr = Some(stderr.into());
        self
    }

    /// The directory [`Tool::spawn`] keeps its log in (else the
    /// temporary directory).
    pub fn log_dir(&mut self, dir: impl AsRef<Path>) -> &mut Tool {
        self.log_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The program's name as given.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// Where the program is, or the error saying it is not there.
    pub fn resolve(&self) -> Result<PathBuf, ToolError> {
        let search = match self.envs.iter().rev().find(|(k, _)| k == "PATH") {
            Some((_, Some(v))) => v.clone(),
            Some((_, None)) => DEFAULT_PATH.into(),
            None => std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
        };
        find_in(&self.program, &search).ok_or_else(|| self.error(None))
    }

    /// The resolved [`Command`], for a caller that must add to it what
    /// this builder does not carry (descriptors, a hook before `exec`);
    /// [`Tool::not_started`] and [`Tool::failed`] make its errors. The
    /// standard streams set here move into it.
    pub fn command(&mut self) -> Result<Command, ToolError> {
        let path = self.resolve()?;
        let mut cmd = Command::new(&path);
        self.resolved = Some(path);
        // The program sees the name it was asked by, as after execvp.
        cmd.arg0(&self.program).args(&self.args);
        for (k, v) in &self.envs {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        if let Some(s) = self.stdin.take() {
            cmd.stdin(s);
        }
        if let Some(s) = self.stdout.take() {
            cmd.stdout(s);
        }
        if let Some(s) = self.stderr.take() {
            cmd.stderr(s);
        }
        Ok(cmd)
    }

    /// Runs the program to its end with its output collected (standard
    /// input closed unless set); an error unless it exits successfully.
    pub fn output(&mut self) -> Result<Output, ToolError> {
        if self.stdin.is_none() {
            self.stdin = Some(Stdio::null());
        }
        let mut cmd = self.command()?;
        let out = cmd.output().map_err(|e| self.not_started(e))?;
        if !out.status.success() {
            return Err(self.failed(Some(out.status), &out.stderr));
        }
        Ok(out)
    }

    /// Starts the program. Its standard output and error, unless set, go
    /// to one log that [`Running::wait`] quotes if it fails.
    pub fn spawn(&mut self) -> Result<Running, ToolError> {
        let mut log = None;
        if self.stdout.is_none() || self.stderr.is_none() {
            let file = match &self.log_dir {
                Some(dir) => tempfile::tempfile_in(dir),
                None => tempfile::tempfile(),
            }
            .map_err(|e| self.not_started(e))?;
            let out = file.try_clone().map_err(|e| self.not_started(e))?;
            let err = file.try_clone().map_err(|e| self.not_started(e))?;
            self.stdout.get_or_insert(out.into());
            self.stderr.get_or_insert(err.into());
            log = Some(file);
        }
        let mut cmd = self.command()?;
        let child = cmd.spawn().map_err(|e| self.not_started(e))?;
        Ok(Running {
            child,
            log,
            template: Box::new(self.error(self.resolved.clone())),
        })
    }

    /// The error for this program that could not be started.
    pub fn not_started(&self, e: io::Error) -> ToolError {
        let mut error = self.error(self.resolved.clone().or_else(|| self.resolve().ok()));
        error.spawn = Some(e);
        error
    }

    /// The error for this program that ended with `status` (`None`: it
    /// was stopped before it ended) having written `stderr`.
    pub fn failed(&self, status: Option<ExitStatus>, stderr: &[u8]) -> ToolError {
        let mut error = self.error(self.resolved.clone().or_else(|| self.resolve().ok()));
        error.status = status;
        error.stderr_tail = tail(&String::from_utf8_lossy(stderr));
        error
    }

    fn error(&self, path: Option<PathBuf>) -> ToolError {
        ToolError {
            program: self.program.to_string_lossy().into_owned(),
            path,
            args: self.args.clone(),
            status: None,
            spawn: None,
            stderr_tail: String::new(),
            too_old: None,
        }
    }
}

/// A started [`Tool`]. Dropped while it runs, it is killed.
#[derive(Debug)]
pub struct Running {
    child: Child,
    log: Option<File>,
    /// Its program, path and arguments, for its errors.
    template: Box<ToolError>,
}

impl Running {
    /// Its standard input, when it was piped (once).
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Waits for it to end; an error, with the end of what it wrote, unless
    /// it ended successfully.
    pub fn wait(&mut self) -> Result<(), ToolError> {
        let status = match self.child.wait() {
            Ok(s) => s,
            Err(e) => {
                let mut error = self.blank_error();
                error.spawn = Some(e);
                return Err(error);
            }
        };
        if status.success() {
            return Ok(());
        }
        let mut error = self.blank_error();
        error.status = Some(status);
        error.stderr_tail = self.log_tail();
        Err(error)
    }

    /// Kills it if it still runs, and waits for it.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// The last lines it wrote to its log, within the bounds every error
    /// keeps.
    fn log_tail(&mut self) -> String {
        let Some(log) = self.log.as_mut() else {
            return String::new();
        };
        // Lines are at most TAIL_BYTES long in the tail: reading twice
        // that leaves room to start at a line's beginning.
        let len = log.seek(SeekFrom::End(0)).unwrap_or(0);
        let from = len.saturating_sub(2 * TAIL_BYTES as u64);
        let mut bytes = Vec::new();
        if log.seek(SeekFrom::Start(from)).is_err() || log.read_to_end(&mut bytes).is_err() {
            return String::new();
        }
        tail(&String::from_utf8_lossy(&bytes))
    }

    fn blank_error(&self) -> ToolError {
        ToolError {
            program: self.template.program.clone(),
            path: self.template.path.clone(),
            args: self.template.args.clone(),
            status: None,
            spawn: None,
            stderr_tail: String::new(),
            too_old: None,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last [`TAIL_LINES`] lines of `text`, at most [`TAIL_BYTES`] bytes
/// of them, without surrounding blank space.
fn tail(text: &str) -> String {
    let text = text.trim();
    let mut start = text.len();
    for _ in 0..TAIL_LINES {
        match text[..start].rfind('\n') {
            Some(at) => start = at,
            None => {
                start = 0;
                break;
            }
        }
    }
    let mut kept = text[start..].trim_start();
    if kept.len() > TAIL_BYTES {
        let mut cut = kept.len() - TAIL_BYTES;
        while !kept.is_char_boundary(cut) {
            cut += 1;
        }
        kept = &kept[cut..];
    }
    kept.to_string()
}

/// An external program that is missing, too old, could not be started or
/// failed.
#[derive(Debug)]
#[non_exhaustive]
pub struct ToolError {
    /// The program, as asked for (`tar2sqfs`).
    pub program: String,
    /// Where it was found; `None` when it is not in `PATH`.
    pub path: Option<PathBuf>,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// How it ended, when it ran.
    pub status: Option<ExitStatus>,
    /// Why it could not be started (or waited for).
    pub spawn: Option<io::Error>,
    /// The end of what it wrote on standard error (at most [`TAIL_LINES`]
    /// lines of [`TAIL_BYTES`] bytes).
    pub stderr_tail: String,
    /// The version it reports (empty: none could be read), when that is
    /// older than [`TOOLS`]' minimum.
    pub too_old: Option<String>,
}

impl ToolError {
    /// Whether the program is not in `PATH`.
    pub fn is_not_found(&self) -> bool {
        self.path.is_none()
    }

    /// The command line, shortened to a readable length.
    fn command_line(&self) -> String {
        const LIMIT: usize = 400;
        let mut line = self.program.clone();
        for a in &self.args {
            let a = a.to_string_lossy();
            line.push(' ');
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
                line.push('\'');
                line.push_str(&a.replace('\'', "'\\''"));
                line.push('\'');
            } else {
                line.push_str(&a);
            }
            if line.len() > LIMIT {
                let mut cut = LIMIT;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push_str(" …");
                break;
            }
        }
        line
    }
}

/// ", install Debian's X (Fedora: Y); it does Z" for a program in the table.
fn install_hint(program: &str) -> String {
    match info(program) {
        Some(t) => format!(
            ": install Debian's {} (Fedora: {}); it {}",
            t.debian, t.fedora, t.purpose
        ),
        None => String::new(),
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let program = &self.program;
        let Some(path) = &self.path else {
            write!(f, "`{program}` not found in PATH")?;
            return match info(program) {
                Some(t) => {
                    write!(f, ": install Debian's {} (Fedora: {})", t.debian, t.fedora)?;
                    if let Some(m) = t.minimum {
                        write!(f, ", {} or later ({})", m.version, m.why)?;
                    }
                    write!(f, "; it {}", t.purpose)
                }
                None => Ok(()),
            };
        };
        if let Some(found) = &self.too_old {
            let (needed, why) = match info(program).and_then(|t| t.minimum) {
                Some(m) => (format!("{} or later", m.version), format!(" ({})", m.why)),
                None => ("a newer one".to_string(), String::new()),
            };
            let path = path.display();
            let hint = install_hint(program);
            return if found.is_empty() {
                write!(
                    f,
                    "`{program}` ({path}) does not say its version: {needed} is needed{why}{hint}"
                )
            } else {
                write!(
                    f,
                    "`{program}` {found} ({path}) is too old: {needed} is needed{why}{hint}"
                )
            };
        }
        let command = self.command_line();
        match (&self.status, &self.spawn) {
            (Some(status), _) => write!(f, "`{command}` failed ({status})")?,
            (None, Some(e)) => write!(f, "`{command}` ({}) could not be run: {e}", path.display())?,
            (None, None) => write!(f, "`{command}` was stopped")?,
        }
        if !self.stderr_tail.is_empty() {
            write!(f, ": {}", self.stderr_tail)?;
        }
        Ok(())
    }
}

impl std::error::Error for ToolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.spawn
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// How a program of [`TOOLS`] stands on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Found, and new enough.
    Ok,
    /// Found, but older than the minimum.
    TooOld,
    /// Found, but it did not say its version, which must be checked.
    VersionUnknown,
    /// Not in `PATH`.
    Missing,
}

impl State {
    /// As a word for a table: `ok`, `too old`, `version unknown`, `missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::TooOld => "too old",
            State::VersionUnknown => "version unknown",
            State::Missing => "missing",
        }
    }
}

/// One program of [`TOOLS`], looked for on this machine.
#[derive(Debug)]
#[non_exhaustive]
pub struct Checked {
    /// The program and what is needed of it.
    pub tool: &'static ToolInfo,
    /// Where it is, if found.
    pub path: Option<PathBuf>,
    /// The version it reports (as it writes it), if it has one.
    pub version: Option<String>,
    /// Whether it will do.
    pub state: State,
}

impl Checked {
    /// Whether the default build cannot run for want of this program.
    pub fn blocks_default_build(&self) -> bool {
        self.tool.default_build && self.state != State::Ok
    }

    /// The error for this program, unless it will do.
    pub fn error(&self) -> Option<ToolError> {
        if self.state == State::Ok {
            return None;
        }
        let mut error = Tool::new(self.tool.program).error(self.path.clone());
        if self.path.is_some() {
            error.too_old = Some(self.version.clone().unwrap_or_default());
        }
        Some(error)
    }
}

/// Looks for `tool` in `PATH` and, when it has a version to check, runs
/// it to read that.
pub fn check(tool: &'static ToolInfo) -> Checked {
    let Some(path) = find(tool.program) else {
        return Checked {
            tool,
            path: None,
            version: None,
            state: State::Missing,
        };
    };
    let version = if tool.version_args.is_empty() {
        None
    } else {
        read_version(&path, tool)
    };
    let state = match (tool.minimum, &version) {
        (None, _) => State::Ok,
        (Some(m), Some(v)) => match Version::parse(v) {
            Some(v) if v >= m.version => State::Ok,
            Some(_) => State::TooOld,
            None => State::VersionUnknown,
        },
        (Some(_), None) => State::VersionUnknown,
    };
    Checked {
        tool,
        path: Some(path),
        version,
        state,
    }
}

/// The version word `tool` at `path` prints.
fn read_version(path: &Path, tool: &ToolInfo) -> Option<String> {
    let mut cmd = Tool::new(path);
    cmd.args(tool.version_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Some print their version and exit non-zero: the words count.
    let out = cmd.command().ok()?.output().ok()?;
    let word = [&out.stdout, &out.stderr].into_iter().find_map(|bytes| {
        let text = String::from_utf8_lossy(bytes);
        let line = text.lines().find(|l| !l.trim().is_empty())?;
        let word = line.split_whitespace().nth(tool.version_word)?;
        Version::parse(word).map(|_| word.to_string())
    });
    word
}

/// Every program of [`TOOLS`], as found on this machine.
pub fn doctor() -> Vec<Checked> {
    TOOLS.iter().map(check).collect()
}

/// Where `program` (one of [`TOOLS`]) is, once it is known to be new
/// enough; else the error naming what to install.
pub fn require(program: &str) -> Result<PathBuf, ToolError> {
    let Some(tool) = info(program) else {
        return Tool::new(program).resolve();
    };
    let checked = check(tool);
    match checked.error() {
        Some(e) => Err(e),
        None => checked.path.ok_or_else(|| Tool::new(program).error(None)),
    }
}

/// A tool's failure in the one error model: [`ErrorKind::Failed`], its text
/// the tool's own, the tool's error kept as the cause.
///
/// [`ErrorKind::Failed`]: crate::ErrorKind::Failed
impl From<ToolError> for crate::Error {
    fn from(e: ToolError) -> Self {
        crate::Error::failed("", e)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A file `name` in `dir` with `mode`.
    fn file(dir: &Path, name: &str, mode: u32) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\necho stub\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn search(dirs: &[&Path]) -> OsString {
        std::env::join_paths(dirs).unwrap()
    }

    #[test]
    fn a_missing_entry_a_file_entry_and_a_non_executable_file_are_passed_over() {
        let t = tempfile::tempdir().unwrap();
        let plain = t.path().join("plain");
        file(&plain, "tool", 0o644);
        let not_a_dir = file(t.path(), "not-a-dir", 0o755);
        let good = file(&t.path().join("good"), "tool", 0o755);
        let also = file(&t.path().join("also"), "tool", 0o755);
        let path = search(&[
            &t.path().join("missing"),
            &not_a_dir,
            &plain,
            t.path(), // holds no `tool`
            good.parent().unwrap(),
            also.parent().unwrap(),
        ]);
        assert_eq!(find_in("tool".as_ref(), &path), Some(good));
        assert_eq!(find_in("other".as_ref(), &path), None);
        // A directory of the name is not a program.
        std::fs::create_dir(t.path().join("also/dir")).unwrap();
        assert_eq!(find_in("dir".as_ref(), &path), None);
    }

    #[test]
    fn a_path_with_a_slash_is_used_as_it_is() {
        assert_eq!(
            find_in("./x/tool".as_ref(), "/nowhere".as_ref()),
            Some(PathBuf::from("./x/tool"))
        );
        assert_eq!(
            find_in("/usr/bin/env".as_ref(), "".as_ref()),
            Some(PathBuf::from("/usr/bin/env"))
        );
        // Not looked for: its error is the system's, from starting it.
        let e = Tool::new("/nowhere/tool").output().unwrap_err();
        assert!(!e.is_not_found());
        assert_eq!(
            e.spawn.as_ref().map(io::Error::kind),
            Some(io::ErrorKind::NotFound)
        );
        assert!(e.to_string().contains("/nowhere/tool"), "{e}");
    }

    #[test]
    fn an_entry_that_cannot_be_searched_is_passed_over() {
        let t = tempfile::tempdir().unwrap();
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let closed = t.path().join("closed");
        file(&closed, "tool", 0o755);
        let good = file(&t.path().join("good"), "tool", 0o755);
        let path = search(&[&closed, good.parent().unwrap()]);
        let as_root = rustix::process::geteuid().is_root();
        // Root searches any directory: the lookup runs on a thread of
        // another user (credentials are per thread for the kernel).
        std::fs::set_permissions(
            &closed,
            std::fs::Permissions::from_mode(if as_root { 0o700 } else { 0o000 }),
        )
        .unwrap();
        let found = std::thread::spawn(move || {
            if as_root {
                let nobody = rustix::process::Gid::from_raw(65534);
                rustix::thread::set_thread_res_gid(nobody, nobody, nobody).unwrap();
                let nobody = rustix::process::Uid::from_raw(65534);
                rustix::thread::set_thread_res_uid(nobody, nobody, nobody).unwrap();
            }
            // execvp would report EACCES here.
            assert!(std::fs::metadata(closed.join("tool")).is_err());
            find_in("tool".as_ref(), &path)
        })
        .join()
        .unwrap();
        std::fs::set_permissions(
            t.path().join("closed"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert_eq!(found, Some(good));
    }

    #[test]
    fn a_missing_tool_names_its_packages_and_purpose() {
        let t = tempfile::tempdir().unwrap();
        let e = Tool::new("tar2sqfs")
            .env("PATH", t.path())
            .output()
            .unwrap_err();
        assert!(e.is_not_found());
        assert_eq!(
            e.to_string(),
            "`tar2sqfs` not found in PATH: install Debian's squashfs-tools-ng \
             (Fedora: squashfs-tools-ng); it makes live ISOs' squashfs root"
        );
        // With the version a distribution's package may not reach.
        let e = Tool::new("mke2fs")
            .env("PATH", t.path())
            .output()
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "`mke2fs` not found in PATH: install Debian's e2fsprogs (Fedora: e2fsprogs), \
                 1.47.1 or later (its -d reads a tar archive from 1.47.1 on"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_failure_says_the_command_its_status_and_the_end_of_its_errors() {
        let script = "for i in $(seq 1 100); do echo line $i >&2; done; exit 3";
        let e = Tool::new("sh").args(["-c", script]).output().unwrap_err();
        assert_eq!(e.status.and_then(|s| s.code()), Some(3));
        let lines: Vec<&str> = e.stderr_tail.lines().collect();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines.last(), Some(&"line 100"));
        let text = e.to_string();
        assert!(
            text.starts_with(&format!(
                "`sh -c '{script}'` failed (exit status: 3): line 81\n"
            )),
            "{text}"
        );

        // The same bound for a started one writing to its log.
        let mut running = Tool::new("sh")
            .args(["-c", "head -c 100000 /dev/zero | tr '\\0' x >&2; exit 4"])
            .spawn()
            .unwrap();
        let e = running.wait().unwrap_err();
        assert_eq!(e.status.and_then(|s| s.code()), Some(4));
        assert_eq!(e.stderr_tail.len(), TAIL_BYTES);
    }

    #[test]
    fn versions_compare_by_number() {
        assert_eq!(Version::parse("1.47.2"), Some(Version(1, 47, 2)));
        assert_eq!(Version::parse("2.06-13+deb12u2"), Some(Version(2, 6, 0)));
        assert_eq!(Version::parse("(GRUB)"), None);
        assert!(Version(1, 46, 2) < Version(1, 47, 1));
        assert!(Version(1, 100, 0) > Version(1, 47, 1));
    }

    #[test]
    fn a_program_older_than_its_minimum_is_too_old() {
        let t = tempfile::tempdir().unwrap();
        let stub = t.path().join("mke2fs");
        std::fs::write(&stub, "#!/bin/sh\necho 'mke2fs 1.46.2 (28-Feb-2021)'\n").unwrap();
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
        let tool = info("mke2fs").unwrap();
        let version = read_version(&stub, tool);
        assert_eq!(version.as_deref(), Some("1.46.2"));
        let checked = Checked {
            tool,
            path: Some(stub.clone()),
            version,
            state: State::TooOld,
        };
        let e = checked.error().unwrap().to_string();
        assert!(
            e.starts_with(&format!(
                "`mke2fs` 1.46.2 ({}) is too old: 1.47.1 or later is needed",
                stub.display()
            )),
            "{e}"
        );
        assert!(e.contains("install Debian's e2fsprogs"), "{e}");
    }
}
