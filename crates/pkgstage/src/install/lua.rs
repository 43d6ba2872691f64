//! `<lua>` scriptlets: an embedded Lua 5.4 with the parts of rpm's Lua
//! environment packages use, every path resolved inside the tree.
//!
//! rpm runs Lua scriptlets in its own process after `chroot(2)` into the
//! tree. Here the interpreter runs in this process and every function that
//! touches files resolves its paths inside the scratch tree as a chroot
//! would (`openat2` with `RESOLVE_IN_ROOT`), so `/etc/passwd` is the
//! tree's and no symlink leads out of it. What runs a program (`os.execute`,
//! `rpm.execute`) runs it in the same sandbox as shell scriptlets. Files
//! made belong to root in the tree unless `posix.chown` gives them to
//! another owner.
//!
//! Available:
//! - Lua's `string`, `table`, `math`, `utf8` and `coroutine` libraries.
//! - `io`: `open` (modes `r`, `w`, `a`, with `+` and `b`), `lines`,
//!   `write` and `stdout`/`stderr` (to the scriptlet's output), `close`,
//!   `type`; files have `read` (`a`, `l`, `L`, `n`, a count), `write`,
//!   `lines`, `seek`, `flush`, `setvbuf` and `close`. `print` writes to the
//!   scriptlet's output.
//! - `os`: `time`, `clock`, `date`, `difftime`, `getenv`, `setlocale`,
//!   `remove`, `rename`, `execute`.
//! - `posix` (rpm's `lposix`: 0 on success, `nil, message, errno` on
//!   failure): `access`, `chmod`, `chown` (recorded, see `owners`), `dir`,
//!   `files`, `getcwd`,
//!   `getenv`, `setenv`, `unsetenv`, `getprocessid`, `link`, `mkdir`,
//!   `mkfifo`, `readlink`, `rmdir`, `sleep`, `stat`, `symlink`, `umask`,
//!   `unlink`, `utime`.
//! - `rpm`: `execute`, `next_file` (a file trigger's paths), `expand`
//!   (the `macros` below, `%%`, `%{?name}`,
//!   `%{!?name:...}`), `define`, `undefine`, `isdefined`, `interactive`,
//!   `vercmp`; `macros`, the path macros of a 64-bit system (`_prefix`,
//!   `_bindir`, `_libdir`, `_sysconfdir`, ...); `arg`, `{"<lua>", "1"}` for a
//!   first install, as rpm passes it.
//!
//! Not available (a scriptlet that calls one fails, and the report shows
//! the Lua error naming it): `io.popen`, `io.read`, `io.input`/`output`,
//! `io.tmpfile`, `os.exit`, `os.tmpname`, `dofile`, `loadfile`, `require`,
//! `debug`, `posix.exec`/`fork`/`wait`/`kill`/`setuid`/`setgid`/`ttyname`,
//! `rpm.spawn`, `rpm.open`, `rpm.redirect2null`, `rpm.glob`, `rpm.ver`,
//! `rpm.load`, `rpm.call`/`register`/`unregister`, `rpm.b64encode`/
//! `b64decode`, and parametric macros.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;

use mlua::{Lua, LuaOptions, MultiValue, StdLib, UserData, UserDataMethods, Value, Variadic};
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

use super::owners::{Owner, Owners};
use super::scripts::{Outcome, Script};

/// The macros `rpm.expand` and `macros` know, as rpm defines them on a
/// 64-bit Linux system.
const MACROS: &[(&str, &str)] = &[
    ("_prefix", "/usr"),
    ("_exec_prefix", "/usr"),
    ("_bindir", "/usr/bin"),
    ("_sbindir", "/usr/sbin"),
    ("_libexecdir", "/usr/libexec"),
    ("_datadir", "/usr/share"),
    ("_sysconfdir", "/etc"),
    ("_sharedstatedir", "/var/lib"),
    ("_localstatedir", "/var"),
    ("_libdir", "/usr/lib64"),
    ("_lib", "lib64"),
    ("_includedir", "/usr/include"),
    ("_infodir", "/usr/share/info"),
    ("_mandir", "/usr/share/man"),
    ("_docdir", "/usr/share/doc"),
    ("_rundir", "/run"),
    ("_tmppath", "/var/tmp"),
    ("_unitdir", "/usr/lib/systemd/system"),
    ("_rpmconfigdir", "/usr/lib/rpm"),
    ("_dbpath", "/var/lib/rpm"),
];

/// Most memory a Lua scriptlet may use.
const MEMORY_LIMIT: usize = 256 << 20;

/// Runs a program (argv) in the sandbox, for `os.execute` and
/// `rpm.execute`: its exit status (None for a signal) and output.
pub(super) type Exec = Rc<dyn Fn(&[String]) -> crate::Result<(Option<i32>, String)>>;

/// What the functions share: the tree, the output, the environment.
struct Env {
    root: OwnedFd,
    output: RefCell<Vec<u8>>,
    vars: RefCell<HashMap<String, String>>,
    umask: RefCell<u32>,
    started: std::time::Instant,
    owners: Rc<Owners>,
}

