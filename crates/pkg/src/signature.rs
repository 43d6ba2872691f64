//! A package's integrity and OpenPGP signatures, checked before its files
//! are used, as `rpm -K` and dnf's `gpgcheck=1` check them.
//!
//! Integrity, always: the header digests the signature header records
//! (SHA-256, SHA-1, SHA3-256), the payload digest the header records
//! (`RPMTAG_PAYLOADDIGEST` over the payload as stored; its
//! `PAYLOADDIGESTALT`, over the uncompressed payload, when it is the only
//! one) and the legacy MD5 of header and payload. A package with no header
//! digest or no payload digest at all is refused: nothing would vouch for it.
//!
//! Signatures, unless the check is [off](GpgCheck::Off): every signature the
//! signature header carries — header-only `RPMSIGTAG_RSA`, `RPMSIGTAG_DSA`
//! (DSA, ECDSA or EdDSA) and `RPMSIGTAG_OPENPGP`, header-and-payload
//! `RPMSIGTAG_PGP` and `RPMSIGTAG_GPG` — must verify against one of the
//! [`Keyring`]'s keys, and there must be one. A header-only signature
//! vouches for the payload through the payload digest in the signed header,
//! so a package signed that way must have one.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::packet::{Packet, PacketParser, PacketTrait, PublicKey, PublicSubkey, Signature};
use pgp::types::KeyDetails;
use rpm::{IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::digest::DynDigest;

use crate::repo::header::{read_package_headers, PackageHeaders};
use crate::{Error, Result};

/// The 8 bytes before a header's blob that its digests and signatures
/// cover: magic, version 1, four reserved bytes (rpm's `rpm_header_magic`).
const HEADER_INTRO: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
/// Largest key file read.
const MAX_KEY_FILE: u64 = 16 << 20;

/// Public keys trusted to sign packages, as `rpm --import` takes them.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Reads the keys in `paths`: each file ASCII-armored (one or more
    /// `PUBLIC KEY BLOCK`s) or binary OpenPGP, with one or more public keys.
    /// A file with no public key in it is an error.
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Keyring> {
        let mut ring = Keyring::default();
        for path in paths {
            let path = path.as_ref();
            let mut bytes = Vec::new();
            File::open(path)
                .and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_end(&mut bytes))
                .map_err(|e| Error::io(path, e))?;
            if bytes.len() as u64 > MAX_KEY_FILE {
                return Err(Error::io(
                    path,
                    io::Error::other(format!("larger than {MAX_KEY_FILE} bytes; not a key file")),
                ));
            }
            let keys = parse_keys(&bytes).map_err(|why| Error::io(path, io::Error::other(why)))?;
            ring.keys.extend(keys);
        }
        Ok(ring)
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key IDs of the keys (16 hex digits, as `gpg --list-keys
    /// --keyid-format long` shows them), each primary key followed by its
    /// subkeys.
    pub fn key_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        for k in &self.keys {
            out.push(key_id(&k.key_id()));
            out.extend(k.public_subkeys.iter().map(|s| key_id(&s.key_id())));
        }
        out
    }
}

/// The public keys in a key file's bytes: ASCII-armored blocks or binary
/// packets. Why not, when there are none or they do not parse.
pub fn parse_keys(bytes: &[u8]) -> std::result::Result<Vec<SignedPublicKey>, String> {
    const BEGIN: &[u8] = b"-----BEGIN PGP ";
    let mut keys = Vec::new();
    let starts: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i..].starts_with(BEGIN))
        .collect();
    if starts.is_empty() {
        for key in SignedPublicKey::from_bytes_many(bytes).map_err(|e| e.to_string())? {
            keys.push(key.map_err(|e| format!("not an OpenPGP public key: {e}"))?);
        }
    } else {
        for (n, &start) in starts.iter().enumerate() {
            let end = starts.get(n + 1).copied().unwrap_or(bytes.len());
            let (found, _) = SignedPublicKey::from_armor_many(&bytes[start..end])
                .map_err(|e| format!("armored block {}: {e}", n + 1))?;
            for key in found {
                keys.push(key.map_err(|e| format!("armored block {}: {e}", n + 1))?);
            }
        }
    }
    if keys.is_empty() {
        return Err("no OpenPGP public key in it".into());
    }
    Ok(keys)
}

