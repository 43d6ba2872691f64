//! Root filesystems for the build tests: archives holding what a
//! distribution's tree holds that a plain copy would lose.

use std::fs::File;
use std::path::Path;

/// The members [`sample_tar`] writes under `usr/share`, with a path longer
/// than ustar's 100-byte name field.
pub fn long_path() -> String {
    format!("usr/share/{}/file", "d".repeat(120))
}

/// A GNU tar header for `path`, owned by root, of `kind`, `mode` and `len`
/// bytes, modified at `mtime`, its checksum set: the member a test writes
/// header by header.
pub fn gnu_header(
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    len: u64,
    mtime: u64,
) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).unwrap();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(len);
    h.set_cksum();
    h
}

/// A tar with what a distribution's tree holds that a plain copy would
/// lose: owners, set-id bits, device nodes, links, capabilities.
pub fn sample_tar(path: &Path) {
    let mut b = tar::Builder::new(File::create(path).unwrap());
    let mut add = |name: &str,
                   ty: tar::EntryType,
                   mode: u32,
                   owner: (u64, u64),
                   data: &[u8],
                   link: Option<&str>,
                   pax: &[(&str, &[u8])]| {
        if !pax.is_empty() {
            b.append_pax_extensions(pax.iter().copied()).unwrap();
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(ty);
        h.set_mode(mode);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_mtime(1_600_000_000);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        if ty == tar::EntryType::Char {
            h.set_device_major(5).unwrap();
            h.set_device_minor(1).unwrap();
        }
        b.append_data(&mut h, name, data).unwrap();
    };
    use tar::EntryType as T;
    add("./", T::Directory, 0o755, (0, 0), b"", None, &[]);
    add("./etc/", T::Directory, 0o755, (0, 0), b"", None, &[]);
    add(
        "./etc/shadow",
        T::Regular,
        0o640,
        (0, 42),
        b"root:*:19000:0:99999:7:::\n",
        None,
        &[],
    );
    add(
        "./etc/fstab",
        T::Regular,
        0o644,
        (0, 0),
        b"# from the rootfs, replaced\n",
        None,
        &[],
    );
    add("./usr/", T::Directory, 0o755, (0, 0), b"", None, &[]);
    add("./usr/bin/", T::Directory, 0o755, (0, 0), b"", None, &[]);
    add(
        "./usr/bin/passwd",
        T::Regular,
        0o4755,
        (0, 0),
        b"\x7fELF-passwd",
        None,
        &[],
    );
    add(
        "./usr/bin/ping",
        T::Regular,
        0o755,
        (0, 0),
        b"\x7fELF-ping",
        None,
        &[(
            "SCHILY.xattr.security.capability",
            &[
                1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
        )],
    );
    add(
        "./usr/bin/ping6",
        T::Link,
        0o755,
        (0, 0),
        b"",
        Some("./usr/bin/ping"),
        &[],
    );
    add(
        "./usr/bin/sh",
        T::Symlink,
        0o777,
        (0, 0),
        b"",
        Some("busybox"),
        &[],
    );
    add("./home/", T::Directory, 0o755, (0, 0), b"", None, &[]);
    add(
        "./home/user/",
        T::Directory,
        0o700,
        (1000, 1000),
        b"",
        None,
        &[],
    );
    add(
        "./home/user/notes",
        T::Regular,
        0o600,
        (1000, 1000),
        b"mine",
        None,
        &[],
    );
    add("./dev/", T::Directory, 0o755, (0, 0), b"", None, &[]);
    add("./dev/console", T::Char, 0o600, (0, 5), b"", None, &[]);
    add("./boot/", T::Directory, 0o755, (0, 0), b"", None, &[]);
    add("./boot/efi/", T::Directory, 0o700, (0, 0), b"", None, &[]);
    add(
        "./boot/efi/EFI/",
        T::Directory,
        0o700,
        (0, 0),
        b"",
        None,
        &[],
    );
    add(
        "./boot/efi/EFI/BOOT/",
        T::Directory,
        0o700,
        (0, 0),
        b"",
        None,
        &[],
    );
    add(
        "./boot/efi/EFI/BOOT/BOOTX64.EFI",
        T::Regular,
        0o700,
        (0, 0),
        &vec![0x4d; 300_000],
        None,
        &[],
    );
    let long = format!("./{}", long_path());
    add(&long, T::Regular, 0o644, (0, 0), b"long", None, &[]);
    b.finish().unwrap();
}
