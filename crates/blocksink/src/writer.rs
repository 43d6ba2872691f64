//! What a format crate offers a program that writes images of any format:
//! a name for each of its writers, what the writer can do, and a
//! constructor. A program keeps a list of [`WriterSpec`]s and walks it by
//! name, as it walks [`ReaderSpec`](crate::ReaderSpec)s to open images;
//! adding a format is one more entry.
//!
//! Options reach writers through [`WriterOptions`], a map keyed by type:
//! each format crate defines the plain struct its writers read (qcow2's
//! `Qcow2Options`, a VMDK's disk database), the program sets the ones it
//! has values for, and a writer looks up only its own, falling back to its
//! defaults. This crate knows no format's options.
//!
//! A program learns which options there are from each format crate's
//! [`FormatOptionSet`]: a list of [`OptionSpec`]s (name, help, default —
//! what qemu's block drivers declare as their `create_opts`) and the
//! function that turns the values given by name ([`OptionValues`]) into
//! that crate's plain struct in the [`WriterOptions`]. A command line makes
//! its flags from the declarations, and a library user sets options by
//! name, without either knowing any format's options.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{BlockSink, BuildStamp, Destination, Error, RawSink, Result};

/// How a writer lays out its file, which decides where it can go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Front to back as the data arrives: streams to a pipe.
    Forward,
    /// Front to back once it knows exactly which blocks hold data, because
    /// its tables come before the data: streams to a pipe after the
    /// fan-out's scanning pass (the sink says
    /// [`wants_exact_plan`](BlockSink::wants_exact_plan) on a stream).
    ForwardAfterScan,
    /// Goes back to fill in tables: needs a seekable file, and reaches a
    /// pipe only through a temporary copy ([`Destination::seekable`]).
    Seeks,
}

impl Layout {
    /// Whether the writer streams to a pipe without a temporary copy.
    pub fn streams(self) -> bool {
        self != Layout::Seeks
    }
}

/// How a format crate offers one of its writers to a program that writes
/// any format: `imgconv --to NAME`.
#[derive(Clone, Copy, Debug)]
pub struct WriterSpec {
    /// The name a program selects it by (`"vmdk-stream"`): lowercase,
    /// unique among every format's writers.
    pub name: &'static str,
    /// Other names accepted for it (qemu-img's, say).
    pub aliases: &'static [&'static str],
    /// The file name extension an output gets, without the leading dot
    /// (`"stream.vmdk"`), unique too so outputs of one disk never clash.
    pub extension: &'static str,
    /// What it writes and what for, in one line.
    pub description: &'static str,
    /// How the writer lays out its file under `options`.
    pub layout: fn(options: &WriterOptions) -> Layout,
    /// The second file it writes beside the main one at `path`, if it
    /// writes one (a monolithicFlat VMDK's data); the constructor then gets
    /// it as [`WriterContext::companion`].
    pub companion: Option<fn(path: &Path) -> PathBuf>,
    /// The virtual size it gives a disk of `size` bytes, when it rounds the
    /// disk up (a fixed VHD for Azure): a program may then move a GPT's
    /// backup table to the new end.
    pub grows_disk: Option<fn(size: u64) -> u64>,
    /// Makes the writer into `dest`.
    pub make: fn(dest: Destination, ctx: WriterContext<'_>) -> Result<Box<dyn BlockSink>>,
}

impl WriterSpec {
    /// Whether `name` is this writer's name or one of its aliases.
    pub fn is_called(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }

    /// The second file written beside `path`, if any.
    pub fn companion_path(&self, path: &Path) -> Option<PathBuf> {
        self.companion.map(|f| f(path))
    }
}

/// What a writer may need besides the destination of its bytes.
#[derive(Debug)]
#[non_exhaustive]
pub struct WriterContext<'a> {
    /// Timestamps and identifiers to write.
    pub stamp: BuildStamp,
    /// The file name the output calls itself by (a VMDK descriptor names
    /// its extent, an OVA its virtual machine); for standard output, a
    /// made-up `disk.<extension>`.
    pub file_name: String,
    /// Where the second file goes, for a writer whose spec has a
    /// [`companion`](WriterSpec::companion).
    pub companion: Option<Destination>,
    /// Every format's options; a writer reads its own.
    pub options: &'a WriterOptions,
}

