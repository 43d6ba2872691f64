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
//! Signatures: every signature the signature header carries —
//! header-only `RPMSIGTAG_RSA`, `RPMSIGTAG_DSA` (DSA, ECDSA or EdDSA) and
//! each of `RPMSIGTAG_OPENPGP`'s (rpm 6 keeps them all there),
//! header-and-payload `RPMSIGTAG_PGP` and `RPMSIGTAG_GPG` — is read, and
//! one that does not parse, or whose hash prefix does not match what it
//! signs, is an error even with the check [off](GpgCheck::Off), as rpm
//! calls it BAD without a key. Unless the check is off, each is verified
//! against the [`Keyring`]: the package is trusted when one verifies with
//! a key that could make it (not revoked, not expired when it signed,
//! valid for signing) and none is bad or made by a key that could not;
//! one in an algorithm that cannot be checked here (ML-DSA) is passed
//! over with a note. A header-only signature vouches for the
//! payload through the payload digest in the signed header, so a package
//! signed only that way must have one.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use pgp::composed::SignedPublicSubKey;
use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::packet::{
    Packet, PacketParser, PacketTrait, Signature, SignatureType, SignatureVersionSpecific,
    SubpacketData,
};
use pgp::types::{KeyDetails, PublicKeyTrait};
use rpm::{IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::digest::DynDigest;

use crate::error;
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
                .map_err(|e| Error::file(path, e))?;
            if bytes.len() as u64 > MAX_KEY_FILE {
                return Err(Error::file(
                    path,
                    io::Error::other(format!("larger than {MAX_KEY_FILE} bytes; not a key file")),
                ));
            }
            let keys =
                parse_keys(&bytes).map_err(|why| Error::file(path, io::Error::other(why)))?;
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
    /// At least one signature verified with a trusted key and none was
    /// bad; the key IDs that made the good ones.
    Signed(Vec<String>),
    /// The check is off: signatures were read (a malformed one is an
    /// error) but not verified.
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
    /// Signatures in an algorithm that cannot be checked here (such as
    /// ML-DSA), one line each naming the signature and its key; they
    /// neither vouch for the package nor refuse it.
    pub skipped: Vec<String>,
}

/// A reason a package's signatures are refused.
#[derive(Debug)]
enum Refusal {
    NotSigned,
    UnknownKey(Vec<String>),
    /// Signatures that verify as bad, or were made by a key that could
    /// not make them (revoked, expired, not for signing).
    Bad(Vec<String>),
    /// Every signature is in an algorithm that cannot be checked here.
    NoneCheckable,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotSigned => f.write_str("not signed"),
            Refusal::UnknownKey(ids) => write!(
                f,
                "signed by {}, which {} not among the trusted keys",
                ids.join(" and "),
                if ids.len() == 1 { "is" } else { "are" }
            ),
            Refusal::Bad(why) => f.write_str(&why.join("; ")),
            Refusal::NoneCheckable => {
                f.write_str("no signature it carries is in an algorithm that can be checked here")
            }
        }
    }
}

/// Checks the package at `path`: its digests always (a mismatch is an
/// error), its signatures as `check` asks. A signature that is present
/// but malformed, or whose hash prefix does not match what it signs, is
/// an error whatever `check` says: `GpgCheck::Off` does not require a
/// trusted signature, it does not accept a broken one.
pub fn verify_package(path: &Path, check: &GpgCheck) -> Result<PackageCheck> {
    let headers = read_package_headers(path)?;
    let signed_payload = verify_digests(path, &headers)?;
    let ring = match check {
        GpgCheck::Keys(ring) => Some(ring),
        GpgCheck::Off => None,
    };
    let (verdict, skipped) = verify_signatures(path, &headers, ring, signed_payload)?;
    let trust = match verdict {
        None => Trust::Unchecked,
        Some(Ok(keys)) => Trust::Signed(keys),
        Some(Err(why)) => Trust::Untrusted(why.to_string()),
    };
    Ok(PackageCheck { trust, skipped })
}

