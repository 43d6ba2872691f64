//! The VHDX writer's entry in a format list.

use blocksink::{FormatOptionSet, Layout, OptionSpec, WriterOptions, WriterSpec};

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

/// The options of [`WRITER`], for a program's option list
/// (`--vhdx-block-size`, `--vhdx-fixed`): they set the [`FileParameters`]
/// in its [`WriterOptions`].
pub const OPTIONS: FormatOptionSet = FormatOptionSet {
    format: "vhdx",
    options: &[
        OptionSpec::value(
            "vhdx-block-size",
            "VHDX_BLOCK_SIZE",
            "vhdx: block size (1M to 256M; default 2M, which keeps dynamic files small)",
        ),
        OptionSpec::flag(
            "vhdx-fixed",
            "vhdx: write a fixed VHDX (every block allocated)",
        ),
    ],
    apply: |values, options| {
        let mut p = FileParameters::default();
        if let Some(bs) = values.size("vhdx-block-size")? {
            p.block_size = u32::try_from(bs).map_err(|_| {
                values.invalid(
                    "vhdx-block-size",
                    format!("VHDX block size {bs} is too large"),
                )
            })?;
        }
        p.fixed = values.flag("vhdx-fixed")?;
        options.set(p);
        Ok(())
    },
};

#[cfg(test)]
mod tests {
    use blocksink::OptionValues;

    use super::*;

    #[test]
    fn options_set_file_parameters() {
        let mut values = OptionValues::new(&OPTIONS);
        let mut options = WriterOptions::new();
        OPTIONS.apply_to(&values, &mut options).unwrap();
        assert_eq!(parameters(&options), FileParameters::default());
        values
            .set("vhdx-block-size", "128M")
            .unwrap()
            .set_bare("vhdx-fixed")
            .unwrap();
        OPTIONS.apply_to(&values, &mut options).unwrap();
        assert_eq!(
            parameters(&options),
            FileParameters {
                block_size: 128 << 20,
                fixed: true
            }
        );
        let e = OPTIONS.check("vhdx-block-size", "4G").unwrap_err();
        assert!(
            e.to_string()
                .contains("VHDX block size 4294967296 is too large"),
            "{e}"
        );
    }
}