impl<'a> WriterContext<'a> {
    /// A context for an output named `file_name`, with no companion.
    pub fn new(
        stamp: BuildStamp,
        file_name: impl Into<String>,
        options: &'a WriterOptions,
    ) -> Self {
        WriterContext {
            stamp,
            file_name: file_name.into(),
            companion: None,
            options,
        }
    }

    /// The same with the companion file's destination.
    #[must_use]
    pub fn with_companion(mut self, companion: Destination) -> Self {
        self.companion = Some(companion);
        self
    }
}

/// The options of every format, one value per type: a format crate defines
/// a plain struct for its writers' options and looks it up with
/// [`get`](Self::get); absent, the writer uses its defaults.
#[derive(Clone, Default)]
pub struct WriterOptions {
    entries: Vec<Entry>,
}

#[derive(Clone)]
struct Entry {
    type_id: TypeId,
    type_name: &'static str,
    value: Arc<dyn Any + Send + Sync>,
}

impl WriterOptions {
    /// No options: every writer uses its defaults.
    pub fn new() -> Self {
        WriterOptions::default()
    }

    /// Sets the options of type `T`, replacing any set before.
    pub fn set<T: Any + Send + Sync>(&mut self, value: T) -> &mut Self {
        let entry = Entry {
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
            value: Arc::new(value),
        };
        match self.entries.iter_mut().find(|e| e.type_id == entry.type_id) {
            Some(e) => *e = entry,
            None => self.entries.push(entry),
        }
        self
    }

    /// The same with the options of type `T` set.
    #[must_use]
    pub fn with<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.set(value);
        self
    }

    /// The options of type `T`, if set.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.entries
            .iter()
            .find(|e| e.type_id == TypeId::of::<T>())
            .and_then(|e| e.value.downcast_ref())
    }
}

impl fmt::Debug for WriterOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.entries.iter().map(|e| e.type_name))
            .finish()
    }
}

/// How an option takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionKind {
    /// On or off, given bare (`--vhdx-fixed`); off unless given. By name
    /// it takes `on`/`off` (also `true`/`false`, `yes`/`no`, `1`/`0`).
    Flag,
    /// Always with a value (`--cluster-size 64K`).
    Value,
    /// With a value or bare (`-c`, `-c zstd`): given bare, its value is
    /// `when_bare`.
    OptionalValue {
        /// The value of the option given without one.
        when_bare: &'static str,
    },
}

/// One option of a format's writers, as its crate declares it: what
/// qemu's block drivers declare in their `create_opts` (name, type,
/// default, help). A program makes its flags from these (`--NAME`, `-SHORT`)
/// and shows `help`; the values reach the crate's
/// [`apply`](FormatOptionSet::apply) by name, as strings.
///
/// Adding an option to a format touches only that format's crate: one more
/// `OptionSpec` in its [`FormatOptionSet::options`], and its `apply`
/// reading the value into the crate's own options struct. Programs (the
/// `imgconv` command line, a library user setting options by name) pick it
/// up from the declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionSpec {
    /// The option's name, which is also its long flag (`"cluster-size"`
    /// for `--cluster-size`): lowercase words joined by `-`, unique among
    /// every format's options.
    pub name: &'static str,
    /// Its one-letter flag, if it has one (`Some('c')` for `-c`).
    pub short: Option<char>,
    /// What its value is called in help (`"ALGO"`, `"CLUSTER_SIZE"`);
    /// unused for a [`OptionKind::Flag`].
    pub value_name: &'static str,
    /// What it does, in one line without a closing period, starting with
    /// the format it is for (`"qcow2: cluster size (512 to 2M; default 64K)"`).
    pub help: &'static str,
    /// The value it has when not given, shown in help; `None` when not
    /// giving it means something of its own (the writer's default, or
    /// nothing to do).
    pub default: Option<&'static str>,
    /// Whether it takes a value.
    pub kind: OptionKind,
}