fn mismatch(path: &Path, what: String, expected: String, actual: String) -> Error {
    error::mismatch(path, what, "the package", expected, actual)
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
        .map_err(|e| error::package(path, name, None, e.to_string()))
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
        .map_err(|e| error::package(path, name, None, e.to_string()))
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
    let bad = |e: rpm::Error| error::package(path, name, None, e.to_string());
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
            .map_err(|e| error::package(path, "RPMTAG_PAYLOADDIGESTALGO", None, e.to_string()))?
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
        error::package(
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
        hash_all(&mut file, &mut hashers).map_err(|e| Error::file(path, e))?;
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
            .map_err(|e| error::package(path, "RPMTAG_PAYLOADCOMPRESSOR", None, e.to_string()))?;
        let file = open_payload(path, headers.payload_offset)?;
        let mut payload = crate::install::decompress(path, compressor, file)?;
        hash_all(&mut payload, &mut [h.as_mut()])
            .map_err(|e| error::package(path, "payload", None, e.to_string()))?;
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
        return Err(error::package(
            path,
            "signature header",
            None,
            "no header digest (RPMSIGTAG_SHA256, RPMSIGTAG_SHA1 or RPMSIGTAG_MD5) to check the header against",
        ));
    }
    if payload_digest.is_none() && md5.is_none() && !alt_checked {
        return Err(error::package(
            path,
            "header",
            None,
            "no payload digest (RPMTAG_PAYLOADDIGEST, RPMTAG_PAYLOADDIGESTALT or RPMSIGTAG_MD5) to check the payload against",
        ));
    }
    Ok(payload_digest.is_some() || alt_checked)
}

fn open_payload(path: &Path, offset: u64) -> Result<BufReader<File>> {
    let mut file = File::open(path).map_err(|e| Error::file(path, e))?;
    file.seek(io::SeekFrom::Start(offset))
        .map_err(|e| Error::file(path, e))?;
    Ok(BufReader::with_capacity(1 << 20, file))
}

/// A signature of the signature header: where it is (its tag, and its
/// place in the tag's list), its bytes, and whether it covers the
/// payload too.
struct PackageSignature {
    label: String,
    bytes: Vec<u8>,
    with_payload: bool,
}

fn package_signatures(path: &Path, meta: &PackageMetadata) -> Result<Vec<PackageSignature>> {
    let mut out = Vec::new();
    if meta
        .signature
        .entry_is_present(IndexSignatureTag::RPMSIGTAG_OPENPGP)
    {
        // rpm 6 keeps every signature here, one base64 packet each.
        let list = meta
            .signature
            .get_entry_data_as_string_array(IndexSignatureTag::RPMSIGTAG_OPENPGP)
            .map_err(|e| error::package(path, "RPMSIGTAG_OPENPGP", None, e.to_string()))?;
        for (n, text) in list.iter().enumerate() {
            let label = if list.len() == 1 {
                "RPMSIGTAG_OPENPGP".to_string()
            } else {
                format!("RPMSIGTAG_OPENPGP signature {} of {}", n + 1, list.len())
            };
            let mut bytes = Vec::new();
            pgp::base64::Base64Decoder::new(pgp::base64::Base64Reader::new(text.as_bytes()))
                .read_to_end(&mut bytes)
                .map_err(|e| {
                    error::package(path, label.clone(), None, format!("not base64: {e}"))
                })?;
            out.push(PackageSignature {
                label,
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
                label: name.to_string(),
                bytes: bytes.to_vec(),
                with_payload,
            });
        }
    }
    Ok(out)
}

/// Reads one OpenPGP signature packet: all of `bytes`.
pub fn parse_signature(bytes: &[u8]) -> std::result::Result<Signature, String> {
    let mut packets = PacketParser::new(bytes);
    let sig = match packets.next() {
        Some(Ok(Packet::Signature(s))) => s,
        Some(Ok(other)) => {
            return Err(format!(
                "an OpenPGP {:?} packet where a signature should be",
                other.tag()
            ))
        }
        Some(Err(e)) => {
            return Err(format!(
                "not an OpenPGP signature packet: {}",
                pgp_message(&e)
            ))
        }
        None => return Err("empty".into()),
    };
    match packets.next() {
        None => Ok(sig),
        Some(Ok(other)) => Err(format!(
            "an OpenPGP {:?} packet after the signature packet",
            other.tag()
        )),
        Some(Err(e)) => Err(format!(
            "bytes after the signature packet that are not a packet: {}",
            pgp_message(&e)
        )),
    }
}

