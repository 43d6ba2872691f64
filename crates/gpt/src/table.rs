//! The partition table as a whole: read, verify, build, write, relocate.

use blocksink::BlockSource;
use uuid::Uuid;
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use crate::format::*;
use crate::{error::F, type_by_name, Result};

/// Largest entry array this crate reads (the usual one is 16 KiB).
pub const MAX_ARRAY_BYTES: u64 = 1 << 20;

/// A partition, as an entry of the table describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// 1-based slot number in the entry array.
    pub number: u32,
    /// Partition type.
    pub type_guid: Uuid,
    /// Unique partition GUID.
    pub guid: Uuid,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA, inclusive.
    pub last_lba: u64,
    /// Attribute bits.
    pub attributes: u64,
    /// Name.
    pub name: String,
}

impl Partition {
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        (self.last_lba + 1 - self.first_lba) * SECTOR
    }
}

/// A GUID partition table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gpt {
    /// Size of the disk in bytes.
    pub disk_size: u64,
    /// Identifies the disk.
    pub disk_guid: Uuid,
    /// First LBA a partition may use.
    pub first_usable_lba: u64,
    /// Last LBA a partition may use.
    pub last_usable_lba: u64,
    /// LBA of the backup header.
    pub backup_lba: u64,
    /// Entries in the array.
    pub num_entries: u32,
    /// Bytes per entry.
    pub entry_size: u32,
    /// The used entries.
    pub partitions: Vec<Partition>,
}

fn array_sectors(num: u32, size: u32) -> u64 {
    (u64::from(num) * u64::from(size)).div_ceil(SECTOR)
}

fn read_sector(src: &mut dyn BlockSource, lba: u64) -> Result<Vec<u8>> {
    let mut b = vec![0u8; SECTOR as usize];
    src.read_at(lba * SECTOR, &mut b)?;
    Ok(b)
}

/// A header read and checked, with its raw entry array.
struct ParsedHeader {
    header: Header,
    array: Vec<u8>,
}

fn parse_header(src: &mut dyn BlockSource, lba: u64, which: &str) -> Result<ParsedHeader> {
    let disk_sectors = src.size() / SECTOR;
    let raw = read_sector(src, lba)?;
    let (h, _) = Header::read_from_prefix(&raw)
        .map_err(|_| F.corrupt(format!("{which} header unreadable")))?;
    if h.signature != SIGNATURE {
        return Err(F.not_this(format!(
            "no `EFI PART` signature at LBA {lba} ({which} header)"
        )));
    }
    let hs = h.header_size.get();
    if !(HEADER_SIZE..=SECTOR as u32).contains(&hs) {
        return Err(F.corrupt(format!(
            "{which} header at LBA {lba}: header_size {hs} is not 92 to 512"
        )));
    }
    let mut crc_bytes = raw[..hs as usize].to_vec();
    crc_bytes[16..20].fill(0);
    let crc = crc32fast::hash(&crc_bytes);
    if crc != h.header_crc32.get() {
        return Err(F.corrupt(format!(
            "{which} header at LBA {lba}: CRC32 is {:#010x}, but the header hashes to {crc:#010x}",
            h.header_crc32.get()
        )));
    }
    let (n, es) = (
        h.num_partition_entries.get(),
        h.size_of_partition_entry.get(),
    );
    if es < 128 || !es.is_power_of_two() {
        return Err(F.corrupt(format!(
            "{which} header: size_of_partition_entry {es} is not 128 × 2^n"
        )));
    }
    let bytes = u64::from(n) * u64::from(es);
    if bytes > MAX_ARRAY_BYTES {
        return Err(F.corrupt(format!(
            "{which} header: {n} entries of {es} bytes make a {bytes}-byte array, more than {MAX_ARRAY_BYTES}"
        )));
    }
    let at = h.partition_entry_lba.get();
    if at
        .checked_add(array_sectors(n, es))
        .is_none_or(|e| e > disk_sectors)
    {
        return Err(F.corrupt(format!(
            "{which} header: entry array at LBA {at} runs past the end of the disk ({disk_sectors} sectors)"
        )));
    }
    let mut array = vec![0u8; bytes as usize];
    src.read_at(at * SECTOR, &mut array)?;
    let crc = crc32fast::hash(&array);
    if crc != h.partition_entry_array_crc32.get() {
        return Err(F.corrupt(format!(
            "{which} entry array at LBA {at}: CRC32 is {:#010x}, but the array hashes to {crc:#010x}",
            h.partition_entry_array_crc32.get()
        )));
    }
    Ok(ParsedHeader { header: h, array })
}

