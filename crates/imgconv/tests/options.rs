//! The registry of format options: every option is declared once, under a
//! name no other format uses, with a default its format accepts; with
//! nothing given, the options made from the declarations write what the
//! writers' own defaults write; and values given by name reach the writers.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use blocksink::{BuildStamp, Destination, MemSource, OptionKind, WriterContext, WriterOptions};
use imgconv::{FormatOptions, FormatValues, OutputFormat, OPTIONS};

#[test]
fn declarations_are_well_formed_and_unique() {
    let mut names = HashSet::new();
    let mut shorts = HashSet::new();
    for set in OPTIONS {
        assert!(OutputFormat::parse(set.format).is_ok(), "{}", set.format);
        assert!(!set.options.is_empty(), "{}", set.format);
        for o in set.options {
            assert!(names.insert(o.name), "{} is declared twice", o.name);
            assert!(
                o.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                o.name
            );
            if let Some(c) = o.short {
                assert!(shorts.insert(c), "-{c} is declared twice");
            }
            assert!(!o.help.is_empty() && !o.help.ends_with('.'), "{}", o.name);
            match o.kind {
                OptionKind::Flag => assert!(o.default.is_none(), "{}", o.name),
                OptionKind::Value | OptionKind::OptionalValue { .. } => {
                    assert!(!o.value_name.is_empty(), "{}", o.name);
                }
            }
            if let Some(d) = o.default {
                set.check(o.name, d)
                    .unwrap_or_else(|e| panic!("{}: default {d:?}: {e}", o.name));
            }
            if let OptionKind::OptionalValue { when_bare } = o.kind {
                set.check(o.name, when_bare)
                    .unwrap_or_else(|e| panic!("{}: {when_bare:?}: {e}", o.name));
            }
        }
    }
    assert_eq!(
        FormatValues::find("cluster-size").unwrap().0.format,
        "qcow2"
    );
    assert!(FormatValues::find("seed").is_none());
}

/// Every writer's bytes for a small disk under `options`, by writer.
fn written(options: &WriterOptions) -> Vec<(&'static str, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut disk = vec![0u8; 3 << 20];
    disk[..512].fill(0x11);
    disk[(1 << 20) + 4096..(1 << 20) + 12288].fill(0x5a);
    OutputFormat::all()
        .map(|f| {
            let spec = f.spec();
            let path = dir.path().join(format!("disk.{}", spec.extension));
            let mut ctx = WriterContext::new(
                BuildStamp::fixed(1_700_000_000, "options"),
                format!("disk.{}", spec.extension),
                options,
            );
            let companion = spec.companion_path(&path);
            if let Some(c) = &companion {
                ctx = ctx.with_companion(Destination::file(std::fs::File::create(c).unwrap()));
            }
            let file = std::fs::File::create(&path).unwrap();
            let mut sink = (spec.make)(Destination::file(file), ctx).unwrap();
            let mut source = MemSource::new(disk.clone());
            blocksink::convert(&mut source, &mut [&mut sink], &mut |_, _| {}).unwrap();
            drop(sink);
            let mut bytes = std::fs::read(&path).unwrap();
            if let Some(c) = companion {
                bytes.extend(std::fs::read(c).unwrap());
            }
            (spec.name, bytes)
        })
        .collect()
}

#[test]
fn declared_defaults_write_what_writer_defaults_write() {
    let declared = FormatOptions::from_values(&FormatValues::new()).unwrap();
    assert_eq!(written(&declared.formats), written(&WriterOptions::new()));
}

#[test]
fn values_by_name_reach_the_writers() {
    let mut values = FormatValues::new();
    values
        .set("qcow2", "cluster-size", "4K")
        .unwrap()
        .set_bare("qcow2", "compress")
        .unwrap()
        .assign("vhdx.vhdx-fixed")
        .unwrap()
        .assign("vmdk.adapter-type=ide")
        .unwrap()
        .assign("ova.cpus=4")
        .unwrap()
        .assign("vhd.vhd-block-size=512K")
        .unwrap();
    let options = FormatOptions::from_values(&values).unwrap();
    let qcow2: &qcow2::Qcow2Options = options.formats.get().unwrap();
    assert_eq!(qcow2.cluster_size, 4096);
    assert_eq!(qcow2.compression, Some(qcow2::Compression::DEFLATE));
    assert!(options.formats.get::<vhdx::FileParameters>().unwrap().fixed);
    assert_eq!(
        options
            .formats
            .get::<vmdk::DiskDatabase>()
            .unwrap()
            .adapter_type,
        "ide"
    );
    assert_eq!(
        options.formats.get::<ova_tar::VmSettings>().unwrap().cpus,
        4
    );
    assert_eq!(
        options.formats.get::<vhd::VhdBlockSize>(),
        Some(&vhd::VhdBlockSize(512 << 10))
    );
    assert_eq!(values.of("qcow2").unwrap().get("cluster-size"), Some("4K"));
    assert!(!options.streamable(OutputFormat::parse("qcow2").unwrap()));

    let mut values = FormatValues::new();
    let e = values
        .set("qcow2", "vhdx-fixed", "on")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no option \"vhdx-fixed\"; qcow2 options: cluster-size"),
        "{e}"
    );
    for (bad, want) in [
        ("raw.size=1", "no output format \"raw\" has options"),
        ("qcow2.cluster-size", "cluster-size needs a value"),
        ("cluster-size=1", "expected FORMAT.NAME=VALUE"),
    ] {
        let e = values.assign(bad).unwrap_err().to_string();
        assert!(e.contains(want), "{bad}: {e}");
    }
    values.assign("ova.memory=lots").unwrap();
    let e = FormatOptions::from_values(&values).unwrap_err().to_string();
    assert!(e.contains("memory \"lots\": invalid digit"), "{e}");
}