impl OptionSpec {
    /// An option `name` that takes a value called `value_name`, with no
    /// default.
    pub const fn value(name: &'static str, value_name: &'static str, help: &'static str) -> Self {
        OptionSpec {
            name,
            short: None,
            value_name,
            help,
            default: None,
            kind: OptionKind::Value,
        }
    }

    /// A flag `name`, off unless given.
    pub const fn flag(name: &'static str, help: &'static str) -> Self {
        OptionSpec {
            name,
            short: None,
            value_name: "",
            help,
            default: None,
            kind: OptionKind::Flag,
        }
    }

    /// The same with the default `value`.
    #[must_use]
    pub const fn default(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }

    /// The same with the one-letter flag `short`.
    #[must_use]
    pub const fn short(mut self, short: char) -> Self {
        self.short = Some(short);
        self
    }

    /// The same taking its value optionally: given bare, it is `when_bare`.
    #[must_use]
    pub const fn optional_value(mut self, when_bare: &'static str) -> Self {
        self.kind = OptionKind::OptionalValue { when_bare };
        self
    }
}

/// A format crate's writer options, declared for a program that writes any
/// format: exported beside its [`WriterSpec`]s (`qcow2::OPTIONS` next to
/// `qcow2::WRITERS`), listed by the program next to them.
///
/// ```
/// use blocksink::{FormatOptionSet, OptionSpec, OptionValues, WriterOptions};
///
/// /// What this crate's writers read from the WriterOptions.
/// #[derive(Clone, Copy, Debug, Default, PartialEq)]
/// struct Geometry { sectors: Option<u32>, fixed: bool }
///
/// const OPTIONS: FormatOptionSet = FormatOptionSet {
///     format: "demo",
///     options: &[
///         OptionSpec::value("demo-sectors", "SECTORS", "demo: sectors per track"),
///         OptionSpec::flag("demo-fixed", "demo: allocate every block"),
///     ],
///     apply: |values, options| {
///         options.set(Geometry {
///             sectors: values.u32("demo-sectors")?,
///             fixed: values.flag("demo-fixed")?,
///         });
///         Ok(())
///     },
/// };
///
/// let mut values = OptionValues::new(&OPTIONS);
/// values.set("demo-sectors", "63")?.set_bare("demo-fixed")?;
/// let mut options = WriterOptions::new();
/// OPTIONS.apply_to(&values, &mut options)?;
/// assert_eq!(options.get(), Some(&Geometry { sectors: Some(63), fixed: true }));
///
/// values.set("demo-sectors", "many")?;
/// let e = OPTIONS.apply_to(&values, &mut options).unwrap_err();
/// assert_eq!(e.to_string(), r#"invalid demo option: demo-sectors "many": invalid digit found in string"#);
/// # Ok::<(), blocksink::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FormatOptionSet {
    /// The format's name in `FORMAT.NAME` and in messages (`"qcow2"`).
    pub format: &'static str,
    /// Its options, in the order help lists them.
    pub options: &'static [OptionSpec],
    /// Sets the crate's options in `options` from `values`, each option
    /// the value given, else its declared default (a crate may leave its
    /// struct unset when nothing is given, if its writers fall back to the
    /// same). A value out of range is an error from
    /// [`OptionValues::invalid`] or one of the typed getters, naming the
    /// option and the value.
    pub apply: fn(values: &OptionValues, options: &mut WriterOptions) -> Result<()>,
}