/// An error's message on one line, whatever the crate's message spans.
fn one_line(e: &dyn fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// An OpenPGP error's message on one line, without the debugging dump
/// (backtrace and all) the crate puts in some.
fn pgp_message(e: &pgp::errors::Error) -> String {
    match e {
        pgp::errors::Error::InvalidPacketContent { source } => {
            format!("invalid packet content: {}", pgp_message(source))
        }
        _ if e.to_string().ends_with("invalid signed hash value") => {
            "the hash prefix it carries does not match the signed data".into()
        }
        _ => one_line(e),
    }
}

fn key_id(id: &pgp::types::KeyId) -> String {
    id.to_string().to_uppercase()
}

/// The key a signature names: its issuer key ID, else its issuer
/// fingerprint.
fn signer(sig: &Signature) -> String {
    if let Some(id) = sig.issuer().first() {
        return format!("key ID {}", key_id(id));
    }
    match sig.issuer_fingerprint().first() {
        Some(f) => format!("key fingerprint {}", hex(f.as_bytes()).to_uppercase()),
        None => "a key it does not name".into(),
    }
}

/// The public key algorithms whose signatures can be verified here; the
/// draft post-quantum ones (ML-DSA, SLH-DSA, as rpm 6 signs) cannot.
fn uncheckable(sig: &Signature) -> Option<String> {
    use pgp::crypto::public_key::PublicKeyAlgorithm as A;
    let Some(config) = sig.config() else {
        return Some(format!("OpenPGP signature version {:?}", sig.version()));
    };
    if !matches!(
        config.pub_alg,
        A::RSA | A::RSASign | A::DSA | A::ECDSA | A::EdDSALegacy | A::Ed25519 | A::Ed448
    ) {
        let name = match u8::from(config.pub_alg) {
            30 => "ML-DSA-65+Ed25519".to_string(),
            31 => "ML-DSA-87+Ed448".to_string(),
            32 => "SLH-DSA-SHAKE-128s".to_string(),
            33 => "SLH-DSA-SHAKE-128f".to_string(),
            34 => "SLH-DSA-SHAKE-256s".to_string(),
            n => format!("number {n}"),
        };
        return Some(format!("public key algorithm {name}"));
    }
    if config.hash_alg.new_hasher().is_err() {
        return Some(format!("hash algorithm {:?}", config.hash_alg));
    }
    None
}

/// Whether the two bytes of its hash a signature carries match the hash
/// of `data`: what needs no key to tell a broken signature (rpm -K says
/// BAD without the key too). None when this signature's hash cannot be
/// made here.
fn hash_prefix_matches(
    sig: &Signature,
    data: &mut dyn Read,
) -> std::result::Result<Option<bool>, String> {
    let (Some(config), Some(expected)) = (sig.config(), sig.signed_hash_value()) else {
        return Ok(None);
    };
    if config.typ != SignatureType::Binary {
        return Ok(None);
    }
    let Ok(mut hasher) = config.hash_alg.new_hasher() else {
        return Ok(None);
    };
    if let SignatureVersionSpecific::V6 { salt } = &config.version_specific {
        hasher.update(salt);
    }
    config
        .hash_data_to_sign(&mut hasher, data)
        .map_err(|e| pgp_message(&e))?;
    let Ok(len) = config.hash_signature_data(&mut hasher) else {
        return Ok(None);
    };
    let Ok(trailer) = config.trailer(len) else {
        return Ok(None);
    };
    hasher.update(&trailer);
    Ok(Some(hasher.finalize()[..2] == expected))
}

/// A trusted key or subkey a signature may be made with.
struct Candidate<'a> {
    cert: &'a SignedPublicKey,
    sub: Option<&'a SignedPublicSubKey>,
    id: String,
}

impl Candidate<'_> {
    /// The key ID, and for a subkey its primary key's.
    fn describe(&self) -> String {
        match self.sub {
            None => format!("key ID {}", self.id),
            Some(_) => format!(
                "key ID {} (a subkey of {})",
                self.id,
                key_id(&self.cert.primary_key.key_id())
            ),
        }
    }

    fn verify(&self, sig: &Signature, data: &mut dyn Read) -> pgp::errors::Result<()> {
        match self.sub {
            None => sig.verify(&self.cert.primary_key, data),
            Some(sub) => sig.verify(&sub.key, data),
        }
    }
}

