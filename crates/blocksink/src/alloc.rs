//! Where a format's data blocks go in its file: the one allocator behind
//! every sparse writer (a VHD's or VHDX's BAT, qcow2's L2 tables, a VMDK's
//! grain tables).
//!
//! A block is placed on its first write at the next free file offset, or,
//! for a writer that must lay its tables out before the data (a stream),
//! every block of the plan is placed up front in plan order and data
//! outside the plan is refused. The map is kept as runs of blocks that lie
//! one after another in the file, so memory grows with the number of runs,
//! never with the virtual size.

use crate::{Error, Extent, Format, Result};

/// How a format lays its data blocks out in its file: the allocator's
/// parameters. Counts derive from `disk_size`, which the writer has
/// validated against the format's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLayout {
    /// The format, named in errors.
    pub format: Format,
    /// The table that records block offsets (`"BAT"`, `"L2 table"`),
    /// the field errors name.
    pub table: &'static str,
    /// Disk bytes per block, a power of two.
    pub block_size: u64,
    /// The virtual size the blocks cover.
    pub disk_size: u64,
    /// Blocks go at or after this file offset (past headers and tables).
    pub first: u64,
    /// File bytes each block takes (a VHD block's sector bitmap and data),
    /// a multiple of `align`.
    pub slot: u64,
    /// Blocks start at file offsets that are multiples of this power of two.
    pub align: u64,
    /// No block starts past this file offset: the last a table entry can
    /// address.
    pub max_offset: u64,
}

impl BlockLayout {
    /// Blocks of `block_size` disk bytes covering a disk of `disk_size`
    /// bytes, recorded in `table` of `format`; by default from file offset
    /// 0, each taking `block_size` bytes, unaligned, anywhere in a 64-bit
    /// file. Set the other fields with struct update syntax.
    pub fn new(format: Format, table: &'static str, block_size: u64, disk_size: u64) -> Self {
        BlockLayout {
            format,
            table,
            block_size,
            disk_size,
            first: 0,
            slot: block_size,
            align: 1,
            max_offset: u64::MAX,
        }
    }
    /// How many blocks the disk has.
    pub fn blocks(&self) -> u64 {
        self.disk_size.div_ceil(self.block_size)
    }
    /// The blocks that `plan` (ascending disk ranges) touches, as ascending,
    /// merged runs of block numbers.
    pub fn plan_blocks(&self, plan: &[Extent]) -> Vec<Extent> {
        let bs = self.block_size;
        let mut out: Vec<Extent> = Vec::with_capacity(plan.len());
        for e in plan.iter().filter(|e| e.len > 0) {
            let (first, end) = (e.offset / bs, e.end().div_ceil(bs));
            match out.last_mut() {
                Some(last) if first <= last.end() => {
                    last.len = last.end().max(end) - last.offset;
                }
                _ => out.push(Extent::new(first, end - first)),
            }
        }
        out
    }
}

/// Blocks `block..block + count` at `at`, each `slot` bytes after the last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    block: u64,
    count: u64,
    at: u64,
    slot: u64,
}

impl Run {
    fn end(&self) -> u64 {
        self.block + self.count
    }
}

/// Which blocks may be placed, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Admit {
    /// Any block, on its first write.
    Any,
    /// Blocks of the plan (runs of block numbers), on their first write.
    Within(Vec<Extent>),
    /// None any more: the plan's blocks were placed up front.
    Placed,
}

/// Places the data blocks of one image being written; see the
/// [module docs](self). Writes ascend, so the lookups that follow them
/// cost nothing; any order is correct.
#[derive(Clone, Debug)]
pub struct BlockAllocator {
    layout: BlockLayout,
    blocks: u64,
    /// End of what is allocated: the next free file offset before alignment.
    next: u64,
    /// Placed blocks, ascending by block number.
    runs: Vec<Run>,
    admit: Admit,
}

impl BlockAllocator {
    /// An allocator for `layout`, placing blocks as data first reaches them.
    pub fn new(layout: BlockLayout) -> Result<Self> {
        let l = &layout;
        if !l.block_size.is_power_of_two()
            || !l.align.is_power_of_two()
            || l.slot == 0
            || l.slot % l.align != 0
        {
            return Err(Error::out_of_range(
                l.format.name(),
                format!(
                    "block layout: block size {} and alignment {} must be powers of two, and the slot of {} bytes a multiple of the alignment",
                    l.block_size, l.align, l.slot
                ),
            )
            .field(l.table));
        }
        Ok(BlockAllocator {
            blocks: layout.blocks(),
            next: layout.first,
            runs: Vec::new(),
            admit: Admit::Any,
            layout,
        })
    }

    /// The layout it places blocks by.
    pub fn layout(&self) -> &BlockLayout {
        &self.layout
    }

