//! Container images written in one pass: an OCI image layout (a directory
//! or one tar of it, as skopeo's `oci:` and `oci-archive:` read them) or a
//! docker archive (as `docker load` and `podman load` read it).
//!
//! A layer is written as a tar stream into [`LayerWriter`]; it is
//! compressed on every core and both digests — of the tar (the config's
//! `diff_id`) and of the blob as stored — are computed while the bytes go
//! by. In an archive the blob's tar header, which needs the digest for its
//! name and the size, is written last, over a placeholder: nothing is read
//! back and nothing is copied.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use blocksink::{Error, PendingFile, Result};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::compress::{Compression, Encoder};

const FORMAT: &str = "OCI";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// How the image is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
    Directory,
    /// The same layout as one tar file (skopeo's `oci-archive:`).
    OciArchive,
    /// A tar that `docker load` reads: `manifest.json` with the config and
    /// uncompressed layers, which is also an OCI layout (as `docker save`
    /// writes it since Docker 25).
    DockerArchive,
}

/// What the image's configuration says about running it, and its identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerConfig {
    /// `GOARCH` name: `amd64`, `arm64`.
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// When the image was made, seconds since 1970 (the `created` field
    /// and the history entry's).
    pub created: i64,
    /// `KEY=value` pairs.
    pub env: Vec<String>,
    /// The command the container runs, when set.
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments (or the command, without an entrypoint).
    pub cmd: Option<Vec<String>>,
    /// The working directory, when not `/`.
    pub working_dir: Option<String>,
    /// The user (and group) the command runs as.
    pub user: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// What made the layer, in the history entry.
    pub created_by: String,
}

impl Default for ContainerConfig {
    fn default() -> Self {
        ContainerConfig {
            architecture: "amd64".into(),
            os: "linux".into(),
            created: 0,
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            entrypoint: None,
            cmd: None,
            working_dir: None,
            user: None,
            labels: BTreeMap::new(),
            created_by: "imgconv".into(),
        }
    }
}

/// A name and tag (`registry/repo:tag`); the tag is `latest` when not given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The repository, possibly with a registry host (`example.com/os`).
    pub name: String,
    /// The tag.
    pub tag: String,
}

impl Reference {
    /// Parses `NAME[:TAG]`: lower-case repository path components
    /// (`[a-z0-9._-]`, separated by `/`; a registry host may carry a port)
    /// and a tag of `[A-Za-z0-9_.-]`, at most 128 characters.
    pub fn parse(text: &str) -> Result<Reference> {
        let bad = |why: &str| {
            Error::out_of_range(FORMAT, format!("{text:?} is not an image reference: {why}"))
                .field("tag")
        };
        let last_slash = text.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match text[last_slash..].rfind(':') {
            Some(i) => (&text[..last_slash + i], &text[last_slash + i + 1..]),
            None => (text, "latest"),
        };
        if tag.is_empty()
            || tag.len() > 128
            || tag.starts_with(['.', '-'])
            || !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(bad(
                "the tag must be 1–128 of A-Z a-z 0-9 _ . - (not first . or -)",
            ));
        }
        if name.is_empty() {
            return Err(bad("the name is empty"));
        }
        for (i, part) in name.split('/').enumerate() {
            let host =
                i == 0 && name.contains('/') && (part.contains(['.', ':']) || part == "localhost");
            let ok = !part.is_empty()
                && part.chars().all(|c| {
                    c.is_ascii_lowercase()
                        || c.is_ascii_digit()
                        || "._-".contains(c)
                        || (host && (c == ':' || c.is_ascii_uppercase()))
                });
            if !ok {
                return Err(bad(
                    "name components are lower-case letters, digits and . _ - separated by /",
                ));
            }
        }
        Ok(Reference {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// Everything about the image but its layers.
#[derive(Clone, Debug, Default)]
pub struct ImageOptions {
    /// Directory, OCI archive or docker archive.
    pub layout: Option<Layout>,
    /// How layers are compressed (a docker archive's are never).
    pub compression: Compression,
    /// The configuration.
    pub config: ContainerConfig,
    /// The name it is tagged with: the index's
    /// `org.opencontainers.image.ref.name` (the tag, as umoci and skopeo's
    /// `oci:DIR:TAG` look it up) and the docker archive's `RepoTags`.
    pub reference: Option<Reference>,
}

/// A blob written: its digest (`sha256:…`), size and media type.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Descriptor {
    /// Media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
}

/// A layer written.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LayerInfo {
    /// The blob.
    #[serde(flatten)]
    pub blob: Descriptor,
    /// The digest of the uncompressed tar (`sha256:…`).
    pub diff_id: String,
    /// Bytes of the uncompressed tar.
    pub tar_size: u64,
}

/// What [`ImageWriter::finish`] wrote.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WrittenImage {
    /// The manifest.
    pub manifest: Descriptor,
    /// The configuration.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<LayerInfo>,
    /// Bytes of the whole output (the archive, or the directory's files).
    pub bytes: u64,
}

