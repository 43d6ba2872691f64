//! OVA against tar, sha*sum, xmllint and qemu-img.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use blocksink::{convert, BlockSource, BuildStamp, Destination, RawFile};
use ova_tar::{OvaReader, OvaWriter, VmSettings};
use testkit::{qemu_compare, run_ok, sample_disk};

fn write_ova(raw: &Path, out: &Path, vm: VmSettings) {
    let mut src = RawFile::new(File::open(raw).unwrap()).unwrap();
    let mut w = OvaWriter::new(
        Destination::file(File::create(out).unwrap()),
        vm,
        BuildStamp::fixed(1_700_000_000, "test"),
    )
    .unwrap();
    convert(&mut src, &mut [&mut w], &mut |_, _| {}).unwrap();
}

fn attr(xml: &str, name: &str) -> u64 {
    let start = xml.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    xml[start..start + xml[start..].find('"').unwrap()]
        .parse()
        .unwrap()
}

#[test]
fn tools_accept_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let size = (24 << 20) + 512;
    sample_disk(&raw, size, 51);
    for (hw, sum) in [(14, "sha256sum"), (12, "sha1sum"), (19, "sha512sum")] {
        let ova = dir.path().join(format!("vm{hw}.ova"));
        let mut vm = VmSettings::linux("photon");
        vm.hw_version = hw;
        write_ova(&raw, &ova, vm);
        let listing = run_ok("tar", &["tvf", ova.to_str().unwrap()]);
        let names: Vec<&str> = listing
            .lines()
            .map(|l| l.split_whitespace().last().unwrap())
            .collect();
        assert_eq!(
            names,
            ["photon.ovf", "photon.mf", "photon-disk1.vmdk"],
            "{listing}"
        );
        let x = dir.path().join(format!("x{hw}"));
        std::fs::create_dir(&x).unwrap();
        run_ok(
            "tar",
            &["xf", ova.to_str().unwrap(), "-C", x.to_str().unwrap()],
        );
        // The manifest, rewritten as sha*sum expects it, checks out.
        let mf = std::fs::read_to_string(x.join("photon.mf")).unwrap();
        let lines: String = mf
            .lines()
            .map(|l| {
                let (name, hex) = l.split_once('(').unwrap().1.split_once(")= ").unwrap();
                format!("{hex}  {name}\n")
            })
            .collect();
        std::fs::write(x.join("sums"), lines).unwrap();
        let out = std::process::Command::new(sum)
            .arg("-c")
            .arg("sums")
            .current_dir(&x)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sum}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let ovf_path = x.join("photon.ovf");
        run_ok("xmllint", &["--noout", ovf_path.to_str().unwrap()]);
        let ovf = std::fs::read_to_string(&ovf_path).unwrap();
        let disk = x.join("photon-disk1.vmdk");
        assert_eq!(
            attr(&ovf, "ovf:size"),
            std::fs::metadata(&disk).unwrap().len()
        );
        assert_eq!(attr(&ovf, "ovf:capacity"), size);
        assert!(ovf.contains(&format!("vmx-{hw}")));
        assert!(ovf.contains("vmdk.html#streamOptimized"));
        qemu_compare(&raw, "raw", &disk, "vmdk");
        // Our reader reads the disk in place and verifies the manifest.
        let mut r = OvaReader::open(Arc::new(File::open(&ova).unwrap())).unwrap();
        assert_eq!(r.size(), size);
        let mut buf = vec![0u8; size as usize];
        r.read_at(0, &mut buf).unwrap();
        assert!(buf == std::fs::read(&raw).unwrap());
    }
}

fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_ustar();
        h.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn hostile_packages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 3 << 20, 52);
    let ova = dir.path().join("a.ova");
    write_ova(&raw, &ova, VmSettings::linux("a"));
    let good = std::fs::read(&ova).unwrap();
    // A disk byte changed: the manifest no longer matches.
    let mut flipped = good.clone();
    let last = flipped.len() - 20000;
    flipped[last] ^= 1;
    let err = OvaReader::open(blocksink::Bytes::from(flipped))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("manifest") || err.contains("checksum"),
        "{err}"
    );
    for name in ["../evil.vmdk", "/etc/evil.vmdk", "dir/a.vmdk"] {
        let t = tar_of(&[("a.ovf", b"<Envelope/>"), (name, b"x")]);
        let err = OvaReader::open(blocksink::Bytes::from(t))
            .unwrap_err()
            .to_string();
        assert!(err.contains("plain file names"), "{name}: {err}");
    }
    assert!(OvaReader::open(blocksink::Bytes::from(vec![0u8; 4096])).is_err());

    // A manifest that names the disk many times would have it hashed once
    // per line: refused before any member is read.
    let mut members: Vec<(String, Vec<u8>)> = Vec::new();
    for e in tar::Archive::new(&good[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        members.push((name, data));
    }
    let mf = members
        .iter()
        .position(|(n, _)| n.ends_with(".mf"))
        .unwrap();
    let line = String::from_utf8(members[mf].1.clone())
        .unwrap()
        .lines()
        .find(|l| l.contains(".vmdk"))
        .unwrap()
        .to_string();
    let mut repeated = members.clone();
    repeated[mf].1 = format!("{line}\n").repeat(100_000).into_bytes();
    let t = tar_of(
        &repeated
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect::<Vec<_>>(),
    );
    let err = OvaReader::open(blocksink::Bytes::from(t))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2: lists") && err.contains("again (first on line 1)"),
        "{err}"
    );
}

/// The members of an OVA written by the crate, as (name, bytes).
fn unpack(ova: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in tar::Archive::new(ova).entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.push((name, data));
    }
    out
}