impl Env {
    fn out(&self, bytes: &[u8]) {
        let mut o = self.output.borrow_mut();
        let room = (super::scripts::MAX_OUTPUT as usize).saturating_sub(o.len());
        o.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Whether the scriptlet has had its time ([`super::scripts::TIMEOUT`]).
    fn late(&self) -> mlua::Result<()> {
        if self.started.elapsed() > super::scripts::TIMEOUT {
            return Err(mlua::Error::runtime(format!(
                "stopped after {} s",
                super::scripts::TIMEOUT.as_secs()
            )));
        }
        Ok(())
    }

    /// A path of the script as a path relative to the tree's root (the
    /// scriptlet's working directory is `/`).
    fn rel(path: &str) -> &str {
        let r = path.trim_start_matches('/');
        if r.is_empty() {
            "."
        } else {
            r
        }
    }

    /// The id `v` names for `posix.chown`, as rpm's `lposix` reads it: a
    /// number, or a name looked up in the tree's `/etc/passwd` (`users`)
    /// or `/etc/group`; nothing, or a name not there, leaves it as it is.
    fn id(&self, v: &Value, users: bool) -> Option<u32> {
        match v {
            Value::Integer(i) => Some(*i as u32),
            Value::Number(n) => Some(*n as i64 as u32),
            Value::String(s) => {
                let s = s.to_str().ok()?;
                if let Ok(n) = s.trim().parse::<i64>() {
                    return Some(n as u32);
                }
                let file = if users { "etc/passwd" } else { "etc/group" };
                let fd = self.open(file, OFlags::RDONLY, 0).ok()?;
                let bytes = super::scripts::read_limited(File::from(fd), MAX_READ).ok()?;
                let found = super::id_lines(&bytes)
                    .find(|(name, _)| *name == &*s)
                    .map(|(_, id)| id);
                found
            }
            _ => None,
        }
        .filter(|id| *id != u32::MAX)
    }

    /// The names in the directory `path` (with `.` and `..`, as `readdir`
    /// gives them), in byte order so that every run sees the same.
    fn list(&self, path: &str) -> std::io::Result<Vec<String>> {
        let fd = self.open(path, OFlags::RDONLY | OFlags::DIRECTORY, 0)?;
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(fd.as_fd())? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Opens `path` inside the tree, following symlinks within it.
    fn open(&self, path: &str, flags: OFlags, mode: u32) -> std::io::Result<OwnedFd> {
        let mode = if flags.contains(OFlags::CREATE) {
            mode
        } else {
            0
        };
        Ok(rustix::fs::openat2(
            &self.root,
            Self::rel(path),
            flags | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )?)
    }

    /// Opens a regular file of the tree for `io` (a FIFO or device would
    /// block or reach outside), made with `mode` less the scriptlet's
    /// umask when `flags` create it.
    fn open_file(&self, path: &str, flags: OFlags) -> std::io::Result<File> {
        let mode = 0o666 & !*self.umask.borrow();
        let fd = if flags.contains(OFlags::CREATE) {
            // Made here: given its mode whatever this process's umask.
            match self.open(path, flags | OFlags::EXCL | OFlags::NONBLOCK, mode) {
                Ok(fd) => {
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
                    fd
                }
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::EXIST.raw_os_error()) => {
                    self.open(path, (flags - OFlags::CREATE) | OFlags::NONBLOCK, 0)?
                }
                Err(e) => return Err(e),
            }
        } else {
            self.open(path, flags | OFlags::NONBLOCK, 0)?
        };
        let st = rustix::fs::fstat(&fd)?;
        if st.st_mode & 0o170000 != 0o100000 {
            return Err(std::io::Error::from_raw_os_error(libc_einval()));
        }
        rustix::fs::fcntl_setfl(&fd, rustix::fs::fcntl_getfl(&fd)? - OFlags::NONBLOCK)?;
        Ok(File::from(fd))
    }

    /// The directory holding `path` inside the tree, and its last name.
    fn parent<'p>(&self, path: &'p str) -> std::io::Result<(OwnedFd, &'p str)> {
        let rel = Self::rel(path).trim_end_matches('/');
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        if name.is_empty() || name == "." || name == ".." {
            return Err(std::io::ErrorKind::InvalidInput.into());
        }
        let fd = self.open(
            if dir.is_empty() { "." } else { dir },
            OFlags::PATH | OFlags::DIRECTORY,
            0,
        )?;
        Ok((fd, name))
    }
}

/// EINVAL.
fn libc_einval() -> i32 {
    rustix::io::Errno::INVAL.raw_os_error()
}

/// Most bytes one read may return (Lua's memory limit does not see them
/// until they are a Lua string).
const MAX_READ: u64 = 64 << 20;

/// `true` on success, else [`failure`] (the `os` functions' results).
fn done(lua: &Lua, what: &str, r: std::io::Result<()>) -> mlua::Result<MultiValue> {
    match r {
        Ok(()) => Ok(MultiValue::from_vec(vec![Value::Boolean(true)])),
        Err(e) => failure(lua, what, &e),
    }
}

/// [`expand`] over the standard macros, for the fuzz target.
pub(super) fn expand_standard(text: &str) -> Option<String> {
    let defined: HashMap<String, String> = MACROS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    expand(text, &defined, 0)
}

/// `nil, message, errno`, as lposix returns a failure.
fn failure(lua: &Lua, what: &str, e: &std::io::Error) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![
        Value::Nil,
        Value::String(lua.create_string(format!("{what}: {e}"))?),
        Value::Integer(i64::from(e.raw_os_error().unwrap_or(0))),
    ]))
}

/// 0 on success, else [`failure`].
fn status(lua: &Lua, what: &str, r: std::io::Result<()>) -> mlua::Result<MultiValue> {
    match r {
        Ok(()) => Ok(MultiValue::from_vec(vec![Value::Integer(0)])),
        Err(e) => failure(lua, what, &e),
    }
}

/// A mode given as a number or an octal string (`"0755"`, `"755"`).
fn mode_of(v: &Value) -> mlua::Result<u32> {
    match v {
        // rpm reads a number's decimal digits as octal: 755 is 0755.
        Value::Integer(i) => u32::from_str_radix(&i.to_string(), 8)
            .map_err(|_| mlua::Error::runtime(format!("bad mode {i}"))),
        Value::Number(n) => u32::from_str_radix(&(*n as i64).to_string(), 8)
            .map_err(|_| mlua::Error::runtime(format!("bad mode {n}"))),
        Value::String(s) => {
            let s = s.to_str()?;
            u32::from_str_radix(&s, 8).map_err(|_| mlua::Error::runtime(format!("bad mode {s:?}")))
        }
        _ => Err(mlua::Error::runtime("bad mode")),
    }
}

/// An open file of the tree.
struct LuaFile {
    file: Option<BufReader<File>>,
}

impl LuaFile {
    fn get(&mut self) -> mlua::Result<&mut BufReader<File>> {
        self.file
            .as_mut()
            .ok_or_else(|| mlua::Error::runtime("attempt to use a closed file"))
    }
}