/// An image being written.
pub struct ImageWriter {
    /// A layer was dropped unfinished: the archive's offsets are no longer
    /// known, so nothing more may be written.
    broken: bool,
    store: Store,
    options: ImageOptions,
    layout: Layout,
    layers: Vec<LayerInfo>,
}

impl ImageWriter {
    /// Starts an image at `path` (a directory for [`Layout::Directory`],
    /// else a file), made under a temporary name and given `path` only by
    /// [`finish`](Self::finish).
    pub fn create(path: &Path, options: ImageOptions) -> Result<ImageWriter> {
        let layout = options.layout.unwrap_or(Layout::OciArchive);
        let mtime = options.config.created.max(0) as u64;
        let mut store = match layout {
            Layout::Directory => Store::dir(path)?,
            _ => Store::archive(path, mtime)?,
        };
        store.put("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        store.dir_entry("blobs/")?;
        store.dir_entry("blobs/sha256/")?;
        Ok(ImageWriter {
            broken: false,
            store,
            options,
            layout,
            layers: Vec::new(),
        })
    }

    /// The compression layers get in this layout.
    fn layer_compression(&self) -> Compression {
        match self.layout {
            Layout::DockerArchive => Compression::None,
            _ => self.options.compression,
        }
    }

    /// A new layer, on top of those written before: write a tar stream into
    /// it, then [`LayerWriter::finish`].
    pub fn layer(&mut self) -> Result<LayerWriter<'_>> {
        self.usable()?;
        let compression = self.layer_compression();
        let blob = self.store.begin_blob()?;
        let encoder = compression
            .encoder(Digesting::new(blob))
            .map_err(|e| self.store.error("starting a layer", e))?;
        Ok(LayerWriter {
            image: self,
            encoder: Some(encoder),
            diff: Sha256::new(),
            tar_size: 0,
            media_type: compression.layer_media_type(),
        })
    }

    /// Writes the configuration, manifest and index and places the image
    /// under its name.
    pub fn finish(mut self) -> Result<WrittenImage> {
        self.usable()?;
        let c = &self.options.config;
        let created = rfc3339(c.created);
        let mut run = serde_json::Map::new();
        if !c.env.is_empty() {
            run.insert("Env".into(), json!(c.env));
        }
        if let Some(e) = &c.entrypoint {
            run.insert("Entrypoint".into(), json!(e));
        }
        if let Some(cmd) = &c.cmd {
            run.insert("Cmd".into(), json!(cmd));
        }
        if let Some(w) = &c.working_dir {
            run.insert("WorkingDir".into(), json!(w));
        }
        if let Some(u) = &c.user {
            run.insert("User".into(), json!(u));
        }
        if !c.labels.is_empty() {
            run.insert("Labels".into(), json!(c.labels));
        }
        let config = json!({
            "created": created,
            "architecture": c.architecture,
            "os": c.os,
            "config": run,
            "rootfs": {
                "type": "layers",
                "diff_ids": self.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
            },
            "history": self.layers.iter().map(|_| json!({
                "created": created,
                "created_by": c.created_by,
            })).collect::<Vec<_>>(),
        });
        let config = self.put_blob(CONFIG_TYPE, &to_json(&config))?;
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": config,
            "layers": self.layers.iter().map(|l| &l.blob).collect::<Vec<_>>(),
        });
        if let Some(r) = &self.options.reference {
            manifest["annotations"] = json!({ "org.opencontainers.image.ref.name": r.tag });
        }
        let manifest = self.put_blob(MANIFEST_TYPE, &to_json(&manifest))?;
        let mut entry = json!({
            "mediaType": manifest.media_type,
            "digest": manifest.digest,
            "size": manifest.size,
        });
        if let Some(r) = &self.options.reference {
            entry["annotations"] = json!({
                "io.containerd.image.name": r.to_string(),
                "org.opencontainers.image.ref.name": r.tag,
            });
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": INDEX_TYPE,
            "manifests": [entry],
        });
        self.store.put("index.json", &to_json(&index))?;
        if self.layout == Layout::DockerArchive {
            let tags: Vec<String> = self
                .options
                .reference
                .iter()
                .map(|r| r.to_string())
                .collect();
            let docker = json!([{
                "Config": blob_path(&config.digest),
                "RepoTags": tags,
                "Layers": self.layers.iter().map(|l| blob_path(&l.blob.digest)).collect::<Vec<_>>(),
            }]);
            self.store.put("manifest.json", &to_json(&docker))?;
        }
        let bytes = self.store.finish()?;
        Ok(WrittenImage {
            manifest,
            config,
            layers: self.layers,
            bytes,
        })
    }

    fn usable(&self) -> Result<()> {
        if self.broken {
            return Err(Error::unsupported(
                FORMAT,
                "a layer was abandoned unfinished; the image cannot be completed",
            ));
        }
        Ok(())
    }

    fn put_blob(&mut self, media_type: &str, bytes: &[u8]) -> Result<Descriptor> {
        let digest = format!("sha256:{}", hex(&Sha256::digest(bytes)));
        self.store.put(&blob_path(&digest), bytes)?;
        Ok(Descriptor {
            media_type: media_type.into(),
            digest,
            size: bytes.len() as u64,
        })
    }
}

