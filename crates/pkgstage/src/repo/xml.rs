//! `repomd.xml`, `primary.xml` and `filelists.xml` as `createrepo_c` writes
//! them (the rpm-metadata formats of yum and dnf), read as a stream.

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::compress::{self, Checked, Hasher};
use super::{
    check_location, Checksum, ChecksumAlgorithm, Comparison, Dependency, Evr, FileKind, Package,
    PackageFile, Repository,
};
use crate::error;
use crate::error::{Error, Result};

/// Longest text or attribute value taken (a path, a name, a checksum);
/// anything longer is refused rather than buffered.
const MAX_TEXT: usize = 64 * 1024;
/// Deepest element nesting taken.
const MAX_DEPTH: usize = 32;
/// Largest `repomd.xml` read.
const MAX_REPOMD: u64 = 16 << 20;
/// Largest decompressed metadata file when repomd.xml gives no open-size.
const MAX_METADATA: u64 = 16 << 30;

/// A streaming XML reader that keeps the path of open elements for error
/// messages and gathers the text of the element being read.
struct XmlStream<R> {
    reader: Reader<R>,
    buf: Vec<u8>,
    file: PathBuf,
    /// Open elements, as `name` or `name[n]` for repeated ones.
    path: Vec<String>,
    /// Text of the innermost element, when it is one whose text is kept.
    text: Option<String>,
    /// Offset of the event being handled.
    at: u64,
}

/// What the stream gives its reader.
enum Item {
    /// An element opens: its name and attributes. `empty` when it also closes.
    Open {
        name: String,
        attrs: Vec<(String, String)>,
        empty: bool,
    },
    /// An element closes.
    Close,
    /// The document ended.
    End,
}

impl<R: BufRead> XmlStream<R> {
    fn new(input: R, file: &Path) -> Self {
        XmlStream {
            reader: Reader::from_reader(input),
            buf: Vec::new(),
            file: file.to_path_buf(),
            path: Vec::new(),
            text: None,
            at: 0,
        }
    }

    /// The path of open elements, `/metadata/package[2]/format`.
    fn element(&self) -> String {
        let mut s = String::new();
        for p in &self.path {
            s.push('/');
            s.push_str(p);
        }
        s
    }

    fn error(&self, message: impl Into<String>) -> Error {
        error::metadata(&self.file, self.element(), Some(self.at), message)
    }

    /// Starts keeping the text of the element just opened.
    fn keep_text(&mut self) {
        self.text = Some(String::new());
    }

    /// The text kept since [`keep_text`](Self::keep_text).
    fn take_text(&mut self) -> String {
        self.text.take().unwrap_or_default()
    }

    fn push_text(&mut self, s: &str) -> Result<()> {
        if let Some(t) = &mut self.text {
            if t.len() + s.len() > MAX_TEXT {
                return Err(self.error(format!("text longer than {MAX_TEXT} bytes")));
            }
            t.push_str(s);
        }
        Ok(())
    }