    /// The end of what is allocated: where the file's allocated part ends.
    pub fn end(&self) -> u64 {
        self.next
    }

    /// How many blocks are placed.
    pub fn allocated(&self) -> u64 {
        self.runs.iter().map(|r| r.count).sum()
    }

    /// Refuses, from now on, blocks that `plan` does not touch; they are
    /// still placed on their first write. For writers that go forward only
    /// and allocate as data comes (compressed grains).
    pub fn restrict_to(&mut self, plan: &[Extent]) {
        self.admit = Admit::Within(self.layout.plan_blocks(plan));
    }

    /// Places every block that `plan` touches now, in plan order, and
    /// refuses any other block from now on: a writer that goes forward
    /// only can then write its tables before the data.
    pub fn preallocate(&mut self, plan: &[Extent]) -> Result<()> {
        self.admit = Admit::Any;
        for run in self.layout.plan_blocks(plan) {
            self.check_block(run.end() - 1)?;
            let mut b = run.offset;
            while b < run.end() {
                // The blocks from `b` not placed yet, as one run up to the
                // next placed one.
                let next = self.runs.get(self.run_at(b)).map_or(u64::MAX, |r| r.block);
                if next <= b {
                    b = self.runs[self.run_at(b)].end();
                    continue;
                }
                let end = next.min(run.end());
                self.place(b, end - b, self.layout.slot)?;
                b = end;
            }
        }
        self.admit = Admit::Placed;
        Ok(())
    }

    /// The file offset of `block`, if it is placed.
    pub fn offset_of(&self, block: u64) -> Option<u64> {
        let r = match self.runs.last() {
            Some(r) if r.block <= block => r,
            _ => self.runs.get(self.run_at(block))?,
        };
        (r.block <= block && block < r.end()).then(|| r.at + (block - r.block) * r.slot)
    }

    /// Whether `block` may still be placed: refused past the disk and
    /// outside the plan, as [`allocate`](Self::allocate) would refuse it.
    /// For a writer that learns where a block goes only later (after
    /// compressing it) and should refuse it when it arrives.
    pub fn check(&self, block: u64) -> Result<()> {
        match self.offset_of(block) {
            Some(_) => Ok(()),
            None => self.admit(block),
        }
    }

    /// Where `block` is in the file: placed on its first call at the next
    /// free (aligned) offset, the same offset on later calls.
    pub fn allocate(&mut self, block: u64) -> Result<u64> {
        if let Some(at) = self.offset_of(block) {
            return Ok(at);
        }
        self.admit(block)?;
        self.place(block, 1, self.layout.slot)
    }

    /// Places `block` as a record of `len` bytes (a compressed block) at
    /// the next free aligned offset; a block placed already is refused.
    pub fn allocate_record(&mut self, block: u64, len: u64) -> Result<u64> {
        if self.offset_of(block).is_some() {
            return Err(self
                .out_of_range(format!("block {block} was written already"))
                .at(block * self.layout.block_size));
        }
        self.admit(block)?;
        self.place(block, 1, len)
    }

    /// Reserves `len` bytes that are not a data block (a table, a marker)
    /// at the next free offset aligned to `align` (a power of two).
    pub fn reserve(&mut self, len: u64, align: u64) -> Result<u64> {
        let at = self.next.next_multiple_of(align.max(1));
        self.next = self.checked_end(at, len)?;
        Ok(at)
    }