/// Reads one item of `format` (`a`, `l`, `L`, `n`, a count) from `r`.
fn read_one(lua: &Lua, r: &mut BufReader<File>, format: &Value) -> mlua::Result<Value> {
    let io = |e: std::io::Error| mlua::Error::runtime(e.to_string());
    if let Value::Integer(n) = format {
        let mut buf = Vec::new();
        r.by_ref()
            .take(u64::try_from(*n).unwrap_or(0).min(MAX_READ))
            .read_to_end(&mut buf)
            .map_err(io)?;
        return Ok(if buf.is_empty() && *n > 0 {
            Value::Nil
        } else {
            Value::String(lua.create_string(&buf)?)
        });
    }
    let f = match format {
        Value::String(s) => s.to_str()?.trim_start_matches('*').to_string(),
        _ => "l".to_string(),
    };
    match f.chars().next() {
        Some('a') => {
            let mut buf = Vec::new();
            r.by_ref()
                .take(MAX_READ + 1)
                .read_to_end(&mut buf)
                .map_err(io)?;
            if buf.len() as u64 > MAX_READ {
                return Err(mlua::Error::runtime("read: the file is too large"));
            }
            Ok(Value::String(lua.create_string(&buf)?))
        }
        Some('n') => {
            let mut line = String::new();
            r.by_ref().take(MAX_READ).read_line(&mut line).map_err(io)?;
            Ok(line
                .trim()
                .parse::<f64>()
                .map(Value::Number)
                .unwrap_or(Value::Nil))
        }
        Some(c @ ('l' | 'L')) => {
            let mut buf = Vec::new();
            if r.by_ref()
                .take(MAX_READ)
                .read_until(b'\n', &mut buf)
                .map_err(io)?
                == 0
            {
                return Ok(Value::Nil);
            }
            if c == 'l' && buf.last() == Some(&b'\n') {
                buf.pop();
            }
            Ok(Value::String(lua.create_string(&buf)?))
        }
        _ => Err(mlua::Error::runtime(format!("bad read format {f:?}"))),
    }
}

impl UserData for LuaFile {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method_mut("read", |lua, this, formats: Variadic<Value>| {
            let r = this.get()?;
            let mut out = Vec::new();
            if formats.is_empty() {
                out.push(read_one(lua, r, &Value::Nil)?);
            }
            for f in formats.iter() {
                let v = read_one(lua, r, f)?;
                let end = v.is_nil();
                out.push(v);
                if end {
                    break;
                }
            }
            Ok(MultiValue::from_vec(out))
        });
        methods.add_function(
            "write",
            |lua, (ud, parts): (mlua::AnyUserData, Variadic<Value>)| {
                {
                    let mut this = ud.borrow_mut::<LuaFile>()?;
                    let r = this.get()?;
                    // Drop what was read ahead, so writes land where reads
                    // stopped.
                    r.stream_position()
                        .and_then(|at| r.seek(SeekFrom::Start(at)))
                        .map_err(|e| mlua::Error::runtime(e.to_string()))?;
                    for p in parts.iter() {
                        let bytes = match p {
                            Value::String(s) => s.as_bytes().to_vec(),
                            Value::Integer(i) => i.to_string().into_bytes(),
                            Value::Number(n) => n.to_string().into_bytes(),
                            _ => return Err(mlua::Error::runtime("write: a string or number")),
                        };
                        if let Err(e) = r.get_mut().write_all(&bytes) {
                            return failure(lua, "write", &e);
                        }
                    }
                }
                // The file, as Lua's write returns it, for chained calls.
                Ok(MultiValue::from_vec(vec![Value::UserData(ud)]))
            },
        );
        methods.add_method_mut(
            "seek",
            |_, this, (whence, offset): (Option<String>, Option<i64>)| {
                let r = this.get()?;
                let offset = offset.unwrap_or(0);
                let to = match whence.as_deref().unwrap_or("cur") {
                    "set" => SeekFrom::Start(u64::try_from(offset).unwrap_or(0)),
                    "end" => SeekFrom::End(offset),
                    _ => SeekFrom::Current(offset),
                };
                r.seek(to).map_err(|e| mlua::Error::runtime(e.to_string()))
            },
        );
        methods.add_method_mut("lines", |lua, this, ()| {
            let mut lines = Vec::new();
            let r = this.get()?;
            while let Value::String(s) = read_one(lua, r, &Value::Nil)? {
                lines.push(s);
            }
            let mut it = lines.into_iter();
            lua.create_function_mut(move |_, ()| Ok(it.next()))
        });
        methods.add_method_mut("flush", |_, _, ()| Ok(true));
        methods.add_method_mut("setvbuf", |_, _, _: MultiValue| Ok(true));
        methods.add_method_mut("close", |_, this, ()| {
            this.file = None;
            Ok(true)
        });
    }
}

/// Where `io.write`, `io.stdout` and `io.stderr` go.
struct Output(Rc<Env>);

impl UserData for Output {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("write", |_, this, parts: Variadic<mlua::String>| {
            for p in parts.iter() {
                this.0.out(&p.as_bytes());
            }
            Ok(true)
        });
        methods.add_method("flush", |_, _, ()| Ok(true));
        methods.add_method("close", |_, _, ()| Ok(true));
        methods.add_method("setvbuf", |_, _, _: MultiValue| Ok(true));
    }
}

/// Most bytes one macro expansion may give (a macro naming itself many
/// times over grows without end).
const MAX_EXPANSION: usize = 1 << 20;

/// Expands `%{name}`, `%name`, `%{?name[:alt]}`, `%{!?name:alt}` and `%%`
/// from `defined`; an unknown macro is left as written, as rpm leaves it.
/// None when the result would pass [`MAX_EXPANSION`] bytes or nest more
/// than 16 deep.
fn expand(text: &str, defined: &HashMap<String, String>, depth: u32) -> Option<String> {
    expand_counted(text, defined, depth, &mut 100_000)
}