    fn attrs(&self, e: &BytesStart<'_>) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| self.error(format!("malformed attribute: {err}")))?;
            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
            if a.value.len() > MAX_TEXT {
                return Err(self.error(format!("attribute {key} longer than {MAX_TEXT} bytes")));
            }
            let value = a
                .unescape_value()
                .map_err(|err| self.error(format!("attribute {key}: {err}")))?
                .into_owned();
            out.push((key, value));
        }
        Ok(out)
    }

    /// The next element boundary; text in between goes to the kept text.
    /// The caller pushes the path entry for an opened element with
    /// [`enter`](Self::enter) and pops it with [`leave`](Self::leave).
    fn next(&mut self) -> Result<Item> {
        loop {
            self.at = self.reader.buffer_position();
            self.buf.clear();
            let event = match self.reader.read_event_into(&mut self.buf) {
                Ok(e) => e.into_owned(),
                Err(quick_xml::Error::Io(e)) => {
                    return Err(self.error(format!("cannot read (decompress) the file: {e}")))
                }
                Err(e) => return Err(self.error(format!("malformed XML: {e}"))),
            };
            match event {
                Event::Start(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    let attrs = self.attrs(&e)?;
                    return Ok(Item::Open {
                        name,
                        attrs,
                        empty: false,
                    });
                }
                Event::Empty(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    let attrs = self.attrs(&e)?;
                    return Ok(Item::Open {
                        name,
                        attrs,
                        empty: true,
                    });
                }
                Event::End(_) => return Ok(Item::Close),
                Event::Text(t) if self.text.is_some() => {
                    let s = t
                        .decode()
                        .map_err(|err| self.error(format!("text: {err}")))?;
                    self.push_text(&s)?;
                }
                Event::CData(t) if self.text.is_some() => {
                    let s = t
                        .decode()
                        .map_err(|err| self.error(format!("CDATA: {err}")))?;
                    self.push_text(&s)?;
                }
                Event::GeneralRef(r) if self.text.is_some() => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => {
                            let name = r
                                .decode()
                                .map_err(|err| self.error(format!("entity: {err}")))?;
                            quick_xml::escape::resolve_xml_entity(&name)
                                .ok_or_else(|| self.error(format!("unknown entity &{name};")))?
                                .to_string()
                        }
                        Err(err) => return Err(self.error(format!("character reference: {err}"))),
                    };
                    self.push_text(&resolved)?;
                }
                Event::DocType(_) => {
                    return Err(self.error("a DOCTYPE is not expected in repository metadata"))
                }
                Event::Eof => {
                    if !self.path.is_empty() {
                        return Err(self.error("the file ends inside this element"));
                    }
                    return Ok(Item::End);
                }
                _ => {}
            }
        }
    }

    fn enter(&mut self, label: String) -> Result<()> {
        if self.path.len() >= MAX_DEPTH {
            return Err(self.error(format!("elements nested deeper than {MAX_DEPTH}")));
        }
        self.path.push(label);
        Ok(())
    }

    fn leave(&mut self) {
        self.path.pop();
        self.text = None;
    }
}

/// Attribute `key` of `attrs`.
fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The dependency lists of `<format>`, by element name.
fn dep_list<'p>(p: &'p mut PackageDraft, element: &str) -> Option<&'p mut Vec<Dependency>> {
    let d = &mut p.deps;
    Some(match element {
        "rpm:provides" => &mut d.provides,
        "rpm:requires" => &mut d.requires,
        "rpm:conflicts" => &mut d.conflicts,
        "rpm:obsoletes" => &mut d.obsoletes,
        "rpm:recommends" => &mut d.recommends,
        "rpm:suggests" => &mut d.suggests,
        "rpm:supplements" => &mut d.supplements,
        "rpm:enhances" => &mut d.enhances,
        _ => return None,
    })
}

#[derive(Default)]
struct Deps {
    provides: Vec<Dependency>,
    requires: Vec<Dependency>,
    conflicts: Vec<Dependency>,
    obsoletes: Vec<Dependency>,
    recommends: Vec<Dependency>,
    suggests: Vec<Dependency>,
    supplements: Vec<Dependency>,
    enhances: Vec<Dependency>,
}

/// A `<package>` being read.
#[derive(Default)]
struct PackageDraft {
    name: Option<String>,
    arch: Option<String>,
    evr: Option<(u32, String, String)>,
    checksum: Option<Checksum>,
    location: Option<String>,
    deps: Deps,
    files: Vec<PackageFile>,
}

fn parse_epoch(s: Option<&str>) -> std::result::Result<u32, String> {
    match s {
        None | Some("") => Ok(0),
        Some(e) => e
            .parse()
            .map_err(|_| format!("epoch {e:?} is not a number below 2^32")),
    }
}

/// `<version epoch= ver= rel=/>`.
fn version_attrs(attrs: &[(String, String)]) -> std::result::Result<(u32, String, String), String> {
    let epoch = parse_epoch(attr(attrs, "epoch"))?;
    let ver = attr(attrs, "ver").ok_or("no ver attribute")?;
    let rel = attr(attrs, "rel").ok_or("no rel attribute")?;
    Ok((epoch, ver.to_string(), rel.to_string()))
}

