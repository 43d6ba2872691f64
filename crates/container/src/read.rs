//! Container images read back: an OCI image layout (a directory or one
//! tar), or a docker archive, to its layers in order — each a tar stream,
//! decompressed as its media type says, its digests checked as it is read.
//!
//! Everything read is untrusted: JSON documents are read into memory only
//! up to [`JSON_LIMIT`], digests must be `sha256:` and 64 hex digits before
//! they name a file, paths inside a docker archive must stay inside it, and
//! an image has at most [`MAX_LAYERS`] layers.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use blocksink::{Error, ReadAtCursor, Result, Window};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::image::hex;

const FORMAT: &str = "OCI";
/// Most bytes of an index, manifest or configuration read into memory.
pub const JSON_LIMIT: u64 = 4 << 20;
/// Most layers an image may have (Docker's own limit is 127).
pub const MAX_LAYERS: usize = 256;

/// Where an image is read from, as skopeo names transports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// `oci:DIR[:REF]`: an OCI image layout directory.
    OciDir {
        /// The directory.
        path: PathBuf,
        /// The `org.opencontainers.image.ref.name` to pick, if not the only image.
        reference: Option<String>,
    },
    /// `oci-archive:FILE[:REF]`: the layout as one tar.
    OciArchive {
        /// The archive.
        path: PathBuf,
        /// As for a directory.
        reference: Option<String>,
    },
    /// `docker-archive:FILE[:NAME:TAG]`: `docker save`'s archive.
    DockerArchive {
        /// The archive.
        path: PathBuf,
        /// One of the image's `RepoTags`, if the archive has several images.
        reference: Option<String>,
    },
}

impl ImageSource {
    /// Parses `oci:…`, `oci-archive:…` or `docker-archive:…`; `None` for
    /// anything else (a plain path).
    pub fn parse(spec: &str) -> Option<ImageSource> {
        let (transport, rest) = spec.split_once(':')?;
        // The reference follows the path's last colon, unless that colon is
        // part of the path itself (a file that exists by the whole name).
        let split = |rest: &str, max_colons: usize| -> (PathBuf, Option<String>) {
            if Path::new(rest).exists() {
                return (rest.into(), None);
            }
            let mut parts = rest.splitn(max_colons + 1, ':');
            let path = parts.next().unwrap_or_default();
            let reference: Vec<&str> = parts.collect();
            if reference.is_empty() || reference.iter().all(|r| r.is_empty()) {
                (path.into(), None)
            } else {
                (path.into(), Some(reference.join(":")))
            }
        };
        Some(match transport {
            "oci" => {
                let (path, reference) = split(rest, 1);
                ImageSource::OciDir { path, reference }
            }
            "oci-archive" => {
                let (path, reference) = split(rest, 1);
                ImageSource::OciArchive { path, reference }
            }
            "docker-archive" => {
                let (path, reference) = split(rest, 2);
                ImageSource::DockerArchive { path, reference }
            }
            _ => return None,
        })
    }

    /// The file or directory read.
    pub fn path(&self) -> &Path {
        match self {
            ImageSource::OciDir { path, .. }
            | ImageSource::OciArchive { path, .. }
            | ImageSource::DockerArchive { path, .. } => path,
        }
    }
}

/// How a layer's blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    Plain,
    Gzip,
    Zstd,
    /// Decided by the blob's first bytes (a docker archive's layer files).
    Sniff,
}

/// A layer of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageLayer {
    /// Where it is: a blob digest (`sha256:…`) or a docker archive's path.
    pub name: String,
    /// Its media type (a docker archive's layers have none).
    pub media_type: Option<String>,
    /// The blob's digest, checked as it is read (`None`: a docker archive's
    /// layer file, known only by its `diff_id`).
    pub digest: Option<String>,
    /// The digest of the uncompressed tar, from the configuration.
    pub diff_id: String,
    coding: Coding,
}