/// [`expand`], with at most `budget` more macros looked up.
fn expand_counted(
    text: &str,
    defined: &HashMap<String, String>,
    depth: u32,
    budget: &mut u32,
) -> Option<String> {
    if depth > 16 {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        *budget = budget.checked_sub(1)?;
        if let Some(r) = rest.strip_prefix('%') {
            out.push('%');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            let Some(end) = r.find('}') else {
                out.push_str("%{");
                rest = r;
                continue;
            };
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(name) = inner.strip_prefix("!?") {
                let (name, alt) = name.split_once(':').unwrap_or((name, ""));
                if !defined.contains_key(name) {
                    out.push_str(alt);
                }
            } else if let Some(name) = inner.strip_prefix('?') {
                match (name.split_once(':'), defined.get(name)) {
                    (Some((n, alt)), _) if defined.contains_key(n) => out.push_str(alt),
                    (None, Some(v)) => {
                        out.push_str(&expand_counted(v, defined, depth + 1, budget)?)
                    }
                    _ => {}
                }
            } else if let Some(v) = defined.get(inner) {
                out.push_str(&expand_counted(v, defined, depth + 1, budget)?);
            } else {
                out.push_str(&format!("%{{{inner}}}"));
            }
        } else {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..len];
            match defined.get(name) {
                Some(v) if !name.is_empty() => {
                    out.push_str(&expand_counted(v, defined, depth + 1, budget)?)
                }
                _ => {
                    out.push('%');
                    out.push_str(name);
                }
            }
            rest = &rest[len..];
        }
        if out.len() > MAX_EXPANSION {
            return None;
        }
    }
    out.push_str(rest);
    (out.len() <= MAX_EXPANSION).then_some(out)
}

/// Runs the Lua `script` with `args` (`arg[2]` onwards) in the tree whose
/// root directory is `root`; `exec` runs programs for it.
pub(super) fn run(
    root: OwnedFd,
    script: &Script,
    args: &[String],
    files: Vec<String>,
    time: i64,
    exec: Exec,
    owners: Rc<Owners>,
) -> Outcome {
    let env = Rc::new(Env {
        root,
        output: RefCell::new(Vec::new()),
        vars: RefCell::new(
            [
                ("PATH", "/sbin:/bin:/usr/sbin:/usr/bin"),
                ("HOME", "/root"),
                ("LANG", "C"),
                ("SYSTEMD_OFFLINE", "1"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("SOURCE_DATE_EPOCH".to_string(), time.to_string())])
            .collect(),
        ),
        umask: RefCell::new(0o022),
        started: std::time::Instant::now(),
        owners,
    });
    let result = Lua::new_with(
        StdLib::STRING
            | StdLib::TABLE
            | StdLib::MATH
            | StdLib::UTF8
            | StdLib::COROUTINE
            | StdLib::OS,
        LuaOptions::default(),
    )
    .and_then(|lua| {
        lua.set_memory_limit(MEMORY_LIMIT)?;
        let started = std::time::Instant::now();
        // Global, so that coroutines are stopped too.
        lua.set_global_hook(
            mlua::HookTriggers::new().every_nth_instruction(100_000),
            move |_, _| {
                if started.elapsed() > super::scripts::TIMEOUT {
                    return Err(mlua::Error::runtime(format!(
                        "stopped after {} s",
                        super::scripts::TIMEOUT.as_secs()
                    )));
                }
                Ok(mlua::VmState::Continue)
            },
        )?;
        setup(&lua, &env, args, &exec)?;
        // A file trigger's matching paths, as rpm hands them to Lua.
        let rpm: mlua::Table = lua.globals().get("rpm")?;
        let mut files = files.into_iter();
        rpm.set(
            "next_file",
            lua.create_function_mut(move |_, ()| Ok(files.next()))?,
        )?;
        lua.load(&script.body)
            .set_name("<lua>")
            .set_mode(mlua::ChunkMode::Text)
            .exec()
    });
    let mut output = std::mem::take(&mut *env.output.borrow_mut());
    let status = match result {
        Ok(()) => Some(0),
        Err(e) => {
            output.extend_from_slice(format!("lua script failed: {e}\n").as_bytes());
            Some(1)
        }
    };
    Outcome {
        status,
        output: String::from_utf8_lossy(&output).into_owned(),
    }
}

/// What the functions of rpm's Lua share: the tree and its environment,
/// the runner of programs, the `macros` table and the scriptlet's output
/// as `io.stdout`.
struct Ctx {
    env: Rc<Env>,
    exec: Exec,
    macros: mlua::Table,
    stdout: mlua::AnyUserData,
}