/// A layer's tar stream going in; [`finish`](Self::finish) records it.
pub struct LayerWriter<'a> {
    image: &'a mut ImageWriter,
    encoder: Option<Encoder<Digesting<Blob>>>,
    diff: Sha256,
    tar_size: u64,
    media_type: &'static str,
}

impl LayerWriter<'_> {
    /// Ends the layer's blob and adds it to the image.
    pub fn finish(mut self) -> Result<LayerInfo> {
        let encoder = self
            .encoder
            .take()
            .ok_or_else(|| Error::unsupported(FORMAT, "the layer was already finished"))?;
        let stored = encoder
            .finish()
            .map_err(|e| self.image.store.error("compressing a layer", e))?;
        let (blob, sha, size) = stored.into_parts();
        let digest = format!("sha256:{}", hex(&sha.finalize()));
        self.image.store.end_blob(blob, &digest, size)?;
        let diff = std::mem::take(&mut self.diff);
        let info = LayerInfo {
            blob: Descriptor {
                media_type: self.media_type.into(),
                digest,
                size,
            },
            diff_id: format!("sha256:{}", hex(&diff.finalize())),
            tar_size: self.tar_size,
        };
        self.image.layers.push(info.clone());
        Ok(info)
    }
}

impl Drop for LayerWriter<'_> {
    fn drop(&mut self) {
        if self.encoder.is_some() {
            self.image.broken = true;
        }
    }
}

impl Write for LayerWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let enc = self
            .encoder
            .as_mut()
            .ok_or_else(|| io::Error::other("the layer was already finished"))?;
        let n = enc.write(buf)?;
        self.diff.update(&buf[..n]);
        self.tar_size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.encoder.as_mut() {
            Some(e) => e.flush(),
            None => Ok(()),
        }
    }
}

/// A writer that hashes and counts what passes through it.
struct Digesting<W> {
    inner: W,
    sha: Sha256,
    len: u64,
}

impl<W: Write> Digesting<W> {
    fn new(inner: W) -> Self {
        Digesting {
            inner,
            sha: Sha256::new(),
            len: 0,
        }
    }

