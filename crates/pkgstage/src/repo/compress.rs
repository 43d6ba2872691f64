//! Metadata files as `createrepo_c` stores them: checksums, and gzip, xz or
//! zstd compression told apart by their magic bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::ChecksumAlgorithm;
use crate::error;
use crate::error::{Error, Result};

/// A running checksum of one of the repodata algorithms.
pub(crate) enum Hasher {
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    pub(crate) fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha224 => Hasher::Sha224(Sha224::new()),
            ChecksumAlgorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            ChecksumAlgorithm::Sha384 => Hasher::Sha384(Sha384::new()),
            ChecksumAlgorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha224(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub(crate) fn hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The checksum and length of the file at `path`, read in pieces.
pub(crate) fn file_checksum(path: &Path, algorithm: ChecksumAlgorithm) -> Result<(String, u64)> {
    let mut f = File::open(path).map_err(|e| Error::file(path, e))?;
    let mut h = Hasher::new(algorithm);
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::file(path, e)),
        };
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok((h.hex(), len))
}

/// How a metadata file is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

/// Tells the compression from the first bytes; bzip2 and zchunk, which
/// `createrepo_c` can also write, are named and refused.
pub(crate) fn detect(head: &[u8]) -> std::result::Result<Compression, &'static str> {
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if head.starts_with(b"BZh") {
        return Err("bzip2-compressed metadata is not supported (use gzip, xz or zstd)");
    } else if head.starts_with(b"\0ZCK1") {
        return Err("zchunk metadata is not supported (use gzip, xz or zstd)");
    } else {
        Compression::None
    })
}

/// The decompressed contents of `path` as a stream.
pub(crate) fn open_decompressed(path: &Path) -> Result<Box<dyn BufRead>> {
    let f = File::open(path).map_err(|e| Error::file(path, e))?;
    let mut r = BufReader::new(f);
    let head = r.fill_buf().map_err(|e| Error::file(path, e))?;
    let kind = detect(head).map_err(|m| error::metadata(path, "", Some(0), m))?;
    Ok(match kind {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(BufReader::new(flate2::bufread::MultiGzDecoder::new(r))),
        Compression::Xz => Box::new(BufReader::new(
            liblzma::bufread::XzDecoder::new_multi_decoder(r),
        )),
        Compression::Zstd => Box::new(BufReader::new(
            zstd::stream::read::Decoder::with_buffer(r).map_err(|e| Error::file(path, e))?,
        )),
    })
}

/// A reader that hashes and counts what passes through it, and refuses to
/// give more than `limit` bytes (a decompression bomb stops there).
pub(crate) struct Checked<R> {
    inner: R,
    hasher: Option<Hasher>,
    pub(crate) count: u64,
    limit: u64,
}

impl<R: BufRead> Checked<R> {
    pub(crate) fn new(inner: R, hasher: Option<Hasher>, limit: u64) -> Self {
        Checked {
            inner,
            hasher,
            count: 0,
            limit,
        }
    }

    /// Reads what the consumer left (closing tags' trailing whitespace),
    /// then gives the checksum and byte count of everything.
    pub(crate) fn finish(&mut self) -> io::Result<(Option<String>, u64)> {
        io::copy(self, &mut io::sink())?;
        Ok((self.hasher.take().map(Hasher::hex), self.count))
    }
}

impl<R: BufRead> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Checked<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let left = self.limit - self.count;
        let limit = self.limit;
        let buf = self.inner.fill_buf()?;
        if !buf.is_empty() && left == 0 {
            return Err(io::Error::other(format!(
                "longer than the {limit} bytes expected of it"
            )));
        }
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        Ok(&buf[..n])
    }

    fn consume(&mut self, amt: usize) {
        if let Some(h) = &mut self.hasher {
            if let Ok(buf) = self.inner.fill_buf() {
                h.update(&buf[..amt.min(buf.len())]);
            }
        }
        self.count += amt as u64;
        self.inner.consume(amt);
    }
}