/// A field of one of rpm's Lua tables: its name, and what makes its value
/// for a scriptlet.
type Binding = (&'static str, fn(&Lua, &Rc<Ctx>) -> mlua::Result<Value>);

/// The [`Binding`] of `name` to the Lua function that calls the Rust fn
/// `f(&Ctx, &Lua, args)`, mlua converting (and checking) the arguments to
/// the type `f` takes.
macro_rules! binding {
    ($name:literal => $f:path) => {
        ($name, |lua, ctx| {
            let ctx = Rc::clone(ctx);
            lua.create_function(move |lua, args| $f(&ctx, lua, args))
                .map(Value::Function)
        })
    };
}

/// The globals rpm's Lua replaces.
const GLOBALS: &[Binding] = &[
    binding!("load" => global_load),
    binding!("print" => global_print),
];

/// `io`, over the tree.
const IO: &[Binding] = &[
    binding!("open" => io_open),
    binding!("lines" => io_lines),
    binding!("close" => io_close),
    binding!("type" => io_type),
    ("stdout", |_, ctx| Ok(Value::UserData(ctx.stdout.clone()))),
    ("stderr", |lua, ctx| {
        Ok(Value::UserData(
            lua.create_userdata(Output(ctx.env.clone()))?,
        ))
    }),
    binding!("write" => io_write),
];

/// What `os` has besides the standard library's time functions.
const OS: &[Binding] = &[
    binding!("setlocale" => os_setlocale),
    binding!("getenv" => os_getenv),
    binding!("remove" => os_remove),
    binding!("rename" => os_rename),
    binding!("execute" => os_execute),
];

/// rpm's `posix` table, over the tree.
const POSIX: &[Binding] = &[
    binding!("stat" => posix_stat),
    binding!("access" => posix_access),
    binding!("chmod" => posix_chmod),
    binding!("chown" => posix_chown),
    binding!("dir" => posix_dir),
    binding!("files" => posix_files),
    binding!("getcwd" => posix_getcwd),
    // The same function as os.getenv.
    ("getenv", |lua, _| {
        let os: mlua::Table = lua.globals().get("os")?;
        os.get::<mlua::Function>("getenv").map(Value::Function)
    }),
    binding!("setenv" => posix_setenv),
    binding!("unsetenv" => posix_unsetenv),
    binding!("getprocessid" => posix_getprocessid),
    binding!("symlink" => posix_symlink),
    binding!("link" => posix_link),
    binding!("readlink" => posix_readlink),
    binding!("unlink" => posix_unlink),
    binding!("rmdir" => posix_rmdir),
    binding!("mkdir" => posix_mkdir),
    binding!("mkfifo" => posix_mkfifo),
    binding!("umask" => posix_umask),
    binding!("utime" => posix_utime),
    binding!("sleep" => posix_sleep),
];

/// rpm's `rpm` table (`next_file` is added by [`run`]).
const RPM: &[Binding] = &[
    binding!("expand" => rpm_expand),
    binding!("define" => rpm_define),
    binding!("undefine" => rpm_undefine),
    binding!("isdefined" => rpm_isdefined),
    binding!("interactive" => rpm_interactive),
    binding!("vercmp" => rpm_vercmp),
    binding!("execute" => rpm_execute),
];

/// Sets the `bindings` in `table`, in order.
fn bind(lua: &Lua, ctx: &Rc<Ctx>, table: &mlua::Table, bindings: &[Binding]) -> mlua::Result<()> {
    for (name, make) in bindings {
        table.set(*name, make(lua, ctx)?)?;
    }
    Ok(())
}

/// The globals rpm's Lua has, over the tree.
fn setup(lua: &Lua, env: &Rc<Env>, args: &[String], exec: &Exec) -> mlua::Result<()> {
    let macros = lua.create_table()?;
    for (k, v) in MACROS {
        macros.set(*k, *v)?;
    }
    let ctx = Rc::new(Ctx {
        env: env.clone(),
        exec: exec.clone(),
        macros: macros.clone(),
        stdout: lua.create_userdata(Output(env.clone()))?,
    });
    let g = lua.globals();
    for name in ["dofile", "loadfile", "require"] {
        g.set(name, Value::Nil)?;
    }
    // Bytecode is not checked by Lua: none is made or loaded.
    let string: mlua::Table = g.get("string")?;
    string.set("dump", Value::Nil)?;
    bind(lua, &ctx, &g, GLOBALS)?;

    let io = lua.create_table()?;
    bind(lua, &ctx, &io, IO)?;
    g.set("io", io)?;

    // os: the standard library's time functions, the rest over the tree.
    let os: mlua::Table = g.get("os")?;
    for name in ["exit", "tmpname"] {
        os.set(name, Value::Nil)?;
    }
    bind(lua, &ctx, &os, OS)?;

    let posix = lua.create_table()?;
    bind(lua, &ctx, &posix, POSIX)?;
    g.set("posix", posix)?;

    g.set("macros", macros)?;
    let rpm = lua.create_table()?;
    bind(lua, &ctx, &rpm, RPM)?;
    g.set("rpm", rpm)?;

    let arg = lua.create_table()?;
    arg.set(1, "<lua>")?;
    for (i, a) in args.iter().enumerate() {
        // rpm passes the counts as numbers.
        match a.parse::<i64>() {
            Ok(n) => arg.set(i + 2, n)?,
            Err(_) => arg.set(i + 2, a.as_str())?,
        }
    }
    g.set("arg", arg)?;
    Ok(())
}

/// `load(chunk [, name])`: text only.
fn global_load(
    _: &Ctx,
    lua: &Lua,
    (chunk, name): (mlua::String, Option<String>),
) -> mlua::Result<MultiValue> {
    let f = lua
        .load(chunk.as_bytes().to_vec())
        .set_name(name.unwrap_or_else(|| "=(load)".into()))
        .set_mode(mlua::ChunkMode::Text)
        .into_function();
    Ok(match f {
        Ok(f) => MultiValue::from_vec(vec![Value::Function(f)]),
        Err(e) => MultiValue::from_vec(vec![
            Value::Nil,
            Value::String(lua.create_string(e.to_string())?),
        ]),
    })
}

/// `print(...)`, to the scriptlet's output.
fn global_print(c: &Ctx, _: &Lua, parts: Variadic<Value>) -> mlua::Result<()> {
    let line: Vec<String> = parts
        .iter()
        .map(|v| v.to_string().unwrap_or_else(|_| "?".into()))
        .collect();
    c.env.out(format!("{}\n", line.join("\t")).as_bytes());
    Ok(())
}

/// `io.open(path [, mode])`.
fn io_open(c: &Ctx, lua: &Lua, (path, mode): (String, Option<String>)) -> mlua::Result<MultiValue> {
    let mode = mode.unwrap_or_else(|| "r".into()).replace('b', "");
    let flags = match mode.as_str() {
        "r" => OFlags::RDONLY,
        "r+" => OFlags::RDWR,
        "w" => OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC,
        "w+" => OFlags::RDWR | OFlags::CREATE | OFlags::TRUNC,
        "a" => OFlags::WRONLY | OFlags::CREATE | OFlags::APPEND,
        "a+" => OFlags::RDWR | OFlags::CREATE | OFlags::APPEND,
        _ => return Err(mlua::Error::runtime(format!("io.open: bad mode {mode:?}"))),
    };
    match c.env.open_file(&path, flags) {
        Ok(file) => Ok(MultiValue::from_vec(vec![Value::UserData(
            lua.create_userdata(LuaFile {
                file: Some(BufReader::new(file)),
            })?,
        )])),
        Err(err) => failure(lua, &path, &err),
    }
}

/// `io.lines(path)`.
fn io_lines(c: &Ctx, lua: &Lua, path: String) -> mlua::Result<mlua::Function> {
    let mut f = match c.env.open_file(&path, OFlags::RDONLY) {
        Ok(file) => LuaFile {
            file: Some(BufReader::new(file)),
        },
        Err(err) => return Err(mlua::Error::runtime(format!("{path}: {err}"))),
    };
    let mut lines = Vec::new();
    while let Value::String(s) = read_one(lua, f.get()?, &Value::Nil)? {
        lines.push(s);
    }
    let mut it = lines.into_iter();
    lua.create_function_mut(move |_, ()| Ok(it.next()))
}

/// `io.close(file)`.
fn io_close(_: &Ctx, _: &Lua, f: mlua::AnyUserData) -> mlua::Result<bool> {
    if let Ok(mut f) = f.borrow_mut::<LuaFile>() {
        f.file = None;
    }
    Ok(true)
}

/// `io.type(value)`.
fn io_type(_: &Ctx, _: &Lua, v: Value) -> mlua::Result<Option<&'static str>> {
    Ok(match v {
        Value::UserData(u) => match u.borrow::<LuaFile>() {
            Ok(f) if f.file.is_some() => Some("file"),
            Ok(_) => Some("closed file"),
            Err(_) => None,
        },
        _ => None,
    })
}

