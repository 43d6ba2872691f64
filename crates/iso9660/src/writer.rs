//! Lays a [`Tree`] out as an ISO 9660 image and writes it front to back, so
//! a pipe is as good an output as a file.
//!
//! Layout: system area (hybrid MBR + GPT when asked), volume descriptors
//! (primary, El Torito boot record, Joliet, terminator), path tables,
//! ISO 9660 directories, Rock Ridge continuation areas, Joliet directories,
//! the boot catalog, the boot images, every other file in directory order,
//! and for a hybrid image padding to a whole MiB with the backup GPT last.

use std::collections::HashMap;
use std::fs::File;

use blocksink::{BuildStamp, Destination, ReadAt};

use crate::eltorito::{self, BootEntry, PLATFORM_BIOS, PLATFORM_EFI};
use crate::error::{invalid_entry, OPTION};
use crate::format::*;
use crate::hybrid;
use crate::names::{iso_names, joliet_names};
use crate::susp::{self, Packed, RockRidge, CE_LEN};
use crate::tree::{EntryKind, FileData, Metadata, Tree};
use crate::{Error, Result};

/// Largest extent of one directory record: files beyond it are written as
/// several extents (ISO 9660 level 3 "multi-extent" files).
pub const MAX_SECTION: u64 = 0xFFFF_F800;
/// Largest BIOS boot image read into memory to patch its boot info table.
const MAX_PATCHED_IMAGE: u64 = 64 << 20;

/// A BIOS no-emulation boot entry, as `-b IMAGE -no-emul-boot
/// -boot-load-size N [-boot-info-table]` makes it.
#[derive(Clone, Debug)]
pub struct BiosBoot {
    /// Path of the boot image in the tree (e.g. `isolinux/isolinux.bin`).
    pub image: String,
    /// 512-byte sectors the BIOS loads (4 for isolinux).
    pub load_sectors: u16,
    /// Patch the boot information table into the image (isolinux needs it).
    pub boot_info_table: bool,
    /// Patch the image's GRUB core loader with where the rest of it lies,
    /// for booting from a disk (`--grub2-boot-info`): GRUB's
    /// `i386-pc-eltorito` images, whose 2048-byte `cdboot.img` is followed
    /// by `diskboot.img`, whose block list at byte 2548 gets the 512-byte
    /// sector after it.
    pub grub2_boot_info: bool,
}

/// What makes an image bootable from a USB stick.
#[derive(Clone, Debug, Default)]
pub struct Hybrid {
    /// MBR boot code for BIOS boot from a disk; without it the disk boots
    /// through UEFI only.
    pub mbr_code: Option<Vec<u8>>,
    /// Which loader the code is, and so where it is told the BIOS boot
    /// image's sector.
    pub mbr_kind: MbrKind,
}

/// The loaders whose MBR code a hybrid image can carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MbrKind {
    /// isolinux's `isohdpfx.bin` (`-isohybrid-mbr`): the boot image's
    /// 512-byte sector at byte 432; the image must be an isohybrid
    /// `isolinux.bin`.
    #[default]
    Isohybrid,
    /// GRUB's `boot_hybrid.img` (`--grub2-mbr`, as `grub-mkrescue` makes
    /// an image): the 512-byte sector of the `diskboot.img` inside a GRUB
    /// `i386-pc-eltorito` image (4 past the image's first) as 64 bits at
    /// byte 432. Use it with [`BiosBoot::grub2_boot_info`].
    Grub2,
}

/// Volume identification, extensions and boot setup of an image.
#[derive(Clone, Debug)]
pub struct IsoOptions {
    /// Volume identifier (32 characters at most; `-V`).
    pub volume_id: String,
    /// System identifier.
    pub system_id: String,
    /// Volume set identifier.
    pub volume_set_id: String,
    /// Publisher identifier.
    pub publisher: String,
    /// Data preparer identifier.
    pub preparer: String,
    /// Application identifier.
    pub application: String,
    /// Record POSIX names, modes, owners, links and times (Rock Ridge, `-R`).
    pub rock_ridge: bool,
    /// Add a Joliet tree with Unicode names (`-J`).
    pub joliet: bool,
    /// BIOS boot entry.
    pub bios_boot: Option<BiosBoot>,
    /// Path in the tree of a FAT image for the UEFI boot entry (`-e`).
    pub efi_boot: Option<String>,
    /// Path in the tree the boot catalog is given (`-c`).
    pub boot_catalog: String,
    /// Make the image bootable from a disk as well.
    pub hybrid: Option<Hybrid>,
}

