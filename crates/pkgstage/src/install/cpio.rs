//! The cpio archives rpm payloads are: "new ASCII" (`070701`), as rpm
//! writes packages whose files are all under 4 GiB. Read as a stream, each
//! header checked before anything it sizes is allocated.

use std::io::{self, Read};

/// Most bytes of a member name (with its NUL).
const MAX_NAME: u64 = 64 << 10;

/// One member's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    /// The name as stored (`./usr/bin/sh`).
    pub(crate) name: String,
    /// Mode with the file type bits.
    pub(crate) mode: u32,
    /// Inode number, for hard links.
    pub(crate) ino: u32,
    /// Link count.
    pub(crate) nlink: u32,
    /// Bytes of data that follow.
    pub(crate) size: u64,
    /// Device numbers of a device node.
    pub(crate) rdev: (u32, u32),
}

/// A cpio stream being read member by member.
pub(crate) struct Reader<R: Read> {
    inner: R,
    /// Bytes of the current member's data not read yet, and its padding.
    left: u64,
    pad: u64,
    /// Bytes read so far, for error offsets.
    at: u64,
}

fn bad(at: u64, why: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("payload cpio at byte {at}: {}", why.into()),
    )
}

impl<R: Read> Reader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Reader {
            inner,
            left: 0,
            pad: 0,
            at: 0,
        }
    }

    fn skip(&mut self, mut n: u64) -> io::Result<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            let got = self.inner.read(&mut buf[..want])?;
            if got == 0 {
                return Err(bad(self.at, "the payload ends inside a member"));
            }
            n -= got as u64;
            self.at += got as u64;
        }
        Ok(())
    }

    fn exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                bad(self.at, "the payload ends inside a header")
            } else {
                e
            }
        })?;
        self.at += buf.len() as u64;
        Ok(())
    }

    /// The next member (its data then read through [`Reader::data`]), or
    /// `None` at the trailer.
    pub(crate) fn next_member(&mut self) -> io::Result<Option<Member>> {
        let rest = self.left + self.pad;
        self.skip(rest)?;
        self.left = 0;
        self.pad = 0;
        let start = self.at;
        let mut h = [0u8; 110];
        self.exact(&mut h)?;
        if &h[..6] != b"070701" && &h[..6] != b"070702" {
            return Err(bad(
                start,
                format!(
                    "magic {:?} is not new ASCII cpio (070701)",
                    String::from_utf8_lossy(&h[..6])
                ),
            ));
        }
        let field = |i: usize| -> io::Result<u32> {
            let text = std::str::from_utf8(&h[6 + i * 8..14 + i * 8])
                .map_err(|_| bad(start, format!("header field {i} is not hexadecimal")))?;
            u32::from_str_radix(text, 16).map_err(|_| {
                bad(
                    start,
                    format!("header field {i} {text:?} is not hexadecimal"),
                )
            })
        };
        let (ino, mode, nlink) = (field(0)?, field(1)?, field(4)?);
        let size = u64::from(field(6)?);
        let rdev = (field(9)?, field(10)?);
        let namesize = u64::from(field(11)?);
        if namesize == 0 || namesize > MAX_NAME {
            return Err(bad(start, format!("a name of {namesize} bytes")));
        }
        let mut name = vec![0u8; namesize as usize];
        self.exact(&mut name)?;
        if name.pop() != Some(0) {
            return Err(bad(start, "the name is not NUL-terminated"));
        }
        let name = String::from_utf8(name).map_err(|_| bad(start, "the name is not UTF-8"))?;
        // Header and name are padded to four bytes, and so is the data.
        self.skip((4 - (110 + namesize) % 4) % 4)?;
        if name == "TRAILER!!!" {
            return Ok(None);
        }
        self.left = size;
        self.pad = (4 - size % 4) % 4;
        Ok(Some(Member {
            name,
            mode,
            ino,
            nlink,
            size,
            rdev,
        }))
    }

    /// The current member's data, exactly its size.
    pub(crate) fn data(&mut self) -> Data<'_, R> {
        Data { r: self }
    }
}

/// A member's data.
pub(crate) struct Data<'a, R: Read> {
    r: &'a mut Reader<R>,
}

impl<R: Read> Read for Data<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.r.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.r.left).unwrap_or(usize::MAX));
        let n = self.r.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(bad(self.r.at, "the payload ends inside a member's data"));
        }
        self.r.left -= n as u64;
        self.r.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, mode: u32, ino: u32, nlink: u32, data: &[u8]) -> Vec<u8> {
        let mut h = format!(
            "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            0,
            0,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        )
        .into_bytes();
        h.extend_from_slice(name.as_bytes());
        h.push(0);
        while h.len() % 4 != 0 {
            h.push(0);
        }
        h.extend_from_slice(data);
        while h.len() % 4 != 0 {
            h.push(0);
        }
        h
    }

    #[test]
    fn members_and_their_data() {
        let mut a = member("./etc/a", 0o100644, 1, 1, b"hello");
        a.extend(member("./etc", 0o40755, 2, 2, b""));
        a.extend(member("TRAILER!!!", 0, 0, 1, b""));
        let mut r = Reader::new(&a[..]);
        let m = r
            .next_member()
            .unwrap_or_default()
            .unwrap_or_else(|| panic!("none"));
        assert_eq!((m.name.as_str(), m.size, m.mode), ("./etc/a", 5, 0o100644));
        let mut d = String::new();
        r.data().read_to_string(&mut d).unwrap_or_default();
        assert_eq!(d, "hello");
        let m = r
            .next_member()
            .unwrap_or_default()
            .unwrap_or_else(|| panic!("none"));
        assert_eq!(m.name, "./etc");
        assert!(r.next_member().unwrap_or_default().is_none());

        // Cut inside the data: an error, not a short file.
        let cut = &a[..120];
        let mut r = Reader::new(cut);
        let _ = r.next_member();
        let mut d = Vec::new();
        assert!(r.data().read_to_end(&mut d).is_err());
        // A name size beyond reason is refused before it is read.
        let mut huge = member("x", 0o100644, 1, 1, b"");
        huge[94..102].copy_from_slice(b"7fffffff");
        assert!(Reader::new(&huge[..]).next_member().is_err());
    }
}
