//! The VMDK writers' entries in a format list: monolithicSparse,
//! streamOptimized and monolithicFlat.

use std::path::{Path, PathBuf};

use blocksink::{BuildStamp, FormatOptionSet, Layout, OptionSpec, WriterContext, WriterSpec};

use crate::error::F;
use crate::{VmdkFlatWriter, VmdkOptions, VmdkSubformat, VmdkWriter};

/// The disk database entries (`ddb.*`) of a VMDK written through
/// [`WRITERS`], set in a program's [`blocksink::WriterOptions`]; the
/// defaults are [`VmdkOptions::new`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskDatabase {
    /// `ddb.adapterType`.
    pub adapter_type: String,
    /// `ddb.virtualHWVersion`.
    pub hw_version: u32,
    /// `ddb.toolsVersion`.
    pub tools_version: String,
}

impl Default for DiskDatabase {
    /// What [`VmdkOptions::new`] writes.
    fn default() -> Self {
        let o = VmdkOptions::new(VmdkSubformat::StreamOptimized, "", BuildStamp::fixed(0, ""));
        DiskDatabase {
            adapter_type: o.adapter_type,
            hw_version: o.hw_version,
            tools_version: o.tools_version,
        }
    }
}

/// Options for `subformat`, naming the extent `file_name`, with the
/// program's disk database entries.
fn options(subformat: VmdkSubformat, file_name: &str, ctx: &WriterContext<'_>) -> VmdkOptions {
    let mut o = VmdkOptions::new(subformat, file_name, ctx.stamp.clone());
    if let Some(ddb) = ctx.options.get::<DiskDatabase>() {
        o.adapter_type.clone_from(&ddb.adapter_type);
        o.hw_version = ddb.hw_version;
        o.tools_version.clone_from(&ddb.tools_version);
    }
    o
}

/// Where a monolithicFlat descriptor at `path` keeps its data:
/// `<name>-flat.vmdk` beside `<name>.vmdk`, as VMware names it.
pub fn flat_extent_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}-flat.vmdk"))
}

/// monolithicSparse: one extent with its grain tables up front.
pub const SPARSE_WRITER: WriterSpec = WriterSpec {
    name: "vmdk",
    aliases: &[],
    extension: "vmdk",
    description: "monolithicSparse VMDK, for VMware Workstation and Fusion",
    layout: |_| Layout::Seeks,
    companion: None,
    grows_disk: None,
    make: |dest, ctx| {
        let o = options(VmdkSubformat::MonolithicSparse, &ctx.file_name, &ctx);
        Ok(Box::new(VmdkWriter::new(dest, o)?))
    },
};

/// streamOptimized: compressed grains, tables and footer at the end.
pub const STREAM_WRITER: WriterSpec = WriterSpec {
    name: "vmdk-stream",
    aliases: &[],
    extension: "stream.vmdk",
    description: "streamOptimized VMDK, for ESXi, vSphere and AWS VM Import",
    layout: |_| Layout::Forward,
    companion: None,
    grows_disk: None,
    make: |dest, ctx| {
        let o = options(VmdkSubformat::StreamOptimized, &ctx.file_name, &ctx);
        Ok(Box::new(VmdkWriter::new(dest, o)?))
    },
};

/// monolithicFlat: a descriptor, and the disk's bytes in a file beside it
/// (by default `<stem>.flat.vmdk` and `<stem>.flat-flat.vmdk`, so that it
/// never clashes with a monolithicSparse `<stem>.vmdk`).
pub const FLAT_WRITER: WriterSpec = WriterSpec {
    name: "vmdk-flat",
    aliases: &[],
    extension: "flat.vmdk",
    description: "monolithicFlat VMDK (NAME.vmdk + NAME-flat.vmdk), for ESXi datastores",
    layout: |_| Layout::Seeks,
    companion: Some(flat_extent_path),
    grows_disk: None,
    make: |dest, mut ctx| {
        let flat = ctx.companion.take().ok_or_else(|| {
            F.option("a monolithicFlat VMDK writes two files and needs a file for its data")
        })?;
        let flat_name = flat_extent_path(Path::new(&ctx.file_name))
            .to_string_lossy()
            .into_owned();
        let o = options(VmdkSubformat::MonolithicSparse, &flat_name, &ctx);
        Ok(Box::new(VmdkFlatWriter::new(dest, flat, o)?))
    },
};

/// This crate's writers, for a program's format list.
pub const WRITERS: &[WriterSpec] = &[SPARSE_WRITER, STREAM_WRITER, FLAT_WRITER];

/// The options of [`WRITERS`], for a program's option list
/// (`--adapter-type`, `--hw-version`, `--tools-version`): they set the
/// [`DiskDatabase`] in its [`blocksink::WriterOptions`].
pub const OPTIONS: FormatOptionSet = FormatOptionSet {
    format: "vmdk",
    options: &[
        OptionSpec::value(
            "adapter-type",
            "ADAPTER_TYPE",
            "vmdk: ddb.adapterType (lsilogic, ide, buslogic, legacyESX, pvscsi)",
        )
        .default("lsilogic"),
        OptionSpec::value("hw-version", "HW_VERSION", "vmdk: ddb.virtualHWVersion").default("4"),
        OptionSpec::value("tools-version", "TOOLS_VERSION", "vmdk: ddb.toolsVersion")
            .default("2147483647"),
    ],
    apply: |values, options| {
        let mut ddb = DiskDatabase::default();
        if let Some(adapter) = values.string("adapter-type") {
            ddb.adapter_type = adapter;
        }
        if let Some(version) = values.u32("hw-version")? {
            ddb.hw_version = version;
        }
        if let Some(tools) = values.string("tools-version") {
            ddb.tools_version = tools;
        }
        options.set(ddb);
        Ok(())
    },
};

#[cfg(test)]
mod tests {
    use blocksink::{OptionValues, WriterOptions};

    use super::*;

    #[test]
    fn declared_defaults_are_the_writers() {
        let mut values = OptionValues::new(&OPTIONS);
        let mut options = WriterOptions::new();
        OPTIONS.apply_to(&values, &mut options).unwrap();
        assert_eq!(options.get(), Some(&DiskDatabase::default()));
        values
            .set("adapter-type", "ide")
            .unwrap()
            .set("hw-version", "7")
            .unwrap()
            .set("tools-version", "12")
            .unwrap();
        OPTIONS.apply_to(&values, &mut options).unwrap();
        assert_eq!(
            options.get(),
            Some(&DiskDatabase {
                adapter_type: "ide".into(),
                hw_version: 7,
                tools_version: "12".into(),
            })
        );
        assert!(OPTIONS.check("hw-version", "seven").is_err());
    }
}
