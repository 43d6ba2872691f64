//! Errors: this crate reports every failure as a [`blocksink::Error`],
//! named for its format.

pub use blocksink::{Error, ErrorKind, Result};

/// The format in this crate's errors.
pub(crate) const F: blocksink::Format = blocksink::Format::new("OVA");
