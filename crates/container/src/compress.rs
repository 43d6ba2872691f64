//! The compressions a layer or a rootfs archive is written with, and one
//! encoder over them.

use std::io::{self, Write};

use crate::gzip::ParallelGzip;

/// How a tar stream is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Not at all.
    None,
    /// gzip, deflated on every core; `level` 1–9.
    Gzip {
        /// Deflate level (gzip's default is 6).
        level: u32,
    },
    /// zstd on every core; `level` 1–19.
    Zstd {
        /// zstd level (the zstd tool's default is 3).
        level: i32,
    },
}

impl Default for Compression {
    /// gzip at level 6, what registries and `docker push` use.
    fn default() -> Self {
        Compression::GZIP
    }
}

impl Compression {
    /// gzip at its default level.
    pub const GZIP: Compression = Compression::Gzip { level: 6 };
    /// zstd at its default level.
    pub const ZSTD: Compression = Compression::Zstd { level: 3 };

    /// Parses `gzip`, `zstd` or `none`, with a level as `gzip:9` (gzip
    /// 1–9, zstd 1–19).
    pub fn parse(text: &str) -> Result<Compression, String> {
        let (name, level) = match text.split_once(':') {
            Some((n, l)) => (
                n,
                Some(
                    l.parse::<i32>()
                        .map_err(|_| format!("{l:?} is not a compression level"))?,
                ),
            ),
            None => (text, None),
        };
        match (name, level) {
            ("none", None) => Ok(Compression::None),
            ("gzip", None) => Ok(Compression::GZIP),
            ("gzip", Some(l @ 1..=9)) => Ok(Compression::Gzip { level: l as u32 }),
            ("zstd", None) => Ok(Compression::ZSTD),
            ("zstd", Some(l @ 1..=19)) => Ok(Compression::Zstd { level: l }),
            ("gzip", Some(l)) => Err(format!("gzip levels are 1 to 9, not {l}")),
            ("zstd", Some(l)) => Err(format!("zstd levels are 1 to 19, not {l}")),
            _ => Err("expected gzip, zstd or none, with an optional :LEVEL".into()),
        }
    }

    /// The OCI media type of a layer so compressed.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Zstd { .. } => "application/vnd.oci.image.layer.v1.tar+zstd",
            Compression::Gzip { .. } => "application/vnd.oci.image.layer.v1.tar+gzip",
        }
    }

    /// The compression a file name asks for by its suffix (`.gz`, `.tgz`,
    /// `.zst`, `.tzst`; anything else is none).
    pub fn from_file_name(name: &str) -> Compression {
        if name.ends_with(".gz") || name.ends_with(".tgz") {
            Compression::GZIP
        } else if name.ends_with(".zst") || name.ends_with(".tzst") {
            Compression::ZSTD
        } else {
            Compression::None
        }
    }

    /// An encoder writing the compressed stream into `out`.
    pub fn encoder<W: Write>(self, out: W) -> io::Result<Encoder<W>> {
        Ok(match self {
            Compression::None => Encoder::Plain(out),
            Compression::Gzip { level } => Encoder::Gzip(ParallelGzip::new(out, level)),
            Compression::Zstd { level } => {
                let mut z = zstd::stream::write::Encoder::new(out, level)?;
                // zstd's output is the same for any number of workers ≥ 1.
                let workers = rayon::current_num_threads().max(1) as u32;
                z.multithread(workers)?;
                Encoder::Zstd(z)
            }
        })
    }
}

/// A compressing writer; [`finish`](Self::finish) ends the stream.
pub enum Encoder<W: Write> {
    /// Bytes as they are.
    Plain(W),
    /// gzip.
    Gzip(ParallelGzip<W>),
    /// zstd.
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    /// Writes the end of the stream and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Plain(w) => Ok(w),
            Encoder::Gzip(g) => g.finish(),
            Encoder::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(g) => g.write(buf),
            Encoder::Zstd(z) => z.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.write_all(buf),
            Encoder::Gzip(g) => g.write_all(buf),
            Encoder::Zstd(z) => z.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(g) => g.flush(),
            Encoder::Zstd(z) => z.flush(),
        }
    }
}