impl FormatOptionSet {
    /// The option called `name`, if this set declares it.
    pub fn option(&self, name: &str) -> Option<&'static OptionSpec> {
        self.options.iter().find(|o| o.name == name)
    }

    /// Sets this format's options in `options` from `values`, which must
    /// be values of this set.
    pub fn apply_to(
        &'static self,
        values: &OptionValues,
        options: &mut WriterOptions,
    ) -> Result<()> {
        if values.set.format != self.format {
            return Err(Error::out_of_range(
                self.format,
                format!(
                    "values of {} options given to {}",
                    values.set.format, self.format
                ),
            ));
        }
        (self.apply)(values, options)
    }

    /// Whether `value` is one option `name` can take, the others left at
    /// their defaults: the error [`apply_to`](Self::apply_to) would give
    /// if not.
    pub fn check(&'static self, name: &str, value: &str) -> Result<()> {
        let mut values = OptionValues::new(self);
        values.set(name, value)?;
        self.apply_to(&values, &mut WriterOptions::new())
    }
}

/// The values given to one format's options, by name, as strings; what
/// [`FormatOptionSet::apply`] reads through the typed getters, each of
/// which falls back to the option's declared default.
///
/// A getter's error names the option and the value
/// (`cluster-size "4X": unknown size suffix "x"`), with the field set to
/// the option's name and, as its [`source`](std::error::Error::source),
/// the reason alone (for a program that names the option itself, as a
/// command line does).
#[derive(Clone, Debug)]
pub struct OptionValues {
    set: &'static FormatOptionSet,
    given: Vec<(&'static OptionSpec, String)>,
}

impl OptionValues {
    /// No values given for the options of `set`.
    pub fn new(set: &'static FormatOptionSet) -> Self {
        OptionValues {
            set,
            given: Vec::new(),
        }
    }

    /// The options these are values of.
    pub fn options(&self) -> &'static FormatOptionSet {
        self.set
    }

    /// The values given, in the order given, by option.
    pub fn given(&self) -> impl Iterator<Item = (&'static OptionSpec, &str)> + '_ {
        self.given.iter().map(|(o, v)| (*o, v.as_str()))
    }

    /// Whether no value was given.
    pub fn is_empty(&self) -> bool {
        self.given.is_empty()
    }

    fn spec(&self, name: &str) -> Result<&'static OptionSpec> {
        self.set.option(name).ok_or_else(|| {
            let names: Vec<&str> = self.set.options.iter().map(|o| o.name).collect();
            Error::out_of_range(
                self.set.format,
                format!(
                    "no option {name:?}; {} options: {}",
                    self.set.format,
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            )
            .field(name.to_string())
        })
    }

    /// Gives option `name` the value `value`, replacing one given before.
    /// An option the set does not declare is an error listing those it
    /// does; the value itself is checked when the set applies it.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> Result<&mut Self> {
        let spec = self.spec(name)?;
        let value = value.into();
        match self.given.iter_mut().find(|(o, _)| o.name == spec.name) {
            Some(slot) => slot.1 = value,
            None => self.given.push((spec, value)),
        }
        Ok(self)
    }

    /// Gives option `name` without a value: a flag on, an optional value
    /// its `when_bare`; an option that needs a value is an error.
    pub fn set_bare(&mut self, name: &str) -> Result<&mut Self> {
        let spec = self.spec(name)?;
        match spec.kind {
            OptionKind::Flag => self.set(name, "on"),
            OptionKind::OptionalValue { when_bare } => self.set(name, when_bare),
            OptionKind::Value => Err(Error::out_of_range(
                self.set.format,
                format!("{name} needs a value"),
            )
            .field(spec.name)),
        }
    }

    /// Whether a value was given for `name`.
    pub fn is_given(&self, name: &str) -> bool {
        self.given.iter().any(|(o, _)| o.name == name)
    }