impl Keyring {
    /// The trusted keys and subkeys a signature names (all, when it names
    /// none).
    fn candidates(&self, sig: &Signature) -> Vec<Candidate<'_>> {
        let ids: Vec<String> = sig.issuer().iter().map(|id| key_id(id)).collect();
        let fingerprints = sig.issuer_fingerprint();
        let named = |key: &dyn KeyDetails| {
            (ids.is_empty() && fingerprints.is_empty())
                || ids.contains(&key_id(&key.key_id()))
                || fingerprints.iter().any(|f| **f == key.fingerprint())
        };
        let mut out = Vec::new();
        for cert in &self.keys {
            if named(&cert.primary_key) {
                out.push(Candidate {
                    cert,
                    sub: None,
                    id: key_id(&cert.key_id()),
                });
            }
            for sub in &cert.public_subkeys {
                if named(&sub.key) {
                    out.push(Candidate {
                        cert,
                        sub: Some(sub),
                        id: key_id(&sub.key_id()),
                    });
                }
            }
        }
        out
    }
}

/// The newest of some signatures, by creation time.
fn newest<'a>(sigs: impl Iterator<Item = &'a Signature>) -> Option<&'a Signature> {
    sigs.max_by_key(|s| s.created().copied())
}

/// Why a revocation signature says it revokes.
fn revocation_reason(rev: &Signature) -> String {
    use pgp::packet::RevocationCode as R;
    let code = match rev.revocation_reason_code() {
        None => return String::new(),
        Some(R::NoReason) => "no reason given".to_string(),
        Some(R::KeySuperseded) => "the key is superseded".to_string(),
        Some(R::KeyCompromised) => "the key material has been compromised".to_string(),
        Some(R::KeyRetired) => "the key is retired".to_string(),
        Some(other) => format!("{other:?}"),
    };
    match rev.revocation_reason_string() {
        Some(text) if !text.is_empty() => {
            format!(" ({code}: {})", one_line(&String::from_utf8_lossy(text)))
        }
        _ => format!(" ({code})"),
    }
}

/// Whether a self-signature's key flags allow signing (RFC 9580
/// 5.2.3.29): when it has none, nothing is restricted.
fn allows_signing(selfsig: Option<&Signature>) -> bool {
    let Some(config) = selfsig.and_then(Signature::config) else {
        return true;
    };
    let has_flags = config
        .hashed_subpackets()
        .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)));
    !has_flags || selfsig.is_some_and(|s| s.key_flags().sign())
}

/// When `key` expired, if it had when `sig` was made, as its
/// self-signature `selfsig` says (a key expiration time of zero: never).
fn expired_by(
    key: &impl PublicKeyTrait,
    selfsig: Option<&Signature>,
    sig: &Signature,
) -> Option<String> {
    let when = sig.created()?;
    let valid = selfsig.and_then(Signature::key_expiration_time)?;
    if valid.num_seconds() <= 0 {
        return None;
    }
    let end = key.created_at().checked_add_signed(*valid)?;
    (*when >= end).then(|| end.to_string())
}