/// Where blobs are.
enum Blobs {
    Dir(PathBuf),
    Archive {
        file: File,
        members: HashMap<String, (u64, u64)>,
    },
}

/// An image opened for reading.
pub struct ImageReader {
    blobs: Blobs,
    shown: String,
    /// The layers, bottom first.
    pub layers: Vec<ImageLayer>,
    /// The image's configuration document.
    pub config: Value,
}

impl std::fmt::Debug for ImageReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageReader")
            .field("image", &self.shown)
            .field("layers", &self.layers)
            .finish()
    }
}

fn bad(shown: &str, what: impl std::fmt::Display) -> Error {
    Error::corrupt(FORMAT, format!("{shown}: {what}"))
}

/// `sha256:<64 lower-case hex>` checked, returning the hex.
fn digest_hex<'a>(shown: &str, digest: &'a str) -> Result<&'a str> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => Err(Error::unsupported(
            FORMAT,
            format!("{shown}: digest {digest:?} is not sha256 and 64 hex digits"),
        )),
    }
}

/// A string field of a JSON object.
fn text<'a>(shown: &str, v: &'a Value, what: &str, key: &str) -> Result<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(shown, format!("{what} has no string {key:?}")))
}

impl ImageReader {
    /// Opens the image `source` names and reads its index, manifest and
    /// configuration.
    pub fn open(source: &ImageSource) -> Result<ImageReader> {
        let shown = source.path().display().to_string();
        let blobs = match source {
            ImageSource::OciDir { path, .. } => {
                if !path.join("oci-layout").is_file() {
                    return Err(Error::invalid_format(
                        FORMAT,
                        format!("{shown}: no oci-layout file; not an OCI image layout"),
                    ));
                }
                Blobs::Dir(path.clone())
            }
            ImageSource::OciArchive { path, .. } | ImageSource::DockerArchive { path, .. } => {
                let file = File::open(path)
                    .map_err(|e| Error::io(FORMAT, format!("opening {shown}"), e))?;
                let mut members = HashMap::new();
                for m in blocksink::tar_members(&file, FORMAT)? {
                    if m.kind.is_file() {
                        let name = normal_member(&m.name_lossy());
                        members.insert(name, (m.offset, m.size));
                    }
                }
                Blobs::Archive { file, members }
            }
        };
        let mut reader = ImageReader {
            blobs,
            shown,
            layers: Vec::new(),
            config: Value::Null,
        };
        match source {
            ImageSource::DockerArchive { reference, .. } => {
                reader.read_docker(reference.as_deref())?
            }
            ImageSource::OciDir { reference, .. } | ImageSource::OciArchive { reference, .. } => {
                reader.read_oci(reference.as_deref())?
            }
        }
        Ok(reader)
    }

    /// A file of the layout or archive, as a reader of `len` bytes.
    fn open_path(&self, name: &str) -> Result<(Box<dyn Read + Send + '_>, u64)> {
        match &self.blobs {
            Blobs::Dir(dir) => {
                let path = dir.join(name);
                let f = File::open(&path)
                    .map_err(|e| Error::io(FORMAT, format!("{}: opening {name}", self.shown), e))?;
                let len = f
                    .metadata()
                    .map_err(|e| Error::io(FORMAT, format!("{}: {name}", self.shown), e))?
                    .len();
                Ok((Box::new(f), len))
            }
            Blobs::Archive { file, members } => {
                let &(offset, size) = members.get(name).ok_or_else(|| {
                    bad(&self.shown, format!("the archive has no member {name:?}"))
                })?;
                let cursor = Window::new(file, offset, size)
                    .and_then(ReadAtCursor::new)
                    .map_err(|e| Error::io(FORMAT, format!("{}: {name}", self.shown), e))?;
                Ok((Box::new(cursor), size))
            }
        }
    }