impl Default for IsoOptions {
    fn default() -> Self {
        IsoOptions {
            volume_id: "CDROM".into(),
            system_id: "LINUX".into(),
            volume_set_id: String::new(),
            publisher: String::new(),
            preparer: format!("IMGCONV {}", env!("CARGO_PKG_VERSION")),
            application: String::new(),
            rock_ridge: true,
            joliet: true,
            bios_boot: None,
            efi_boot: None,
            boot_catalog: "boot.cat".into(),
            hybrid: None,
        }
    }
}

/// What a written image holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IsoSummary {
    /// Image size in bytes.
    pub size: u64,
    /// Directories, the root included.
    pub directories: u64,
    /// Regular files (hard links counted once).
    pub files: u64,
    /// Bytes of file data.
    pub data_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecKind {
    Dot,
    DotDot,
    Child { node: usize, section: u64 },
}

struct Rec {
    kind: RecKind,
    id: Vec<u8>,
    flags: u8,
    su: Packed,
    /// Where each continuation chunk went: (sector, offset).
    chunk_at: Vec<(u32, u32)>,
}

impl Rec {
    fn len(&self) -> usize {
        dir_record_len(self.id.len(), self.su.head.len())
    }
}

struct Dir {
    node: usize,
    parent: usize,
    /// Identifier in the parent (the root's is a single zero byte).
    id: Vec<u8>,
    lba: u32,
    size: u32,
    records: Vec<Rec>,
}

/// Where a file's data goes.
#[derive(Clone, Copy, Debug)]
struct Placed {
    lba: u32,
    size: u64,
}

/// An image laid out and ready to write.
pub struct IsoWriter {
    tree: Tree,
    opts: IsoOptions,
    stamp: BuildStamp,
    iso_dirs: Vec<Dir>,
    joliet_dirs: Vec<Dir>,
    /// Directory index of a directory node, per tree.
    iso_dir_of: HashMap<usize, usize>,
    joliet_dir_of: HashMap<usize, usize>,
    /// Path table sectors and sizes: (L lba, M lba, size) per tree.
    iso_pt: (u32, u32, u32),
    joliet_pt: (u32, u32, u32),
    ce_lba: u32,
    ce_sectors: u32,
    catalog: Option<(usize, u32)>,
    boot_entries: Vec<BootEntry>,
    bios_node: Option<usize>,
    efi_node: Option<usize>,
    /// File nodes in the order their data is written, with placement.
    data: Vec<(usize, Placed)>,
    placed: HashMap<usize, Placed>,
    /// End of the ISO 9660 content, in sectors.
    content_sectors: u64,
    size: u64,
    summary: IsoSummary,
}

/// The tree entries the boot options name.
struct BootNodes {
    bios: Option<usize>,
    efi: Option<usize>,
    catalog: Option<usize>,
}

/// Checks the boot options against the tree and adds the catalog file.
fn prepare_boot(tree: &mut Tree, opts: &IsoOptions) -> Result<BootNodes> {
    let file_node = |tree: &Tree, path: &str, what: &str| -> Result<usize> {
        let i = tree
            .lookup(path)
            .ok_or_else(|| OPTION.option(format!("{what} `{path}` is not in the tree")))?;
        match &tree.nodes[i].kind {
            EntryKind::File(d) if d.size() > 0 => Ok(i),
            _ => Err(OPTION.option(format!("{what} `{path}` is not a non-empty regular file"))),
        }
    };
    let mut boot = BootNodes {
        bios: None,
        efi: None,
        catalog: None,
    };
    if let Some(b) = &opts.bios_boot {
        let i = file_node(tree, &b.image, "BIOS boot image")?;
        let size = tree.nodes[i].kind_size();
        if (b.boot_info_table || b.grub2_boot_info) && size > MAX_PATCHED_IMAGE {
            return Err(OPTION.option(format!(
                "BIOS boot image `{}` is larger than {MAX_PATCHED_IMAGE} bytes; it cannot be patched",
                b.image
            )));
        }
        if b.grub2_boot_info && size < eltorito::GRUB2_BOOT_INFO_AT + 8 {
            return Err(OPTION.option(format!(
                "BIOS boot image `{}` is {size} bytes, too short for a GRUB i386-pc-eltorito image",
                b.image
            )));
        }
        boot.bios = Some(i);
    }
    if let Some(e) = &opts.efi_boot {
        boot.efi = Some(file_node(tree, e, "EFI boot image")?);
    }
    if boot.bios.is_none() && boot.efi.is_none() {
        if opts.hybrid.is_some() {
            return Err(OPTION.option("a hybrid image needs a BIOS or EFI boot image"));
        }
        return Ok(boot);
    }
    let meta = Metadata::new(0o444, tree.nodes[0].meta.mtime);
    let catalog = &opts.boot_catalog;
    tree.insert(
        catalog,
        EntryKind::File(FileData::Bytes(vec![0u8; SECTOR as usize].into())),
        meta,
    )
    .map_err(|e| OPTION.option(format!("boot catalog: {e}")))?;
    boot.catalog = tree.lookup(catalog);
    Ok(boot)
}