/// `<rpm:entry name= flags= epoch= ver= rel= pre=/>`.
fn entry_attrs(attrs: &[(String, String)]) -> std::result::Result<Dependency, String> {
    let name = attr(attrs, "name").ok_or("no name attribute")?;
    if name.is_empty() {
        return Err("empty name".into());
    }
    let pre = match attr(attrs, "pre") {
        None | Some("0") => false,
        Some("1") => true,
        Some(p) => return Err(format!("pre={p:?} is neither 0 nor 1")),
    };
    let constraint = match attr(attrs, "flags") {
        None => {
            if attr(attrs, "ver").is_some() {
                return Err("a ver without flags".into());
            }
            None
        }
        Some(f) => {
            let op = Comparison::from_flags(f)
                .ok_or_else(|| format!("flags={f:?} is not EQ, LT, GT, LE or GE"))?;
            let ver = attr(attrs, "ver").ok_or_else(|| format!("flags={f:?} without a ver"))?;
            Some((
                op,
                Evr {
                    epoch: parse_epoch(attr(attrs, "epoch"))?,
                    version: ver.to_string(),
                    release: attr(attrs, "rel").map(str::to_string),
                },
            ))
        }
    };
    Ok(Dependency {
        name: name.to_string(),
        constraint,
        pre,
    })
}

fn file_kind(attrs: &[(String, String)]) -> std::result::Result<FileKind, String> {
    match attr(attrs, "type") {
        None | Some("file") => Ok(FileKind::File),
        Some("dir") => Ok(FileKind::Dir),
        Some("ghost") => Ok(FileKind::Ghost),
        Some(t) => Err(format!("file type {t:?} is not dir or ghost")),
    }
}

fn check_file_path(path: &str) -> std::result::Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("file path {path:?} is not absolute"));
    }
    if path.contains('\0') {
        return Err(format!("file path {path:?} has a NUL"));
    }
    Ok(())
}

/// The text of the checksum element closing, lowercase: refused unless it
/// is hex of `algorithm`'s length.
fn checksum_text<R: BufRead>(x: &mut XmlStream<R>, algorithm: ChecksumAlgorithm) -> Result<String> {
    let hex = x.take_text().trim().to_ascii_lowercase();
    if hex.len() != algorithm.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(x.error(format!("{hex:?} is not a {} checksum", algorithm.name())));
    }
    Ok(hex)
}

/// The `packages` count of a root element, if it has one.
fn declared_count(attrs: &[(String, String)]) -> std::result::Result<Option<u64>, String> {
    attr(attrs, "packages")
        .map(|n| {
            n.parse()
                .map_err(|_| format!("packages={n:?} is not a number"))
        })
        .transpose()
}

/// One metadata file's reader: what [`read_document`] hands each element
/// below the root as it opens and each element as it closes.
trait Document {
    /// The root element's name (`metadata`).
    const ROOT: &'static str;
    /// The child of the root whose count the root's `packages` attribute
    /// declares (`package`): named by its place (`package[3]`) in error
    /// messages, and counted against the declaration at the end.
    const COUNTED: Option<&'static str> = None;

    /// How error messages name a child of the root other than the counted
    /// one.
    fn label(name: &str, _attrs: &[(String, String)]) -> String {
        name.to_string()
    }

    /// An element below the root opens at `depth` (1 for a child of the
    /// root), already the last of `x`'s path.
    fn open<R: BufRead>(
        &mut self,
        x: &mut XmlStream<R>,
        depth: usize,
        name: &str,
        attrs: &[(String, String)],
    ) -> Result<()>;

    /// The innermost element (the last of `x`'s path) closes.
    fn close<R: BufRead>(&mut self, x: &mut XmlStream<R>) -> Result<()>;
}

