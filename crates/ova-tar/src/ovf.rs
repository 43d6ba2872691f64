//! The OVF descriptor (DMTF OVF 1.0, with VMware's extensions).

use std::fmt::Write;

/// The virtual machine an OVA describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmSettings {
    /// Name of the virtual machine (and of the files in the package).
    pub name: String,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Virtual hardware version: `vmx-NN`. It also picks the manifest hash:
    /// up to 12 SHA-1, 13 and 14 SHA-256, above SHA-512.
    pub hw_version: u32,
    /// VMware guest OS identifier (`vmw:osType`).
    pub os_type: String,
    /// CIM operating system id (`ovf:id`; 101 is 64-bit Linux).
    pub os_id: u32,
    /// Firmware: `efi` or `bios`.
    pub firmware: String,
    /// Network adapter: `VmxNet3` or `E1000`.
    pub nic: String,
    /// Disk controller: `lsilogic`, `pvscsi` or `sata`.
    pub controller: String,
}

impl VmSettings {
    /// Sensible defaults for a 64-bit Linux guest named `name`: 2 CPUs,
    /// 2 GiB, vmx-14 (ESXi 6.7 and later), UEFI, VMXNET3, LSI Logic.
    pub fn linux(name: &str) -> Self {
        VmSettings {
            name: name.into(),
            cpus: 2,
            memory_mib: 2048,
            hw_version: 14,
            os_type: "other4xLinux64Guest".into(),
            os_id: 101,
            firmware: "efi".into(),
            nic: "VmxNet3".into(),
            controller: "lsilogic".into(),
        }
    }

    /// Checks the settings, naming the first that is out of range.
    pub fn validate(&self) -> Result<(), String> {
        let plain = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !plain(&self.name) || self.name.len() > 80 || self.name.starts_with('.') {
            return Err(format!(
                "VM name {:?}: use letters, digits, '-', '_' and '.' (at most 80)",
                self.name
            ));
        }
        if !plain(&self.os_type) {
            return Err(format!(
                "OS type {:?} is not a VMware guest id",
                self.os_type
            ));
        }
        if self.cpus == 0 || self.cpus > 768 {
            return Err(format!("{} CPUs: use 1 to 768", self.cpus));
        }
        if self.memory_mib < 4 || self.memory_mib > 24 << 20 {
            return Err(format!(
                "{} MiB of memory: use 4 MiB to 24 TiB",
                self.memory_mib
            ));
        }
        if !(4..=99).contains(&self.hw_version) {
            return Err(format!("hardware version {}: use 4 to 99", self.hw_version));
        }
        if !["efi", "bios"].contains(&self.firmware.as_str()) {
            return Err(format!("firmware {:?}: use efi or bios", self.firmware));
        }
        if !["VmxNet3", "E1000", "E1000e"].contains(&self.nic.as_str()) {
            return Err(format!(
                "network adapter {:?}: use VmxNet3, E1000 or E1000e",
                self.nic
            ));
        }
        if !["lsilogic", "pvscsi", "sata"].contains(&self.controller.as_str()) {
            return Err(format!(
                "controller {:?}: use lsilogic, pvscsi or sata",
                self.controller
            ));
        }
        Ok(())
    }
}

/// The disk an OVF describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskFacts {
    /// Name of the VMDK member.
    pub file: String,
    /// Its size in bytes.
    pub file_size: u64,
    /// Virtual size of the disk.
    pub capacity: u64,
    /// Bytes of the disk that hold data.
    pub populated: u64,
}

/// The streamOptimized disk format URI OVF consumers look for.
pub const STREAM_OPTIMIZED: &str =
    "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized";

fn item(out: &mut String, fields: &[(&str, String)]) {
    out.push_str("      <Item>\n");
    // rasd elements in the schema's (alphabetical) order.
    let mut sorted = fields.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in sorted {
        let _ = writeln!(out, "        <rasd:{k}>{v}</rasd:{k}>");
    }
    out.push_str("      </Item>\n");
}