fn ascii(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c as u8
            } else {
                b'_'
            }
        })
        .collect()
}

fn to_u32(v: u64, what: &str) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| OPTION.option(format!("{what} {v} does not fit ISO 9660's 32 bits")))
}

impl IsoWriter {
    /// Lays out `tree` with `opts`; times are clamped to `stamp` when it is
    /// reproducible (`SOURCE_DATE_EPOCH`).
    pub fn new(mut tree: Tree, opts: IsoOptions, stamp: &BuildStamp) -> Result<IsoWriter> {
        let boot = prepare_boot(&mut tree, &opts)?;
        let mut w = IsoWriter {
            tree,
            opts,
            stamp: stamp.clone(),
            iso_dirs: Vec::new(),
            joliet_dirs: Vec::new(),
            iso_dir_of: HashMap::new(),
            joliet_dir_of: HashMap::new(),
            iso_pt: (0, 0, 0),
            joliet_pt: (0, 0, 0),
            ce_lba: 0,
            ce_sectors: 0,
            catalog: boot.catalog.map(|node| (node, 0)),
            boot_entries: Vec::new(),
            bios_node: boot.bios,
            efi_node: boot.efi,
            data: Vec::new(),
            placed: HashMap::new(),
            content_sectors: 0,
            size: 0,
            summary: IsoSummary::default(),
        };
        w.build_trees()?;
        w.layout()?;
        Ok(w)
    }

