//! What the command-line tests share: running the binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

/// The imgconv binary, without `SOURCE_DATE_EPOCH` from the environment.
pub(crate) fn command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_imgconv"));
    c.env_remove("SOURCE_DATE_EPOCH");
    c
}

/// Runs imgconv with `args` to the end.
pub(crate) fn imgconv(args: &[&str]) -> Output {
    command().args(args).output().unwrap()
}

/// A path as the `&str` an argument list takes.
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
