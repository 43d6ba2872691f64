//! The QCOW2 writer's entry in a format list.

use blocksink::{Layout, WriterSpec};

use crate::{Qcow2Options, Qcow2Writer};

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
