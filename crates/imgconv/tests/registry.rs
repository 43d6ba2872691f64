//! The registry of output formats: every writer is found by its name, no
//! two share a name or an extension, and what a spec says about streaming
//! is what its writer does.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};

use blocksink::{BuildStamp, Destination, Layout, MemSource, WriterContext, WriterOptions};
use imgconv::{FormatOptions, OutputFormat, WRITERS};

#[test]
fn every_writer_round_trips_through_its_name() {
    let specs: Vec<_> = WRITERS.iter().flat_map(|w| w.iter()).collect();
    assert_eq!(OutputFormat::all().count(), specs.len());
    for (format, spec) in OutputFormat::all().zip(&specs) {
        assert_eq!(format.spec().name, spec.name);
        assert_eq!(OutputFormat::parse(spec.name).unwrap(), format);
        assert_eq!(OutputFormat::parse(spec.name).unwrap().name(), spec.name);
        assert_eq!(format.extension(), spec.extension);
        for alias in spec.aliases {
            assert_eq!(OutputFormat::parse(alias).unwrap().name(), spec.name);
        }
        assert_eq!(format.to_string(), spec.name);
        assert_eq!(
            serde_json::to_value(format).unwrap(),
            serde_json::Value::String(spec.name.into())
        );
        assert!(!spec.description.is_empty(), "{}", spec.name);
    }
    let err = OutputFormat::parse("vhd-dynamic").unwrap_err().to_string();
    assert!(err.contains("unknown output format"), "{err}");
    assert!(err.contains("vmdk-stream"), "{err}");
}

#[test]
fn names_and_extensions_are_unique() {
    let mut names = HashSet::new();
    let mut extensions = HashSet::new();
    for f in OutputFormat::all() {
        let spec = f.spec();
        for name in std::iter::once(&spec.name).chain(spec.aliases) {
            assert_eq!(*name, name.to_ascii_lowercase(), "{name}");
            assert!(names.insert(*name), "{name} names two writers");
        }
        assert!(
            extensions.insert(spec.extension),
            "{} is two writers' extension",
            spec.extension
        );
    }
}

/// A forward-only output whose bytes the test keeps.
#[derive(Clone, Default)]
struct Pipe(Arc<Mutex<Vec<u8>>>);

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Each streaming writer, made on a stream as its spec says it can be, asks
/// for an exact plan exactly when its spec says so, and writes an image
/// whose disk reads back equal to the input.
fn writes_to_a_stream_as_its_spec_says(options: &WriterOptions) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut disk = vec![0u8; 6 << 20];
    disk[..512].fill(0x11);
    disk[(3 << 20) + 4096..(3 << 20) + 12288].fill(0x5a);
    disk[(6 << 20) - 512..].fill(0xee);
    let raw = dir.path().join("disk.raw");
    std::fs::write(&raw, &disk).unwrap();
    let mut streamed = 0;
    for f in OutputFormat::all() {
        let spec = f.spec();
        let layout = (spec.layout)(options);
        if !layout.streams() {
            continue;
        }
        let pipe = Pipe::default();
        let ctx = WriterContext::new(
            BuildStamp::fixed(1_700_000_000, "registry"),
            format!("disk.{}", spec.extension),
            options,
        );
        let mut sink = (spec.make)(Destination::stream(pipe.clone()), ctx).unwrap();
        assert_eq!(
            sink.wants_exact_plan(),
            layout == Layout::ForwardAfterScan,
            "{}",
            spec.name
        );
        let mut source = MemSource::new(disk.clone());
        blocksink::convert(&mut source, &mut [&mut sink], &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        drop(sink);
        let out = dir.path().join(format!("streamed.{}", spec.extension));
        std::fs::write(&out, &*pipe.0.lock().unwrap()).unwrap();
        let same = imgconv::compare(&raw, &out).unwrap();
        assert!(
            matches!(
                same,
                imgconv::Comparison::Identical {
                    size_mismatch: false
                }
            ),
            "{}: {same:?}",
            spec.name
        );
        streamed += 1;
    }
    streamed
}

#[test]
fn streaming_writers_stream_with_default_options() {
    let n = writes_to_a_stream_as_its_spec_says(&FormatOptions::default().formats);
    // raw, vhd, vhd-fixed, vhdx, vmdk-stream, qcow2.
    assert_eq!(n, 6);
}

#[test]
fn options_change_what_streams() {
    let mut options = WriterOptions::new();
    options.set(qcow2::Qcow2Options {
        compression: Some(qcow2::Compression::Deflate { level: 6 }),
        ..Default::default()
    });
    options.set(vhdx::FileParameters {
        fixed: true,
        ..Default::default()
    });
    let qcow2 = OutputFormat::parse("qcow2").unwrap().spec();
    assert_eq!((qcow2.layout)(&options), Layout::Seeks);
    let vhdx = OutputFormat::parse("vhdx").unwrap().spec();
    assert_eq!((vhdx.layout)(&options), Layout::Forward);
    // A fixed VHDX still streams, now without a scanning pass; a compressed
    // qcow2 no longer does.
    assert_eq!(writes_to_a_stream_as_its_spec_says(&options), 5);
}

#[test]
fn only_a_flat_vmdk_has_a_companion_and_only_a_fixed_vhd_grows() {
    let with_companion: Vec<_> = OutputFormat::all()
        .filter(|f| f.spec().companion.is_some())
        .map(OutputFormat::name)
        .collect();
    assert_eq!(with_companion, ["vmdk-flat"]);
    let flat = OutputFormat::parse("vmdk-flat").unwrap().spec();
    assert_eq!(
        flat.companion_path(std::path::Path::new("/x/disk.flat.vmdk")),
        Some("/x/disk.flat-flat.vmdk".into())
    );
    let growing: Vec<_> = OutputFormat::all()
        .filter_map(|f| Some((f.name(), f.spec().grows_disk?((1 << 20) + 512))))
        .collect();
    assert_eq!(growing, [("vhd-fixed", 2 << 20)]);
}
