//! The one error type of the disk-image crates.
//!
//! Every reader and writer reports failures as an [`Error`]: a [`ErrorKind`],
//! the format it concerns, what is wrong in words, and where — the field and
//! the byte offset when there is one — with the underlying cause kept as its
//! [`source`](std::error::Error::source), never pasted into the message.
//! The fan-out ([`crate::convert`]) adds which side failed, the input or the
//! n-th output, so that a program can name the right file.
//!
//! Through the `std::io` interfaces an [`Error`] travels inside an
//! [`io::Error`] and is found again with [`Error::find`].

use std::borrow::Cow;
use std::fmt;
use std::io;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading or writing the underlying storage failed.
    Io,
    /// The bytes are not this format at all (no signature, wrong magic).
    InvalidFormat,
    /// The image or request uses something this crate does not do.
    Unsupported,
    /// The image is this format but damaged: a checksum, a table entry or a
    /// length does not hold.
    Corrupt,
    /// A value asked for (an option, a size, an offset) is out of range.
    OutOfRange,
}

impl ErrorKind {
    fn io_kind(self) -> io::ErrorKind {
        match self {
            ErrorKind::Io => io::ErrorKind::Other,
            ErrorKind::InvalidFormat | ErrorKind::Corrupt => io::ErrorKind::InvalidData,
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ErrorKind::OutOfRange => io::ErrorKind::InvalidInput,
        }
    }
}

/// A format's name, from which its reader and writer make their errors:
/// `const F: Format = Format::new("VHDX");` then `F.corrupt("…")`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Format(&'static str);

impl Format {
    /// The format called `name` in messages (`"VHDX"`, `"qcow2"`).
    pub const fn new(name: &'static str) -> Self {
        Format(name)
    }
    /// Its name.
    pub const fn name(self) -> &'static str {
        self.0
    }
    /// The bytes are not this format (`message` says what is missing).
    pub fn not_this(self, message: impl Into<Cow<'static, str>>) -> Error {
        Error::invalid_format(self.0, message)
    }
    /// A damaged structure.
    pub fn corrupt(self, message: impl Into<Cow<'static, str>>) -> Error {
        Error::corrupt(self.0, message)
    }
    /// Something the format allows that is not implemented.
    pub fn unsupported(self, message: impl Into<Cow<'static, str>>) -> Error {
        Error::unsupported(self.0, message)
    }
    /// A writer option or requested value out of range.
    pub fn option(self, message: impl Into<Cow<'static, str>>) -> Error {
        Error::out_of_range(self.0, message)
    }
    /// A header field whose value cannot be accepted, and why.
    pub fn header(self, field: &'static str, value: u64, why: &'static str) -> Error {
        Error::corrupt(self.0, format!("header field {field} = {value}: {why}")).field(field)
    }
}

/// Which side of a conversion failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Side {
    /// The source being read.
    Input,
    /// The sink at this index in the list given to [`crate::convert`].
    Output(usize),
}

