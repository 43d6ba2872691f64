//! One pass from an input image to many outputs.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use blocksink::{BlockSink, BlockSource, Destination, PendingFile, Side};

use crate::formats::make_sink;
use crate::{open_image, Error, FormatOptions, InputFormat, OutputFormat, Result};

/// Where an output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputTarget {
    /// A file, written beside its final name and renamed when complete.
    Path(PathBuf),
    /// Standard output, which may be a pipe: nothing is sought.
    Stdout,
}

/// One output of a conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// Its format.
    pub format: OutputFormat,
    /// Where it goes.
    pub target: OutputTarget,
}

/// A conversion: one input, any number of outputs, written in one pass.
#[derive(Clone, Debug)]
pub struct ConvertJob {
    /// The input image (raw or any format imgconv reads).
    pub input: PathBuf,
    /// The outputs.
    pub outputs: Vec<OutputSpec>,
    /// Options of the output formats.
    pub options: FormatOptions,
}

/// What a conversion wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ConvertReport {
    /// The input image.
    pub input: PathBuf,
    /// Its detected format.
    pub input_format: InputFormat,
    /// Virtual size of the disk.
    pub virtual_size: u64,
    /// Bytes read from the input.
    pub read_bytes: u64,
    /// Non-zero bytes written to each output.
    pub data_bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The outputs, in the order asked for.
    pub outputs: Vec<OutputReport>,
}

/// One written output.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OutputReport {
    /// Its format.
    pub format: OutputFormat,
    /// Its path, or `None` for standard output.
    pub path: Option<PathBuf>,
    /// Its length in bytes.
    pub bytes: u64,
    /// Something the user should know about it (a GPT that was moved).
    pub note: Option<String>,
}

/// The default name of an output: `<stem>.<ext>` beside the input, or in
/// `dir` when given.
pub fn default_output_path(input: &Path, format: OutputFormat, dir: Option<&Path>) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "disk".into());
    let name = format!("{stem}.{}", format.extension());
    match dir {
        Some(d) => d.join(name),
        None => input.with_file_name(name),
    }
}

/// The name an output calls itself by (a VMDK's descriptor names its extent).
fn extent_name(o: &OutputSpec) -> String {
    match &o.target {
        OutputTarget::Path(p) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "disk.vmdk".into()),
        OutputTarget::Stdout => format!("disk.{}", o.format.extension()),
    }
}

/// Whether two paths name the same file (or would, once created).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return ma.dev() == mb.dev() && ma.ino() == mb.ino();
    }
    let canon = |p: &Path| -> Option<PathBuf> {
        let parent = match p.parent() {
            Some(q) if !q.as_os_str().is_empty() => q,
            _ => Path::new("."),
        };
        Some(std::fs::canonicalize(parent).ok()?.join(p.file_name()?))
    };
    canon(a).is_some() && canon(a) == canon(b)
}