impl Gpt {
    /// Reads the table of `src`: the primary header, or the backup at the
    /// last LBA when the primary is damaged.
    pub fn read(src: &mut dyn BlockSource) -> Result<Gpt> {
        if src.size() < 3 * SECTOR {
            return Err(F.not_this("disk too small for a GPT"));
        }
        let last = src.size() / SECTOR - 1;
        let parsed = match parse_header(src, 1, "primary") {
            Ok(p) => p,
            Err(primary) => match parse_header(src, last, "backup") {
                Ok(p) => p,
                Err(_) => return Err(primary),
            },
        };
        Self::from_parsed(src.size(), &parsed)
    }

    fn from_parsed(disk_size: u64, p: &ParsedHeader) -> Result<Gpt> {
        let h = &p.header;
        let es = h.size_of_partition_entry.get() as usize;
        let mut partitions = Vec::new();
        for (i, slot) in p.array.chunks_exact(es).enumerate() {
            let (e, _) =
                Entry::read_from_prefix(slot).map_err(|_| F.corrupt("entry unreadable"))?;
            if e.type_guid == [0; 16] {
                continue;
            }
            let units: Vec<u16> = e
                .name
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            partitions.push(Partition {
                number: i as u32 + 1,
                type_guid: Uuid::from_bytes_le(e.type_guid),
                guid: Uuid::from_bytes_le(e.unique_guid),
                first_lba: e.starting_lba.get(),
                last_lba: e.ending_lba.get(),
                attributes: e.attributes.get(),
                name: String::from_utf16_lossy(&units),
            });
        }
        let backup_lba = if h.my_lba.get() == 1 {
            h.alternate_lba.get()
        } else {
            h.my_lba.get()
        };
        Ok(Gpt {
            disk_size,
            disk_guid: Uuid::from_bytes_le(h.disk_guid),
            first_usable_lba: h.first_usable_lba.get(),
            last_usable_lba: h.last_usable_lba.get(),
            backup_lba,
            num_entries: h.num_partition_entries.get(),
            entry_size: h.size_of_partition_entry.get(),
            partitions,
        })
    }

