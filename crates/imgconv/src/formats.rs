//! The formats imgconv knows: how to detect and open each input, and how to
//! make a writer for each output.

use std::fs::File;
use std::path::Path;

use blocksink::{
    BlockSink, BuildStamp, Destination, DiskImage, FormatOptionSet, OptionSpec, OptionValues,
    ReadAt, ReaderSpec, WriterContext, WriterOptions, WriterSpec, PROBE_HEAD,
};

use crate::gpt_grow::GptGrow;
use crate::{Error, Result};

/// The writers outputs are made with, crate by crate, in the order `--help`
/// lists them. A new format is one more line here.
pub const WRITERS: &[&[WriterSpec]] = &[
    blocksink::WRITERS,
    vhd::WRITERS,
    vhdx::WRITERS,
    vmdk::WRITERS,
    ova_tar::WRITERS,
    qcow2::WRITERS,
];

/// The options of the output formats, crate by crate, in the order `--help`
/// lists them: a format with options is one more line here, and its
/// options are then flags of the command line and names
/// [`FormatValues`] takes.
pub const OPTIONS: &[&FormatOptionSet] = &[
    &qcow2::OPTIONS,
    &vhd::OPTIONS,
    &vhdx::OPTIONS,
    &vmdk::OPTIONS,
    &ova_tar::OPTIONS,
];

/// The values given to the output formats' options, by format and name,
/// as strings: what the command line's format flags collect, and how a
/// library user sets options without knowing each crate's types.
///
/// ```
/// use imgconv::{FormatOptions, FormatValues};
///
/// let mut values = FormatValues::new();
/// values.set("qcow2", "cluster-size", "1M")?;
/// values.assign("vhdx.vhdx-fixed")?;
/// values.assign("ova.cpus=4")?;
/// let options = FormatOptions::from_values(&values)?;
/// let qcow2: &qcow2::Qcow2Options = options.formats.get().unwrap();
/// assert_eq!(qcow2.cluster_size, 1 << 20);
/// values.check()?;
///
/// // A value is checked by its format when the options are made.
/// values.assign("qcow2.cluster-size=big")?;
/// let e = values.check().unwrap_err().to_string();
/// assert!(e.contains(r#"cluster-size "big": unknown size suffix"#), "{e}");
/// assert!(FormatOptions::from_values(&values).is_err());
/// # Ok::<(), imgconv::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct FormatValues {
    each: Vec<OptionValues>,
}

impl Default for FormatValues {
    fn default() -> Self {
        FormatValues::new()
    }
}

impl FormatValues {
    /// No values given: every format writes with its defaults.
    pub fn new() -> Self {
        FormatValues {
            each: OPTIONS.iter().map(|&set| OptionValues::new(set)).collect(),
        }
    }

    /// Every format's values, in the order of [`OPTIONS`].
    pub fn iter(&self) -> impl Iterator<Item = &OptionValues> {
        self.each.iter()
    }

    /// The values of `format`'s options, if it declares any.
    pub fn of(&self, format: &str) -> Option<&OptionValues> {
        self.each.iter().find(|v| v.options().format == format)
    }

    /// The option named `name` of any format (names are unique across
    /// formats, as flags are), and the format that declares it.
    pub fn find(name: &str) -> Option<(&'static FormatOptionSet, &'static OptionSpec)> {
        OPTIONS
            .iter()
            .find_map(|set| set.option(name).map(|spec| (*set, spec)))
    }

    fn values_mut(&mut self, format: &str) -> Result<&mut OptionValues> {
        self.each
            .iter_mut()
            .find(|v| v.options().format == format)
            .ok_or_else(|| {
                let names: Vec<&str> = OPTIONS.iter().map(|s| s.format).collect();
                Error::Usage(format!(
                    "no output format {format:?} has options; those that do: {}",
                    names.join(", ")
                ))
            })
    }

    /// Gives `format`'s option `name` the value `value` (checked when the
    /// options are made, [`FormatOptions::from_values`]).
    pub fn set(&mut self, format: &str, name: &str, value: &str) -> Result<&mut Self> {
        self.values_mut(format)?
            .set(name, value)
            .map_err(|e| Error::Usage(e.to_string()))?;
        Ok(self)
    }