/// Reads the document of `x` into `doc`: one root element,
/// [`Document::ROOT`], whose `packages` count is checked when `doc` has a
/// [`Document::COUNTED`] element; every element below it handed to `doc`.
fn read_document<R: BufRead, D: Document>(x: &mut XmlStream<R>, doc: &mut D) -> Result<()> {
    let mut declared = None;
    let mut count = 0u64;
    let mut root_seen = false;
    loop {
        let closes = match x.next()? {
            Item::End => break,
            Item::Close => true,
            Item::Open { name, attrs, empty } => {
                let depth = x.path.len();
                let label = match depth {
                    1 if D::COUNTED == Some(name.as_str()) => {
                        count += 1;
                        format!("{name}[{count}]")
                    }
                    1 => D::label(&name, &attrs),
                    _ => name.clone(),
                };
                x.enter(label)?;
                if depth > 0 {
                    doc.open(x, depth, &name, &attrs)?;
                } else if name != D::ROOT {
                    return Err(x.error(format!("the root element is not <{}>", D::ROOT)));
                } else if root_seen {
                    return Err(x.error("a second root element"));
                } else {
                    root_seen = true;
                    if D::COUNTED.is_some() {
                        declared = declared_count(&attrs).map_err(|m| x.error(m))?;
                    }
                }
                empty
            }
        };
        if closes {
            doc.close(x)?;
            x.leave();
        }
    }
    if !root_seen {
        return Err(x.error(format!("no <{}> element", D::ROOT)));
    }
    if let Some(n) = declared.filter(|n| *n != count) {
        return Err(error::metadata(
            &x.file,
            format!("/{}", D::ROOT),
            None,
            format!("declares {n} packages but has {count} (truncated or corrupt)"),
        ));
    }
    Ok(())
}

/// Reads `primary.xml` (already decompressed) into packages. `file` names
/// the file in error messages. The `packages` count of `<metadata>` must
/// match the packages read; nothing is allocated by it.
///
/// # Example
///
/// ```
/// let xml = r#"<metadata packages="1"><package type="rpm">
///   <name>hello</name><arch>noarch</arch>
///   <version epoch="0" ver="1.0" rel="1"/>
///   <checksum type="sha256" pkgid="YES">00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff</checksum>
///   <location href="hello-1.0-1.noarch.rpm"/>
///   <format><rpm:requires><rpm:entry name="/bin/sh" pre="1"/></rpm:requires></format>
/// </package></metadata>"#;
/// let packages = pkgstage::repo::parse_primary(xml.as_bytes(), "primary.xml".as_ref())?;
/// assert_eq!(packages[0].nevra(), "hello-1.0-1.noarch");
/// assert!(packages[0].requires[0].pre);
/// # Ok::<(), pkgstage::Error>(())
/// ```
pub fn parse_primary(input: impl BufRead, file: &Path) -> Result<Vec<Package>> {
    let mut x = XmlStream::new(input, file);
    read_primary(&mut x)
}

fn read_primary<R: BufRead>(x: &mut XmlStream<R>) -> Result<Vec<Package>> {
    let mut primary = Primary::default();
    read_document(x, &mut primary)?;
    Ok(primary.packages)
}

/// primary.xml as read so far.
#[derive(Default)]
struct Primary {
    packages: Vec<Package>,
    /// The `<package>` being read.
    draft: Option<PackageDraft>,
}

impl Document for Primary {
    const ROOT: &'static str = "metadata";
    const COUNTED: Option<&'static str> = Some("package");

    fn open<R: BufRead>(
        &mut self,
        x: &mut XmlStream<R>,
        depth: usize,
        name: &str,
        attrs: &[(String, String)],
    ) -> Result<()> {
        if (depth, name) == (1, "package") {
            self.draft = Some(PackageDraft::default());
        } else if let Some(p) = self.draft.as_mut() {
            let parent = x.path.iter().rev().nth(1).cloned();
            primary_element(x, p, parent.as_deref(), name, attrs)?;
        }
        Ok(())
    }

