//! The OVA writer: a [`BlockSink`] around a streamOptimized VMDK writer.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use blocksink::{BlockSink, BuildStamp, Bytes, Destination, Extent, Finished};
use sha1::Digest;
use vmdk::{VmdkOptions, VmdkSubformat, VmdkWriter};

use crate::ovf::{envelope, DiskFacts, VmSettings};
use crate::{error::F, Error, Result};

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
/// size and digest). The disk is written straight to its place behind room
/// reserved for them (the OVF is padded with trailing whitespace to that
/// room); a stream output is spooled for that ([`Destination::seekable`]),
/// so a pipe receives the same bytes as a file. Either way the input is read
/// once and the disk's digest is taken as it is written.
pub struct OvaWriter {
    dest: Destination,
    vm: VmSettings,
    stamp: BuildStamp,
    reserved: Reserved,
    disk: VmdkWriter,
    /// Length and digest of the disk as it is written.
    tally: Arc<Mutex<DiskTally>>,
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

/// The disk's bytes and digest so far.
struct DiskTally {
    digest: Box<dyn sha2::digest::DynDigest + Send>,
    len: u64,
}

/// Where the disk goes, digesting every byte on the way: the
/// stream-optimized disk is written strictly in order, so its digest and
/// length are ready when it is, without reading it again.
struct DigestingWriter {
    file: File,
    /// File offset of the disk's first byte.
    base: u64,
    tally: Arc<Mutex<DiskTally>>,
}

impl Write for DigestingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut t = self
            .tally
            .lock()
            .map_err(|_| io::Error::other("disk digest poisoned"))?;
        std::os::unix::fs::FileExt::write_all_at(&self.file, buf, self.base + t.len)?;
        t.digest.update(buf);
        t.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tar_header(name: &str, len: u64, mtime: u64) -> Result<[u8; 512]> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)
        .map_err(|e| F.option(format!("member name {name:?}: {e}")))?;
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
    /// An OVA of `vm` into `dest`. Into a stream, the package is spooled in
    /// an unlinked temporary file (in `$TMPDIR`) until the end
    /// ([`Destination::seekable`]).
    pub fn new(dest: Destination, vm: VmSettings, stamp: BuildStamp) -> Result<Self> {
        vm.validate().map_err(|e| F.option(e))?;
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
        let hash = ManifestHash::for_hw_version(vm.hw_version);
        let tally = Arc::new(Mutex::new(DiskTally {
            digest: hash.hasher(),
            len: 0,
        }));
        // The disk goes straight to its place, behind room reserved for
        // the OVF and the manifest, through a second handle on the output.
        let dest = dest.seekable()?;
        let reserved = Self::reserve(&vm, hash)?;
        let file = dest
            .as_file()
            .ok_or_else(|| F.option("the output could not be made seekable"))?
            .try_clone()?;
        let writer = DigestingWriter {
            file,
            base: reserved.disk_offset,
            tally: Arc::clone(&tally),
        };
        let disk = VmdkWriter::new(Destination::stream(writer), opts)
            .map_err(|e| F.option(e.to_string()))?;
        Ok(OvaWriter {
            dest,
            vm,
            stamp,
            reserved,
            disk,
            tally,
            size: 0,
            populated: 0,
        })
    }

    /// Room for the OVF (its longest form: every number at 20 digits) and
    /// the manifest (its length is fixed by the digest), and so where the
    /// disk's data starts.
    fn reserve(vm: &VmSettings, hash: ManifestHash) -> Result<Reserved> {
        let longest = envelope(
            vm,
            &DiskFacts {
                file: Self::disk_name(vm),
                file_size: u64::MAX,
                capacity: u64::MAX,
                populated: u64::MAX,
            },
        )?;
        let ovf_len = longest.len() as u64;
        let mf_len = Self::manifest(vm, hash, "", "").len() as u64;
        let disk_offset =
            512 + ovf_len.next_multiple_of(512) + 512 + mf_len.next_multiple_of(512) + 512;
        Ok(Reserved {
            ovf_len,
            disk_offset,
        })
    }

    /// The manifest for the two digests (`""` stands in for a digest of
    /// the right length).
    fn manifest(vm: &VmSettings, hash: ManifestHash, ovf_hex: &str, disk_hex: &str) -> String {
        let width = hash.hasher().output_size() * 2;
        let pad = |h: &str| {
            if h.is_empty() {
                "0".repeat(width)
            } else {
                h.to_string()
            }
        };
        let n = hash.name();
        format!(
            "{n}({}.ovf)= {}\n{n}({})= {}\n",
            vm.name,
            pad(ovf_hex),
            Self::disk_name(vm),
            pad(disk_hex)
        )
    }

    /// Name of the disk member.
    pub fn disk_name(vm: &VmSettings) -> String {
        format!("{}-disk1.vmdk", vm.name)
    }

    fn pack(&mut self) -> Result<Finished> {
        let hash = ManifestHash::for_hw_version(self.vm.hw_version);
        let (disk_len, disk_digest) = {
            let mut t = self
                .tally
                .lock()
                .map_err(|_| Error::from(io::Error::other("disk digest poisoned")))?;
            let hex: String = t
                .digest
                .finalize_reset()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (t.len, hex)
        };
        let disk_name = Self::disk_name(&self.vm);
        let mut ovf = envelope(
            &self.vm,
            &DiskFacts {
                file: disk_name.clone(),
                file_size: disk_len,
                capacity: self.size,
                populated: self.populated,
            },
        )?;
        // Whitespace after the root element fills the reserved room.
        let fill = (self.reserved.ovf_len as usize).saturating_sub(ovf.len());
        ovf.push_str(&" ".repeat(fill));
        let ovf_digest = hash.hex_of(ovf.as_bytes())?;
        let mf = Self::manifest(&self.vm, hash, &ovf_digest, &disk_digest);
        let mtime = self.stamp.unix_time();
        let mut pos = 0u64;
        let ovf_name = format!("{}.ovf", self.vm.name);
        let mf_name = format!("{}.mf", self.vm.name);
        for (name, body) in [(&ovf_name, ovf.as_bytes()), (&mf_name, mf.as_bytes())] {
            self.dest
                .write_at(pos, &tar_header(name, body.len() as u64, mtime)?)?;
            self.dest.write_at(pos + 512, body)?;
            pos += 512 + (body.len() as u64).next_multiple_of(512);
        }
        self.dest
            .write_at(pos, &tar_header(&disk_name, disk_len, mtime)?)?;
        if self.reserved.disk_offset != pos + 512 {
            return Err(Error::from(io::Error::other(
                "OVF outgrew the room reserved for it",
            )));
        }
        pos += 512 + disk_len.next_multiple_of(512);
        // Two zero records end the archive; pad to tar's 10 KiB blocking.
        let end = (pos + 1024).next_multiple_of(10240);
        Ok(self.dest.finish(end)?)
    }
}

/// Room kept at the front of a seekable OVA.
#[derive(Clone, Copy, Debug)]
struct Reserved {
    ovf_len: u64,
    disk_offset: u64,
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

    fn finish(&mut self) -> io::Result<Finished> {
        self.disk.finish()?;
        Ok(self.pack()?)
    }
}