/// The OVF envelope for `vm` with `disk`: the settings are validated first,
/// and every text taken from them is escaped for XML.
pub fn envelope(vm: &VmSettings, disk: &DiskFacts) -> crate::Result<String> {
    vm.validate().map_err(|e| crate::error::F.option(e))?;
    let x = |t: &str| quick_xml::escape::escape(t).into_owned();
    let (vm, disk) = (
        &VmSettings {
            name: x(&vm.name),
            os_type: x(&vm.os_type),
            firmware: x(&vm.firmware),
            nic: x(&vm.nic),
            controller: x(&vm.controller),
            ..vm.clone()
        },
        &DiskFacts {
            file: x(&disk.file),
            ..disk.clone()
        },
    );
    let mut o = String::new();
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    o.push_str("<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:cim=\"http://schemas.dmtf.org/wbem/wscim/1/common\" xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\" xmlns:vmw=\"http://www.vmware.com/schema/ovf\" xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n");
    let _ = writeln!(o, "  <References>\n    <File ovf:href=\"{}\" ovf:id=\"file1\" ovf:size=\"{}\"/>\n  </References>", disk.file, disk.file_size);
    let _ = writeln!(
        o,
        "  <DiskSection>\n    <Info>Virtual disk information</Info>\n    <Disk ovf:capacity=\"{}\" ovf:capacityAllocationUnits=\"byte\" ovf:diskId=\"vmdisk1\" ovf:fileRef=\"file1\" ovf:format=\"{STREAM_OPTIMIZED}\" ovf:populatedSize=\"{}\"/>\n  </DiskSection>",
        disk.capacity, disk.populated
    );
    o.push_str("  <NetworkSection>\n    <Info>The list of logical networks</Info>\n    <Network ovf:name=\"VM Network\">\n      <Description>The VM Network network</Description>\n    </Network>\n  </NetworkSection>\n");
    let _ = writeln!(
        o,
        "  <VirtualSystem ovf:id=\"{}\">\n    <Info>A virtual machine</Info>\n    <Name>{}</Name>",
        vm.name, vm.name
    );
    let _ = writeln!(
        o,
        "    <OperatingSystemSection ovf:id=\"{}\" vmw:osType=\"{}\">\n      <Info>The kind of installed guest operating system</Info>\n    </OperatingSystemSection>",
        vm.os_id, vm.os_type
    );
    o.push_str("    <VirtualHardwareSection>\n      <Info>Virtual hardware requirements</Info>\n");
    let _ = writeln!(
        o,
        "      <System>\n        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n        <vssd:InstanceID>0</vssd:InstanceID>\n        <vssd:VirtualSystemIdentifier>{}</vssd:VirtualSystemIdentifier>\n        <vssd:VirtualSystemType>vmx-{:02}</vssd:VirtualSystemType>\n      </System>",
        vm.name, vm.hw_version
    );
    let s = |x: &str| x.to_string();
    item(
        &mut o,
        &[
            ("AllocationUnits", s("hertz * 10^6")),
            ("Description", s("Number of Virtual CPUs")),
            ("ElementName", format!("{} virtual CPU(s)", vm.cpus)),
            ("InstanceID", s("1")),
            ("ResourceType", s("3")),
            ("VirtualQuantity", vm.cpus.to_string()),
        ],
    );
    item(
        &mut o,
        &[
            ("AllocationUnits", s("byte * 2^20")),
            ("Description", s("Memory Size")),
            ("ElementName", format!("{}MB of memory", vm.memory_mib)),
            ("InstanceID", s("2")),
            ("ResourceType", s("4")),
            ("VirtualQuantity", vm.memory_mib.to_string()),
        ],
    );
    let (ctl_name, ctl_type, ctl_sub) = match vm.controller.as_str() {
        "pvscsi" => ("SCSI Controller 0", "6", "VirtualSCSI"),
        "sata" => ("SATA Controller 0", "20", "vmware.sata.ahci"),
        _ => ("SCSI Controller 0", "6", "lsilogic"),
    };
    item(
        &mut o,
        &[
            ("Address", s("0")),
            ("Description", s("Disk controller")),
            ("ElementName", s(ctl_name)),
            ("InstanceID", s("3")),
            ("ResourceSubType", s(ctl_sub)),
            ("ResourceType", s(ctl_type)),
        ],
    );
    item(
        &mut o,
        &[
            ("AddressOnParent", s("0")),
            ("ElementName", s("Hard Disk 1")),
            ("HostResource", s("ovf:/disk/vmdisk1")),
            ("InstanceID", s("4")),
            ("Parent", s("3")),
            ("ResourceType", s("17")),
        ],
    );
    item(
        &mut o,
        &[
            ("AddressOnParent", s("7")),
            ("AutomaticAllocation", s("true")),
            ("Connection", s("VM Network")),
            (
                "Description",
                format!("{} ethernet adapter on \"VM Network\"", vm.nic),
            ),
            ("ElementName", s("Network adapter 1")),
            ("InstanceID", s("5")),
            ("ResourceSubType", vm.nic.clone()),
            ("ResourceType", s("10")),
        ],
    );
    let _ = writeln!(
        o,
        "      <vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"{}\"/>",
        vm.firmware
    );
    o.push_str("    </VirtualHardwareSection>\n  </VirtualSystem>\n</Envelope>\n");
    Ok(o)
}

