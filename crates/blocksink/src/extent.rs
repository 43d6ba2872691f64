/// A byte range of a virtual disk: `len` bytes starting at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Extent {
    /// First byte of the range.
    pub offset: u64,
    /// Number of bytes in the range.
    pub len: u64,
}

impl Extent {
    /// A range of `len` bytes at `offset`.
    pub const fn new(offset: u64, len: u64) -> Self {
        Extent { offset, len }
    }

    /// One past the last byte of the range.
    pub const fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// Sorts `extents`, drops empty ones and merges those that overlap or touch,
/// giving the ascending, non-overlapping list a plan must be.
pub fn merge_extents(mut extents: Vec<Extent>) -> Vec<Extent> {
    extents.retain(|e| e.len > 0);
    extents.sort_unstable();
    let mut out: Vec<Extent> = Vec::with_capacity(extents.len());
    for e in extents {
        match out.last_mut() {
            Some(last) if e.offset <= last.end() => {
                let end = last.end().max(e.end());
                last.len = end - last.offset;
            }
            _ => out.push(e),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_touching_and_overlapping() {
        let merged = merge_extents(vec![
            Extent::new(10, 5),
            Extent::new(0, 10),
            Extent::new(30, 0),
            Extent::new(12, 10),
            Extent::new(40, 1),
        ]);
        assert_eq!(merged, vec![Extent::new(0, 22), Extent::new(40, 1)]);
    }
}