/// Why a trusted key cannot vouch for a signature that verifies with it:
/// it, or its primary key, revoked, created after the signature or
/// expired before it, or not for signing by its key flags; a subkey also
/// needs a binding signature from its primary key and, to sign, one back
/// from it (RFC 9580 5.2.1). Only self-signatures that verify count. As
/// rpm does, any revocation counts, whatever its reason and date.
fn unusable(c: &Candidate<'_>, sig: &Signature) -> Option<String> {
    let Some(when) = sig.created() else {
        return Some("the signature records no creation time".into());
    };
    let cert = c.cert;
    let primary = &cert.primary_key;
    let whose = if c.sub.is_some() {
        format!("its primary key {}", key_id(&primary.key_id()))
    } else {
        "the key".to_string()
    };
    if let Some(rev) =
        cert.details.revocation_signatures.iter().find(|r| {
            r.typ() == Some(SignatureType::KeyRevocation) && r.verify_key(primary).is_ok()
        })
    {
        return Some(format!(
            "{whose} has been revoked{}",
            revocation_reason(rev)
        ));
    }
    let direct = cert
        .details
        .direct_signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::Key) && s.verify_key(primary).is_ok());
    let certs = cert.details.users.iter().flat_map(|u| {
        u.signatures.iter().filter(move |s| {
            s.is_certification()
                && s.typ() != Some(SignatureType::CertRevocation)
                && s.verify_certification(primary, pgp::types::Tag::UserId, &u.id)
                    .is_ok()
        })
    });
    let selfsig = newest(direct.chain(certs));
    if primary.created_at() > when {
        return Some(format!(
            "{whose} was made on {}, after the signature ({when})",
            primary.created_at()
        ));
    }
    if let Some(end) = expired_by(primary, selfsig, sig) {
        return Some(format!(
            "{whose} expired on {end}, before the signature was made on {when}"
        ));
    }
    let Some(sub) = c.sub else {
        if !allows_signing(selfsig) {
            return Some("the key is not valid for signing: its key flags do not allow it".into());
        }
        return None;
    };
    if let Some(rev) = sub.signatures.iter().find(|s| {
        s.typ() == Some(SignatureType::SubkeyRevocation)
            && s.verify_subkey_binding(primary, &sub.key).is_ok()
    }) {
        return Some(format!(
            "the subkey has been revoked{}",
            revocation_reason(rev)
        ));
    }
    let Some(binding) = newest(sub.signatures.iter().filter(|s| {
        s.typ() == Some(SignatureType::SubkeyBinding)
            && s.verify_subkey_binding(primary, &sub.key).is_ok()
    })) else {
        return Some(
            "the subkey is not valid for signing: no binding signature from its primary key verifies"
                .into(),
        );
    };
    if sub.key.created_at() > when {
        return Some(format!(
            "the subkey was made on {}, after the signature ({when})",
            sub.key.created_at()
        ));
    }
    if let Some(end) = expired_by(&sub.key, Some(binding), sig) {
        return Some(format!(
            "the subkey expired on {end}, before the signature was made on {when}"
        ));
    }
    if !allows_signing(Some(binding)) {
        return Some("the subkey is not valid for signing: its key flags do not allow it".into());
    }
    let backed = binding.embedded_signature().is_some_and(|back| {
        back.typ() == Some(SignatureType::KeyBinding)
            && back.verify_primary_key_binding(&sub.key, primary).is_ok()
    });
    if !backed {
        return Some(
            "the subkey is not valid for signing: it has no primary key binding signature back to its primary key"
                .into(),
        );
    }
    None
}

/// What the signatures found: with a keyring, the key IDs of the good
/// ones or why the package is refused (nothing when the check is off);
/// and the signatures passed over. A malformed signature, or one whose
/// hash prefix tells it does not match, is an error.
type SignatureVerdict = (
    Option<std::result::Result<Vec<String>, Refusal>>,
    Vec<String>,
);