/// An output may replace a regular file, but never a directory, a device
/// or a pipe (renaming over `/dev/null` would replace the device node):
/// checked for every output before anything is written.
fn check_final_name(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() || m.file_type().is_symlink() && path.is_file() => Ok(()),
        Ok(m) => Err(Error::Usage(format!(
            "output {} exists and is {}; an output may only replace a regular file{}",
            path.display(),
            describe_file_type(&m),
            if m.is_dir() {
                ""
            } else {
                " (use -o - to write to a pipe or device)"
            }
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// What kind of file `m` describes, in words.
pub(crate) fn describe_file_type(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

/// Checks every output's name before anything is written: none is an
/// input (any of `inputs`), a directory or device, or another output's.
/// [`convert`] and [`convert_disk`] check so themselves; a caller with work
/// to do before it converts checks first, to fail before that work.
pub fn check_outputs(outputs: &[OutputSpec], inputs: &[&Path]) -> Result<()> {
    if outputs.is_empty() {
        return Err(Error::Usage("no output format given (--to)".into()));
    }
    let mut stdout_seen = false;
    let is_input = |p: &Path| inputs.iter().any(|i| same_file(p, i));
    for (i, o) in outputs.iter().enumerate() {
        match &o.target {
            OutputTarget::Stdout if o.format.spec().companion.is_some() => {
                return Err(Error::Usage(format!(
                    "{} writes two files and cannot go to standard output",
                    o.format.name()
                )));
            }
            OutputTarget::Stdout => {
                if stdout_seen {
                    return Err(Error::Usage(
                        "only one output can go to standard output".into(),
                    ));
                }
                stdout_seen = true;
            }
            OutputTarget::Path(p) => {
                for name in std::iter::once(p.clone()).chain(o.format.spec().companion_path(p)) {
                    check_final_name(&name)?;
                }
                if let Some(cp) = o.format.spec().companion_path(p) {
                    if is_input(&cp) {
                        return Err(Error::Usage(format!(
                            "output {} is the input file; refusing to overwrite the input",
                            cp.display()
                        )));
                    }
                }
                if is_input(p) {
                    return Err(Error::Usage(format!(
                        "output {} is the input file; refusing to overwrite the input",
                        p.display()
                    )));
                }
                for earlier in &outputs[..i] {
                    if let OutputTarget::Path(q) = &earlier.target {
                        if q == p || same_file(p, q) {
                            return Err(Error::Usage(format!(
                                "outputs {} and {} would both be written to {}; name them apart with -o or --output-dir",
                                earlier.format.name(),
                                o.format.name(),
                                p.display()
                            )));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// An error writing to standard output; a closed pipe is said plainly.
fn stdout_error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Error::io(
            "standard output",
            io::Error::new(
                e.kind(),
                "closed by its reader before the image was complete",
            ),
        )
    } else {
        Error::io("standard output", e)
    }
}

/// Where one output's bytes are being put until the conversion succeeds.
enum Staging {
    /// A temporary file beside the target.
    Pending(PendingFile),
    /// Standard output (through a spool when the format must seek).
    Stdout,
}

/// Runs `job`: reads the input once and writes every output. On any error
/// no output file is left behind. `progress` gets (done, total) bytes.
pub fn convert(job: &ConvertJob, progress: &mut dyn FnMut(u64, u64)) -> Result<ConvertReport> {
    let start = Instant::now();
    check_outputs(&job.outputs, &[&job.input])?;
    let input = &job.input;
    let mut image = open_image(input)?;
    let mut options = job.options.clone();
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    options.stamp = options
        .stamp
        .mixed_with(format!("{name}\0{}", image.source.size()));
    write_outputs(
        &mut image.source,
        input,
        image.format,
        &job.outputs,
        &options,
        start,
        progress,
    )
}

/// Writes a disk that is already open — one [`imgbuild`](https://docs.rs/diskimg-build)
/// assembled, say — to every output in one pass. `name` stands for the disk
/// in errors and the report; no output may replace any of `inputs` (the
/// files the disk was made from). The identifiers written come from
/// `options.stamp` as given.
pub fn convert_disk(
    disk: &mut dyn BlockSource,
    name: &Path,
    inputs: &[&Path],
    outputs: &[OutputSpec],
    options: &FormatOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ConvertReport> {
    let start = Instant::now();
    check_outputs(outputs, inputs)?;
    write_outputs(
        disk,
        name,
        InputFormat::BUILT,
        outputs,
        options,
        start,
        progress,
    )
}

fn write_outputs(
    source: &mut dyn BlockSource,
    input: &Path,
    input_format: InputFormat,
    outputs: &[OutputSpec],
    options: &FormatOptions,
    start: Instant,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ConvertReport> {
    let job_outputs = outputs;
    let mut staging = Vec::with_capacity(job_outputs.len());
    let mut companions: Vec<PendingFile> = Vec::new();
    let mut sinks: Vec<Box<dyn BlockSink>> = Vec::with_capacity(job_outputs.len());
    // What each sink is called in errors.
    let mut labels: Vec<PathBuf> = Vec::with_capacity(job_outputs.len());
    for o in job_outputs {
        let (stage, dest, label) = match &o.target {
            OutputTarget::Path(p) => {
                let pending = PendingFile::create(p).map_err(|e| Error::io(p, e))?;
                let file = pending.file().map_err(|e| Error::io(p, e))?;
                (
                    Staging::Pending(pending),
                    Destination::file(file),
                    p.clone(),
                )
            }
            OutputTarget::Stdout => {
                let dest = Destination::stream(io::stdout());
                // A format that must go back is spooled and copied out when
                // it finishes, before any file of the run is placed.
                let dest = if options.streamable(o.format) {
                    dest
                } else {
                    dest.seekable()
                        .map_err(|e| Error::io("temporary file", e))?
                };
                (Staging::Stdout, dest, PathBuf::from("standard output"))
            }
        };
        let companion = match &o.target {
            OutputTarget::Path(p) => match o.format.spec().companion_path(p) {
                Some(cp) => {
                    let pending = PendingFile::create(&cp).map_err(|e| Error::io(&cp, e))?;
                    let file = pending.file().map_err(|e| Error::io(&cp, e))?;
                    companions.push(pending);
                    Some(Destination::file(file))
                }
                None => None,
            },
            OutputTarget::Stdout => None,
        };
        sinks.push(make_sink(
            o.format,
            options,
            dest,
            extent_name(o),
            companion,
        )?);
        labels.push(label);
        staging.push(stage);
    }

    let mut refs: Vec<&mut dyn BlockSink> =
        sinks.iter_mut().map(|s| s as &mut dyn BlockSink).collect();
    let stats = blocksink::convert(source, &mut refs, progress).map_err(|e| {
        // The fan-out says which side failed: an output's error names the
        // output, the input's the input.
        let side = blocksink::Error::find(&e).and_then(blocksink::Error::side);
        match side {
            Some(Side::Output(i)) if labels[i] == Path::new("standard output") => stdout_error(e),
            Some(Side::Output(i)) => Error::Output {
                path: labels[i].clone(),
                source: e,
            },
            _ if e.kind() == io::ErrorKind::BrokenPipe => stdout_error(e),
            _ => Error::Input {
                path: input.to_path_buf(),
                source: e,
            },
        }
    })?;
    drop(refs);
    drop(sinks);

    // Standard output was written as its sink finished, inside the
    // conversion: when its reader has gone, no file is placed.
    let mut outputs = Vec::with_capacity(staging.len());
    let mut placing: Vec<PendingFile> = Vec::new();
    for ((o, stage), done) in job_outputs.iter().zip(staging).zip(stats.outputs) {
        let (path, bytes) = match stage {
            Staging::Pending(p) => {
                let target = p.target().to_path_buf();
                placing.push(p);
                (Some(target), done.bytes)
            }
            Staging::Stdout => (None, done.bytes),
        };
        let note = (!done.notes.is_empty()).then(|| done.notes.join("; "));
        outputs.push(OutputReport {
            format: o.format,
            path,
            bytes,
            note,
        });
    }
    placing.extend(companions);
    blocksink::commit_all(placing).map_err(|e| Error::io("placing the outputs", e))?;
    Ok(ConvertReport {
        input: input.to_path_buf(),
        input_format,
        virtual_size: stats.virtual_size,
        read_bytes: stats.read_bytes,
        data_bytes: stats.data_bytes,
        seconds: start.elapsed().as_secs_f64(),
        outputs,
    })
}