/// A failure of a disk-image reader or writer.
pub struct Error {
    kind: ErrorKind,
    format: &'static str,
    message: Cow<'static, str>,
    field: Option<Cow<'static, str>>,
    offset: Option<u64>,
    side: Option<Side>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` in `format` (`"VHDX"`, `"qcow2"`; `""` for none).
    pub fn new(
        kind: ErrorKind,
        format: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Error {
            kind,
            format,
            message: message.into(),
            field: None,
            offset: None,
            side: None,
            source: None,
        }
    }
    /// Not `format` at all.
    pub fn invalid_format(format: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidFormat, format, message)
    }
    /// Something `format` allows that this crate does not do.
    pub fn unsupported(format: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unsupported, format, message)
    }
    /// A damaged `format` structure.
    pub fn corrupt(format: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Corrupt, format, message)
    }
    /// A value out of range for `format`.
    pub fn out_of_range(format: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::OutOfRange, format, message)
    }
    /// An I/O failure while doing what `message` says (`"reading the BAT"`);
    /// the system's error is kept as the source.
    pub fn io(
        format: &'static str,
        message: impl Into<Cow<'static, str>>,
        cause: io::Error,
    ) -> Self {
        Self::new(ErrorKind::Io, format, message).caused_by(cause)
    }

    /// The field concerned, as the format's specification names it.
    #[must_use]
    pub fn field(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.field = Some(name.into());
        self
    }
    /// The byte offset concerned, in the file (or the stream) being read or written.
    #[must_use]
    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
    /// Which side of a conversion failed (set by the fan-out).
    #[must_use]
    pub fn on(mut self, side: Side) -> Self {
        self.side = Some(side);
        self
    }
    /// The underlying cause.
    #[must_use]
    pub fn caused_by(mut self, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.source = Some(cause.into());
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The format concerned (`""` when none is).
    pub fn format(&self) -> &'static str {
        self.format
    }
    /// What is wrong, in words (without the field, offset or cause).
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The field concerned, if one is.
    pub fn field_name(&self) -> Option<&str> {
        self.field.as_deref()
    }
    /// The byte offset concerned, if one is.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }
    /// Which side of a conversion failed, once the fan-out has said.
    pub fn side(&self) -> Option<Side> {
        self.side
    }

    /// The I/O error behind an [`ErrorKind::Io`] failure.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source
            .as_deref()
            .and_then(|e| e.downcast_ref::<io::Error>())
    }

    /// The [`Error`] an `io::Error` carries, if it carries one.
    pub fn find(e: &io::Error) -> Option<&Error> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
    }

    /// `e` as an [`Error`]: the one it carries, or an I/O error around it.
    pub fn from_io(e: io::Error) -> Self {
        let bare = |cause: io::Error| Error {
            kind: ErrorKind::Io,
            format: "",
            message: Cow::Borrowed(""),
            field: None,
            offset: None,
            side: None,
            source: Some(Box::new(cause)),
        };
        if Self::find(&e).is_none() {
            return bare(e);
        }
        let kind = e.kind();
        match e.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(inner)) => *inner,
            Some(Err(other)) => bare(io::Error::new(kind, other)),
            None => bare(io::Error::from(kind)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if !self.format.is_empty() && self.kind != ErrorKind::Io {
            let vowel = self.format.starts_with(['A', 'E', 'I', 'O', 'U']);
            let (what, noun) = match self.kind {
                ErrorKind::InvalidFormat if vowel => ("not an ", " image"),
                ErrorKind::InvalidFormat => ("not a ", " image"),
                ErrorKind::Unsupported => ("unsupported ", " image"),
                ErrorKind::OutOfRange => ("invalid ", " option"),
                _ => ("corrupt ", " image"),
            };
            write!(f, "{what}{}{noun}", self.format)?;
            sep = ": ";
        }
        if !self.message.is_empty() {
            write!(f, "{sep}{}", self.message)?;
            sep = " ";
        }
        // The field is named unless the message already names it.
        let field = self.field.as_deref().filter(|n| !self.message.contains(n));
        match (field, self.offset) {
            (Some(field), Some(at)) => write!(f, "{sep}(field {field} at offset {at})")?,
            (Some(field), None) => write!(f, "{sep}(field {field})")?,
            (None, Some(at)) => write!(f, "{sep}(at offset {at})")?,
            (None, None) => {}
        }
        // An I/O error is what happened; the context above says where. It
        // is shown here and not again as a source, as io::Error does.
        if self.kind == ErrorKind::Io {
            if let Some(cause) = &self.source {
                let sep = if sep.is_empty() && self.message.is_empty() && self.offset.is_none() {
                    ""
                } else {
                    ": "
                };
                write!(f, "{sep}{cause}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("format", &self.format)
            .field("message", &self.message)
            .field("field", &self.field)
            .field("offset", &self.offset)
            .field("side", &self.side)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let cause = self
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))?;
        // An I/O cause is part of this error's text (see Display): what
        // follows is its own cause.
        if self.kind == ErrorKind::Io {
            cause.source()
        } else {
            Some(cause)
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::from_io(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        // A bare I/O error goes back to being itself.
        if e.kind == ErrorKind::Io
            && e.message.is_empty()
            && e.field.is_none()
            && e.offset.is_none()
            && e.side.is_none()
        {
            if let Some(src) = e.source {
                match src.downcast::<io::Error>() {
                    Ok(io) => return *io,
                    Err(other) => return io::Error::other(other),
                }
            }
        }
        let kind = match (&e.kind, e.source.as_deref()) {
            (ErrorKind::Io, Some(s)) => s
                .downcast_ref::<io::Error>()
                .map_or(io::ErrorKind::Other, io::Error::kind),
            (k, _) => k.io_kind(),
        };
        io::Error::new(kind, e)
    }
}

/// Every cause of `e`, outermost first, each printed once: a cause whose text
/// its outer error already shows is left out.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            if out.is_empty() {
                out = text;
            } else {
                out = format!("{out}: {text}");
            }
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_where_and_why_once() {
        let e = Error::corrupt("VHDX", "BAT entry 7 points past the end of the file")
            .field("FileOffsetMB")
            .at(3 << 20);
        assert_eq!(
            e.to_string(),
            "corrupt VHDX image: BAT entry 7 points past the end of the file (field FileOffsetMB at offset 3145728)"
        );
        let io = io::Error::new(io::ErrorKind::StorageFull, "No space left on device");
        let e = Error::io("qcow2", "writing the L2 table", io).at(65536);
        assert_eq!(
            e.to_string(),
            "writing the L2 table (at offset 65536): No space left on device"
        );
        assert_eq!(chain(&e), e.to_string());
        assert_eq!(
            e.io_error().map(io::Error::kind),
            Some(io::ErrorKind::StorageFull)
        );
    }

    #[test]
    fn travels_through_io_error() {
        let e = Error::unsupported("VMDK", "a delta disk").on(Side::Output(2));
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::Unsupported);
        let back = Error::find(&io).unwrap();
        assert_eq!(back.side(), Some(Side::Output(2)));
        assert_eq!(Error::from_io(io).kind(), ErrorKind::Unsupported);

        let plain = io::Error::new(io::ErrorKind::StorageFull, "full");
        let round: io::Error = Error::from_io(plain).into();
        assert_eq!(round.kind(), io::ErrorKind::StorageFull);
        assert!(Error::find(&round).is_none());
    }
}
