//! The VHDX writer's entry in a format list.

use blocksink::{Layout, WriterOptions, WriterSpec};

use crate::{VhdxOptions, VhdxWriter};

/// The file parameters (MS-VHDX 2.6.2.1) of a VHDX written through
/// [`WRITER`], set in a program's [`WriterOptions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileParameters {
    /// Bytes per payload block (see [`VhdxOptions::block_size`]).
    pub block_size: u32,
    /// Every block allocated (LeaveBlockAllocated): a fixed VHDX.
    pub fixed: bool,
}

impl Default for FileParameters {
    /// What [`VhdxOptions::dynamic`] writes: 2 MiB blocks, dynamic.
    fn default() -> Self {
        FileParameters {
            block_size: 2 << 20,
            fixed: false,
        }
    }
}

fn parameters(options: &WriterOptions) -> FileParameters {
    options.get().copied().unwrap_or_default()
}

/// Dynamic VHDX (fixed with [`FileParameters::fixed`]).
pub const WRITER: WriterSpec = WriterSpec {
    name: "vhdx",
    aliases: &[],
    extension: "vhdx",
    description: "dynamic VHDX, for Hyper-V Gen2",
    // A dynamic VHDX's BAT comes before its blocks; a fixed one's is known.
    layout: |options| {
        if parameters(options).fixed {
            Layout::Forward
        } else {
            Layout::ForwardAfterScan
        }
    },
    companion: None,
    grows_disk: None,
    make: |dest, ctx| {
        let p = parameters(ctx.options);
        let mut o = VhdxOptions::dynamic(ctx.stamp);
        (o.block_size, o.fixed) = (p.block_size, p.fixed);
        Ok(Box::new(VhdxWriter::new(dest, o)?))
    },
};

/// This crate's writers, for a program's format list.
pub const WRITERS: &[WriterSpec] = &[WRITER];