/// Whether and against what package signatures are checked (dnf's
/// `gpgcheck`).
#[derive(Clone, Debug)]
pub enum GpgCheck {
    /// Every package must be signed by one of these keys. With no keys no
    /// package passes: the default, so that nothing is installed unchecked
    /// unless asked.
    Keys(Keyring),
    /// Signatures are not checked (dnf's `--nogpgcheck`); digests still are.
    Off,
}

impl Default for GpgCheck {
    fn default() -> Self {
        GpgCheck::Keys(Keyring::default())
    }
}

/// What [`verify_package`] found of a package's signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trust {
    /// Every signature verified; the key IDs that made them.
    Signed(Vec<String>),
    /// The check is off.
    Unchecked,
    /// Refused: why.
    Untrusted(String),
}

/// What [`verify_package`] found: the verdict, and the signatures it
/// passed over.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PackageCheck {
    /// Whether the package is trusted.
    pub trust: Trust,
    /// Signatures in an algorithm that cannot be checked here, one line
    /// each naming the signature and its key; they neither vouch for the
    /// package nor refuse it.
    pub skipped: Vec<String>,
}

/// A reason a package's signatures are refused.
#[derive(Debug)]
enum Refusal {
    NotSigned,
    UnknownKey(String),
    Bad(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotSigned => f.write_str("not signed"),
            Refusal::UnknownKey(id) => write!(
                f,
                "signed by key ID {id}, which is not among the trusted keys"
            ),
            Refusal::Bad(why) => write!(f, "bad signature: {why}"),
        }
    }
}

/// Checks the package at `path`: its digests always (a mismatch is an
/// error), its signatures as `check` asks.
pub fn verify_package(path: &Path, check: &GpgCheck) -> Result<PackageCheck> {
    let headers = read_package_headers(path)?;
    let signed_payload = verify_digests(path, &headers)?;
    let GpgCheck::Keys(ring) = check else {
        return Ok(PackageCheck {
            trust: Trust::Unchecked,
            skipped: Vec::new(),
        });
    };
    let trust = match verify_signatures(path, &headers, ring, signed_payload)? {
        Ok(keys) => Trust::Signed(keys),
        Err(why) => Trust::Untrusted(why.to_string()),
    };
    Ok(PackageCheck {
        trust,
        skipped: Vec::new(),
    })
}

fn mismatch(path: &Path, what: String, expected: String, actual: String) -> Error {
    Error::Digest {
        file: path.to_path_buf(),
        what,
        expected,
        actual,
    }
}

/// The header as its digests and signatures cover it.
fn header_bytes(headers: &PackageHeaders) -> Vec<u8> {
    let mut h = Vec::with_capacity(8 + headers.header.len());
    h.extend_from_slice(&HEADER_INTRO);
    h.extend_from_slice(&headers.header);
    h
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hasher for an OpenPGP hash algorithm number, as
/// `RPMTAG_PAYLOADDIGESTALGO` records it.
fn hasher(algo: u32) -> Option<(Box<dyn DynDigest>, &'static str)> {
    Some(match algo {
        1 => (Box::new(md5::Md5::default()), "MD5"),
        2 => (Box::new(sha1::Sha1::default()), "SHA-1"),
        8 => (Box::new(sha2::Sha256::default()), "SHA-256"),
        9 => (Box::new(sha2::Sha384::default()), "SHA-384"),
        10 => (Box::new(sha2::Sha512::default()), "SHA-512"),
        11 => (Box::new(sha2::Sha224::default()), "SHA-224"),
        12 => (Box::new(sha3::Sha3_256::default()), "SHA3-256"),
        14 => (Box::new(sha3::Sha3_512::default()), "SHA3-512"),
        _ => return None,
    })
}

/// Feeds `r` to every hasher.
fn hash_all(r: &mut dyn Read, hashers: &mut [&mut dyn DynDigest]) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for h in hashers.iter_mut() {
            h.update(&buf[..n]);
        }
    }
}

/// A string tag of the signature header, if there: an entry of another
/// type is an error.
fn sig_string<'a>(
    path: &Path,
    meta: &'a PackageMetadata,
    tag: IndexSignatureTag,
    name: &str,
) -> Result<Option<&'a str>> {
    if !meta.signature.entry_is_present(tag) {
        return Ok(None);
    }
    meta.signature
        .get_entry_data_as_string(tag)
        .map(Some)
        .map_err(|e| Error::package(path, name, None, e.to_string()))
}