#[test]
fn pax_records_and_gnu_long_names_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 3 << 20, 53);
    let ova = dir.path().join("a.ova");
    write_ova(&raw, &ova, VmSettings::linux("a"));
    let members = unpack(&std::fs::read(&ova).unwrap());
    let (disk_name, disk) = members.iter().find(|m| m.0.ends_with(".vmdk")).unwrap();

    // The disk's size in a pax record and a wrong one (0) in its ustar
    // header, as tools write sizes past the ustar field's reach: read by
    // the header alone, the disk's data would be taken for the next header.
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in &members {
        if name == disk_name {
            b.append_pax_extensions([("size", data.len().to_string().as_bytes())])
                .unwrap();
            let mut h = tar::Header::new_ustar();
            h.set_path(name).unwrap();
            h.set_size(0);
            h.set_mode(0o644);
            h.set_cksum();
            let w = b.get_mut();
            w.extend_from_slice(h.as_bytes());
            w.extend_from_slice(data);
            w.resize(w.len().next_multiple_of(512), 0);
        } else {
            let mut h = tar::Header::new_ustar();
            h.set_path(name).unwrap();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, data.as_slice()).unwrap();
        }
    }
    let paxed = b.into_inner().unwrap();
    let mut r = OvaReader::open(blocksink::Bytes::from(paxed)).unwrap();
    let m = r.members.iter().find(|m| &m.name == disk_name).unwrap();
    assert_eq!(m.size, disk.len() as u64);
    assert!(r.manifest.is_some(), "the manifest was checked");
    let mut back = vec![0u8; r.size() as usize];
    r.read_at(0, &mut back).unwrap();
    assert_eq!(back, std::fs::read(&raw).unwrap());

    // A disk name past ustar's 100 bytes, in a GNU long-name record; the
    // OVF names it (the manifest, which names the old one, is left out).
    let long = format!("{}.vmdk", "d".repeat(150));
    let ovf = &members.iter().find(|m| m.0.ends_with(".ovf")).unwrap().1;
    let ovf = String::from_utf8(ovf.clone())
        .unwrap()
        .replace(disk_name.as_str(), &long);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(ovf.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "a.ovf", ovf.as_bytes()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(disk.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, &long, disk.as_slice()).unwrap();
    let t = b.into_inner().unwrap();
    let mut r = OvaReader::open(blocksink::Bytes::from(t)).unwrap();
    assert_eq!(r.disk_name, long);
    let mut back = vec![0u8; r.size() as usize];
    r.read_at(0, &mut back).unwrap();
    assert_eq!(back, std::fs::read(&raw).unwrap());
}

#[test]
fn the_ovf_is_read_as_xml() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    sample_disk(&raw, 3 << 20, 54);
    let ova = dir.path().join("a.ova");
    write_ova(&raw, &ova, VmSettings::linux("a"));
    let members = unpack(&std::fs::read(&ova).unwrap());
    let ovf = String::from_utf8(members[0].1.clone()).unwrap();
    let disk = &members[2];
    let with_ovf = |text: &str| {
        tar_of(&[
            ("a.ovf", text.as_bytes()),
            (disk.0.as_str(), disk.1.as_slice()),
        ])
    };
    let open = |text: &str| {
        OvaReader::open(blocksink::Bytes::from(with_ovf(text)))
            .map(|r| r.disk_name.clone())
            .map_err(|e| e.to_string())
    };
    assert_eq!(open(&ovf).unwrap(), disk.0);

    // Another prefix for the OVF namespace, and the href escaped: the same.
    let renamed = ovf
        .replace("xmlns:ovf=", "xmlns:o=")
        .replace("ovf:", "o:")
        .replace(
            &format!("o:href=\"{}\"", disk.0),
            &format!("o:href=\"{}\"", disk.0.replace('-', "&#45;")),
        );
    assert_eq!(open(&renamed).unwrap(), disk.0);

    // A href in a comment, or in another namespace, names nothing.
    let err = open(
        "<Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:x=\"urn:x\">\
         <!-- <File ovf:href=\"other.vmdk\"/> --><References><x:File x:href=\"other.vmdk\" x:id=\"f\"/>\
         </References><DiskSection><Disk ovf:diskId=\"d\" ovf:fileRef=\"f\" \
         xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\"/></DiskSection></Envelope>",
    )
    .unwrap_err();
    assert!(err.contains("References does not list"), "{err}");

    // Two disks: which to convert is not guessed.
    let two = ovf.replace(
        "</DiskSection>",
        "<Disk ovf:capacity=\"1\" ovf:diskId=\"vmdisk2\"/></DiskSection>",
    );
    let err = open(&two).unwrap_err();
    assert!(err.contains("2 disks (vmdisk1, vmdisk2)"), "{err}");

    // Malformed XML is named with where it breaks.
    let err = open(&ovf.replace("</References>", "</Refs>")).unwrap_err();
    assert!(err.contains("a.ovf: XML from byte"), "{err}");
    let err = open("<Envelope xmlns=\"urn:not-ovf\"/>").unwrap_err();
    assert!(err.contains("not an OVF Envelope"), "{err}");

    // The parsed descriptor, in bytes.
    let d = ova_tar::Descriptor::parse(&ovf).unwrap();
    assert_eq!(d.disks[0].capacity, Some(3 << 20));
    assert_eq!(d.files[0].href, disk.0);
    assert_eq!(d.name.as_deref(), Some("a"));
    assert_eq!(d.system_type.as_deref(), Some("vmx-14"));
}
