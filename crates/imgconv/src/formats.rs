//! The formats imgconv knows: how to detect and open each input, and how to
//! make a writer for each output.

use std::fs::File;
use std::path::Path;

use blocksink::{BlockSink, BlockSource, BuildStamp, Destination, RawFile, RawSink, ReadAt};

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

/// A format imgconv reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputFormat {
    /// A raw disk image.
    Raw,
    /// VHD, fixed or dynamic.
    Vhd,
    /// VHDX, fixed or dynamic.
    Vhdx,
    /// VMDK, any variant.
    Vmdk,
    /// OVA (the disk inside).
    Ova,
    /// QCOW2 (v2 or v3).
    Qcow2,
    /// An ISO 9660 image, whose bytes are read as a raw disk.
    #[serde(rename = "iso9660")]
    Iso,
}

impl InputFormat {
    /// The name `info` prints.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Raw => "raw",
            InputFormat::Vhd => "vhd",
            InputFormat::Vhdx => "vhdx",
            InputFormat::Vmdk => "vmdk",
            InputFormat::Ova => "ova",
            InputFormat::Qcow2 => "qcow2",
            InputFormat::Iso => "iso9660",
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
    let mut head = [0u8; 512];
    let n = head.len().min(len as usize);
    ReadAt::read_exact_at(&file, &mut head[..n], 0).map_err(|e| Error::io(path, e))?;
    let bad = |e: blocksink::Error| Error::image(path, e);
    if qcow2::is_qcow2(&head[..n]) {
        let r = qcow2::Qcow2Reader::open(file).map_err(bad)?;
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
    if n >= 262 && &head[257..262] == b"ustar" {
        let r = ova_tar::OvaReader::open(std::sync::Arc::new(file)).map_err(bad)?;
        let mut details = vec![
            (
                "members".into(),
                r.members
                    .iter()
                    .map(|m| m.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ("disk".into(), r.disk_name.clone()),
            (
                "manifest".into(),
                r.manifest
                    .map_or("none".into(), |h| format!("{} verified", h.name())),
            ),
        ];
        for (tag, value) in [
            ("vssd:VirtualSystemType", &r.descriptor.system_type),
            ("Name", &r.descriptor.name),
        ] {
            if let Some(v) = value {
                details.push((tag.into(), v.clone()));
            }
        }
        return Ok(Image {
            format: InputFormat::Ova,
            source: Box::new(r),
            details,
        });
    }
    if vmdk::is_vmdk(&head[..n]) {
        let r = vmdk::VmdkReader::open_path(path).map_err(bad)?;
        let mut details = Vec::new();
        if let Some(d) = &r.descriptor {
            details.push(("create_type".into(), d.create_type.clone()));
            for key in [
                "ddb.adapterType",
                "ddb.virtualHWVersion",
                "ddb.toolsVersion",
            ] {
                if let Some(v) = d.get(key) {
                    details.push((key.into(), v.into()));
                }
            }
            details.push(("extents".into(), d.extents.len().to_string()));
        }
        return Ok(Image {
            format: InputFormat::Vmdk,
            source: Box::new(r),
            details,
        });
    }
    if vhdx::is_vhdx(&head[..n]) {
        let r = vhdx::VhdxReader::open(file).map_err(bad)?;
        let i = r.info().clone();
        let details = vec![
            ("block_size".into(), i.block_size.to_string()),
            (
                "logical_sector_size".into(),
                i.logical_sector_size.to_string(),
            ),
            (
                "physical_sector_size".into(),
                i.physical_sector_size.to_string(),
            ),
            ("disk_id".into(), i.disk_id.to_string()),
            ("log_length".into(), i.log_length.to_string()),
        ];
        return Ok(Image {
            format: InputFormat::Vhdx,
            source: Box::new(r),
            details,
        });
    }
    let mut tail = [0u8; 512];
    if len >= 512 {
        ReadAt::read_exact_at(&file, &mut tail, len - 512).map_err(|e| Error::io(path, e))?;
    }
    if vhd::is_vhd_footer(&tail) || vhd::is_vhd_footer(&head[..n]) {
        let r = vhd::VhdReader::open(file).map_err(bad)?;
        let i = r.info().clone();
        let mut details = vec![
            (
                "type".into(),
                match i.disk_type {
                    vhd::format::DISK_FIXED => "fixed".to_string(),
                    _ => "dynamic".to_string(),
                },
            ),
            (
                "creator".into(),
                i.creator.trim_end_matches(['\0', ' ']).to_string(),
            ),
            ("current_size".into(), i.current_size.to_string()),
            ("chs_size".into(), i.chs_size.to_string()),
            (
                "geometry".into(),
                format!("{}/{}/{}", i.geometry.0, i.geometry.1, i.geometry.2),
            ),
        ];
        if let Some(bs) = i.block_size {
            details.push(("block_size".into(), bs.to_string()));
        }
        return Ok(Image {
            format: InputFormat::Vhd,
            source: Box::new(r),
            details,
        });
    }
    let mut volume = [0u8; 32774];
    let iso = len >= volume.len() as u64
        && ReadAt::read_exact_at(&file, &mut volume, 0).is_ok()
        && iso9660::is_iso(&volume);
    let raw = RawFile::new(file).map_err(|e| Error::io(path, e))?;
    if iso {
        // An ISO is read as the disk it also is (a hybrid ISO boots from
        // a USB stick): its bytes, as qemu-img reads them.
        return Ok(Image {
            format: InputFormat::Iso,
            source: Box::new(raw),
            details: vec![(
                "note".into(),
                "an ISO 9660 image, read as a raw disk of its bytes".into(),
            )],
        });
    }
    Ok(Image {
        format: InputFormat::Raw,
        source: Box::new(raw),
        details: Vec::new(),
    })
}
