//! The formats imgconv knows: how to detect and open each input, and how to
//! make a writer for each output.

use std::fs::File;
use std::path::Path;

use blocksink::{
    BlockSink, BuildStamp, Destination, DiskImage, RawSink, ReadAt, ReaderSpec, PROBE_HEAD,
};

use crate::gpt_grow::GptGrow;
use crate::{Error, Result};

/// A format imgconv writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// A raw disk image (sparse where the disk is zero).
    Raw,
    /// Dynamic VHD, for Hyper-V Gen1.
    Vhd,
    /// Fixed VHD sized to a whole MiB, for Azure and AWS import.
    VhdFixed,
    /// Dynamic VHDX, for Hyper-V Gen2.
    Vhdx,
    /// monolithicSparse VMDK, for VMware Workstation and Fusion.
    Vmdk,
    /// streamOptimized VMDK, for ESXi, vSphere and AWS VM Import.
    VmdkStream,
    /// monolithicFlat VMDK, for ESXi datastores: a descriptor and its data
    /// beside it, `<name>.vmdk` and `<name>-flat.vmdk` as VMware names them
    /// (by default `<stem>.flat.vmdk` and `<stem>.flat-flat.vmdk`, so that
    /// it never clashes with a monolithicSparse `<stem>.vmdk`).
    VmdkFlat,
    /// OVA: OVF descriptor, manifest and streamOptimized VMDK in a tar.
    Ova,
    /// QCOW2 v3, for KVM, libvirt and OpenStack.
    Qcow2,
}

impl OutputFormat {
    /// Every output format, in the order `--help` lists them.
    pub const ALL: [OutputFormat; 9] = [
        OutputFormat::Raw,
        OutputFormat::Vhd,
        OutputFormat::VhdFixed,
        OutputFormat::Vhdx,
        OutputFormat::Vmdk,
        OutputFormat::VmdkStream,
        OutputFormat::VmdkFlat,
        OutputFormat::Ova,
        OutputFormat::Qcow2,
    ];

    /// The name `--to` takes.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Raw => "raw",
            OutputFormat::Vhd => "vhd",
            OutputFormat::VhdFixed => "vhd-fixed",
            OutputFormat::Vhdx => "vhdx",
            OutputFormat::Vmdk => "vmdk",
            OutputFormat::VmdkStream => "vmdk-stream",
            OutputFormat::VmdkFlat => "vmdk-flat",
            OutputFormat::Ova => "ova",
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
            OutputFormat::Vhd => "vhd",
            OutputFormat::VhdFixed => "fixed.vhd",
            OutputFormat::Vhdx => "vhdx",
            OutputFormat::Vmdk => "vmdk",
            OutputFormat::VmdkStream => "stream.vmdk",
            OutputFormat::VmdkFlat => "flat.vmdk",
            OutputFormat::Ova => "ova",
            OutputFormat::Qcow2 => "qcow2",
        }
    }
}

/// Options of the output formats, as the command line sets them.
#[derive(Clone, Debug)]
pub struct FormatOptions {
    /// QCOW2 cluster size and compression.
    pub qcow2: qcow2::Qcow2Options,
    /// Dynamic VHD block size.
    pub vhd_block_size: u32,
    /// VHDX block size, and whether the VHDX is fixed.
    pub vhdx: (u32, bool),
    /// VMDK adapter type, virtual hardware version and tools version.
    pub vmdk: (String, u32, String),
    /// The virtual machine an OVA describes (its name defaults to the input's stem).
    pub ova: Option<ova_tar::VmSettings>,
    /// When a fixed VHD rounds the disk up, move a GPT's backup to the new end.
    pub grow_gpt: bool,
    /// Timestamps and identifiers (from `SOURCE_DATE_EPOCH` by default).
    pub stamp: BuildStamp,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            qcow2: qcow2::Qcow2Options::default(),
            vhd_block_size: 2 << 20,
            vhdx: (2 << 20, false),
            vmdk: ("lsilogic".into(), 4, "2147483647".into()),
            ova: None,
            grow_gpt: true,
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
            OutputFormat::Vmdk | OutputFormat::VmdkFlat => false,
            OutputFormat::Raw
            | OutputFormat::Vhd
            | OutputFormat::VhdFixed
            | OutputFormat::Vhdx
            | OutputFormat::VmdkStream
            | OutputFormat::Ova => true,
        }
    }
}