    /// Everything wrong with the table on `src`: damaged or missing headers
    /// and arrays, a backup that disagrees with the primary, entries that
    /// overlap or leave the usable area, a missing protective MBR.
    pub fn verify(src: &mut dyn BlockSource) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        if src.size() < 3 * SECTOR {
            return Err(F.not_this("disk too small for a GPT"));
        }
        let last = src.size() / SECTOR - 1;
        let primary = parse_header(src, 1, "primary");
        if let Err(e) = &primary {
            if e.kind() == crate::ErrorKind::InvalidFormat {
                return Err(F.not_this(e.message().to_owned()));
            }
        }
        let alt = match &primary {
            Ok(p) => p.header.alternate_lba.get(),
            Err(_) => last,
        };
        if alt != last {
            problems.push(format!(
                "the backup header is at LBA {alt}, not at the last LBA {last}"
            ));
        }
        let backup = if alt < src.size() / SECTOR {
            parse_header(src, alt, "backup")
        } else {
            Err(F.corrupt(format!(
                "backup header LBA {alt} is past the end of the disk"
            )))
        };
        for r in [&primary, &backup] {
            if let Err(e) = r {
                problems.push(e.to_string());
            }
        }
        if let (Ok(p), Ok(b)) = (&primary, &backup) {
            let (ph, bh) = (&p.header, &b.header);
            if ph.disk_guid != bh.disk_guid
                || ph.first_usable_lba != bh.first_usable_lba
                || ph.last_usable_lba != bh.last_usable_lba
                || p.array != b.array
                || bh.alternate_lba.get() != 1
            {
                problems.push("the backup header or entry array does not match the primary".into());
            }
        }
        let good = primary.as_ref().ok().or(backup.as_ref().ok());
        if let Some(p) = good {
            let gpt = Self::from_parsed(src.size(), p)?;
            let h = &p.header;
            let array_end =
                h.partition_entry_lba.get() + array_sectors(gpt.num_entries, gpt.entry_size);
            if gpt.first_usable_lba
                < array_end.min(2 + array_sectors(gpt.num_entries, gpt.entry_size))
            {
                problems.push(format!(
                    "first usable LBA {} overlaps the entry array",
                    gpt.first_usable_lba
                ));
            }
            let mut sorted: Vec<&Partition> = gpt.partitions.iter().collect();
            sorted.sort_by_key(|p| p.first_lba);
            for p in &sorted {
                if p.first_lba > p.last_lba {
                    problems.push(format!(
                        "partition {} ends (LBA {}) before it starts (LBA {})",
                        p.number, p.last_lba, p.first_lba
                    ));
                } else if p.first_lba < gpt.first_usable_lba || p.last_lba > gpt.last_usable_lba {
                    problems.push(format!(
                        "partition {} (LBA {}–{}) is outside the usable area (LBA {}–{})",
                        p.number,
                        p.first_lba,
                        p.last_lba,
                        gpt.first_usable_lba,
                        gpt.last_usable_lba
                    ));
                }
            }
            for w in sorted.windows(2) {
                if w[1].first_lba <= w[0].last_lba {
                    problems.push(format!(
                        "partitions {} and {} overlap",
                        w[0].number, w[1].number
                    ));
                }
            }
        }
        let mbr_raw = read_sector(src, 0)?;
        let (mbr, _) =
            ProtectiveMbr::read_from_prefix(&mbr_raw).map_err(|_| F.corrupt("MBR unreadable"))?;
        if mbr.signature != [0x55, 0xaa]
            || !mbr.records.iter().any(|r| r.os_type == PROTECTIVE_TYPE)
        {
            problems.push("no protective MBR (type 0xEE) at LBA 0".into());
        }
        Ok(problems)
    }

    /// A new, empty table for a disk of `disk_size` bytes with 128 entries.
    pub fn new(disk_size: u64, disk_guid: Uuid) -> Result<Gpt> {
        let sectors = disk_size / SECTOR;
        if sectors < 68 {
            return Err(F.option(format!("a {disk_size}-byte disk is too small for a GPT")));
        }
        Ok(Gpt {
            disk_size,
            disk_guid,
            first_usable_lba: 34,
            last_usable_lba: sectors - 34,
            backup_lba: sectors - 1,
            num_entries: 128,
            entry_size: 128,
            partitions: Vec::new(),
        })
    }

    /// Lays out `specs` in order, each aligned to `alignment` bytes (1 MiB
    /// by default in [`PartitionSpec`] users); a spec without a size grows
    /// to fill what is left (only the last may).
    pub fn add_partitions(
        &mut self,
        specs: &[PartitionSpec],
        alignment: u64,
        ids: impl Fn(usize) -> Uuid,
    ) -> Result<()> {
        let align = (alignment / SECTOR).max(1);
        let mut next = self
            .partitions
            .iter()
            .map(|p| p.last_lba + 1)
            .max()
            .unwrap_or(self.first_usable_lba)
            .max(self.first_usable_lba);
        for (i, spec) in specs.iter().enumerate() {
            let type_guid = type_by_name(&spec.type_name)
                .ok_or_else(|| F.option(format!("unknown partition type {:?}", spec.type_name)))?;
            let first = next.next_multiple_of(align);
            let last = match spec.size {
                Some(bytes) => first + bytes.div_ceil(SECTOR) - 1,
                None if i + 1 == specs.len() => {
                    // Grow: end on an alignment boundary below the usable end.
                    let end = (self.last_usable_lba + 1) / align * align;
                    end.max(first + 1) - 1
                }
                None => return Err(F.option("only the last partition can grow")),
            };
            if last > self.last_usable_lba || last < first {
                return Err(F.option(format!(
                    "partition {:?} does not fit: LBA {first}–{last}, usable up to {}",
                    spec.name, self.last_usable_lba
                )));
            }
            let number = self.partitions.len() as u32 + 1;
            if number > self.num_entries {
                return Err(F.option("more partitions than entries"));
            }
            self.partitions.push(Partition {
                number,
                type_guid,
                guid: ids(i),
                first_lba: first,
                last_lba: last,
                attributes: 0,
                name: spec.name.clone(),
            });
            next = last + 1;
        }
        Ok(())
    }

    fn entry_array(&self) -> Result<Vec<u8>> {
        let es = self.entry_size as usize;
        let mut array = vec![0u8; self.num_entries as usize * es];
        for p in &self.partitions {
            let slot = (p.number as usize)
                .checked_sub(1)
                .filter(|&i| i < self.num_entries as usize)
                .ok_or_else(|| {
                    F.option(format!(
                        "partition number {} is not 1 to {}",
                        p.number, self.num_entries
                    ))
                })?;
            let mut e = Entry::new_zeroed();
            e.type_guid = p.type_guid.to_bytes_le();
            e.unique_guid = p.guid.to_bytes_le();
            e.starting_lba = p.first_lba.into();
            e.ending_lba = p.last_lba.into();
            e.attributes = p.attributes.into();
            let units: Vec<u16> = p.name.encode_utf16().collect();
            if units.len() > 36 {
                return Err(F.option(format!(
                    "partition name {:?} is longer than 36 UTF-16 units",
                    p.name
                )));
            }
            for (i, u) in units.iter().enumerate() {
                e.name[i * 2..i * 2 + 2].copy_from_slice(&u.to_le_bytes());
            }
            array[slot * es..slot * es + 128].copy_from_slice(e.as_bytes());
        }
        Ok(array)
    }

    fn header(&self, my_lba: u64, alternate: u64, entries_lba: u64, array_crc: u32) -> Header {
        let mut h = Header::new_zeroed();
        h.signature = SIGNATURE;
        h.revision = REVISION.into();
        h.header_size = HEADER_SIZE.into();
        h.my_lba = my_lba.into();
        h.alternate_lba = alternate.into();
        h.first_usable_lba = self.first_usable_lba.into();
        h.last_usable_lba = self.last_usable_lba.into();
        h.disk_guid = self.disk_guid.to_bytes_le();
        h.partition_entry_lba = entries_lba.into();
        h.num_partition_entries = self.num_entries.into();
        h.size_of_partition_entry = self.entry_size.into();
        h.partition_entry_array_crc32 = array_crc.into();
        h.header_crc32 = crc32fast::hash(h.as_bytes()).into();
        h
    }

    /// The protective MBR covering the whole disk.
    pub fn protective_mbr(&self) -> ProtectiveMbr {
        let mut mbr = ProtectiveMbr::new_zeroed();
        let r = &mut mbr.records[0];
        r.starting_chs = [0x00, 0x02, 0x00];
        r.os_type = PROTECTIVE_TYPE;
        r.ending_chs = [0xff, 0xff, 0xff];
        r.starting_lba = 1.into();
        let sectors = self.disk_size / SECTOR - 1;
        r.size_in_lba = u32::try_from(sectors).unwrap_or(u32::MAX).into();
        mbr.signature = [0x55, 0xaa];
        mbr
    }

    /// The bytes to write, as (disk offset, bytes) in ascending order:
    /// protective MBR, primary header and array, backup array and header.
    pub fn regions(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        let array = self.entry_array()?;
        let mut head = Vec::new();
        head.extend_from_slice(self.protective_mbr().as_bytes());
        head.extend_from_slice(&self.primary_header_sector(&array)?);
        head.extend_from_slice(&array);
        head.resize(
            ((2 + array_sectors(self.num_entries, self.entry_size)) * SECTOR) as usize,
            0,
        );
        Ok(vec![(0, head), self.backup_region(array)?])
    }

    fn primary_header_sector(&self, array: &[u8]) -> Result<Vec<u8>> {
        let sectors = array_sectors(self.num_entries, self.entry_size);
        if self.backup_lba < sectors + 1
            || self.backup_lba - sectors <= self.last_usable_lba
            || 2 + sectors > self.first_usable_lba
        {
            return Err(F.option("the usable area overlaps the entry arrays"));
        }
        let mut sector = vec![0u8; SECTOR as usize];
        let h = self.header(1, self.backup_lba, 2, crc32fast::hash(array));
        sector[..92].copy_from_slice(h.as_bytes());
        Ok(sector)
    }

    /// The backup entry array and header, at the end of the disk.
    fn backup_region(&self, mut array: Vec<u8>) -> Result<(u64, Vec<u8>)> {
        let crc = crc32fast::hash(&array);
        let sectors = array_sectors(self.num_entries, self.entry_size);
        let at = self.backup_lba - sectors;
        array.resize((sectors * SECTOR) as usize, 0);
        let mut sector = [0u8; SECTOR as usize];
        sector[..92].copy_from_slice(self.header(self.backup_lba, 1, at, crc).as_bytes());
        array.extend_from_slice(&sector);
        Ok((at * SECTOR, array))
    }

    /// Grows the GPT of a disk from `old_size` to `new_size` bytes, given the
    /// disk's first bytes in `head` (MBR, primary header and entry array):
    /// patches the protective MBR's size and the primary header in place —
    /// leaving boot code and entries as they are — and returns the new
    /// backup array and header with the disk offset they go to.
    pub fn grow_head(head: &mut [u8], old_size: u64, new_size: u64) -> Result<(Gpt, u64, Vec<u8>)> {
        let mut src = blocksink::MemSource::new(head.to_vec());
        let parsed = parse_header(&mut src, 1, "primary")?;
        let g = Self::from_parsed(old_size, &parsed)?.relocated(new_size)?;
        let array = parsed.array;
        let primary = g.primary_header_sector(&array)?;
        head[512..1024].copy_from_slice(&primary);
        let (mbr, _) =
            ProtectiveMbr::mut_from_prefix(head).map_err(|_| F.corrupt("MBR unreadable"))?;
        for r in mbr.records.iter_mut() {
            if r.os_type == PROTECTIVE_TYPE && r.starting_lba.get() == 1 {
                r.size_in_lba = u32::try_from(new_size / SECTOR - 1)
                    .unwrap_or(u32::MAX)
                    .into();
            }
        }
        let (at, tail) = g.backup_region(array)?;
        Ok((g, at, tail))
    }

    /// The same table for a disk grown to `new_size` bytes: the backup
    /// header and array move to the new end and the usable area grows with
    /// them (what `sgdisk -e` does).
    pub fn relocated(&self, new_size: u64) -> Result<Gpt> {
        let sectors = new_size / SECTOR;
        let array = array_sectors(self.num_entries, self.entry_size);
        if new_size < self.disk_size || sectors < array + 2 {
            return Err(F.option(format!(
                "cannot move the backup GPT to a {new_size}-byte disk"
            )));
        }
        let mut g = self.clone();
        g.disk_size = new_size;
        g.backup_lba = sectors - 1;
        g.last_usable_lba = sectors - 2 - array;
        Ok(g)
    }
}

/// A partition to lay out with [`Gpt::add_partitions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpec {
    /// Partition name.
    pub name: String,
    /// Type name (`esp`, `linux-root-x86-64`, an sgdisk code or a GUID).
    pub type_name: String,
    /// Size in bytes, or `None` to grow to the end of the disk.
    pub size: Option<u64>,
}