fn sig_binary<'a>(
    path: &Path,
    meta: &'a PackageMetadata,
    tag: IndexSignatureTag,
    name: &str,
) -> Result<Option<&'a [u8]>> {
    if !meta.signature.entry_is_present(tag) {
        return Ok(None);
    }
    meta.signature
        .get_entry_data_as_binary(tag)
        .map(Some)
        .map_err(|e| Error::package(path, name, None, e.to_string()))
}

/// The first string of a header tag (a string or string array), if there.
fn header_string<'a>(
    path: &Path,
    meta: &'a PackageMetadata,
    tag: IndexTag,
    name: &str,
) -> Result<Option<&'a str>> {
    if !meta.header.entry_is_present(tag) {
        return Ok(None);
    }
    let bad = |e: rpm::Error| Error::package(path, name, None, e.to_string());
    match meta.header.get_entry_data_as_string_array(tag) {
        Ok(list) => Ok(list.first().map(String::as_str)),
        Err(_) => meta
            .header
            .get_entry_data_as_string(tag)
            .map(Some)
            .map_err(bad),
    }
}

/// Checks every digest the package records; at least one must cover the
/// header and one the payload. Returns whether the payload's digest is in
/// the (signable) header.
fn verify_digests(path: &Path, headers: &PackageHeaders) -> Result<bool> {
    let meta = &headers.meta;
    let header = header_bytes(headers);
    let mut header_checked = false;
    for (tag, name, label, algo) in [
        (
            IndexSignatureTag::RPMSIGTAG_SHA256,
            "RPMSIGTAG_SHA256",
            "SHA-256",
            8,
        ),
        (
            IndexSignatureTag::RPMSIGTAG_SHA1,
            "RPMSIGTAG_SHA1",
            "SHA-1",
            2,
        ),
        (
            IndexSignatureTag::RPMSIGTAG_SHA3_256,
            "RPMSIGTAG_SHA3_256",
            "SHA3-256",
            12,
        ),
    ] {
        let Some(expected) = sig_string(path, meta, tag, name)? else {
            continue;
        };
        let Some((mut h, _)) = hasher(algo) else {
            continue;
        };
        h.update(&header);
        let actual = hex(&h.finalize());
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(mismatch(
                path,
                format!("header {label} digest ({name})"),
                expected.to_string(),
                actual,
            ));
        }
        header_checked = true;
    }

    // The payload as stored: its digest from the header, and MD5 of header
    // and payload from the signature header, in one read.
    let payload_digest = header_string(
        path,
        meta,
        IndexTag::RPMTAG_PAYLOADSHA256,
        "RPMTAG_PAYLOADDIGEST",
    )?;
    let payload_algo = if meta
        .header
        .entry_is_present(IndexTag::RPMTAG_PAYLOADDIGESTALGO)
    {
        meta.header
            .get_entry_data_as_u32(IndexTag::RPMTAG_PAYLOADDIGESTALGO)
            .map_err(|e| Error::package(path, "RPMTAG_PAYLOADDIGESTALGO", None, e.to_string()))?
    } else {
        8
    };
    let md5 = sig_binary(
        path,
        meta,
        IndexSignatureTag::RPMSIGTAG_MD5,
        "RPMSIGTAG_MD5",
    )?;
    let alt = header_string(
        path,
        meta,
        IndexTag::RPMTAG_PAYLOADSHA256ALT,
        "RPMTAG_PAYLOADDIGESTALT",
    )?;
    let unknown_algo = || {
        Error::package(
            path,
            "RPMTAG_PAYLOADDIGESTALGO",
            None,
            format!("unknown digest algorithm {payload_algo}"),
        )
    };
    let mut payload_hasher = match payload_digest {
        Some(_) => Some(hasher(payload_algo).ok_or_else(unknown_algo)?),
        None => None,
    };
    let mut md5_hasher = md5.map(|_| {
        let mut h = md5::Md5::default();
        sha2::Digest::update(&mut h, &header);
        h
    });
    if payload_hasher.is_some() || md5_hasher.is_some() {
        let mut hashers: Vec<&mut dyn DynDigest> = Vec::new();
        if let Some((h, _)) = &mut payload_hasher {
            hashers.push(h.as_mut());
        }
        if let Some(h) = &mut md5_hasher {
            hashers.push(h);
        }
        let mut file = open_payload(path, headers.payload_offset)?;
        hash_all(&mut file, &mut hashers).map_err(|e| Error::io(path, e))?;
    }
    if let (Some(expected), Some((h, label))) = (payload_digest, payload_hasher) {
        let actual = hex(&h.finalize());
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(mismatch(
                path,
                format!("payload {label} digest (RPMTAG_PAYLOADDIGEST)"),
                expected.to_string(),
                actual,
            ));
        }
    }
    if let (Some(expected), Some(h)) = (md5, md5_hasher) {
        let actual = sha2::Digest::finalize(h);
        if expected != actual.as_slice() {
            return Err(mismatch(
                path,
                "header and payload MD5 digest (RPMSIGTAG_MD5)".into(),
                hex(expected),
                hex(&actual),
            ));
        }
        header_checked = true;
    }
    // Only the uncompressed payload's digest: the payload decompressed.
    let mut alt_checked = false;
    if let (None, Some(expected)) = (payload_digest, alt) {
        let (mut h, label) = hasher(payload_algo).ok_or_else(unknown_algo)?;
        let compressor = meta
            .get_payload_compressor()
            .map_err(|e| Error::package(path, "RPMTAG_PAYLOADCOMPRESSOR", None, e.to_string()))?;
        let file = open_payload(path, headers.payload_offset)?;
        let mut payload = crate::install::decompress(path, compressor, file)?;
        hash_all(&mut payload, &mut [h.as_mut()])
            .map_err(|e| Error::package(path, "payload", None, e.to_string()))?;
        let actual = hex(&h.finalize());
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(mismatch(
                path,
                format!("uncompressed payload {label} digest (RPMTAG_PAYLOADDIGESTALT)"),
                expected.to_string(),
                actual,
            ));
        }
        alt_checked = true;
    }
    if !header_checked {
        return Err(Error::package(
            path,
            "signature header",
            None,
            "no header digest (RPMSIGTAG_SHA256, RPMSIGTAG_SHA1 or RPMSIGTAG_MD5) to check the header against",
        ));
    }
    if payload_digest.is_none() && md5.is_none() && !alt_checked {
        return Err(Error::package(
            path,
            "header",
            None,
            "no payload digest (RPMTAG_PAYLOADDIGEST, RPMTAG_PAYLOADDIGESTALT or RPMSIGTAG_MD5) to check the payload against",
        ));
    }
    Ok(payload_digest.is_some() || alt_checked)
}