    /// Indices of the tables of `per_table` blocks each that record at
    /// least one placed block, ascending.
    pub fn touched_tables(&self, per_table: u64) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        for r in &self.runs {
            for t in r.block / per_table..=(r.end() - 1) / per_table {
                if out.last() != Some(&t) {
                    out.push(t);
                }
            }
        }
        out
    }

    /// The table entries of blocks `first..first + count`: `encode(offset)`
    /// of each, `None` for a block not placed. The format's table says how
    /// an offset is written (sectors, flags, byte order).
    pub fn table<E>(&self, first: u64, count: u64, encode: impl Fn(Option<u64>) -> E) -> Vec<E> {
        let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        let mut i = self.run_at(first);
        for b in first..first.saturating_add(count) {
            while self.runs.get(i).is_some_and(|r| r.end() <= b) {
                i += 1;
            }
            let at = self
                .runs
                .get(i)
                .filter(|r| r.block <= b)
                .map(|r| r.at + (b - r.block) * r.slot);
            out.push(encode(at));
        }
        out
    }

    /// Forgets the blocks before `block`, whose table a forward-only writer
    /// has written: memory then stays bounded by one table's runs.
    pub fn forget_before(&mut self, block: u64) {
        let keep = self.runs.partition_point(|r| r.end() <= block);
        self.runs.drain(..keep);
    }

    /// Index of the first run that does not end at or before `block`.
    fn run_at(&self, block: u64) -> usize {
        self.runs.partition_point(|r| r.end() <= block)
    }

    fn out_of_range(&self, message: String) -> Error {
        Error::out_of_range(self.layout.format.name(), message)
    }

    fn check_block(&self, block: u64) -> Result<()> {
        if block >= self.blocks {
            return Err(self
                .out_of_range(format!(
                    "block {block} is past the end of the disk ({} blocks)",
                    self.blocks
                ))
                .field(self.layout.table)
                .at(block.saturating_mul(self.layout.block_size)));
        }
        Ok(())
    }

    fn admit(&self, block: u64) -> Result<()> {
        self.check_block(block)?;
        let inside = match &self.admit {
            Admit::Any => true,
            Admit::Within(plan) => {
                let i = plan.partition_point(|e| e.end() <= block);
                plan.get(i).is_some_and(|e| e.offset <= block)
            }
            Admit::Placed => false,
        };
        if inside {
            return Ok(());
        }
        let at = block * self.layout.block_size;
        Err(self
            .out_of_range(format!(
                "data for block {block} (disk offset {at}) arrived outside the plan given before the data"
            ))
            .field("plan")
            .at(at))
    }

    /// `at + len`, refused past what the table can address.
    fn checked_end(&self, at: u64, len: u64) -> Result<u64> {
        let end = at.checked_add(len);
        match end {
            Some(end) if at <= self.layout.max_offset => Ok(end),
            _ => Err(self
                .out_of_range(format!(
                    "the file would grow past offset {}, the last a {} entry can address",
                    self.layout.max_offset, self.layout.table
                ))
                .field(self.layout.table)
                .at(at)),
        }
    }

    /// Places `count` blocks from `block` (none placed yet), each `slot`
    /// bytes, at the next free aligned offset.
    fn place(&mut self, block: u64, count: u64, slot: u64) -> Result<u64> {
        let at = self.next.next_multiple_of(self.layout.align);
        let last = (count - 1)
            .checked_mul(slot)
            .and_then(|d| at.checked_add(d))
            .unwrap_or(u64::MAX);
        self.checked_end(last, slot)?;
        self.next = at + count * slot;
        let i = self.run_at(block);
        let run = Run {
            block,
            count,
            at,
            slot,
        };
        match i.checked_sub(1).and_then(|p| self.runs.get_mut(p)) {
            Some(prev)
                if prev.end() == block
                    && prev.slot == slot
                    && prev.at + prev.count * slot == at =>
            {
                prev.count += count;
            }
            _ => self.runs.insert(i, run),
        }
        Ok(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use proptest::prelude::*;

    const F: Format = Format::new("test");

    fn layout() -> BlockLayout {
        // 16 blocks of 8 bytes, each taking 10 file bytes (a 2-byte bitmap),
        // 2-aligned, from offset 100.
        BlockLayout {
            first: 100,
            slot: 10,
            align: 2,
            ..BlockLayout::new(F, "BAT", 8, 128)
        }
    }

    #[test]
    fn places_on_first_write_and_finds_it_again() {
        let mut a = BlockAllocator::new(layout()).unwrap();
        assert_eq!(a.allocate(3).unwrap(), 100);
        assert_eq!(a.allocate(5).unwrap(), 110);
        assert_eq!(a.allocate(3).unwrap(), 100);
        assert_eq!(a.allocate(6).unwrap(), 120);
        assert_eq!(a.offset_of(4), None);
        assert_eq!(a.end(), 130);
        assert_eq!(a.allocated(), 3);
        let t = a.table(2, 6, |o| o.map_or(-1, |o| o as i64));
        assert_eq!(t, vec![-1, 100, -1, 110, 120, -1]);
        assert_eq!(a.touched_tables(4), vec![0, 1]);
        // Out of order still finds its place.
        assert_eq!(a.allocate(0).unwrap(), 130);
        assert_eq!(a.offset_of(0), Some(130));
        assert_eq!(a.offset_of(5), Some(110));
    }

    #[test]
    fn metadata_and_records_share_the_file_end() {
        let mut a = BlockAllocator::new(layout()).unwrap();
        assert_eq!(a.reserve(3, 1).unwrap(), 100);
        // Blocks stay aligned after an odd reservation.
        assert_eq!(a.allocate(0).unwrap(), 104);
        assert_eq!(a.allocate_record(1, 5).unwrap(), 114);
        assert_eq!(a.end(), 119);
        assert_eq!(a.allocate(2).unwrap(), 120);
        let err = a.allocate_record(1, 5).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutOfRange);
        a.forget_before(2);
        assert_eq!(a.offset_of(0), None);
        assert_eq!(a.offset_of(2), Some(120));
    }

    #[test]
    fn preallocates_the_plan_and_refuses_the_rest() {
        let mut a = BlockAllocator::new(layout()).unwrap();
        // Blocks 1..3 and 2..4 overlap in block 2; block 9.
        let plan = [Extent::new(8, 12), Extent::new(20, 10), Extent::new(72, 1)];
        a.preallocate(&plan).unwrap();
        assert_eq!(a.table(0, 10, |o| o), {
            let mut t = vec![None; 10];
            t[1] = Some(100);
            t[2] = Some(110);
            t[3] = Some(120);
            t[9] = Some(130);
            t
        });
        assert_eq!(a.allocate(2).unwrap(), 110);
        let err = a.allocate(4).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutOfRange);
        assert_eq!(err.format(), "test");
        assert_eq!(err.field_name(), Some("plan"));
        assert_eq!(err.offset(), Some(32));
        assert!(err.to_string().contains("outside the plan"), "{err}");
    }

    #[test]
    fn restricted_to_the_plan_places_on_write() {
        let mut a = BlockAllocator::new(layout()).unwrap();
        a.restrict_to(&[Extent::new(16, 16)]);
        assert_eq!(a.offset_of(2), None);
        assert!(a.check(3).is_ok() && a.check(4).is_err() && a.check(99).is_err());
        assert_eq!(a.allocate_record(3, 4).unwrap(), 100);
        assert_eq!(a.allocate(2).unwrap(), 104);
        let err = a.allocate(4).unwrap_err();
        assert_eq!(err.field_name(), Some("plan"));
    }

    #[test]
    fn refuses_past_the_disk_and_past_what_a_table_addresses() {
        let mut a = BlockAllocator::new(layout()).unwrap();
        let err = a.allocate(16).unwrap_err();
        assert_eq!(
            (err.kind(), err.field_name()),
            (ErrorKind::OutOfRange, Some("BAT"))
        );
        let err = a.preallocate(&[Extent::new(0, 200)]).unwrap_err();
        assert!(
            err.to_string().contains("past the end of the disk"),
            "{err}"
        );

        let mut a = BlockAllocator::new(BlockLayout {
            max_offset: 110,
            ..layout()
        })
        .unwrap();
        a.allocate(0).unwrap();
        a.allocate(1).unwrap();
        let err = a.allocate(2).unwrap_err();
        assert_eq!(err.offset(), Some(120));
        assert_eq!(err.field_name(), Some("BAT"));
        assert_eq!(a.end(), 120, "nothing allocated by a refusal");
        assert!(a.preallocate(&[Extent::new(0, 128)]).is_err());

        assert!(BlockAllocator::new(BlockLayout {
            slot: 11,
            ..layout()
        })
        .is_err());
        assert!(BlockAllocator::new(BlockLayout::new(F, "BAT", 12, 100)).is_err());
    }

    proptest! {
        /// Preallocating a plan lays the file out exactly as writing every
        /// planned block in ascending order does, with no two blocks
        /// overlapping, each aligned and past the start.
        #[test]
        fn preallocation_matches_allocation_in_order(
            raw in prop::collection::vec((0u64..4096, 1u64..300), 0..20),
            slot_mul in 1u64..4,
        ) {
            let plan = crate::merge_extents(raw.into_iter().map(|(o, l)| Extent::new(o, l)).collect());
            let layout = BlockLayout {
                first: 7,
                slot: 64 * slot_mul,
                align: 64,
                ..BlockLayout::new(F, "table", 64, 4400)
            };
            let mut pre = BlockAllocator::new(layout).unwrap();
            pre.preallocate(&plan).unwrap();
            let mut lazy = BlockAllocator::new(layout).unwrap();
            for e in &plan {
                for b in e.offset / 64..e.end().div_ceil(64) {
                    let at = lazy.allocate(b).unwrap();
                    prop_assert_eq!(pre.allocate(b).unwrap(), at);
                }
            }
            prop_assert_eq!(pre.end(), lazy.end());
            let blocks = layout.blocks();
            let table = pre.table(0, blocks, |o| o);
            prop_assert_eq!(&table, &lazy.table(0, blocks, |o| o));
            let mut placed: Vec<u64> = table.iter().flatten().copied().collect();
            placed.sort_unstable();
            for w in placed.windows(2) {
                prop_assert!(w[1] - w[0] >= 64 * slot_mul);
            }
            prop_assert!(placed.iter().all(|&o| o >= 7 && o % 64 == 0));
            prop_assert_eq!(placed.len() as u64, pre.allocated());
            // Nothing else is admitted.
            if let Some(b) = (0..blocks).find(|b| table[*b as usize].is_none()) {
                prop_assert!(pre.allocate(b).is_err());
            }
        }
    }
}
