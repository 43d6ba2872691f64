//! The QCOW2 writer's entry in a format list.

use blocksink::{FormatOptionSet, Layout, OptionSpec, WriterSpec};

use crate::{Compression, Qcow2Options, Qcow2Writer};

/// QCOW2 v3, with the [`Qcow2Options`] set in a program's
/// [`blocksink::WriterOptions`] (defaults when none are).
pub const WRITER: WriterSpec = WriterSpec {
    name: "qcow2",
    aliases: &[],
    extension: "qcow2",
    description: "QCOW2 v3, for KVM, libvirt and OpenStack",
    // Tables come first; compressed clusters' sizes are known only once
    // compressed, so a compressed image is laid out as it goes, seeking.
    layout: |options| match options.get::<Qcow2Options>() {
        Some(o) if o.compression.is_some() => Layout::Seeks,
        _ => Layout::ForwardAfterScan,
    },
    companion: None,
    grows_disk: None,
    make: |dest, ctx| {
        let o = ctx
            .options
            .get::<Qcow2Options>()
            .cloned()
            .unwrap_or_default();
        Ok(Box::new(Qcow2Writer::new(dest, o)?))
    },
};

/// This crate's writers, for a program's format list.
pub const WRITERS: &[WriterSpec] = &[WRITER];

/// The options of [`WRITER`], for a program's option list (`--cluster-size`,
/// `-c`/`--compress`, `--compression-level`): they set the
/// [`Qcow2Options`] in its [`blocksink::WriterOptions`].
pub const OPTIONS: FormatOptionSet = FormatOptionSet {
    format: "qcow2",
    options: &[
        OptionSpec::value(
            "cluster-size",
            "CLUSTER_SIZE",
            "qcow2: cluster size (512 to 2M; default 64K)",
        ),
        OptionSpec::value(
            "compress",
            "ALGO",
            "qcow2: compress clusters with deflate (the default, as `qemu-img -c`) or zstd",
        )
        .short('c')
        .optional_value("deflate"),
        OptionSpec::value(
            "compression-level",
            "COMPRESSION_LEVEL",
            "Compression level (deflate 1–9, default 6; zstd 1–22, default 3)",
        ),
    ],
    apply: |values, options| {
        let mut o = Qcow2Options::default();
        if let Some(cs) = values.size("cluster-size")? {
            o.cluster_size = u32::try_from(cs).map_err(|_| {
                values.invalid("cluster-size", format!("cluster size {cs} is too large"))
            })?;
        }
        let level = values.i32("compression-level")?;
        o.compression = match values.get("compress") {
            None => None,
            Some("deflate" | "zlib") => {
                Some(level.map_or(Compression::DEFLATE, |level| Compression::Deflate { level }))
            }
            Some("zstd") => {
                Some(level.map_or(Compression::ZSTD, |level| Compression::Zstd { level }))
            }
            Some(other) => {
                return Err(values.invalid(
                    "compress",
                    format!("unknown compression {other:?}: use deflate or zstd"),
                ))
            }
        };
        options.set(o);
        Ok(())
    },
};

#[cfg(test)]
mod tests {
    use blocksink::{OptionValues, WriterOptions};

    use super::*;

    fn applied(given: &[(&str, Option<&str>)]) -> blocksink::Result<Qcow2Options> {
        let mut values = OptionValues::new(&OPTIONS);
        for (name, value) in given {
            match value {
                Some(value) => values.set(name, *value)?,
                None => values.set_bare(name)?,
            };
        }
        let mut options = WriterOptions::new();
        OPTIONS.apply_to(&values, &mut options)?;
        Ok(options.get::<Qcow2Options>().cloned().unwrap())
    }

    #[test]
    fn options_set_qcow2_options() {
        assert_eq!(applied(&[]).unwrap(), Qcow2Options::default());
        let o = applied(&[("cluster-size", Some("4k")), ("compress", None)]).unwrap();
        assert_eq!(o.cluster_size, 4096);
        assert_eq!(o.compression, Some(Compression::DEFLATE));
        let o = applied(&[
            ("compress", Some("zstd")),
            ("compression-level", Some("19")),
        ])
        .unwrap();
        assert_eq!(o.compression, Some(Compression::Zstd { level: 19 }));
        let o = applied(&[("compress", Some("zlib")), ("compression-level", Some("1"))]).unwrap();
        assert_eq!(o.compression, Some(Compression::Deflate { level: 1 }));
        // A level alone compresses nothing.
        assert_eq!(
            applied(&[("compression-level", Some("9"))])
                .unwrap()
                .compression,
            None
        );
    }

    #[test]
    fn bad_values_are_named() {
        let e = applied(&[("compress", Some("lz4"))])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown compression \"lz4\": use deflate or zstd"),
            "{e}"
        );
        let e = applied(&[("cluster-size", Some("8G"))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cluster size 8589934592 is too large"), "{e}");
        let e = applied(&[("cluster-size", Some("64Q"))])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cluster-size \"64Q\": unknown size suffix"),
            "{e}"
        );
        let e = applied(&[("compression-level", Some("high"))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("compression-level \"high\""), "{e}");
    }
}
