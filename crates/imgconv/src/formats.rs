//! The formats imgconv knows: how to detect and open each input, and how to
//! make a writer for each output.

use std::fs::File;
use std::path::Path;

use blocksink::{BlockSink, BlockSource, BuildStamp, Destination, RawFile, RawSink, ReadAt};

use crate::{Error, Result};

/// A format imgconv writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// A raw disk image (sparse where the disk is zero).
    Raw,
    /// QCOW2 v3, for KVM, libvirt and OpenStack.
    Qcow2,
}

impl OutputFormat {
    /// Every output format, in the order `--help` lists them.
    pub const ALL: [OutputFormat; 2] = [OutputFormat::Raw, OutputFormat::Qcow2];

    /// The name `--to` takes.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Raw => "raw",
            OutputFormat::Qcow2 => "qcow2",
        }
    }

    /// Parses a `--to` name.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
                Error::Usage(format!(
                    "unknown output format {s:?}; known formats: {}",
                    names.join(", ")
                ))
            })
    }

    /// The file name extension an output of this format gets.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Raw => "raw",
            OutputFormat::Qcow2 => "qcow2",
        }
    }
}

/// Options of the output formats, as the command line sets them.
#[derive(Clone, Debug)]
pub struct FormatOptions {
    /// QCOW2 cluster size and compression.
    pub qcow2: qcow2::Qcow2Options,
    /// Timestamps and identifiers (from `SOURCE_DATE_EPOCH` by default).
    pub stamp: BuildStamp,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            qcow2: qcow2::Qcow2Options::default(),
            stamp: BuildStamp::from_env(),
        }
    }
}

impl FormatOptions {
    /// Whether `format` can be written to a forward-only stream as these
    /// options configure it.
    pub fn streamable(&self, format: OutputFormat) -> bool {
        match format {
            OutputFormat::Qcow2 => self.qcow2.compression.is_none(),
            OutputFormat::Raw => true,
        }
    }
}

/// Makes the writer of `format` into `dest`.
pub(crate) fn make_sink(
    format: OutputFormat,
    opts: &FormatOptions,
    dest: Destination,
) -> Result<Box<dyn BlockSink>> {
    Ok(match format {
        OutputFormat::Raw => Box::new(RawSink::new(dest)),
        OutputFormat::Qcow2 => Box::new(
            qcow2::Qcow2Writer::new(dest, opts.qcow2.clone())
                .map_err(|e| Error::Usage(e.to_string()))?,
        ),
    })
}

/// A format imgconv reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputFormat {
    /// A raw disk image.
    Raw,
    /// QCOW2 (v2 or v3).
    Qcow2,
}

impl InputFormat {
    /// The name `info` prints.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Raw => "raw",
            InputFormat::Qcow2 => "qcow2",
        }
    }
}

/// An opened image: its format, its virtual disk, and what its headers say.
pub struct Image {
    /// The detected format.
    pub format: InputFormat,
    /// The virtual disk.
    pub source: Box<dyn BlockSource>,
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
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = ReadAt::size(&file).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; 512];
    let n = head.len().min(len as usize);
    ReadAt::read_exact_at(&file, &mut head[..n], 0).map_err(|e| Error::io(path, e))?;
    let bad = |e: &dyn std::fmt::Display| Error::image(path, e);
    if qcow2::is_qcow2(&head[..n]) {
        let r = qcow2::Qcow2Reader::open(file).map_err(|e| bad(&e))?;
        let i = r.info().clone();
        let details = vec![
            ("version".into(), i.version.to_string()),
            ("cluster_size".into(), i.cluster_size.to_string()),
            (
                "compression_type".into(),
                match i.compression {
                    qcow2::CompressionType::Deflate => "zlib".into(),
                    qcow2::CompressionType::Zstd => "zstd".into(),
                },
            ),
            ("refcount_bits".into(), i.refcount_bits.to_string()),
            ("lazy_refcounts".into(), i.lazy_refcounts.to_string()),
            ("extended_l2".into(), i.extended_l2.to_string()),
            ("snapshots".into(), i.snapshots.to_string()),
        ];
        return Ok(Image {
            format: InputFormat::Qcow2,
            source: Box::new(r),
            details,
        });
    }
    let raw = RawFile::new(file).map_err(|e| Error::io(path, e))?;
    Ok(Image {
        format: InputFormat::Raw,
        source: Box::new(raw),
        details: Vec::new(),
    })
}