    fn into_parts(self) -> (W, Sha256, u64) {
        (self.inner, self.sha, self.len)
    }
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A blob being written: its own handle on the output, and where its name
/// goes once the digest is known.
struct Blob {
    out: BufWriter<File>,
    place: Place,
}

enum Place {
    /// A placeholder tar header at this offset of the archive.
    Header(u64),
    /// A temporary file in `blobs/sha256/`.
    Temp(PathBuf),
}

impl Write for Blob {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Where the image's files go.
enum Store {
    Dir {
        /// The directory being filled, renamed to `target` at the end.
        tmp: Option<tempfile::TempDir>,
        target: PathBuf,
        bytes: u64,
        next_temp: u64,
    },
    Archive {
        pending: PendingFile,
        file: BufWriter<File>,
        pos: u64,
        mtime: u64,
    },
}

impl Store {
    fn dir(target: &Path) -> Result<Store> {
        if let Ok(mut entries) = fs::read_dir(target) {
            // An earlier image layout is replaced, as a file output is;
            // any other directory with something in it is left alone.
            if entries.next().is_some() && !target.join("oci-layout").is_file() {
                return Err(Error::unsupported(
                    FORMAT,
                    format!(
                        "{} exists, is not empty and is not an OCI image layout; \
                         an image layout replaces only an earlier one or an empty directory",
                        target.display()
                    ),
                ));
            }
        } else if target.exists() {
            return Err(Error::unsupported(
                FORMAT,
                format!("{} exists and is not a directory", target.display()),
            ));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into());
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".part")
            .tempdir_in(parent)
            .map_err(|e| {
                Error::io(
                    FORMAT,
                    format!("creating a directory beside {}", target.display()),
                    e,
                )
            })?;
        fs::create_dir_all(tmp.path().join("blobs/sha256"))
            .map_err(|e| Error::io(FORMAT, format!("creating {}", target.display()), e))?;
        Ok(Store::Dir {
            tmp: Some(tmp),
            target: target.to_path_buf(),
            bytes: 0,
            next_temp: 0,
        })
    }

    fn archive(target: &Path, mtime: u64) -> Result<Store> {
        let pending = PendingFile::create(target)
            .map_err(|e| Error::io(FORMAT, format!("creating {}", target.display()), e))?;
        let file = pending
            .file()
            .map_err(|e| Error::io(FORMAT, format!("creating {}", target.display()), e))?;
        Ok(Store::Archive {
            pending,
            file: BufWriter::with_capacity(1 << 20, file),
            pos: 0,
            mtime,
        })
    }

    fn target(&self) -> &Path {
        match self {
            Store::Dir { target, .. } => target,
            Store::Archive { pending, .. } => pending.target(),
        }
    }

    fn error(&self, doing: &str, e: io::Error) -> Error {
        Error::io(FORMAT, format!("{doing}: {}", self.target().display()), e)
    }

    fn dir_entry(&mut self, path: &str) -> Result<()> {
        if let Store::Archive {
            file, pos, mtime, ..
        } = self
        {
            let h = tar_header(path, 0, *mtime, true);
            let r = file.write_all(h.as_bytes());
            *pos += 512;
            r.map_err(|e| self.error("writing", e))?;
        }
        Ok(())
    }

    fn put(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        let r = match self {
            Store::Dir {
                tmp, bytes: total, ..
            } => {
                *total += bytes.len() as u64;
                match tmp {
                    Some(t) => fs::write(t.path().join(path), bytes),
                    None => Err(io::Error::other("the image was already placed")),
                }
            }
            Store::Archive {
                file, pos, mtime, ..
            } => {
                let h = tar_header(path, bytes.len() as u64, *mtime, false);
                let pad = padding(bytes.len() as u64);
                *pos += 512 + bytes.len() as u64 + pad;
                file.write_all(h.as_bytes())
                    .and_then(|()| file.write_all(bytes))
                    .and_then(|()| file.write_all(&[0; 512][..pad as usize]))
            }
        };
        r.map_err(|e| self.error("writing", e))
    }

    fn begin_blob(&mut self) -> Result<Blob> {
        let r = match self {
            Store::Dir { tmp, next_temp, .. } => {
                let dir = match tmp {
                    Some(t) => t.path().join("blobs/sha256"),
                    None => return Err(Error::unsupported(FORMAT, "the image was already placed")),
                };
                *next_temp += 1;
                let path = dir.join(format!(".blob{next_temp}.part"));
                File::create(&path).map(|f| Blob {
                    out: BufWriter::with_capacity(1 << 20, f),
                    place: Place::Temp(path),
                })
            }
            Store::Archive { file, pos, .. } => {
                // The blob writes through its own handle on the same open
                // file (one offset): everything buffered here goes first.
                let at = *pos;
                file.write_all(&[0; 512])
                    .and_then(|()| file.flush())
                    .and_then(|()| file.get_ref().try_clone())
                    .map(|f| {
                        *pos += 512;
                        Blob {
                            out: BufWriter::with_capacity(1 << 20, f),
                            place: Place::Header(at),
                        }
                    })
            }
        };
        r.map_err(|e| self.error("writing", e))
    }