    fn close<R: BufRead>(&mut self, x: &mut XmlStream<R>) -> Result<()> {
        let closing = x.path.last().cloned().unwrap_or_default();
        let parent_is_package = x.path.len() == 3;
        if let Some(p) = self.draft.as_mut() {
            match (parent_is_package, closing.as_str()) {
                (true, "name") => p.name = Some(x.take_text()),
                (true, "arch") => p.arch = Some(x.take_text()),
                (true, "checksum") => {
                    if let Some(c) = p.checksum.as_mut() {
                        c.hex = checksum_text(x, c.algorithm)?;
                    }
                }
                (false, "file") if x.path.len() == 4 => {
                    let path = x.take_text();
                    check_file_path(&path).map_err(|m| x.error(m))?;
                    if let Some(f) = p.files.last_mut() {
                        f.path = path;
                    }
                }
                _ => {}
            }
        }
        if x.path.len() == 2 && closing.starts_with("package[") {
            if let Some(p) = self.draft.take() {
                let package = finish_package(x, p)?;
                self.packages.push(package);
            }
        }
        Ok(())
    }
}

/// An element opened inside a `<package>` of primary.xml.
fn primary_element<R: BufRead>(
    x: &mut XmlStream<R>,
    p: &mut PackageDraft,
    parent: Option<&str>,
    name: &str,
    attrs: &[(String, String)],
) -> Result<()> {
    let in_package = parent.is_some_and(|s| s.starts_with("package["));
    let once = |x: &XmlStream<R>, seen: bool| {
        if seen {
            Err(x.error("given twice"))
        } else {
            Ok(())
        }
    };
    match (in_package, parent, name) {
        (true, _, "name") => {
            once(x, p.name.is_some())?;
            x.keep_text();
        }
        (true, _, "arch") => {
            once(x, p.arch.is_some())?;
            x.keep_text();
        }
        (true, _, "version") => {
            once(x, p.evr.is_some())?;
            p.evr = Some(version_attrs(attrs).map_err(|m| x.error(m))?);
        }
        (true, _, "checksum") => {
            once(x, p.checksum.is_some())?;
            let kind = attr(attrs, "type").ok_or_else(|| x.error("no type attribute"))?;
            let algorithm = ChecksumAlgorithm::from_name(kind)
                .ok_or_else(|| x.error(format!("checksum type {kind:?} is not supported")))?;
            // The text arrives later; the algorithm is kept meanwhile.
            p.checksum = Some(Checksum {
                algorithm,
                hex: String::new(),
            });
            x.keep_text();
        }
        (true, _, "location") => {
            once(x, p.location.is_some())?;
            if let Some(base) = attr(attrs, "xml:base") {
                return Err(x.error(format!(
                    "packages stored elsewhere (xml:base={base:?}) are not supported; only local repositories are read"
                )));
            }
            let href = attr(attrs, "href").ok_or_else(|| x.error("no href attribute"))?;
            check_location(href).map_err(|m| x.error(m))?;
            p.location = Some(href.to_string());
        }
        (false, Some("format"), "file") => {
            let kind = file_kind(attrs).map_err(|m| x.error(m))?;
            p.files.push(PackageFile {
                path: String::new(),
                kind,
            });
            x.keep_text();
        }
        (false, Some(list), "rpm:entry") => {
            if let Some(deps) = dep_list(p, list) {
                let dep = entry_attrs(attrs).map_err(|m| x.error(m))?;
                deps.push(dep);
            }
        }
        _ => {}
    }
    Ok(())
}

fn finish_package<R: BufRead>(x: &XmlStream<R>, p: PackageDraft) -> Result<Package> {
    let missing = |what: &str| x.error(format!("no <{what}>"));
    let name = p.name.ok_or_else(|| missing("name"))?;
    if name.is_empty() {
        return Err(x.error("empty <name>"));
    }
    let arch = p.arch.ok_or_else(|| missing("arch"))?;
    let (epoch, version, release) = p.evr.ok_or_else(|| missing("version"))?;
    let checksum = p.checksum.ok_or_else(|| missing("checksum"))?;
    let location = p.location.ok_or_else(|| missing("location"))?;
    let d = p.deps;
    Ok(Package {
        name,
        epoch,
        version,
        release,
        arch,
        location,
        checksum,
        provides: d.provides,
        requires: d.requires,
        conflicts: d.conflicts,
        obsoletes: d.obsoletes,
        recommends: d.recommends,
        suggests: d.suggests,
        supplements: d.supplements,
        enhances: d.enhances,
        files: p.files,
    })
}