    /// A small file (a JSON document) read whole.
    fn read_json(&self, name: &str, digest: Option<&str>) -> Result<Value> {
        let (mut r, len) = self.open_path(name)?;
        if len > JSON_LIMIT {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "{}: {name} is {len} bytes, more than the {JSON_LIMIT} read for a document",
                    self.shown
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        r.by_ref()
            .take(JSON_LIMIT)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(FORMAT, format!("{}: reading {name}", self.shown), e))?;
        if let Some(d) = digest {
            let got = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
            if got != d {
                return Err(bad(
                    &self.shown,
                    format!("{name} does not match its digest ({got})"),
                ));
            }
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| bad(&self.shown, format!("{name} is not JSON: {e}")))
    }

    fn blob_json(&self, descriptor: &Value, what: &str) -> Result<Value> {
        let digest = text(&self.shown, descriptor, what, "digest")?;
        let hex = digest_hex(&self.shown, digest)?;
        self.read_json(&format!("blobs/sha256/{hex}"), Some(digest))
    }

    fn read_oci(&mut self, reference: Option<&str>) -> Result<()> {
        let mut index = self.read_json("index.json", None)?;
        // An index may point at a further index (a multi-platform image):
        // follow it, at most a few levels down.
        // The reference names an entry of index.json; a nested index below
        // it is chosen by platform.
        let mut reference = reference;
        for _ in 0..4 {
            let manifests = index
                .get("manifests")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(&self.shown, "the index has no manifests"))?;
            let chosen = pick_manifest(&self.shown, manifests, reference.take())?;
            let media = chosen
                .get("mediaType")
                .and_then(Value::as_str)
                .unwrap_or("");
            let doc = self.blob_json(chosen, "a manifest descriptor")?;
            let doc_type = doc
                .get("mediaType")
                .and_then(Value::as_str)
                .unwrap_or(media);
            if doc_type.contains("index") || doc_type.contains("manifest.list") {
                index = doc;
                continue;
            }
            return self.read_manifest(&doc);
        }
        Err(bad(&self.shown, "indexes nest too deeply"))
    }

    fn read_manifest(&mut self, manifest: &Value) -> Result<()> {
        let config_desc = manifest
            .get("config")
            .ok_or_else(|| bad(&self.shown, "the manifest has no config"))?;
        self.config = self.blob_json(config_desc, "the config descriptor")?;
        let diff_ids = self.diff_ids()?;
        let layers = manifest
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(&self.shown, "the manifest has no layers"))?;
        self.same_count(layers.len(), diff_ids.len())?;
        for (layer, diff_id) in layers.iter().zip(diff_ids) {
            let digest = text(&self.shown, layer, "a layer descriptor", "digest")?;
            let hex = digest_hex(&self.shown, digest)?;
            let media = text(&self.shown, layer, "a layer descriptor", "mediaType")?;
            let coding = if media.ends_with("tar+gzip") || media.ends_with("tar.gzip") {
                Coding::Gzip
            } else if media.ends_with("tar+zstd") {
                Coding::Zstd
            } else if media.ends_with(".tar") || media.ends_with("layer.v1.tar") {
                Coding::Plain
            } else {
                return Err(Error::unsupported(
                    FORMAT,
                    format!("{}: layer media type {media:?}", self.shown),
                ));
            };
            self.layers.push(ImageLayer {
                name: format!("blobs/sha256/{hex}"),
                media_type: Some(media.to_string()),
                digest: Some(digest.to_string()),
                diff_id,
                coding,
            });
        }
        Ok(())
    }

    /// The manifest's layers and the configuration's diff_ids pair up.
    fn same_count(&self, layers: usize, diff_ids: usize) -> Result<()> {
        if layers == diff_ids {
            return Ok(());
        }
        Err(bad(
            &self.shown,
            format!("the manifest lists {layers} layers but the config {diff_ids} diff_ids"),
        ))
    }

    fn diff_ids(&self) -> Result<Vec<String>> {
        let ids = self
            .config
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .and_then(Value::as_array)
            .ok_or_else(|| bad(&self.shown, "the config has no rootfs.diff_ids"))?;
        if ids.len() > MAX_LAYERS {
            return Err(Error::unsupported(
                FORMAT,
                format!(
                    "{}: {} layers, more than {MAX_LAYERS}",
                    self.shown,
                    ids.len()
                ),
            ));
        }
        ids.iter()
            .map(|v| {
                let id = v
                    .as_str()
                    .ok_or_else(|| bad(&self.shown, "a diff_id is not a string"))?;
                digest_hex(&self.shown, id)?;
                Ok(id.to_string())
            })
            .collect()
    }

    fn read_docker(&mut self, reference: Option<&str>) -> Result<()> {
        let manifest = self.read_json("manifest.json", None)?;
        let images = manifest
            .as_array()
            .ok_or_else(|| bad(&self.shown, "manifest.json is not a list"))?;
        let chosen = match reference {
            Some(r) => images
                .iter()
                .find(|i| {
                    i.get("RepoTags")
                        .and_then(Value::as_array)
                        .is_some_and(|tags| {
                            tags.iter()
                                .any(|t| t.as_str().map(short_name) == Some(short_name(r)))
                        })
                })
                .ok_or_else(|| bad(&self.shown, format!("no image is tagged {r:?}")))?,
            None => match images.as_slice() {
                [one] => one,
                [] => return Err(bad(&self.shown, "manifest.json lists no image")),
                _ => {
                    return Err(Error::unsupported(
                        FORMAT,
                        format!(
                            "{}: {} images; name one as docker-archive:FILE:NAME:TAG",
                            self.shown,
                            images.len()
                        ),
                    ))
                }
            },
        };
        let config_path = self.member_path(text(&self.shown, chosen, "the image", "Config")?)?;
        self.config = self.read_json(&config_path, None)?;
        let diff_ids = self.diff_ids()?;
        let layers = chosen
            .get("Layers")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(&self.shown, "the image has no Layers"))?;
        self.same_count(layers.len(), diff_ids.len())?;
        for (layer, diff_id) in layers.iter().zip(diff_ids) {
            let path = layer
                .as_str()
                .ok_or_else(|| bad(&self.shown, "a layer path is not a string"))?;
            self.layers.push(ImageLayer {
                name: self.member_path(path)?,
                media_type: None,
                digest: None,
                diff_id,
                coding: Coding::Sniff,
            });
        }
        Ok(())
    }

    /// A path inside a docker archive, normalised; one that leaves the
    /// archive is refused.
    fn member_path(&self, path: &str) -> Result<String> {
        let mut parts = Vec::new();
        for c in path.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    return Err(Error::unsupported(
                        FORMAT,
                        format!("{}: path {path:?} leaves the archive", self.shown),
                    ))
                }
                c => parts.push(c),
            }
        }
        if parts.is_empty() || path.starts_with('/') {
            return Err(Error::unsupported(
                FORMAT,
                format!("{}: {path:?} is not a path inside the archive", self.shown),
            ));
        }
        Ok(parts.join("/"))
    }

    /// Layer `i` as an uncompressed tar stream. Its blob's digest and its
    /// `diff_id` are checked as it is read: [`LayerStream::finish`] reads
    /// what is left and reports a mismatch.
    pub fn layer(&self, i: usize) -> Result<LayerStream<'_>> {
        let layer = self
            .layers
            .get(i)
            .ok_or_else(|| Error::out_of_range(FORMAT, format!("no layer {i}")))?;
        let (raw, _) = self.open_path(&layer.name)?;
        let what = format!("{}: layer {} ({})", self.shown, i + 1, layer.name);
        let checked = Checked::new(raw, layer.digest.clone(), what.clone());
        let mut buffered = io::BufReader::with_capacity(1 << 20, checked);
        let coding = match layer.coding {
            Coding::Sniff => {
                let head = io::BufRead::fill_buf(&mut buffered)
                    .map_err(|e| Error::io(FORMAT, what.clone(), e))?;
                if head.starts_with(&[0x1f, 0x8b]) {
                    Coding::Gzip
                } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                    Coding::Zstd
                } else {
                    Coding::Plain
                }
            }
            c => c,
        };
        let tar: Box<dyn Read + Send + '_> = match coding {
            Coding::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Coding::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(buffered)
                    .map_err(|e| Error::io(FORMAT, what.clone(), e))?,
            ),
            _ => Box::new(buffered),
        };
        Ok(LayerStream {
            inner: Checked::new(
                tar,
                Some(layer.diff_id.clone()),
                format!("{what}, uncompressed"),
            ),
        })
    }
}

