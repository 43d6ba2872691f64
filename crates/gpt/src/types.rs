//! Partition types by name, as the Discoverable Partitions Specification
//! and sgdisk name them.

use uuid::{uuid, Uuid};

/// (name, sgdisk code, type GUID) of the partition types this crate names.
pub const KNOWN_TYPES: &[(&str, &str, Uuid)] = &[
    ("esp", "ef00", uuid!("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")),
    (
        "bios-grub",
        "ef02",
        uuid!("21686148-6449-6e6f-744e-656564454649"),
    ),
    (
        "xbootldr",
        "ea00",
        uuid!("bc13c2ff-59e6-4262-a352-b275fd6f7172"),
    ),
    (
        "linux",
        "8300",
        uuid!("0fc63daf-8483-4772-8e79-3d69d8477de4"),
    ),
    (
        "linux-root-x86-64",
        "8304",
        uuid!("4f68bce3-e8cd-4db1-96e7-fbcaf984b709"),
    ),
    (
        "linux-root-arm64",
        "8305",
        uuid!("b921b045-1df0-41c3-af44-4c6f280d3fae"),
    ),
    (
        "linux-usr-x86-64",
        "8314",
        uuid!("8484680c-9521-48c6-9c11-b0720656f69e"),
    ),
    (
        "linux-usr-arm64",
        "8315",
        uuid!("b0e01050-ee5f-4390-949a-9101b17104e9"),
    ),
    (
        "linux-root-verity-x86-64",
        "830c",
        uuid!("2c7357ed-ebd2-46d9-aec1-23d437ec2bf5"),
    ),
    (
        "linux-usr-verity-x86-64",
        "831c",
        uuid!("77ff5f63-e7b6-4633-acf4-1565b864c0e6"),
    ),
    (
        "linux-home",
        "8302",
        uuid!("933ac7e1-2eb4-4f13-b844-0e14e2aef915"),
    ),
    (
        "linux-srv",
        "8306",
        uuid!("3b8f8425-20e0-4f3b-907f-1a25a76f98e8"),
    ),
    (
        "linux-var",
        "8310",
        uuid!("4d21b016-b534-45c2-a9fb-5c16e091fd2d"),
    ),
    (
        "linux-lvm",
        "8e00",
        uuid!("e6d6d379-f507-44c2-a23c-238f2a3df928"),
    ),
    (
        "linux-raid",
        "fd00",
        uuid!("a19d880f-05fc-4d3b-a006-743f0f84911e"),
    ),
    (
        "swap",
        "8200",
        uuid!("0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"),
    ),
    (
        "microsoft-basic-data",
        "0700",
        uuid!("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"),
    ),
];

/// The type GUID for a name (`esp`, `linux-root-x86-64`, …), an sgdisk code
/// (`ef00`) or a GUID written out.
pub fn type_by_name(name: &str) -> Option<Uuid> {
    let n = name.trim().to_ascii_lowercase();
    KNOWN_TYPES
        .iter()
        .find(|(k, code, _)| *k == n || *code == n)
        .map(|(_, _, g)| *g)
        .or_else(|| Uuid::parse_str(&n).ok())
}

/// The name of a type GUID, when this crate knows it.
pub fn type_name(guid: &Uuid) -> Option<&'static str> {
    KNOWN_TYPES
        .iter()
        .find(|(_, _, g)| g == guid)
        .map(|(n, _, _)| *n)
}
