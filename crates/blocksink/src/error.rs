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
//!
//! The stages above the format crates (the root filesystem stream, the
//! package and build stages) use the same type: the file and the member of
//! it an error concerns ([`Error::path`], [`Error::member`]) come first in
//! its text, and a stage's own error crosses another's code (a visitor
//! called by a walk, say) inside [`Error::wrap`], to be had back whole with
//! [`Error::downcast`].

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

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
    /// Another part's failure, carried whole as the source ([`Error::wrap`])
    /// and shown as its own text.
    Other,
    /// What was asked for cannot be done as asked: a configuration's field,
    /// a request the inputs do not meet, pieces that do not fit together.
    Invalid,
    /// A signature or digest does not vouch for what it covers, or there is
    /// nothing trusted to check it against.
    Untrusted,
    /// Requirements that nothing offered meets: packages, capabilities.
    Unresolved,
    /// A program or script that was run failed; its own error is the
    /// source and is part of the text.
    Failed,
}

impl ErrorKind {
    fn io_kind(self) -> io::ErrorKind {
        match self {
            ErrorKind::Io | ErrorKind::Other | ErrorKind::Failed | ErrorKind::Unresolved => {
                io::ErrorKind::Other
            }
            ErrorKind::InvalidFormat | ErrorKind::Corrupt | ErrorKind::Untrusted => {
                io::ErrorKind::InvalidData
            }
            ErrorKind::Unsupported => io::ErrorKind::Unsupported,
            ErrorKind::OutOfRange | ErrorKind::Invalid => io::ErrorKind::InvalidInput,
        }
    }

    /// Whether an error of this kind shows its cause as part of its own
    /// text (what happened is the cause's words), rather than as a cause
    /// after it.
    fn tells_cause(self) -> bool {
        matches!(self, ErrorKind::Io | ErrorKind::Other | ErrorKind::Failed)
    }

    /// Whether this is one of the kinds a format names itself in
    /// (`corrupt VHDX image: …`).
    fn of_a_format(self) -> bool {
        matches!(
            self,
            ErrorKind::InvalidFormat
                | ErrorKind::Unsupported
                | ErrorKind::Corrupt
                | ErrorKind::OutOfRange
        )
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
    offset: Option<u64>,
    side: Option<Side>,
    /// The field, file and member, boxed: most errors name none, and the
    /// error stays small.
    place: Option<Box<Place>>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Where in the input an error is: the field, the file and its member; and
/// the typed detail a program can act on.
#[derive(Debug, Default)]
struct Place {
    field: Option<Cow<'static, str>>,
    path: Option<PathBuf>,
    member: Option<String>,
    detail: Option<Detail>,
}

/// A typed detail of an error, for a program to branch on (which request
/// could not be done, whether keys were given): not part of its text.
struct Detail(Box<dyn std::any::Any + Send + Sync>);

impl fmt::Debug for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Detail(..)")
    }
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
            offset: None,
            side: None,
            place: None,
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

    /// An I/O failure on the file `path`: shown as `PATH: the system's
    /// words`.
    pub fn file(path: impl Into<PathBuf>, cause: io::Error) -> Self {
        Self::new(ErrorKind::Io, "", "").caused_by(cause).path(path)
    }

    /// A program or script that failed while `doing` something
    /// (`"making partition rootfs"`): shown as `DOING: CAUSE`, the cause
    /// (a [`crate::tool::ToolError`], say) kept for
    /// [`cause`](Self::cause).
    pub fn failed(
        doing: impl Into<Cow<'static, str>>,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::new(ErrorKind::Failed, "", doing).caused_by(cause)
    }

    /// `cause`, another part's error, carried whole: shown as its own text
    /// (after the path and member when they are set), and had back with
    /// [`downcast`](Self::downcast).
    pub fn wrap(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::new(ErrorKind::Other, "", "").caused_by(cause)
    }