    /// The value of `name`: the one given, else its declared default.
    /// `None` for an option given no value and declaring no default, and
    /// for a name the set does not declare.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.given
            .iter()
            .find(|(o, _)| o.name == name)
            .map(|(_, v)| v.as_str())
            .or_else(|| self.set.option(name).and_then(|o| o.default))
    }

    /// [`get`](Self::get) as an owned string.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    /// The error for option `name` whose value (the one [`get`](Self::get)
    /// gives) is unacceptable, `why` saying why: it names the option and
    /// the value.
    pub fn invalid(&self, name: &str, why: impl Into<Cow<'static, str>>) -> Error {
        let why = why.into();
        let message = match self.get(name) {
            Some(value) => format!("{name} {value:?}: {why}"),
            None => format!("{name}: {why}"),
        };
        Error::out_of_range(self.set.format, message)
            .field(name.to_string())
            .caused_by(why.into_owned())
    }

    /// The value of `name` parsed by `parse`, whose error says why it is
    /// not one; an option the set does not declare is an error.
    pub fn parse<T, E>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.spec(name)?;
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        parse(value).map(Some).map_err(|e| {
            let e = e.into();
            Error::out_of_range(self.set.format, format!("{name} {value:?}: {e}"))
                .field(name.to_string())
                .caused_by(e)
        })
    }

    /// A size in bytes: a number with an optional suffix `K`, `M`, `G` or
    /// `T` (powers of 1024; `KiB`, `kb`, `B` read the same).
    pub fn size(&self, name: &str) -> Result<Option<u64>> {
        self.parse(name, parse_size)
    }

    /// An unsigned 32-bit number.
    pub fn u32(&self, name: &str) -> Result<Option<u32>> {
        self.parse(name, |v| v.parse::<u32>())
    }

    /// An unsigned 64-bit number.
    pub fn u64(&self, name: &str) -> Result<Option<u64>> {
        self.parse(name, |v| v.parse::<u64>())
    }

    /// A signed 32-bit number.
    pub fn i32(&self, name: &str) -> Result<Option<i32>> {
        self.parse(name, |v| v.parse::<i32>())
    }

    /// Whether flag `name` is on: given bare or as `on`, `true`, `yes` or
    /// `1`; off when given as `off`, `false`, `no` or `0`, and when not
    /// given (unless its declared default says on).
    pub fn flag(&self, name: &str) -> Result<bool> {
        Ok(self
            .parse(name, |v| match v.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => Ok(true),
                "off" | "false" | "no" | "0" => Ok(false),
                _ => Err("use on or off"),
            })?
            .unwrap_or(false))
    }
}

/// A size with an optional binary suffix: `512`, `64K`, `2M`, `1GiB`.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let m = match s[i..].to_ascii_lowercase().trim_end_matches(['b', 'i']) {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                "t" => 1 << 40,
                other => return Err(format!("unknown size suffix {other:?}")),
            };
            (&s[..i], m)
        }
        None => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("invalid size {s:?}"))
}

/// Raw images: the disk's bytes, sparse where it is zero (on a stream,
/// zeros are written).
pub const RAW_WRITER: WriterSpec = WriterSpec {
    name: "raw",
    aliases: &[],
    extension: "raw",
    description: "raw disk image (sparse where the disk is zero)",
    layout: |_| Layout::Forward,
    companion: None,
    grows_disk: None,
    make: |dest, _| Ok(Box::new(RawSink::new(dest))),
};