    /// Gives `format`'s option `name` without a value: a flag on, an
    /// optional value its value when bare.
    pub fn set_bare(&mut self, format: &str, name: &str) -> Result<&mut Self> {
        self.values_mut(format)?
            .set_bare(name)
            .map_err(|e| Error::Usage(e.to_string()))?;
        Ok(self)
    }

    /// Whether each format accepts the values given for it: the error
    /// [`FormatOptions::set_values`] would give if not.
    pub fn check(&self) -> Result<()> {
        FormatOptions::apply(self, &mut WriterOptions::new())
    }

    /// Gives an option as `FORMAT.NAME=VALUE`, or `FORMAT.NAME` for one
    /// given bare (a flag).
    pub fn assign(&mut self, text: &str) -> Result<&mut Self> {
        let (key, value) = match text.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (text, None),
        };
        let Some((format, name)) = key.trim().split_once('.') else {
            return Err(Error::Usage(format!(
                "option {text:?}: expected FORMAT.NAME=VALUE (qcow2.cluster-size=64K)"
            )));
        };
        match value {
            Some(value) => self.set(format, name, value),
            None => self.set_bare(format, name),
        }
    }
}

/// A format imgconv writes: a handle on its writer's entry in [`WRITERS`].
/// Two handles are equal when they name the same writer.
#[derive(Clone, Copy)]
pub struct OutputFormat(&'static WriterSpec);

impl OutputFormat {
    /// The format `spec` writes.
    pub const fn of(spec: &'static WriterSpec) -> Self {
        OutputFormat(spec)
    }

    /// Every output format, in the order `--help` lists them.
    pub fn all() -> impl Iterator<Item = OutputFormat> + Clone {
        WRITERS.iter().flat_map(|w| w.iter()).map(OutputFormat)
    }

    /// The name `--to` takes.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Parses a `--to` name (or one of its aliases).
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        Self::all().find(|f| f.0.is_called(s)).ok_or_else(|| {
            let names: Vec<&str> = Self::all().map(OutputFormat::name).collect();
            Error::Usage(format!(
                "unknown output format {s:?}; known formats: {}",
                names.join(", ")
            ))
        })
    }

    /// The file name extension an output of this format gets.
    pub fn extension(self) -> &'static str {
        self.0.extension
    }

    /// What it writes, in one line.
    pub fn description(self) -> &'static str {
        self.0.description
    }

    /// Its writer's entry: capabilities and constructor.
    pub fn spec(self) -> &'static WriterSpec {
        self.0
    }
}

impl PartialEq for OutputFormat {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for OutputFormat {}

impl std::hash::Hash for OutputFormat {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl std::fmt::Debug for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OutputFormat").field(&self.name()).finish()
    }
}

impl std::fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for OutputFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl serde::Serialize for OutputFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Options of the output formats, as the command line sets them.
#[derive(Clone, Debug)]
pub struct FormatOptions {
    /// Each format's own options, one value per type, read by its writers
    /// only: `qcow2::Qcow2Options`, `vhd::VhdBlockSize`,
    /// `vhdx::FileParameters`, `vmdk::DiskDatabase`, `ova_tar::VmSettings`.
    /// A format with none set writes with its defaults. Set by name from
    /// the formats' declarations ([`OPTIONS`]) with
    /// [`from_values`](Self::from_values).
    pub formats: WriterOptions,
    /// When a format rounds the disk up (a fixed VHD to a whole MiB), move
    /// a GPT's backup to the new end.
    pub grow_gpt: bool,
    /// Timestamps and identifiers (from `SOURCE_DATE_EPOCH` by default).
    pub stamp: BuildStamp,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            formats: WriterOptions::new(),
            grow_gpt: true,
            stamp: BuildStamp::from_env(),
        }
    }
}

impl FormatOptions {
    /// The default options with every format's set from `values`
    /// ([`set_values`](Self::set_values)).
    pub fn from_values(values: &FormatValues) -> Result<Self> {
        let mut options = FormatOptions::default();
        options.set_values(values)?;
        Ok(options)
    }