/// A file an OVF's `References` lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OvfFile {
    /// `ovf:id`, by which disks refer to it.
    pub id: String,
    /// `ovf:href`: the member's name.
    pub href: String,
    /// `ovf:size`, when given.
    pub size: Option<u64>,
}

/// A virtual disk an OVF's `DiskSection` describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OvfDisk {
    /// `ovf:diskId`.
    pub id: String,
    /// `ovf:fileRef`: the [`OvfFile::id`] holding its data (none for a
    /// blank disk the importer creates).
    pub file_ref: Option<String>,
    /// `ovf:capacity` in bytes, when it is a number in known units.
    pub capacity: Option<u64>,
    /// `ovf:format`: the disk format URI.
    pub format: Option<String>,
}

/// What an OVF descriptor says about its files and disks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    /// The `References` section, in order.
    pub files: Vec<OvfFile>,
    /// The `DiskSection`, in order.
    pub disks: Vec<OvfDisk>,
    /// The first virtual system's `Name`.
    pub name: Option<String>,
    /// Its virtual hardware family (`vssd:VirtualSystemType`, e.g. `vmx-14`).
    pub system_type: Option<String>,
}

const OVF_NS_PREFIX: &[u8] = b"http://schemas.dmtf.org/ovf/envelope/";

impl Descriptor {
    /// Reads the `References` and `DiskSection` of an OVF (1.x or 2.x
    /// envelope), with an XML parser: namespaces resolved, entities
    /// unescaped, malformed XML refused with its byte offset.
    pub fn parse(text: &str) -> Result<Self, String> {
        use quick_xml::events::Event;
        use quick_xml::name::ResolveResult;

        let mut reader = quick_xml::NsReader::from_str(text);
        let mut out = Descriptor::default();
        // Local names of the open OVF elements.
        let mut open: Vec<Vec<u8>> = Vec::new();
        // Local names of all the open elements, for the texts kept.
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut root_seen = false;
        loop {
            let at = reader.buffer_position();
            let (ns, event) = reader
                .read_resolved_event()
                .map_err(|e| format!("XML from byte {at}: {e}"))?;
            let in_ovf =
                matches!(ns, ResolveResult::Bound(n) if n.as_ref().starts_with(OVF_NS_PREFIX));
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let local = e.local_name().as_ref().to_vec();
                    if !root_seen {
                        root_seen = true;
                        if !in_ovf || local != b"Envelope" {
                            return Err(format!(
                                "XML at byte {at}: the root element is not an OVF Envelope"
                            ));
                        }
                    }
                    if in_ovf {
                        let parent = open.last().map(Vec::as_slice);
                        match (parent, local.as_slice()) {
                            (Some(b"References"), b"File") => {
                                let a = attributes(&reader, e, at)?;
                                out.files.push(OvfFile {
                                    id: a.need("id", "File", at)?,
                                    href: a.need("href", "File", at)?,
                                    size: a.number("size", at)?,
                                });
                            }
                            (Some(b"DiskSection"), b"Disk") => {
                                let a = attributes(&reader, e, at)?;
                                let units = a.get("capacityAllocationUnits");
                                out.disks.push(OvfDisk {
                                    id: a.need("diskId", "Disk", at)?,
                                    file_ref: a.get("fileRef"),
                                    capacity: a.get("capacity").and_then(|c| {
                                        in_bytes(&c, units.as_deref().unwrap_or("byte"))
                                    }),
                                    format: a.get("format"),
                                });
                            }
                            _ => {}
                        }
                    }
                    if matches!(event, Event::Start(_)) {
                        names.push(local.clone());
                        open.push(if in_ovf { local } else { Vec::new() });
                    }
                }
                Event::End(_) => {
                    open.pop();
                    names.pop();
                }
                Event::Text(ref t) => {
                    let slot = match names.as_slice() {
                        [.., a, b] if a == b"VirtualSystem" && b == b"Name" => &mut out.name,
                        [.., b] if b == b"VirtualSystemType" => &mut out.system_type,
                        _ => continue,
                    };
                    if slot.is_none() {
                        let text = t.decode().map_err(|e| format!("XML at byte {at}: {e}"))?;
                        *slot = Some(text.trim().to_owned());
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !root_seen {
            return Err("no XML element in it".into());
        }
        Ok(out)
    }

    /// The file holding the disk to read: the one disk's `fileRef`; with no
    /// `DiskSection`, the only file. More than one disk is refused (which
    /// would be converted is not the reader's to guess).
    pub fn disk_file(&self) -> Result<Option<&OvfFile>, String> {
        let disk = match self.disks.as_slice() {
            [] => return Ok(self.files.first().filter(|_| self.files.len() == 1)),
            [one] => one,
            many => {
                let ids: Vec<&str> = many.iter().map(|d| d.id.as_str()).collect();
                return Err(format!(
                    "it describes {} disks ({}); convert one at a time from the extracted archive",
                    many.len(),
                    ids.join(", ")
                ));
            }
        };
        let Some(r) = &disk.file_ref else {
            return Err(format!(
                "disk {:?} has no ovf:fileRef (a blank disk)",
                disk.id
            ));
        };
        self.files
            .iter()
            .find(|f| &f.id == r)
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "disk {:?} refers to file {r:?}, which References does not list",
                    disk.id
                )
            })
    }
}

