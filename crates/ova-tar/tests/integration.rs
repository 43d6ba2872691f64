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