    /// The error of type `T` a bare [`wrap`](Self::wrap) carries, or this
    /// error as it was.
    pub fn downcast<T: std::error::Error + 'static>(self) -> Result<T, Self> {
        let bare = self.kind == ErrorKind::Other
            && self.message.is_empty()
            && self.place.is_none()
            && self.offset.is_none()
            && self.side.is_none();
        if !bare || !self.source.as_deref().is_some_and(|s| s.is::<T>()) {
            return Err(self);
        }
        match self.source.map(|s| s.downcast::<T>()) {
            Some(Ok(inner)) => Ok(*inner),
            _ => unreachable!("checked above"),
        }
    }

    /// The file concerned: an archive, a configuration, a directory.
    #[must_use]
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.place.get_or_insert_default().path = Some(path.into());
        self
    }
    /// The member of that file concerned: an archive member, a tree's entry.
    #[must_use]
    pub fn member(mut self, member: impl Into<String>) -> Self {
        self.place.get_or_insert_default().member = Some(member.into());
        self
    }

    /// A typed detail for a program to act on, had back with
    /// [`detail`](Self::detail): a stage's own account of what went wrong
    /// beyond its words (which request, which packages).
    #[must_use]
    pub fn with_detail<T: std::any::Any + Send + Sync>(mut self, detail: T) -> Self {
        self.place.get_or_insert_default().detail = Some(Detail(Box::new(detail)));
        self
    }

    /// The detail of type `T` this error was given
    /// ([`with_detail`](Self::with_detail)), or failing that the one an
    /// error it carries was given.
    pub fn detail<T: std::any::Any>(&self) -> Option<&T> {
        let given = self
            .place
            .as_ref()
            .and_then(|p| p.detail.as_ref())
            .and_then(|d| d.0.downcast_ref::<T>());
        given.or_else(|| self.cause::<Error>()?.detail::<T>())
    }

    /// The cause of type `T` this error carries ([`caused_by`](Self::caused_by),
    /// [`wrap`](Self::wrap)): a tool's error, a parser's.
    pub fn cause<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.source.as_deref()?.downcast_ref::<T>()
    }

    /// The field concerned, as the format's specification names it.
    #[must_use]
    pub fn field(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.place.get_or_insert_default().field = Some(name.into());
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
        self.place.as_ref()?.field.as_deref()
    }
    /// The byte offset concerned, if one is.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }
    /// Which side of a conversion failed, once the fan-out has said.
    pub fn side(&self) -> Option<Side> {
        self.side
    }
    /// The file concerned, if one is named.
    pub fn file_path(&self) -> Option<&Path> {
        self.place.as_ref()?.path.as_deref()
    }
    /// The member of the file concerned, if one is named.
    pub fn member_name(&self) -> Option<&str> {
        self.place.as_ref()?.member.as_deref()
    }

    /// The error this one carries as its cause, as it was given
    /// ([`wrap`](Self::wrap), [`caused_by`](Self::caused_by)): for a
    /// program to look inside without taking it apart.
    pub fn carried(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
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
            offset: None,
            side: None,
            place: None,
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
        // Where first: the file, then the member of it.
        if let Some(path) = self.file_path() {
            write!(f, "{}", path.display())?;
            sep = ": ";
        }
        if let Some(member) = self.member_name() {
            write!(f, "{sep}{member}")?;
            sep = ": ";
        }
        // In a named file (a configuration) the field is where too; in a
        // format's bytes it follows what is wrong.
        let field_placed = self.file_path().is_some();
        if let Some(field) = self.field_name().filter(|_| field_placed) {
            write!(f, "{sep}{field}")?;
            sep = ": ";
        }
        let placed = !sep.is_empty();
        if !self.format.is_empty() && self.kind.of_a_format() {
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
        let field = self
            .field_name()
            .filter(|n| !field_placed && !self.message.contains(n));
        match (field, self.offset) {
            (Some(field), Some(at)) => write!(f, "{sep}(field {field} at offset {at})")?,
            (Some(field), None) => write!(f, "{sep}(field {field})")?,
            (None, Some(at)) => write!(f, "{sep}(at offset {at})")?,
            (None, None) => {}
        }
        // An I/O error is what happened; the context above says where. It
        // is shown here and not again as a source, as io::Error does; so is
        // a wrapped error and a failed program's own.
        if self.kind.tells_cause() {
            if let Some(cause) = &self.source {
                let sep = if !placed && self.message.is_empty() && self.offset.is_none() {
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
            .field("offset", &self.offset)
            .field("side", &self.side)
            .field("place", &self.place)
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
        // follows is its own cause. A wrapped one is shown too, but is the
        // source, so that a walk of the causes finds it ([`chain`] does not
        // repeat its text).
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
            && e.place.is_none()
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
    fn names_the_file_and_member_first() {
        let e = Error::corrupt("", "the archive is truncated")
            .path("/srv/root.tar")
            .member("usr/bin/sh");
        assert_eq!(
            e.to_string(),
            "/srv/root.tar: usr/bin/sh: the archive is truncated"
        );
        let io = io::Error::new(io::ErrorKind::NotFound, "No such file or directory");
        assert_eq!(
            Error::file("/x", io).to_string(),
            "/x: No such file or directory"
        );
    }

    #[test]
    fn a_wrapped_error_comes_back_whole() {
        let inner = Error::unsupported("VMDK", "a delta disk");
        let text = inner.to_string();
        let wrapped = Error::wrap(inner);
        assert_eq!(wrapped.to_string(), text);
        let back: Error = wrapped.downcast::<Error>().unwrap();
        assert_eq!(back.kind(), ErrorKind::Unsupported);
        let placed = Error::wrap(io::Error::other("boom")).path("repo");
        assert_eq!(placed.to_string(), "repo: boom");
        assert!(placed.downcast::<io::Error>().is_err());
    }

    #[test]
    fn a_detail_is_for_programs_and_a_failed_program_speaks_for_itself() {
        #[derive(Debug, PartialEq)]
        enum Which {
            NoDisk,
        }
        let e = Error::new(
            ErrorKind::Invalid,
            "",
            "the configuration has no partitions",
        )
        .path("image.json")
        .field("Disks")
        .with_detail(Which::NoDisk);
        assert_eq!(
            e.to_string(),
            "image.json: Disks: the configuration has no partitions"
        );
        assert_eq!(e.detail::<Which>(), Some(&Which::NoDisk));
        assert_eq!(e.detail::<u32>(), None);
        // Found again inside an error that carries it.
        let outer = Error::wrap(e).member("etc/motd");
        assert_eq!(outer.detail::<Which>(), Some(&Which::NoDisk));

        let failed = Error::new(ErrorKind::Failed, "", "making partition rootfs")
            .caused_by(io::Error::other("mke2fs exited with status 1"));
        assert_eq!(
            failed.to_string(),
            "making partition rootfs: mke2fs exited with status 1"
        );
        assert_eq!(chain(&failed), failed.to_string());
        assert!(failed.cause::<io::Error>().is_some());
        // Kinds of no format never say "image".
        let named = Error::new(ErrorKind::Untrusted, "RPM", "no trusted keys");
        assert_eq!(named.to_string(), "no trusted keys");
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