/// Checks every signature the package carries: the package is trusted
/// when one verifies with a trusted key that could make it and none is
/// bad.
fn verify_signatures(
    path: &Path,
    headers: &PackageHeaders,
    ring: Option<&Keyring>,
    signed_payload_digest: bool,
) -> Result<SignatureVerdict> {
    let sigs = package_signatures(path, &headers.meta)?;
    let mut parsed = Vec::with_capacity(sigs.len());
    for s in &sigs {
        let sig = parse_signature(&s.bytes)
            .map_err(|why| error::package(path, s.label.clone(), None, why))?;
        parsed.push(sig);
    }
    let header = header_bytes(headers);
    let signed = |s: &PackageSignature| -> Result<Box<dyn Read + '_>> {
        Ok(if s.with_payload {
            let payload = open_payload(path, headers.payload_offset)?;
            Box::new(io::Cursor::new(&header).chain(payload))
        } else {
            Box::new(header.as_slice())
        })
    };
    let mut good: Vec<String> = Vec::new();
    let mut bad = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut skipped = Vec::new();
    let mut payload_covered = signed_payload_digest;
    for (s, sig) in sigs.iter().zip(&parsed) {
        let named = signer(sig);
        let cannot = uncheckable(sig);
        let candidates = match (ring, &cannot) {
            (Some(ring), None) => ring.candidates(sig),
            _ => Vec::new(),
        };
        if candidates.is_empty() {
            // No key to verify with; the hash prefix still tells a
            // signature that does not match what it signs.
            let what = if s.with_payload {
                "header and payload"
            } else {
                "header"
            };
            if hash_prefix_matches(sig, &mut signed(s)?)
                .map_err(|why| error::package(path, s.label.clone(), None, why))?
                == Some(false)
            {
                return Err(error::package(
                    path,
                    s.label.clone(),
                    None,
                    format!("BAD signature by {named}: its hash prefix does not match the {what}"),
                ));
            }
            match cannot {
                Some(why) if ring.is_some() => skipped.push(format!(
                    "{} by {named} not checked: {why} cannot be verified here",
                    s.label
                )),
                Some(_) => {}
                None if ring.is_some() && !unknown.contains(&named) => unknown.push(named),
                None => {}
            }
            continue;
        }
        let mut verified = None;
        let mut failure = None;
        let mut unsupported = None;
        for c in &candidates {
            match c.verify(sig, &mut signed(s)?) {
                Ok(()) => {
                    verified = Some(c);
                    break;
                }
                Err(
                    e @ (pgp::errors::Error::Unimplemented { .. }
                    | pgp::errors::Error::Unsupported { .. }),
                ) => unsupported = Some((c.describe(), pgp_message(&e))),
                Err(e) => {
                    failure = Some(format!(
                        "bad signature: {} by {} does not verify: {}",
                        s.label,
                        c.describe(),
                        pgp_message(&e)
                    ))
                }
            }
        }
        match (verified, failure, unsupported) {
            (Some(c), _, _) => match unusable(c, sig) {
                Some(why) => bad.push(format!(
                    "{} by {} is not accepted: {why}",
                    s.label,
                    c.describe()
                )),
                None => {
                    if !good.contains(&c.id) {
                        good.push(c.id.clone());
                    }
                    payload_covered |= s.with_payload;
                }
            },
            (None, Some(failure), _) => bad.push(failure),
            (None, None, Some((key, why))) => skipped.push(format!(
                "{} by {key} not checked: it cannot be verified here ({why})",
                s.label
            )),
            (None, None, None) => bad.push(format!("bad signature: {} does not verify", s.label)),
        }
    }
    if ring.is_none() {
        return Ok((None, skipped));
    }
    let verdict = if !bad.is_empty() {
        Err(Refusal::Bad(bad))
    } else if !good.is_empty() {
        if payload_covered {
            Ok(good)
        } else {
            Err(Refusal::Bad(vec![
                "bad signature: the signed header has no payload digest and no signature covers the payload"
                    .into(),
            ]))
        }
    } else if sigs.is_empty() {
        Err(Refusal::NotSigned)
    } else if !unknown.is_empty() {
        Err(Refusal::UnknownKey(unknown))
    } else {
        Err(Refusal::NoneCheckable)
    };
    Ok((Some(verdict), skipped))
}

/// Reads a key file's bytes and a signature packet, the parsers of
/// untrusted bytes here, for the fuzz target; each key and subkey read is
/// judged as a signer at the time of each of the key's self-signatures
/// (revocations, bindings, back signatures, expiry and key flags).
#[doc(hidden)]
pub fn parse_untrusted(data: &[u8]) -> (usize, bool) {
    let keys = parse_keys(data).unwrap_or_default();
    let ring = Keyring { keys };
    for cert in &ring.keys {
        let selfsigs = cert
            .details
            .revocation_signatures
            .iter()
            .chain(&cert.details.direct_signatures)
            .chain(cert.details.users.iter().flat_map(|u| &u.signatures))
            .chain(cert.public_subkeys.iter().flat_map(|k| &k.signatures))
            .take(8);
        for sig in selfsigs {
            for c in ring.candidates(sig).iter().take(4) {
                let _ = unusable(c, sig);
            }
        }
    }
    let sig = parse_signature(data).is_ok();
    (ring.keys.len(), sig)
}