/// What a writer may need to know about its output besides its bytes.
pub(crate) struct SinkContext {
    /// The output's file name (a VMDK descriptor names its extent).
    pub(crate) file_name: String,
    /// A second output file (the flat extent of a monolithicFlat VMDK).
    pub(crate) companion: Option<Destination>,
}

/// The second file a format writes beside `path`, if any: the flat extent
/// of a monolithicFlat VMDK, named as VMware names it.
pub(crate) fn companion_path(
    format: OutputFormat,
    path: &std::path::Path,
) -> Option<std::path::PathBuf> {
    (format == OutputFormat::VmdkFlat).then(|| {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        path.with_file_name(format!("{stem}-flat.vmdk"))
    })
}

/// Makes the writer of `format` into `dest`.
pub(crate) fn make_sink(
    format: OutputFormat,
    opts: &FormatOptions,
    dest: Destination,
    ctx: SinkContext,
) -> Result<Box<dyn BlockSink>> {
    let file_name = ctx.file_name.as_str();
    let usage = |e: &dyn std::fmt::Display| Error::Usage(e.to_string());
    Ok(match format {
        OutputFormat::Raw => Box::new(RawSink::new(dest)),
        OutputFormat::Vhd => {
            let mut o = vhd::VhdOptions::dynamic(opts.stamp.clone());
            o.block_size = opts.vhd_block_size;
            Box::new(vhd::VhdWriter::new(dest, o).map_err(|e| usage(&e))?)
        }
        OutputFormat::Ova => {
            let mut vm = opts
                .ova
                .clone()
                .unwrap_or_else(|| ova_tar::VmSettings::linux(""));
            if vm.name.is_empty() {
                let stem = file_name.strip_suffix(".ova").unwrap_or(file_name);
                vm.name = stem
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
            }
            Box::new(ova_tar::OvaWriter::new(dest, vm, opts.stamp.clone()).map_err(|e| usage(&e))?)
        }
        OutputFormat::VmdkFlat => {
            let flat = ctx.companion.ok_or_else(|| {
                Error::Usage("vmdk-flat writes two files and cannot go to standard output".into())
            })?;
            let flat_name = companion_path(format, std::path::Path::new(file_name))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut o = vmdk::VmdkOptions::new(
                vmdk::VmdkSubformat::MonolithicSparse,
                &flat_name,
                opts.stamp.clone(),
            );
            (o.adapter_type, o.hw_version, o.tools_version) = opts.vmdk.clone();
            Box::new(vmdk::VmdkFlatWriter::new(dest, flat, o).map_err(|e| usage(&e))?)
        }
        OutputFormat::Vmdk | OutputFormat::VmdkStream => {
            let sub = if format == OutputFormat::Vmdk {
                vmdk::VmdkSubformat::MonolithicSparse
            } else {
                vmdk::VmdkSubformat::StreamOptimized
            };
            let mut o = vmdk::VmdkOptions::new(sub, file_name, opts.stamp.clone());
            (o.adapter_type, o.hw_version, o.tools_version) = opts.vmdk.clone();
            Box::new(vmdk::VmdkWriter::new(dest, o).map_err(|e| usage(&e))?)
        }
        OutputFormat::Vhdx => {
            let mut o = vhdx::VhdxOptions::dynamic(opts.stamp.clone());
            (o.block_size, o.fixed) = opts.vhdx;
            Box::new(vhdx::VhdxWriter::new(dest, o).map_err(|e| usage(&e))?)
        }
        OutputFormat::VhdFixed => {
            let o = vhd::VhdOptions::fixed(opts.stamp.clone());
            let w = Box::new(vhd::VhdWriter::new(dest, o).map_err(|e| usage(&e))?);
            if opts.grow_gpt {
                let grown: fn(u64) -> u64 = |s| s.next_multiple_of(1 << 20);
                Box::new(GptGrow::new(w, grown))
            } else {
                w
            }
        }
        OutputFormat::Qcow2 => Box::new(
            qcow2::Qcow2Writer::new(dest, opts.qcow2.clone())
                .map_err(|e| Error::Usage(e.to_string()))?,
        ),
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