/// Reads `filelists.xml` (already decompressed) into `packages`: each
/// `<package pkgid=…>` must be one of them (same checksum, name, arch,
/// version), and its file list replaces the partial one primary.xml gave.
pub fn parse_filelists(input: impl BufRead, file: &Path, packages: &mut [Package]) -> Result<()> {
    let mut x = XmlStream::new(input, file);
    read_filelists(&mut x, packages)
}

fn read_filelists<R: BufRead>(x: &mut XmlStream<R>, packages: &mut [Package]) -> Result<()> {
    // pkgid → the packages with it, in order (a package may be listed twice).
    let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, p) in packages.iter().enumerate().rev() {
        by_id.entry(p.checksum.hex.clone()).or_default().push(i);
    }
    let mut lists = Filelists {
        done: vec![false; packages.len()],
        packages,
        by_id,
        current: None,
    };
    read_document(x, &mut lists)?;
    if let Some(i) = lists.done.iter().position(|d| !d) {
        return Err(error::metadata(
            &x.file,
            "/filelists",
            None,
            format!("has no file list for {}", lists.packages[i].nevra()),
        ));
    }
    Ok(())
}

/// filelists.xml as read so far, into primary.xml's packages.
struct Filelists<'p> {
    packages: &'p mut [Package],
    /// pkgid → the packages with it not listed yet, the first last.
    by_id: HashMap<String, Vec<usize>>,
    /// Which packages have their file list.
    done: Vec<bool>,
    /// The package being read, and its files so far.
    current: Option<(usize, Vec<PackageFile>)>,
}