    fn end_blob(&mut self, blob: Blob, digest: &str, size: u64) -> Result<()> {
        let Blob { out, place } = blob;
        let r = (|| -> io::Result<()> {
            let f = out.into_inner().map_err(|e| e.into_error())?;
            match (self, place) {
                (
                    Store::Dir {
                        tmp: Some(t),
                        bytes,
                        ..
                    },
                    Place::Temp(path),
                ) => {
                    drop(f);
                    *bytes += size;
                    fs::rename(&path, t.path().join(blob_path(digest)))
                }
                (Store::Archive { pos, mtime, .. }, Place::Header(at)) => {
                    let mut f = f;
                    let pad = padding(size);
                    f.write_all(&[0; 512][..pad as usize])?;
                    let end = at + 512 + size + pad;
                    let h = tar_header(&blob_path(digest), size, *mtime, false);
                    f.seek(SeekFrom::Start(at))?;
                    f.write_all(h.as_bytes())?;
                    f.seek(SeekFrom::Start(end))?;
                    *pos = end;
                    Ok(())
                }
                _ => Err(io::Error::other("a blob ended in another store")),
            }
        })();
        r.map_err(|e| Error::io(FORMAT, "writing a blob", e))
    }

    /// Places the image under its name; returns its size in bytes.
    fn finish(self) -> Result<u64> {
        let target = self.target().to_path_buf();
        let failed = |e| Error::io(FORMAT, format!("placing {}", target.display()), e);
        match self {
            Store::Dir {
                tmp, target, bytes, ..
            } => {
                let Some(t) = tmp else {
                    return Err(Error::unsupported(FORMAT, "the image was already placed"));
                };
                // An earlier layout (or an empty directory) in the way is
                // moved aside into the new one's temporary directory, the
                // new one placed, and the old one removed with it.
                let old = t.path().join(".replaced");
                let moved = fs::rename(&target, &old).is_ok();
                if let Err(e) = fs::rename(t.path(), &target) {
                    if moved {
                        let _ = fs::rename(&old, &target);
                    }
                    return Err(failed(e));
                }
                let _ = fs::remove_dir_all(target.join(".replaced"));
                drop(t);
                Ok(bytes)
            }
            Store::Archive {
                pending,
                mut file,
                pos,
                ..
            } => {
                // Two zero blocks end the archive.
                file.write_all(&[0; 1024])
                    .and_then(|()| file.flush())
                    .map_err(failed)?;
                drop(file);
                pending.commit().map_err(failed)?;
                Ok(pos + 1024)
            }
        }
    }
}

/// `blobs/sha256/<hex>` for `sha256:<hex>`.
fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn padding(len: u64) -> u64 {
    (512 - len % 512) % 512
}

/// A ustar header for a member of the image archive: root's, mode 0644 (or
/// a 0755 directory), the image's time.
fn tar_header(path: &str, size: u64, mtime: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    // Every name here is short (a digest path is 77 bytes).
    let _ = h.set_path(path);
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_cksum();
    h
}

fn to_json(v: &serde_json::Value) -> Vec<u8> {
    // serde_json's maps are sorted: the same value gives the same bytes.
    serde_json::to_vec(v).unwrap_or_default()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `seconds` since 1970 as RFC 3339 in UTC (`2024-01-02T03:04:05Z`).
fn rfc3339(seconds: i64) -> String {
    // RFC 3339 has four-digit years: the last second of 9999 at most.
    const LAST: i64 = 253_402_300_799;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds.clamp(0, LAST) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_four_digit_years() {
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(-5), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn references_parse_as_registries_name_them() {
        let r = Reference::parse("localhost:5000/os/core").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_str()),
            ("localhost:5000/os/core", "latest")
        );
        let r = Reference::parse("example/os:3.0-1").unwrap();
        assert_eq!(r.to_string(), "example/os:3.0-1");
        for bad in ["", "Upper/case", "os:", "os:-x", "a//b", "sp ace"] {
            assert!(Reference::parse(bad).is_err(), "{bad:?}");
        }
    }
}