/// The attributes of one element, by local name, unescaped.
struct Attributes(Vec<(Vec<u8>, String)>);

impl Attributes {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.clone())
    }
    fn need(&self, name: &str, element: &str, at: u64) -> Result<String, String> {
        self.get(name)
            .ok_or_else(|| format!("XML at byte {at}: {element} has no ovf:{name}"))
    }
    fn number(&self, name: &str, at: u64) -> Result<Option<u64>, String> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| format!("XML at byte {at}: ovf:{name}={v:?} is not a number"))
            })
            .transpose()
    }
}

fn attributes(
    reader: &quick_xml::NsReader<&[u8]>,
    e: &quick_xml::events::BytesStart<'_>,
    at: u64,
) -> Result<Attributes, String> {
    use quick_xml::name::ResolveResult;
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| format!("XML at byte {at}: {err}"))?;
        let (ns, local) = reader.resolve_attribute(a.key);
        // OVF attributes are qualified (`ovf:href`); unqualified ones are
        // taken too, as lenient readers do.
        let ours = match ns {
            ResolveResult::Bound(n) => n.as_ref().starts_with(OVF_NS_PREFIX),
            ResolveResult::Unbound => true,
            ResolveResult::Unknown(_) => false,
        };
        if ours {
            let v = a
                .unescape_value()
                .map_err(|err| format!("XML at byte {at}: {err}"))?;
            out.push((local.as_ref().to_vec(), v.into_owned()));
        }
    }
    Ok(Attributes(out))
}

/// `value` in `units` (`byte`, `byte * 2^N`) as bytes, if both are plain.
fn in_bytes(value: &str, units: &str) -> Option<u64> {
    let v: u64 = value.trim().parse().ok()?;
    let u: String = units.chars().filter(|c| !c.is_whitespace()).collect();
    let shift = match u.as_str() {
        "byte" => 0,
        _ => u.strip_prefix("byte*2^")?.parse::<u32>().ok()?,
    };
    v.checked_mul(1u64.checked_shl(shift)?)
}
