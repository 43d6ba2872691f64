//! Programs run in a tree as a package's scriptlets run: the tree written
//! to a scratch directory, each program run there as its root in the
//! unprivileged bubblewrap sandbox (every capability kept inside, owners a
//! `chown` gives recorded), and the tree read back as entries.
//!
//! This is what an image's own scripts need (the toolkit's
//! `PostInstallScripts`, Image Customizer's `scripts`): the package stage's
//! sandbox, not a second one. An entry nothing changed keeps the metadata
//! it came with (owner, mode, time, device numbers, xattrs); one a program
//! changed or made is read back as the sandbox left it, owned by root
//! unless a `chown` gave it another owner.
//!
//! ```no_run
//! use pkgstage::sandbox::{Program, Tree};
//! use rootfs::EntrySource;
//!
//! let source = rootfs::Rootfs::open("rootfs.tar")?;
//! let mut tree = Tree::new(None, 1_700_000_000, true)?;
//! source.walk(&mut |entry, data| tree.add(entry, data))?;
//! let outcome = tree.run(&Program::shell("greet", "echo hi > /etc/motd"))?;
//! assert!(outcome.ok(), "{}", outcome.output);
//! tree.walk(&mut |entry, _| { println!("{}", entry.path); Ok(()) })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use rootfs::{Entry, EntrySource};

use crate::install::scripts::{self, Script};
use crate::install::stage::Stage;
use crate::Result;

pub use crate::install::scripts::Outcome;

/// A program to run in the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Program {
    /// What it is called in messages.
    pub name: String,
    /// The program and its first arguments, as the tree resolves them.
    pub argv: Vec<String>,
    /// A script, made readable in the sandbox and passed after `argv`,
    /// before `args` (as rpm passes a scriptlet to its interpreter).
    pub script: Option<String>,
    /// Arguments after the script (ignored without one: put them in
    /// `argv`).
    pub args: Vec<String>,
    /// Environment variables beside the sandbox's own (`PATH`, `HOME`,
    /// `LANG=C`, `SOURCE_DATE_EPOCH`, `SYSTEMD_OFFLINE=1`).
    pub env: Vec<(String, String)>,
    /// Host directories or files made readable (read-only) at an absolute
    /// path in the tree; a top-level directory made for one is not part of
    /// the tree after (a deeper one is: bind at the top level).
    pub binds: Vec<(PathBuf, String)>,
}

impl Program {
    /// `text` run by `/bin/sh`.
    pub fn shell(name: impl Into<String>, text: impl Into<String>) -> Program {
        Program {
            name: name.into(),
            argv: vec!["/bin/sh".into()],
            script: Some(text.into()),
            ..Program::default()
        }
    }
}

/// A tree programs run in.
pub struct Tree {
    stage: Stage,
    time: i64,
    name: PathBuf,
}

impl Tree {
    /// An empty tree in a scratch directory under `work_dir` (default:
    /// $TMPDIR), gone when it is dropped; `time` is the build's time (the
    /// newest a changed entry's time can be, and `SOURCE_DATE_EPOCH`
    /// inside). With `programs`, the sandbox is checked first, so that a
    /// machine without it is named before anything is written.
    pub fn new(work_dir: Option<&Path>, time: i64, programs: bool) -> Result<Tree> {
        if programs {
            scripts::check_sandbox()?;
        }
        let stage = Stage::new(work_dir)?;
        let name = stage.root().to_path_buf();
        Ok(Tree { stage, time, name })
    }

    /// Writes `entry` (a file's bytes from `data`) into the tree; its
    /// path is resolved inside the tree, whatever links it holds.
    pub fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<()> {
        self.stage.write(entry, data)
    }

    /// A file of the tree (its path resolved inside it), at most `limit`
    /// bytes of it; None when there is no such file.
    pub fn read(&self, path: &str, limit: u64) -> Option<Vec<u8>> {
        self.stage.read(path, limit)
    }

    /// Runs `program` in the tree and says how it ended; an error only
    /// when it could not be run at all.
    pub fn run(&mut self, program: &Program) -> Result<Outcome> {
        for (_, at) in &program.binds {
            let plain = at.starts_with('/')
                && at[1..]
                    .split('/')
                    .all(|c| !c.is_empty() && c != "." && c != "..");
            if !plain {
                return Err(crate::error::scriptlet(format!(
                    "{}: {at:?} is not an absolute path without `.` or `..` to make a host path \
                     readable at",
                    program.name
                )));
            }
        }
        self.stage.before_sandbox();
        let tops: Vec<&str> = program
            .binds
            .iter()
            .filter_map(|(_, at)| at.trim_start_matches('/').split('/').next())
            .collect();
        self.stage.before_mounts(&tops);
        let script = Script {
            which: program.name.clone(),
            program: program.argv.clone(),
            body: program.script.clone().unwrap_or_default(),
            env: program.env.clone(),
            binds: program.binds.clone(),
        };
        let args = if program.script.is_some() {
            program.args.as_slice()
        } else {
            &[]
        };
        scripts::run(
            self.stage.root(),
            self.stage.scratch(),
            &script,
            args,
            &[],
            self.time,
            self.stage.owners(),
        )
    }
}

impl EntrySource for Tree {
    fn name(&self) -> &Path {
        &self.name
    }

    /// The tree as the programs left it, in name order.
    fn walk(
        &self,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> rootfs::Result<()>,
    ) -> rootfs::Result<()> {
        self.stage.walk(self.time, visit)
    }
}