/// The manifest descriptor `reference` names, or the only one.
fn pick_manifest<'a>(
    shown: &str,
    manifests: &'a [Value],
    reference: Option<&str>,
) -> Result<&'a Value> {
    let refs = |m: &Value| -> Vec<String> {
        [
            "org.opencontainers.image.ref.name",
            "io.containerd.image.name",
        ]
        .iter()
        .filter_map(|k| m.get("annotations")?.get(*k)?.as_str().map(str::to_string))
        .collect()
    };
    if let Some(r) = reference {
        return manifests
            .iter()
            .find(|m| refs(m).iter().any(|x| x == r))
            .ok_or_else(|| bad(shown, format!("no manifest is named {r:?}")));
    }
    match manifests {
        [one] => Ok(one),
        [] => Err(bad(shown, "the index lists no manifest")),
        _ => {
            // Several: a multi-platform index picks this machine's.
            let arch = match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                other => other,
            };
            let mut matching = manifests.iter().filter(|m| {
                m.get("platform").is_some_and(|p| {
                    p.get("architecture").and_then(Value::as_str) == Some(arch)
                        && p.get("os").and_then(Value::as_str) == Some("linux")
                })
            });
            match (matching.next(), matching.next()) {
                (Some(m), None) => Ok(m),
                _ => {
                    let names: Vec<String> = manifests.iter().flat_map(refs).collect();
                    Err(Error::unsupported(
                        FORMAT,
                        format!(
                            "{shown}: {} images; name one after a colon ({})",
                            manifests.len(),
                            names.join(", ")
                        ),
                    ))
                }
            }
        }
    }
}

