//! The OVA writer's entry in a format list.

use blocksink::{Layout, WriterSpec};

use crate::{OvaWriter, VmSettings};

/// The virtual machine's name when none is set: the package's file name
/// without `.ova`, in the characters a VM name may hold.
fn name_from_file(file_name: &str) -> String {
    let stem = file_name.strip_suffix(".ova").unwrap_or(file_name);
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// OVA: OVF descriptor, manifest and streamOptimized VMDK in a tar, for the
/// [`VmSettings`] set in a program's [`blocksink::WriterOptions`]
/// ([`VmSettings::linux`] when none are; an empty name stands for the
/// output's).
pub const WRITER: WriterSpec = WriterSpec {
    name: "ova",
    aliases: &[],
    extension: "ova",
    description: "OVA (OVF, manifest and streamOptimized VMDK in a tar), for vSphere and AWS",
    // The manifest, before the disk, holds the disk's digest: the disk is
    // placed behind reserved room and the head written last.
    layout: |_| Layout::Seeks,
    companion: None,
    grows_disk: None,
    make: |dest, ctx| {
        let mut vm = ctx
            .options
            .get::<VmSettings>()
            .cloned()
            .unwrap_or_else(|| VmSettings::linux(""));
        if vm.name.is_empty() {
            vm.name = name_from_file(&ctx.file_name);
        }
        Ok(Box::new(OvaWriter::new(dest, vm, ctx.stamp)?))
    },
};

/// This crate's writers, for a program's format list.
pub const WRITERS: &[WriterSpec] = &[WRITER];