    /// Sets every format's options from `values`, each format with none
    /// given to its declared defaults. A value a format does not accept is
    /// an error naming the option and the value.
    pub fn set_values(&mut self, values: &FormatValues) -> Result<()> {
        Self::apply(values, &mut self.formats)
    }

    fn apply(values: &FormatValues, options: &mut WriterOptions) -> Result<()> {
        for v in values.iter() {
            v.options()
                .apply_to(v, options)
                .map_err(|e| Error::Usage(e.to_string()))?;
        }
        Ok(())
    }

    /// Whether `format` can be written to a forward-only stream as these
    /// options configure it.
    pub fn streamable(&self, format: OutputFormat) -> bool {
        (format.spec().layout)(&self.formats).streams()
    }
}

/// Makes the writer of `format` into `dest`; `file_name` is what the output
/// calls itself, `companion` where its second file goes. A format that
/// rounds the disk up keeps a GPT valid unless the options say not to.
pub(crate) fn make_sink(
    format: OutputFormat,
    opts: &FormatOptions,
    dest: Destination,
    file_name: String,
    companion: Option<Destination>,
) -> Result<Box<dyn BlockSink>> {
    let spec = format.spec();
    let mut ctx = WriterContext::new(opts.stamp.clone(), file_name, &opts.formats);
    ctx.companion = companion;
    let sink = (spec.make)(dest, ctx).map_err(|e| Error::Usage(e.to_string()))?;
    Ok(match spec.grows_disk {
        Some(grown) if opts.grow_gpt => Box::new(GptGrow::new(sink, grown)),
        _ => sink,
    })
}

/// The format an input was detected as: the name its reader gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct InputFormat(&'static str);

impl InputFormat {
    /// An ISO 9660 image, whose bytes are read as a raw disk.
    pub const ISO: InputFormat = InputFormat("iso9660");
    /// A raw disk image.
    pub const RAW: InputFormat = InputFormat("raw");
    /// A disk assembled in memory from its parts (`imgconv build`).
    pub const BUILT: InputFormat = InputFormat("built");

    /// The name `info` prints.
    pub fn name(self) -> &'static str {
        self.0
    }
}

/// The readers inputs are tried with, in order: the first whose probe
/// recognizes the file opens it. A new format is one more line here.
pub const READERS: &[ReaderSpec] = &[
    qcow2::READER,
    ova_tar::READER,
    vmdk::READER,
    vhdx::READER,
    vhd::READER,
    iso9660::READER,
    blocksink::RAW,
];

/// An opened image: its format, its virtual disk, and what its headers say.
pub struct Image {
    /// The detected format.
    pub format: InputFormat,
    /// The virtual disk, with what its format knows about itself.
    pub source: Box<dyn DiskImage>,
    /// Format options read from the headers, as (name, value) pairs.
    pub details: Vec<(String, String)>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("format", &self.format)
            .field("size", &self.source.size())
            .field("details", &self.details)
            .finish()
    }
}

/// Opens `path`, detecting its format from its contents.
pub fn open_image(path: &Path) -> Result<Image> {
    // Checked before opening: opening a named pipe would wait for a writer.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() && !std::os::unix::fs::FileTypeExt::is_block_device(&meta.file_type()) {
        return Err(Error::Usage(format!(
            "{} is {}, not a disk image: the input must be a regular file or a block device",
            path.display(),
            crate::convert::describe_file_type(&meta)
        )));
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = ReadAt::size(&file).map_err(|e| Error::io(path, e))?;
    let mut head = vec![0u8; (len.min(PROBE_HEAD as u64)) as usize];
    ReadAt::read_exact_at(&file, &mut head, 0).map_err(|e| Error::io(path, e))?;
    let mut tail = Vec::new();
    if len >= 512 {
        tail.resize(512, 0);
        ReadAt::read_exact_at(&file, &mut tail, len - 512).map_err(|e| Error::io(path, e))?;
    }
    let reader = READERS
        .iter()
        .find(|r| (r.probe)(&head, &tail))
        .unwrap_or(&blocksink::RAW);
    let source = (reader.open)(path, file).map_err(|e| Error::image(path, e))?;
    let details = source.details();
    Ok(Image {
        format: InputFormat(reader.name),
        source,
        details,
    })
}