/// A reference without Docker Hub's implied parts (`docker.io/`,
/// `library/`), so `example/os:1` matches `docker.io/example/os:1`.
fn short_name(r: &str) -> &str {
    let r = r.strip_prefix("docker.io/").unwrap_or(r);
    r.strip_prefix("library/").unwrap_or(r)
}

/// An archive member's name as the lookup keys it (`./` removed).
fn normal_member(name: &str) -> String {
    name.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// A layer's tar stream; call [`finish`](Self::finish) after reading it.
pub struct LayerStream<'a> {
    inner: Checked<Box<dyn Read + Send + 'a>>,
}

impl LayerStream<'_> {
    /// Reads the rest of the layer and checks its digests.
    pub fn finish(mut self) -> io::Result<()> {
        io::copy(&mut self.inner, &mut io::sink())?;
        Ok(())
    }
}

impl Read for LayerStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

/// A reader whose bytes must hash to `digest`: at its end a mismatch is an
/// `InvalidData` error naming `what`.
struct Checked<R> {
    inner: R,
    want: Option<String>,
    sha: Sha256,
    what: String,
    done: bool,
}

impl<R: Read> Checked<R> {
    fn new(inner: R, want: Option<String>, what: String) -> Self {
        Checked {
            inner,
            want,
            sha: Sha256::new(),
            what,
            done: false,
        }
    }
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(want) = &self.want {
            if n == 0 && !buf.is_empty() && !self.done {
                self.done = true;
                let got = format!("sha256:{}", hex(&std::mem::take(&mut self.sha).finalize()));
                if &got != want {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} does not match its digest {want} (read {got})",
                            self.what
                        ),
                    ));
                }
            } else {
                self.sha.update(&buf[..n]);
            }
        }
        Ok(n)
    }
}
