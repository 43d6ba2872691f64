//! The OVA writer: a [`BlockSink`] around a streamOptimized VMDK writer.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use blocksink::{BlockSink, BuildStamp, Bytes, Destination, Extent};
use sha1::Digest;
use vmdk::{VmdkOptions, VmdkSubformat, VmdkWriter};

use crate::ovf::{envelope, DiskFacts, VmSettings};
use crate::{Error, Result};

/// The manifest's digest, chosen by virtual hardware version as VMware's
/// tools choose it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestHash {
    /// Hardware version 12 and older.
    Sha1,
    /// Hardware versions 13 and 14.
    Sha256,
    /// Hardware version 15 and newer.
    Sha512,
}

impl ManifestHash {
    /// The digest VMware uses for hardware version `hw`.
    pub fn for_hw_version(hw: u32) -> Self {
        match hw {
            0..=12 => ManifestHash::Sha1,
            13..=14 => ManifestHash::Sha256,
            _ => ManifestHash::Sha512,
        }
    }

    /// The name the manifest lines start with.
    pub fn name(self) -> &'static str {
        match self {
            ManifestHash::Sha1 => "SHA1",
            ManifestHash::Sha256 => "SHA256",
            ManifestHash::Sha512 => "SHA512",
        }
    }

    /// Parses a manifest line's algorithm name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "SHA1" => Some(ManifestHash::Sha1),
            "SHA256" => Some(ManifestHash::Sha256),
            "SHA512" => Some(ManifestHash::Sha512),
            _ => None,
        }
    }

    /// A running digest of this kind.
    pub fn hasher(self) -> Box<dyn sha2::digest::DynDigest + Send> {
        match self {
            ManifestHash::Sha1 => Box::new(sha1::Sha1::new()),
            ManifestHash::Sha256 => Box::new(sha2::Sha256::new()),
            ManifestHash::Sha512 => Box::new(sha2::Sha512::new()),
        }
    }

    /// Hex digest of everything `r` yields.
    pub fn hex_of(self, mut r: impl Read) -> io::Result<String> {
        fn run<D: Digest>(mut d: D, r: &mut dyn Read) -> io::Result<String> {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                d.update(&buf[..n]);
            }
            Ok(d.finalize().iter().map(|b| format!("{b:02x}")).collect())
        }
        match self {
            ManifestHash::Sha1 => run(sha1::Sha1::new(), &mut r),
            ManifestHash::Sha256 => run(sha2::Sha256::new(), &mut r),
            ManifestHash::Sha512 => run(sha2::Sha512::new(), &mut r),
        }
    }
}

/// Writes an OVA into a [`Destination`]: a ustar archive holding, in order,
/// the OVF descriptor, the manifest and the streamOptimized disk.
///
/// The OVF and manifest come first but depend on the finished disk (its
/// size and digest), so the disk is compressed into a spool file as the data
/// arrives and copied into the archive at the end (in the kernel, where the
/// output is a file). The input is still read only once, and the archive is
/// written strictly in order, so it can go to a pipe.
pub struct OvaWriter {
    dest: Destination,
    vm: VmSettings,
    stamp: BuildStamp,
    spool: File,
    disk: VmdkWriter,
    /// Digest of the disk as it is spooled.
    digest: Arc<Mutex<Box<dyn sha2::digest::DynDigest + Send>>>,
    size: u64,
    populated: u64,
}

impl std::fmt::Debug for OvaWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvaWriter")
            .field("vm", &self.vm)
            .finish_non_exhaustive()
    }
}

/// The spool the disk is written to, digesting every byte on the way: the
/// stream-optimized disk is written strictly in order, so its digest is
/// ready when it is, without reading the spool again.
struct DigestingSpool {
    file: File,
    digest: Arc<Mutex<Box<dyn sha2::digest::DynDigest + Send>>>,
}

