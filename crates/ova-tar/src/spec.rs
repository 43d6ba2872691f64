//! The OVA writer's entry in a format list.

use blocksink::{FormatOptionSet, Layout, OptionSpec, WriterSpec};

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

/// The options of [`WRITER`], for a program's option list (`--vm-name`,
/// `--cpus`, `--memory` …): they set the [`VmSettings`] in its
/// [`blocksink::WriterOptions`], starting from [`VmSettings::linux`].
pub const OPTIONS: FormatOptionSet = FormatOptionSet {
    format: "ova",
    options: &[
        OptionSpec::value(
            "vm-name",
            "VM_NAME",
            "ova: name of the virtual machine (default: the output's stem)",
        ),
        OptionSpec::value("cpus", "CPUS", "ova: virtual CPUs").default("2"),
        OptionSpec::value("memory", "MEMORY", "ova: memory in MiB").default("2048"),
        OptionSpec::value(
            "vm-hw-version",
            "VM_HW_VERSION",
            "ova: virtual hardware version, vmx-NN (≤12 SHA-1 manifest, 13–14 SHA-256, newer SHA-512)",
        )
        .default("14"),
        OptionSpec::value("os-type", "OS_TYPE", "ova: VMware guest OS id")
            .default("other4xLinux64Guest"),
        OptionSpec::value("firmware", "FIRMWARE", "ova: firmware, efi or bios").default("efi"),
        OptionSpec::value(
            "nic",
            "NIC",
            "ova: network adapter, VmxNet3, E1000 or E1000e",
        )
        .default("VmxNet3"),
        OptionSpec::value(
            "controller",
            "CONTROLLER",
            "ova: disk controller, lsilogic, pvscsi or sata",
        )
        .default("lsilogic"),
    ],
    apply: |values, options| {
        // An empty name stands for the output's.
        let mut vm = VmSettings::linux(values.get("vm-name").unwrap_or(""));
        if let Some(cpus) = values.u32("cpus")? {
            vm.cpus = cpus;
        }
        if let Some(mib) = values.u64("memory")? {
            vm.memory_mib = mib;
        }
        if let Some(version) = values.u32("vm-hw-version")? {
            vm.hw_version = version;
        }
        for (name, field) in [
            ("os-type", &mut vm.os_type),
            ("firmware", &mut vm.firmware),
            ("nic", &mut vm.nic),
            ("controller", &mut vm.controller),
        ] {
            if let Some(value) = values.string(name) {
                *field = value;
            }
        }
        options.set(vm);
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
        assert_eq!(options.get(), Some(&VmSettings::linux("")));
        for (name, value) in [
            ("vm-name", "web"),
            ("cpus", "8"),
            ("memory", "4096"),
            ("vm-hw-version", "19"),
            ("os-type", "rhel9_64Guest"),
            ("firmware", "bios"),
            ("nic", "E1000"),
            ("controller", "pvscsi"),
        ] {
            values.set(name, value).unwrap();
        }
        OPTIONS.apply_to(&values, &mut options).unwrap();
        let mut want = VmSettings::linux("web");
        want.cpus = 8;
        want.memory_mib = 4096;
        want.hw_version = 19;
        want.os_type = "rhel9_64Guest".into();
        want.firmware = "bios".into();
        want.nic = "E1000".into();
        want.controller = "pvscsi".into();
        assert_eq!(options.get(), Some(&want));
        let e = OPTIONS.check("memory", "2G").unwrap_err();
        assert!(e.to_string().contains("memory \"2G\""), "{e}");
    }
}