/// This crate's writers: raw.
pub const WRITERS: &[WriterSpec] = &[RAW_WRITER];

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct ClusterSize(u32);
    #[derive(Debug, PartialEq)]
    struct Fixed(bool);

    #[test]
    fn options_are_found_by_type_and_replaced() {
        let mut o = WriterOptions::new().with(ClusterSize(4096));
        assert_eq!(o.get::<ClusterSize>(), Some(&ClusterSize(4096)));
        assert_eq!(o.get::<Fixed>(), None);
        o.set(Fixed(true)).set(ClusterSize(512));
        assert_eq!(o.get::<ClusterSize>(), Some(&ClusterSize(512)));
        assert_eq!(o.get::<Fixed>(), Some(&Fixed(true)));
        assert_eq!(format!("{o:?}").matches("ClusterSize").count(), 1);
    }

    const SET: FormatOptionSet = FormatOptionSet {
        format: "test",
        options: &[
            OptionSpec::value("cluster-size", "CLUSTER_SIZE", "test: cluster size"),
            OptionSpec::value("compress", "ALGO", "test: compress")
                .short('c')
                .optional_value("deflate"),
            OptionSpec::value("hw-version", "HW_VERSION", "test: version").default("4"),
            OptionSpec::flag("fixed", "test: fixed"),
        ],
        apply: |v, o| {
            if let Some(cs) = v.size("cluster-size")? {
                let cs = u32::try_from(cs)
                    .map_err(|_| v.invalid("cluster-size", format!("{cs} is too large")))?;
                o.set(ClusterSize(cs));
            }
            o.set(Fixed(v.flag("fixed")?));
            v.u32("hw-version")?;
            Ok(())
        },
    };

    #[test]
    fn sizes_take_binary_suffixes() {
        for (text, want) in [
            ("512", 512),
            ("64K", 64 << 10),
            ("64k", 64 << 10),
            (" 2M ", 2 << 20),
            ("1GiB", 1 << 30),
            ("1kb", 1024),
            ("3B", 3),
            ("1T", 1 << 40),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        assert_eq!(parse_size("4X"), Err("unknown size suffix \"x\"".into()));
        assert_eq!(parse_size("abc"), Err("unknown size suffix \"abc\"".into()));
        assert_eq!(parse_size(""), Err("invalid size \"\"".into()));
        assert_eq!(parse_size("-1"), Err("invalid size \"-1\"".into()));
        assert!(parse_size("99999999T").is_err());
    }

    #[test]
    fn values_fall_back_to_defaults_and_are_replaced() {
        let mut v = OptionValues::new(&SET);
        assert!(v.is_empty());
        assert_eq!(v.get("hw-version"), Some("4"));
        assert_eq!(v.get("cluster-size"), None);
        assert_eq!(v.get("nothing"), None);
        assert_eq!(v.size("cluster-size").unwrap(), None);
        assert!(!v.flag("fixed").unwrap());
        v.set("cluster-size", "4K")
            .unwrap()
            .set("cluster-size", "8K")
            .unwrap();
        v.set_bare("compress").unwrap().set_bare("fixed").unwrap();
        assert_eq!(v.size("cluster-size").unwrap(), Some(8192));
        assert_eq!(v.get("compress"), Some("deflate"));
        assert!(v.flag("fixed").unwrap());
        assert!(v.is_given("fixed") && !v.is_given("hw-version"));
        assert_eq!(v.given().count(), 3);
        v.set("fixed", "off").unwrap();
        assert!(!v.flag("fixed").unwrap());
        let mut o = WriterOptions::new();
        SET.apply_to(&v, &mut o).unwrap();
        assert_eq!(o.get::<ClusterSize>(), Some(&ClusterSize(8192)));
        assert_eq!(o.get::<Fixed>(), Some(&Fixed(false)));
    }

    #[test]
    fn bad_values_name_the_option_and_the_value() {
        let mut v = OptionValues::new(&SET);
        let e = v.set("cluster-sise", "4K").unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::OutOfRange);
        assert!(
            e.to_string()
                .contains("no option \"cluster-sise\"; test options: cluster-size, compress"),
            "{e}"
        );
        let e = v.set_bare("cluster-size").unwrap_err();
        assert!(e.to_string().contains("cluster-size needs a value"), "{e}");

        let e = SET.check("cluster-size", "4X").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid test option: cluster-size \"4X\": unknown size suffix \"x\""
        );
        assert_eq!(e.field_name(), Some("cluster-size"));
        let why = std::error::Error::source(&e).unwrap().to_string();
        assert_eq!(why, "unknown size suffix \"x\"");

        let e = SET.check("cluster-size", "8G").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid test option: cluster-size \"8G\": 8589934592 is too large"
        );
        let e = SET.check("hw-version", "x").unwrap_err();
        assert_eq!(
            std::error::Error::source(&e).unwrap().to_string(),
            "invalid digit found in string"
        );
        let e = SET.check("fixed", "maybe").unwrap_err();
        assert!(
            e.to_string().contains("fixed \"maybe\": use on or off"),
            "{e}"
        );
        SET.check("fixed", "yes").unwrap();
        SET.check("cluster-size", "64K").unwrap();
        assert_eq!(SET.option("compress").unwrap().short, Some('c'));
    }
}