impl Write for DigestingSpool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if let Ok(mut d) = self.digest.lock() {
            d.update(&buf[..n]);
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn tar_header(name: &str, len: u64, mtime: u64) -> Result<[u8; 512]> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)
        .map_err(|e| Error::InvalidOption(format!("member name {name:?}: {e}")))?;
    h.set_size(len);
    h.set_mode(0o644);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut out = [0u8; 512];
    out.copy_from_slice(h.as_bytes());
    Ok(out)
}

impl OvaWriter {
    /// An OVA of `vm` into `dest`, spooling the disk in `spool` (an empty,
    /// preferably unlinked, file on a disk with room for the compressed disk).
    pub fn new(dest: Destination, vm: VmSettings, stamp: BuildStamp, spool: File) -> Result<Self> {
        vm.validate().map_err(Error::InvalidOption)?;
        let mut opts = VmdkOptions::new(
            VmdkSubformat::StreamOptimized,
            &Self::disk_name(&vm),
            stamp.clone(),
        );
        opts.adapter_type = if vm.controller == "sata" {
            "ide".into()
        } else {
            "lsilogic".into()
        };
        let digest = Arc::new(Mutex::new(
            ManifestHash::for_hw_version(vm.hw_version).hasher(),
        ));
        let writer = DigestingSpool {
            file: spool.try_clone()?,
            digest: Arc::clone(&digest),
        };
        let disk = VmdkWriter::new(Destination::stream(writer), opts)
            .map_err(|e| Error::InvalidOption(e.to_string()))?;
        Ok(OvaWriter {
            dest,
            vm,
            stamp,
            spool,
            disk,
            digest,
            size: 0,
            populated: 0,
        })
    }

    /// Name of the disk member.
    pub fn disk_name(vm: &VmSettings) -> String {
        format!("{}-disk1.vmdk", vm.name)
    }

    fn pack(&mut self) -> Result<()> {
        let hash = ManifestHash::for_hw_version(self.vm.hw_version);
        let disk_len = self.spool.metadata()?.len();
        let disk_digest: String = self
            .digest
            .lock()
            .map_err(|_| Error::Io(io::Error::other("disk digest poisoned")))?
            .finalize_reset()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let disk_name = Self::disk_name(&self.vm);
        let ovf_name = format!("{}.ovf", self.vm.name);
        let mf_name = format!("{}.mf", self.vm.name);
        let ovf = envelope(
            &self.vm,
            &DiskFacts {
                file: disk_name.clone(),
                file_size: disk_len,
                capacity: self.size,
                populated: self.populated,
            },
        );
        let ovf_digest = hash.hex_of(ovf.as_bytes())?;
        let h = hash.name();
        let mf = format!("{h}({ovf_name})= {ovf_digest}\n{h}({disk_name})= {disk_digest}\n");
        let mtime = self.stamp.unix_time();
        let mut pos = 0u64;
        for (name, body) in [(&ovf_name, ovf.as_bytes()), (&mf_name, mf.as_bytes())] {
            self.dest
                .write_at(pos, &tar_header(name, body.len() as u64, mtime)?)?;
            self.dest.write_at(pos + 512, body)?;
            pos += 512 + (body.len() as u64).next_multiple_of(512);
        }
        self.dest
            .write_at(pos, &tar_header(&disk_name, disk_len, mtime)?)?;
        self.dest.copy_from(pos + 512, &self.spool, disk_len)?;
        pos += 512 + disk_len.next_multiple_of(512);
        // Two zero records end the archive; pad to tar's 10 KiB blocking.
        let end = (pos + 1024).next_multiple_of(10240);
        self.dest.finish(end)?;
        Ok(())
    }
}

impl BlockSink for OvaWriter {
    fn begin(&mut self, size: u64, plan: &[Extent]) -> io::Result<()> {
        self.size = size.next_multiple_of(512);
        self.disk.begin(size, plan)
    }

    fn write(&mut self, offset: u64, data: Bytes) -> io::Result<()> {
        self.populated += data.len() as u64;
        self.disk.write(offset, data)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.disk.finish()?;
        Ok(self.pack()?)
    }
}