/// `io.write(...)`, to `io.stdout`.
fn io_write(c: &Ctx, _: &Lua, parts: Variadic<mlua::String>) -> mlua::Result<bool> {
    let o = c.stdout.borrow::<Output>()?;
    for p in parts.iter() {
        o.0.out(&p.as_bytes());
    }
    Ok(true)
}

/// `os.setlocale(...)`: always C.
fn os_setlocale(_: &Ctx, _: &Lua, _: MultiValue) -> mlua::Result<&'static str> {
    Ok("C")
}

/// `os.getenv(name)`, and `posix.getenv`.
fn os_getenv(c: &Ctx, _: &Lua, name: String) -> mlua::Result<Option<String>> {
    Ok(c.env.vars.borrow().get(&name).cloned())
}

/// `os.remove(path)`: a file, or an empty directory.
fn os_remove(c: &Ctx, lua: &Lua, path: String) -> mlua::Result<MultiValue> {
    let r = c.env.parent(&path).and_then(|(dir, name)| {
        let st = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let flags = if st.st_mode & 0o170000 == 0o040000 {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        Ok(rustix::fs::unlinkat(&dir, name, flags)?)
    });
    done(lua, &path, r)
}

/// `os.rename(from, to)`.
fn os_rename(c: &Ctx, lua: &Lua, (from, to): (String, String)) -> mlua::Result<MultiValue> {
    let r = c.env.parent(&from).and_then(|(a, an)| {
        let (b, bn) = c.env.parent(&to)?;
        Ok(rustix::fs::renameat(&a, an, &b, bn)?)
    });
    done(lua, &from, r)
}

/// `os.execute([command])`, the command run by `/bin/sh -c` in the sandbox.
fn os_execute(c: &Ctx, lua: &Lua, cmd: Option<String>) -> mlua::Result<MultiValue> {
    c.env.late()?;
    let Some(cmd) = cmd else {
        return Ok(MultiValue::from_vec(vec![Value::Boolean(true)]));
    };
    let (code, out) = (c.exec)(&["/bin/sh".into(), "-c".into(), cmd])
        .map_err(|err| mlua::Error::runtime(err.to_string()))?;
    c.env.out(out.as_bytes());
    let ok = code == Some(0);
    Ok(MultiValue::from_vec(vec![
        if ok { Value::Boolean(true) } else { Value::Nil },
        Value::String(lua.create_string(if code.is_some() { "exit" } else { "signal" })?),
        Value::Integer(i64::from(code.unwrap_or(-1))),
    ]))
}

/// `posix.stat(path [, field])`, as `lstat`.
fn posix_stat(
    c: &Ctx,
    lua: &Lua,
    (path, field): (String, Option<String>),
) -> mlua::Result<MultiValue> {
    let e = &c.env;
    // As lstat: a symlink is reported as one.
    let st = match e
        .parent(&path)
        .and_then(|(dir, name)| Ok(rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?))
        .or_else(|_| {
            e.open(&path, OFlags::PATH, 0)
                .and_then(|fd| Ok(rustix::fs::fstat(&fd)?))
        }) {
        Ok(st) => st,
        Err(err) => return failure(lua, &path, &err),
    };
    let t = lua.create_table()?;
    let kind = match st.st_mode & 0o170000 {
        0o100000 => "regular",
        0o040000 => "directory",
        0o120000 => "link",
        0o140000 => "socket",
        0o020000 => "character device",
        0o060000 => "block device",
        0o010000 => "fifo",
        _ => "?",
    };
    let mut perm = String::with_capacity(9);
    for i in (0..9).rev() {
        perm.push(if st.st_mode & (1 << i) != 0 {
            ['x', 'w', 'r'][i % 3]
        } else {
            '-'
        });
    }
    t.set("mode", perm)?;
    t.set("_mode", i64::from(st.st_mode))?;
    t.set("type", kind)?;
    t.set("ino", st.st_ino as i64)?;
    t.set("dev", st.st_dev as i64)?;
    t.set("nlink", st.st_nlink as i64)?;
    // Everything in the tree is root's, as the sandbox sees it.
    t.set("uid", 0)?;
    t.set("gid", 0)?;
    t.set("size", st.st_size)?;
    t.set("atime", st.st_atime)?;
    t.set("mtime", st.st_mtime)?;
    t.set("ctime", st.st_ctime)?;
    Ok(MultiValue::from_vec(vec![match field {
        Some(f) => t.get(f)?,
        None => Value::Table(t),
    }]))
}

/// `posix.access(path [, how])`: whether it is there, and executable when
/// `how` has `x`.
fn posix_access(
    c: &Ctx,
    lua: &Lua,
    (path, how): (String, Option<String>),
) -> mlua::Result<MultiValue> {
    let r = c.env.open(&path, OFlags::PATH, 0).and_then(|fd| {
        let st = rustix::fs::fstat(&fd)?;
        let exec = how.as_deref().unwrap_or("").contains('x');
        let is_dir = st.st_mode & 0o170000 == 0o040000;
        if exec && !is_dir && st.st_mode & 0o111 == 0 {
            return Err(std::io::Error::from_raw_os_error(13));
        }
        Ok(())
    });
    status(lua, &path, r)
}

/// `posix.chmod(path, mode)`.
fn posix_chmod(c: &Ctx, lua: &Lua, (path, mode): (String, Value)) -> mlua::Result<MultiValue> {
    let mode = mode_of(&mode)?;
    // Through the resolved inode's /proc link: no read access needed, and
    // never a path outside the tree.
    let r = c.env.open(&path, OFlags::PATH, 0).and_then(|fd| {
        use std::os::fd::AsRawFd;
        let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
        Ok(rustix::fs::chmod(link.as_str(), Mode::from_raw_mode(mode))?)
    });
    status(lua, &path, r)
}

/// `posix.chown(path, user, group)`.
fn posix_chown(
    c: &Ctx,
    lua: &Lua,
    (path, uid, gid): (String, Value, Value),
) -> mlua::Result<MultiValue> {
    let e = &c.env;
    // Recorded for the tree read back, as the sandbox's chown is.
    let owner = Owner {
        uid: e.id(&uid, true),
        gid: e.id(&gid, false),
    };
    let r = e
        .open(&path, OFlags::PATH, 0)
        .and_then(|fd| e.owners.give(fd.as_fd(), owner));
    status(lua, &path, r)
}

/// `posix.dir([path])`: the names in a directory, as a list.
fn posix_dir(c: &Ctx, lua: &Lua, path: Option<String>) -> mlua::Result<MultiValue> {
    let path = path.unwrap_or_else(|| "/".into());
    match c.env.list(&path) {
        Ok(names) => Ok(MultiValue::from_vec(vec![Value::Table(
            lua.create_sequence_from(names)?,
        )])),
        Err(err) => failure(lua, &path, &err),
    }
}

/// `posix.files([path])`: the names in a directory, as an iterator.
fn posix_files(c: &Ctx, lua: &Lua, path: Option<String>) -> mlua::Result<MultiValue> {
    let path = path.unwrap_or_else(|| ".".into());
    match c.env.list(&path) {
        Ok(names) => {
            let mut names = names.into_iter();
            let next = lua.create_function_mut(move |_, ()| Ok(names.next()))?;
            Ok(MultiValue::from_vec(vec![Value::Function(next)]))
        }
        Err(err) => failure(lua, &path, &err),
    }
}

/// `posix.getcwd()`: the tree's root.
fn posix_getcwd(_: &Ctx, _: &Lua, (): ()) -> mlua::Result<&'static str> {
    Ok("/")
}

