//! The VHD writers' entries in a format list: dynamic and fixed.

use blocksink::{FormatOptionSet, Layout, OptionSpec, WriterSpec};

use crate::{VhdOptions, VhdWriter};

/// The block size of a dynamic VHD written through [`WRITERS`], set in a
/// program's [`blocksink::WriterOptions`] (default: 2 MiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VhdBlockSize(pub u32);

/// Dynamic VHD: blocks allocated as data arrives.
pub const DYNAMIC_WRITER: WriterSpec = WriterSpec {
    name: "vhd",
    aliases: &["vpc"],
    extension: "vhd",
    description: "dynamic VHD, for Hyper-V Gen1",
    // The BAT comes first, so a stream needs to know the blocks up front.
    layout: |_| Layout::ForwardAfterScan,
    companion: None,
    grows_disk: None,
    make: |dest, ctx| {
        let mut o = VhdOptions::dynamic(ctx.stamp);
        if let Some(VhdBlockSize(bs)) = ctx.options.get() {
            o.block_size = *bs;
        }
        Ok(Box::new(VhdWriter::new(dest, o)?))
    },
};

/// Fixed VHD sized to a whole MiB, as Azure imports it.
pub const FIXED_WRITER: WriterSpec = WriterSpec {
    name: "vhd-fixed",
    aliases: &[],
    extension: "fixed.vhd",
    description: "fixed VHD sized to a whole MiB, for Azure and AWS import",
    layout: |_| Layout::Forward,
    companion: None,
    // What VhdOptions::fixed rounds the disk up to.
    grows_disk: Some(|size| size.next_multiple_of(1 << 20)),
    make: |dest, ctx| {
        Ok(Box::new(VhdWriter::new(
            dest,
            VhdOptions::fixed(ctx.stamp),
        )?))
    },
};

/// This crate's writers, for a program's format list.
pub const WRITERS: &[WriterSpec] = &[DYNAMIC_WRITER, FIXED_WRITER];

/// The options of [`WRITERS`], for a program's option list
/// (`--vhd-block-size`): they set the [`VhdBlockSize`] in its
/// [`blocksink::WriterOptions`] when given.
pub const OPTIONS: FormatOptionSet = FormatOptionSet {
    format: "vhd",
    options: &[OptionSpec::value(
        "vhd-block-size",
        "VHD_BLOCK_SIZE",
        "vhd: block size of a dynamic VHD (512K to 256M; default 2M)",
    )],
    apply: |values, options| {
        if let Some(bs) = values.size("vhd-block-size")? {
            options.set(VhdBlockSize(u32::try_from(bs).map_err(|_| {
                values.invalid(
                    "vhd-block-size",
                    format!("VHD block size {bs} is too large"),
                )
            })?));
        }
        Ok(())
    },
};

#[cfg(test)]
mod tests {
    use blocksink::{OptionValues, WriterOptions};

    use super::*;

    #[test]
    fn block_size_is_set_only_when_given() {
        let mut values = OptionValues::new(&OPTIONS);
        let mut options = WriterOptions::new();
        OPTIONS.apply_to(&values, &mut options).unwrap();
        assert_eq!(options.get::<VhdBlockSize>(), None);
        values.set("vhd-block-size", "512K").unwrap();
        OPTIONS.apply_to(&values, &mut options).unwrap();
        assert_eq!(options.get(), Some(&VhdBlockSize(512 << 10)));
        let e = OPTIONS.check("vhd-block-size", "4T").unwrap_err();
        assert!(
            e.to_string()
                .contains("VHD block size 4398046511104 is too large"),
            "{e}"
        );
    }
}
