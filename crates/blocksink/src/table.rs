//! Tables of fixed-size entries kept in an image file (a BAT, a grain
//! directory) and read a piece at a time, so that memory stays bounded
//! whatever count a header claims.

use std::io;

use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::ReadAt;

/// A table of `E` entries (zerocopy byte-order types such as
/// `big_endian::U32`) at a file offset, read in pieces of a fixed number of
/// entries; the piece last read is kept.
#[derive(Debug)]
pub struct PagedTable<E> {
    offset: u64,
    entries: u64,
    piece_entries: u64,
    piece: Option<(u64, Vec<E>)>,
}

impl<E: FromBytes + Immutable + KnownLayout + Unaligned + Copy> PagedTable<E> {
    /// `entries` entries from file offset `offset`, read `piece_entries`
    /// (at least 1) at a time.
    pub fn new(offset: u64, entries: u64, piece_entries: u64) -> Self {
        PagedTable {
            offset,
            entries,
            piece_entries: piece_entries.max(1),
            piece: None,
        }
    }

    /// Where the table starts in the file.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many entries it has.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The entries from `first`, one piece of them (fewer at the end).
    pub fn read_piece<R: ReadAt + ?Sized>(&self, io: &R, first: u64) -> io::Result<Vec<E>> {
        let n = self.entries.saturating_sub(first).min(self.piece_entries);
        let size = std::mem::size_of::<E>() as u64;
        let mut raw = vec![0u8; (n * size) as usize];
        io.read_exact_at(&mut raw, self.offset + first * size)?;
        let entries = <[E]>::ref_from_bytes(&raw)
            .map_err(|_| io::Error::other("table piece of a whole number of entries"))?;
        Ok(entries.to_vec())
    }

    /// Entry `i`, or `None` past the table.
    pub fn get<R: ReadAt + ?Sized>(&mut self, io: &R, i: u64) -> io::Result<Option<E>> {
        if i >= self.entries {
            return Ok(None);
        }
        let first = i / self.piece_entries * self.piece_entries;
        if !matches!(&self.piece, Some((f, _)) if *f == first) {
            self.piece = Some((first, self.read_piece(io, first)?));
        }
        Ok(self
            .piece
            .as_ref()
            .and_then(|(_, v)| v.get((i - first) as usize).copied()))
    }

    /// Calls `f(index, entry)` for every entry, in order, a piece at a time.
    pub fn for_each<R: ReadAt + ?Sized, Err: From<io::Error>>(
        &self,
        io: &R,
        mut f: impl FnMut(u64, E) -> Result<(), Err>,
    ) -> Result<(), Err> {
        let mut first = 0;
        while first < self.entries {
            let piece = self.read_piece(io, first)?;
            for (k, e) in piece.into_iter().enumerate() {
                f(first + k as u64, e)?;
            }
            first += self.piece_entries;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::big_endian::U32;

    #[test]
    fn reads_entries_a_piece_at_a_time() {
        let mut file = vec![0xffu8; 10];
        for i in 0..100u32 {
            file.extend_from_slice(&i.to_be_bytes());
        }
        let mut t = PagedTable::<U32>::new(10, 100, 16);
        assert_eq!(t.get(&file, 0).unwrap().map(|e| e.get()), Some(0));
        assert_eq!(t.get(&file, 99).unwrap().map(|e| e.get()), Some(99));
        assert_eq!(t.get(&file, 100).unwrap(), None);
        let mut seen = Vec::new();
        t.for_each(&file, |i, e| {
            seen.push((i, e.get()));
            Ok::<(), io::Error>(())
        })
        .unwrap();
        assert_eq!(seen.len(), 100);
        assert!(seen.iter().all(|&(i, e)| u64::from(e) == i));
        // A table claiming more than the file holds fails on read, not on
        // allocation.
        let mut huge = PagedTable::<U32>::new(10, 1 << 40, 16);
        assert!(huge.get(&file, 1 << 39).is_err());
    }
}