/// `posix.setenv(name, value [, overwrite])`.
fn posix_setenv(
    c: &Ctx,
    _: &Lua,
    (name, value, over): (String, String, Option<bool>),
) -> mlua::Result<i32> {
    let mut vars = c.env.vars.borrow_mut();
    if over.unwrap_or(true) || !vars.contains_key(&name) {
        vars.insert(name, value);
    }
    Ok(0)
}

/// `posix.unsetenv(name)`.
fn posix_unsetenv(c: &Ctx, _: &Lua, name: String) -> mlua::Result<i32> {
    c.env.vars.borrow_mut().remove(&name);
    Ok(0)
}

/// `posix.getprocessid([field])`.
fn posix_getprocessid(_: &Ctx, _: &Lua, _: Option<String>) -> mlua::Result<u32> {
    Ok(std::process::id())
}

/// `posix.symlink(target, path)`.
fn posix_symlink(c: &Ctx, lua: &Lua, (target, path): (String, String)) -> mlua::Result<MultiValue> {
    let r = c
        .env
        .parent(&path)
        .and_then(|(dir, name)| Ok(rustix::fs::symlinkat(target.as_str(), &dir, name)?));
    status(lua, &path, r)
}

/// `posix.link(from, to)`.
fn posix_link(c: &Ctx, lua: &Lua, (from, to): (String, String)) -> mlua::Result<MultiValue> {
    let r = c.env.parent(&from).and_then(|(a, an)| {
        let (b, bn) = c.env.parent(&to)?;
        Ok(rustix::fs::linkat(&a, an, &b, bn, AtFlags::empty())?)
    });
    status(lua, &to, r)
}

/// `posix.readlink(path)`.
fn posix_readlink(c: &Ctx, lua: &Lua, path: String) -> mlua::Result<MultiValue> {
    match c
        .env
        .parent(&path)
        .and_then(|(dir, name)| Ok(rustix::fs::readlinkat(&dir, name, Vec::new())?))
    {
        Ok(t) => Ok(MultiValue::from_vec(vec![Value::String(
            lua.create_string(t.as_bytes())?,
        )])),
        Err(err) => failure(lua, &path, &err),
    }
}

/// `call` with the directory holding `path`, its last name and the
/// scriptlet's umask: 0, or lposix's failure.
fn in_parent(
    c: &Ctx,
    lua: &Lua,
    path: &str,
    call: impl FnOnce(&OwnedFd, &str, u32) -> std::io::Result<()>,
) -> mlua::Result<MultiValue> {
    let umask = *c.env.umask.borrow();
    let r = c.env.parent(path).and_then(|(dir, n)| call(&dir, n, umask));
    status(lua, path, r)
}

/// `posix.unlink(path)`.
fn posix_unlink(c: &Ctx, lua: &Lua, path: String) -> mlua::Result<MultiValue> {
    in_parent(c, lua, &path, |d, n, _| {
        Ok(rustix::fs::unlinkat(d, n, AtFlags::empty())?)
    })
}

/// `posix.rmdir(path)`.
fn posix_rmdir(c: &Ctx, lua: &Lua, path: String) -> mlua::Result<MultiValue> {
    in_parent(c, lua, &path, |d, n, _| {
        Ok(rustix::fs::unlinkat(d, n, AtFlags::REMOVEDIR)?)
    })
}

/// `posix.mkdir(path)`, with the scriptlet's umask.
fn posix_mkdir(c: &Ctx, lua: &Lua, path: String) -> mlua::Result<MultiValue> {
    in_parent(c, lua, &path, |d, n, umask| {
        let mode = Mode::from_raw_mode(0o777 & !umask);
        rustix::fs::mkdirat(d, n, mode)?;
        // The mode asked for, whatever this process's umask.
        Ok(rustix::fs::chmodat(d, n, mode, AtFlags::empty())?)
    })
}