fn open_payload(path: &Path, offset: u64) -> Result<BufReader<File>> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    file.seek(io::SeekFrom::Start(offset))
        .map_err(|e| Error::io(path, e))?;
    Ok(BufReader::with_capacity(1 << 20, file))
}

/// A signature of the signature header: its tag's name, bytes, and
/// whether it covers the payload too.
struct PackageSignature {
    tag: &'static str,
    bytes: Vec<u8>,
    with_payload: bool,
}

fn package_signatures(path: &Path, meta: &PackageMetadata) -> Result<Vec<PackageSignature>> {
    let mut out = Vec::new();
    if meta
        .signature
        .entry_is_present(IndexSignatureTag::RPMSIGTAG_OPENPGP)
    {
        let list = meta
            .signature
            .get_entry_data_as_string_array(IndexSignatureTag::RPMSIGTAG_OPENPGP)
            .map_err(|e| Error::package(path, "RPMSIGTAG_OPENPGP", None, e.to_string()))?;
        for text in list {
            let mut bytes = Vec::new();
            pgp::base64::Base64Decoder::new(pgp::base64::Base64Reader::new(text.as_bytes()))
                .read_to_end(&mut bytes)
                .map_err(|e| {
                    Error::package(path, "RPMSIGTAG_OPENPGP", None, format!("not base64: {e}"))
                })?;
            out.push(PackageSignature {
                tag: "RPMSIGTAG_OPENPGP",
                bytes,
                with_payload: false,
            });
        }
    }
    for (tag, name, with_payload) in [
        (IndexSignatureTag::RPMSIGTAG_RSA, "RPMSIGTAG_RSA", false),
        (IndexSignatureTag::RPMSIGTAG_DSA, "RPMSIGTAG_DSA", false),
        (IndexSignatureTag::RPMSIGTAG_PGP, "RPMSIGTAG_PGP", true),
        (IndexSignatureTag::RPMSIGTAG_GPG, "RPMSIGTAG_GPG", true),
    ] {
        if let Some(bytes) = sig_binary(path, meta, tag, name)? {
            out.push(PackageSignature {
                tag: name,
                bytes: bytes.to_vec(),
                with_payload,
            });
        }
    }
    Ok(out)
}