    /// The size of the image in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn time(&self, t: i64) -> i64 {
        if self.stamp.is_reproducible() {
            t.min(self.stamp.unix_time() as i64)
        } else {
            t
        }
    }

    fn is_dir(&self, i: usize) -> bool {
        matches!(self.tree.nodes[i].kind, EntryKind::Directory)
    }

    fn subdirs(&self, i: usize) -> u32 {
        self.tree.nodes[i]
            .children
            .iter()
            .filter(|&&c| self.is_dir(c))
            .count() as u32
    }

    fn rock_ridge_entries(
        &self,
        i: usize,
        name: bool,
        links: &HashMap<(u64, u64), u32>,
    ) -> Vec<Vec<u8>> {
        let n = &self.tree.nodes[i];
        let nlink = match (&n.kind, n.link_key) {
            (EntryKind::Directory, _) => 2 + self.subdirs(i),
            (_, Some(k)) => links.get(&k).copied().unwrap_or(1),
            _ => 1,
        };
        let rdev = match n.kind {
            EntryKind::CharDevice(d) | EntryKind::BlockDevice(d) => Some(d),
            _ => None,
        };
        let symlink = match &n.kind {
            EntryKind::Symlink(t) => Some(t.as_slice()),
            _ => None,
        };
        susp::rock_ridge(&RockRidge {
            mode: n.kind.type_bits() | n.meta.mode,
            nlink,
            uid: n.meta.uid,
            gid: n.meta.gid,
            times: [
                self.time(n.meta.mtime),
                self.time(n.meta.atime),
                self.time(n.meta.ctime),
            ],
            name: name.then_some(n.name.as_slice()),
            symlink,
            rdev,
        })
    }

    /// Builds both directory trees: records, names, Rock Ridge entries.
    fn build_trees(&mut self) -> Result<()> {
        let (dirs, dir_of) = self.build_tree(false);
        if dirs.len() > usize::from(u16::MAX) {
            return Err(OPTION.option(format!(
                "{} directories; ISO 9660 path tables number at most 65535",
                dirs.len()
            )));
        }
        (self.iso_dirs, self.iso_dir_of) = (dirs, dir_of);
        if self.opts.joliet {
            (self.joliet_dirs, self.joliet_dir_of) = self.build_tree(true);
        }
        Ok(())
    }

    /// One directory tree in path table order (breadth first, children by
    /// identifier): the ISO 9660 tree with its Rock Ridge entries, or the
    /// Joliet tree (directories and files only).
    fn build_tree(&self, joliet: bool) -> (Vec<Dir>, HashMap<usize, usize>) {
        let rr = self.opts.rock_ridge && !joliet;
        let links = if rr {
            self.tree.link_counts()
        } else {
            HashMap::new()
        };
        let mut dirs: Vec<Dir> = Vec::new();
        let mut dir_of = HashMap::new();
        let mut queue = vec![(0usize, 0usize, vec![0u8])];
        let mut next = 0;
        while next < queue.len() {
            let (node, parent, dir_id) = queue[next].clone();
            let dir_index = next;
            next += 1;
            let kids: Vec<usize> = self.tree.nodes[node]
                .children
                .iter()
                .copied()
                .filter(|&c| {
                    !joliet
                        || matches!(
                            self.tree.nodes[c].kind,
                            EntryKind::Directory | EntryKind::File(_)
                        )
                })
                .collect();
            let ids = if joliet {
                let wanted: Vec<&[u8]> = kids
                    .iter()
                    .map(|&c| self.tree.nodes[c].name.as_slice())
                    .collect();
                joliet_names(&wanted)
            } else {
                let wanted: Vec<(&[u8], bool)> = kids
                    .iter()
                    .map(|&c| (self.tree.nodes[c].name.as_slice(), self.is_dir(c)))
                    .collect();
                iso_names(&wanted)
            };
            let mut order: Vec<(Vec<u8>, usize)> = ids.into_iter().zip(kids).collect();
            order.sort();
            let mut records = Vec::with_capacity(order.len() + 2);
            for (kind, id) in [(RecKind::Dot, vec![0u8]), (RecKind::DotDot, vec![1u8])] {
                let at = if kind == RecKind::Dot {
                    node
                } else {
                    queue[parent].0
                };
                let mut entries = Vec::new();
                if rr {
                    let root_dot = node == 0 && kind == RecKind::Dot;
                    if root_dot {
                        entries.push(susp::sp());
                    }
                    entries.extend(self.rock_ridge_entries(at, false, &links));
                    if root_dot {
                        entries.push(susp::er());
                    }
                }
                records.push(Rec {
                    kind,
                    su: susp::pack(entries, 255 - dir_record_len(1, 0)),
                    id,
                    flags: FLAG_DIRECTORY,
                    chunk_at: Vec::new(),
                });
            }
            for (id, child) in order {
                let dir = self.is_dir(child);
                if dir {
                    queue.push((child, dir_index, id.clone()));
                }
                let sections = self.tree.nodes[child]
                    .kind_size()
                    .div_ceil(MAX_SECTION)
                    .max(1);
                let entries = if rr {
                    self.rock_ridge_entries(child, true, &links)
                } else {
                    Vec::new()
                };
                for section in 0..sections {
                    let mut flags = if dir { FLAG_DIRECTORY } else { 0 };
                    if section + 1 < sections {
                        flags |= FLAG_MULTI_EXTENT;
                    }
                    records.push(Rec {
                        kind: RecKind::Child {
                            node: child,
                            section,
                        },
                        su: susp::pack(entries.clone(), 255 - dir_record_len(id.len(), 0)),
                        id: id.clone(),
                        flags,
                        chunk_at: Vec::new(),
                    });
                }
            }
            dir_of.insert(node, dirs.len());
            dirs.push(Dir {
                node,
                parent,
                id: dir_id,
                lba: 0,
                size: 0,
                records,
            });
        }
        (dirs, dir_of)
    }

    fn path_table_size(dirs: &[Dir]) -> u64 {
        dirs.iter()
            .map(|d| 8 + d.id.len() + d.id.len() % 2)
            .sum::<usize>() as u64
    }

    fn layout(&mut self) -> Result<()> {
        let boot_nodes: Vec<usize> = self.bios_node.into_iter().chain(self.efi_node).collect();
        let sectors = |bytes: u64| bytes.div_ceil(SECTOR);
        let mut cur = SYSTEM_AREA_SECTORS + 1; // primary
        if self.catalog.is_some() {
            cur += 1;
        }
        if self.opts.joliet {
            cur += 1;
        }
        cur += 1; // terminator
        let iso_pt = Self::path_table_size(&self.iso_dirs);
        self.iso_pt = (cur as u32, (cur + sectors(iso_pt)) as u32, iso_pt as u32);
        cur += 2 * sectors(iso_pt);
        if self.opts.joliet {
            let j_pt = Self::path_table_size(&self.joliet_dirs);
            self.joliet_pt = (cur as u32, (cur + sectors(j_pt)) as u32, j_pt as u32);
            cur += 2 * sectors(j_pt);
        }
        let place_dirs = |dirs: &mut Vec<Dir>, cur: &mut u64| -> Result<()> {
            for d in dirs.iter_mut() {
                let mut size = 0u64;
                for r in &d.records {
                    let len = r.len() as u64;
                    if size % SECTOR + len > SECTOR {
                        size = size.next_multiple_of(SECTOR);
                    }
                    size += len;
                }
                let size = size.next_multiple_of(SECTOR);
                d.lba = to_u32(*cur, "directory sector")?;
                d.size = to_u32(size, "directory size")?;
                *cur += size / SECTOR;
            }
            Ok(())
        };
        place_dirs(&mut self.iso_dirs, &mut cur)?;
        // Continuation areas, packed into whole sectors.
        self.ce_lba = to_u32(cur, "continuation sector")?;
        let (mut sector, mut offset) = (cur, 0u64);
        let mut any = false;
        for d in &mut self.iso_dirs {
            for r in &mut d.records {
                for chunk in &r.su.chunks {
                    any = true;
                    if offset + chunk.len() as u64 > SECTOR {
                        sector += 1;
                        offset = 0;
                    }
                    r.chunk_at
                        .push((to_u32(sector, "continuation sector")?, offset as u32));
                    offset += chunk.len() as u64;
                }
            }
        }
        if any {
            cur = sector + 1;
        }
        self.ce_sectors = (cur - u64::from(self.ce_lba)) as u32;
        place_dirs(&mut self.joliet_dirs, &mut cur)?;
        if let Some((node, _)) = self.catalog {
            self.catalog = Some((node, to_u32(cur, "boot catalog sector")?));
            self.placed.insert(
                node,
                Placed {
                    lba: cur as u32,
                    size: SECTOR,
                },
            );
            cur += 1;
        }
        // File data: boot images first, then directory order.
        let mut order = boot_nodes.clone();
        for d in &self.iso_dirs {
            for r in &d.records {
                if let RecKind::Child { node, section: 0 } = r.kind {
                    if matches!(self.tree.nodes[node].kind, EntryKind::File(_))
                        && !boot_nodes.contains(&node)
                    {
                        order.push(node);
                    }
                }
            }
        }
        let mut first_of_link: HashMap<(u64, u64), Placed> = HashMap::new();
        for node in order {
            if self.placed.contains_key(&node) {
                continue;
            }
            let size = self.tree.nodes[node].kind_size();
            if let Some(k) = self.tree.nodes[node].link_key {
                if let Some(p) = first_of_link.get(&k) {
                    self.placed.insert(node, *p);
                    continue;
                }
            }
            let lba = if size == 0 {
                0
            } else {
                to_u32(cur, "file sector")?
            };
            let p = Placed { lba, size };
            if let Some(k) = self.tree.nodes[node].link_key {
                first_of_link.insert(k, p);
            }
            self.placed.insert(node, p);
            self.data.push((node, p));
            self.summary.files += 1;
            self.summary.data_bytes += size;
            cur += sectors(size);
        }
        to_u32(cur, "image size in sectors")?;
        self.content_sectors = cur;
        self.size = if self.opts.hybrid.is_some() {
            (cur * SECTOR + hybrid::BACKUP_SECTORS * 512).next_multiple_of(hybrid::CYLINDER)
        } else {
            cur * SECTOR
        };
        to_u32(self.size / SECTOR, "image size in sectors")?;
        self.summary.size = self.size;
        self.summary.directories = self.iso_dirs.len() as u64;
        // Boot entries.
        if let (Some(b), Some(node)) = (&self.opts.bios_boot, self.bios_node) {
            self.boot_entries.push(BootEntry {
                platform: PLATFORM_BIOS,
                bootable: true,
                media: 0,
                load_segment: 0,
                sectors: b.load_sectors,
                lba: self.placed[&node].lba,
            });
        }
        if let Some(node) = self.efi_node {
            let p = self.placed[&node];
            // An image too large for 16 bits is given as 0: firmware then
            // reads the FAT file system's own size.
            let count = u16::try_from(p.size.div_ceil(512)).unwrap_or(0);
            self.boot_entries.push(BootEntry {
                platform: PLATFORM_EFI,
                bootable: true,
                media: 0,
                load_segment: 0,
                sectors: count,
                lba: p.lba,
            });
        }
        Ok(())
    }

    fn placement(&self, node: usize, section: u64) -> (u32, u32) {
        match self.placed.get(&node) {
            Some(p) if p.size > 0 => {
                let start = section * MAX_SECTION;
                let len = (p.size - start).min(MAX_SECTION);
                (p.lba + (start / SECTOR) as u32, len as u32)
            }
            _ => (0, 0),
        }
    }

    fn dir_bytes(&self, joliet: bool, d: &Dir) -> Vec<u8> {
        let (dirs, dir_of) = if joliet {
            (&self.joliet_dirs, &self.joliet_dir_of)
        } else {
            (&self.iso_dirs, &self.iso_dir_of)
        };
        let mut out = Vec::with_capacity(d.size as usize);
        for r in &d.records {
            let node = match r.kind {
                RecKind::Dot => d.node,
                RecKind::DotDot => dirs[d.parent].node,
                RecKind::Child { node, .. } => node,
            };
            let (extent, size) = match (r.kind, dir_of.get(&node)) {
                (_, Some(&di)) => (dirs[di].lba, dirs[di].size),
                (RecKind::Child { node, section }, None) => self.placement(node, section),
                _ => (0, 0),
            };
            let mut su = r.su.head.clone();
            if let (Some(first), Some(&(lba, off))) = (r.su.chunks.first(), r.chunk_at.first()) {
                let at = su.len() - CE_LEN;
                su[at..].copy_from_slice(&susp::ce(lba, off, first.len() as u32));
            }
            let mtime = self.time(self.tree.nodes[node].meta.mtime);
            let rec = dir_record(extent, size, dir_date(mtime), r.flags, &r.id, &su);
            if out.len() as u64 % SECTOR + rec.len() as u64 > SECTOR {
                out.resize((out.len() as u64).next_multiple_of(SECTOR) as usize, 0);
            }
            out.extend_from_slice(&rec);
        }
        out.resize(d.size as usize, 0);
        out
    }

    fn ce_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.ce_sectors as usize * SECTOR as usize];
        for d in &self.iso_dirs {
            for r in &d.records {
                for (i, chunk) in r.su.chunks.iter().enumerate() {
                    let (lba, off) = r.chunk_at[i];
                    let mut bytes = chunk.clone();
                    if let (Some(next), Some(&(nl, no))) =
                        (r.su.chunks.get(i + 1), r.chunk_at.get(i + 1))
                    {
                        let at = bytes.len() - CE_LEN;
                        bytes[at..].copy_from_slice(&susp::ce(nl, no, next.len() as u32));
                    }
                    let start = (lba - self.ce_lba) as usize * SECTOR as usize + off as usize;
                    out[start..start + bytes.len()].copy_from_slice(&bytes);
                }
            }
        }
        out
    }

    fn path_table(&self, joliet: bool, big_endian: bool) -> Vec<u8> {
        let dirs = if joliet {
            &self.joliet_dirs
        } else {
            &self.iso_dirs
        };
        let mut out = Vec::new();
        for d in dirs {
            let id = &d.id;
            out.push(id.len() as u8);
            out.push(0);
            let parent = (d.parent + 1) as u16;
            if big_endian {
                out.extend_from_slice(&d.lba.to_be_bytes());
                out.extend_from_slice(&parent.to_be_bytes());
            } else {
                out.extend_from_slice(&d.lba.to_le_bytes());
                out.extend_from_slice(&parent.to_le_bytes());
            }
            out.extend_from_slice(id);
            if id.len() % 2 == 1 {
                out.push(0);
            }
        }
        out
    }

    fn volume_descriptor(&self, joliet: bool) -> Vec<u8> {
        let mut vd = vec![0u8; SECTOR as usize];
        vd[0] = if joliet { VD_SUPPLEMENTARY } else { VD_PRIMARY };
        vd[1..6].copy_from_slice(CD001);
        vd[6] = 1;
        let o = &self.opts;
        let text = |vd: &mut Vec<u8>, at: usize, len: usize, s: &str| {
            if joliet {
                put_padded_ucs2(&mut vd[at..at + len], s);
            } else {
                put_padded(&mut vd[at..at + len], &ascii(s));
            }
        };
        text(&mut vd, vd::SYSTEM_ID, 32, &o.system_id);
        text(&mut vd, vd::VOLUME_ID, 32, &o.volume_id);
        put_both_u32(&mut vd[vd::SPACE_SIZE..], (self.size / SECTOR) as u32);
        if joliet {
            vd[vd::ESCAPES..vd::ESCAPES + 3].copy_from_slice(JOLIET_LEVEL3);
        }
        put_both_u16(&mut vd[vd::SET_SIZE..], 1);
        put_both_u16(&mut vd[vd::SEQUENCE..], 1);
        put_both_u16(&mut vd[vd::BLOCK_SIZE..], SECTOR as u16);
        let (dirs, (l, m, size)) = if joliet {
            (&self.joliet_dirs, self.joliet_pt)
        } else {
            (&self.iso_dirs, self.iso_pt)
        };
        put_both_u32(&mut vd[vd::PATH_TABLE_SIZE..], size);
        vd[vd::L_TABLE..vd::L_TABLE + 4].copy_from_slice(&l.to_le_bytes());
        vd[vd::M_TABLE..vd::M_TABLE + 4].copy_from_slice(&m.to_be_bytes());
        let root = &dirs[0];
        let mtime = self.time(self.tree.nodes[0].meta.mtime);
        let rec = dir_record(
            root.lba,
            root.size,
            dir_date(mtime),
            FLAG_DIRECTORY,
            &[0],
            &[],
        );
        vd[vd::ROOT..vd::ROOT + 34].copy_from_slice(&rec);
        text(&mut vd, vd::VOLUME_SET_ID, 128, &o.volume_set_id);
        text(&mut vd, vd::PUBLISHER_ID, 128, &o.publisher);
        text(&mut vd, vd::PREPARER_ID, 128, &o.preparer);
        text(&mut vd, vd::APPLICATION_ID, 128, &o.application);
        let (a, b) = (702, 813);
        if joliet {
            put_padded_ucs2(&mut vd[a..b - 1], "");
        } else {
            vd[a..b].fill(b' ');
        }
        let now = volume_date(self.stamp.unix_time() as i64);
        vd[vd::CREATED..vd::CREATED + 17].copy_from_slice(&now);
        vd[vd::MODIFIED..vd::MODIFIED + 17].copy_from_slice(&now);
        vd[vd::EXPIRES..vd::EXPIRES + 17].copy_from_slice(&no_volume_date());
        vd[vd::EFFECTIVE..vd::EFFECTIVE + 17].copy_from_slice(&now);
        vd[vd::FILE_STRUCTURE] = 1;
        vd
    }

    fn descriptors(&self) -> Vec<u8> {
        let mut out = self.volume_descriptor(false);
        if let Some((_, lba)) = self.catalog {
            let mut br = vec![0u8; SECTOR as usize];
            br[0] = VD_BOOT;
            br[1..6].copy_from_slice(CD001);
            br[6] = 1;
            br[vd::BOOT_SYSTEM_ID..vd::BOOT_SYSTEM_ID + EL_TORITO_ID.len()]
                .copy_from_slice(EL_TORITO_ID);
            br[vd::BOOT_CATALOG..vd::BOOT_CATALOG + 4].copy_from_slice(&lba.to_le_bytes());
            out.extend_from_slice(&br);
        }
        if self.opts.joliet {
            out.extend_from_slice(&self.volume_descriptor(true));
        }
        let mut term = vec![0u8; SECTOR as usize];
        term[0] = VD_TERMINATOR;
        term[1..6].copy_from_slice(CD001);
        term[6] = 1;
        out.extend_from_slice(&term);
        out
    }

    /// Writes the image to `dest` front to back; `progress` hears the bytes
    /// written so far. Every source file is checked to still have the size
    /// it had when the tree was read.
    pub fn write(
        &self,
        dest: &mut Destination,
        progress: &mut dyn FnMut(u64),
    ) -> Result<IsoSummary> {
        let at = |lba: u32| u64::from(lba) * SECTOR;
        let mut tail = None;
        if let Some(h) = &self.opts.hybrid {
            let bios_lba = self.bios_node.map(|n| self.placed[&n].lba);
            let efi = self.efi_node.map(|n| {
                let p = self.placed[&n];
                (p.lba, p.size)
            });
            if let (Some(_), Some(n), MbrKind::Isohybrid) =
                (&h.mbr_code, self.bios_node, h.mbr_kind)
            {
                self.check_isohybrid_capable(n)?;
            }
            let (head, tail_at, tail_bytes) = hybrid::system_area(
                &hybrid::Layout {
                    mbr_code: h.mbr_code.as_deref(),
                    mbr_kind: h.mbr_kind,
                    bios_lba,
                    efi,
                    image_size: self.size,
                },
                &self.stamp,
            )?;
            dest.write_at(0, &head)?;
            tail = Some((tail_at, tail_bytes));
        }
        dest.write_at(at(16), &self.descriptors())?;
        let (l, m, _) = self.iso_pt;
        dest.write_at(at(l), &self.path_table(false, false))?;
        dest.write_at(at(m), &self.path_table(false, true))?;
        if self.opts.joliet {
            let (l, m, _) = self.joliet_pt;
            dest.write_at(at(l), &self.path_table(true, false))?;
            dest.write_at(at(m), &self.path_table(true, true))?;
        }
        for d in &self.iso_dirs {
            dest.write_at(at(d.lba), &self.dir_bytes(false, d))?;
        }
        if self.ce_sectors > 0 {
            dest.write_at(at(self.ce_lba), &self.ce_bytes())?;
        }
        for d in &self.joliet_dirs {
            dest.write_at(at(d.lba), &self.dir_bytes(true, d))?;
        }
        if let Some((_, lba)) = self.catalog {
            dest.write_at(at(lba), &eltorito::catalog(&self.boot_entries)?)?;
        }
        progress(dest.end());
        for &(node, p) in &self.data {
            if p.size == 0 {
                continue;
            }
            let offset = at(p.lba);
            let patch = self.bios_node == Some(node)
                && self
                    .opts
                    .bios_boot
                    .as_ref()
                    .is_some_and(|b| b.boot_info_table || b.grub2_boot_info);
            let opened;
            let (file, size) = match &self.tree.nodes[node].kind {
                EntryKind::File(FileData::Bytes(b)) if patch => {
                    let mut image = b.to_vec();
                    self.patch_bios_image(&mut image, p.lba)?;
                    dest.write_at(offset, &image)?;
                    progress(dest.end());
                    continue;
                }
                EntryKind::File(FileData::Bytes(b)) => {
                    dest.write_at(offset, b)?;
                    progress(dest.end());
                    continue;
                }
                EntryKind::File(FileData::Path { path, size }) => {
                    opened = File::open(path).map_err(|e| Error::file(path, e))?;
                    (&opened, *size)
                }
                EntryKind::File(FileData::Open { file, size }) => (&**file, *size),
                _ => continue,
            };
            let now = file.metadata()?.len();
            if now != size {
                return Err(invalid_entry(
                    self.tree.path_of(node),
                    format!("changed size from {size} to {now} bytes while the image was written"),
                ));
            }
            if patch {
                let mut image = vec![0u8; size as usize];
                ReadAt::read_exact_at(file, &mut image, 0)?;
                self.patch_bios_image(&mut image, p.lba)?;
                dest.write_at(offset, &image)?;
            } else if dest.is_seekable() {
                // Holes stay holes: only the data ranges are copied.
                for r in ReadAt::data_ranges(file, 0, size)? {
                    dest.copy_range_from(offset + r.offset, file, r.offset, r.len)?;
                }
            } else {
                dest.copy_range_from(offset, file, 0, size)?;
            }
            progress(dest.end());
        }
        if let Some((tail_at, bytes)) = tail {
            dest.write_at(tail_at, &bytes)?;
        }
        dest.finish(self.size)?;
        progress(self.size);
        Ok(self.summary.clone())
    }

    /// Patches the BIOS boot image, placed at 2048-byte sector `lba`, as
    /// its options ask: GRUB's block list first, so that the boot info
    /// table's checksum covers the image as written.
    fn patch_bios_image(&self, image: &mut [u8], lba: u32) -> Result<()> {
        let Some(b) = &self.opts.bios_boot else {
            return Ok(());
        };
        if b.grub2_boot_info {
            eltorito::patch_grub2_boot_info(image, lba)?;
        }
        if b.boot_info_table {
            eltorito::patch_boot_info_table(image, lba)?;
        }
        Ok(())
    }

    /// The isohybrid MBR code jumps into isolinux.bin's hybrid entry point;
    /// an image without one would hang at boot, so it is refused here.
    fn check_isohybrid_capable(&self, node: usize) -> Result<()> {
        let mut head = [0u8; 0x44];
        match &self.tree.nodes[node].kind {
            EntryKind::File(FileData::Path { path, .. }) => {
                let f = File::open(path)?;
                ReadAt::read_exact_at(&f, &mut head, 0).ok();
            }
            EntryKind::File(FileData::Open { file, .. }) => {
                ReadAt::read_exact_at(&**file, &mut head, 0).ok();
            }
            EntryKind::File(FileData::Bytes(b)) if b.len() >= 0x44 => {
                head.copy_from_slice(&b[..0x44])
            }
            _ => {}
        }
        if get_u32_le(&head[0x40..]) != hybrid::ISOLINUX_HYBRID_MAGIC {
            return Err(OPTION.option(format!(
                "BIOS boot image {} has no isohybrid signature (0x{:08x} at byte 0x40): the MBR code cannot start it",
                self.tree.path_of(node),
                hybrid::ISOLINUX_HYBRID_MAGIC
            )));
        }
        Ok(())
    }
}

impl crate::tree::Node {
    fn kind_size(&self) -> u64 {
        match &self.kind {
            EntryKind::File(d) => d.size(),
            _ => 0,
        }
    }
}