/// `posix.mkfifo(path)`, with the scriptlet's umask.
fn posix_mkfifo(c: &Ctx, lua: &Lua, path: String) -> mlua::Result<MultiValue> {
    in_parent(c, lua, &path, |d, n, umask| {
        let mode = Mode::from_raw_mode(0o666 & !umask);
        rustix::fs::mknodat(d, n, rustix::fs::FileType::Fifo, mode, 0)?;
        // The mode asked for, whatever this process's umask.
        Ok(rustix::fs::chmodat(d, n, mode, AtFlags::empty())?)
    })
}

/// `posix.umask([mask])`: the permissions the old mask left
/// (`"rwxr-xr-x"`).
fn posix_umask(c: &Ctx, _: &Lua, mask: Option<Value>) -> mlua::Result<String> {
    let old = *c.env.umask.borrow();
    if let Some(m) = mask {
        // lposix's form, the permissions left ("rwxr-xr-x"), or an octal
        // mask.
        let new = match &m {
            Value::String(t) if t.to_str()?.len() == 9 && !t.to_str()?.starts_with('0') => {
                let t = t.to_str()?;
                let mut allowed = 0u32;
                for (i, c) in t.chars().enumerate() {
                    if c != '-' {
                        allowed |= 1 << (8 - i);
                    }
                }
                0o777 & !allowed
            }
            other => mode_of(other)? & 0o777,
        };
        *c.env.umask.borrow_mut() = new;
    }
    let allowed = 0o777 & !old;
    Ok((0..9)
        .map(|i| {
            if allowed & (1 << (8 - i)) != 0 {
                ['r', 'w', 'x'][i % 3]
            } else {
                '-'
            }
        })
        .collect::<String>())
}

/// `posix.utime(path [, mtime [, atime]])`: now by default, the access
/// time the modification time.
fn posix_utime(
    c: &Ctx,
    lua: &Lua,
    (path, mtime, atime): (String, Option<i64>, Option<i64>),
) -> mlua::Result<MultiValue> {
    let at = |s: i64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.max(0) as u64);
    let m = mtime.map(at).unwrap_or_else(std::time::SystemTime::now);
    let a = atime.map(at).unwrap_or(m);
    let r = c
        .env
        .open(&path, OFlags::RDONLY | OFlags::NONBLOCK, 0)
        .and_then(|fd| {
            File::from(fd).set_times(std::fs::FileTimes::new().set_modified(m).set_accessed(a))
        });
    status(lua, &path, r)
}

/// `posix.sleep(seconds)`: at most a minute, within the scriptlet's time.
fn posix_sleep(c: &Ctx, _: &Lua, secs: u64) -> mlua::Result<i32> {
    c.env.late()?;
    std::thread::sleep(std::time::Duration::from_secs(secs.min(60)));
    Ok(0)
}

/// `rpm.expand(text)`, over the `macros` table.
fn rpm_expand(c: &Ctx, _: &Lua, text: String) -> mlua::Result<String> {
    let defined = c
        .macros
        .pairs::<String, String>()
        .collect::<mlua::Result<HashMap<_, _>>>()?;
    expand(&text, &defined, 0)
        .ok_or_else(|| mlua::Error::runtime("rpm.expand: the expansion is too long or too deep"))
}

/// `rpm.define("name value")`.
fn rpm_define(c: &Ctx, _: &Lua, text: String) -> mlua::Result<()> {
    let t = text.trim();
    let (name, value) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    c.macros.set(name.trim_start_matches('%'), value.trim())
}

/// `rpm.undefine(name)`.
fn rpm_undefine(c: &Ctx, _: &Lua, name: String) -> mlua::Result<()> {
    c.macros.set(name.trim_start_matches('%'), Value::Nil)
}

/// `rpm.isdefined(name)`.
fn rpm_isdefined(c: &Ctx, _: &Lua, name: String) -> mlua::Result<bool> {
    c.macros.contains_key(name.trim_start_matches('%'))
}

/// `rpm.interactive()`: never.
fn rpm_interactive(_: &Ctx, _: &Lua, (): ()) -> mlua::Result<bool> {
    Ok(false)
}

/// `rpm.vercmp(a, b)`: -1, 0 or 1.
fn rpm_vercmp(_: &Ctx, _: &Lua, (a, b): (String, String)) -> mlua::Result<i8> {
    Ok(crate::resolve::vercmp::rpmvercmp(&a, &b) as i8)
}

/// `rpm.execute(program, ...)`, run in the sandbox.
fn rpm_execute(c: &Ctx, lua: &Lua, argv: Variadic<String>) -> mlua::Result<MultiValue> {
    c.env.late()?;
    if argv.is_empty() {
        return Err(mlua::Error::runtime("rpm.execute: no program"));
    }
    let (code, out) = (c.exec)(&argv).map_err(|err| mlua::Error::runtime(err.to_string()))?;
    c.env.out(out.as_bytes());
    if code == Some(0) {
        return Ok(MultiValue::from_vec(vec![Value::Integer(0)]));
    }
    Ok(MultiValue::from_vec(vec![
        Value::Nil,
        Value::String(lua.create_string(format!("{}: failed", argv[0]))?),
        Value::Integer(i64::from(code.unwrap_or(-1))),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macros_expand_as_rpm_expands_them() {
        let d: HashMap<String, String> = MACROS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            expand("%{_libdir}/x %_bindir 100%%", &d, 0).unwrap(),
            "/usr/lib64/x /usr/bin 100%"
        );
        assert_eq!(
            expand(
                "%{?_prefix}|%{?nosuch}|%{!?nosuch:no}|%{!?_prefix:no}|%{?_lib:yes}",
                &d,
                0
            )
            .unwrap(),
            "/usr||no||yes"
        );
        assert_eq!(
            expand("%{nosuch} %{unclosed", &d, 0).unwrap(),
            "%{nosuch} %{unclosed"
        );
        // A macro naming another ten times, and that one it ten times:
        // refused, not grown.
        let mut d = d;
        d.insert("a".into(), "%{b}".repeat(10));
        d.insert("b".into(), "%{a}".repeat(10));
        assert_eq!(expand("%{a}", &d, 0), None);
    }
}