impl Document for Filelists<'_> {
    const ROOT: &'static str = "filelists";
    const COUNTED: Option<&'static str> = Some("package");

    fn open<R: BufRead>(
        &mut self,
        x: &mut XmlStream<R>,
        depth: usize,
        name: &str,
        attrs: &[(String, String)],
    ) -> Result<()> {
        match (depth, name) {
            (1, "package") => {
                let id = attr(attrs, "pkgid")
                    .ok_or_else(|| x.error("no pkgid attribute"))?
                    .to_ascii_lowercase();
                let index = self.by_id.get_mut(&id).and_then(Vec::pop).ok_or_else(|| {
                    x.error(format!(
                        "pkgid {id} is not a package of primary.xml (or is listed twice)"
                    ))
                })?;
                let p = &self.packages[index];
                let (n, a) = (attr(attrs, "name"), attr(attrs, "arch"));
                if n.is_some_and(|n| n != p.name) || a.is_some_and(|a| a != p.arch) {
                    return Err(x.error(format!(
                        "pkgid {id} is {} in primary.xml, not {}.{}",
                        p.nevra(),
                        n.unwrap_or("?"),
                        a.unwrap_or("?")
                    )));
                }
                self.current = Some((index, Vec::new()));
            }
            (2, "version") => {
                if let Some((i, _)) = &self.current {
                    let (e, v, r) = version_attrs(attrs).map_err(|m| x.error(m))?;
                    let p = &self.packages[*i];
                    if (e, v.as_str(), r.as_str())
                        != (p.epoch, p.version.as_str(), p.release.as_str())
                    {
                        return Err(x.error(format!(
                            "version {e}:{v}-{r} differs from primary.xml's {}",
                            p.nevra()
                        )));
                    }
                }
            }
            (2, "file") => {
                if let Some((_, files)) = self.current.as_mut() {
                    let kind = file_kind(attrs).map_err(|m| x.error(m))?;
                    files.push(PackageFile {
                        path: String::new(),
                        kind,
                    });
                    x.keep_text();
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn close<R: BufRead>(&mut self, x: &mut XmlStream<R>) -> Result<()> {
        let closing = x.path.last().cloned().unwrap_or_default();
        if x.path.len() == 3 && closing == "file" {
            let path = x.take_text();
            check_file_path(&path).map_err(|m| x.error(m))?;
            if let Some(f) = self.current.as_mut().and_then(|(_, f)| f.last_mut()) {
                f.path = path;
            }
        }
        if x.path.len() == 2 && closing.starts_with("package[") {
            if let Some((i, files)) = self.current.take() {
                self.packages[i].files = files;
                self.done[i] = true;
            }
        }
        Ok(())
    }
}

/// One `<data>` of repomd.xml.
#[derive(Default, Debug)]
struct DataRecord {
    checksum: Option<Checksum>,
    open_checksum: Option<Checksum>,
    location: Option<String>,
    size: Option<u64>,
    open_size: Option<u64>,
}

/// Reads repomd.xml's `<data>` records of the types wanted.
fn read_repomd<R: BufRead>(x: &mut XmlStream<R>) -> Result<HashMap<String, DataRecord>> {
    let mut repomd = Repomd::default();
    read_document(x, &mut repomd)?;
    Ok(repomd.records)
}

/// repomd.xml as read so far.
#[derive(Default)]
struct Repomd {
    records: HashMap<String, DataRecord>,
    /// The `<data>` being read, by type.
    current: Option<(String, DataRecord)>,
    /// The checksum being read: whether it is the open-checksum, and its
    /// algorithm.
    pending_checksum: Option<(bool, ChecksumAlgorithm)>,
}

impl Document for Repomd {
    const ROOT: &'static str = "repomd";

    fn label(name: &str, attrs: &[(String, String)]) -> String {
        match attr(attrs, "type") {
            Some(t) if name == "data" => format!("data[type={t}]"),
            _ => name.to_string(),
        }
    }

    fn open<R: BufRead>(
        &mut self,
        x: &mut XmlStream<R>,
        depth: usize,
        name: &str,
        attrs: &[(String, String)],
    ) -> Result<()> {
        match (depth, name) {
            (1, "data") => {
                let t = attr(attrs, "type").ok_or_else(|| x.error("no type attribute"))?;
                if self.records.contains_key(t) || self.current.as_ref().is_some_and(|c| c.0 == t) {
                    return Err(x.error(format!("a second <data type={t:?}>")));
                }
                self.current = Some((t.to_string(), DataRecord::default()));
            }
            (2, "checksum" | "open-checksum") if self.current.is_some() => {
                let kind = attr(attrs, "type").ok_or_else(|| x.error("no type attribute"))?;
                let algorithm = ChecksumAlgorithm::from_name(kind)
                    .ok_or_else(|| x.error(format!("checksum type {kind:?} is not supported")))?;
                self.pending_checksum = Some((name == "open-checksum", algorithm));
                x.keep_text();
            }
            (2, "location") => {
                if let Some((_, r)) = self.current.as_mut() {
                    if let Some(base) = attr(attrs, "xml:base") {
                        return Err(x.error(format!(
                            "metadata stored elsewhere (xml:base={base:?}) is not supported"
                        )));
                    }
                    let href = attr(attrs, "href").ok_or_else(|| x.error("no href attribute"))?;
                    check_location(href).map_err(|m| x.error(m))?;
                    r.location = Some(href.to_string());
                }
            }
            (2, "size" | "open-size") if self.current.is_some() => x.keep_text(),
            _ => {}
        }
        Ok(())
    }

    fn close<R: BufRead>(&mut self, x: &mut XmlStream<R>) -> Result<()> {
        let closing = x.path.last().cloned().unwrap_or_default();
        if x.path.len() == 3 {
            if let Some((_, r)) = self.current.as_mut() {
                match closing.as_str() {
                    "checksum" | "open-checksum" => {
                        if let Some((open, algorithm)) = self.pending_checksum.take() {
                            let hex = checksum_text(x, algorithm)?;
                            let c = Some(Checksum { algorithm, hex });
                            if open {
                                r.open_checksum = c;
                            } else {
                                r.checksum = c;
                            }
                        }
                    }
                    "size" | "open-size" => {
                        let text = x.take_text();
                        let n: u64 = text
                            .trim()
                            .parse()
                            .map_err(|_| x.error(format!("{text:?} is not a size")))?;
                        if closing == "size" {
                            r.size = Some(n);
                        } else {
                            r.open_size = Some(n);
                        }
                    }
                    _ => {}
                }
            }
        }
        if x.path.len() == 2 && closing.starts_with("data[") {
            if let Some((t, r)) = self.current.take() {
                self.records.insert(t, r);
            }
        }
        Ok(())
    }
}

/// Reads a repository's `repodata/`.
pub(crate) fn read_repodata(dir: &Path) -> Result<Repository> {
    let repomd_path = dir.join("repodata").join("repomd.xml");
    let f = std::fs::File::open(&repomd_path).map_err(|e| Error::file(&repomd_path, e))?;
    let len = f
        .metadata()
        .map_err(|e| Error::file(&repomd_path, e))?
        .len();
    if len > MAX_REPOMD {
        return Err(error::metadata(
            &repomd_path,
            "",
            None,
            format!("{len} bytes; a repomd.xml is at most {MAX_REPOMD}"),
        ));
    }
    let mut text = Vec::new();
    f.take(MAX_REPOMD)
        .read_to_end(&mut text)
        .map_err(|e| Error::file(&repomd_path, e))?;
    let mut x = XmlStream::new(&text[..], &repomd_path);
    let mut records = read_repomd(&mut x)?;

    let primary = records.remove("primary").ok_or_else(|| {
        error::metadata(
            &repomd_path,
            "/repomd",
            None,
            "no <data type=\"primary\">: not rpm-md repository metadata",
        )
    })?;
    let mut packages = read_data(dir, &repomd_path, "primary", &primary, |input, file| {
        read_primary(&mut XmlStream::new(input, file))
    })?;
    let files_complete = match records.remove("filelists") {
        Some(r) => {
            read_data(dir, &repomd_path, "filelists", &r, |input, file| {
                read_filelists(&mut XmlStream::new(input, file), &mut packages)
            })?;
            true
        }
        None => false,
    };
    Ok(Repository {
        root: dir.to_path_buf(),
        packages,
        files_complete,
    })
}

type Input = Checked<Box<dyn BufRead>>;

/// Checks one metadata file against its `<data>` record, then reads it with `read`.
fn read_data<T>(
    dir: &Path,
    repomd: &Path,
    kind: &str,
    record: &DataRecord,
    read: impl FnOnce(&mut Input, &Path) -> Result<T>,
) -> Result<T> {
    let element = format!("/repomd/data[type={kind}]");
    let missing = |what: &str| error::metadata(repomd, &element, None, format!("no <{what}>"));
    let href = record
        .location
        .as_deref()
        .ok_or_else(|| missing("location"))?;
    let checksum = record
        .checksum
        .as_ref()
        .ok_or_else(|| missing("checksum"))?;
    let path = dir.join(href);
    let (actual, len) = compress::file_checksum(&path, checksum.algorithm)?;
    if actual != checksum.hex {
        return Err(error::mismatch(
            &path,
            format_args!("file {} checksum", checksum.algorithm.name()),
            "repomd.xml",
            checksum.hex.clone(),
            actual,
        ));
    }
    if let Some(size) = record.size.filter(|s| *s != len) {
        return Err(error::metadata(
            &path,
            "",
            None,
            format!("{len} bytes; repomd.xml records {size}"),
        ));
    }
    let open = compress::open_decompressed(&path)?;
    let limit = record.open_size.unwrap_or(MAX_METADATA);
    let hasher = record
        .open_checksum
        .as_ref()
        .map(|c| Hasher::new(c.algorithm));
    let mut input = Checked::new(open, hasher, limit);
    let value = read(&mut input, &path)?;
    let (open_hex, open_len) = input.finish().map_err(|e| {
        error::metadata(
            &path,
            "",
            None,
            format!("cannot read (decompress) the file: {e}"),
        )
    })?;
    if let Some(size) = record.open_size.filter(|s| *s != open_len) {
        return Err(error::metadata(
            &path,
            "",
            None,
            format!("{open_len} bytes decompressed; repomd.xml records an open-size of {size}"),
        ));
    }
    if let (Some(c), Some(actual)) = (&record.open_checksum, open_hex) {
        if actual != c.hex {
            return Err(error::mismatch(
                &path,
                format_args!("decompressed {} checksum", c.algorithm.name()),
                "repomd.xml",
                c.hex.clone(),
                actual,
            ));
        }
    }
    Ok(value)
}