/// Reads one OpenPGP signature packet.
pub fn parse_signature(bytes: &[u8]) -> std::result::Result<Signature, String> {
    match PacketParser::new(bytes).next() {
        Some(Ok(Packet::Signature(s))) => Ok(s),
        Some(Ok(other)) => Err(format!(
            "an OpenPGP {:?} packet where a signature should be",
            other.tag()
        )),
        Some(Err(e)) => Err(format!("not an OpenPGP signature packet: {e}")),
        None => Err("empty".into()),
    }
}

/// A trusted key or subkey a signature may be made with.
enum SigningKey<'a> {
    Primary(&'a PublicKey),
    Sub(&'a PublicSubkey),
}

fn key_id(id: &pgp::types::KeyId) -> String {
    id.to_string().to_uppercase()
}

/// Checks every signature against the keyring: the key IDs that made
/// them, or why the package is refused.
fn verify_signatures(
    path: &Path,
    headers: &PackageHeaders,
    ring: &Keyring,
    signed_payload_digest: bool,
) -> Result<std::result::Result<Vec<String>, Refusal>> {
    let sigs = package_signatures(path, &headers.meta)?;
    if sigs.is_empty() {
        return Ok(Err(Refusal::NotSigned));
    }
    let header = header_bytes(headers);
    let mut made_by = Vec::new();
    let mut payload_covered = signed_payload_digest;
    for s in &sigs {
        let sig = match parse_signature(&s.bytes) {
            Ok(sig) => sig,
            Err(why) => return Ok(Err(Refusal::Bad(format!("{}: {why}", s.tag)))),
        };
        let ids: Vec<String> = sig.issuer().iter().map(|id| key_id(id)).collect();
        let fingerprints = sig.issuer_fingerprint();
        // The trusted keys and subkeys the signature names (all, when it
        // names none).
        let mut candidates: Vec<(SigningKey<'_>, String)> = Vec::new();
        for k in &ring.keys {
            let named = |key: &dyn KeyDetails| {
                (ids.is_empty() && fingerprints.is_empty())
                    || ids.contains(&key_id(&key.key_id()))
                    || fingerprints.iter().any(|f| **f == key.fingerprint())
            };
            if named(&k.primary_key) {
                candidates.push((SigningKey::Primary(&k.primary_key), key_id(&k.key_id())));
            }
            for sub in &k.public_subkeys {
                if named(&sub.key) {
                    candidates.push((SigningKey::Sub(&sub.key), key_id(&sub.key_id())));
                }
            }
        }
        if candidates.is_empty() {
            let id = ids
                .first()
                .cloned()
                .or_else(|| {
                    fingerprints
                        .first()
                        .map(|f| hex(f.as_bytes()).to_uppercase())
                })
                .unwrap_or_else(|| "(none named)".into());
            return Ok(Err(Refusal::UnknownKey(id)));
        }
        let mut failure = None;
        let mut verified = None;
        for (key, id) in candidates {
            let data: Box<dyn Read> = if s.with_payload {
                let payload = open_payload(path, headers.payload_offset)?;
                Box::new(io::Cursor::new(&header).chain(payload))
            } else {
                Box::new(header.as_slice())
            };
            let result = match key {
                SigningKey::Primary(k) => sig.verify(k, data),
                SigningKey::Sub(k) => sig.verify(k, data),
            };
            match result {
                Ok(()) => {
                    verified = Some(id);
                    break;
                }
                Err(e) => {
                    // One line, whatever the crate's message spans.
                    let why = e
                        .to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ");
                    failure = Some(format!("{} by key ID {id} does not verify: {why}", s.tag))
                }
            }
        }
        match verified {
            Some(id) => {
                if !made_by.contains(&id) {
                    made_by.push(id);
                }
                payload_covered |= s.with_payload;
            }
            None => {
                return Ok(Err(Refusal::Bad(
                    failure.unwrap_or_else(|| format!("{} does not verify", s.tag)),
                )))
            }
        }
    }
    if !payload_covered {
        return Ok(Err(Refusal::Bad(
            "the signed header has no payload digest and no signature covers the payload".into(),
        )));
    }
    Ok(Ok(made_by))
}

/// Reads a key file's bytes and a signature packet, the parsers of
/// untrusted bytes here, for the fuzz target.
#[doc(hidden)]
pub fn parse_untrusted(data: &[u8]) -> (usize, bool) {
    let keys = parse_keys(data).map(|k| k.len()).unwrap_or(0);
    let sig = parse_signature(data).is_ok();
    (keys, sig)
}
