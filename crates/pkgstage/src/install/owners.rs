//! Ownership changes scriptlets make, recorded rather than made.
//!
//! The sandbox's user namespace has one id, root (an ordinary user has no
//! other to map, and giving root a different one than an ordinary user
//! would make their trees differ). A real `chown kube:kube /var/lib/kube`
//! in a `%post` would fail there. Instead every process in the sandbox
//! runs under a seccomp filter that hands its `chown`, `fchown`, `lchown`
//! and `fchownat` calls to this process (seccomp user notification, Linux
//! 5.0): the call's target is resolved as the caller would resolve it,
//! the new owner is recorded against that inode, and the call succeeds.
//! When the tree is read back, an inode with a recorded owner gets it, so
//! the result is what rpm, running the same scriptlet as real root, gives.
//!
//! As the kernel does for root, a change of owner takes the set-user-ID
//! bit (and a set-group-ID bit with group execute) off a regular file.
//! Inside the sandbox `stat` still shows root as the owner.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use rustix::fs::{Mode, OFlags};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

/// An owner a scriptlet gave an inode: each id `None` where it was left
/// as it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Owner {
    pub(super) uid: Option<u32>,
    pub(super) gid: Option<u32>,
}

/// An inode's birth time (so that a number reused by a later file is not
/// taken for the one recorded), where the file system keeps it.
type Born = Option<(i64, u32)>;

/// An inode: device, number and birth time.
type Inode = (u64, u64, Born);

/// The owners scriptlets gave, by inode.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    given: RefCell<HashMap<(u64, u64), (Born, Owner)>>,
}

impl Owners {
    /// Records `owner` for the inode `fd` refers to (an `O_PATH`
    /// descriptor will do). As `chown(2)` does to a regular file whatever
    /// the ids, takes its set-user-ID bit (and set-group-ID with group
    /// execute) and its file capabilities off; its change time moves, so
    /// the tree read back takes what the file now has.
    pub(super) fn give(&self, fd: BorrowedFd<'_>, owner: Owner) -> io::Result<()> {
        let (dev, ino, born) = inode(fd)?;
        let mode = rustix::fs::fstat(fd)?.st_mode;
        if mode & 0o170000 == 0o100000 {
            let mut clear = 0o4000;
            if mode & 0o010 != 0 {
                clear |= 0o2000;
            }
            let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
            match rustix::fs::removexattr(link.as_str(), "security.capability") {
                // None there, or none this process could have put there.
                Err(rustix::io::Errno::NODATA | rustix::io::Errno::PERM) | Ok(()) => {}
                Err(rustix::io::Errno::OPNOTSUPP) => {}
                Err(e) => return Err(e.into()),
            }
            rustix::fs::chmod(link.as_str(), Mode::from_raw_mode(mode & 0o7777 & !clear))?;
        }
        let none = Owner {
            uid: None,
            gid: None,
        };
        let mut given = self.given.borrow_mut();
        let slot = given.entry((dev, ino)).or_insert((born, none));
        if slot.0 != born {
            // A later file at a number a removed one had.
            *slot = (born, none);
        }
        slot.1.uid = owner.uid.or(slot.1.uid);
        slot.1.gid = owner.gid.or(slot.1.gid);
        Ok(())
    }

    /// The owner given to the inode with this device, number and birth
    /// time, if any.
    pub(super) fn given(&self, dev: u64, ino: u64, born: Born) -> Option<Owner> {
        self.given
            .borrow()
            .get(&(dev, ino))
            .filter(|(b, _)| *b == born)
            .map(|(_, o)| *o)
    }

    /// Whether any owner was given at all.
    pub(super) fn is_empty(&self) -> bool {
        self.given.borrow().is_empty()
    }
}

/// The device, number and birth time of the inode `fd` refers to.
pub(super) fn inode(fd: BorrowedFd<'_>) -> io::Result<Inode> {
    use rustix::fs::{AtFlags, StatxFlags};
    let st = rustix::fs::statx(
        fd,
        "",
        AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS | StatxFlags::BTIME,
    )?;
    let dev = rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor);
    let born = (st.stx_mask & StatxFlags::BTIME.bits() != 0)
        .then_some((st.stx_btime.tv_sec, st.stx_btime.tv_nsec));
    Ok((dev, st.stx_ino, born))
}

/// The system calls handed over, with where their arguments are.
#[derive(Clone, Copy)]
enum Call {
    /// `chown(path, uid, gid)` (`follow`) or `lchown`.
    Path { follow: bool },
    /// `fchown(fd, uid, gid)`.
    Fd,
    /// `fchownat(dirfd, path, uid, gid, flags)`.
    At,
}

#[cfg(target_arch = "x86_64")]
const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "x86_64")]
const CALLS: &[(i64, Call)] = &[
    (libc::SYS_chown, Call::Path { follow: true }),
    (libc::SYS_lchown, Call::Path { follow: false }),
    (libc::SYS_fchown, Call::Fd),
    (libc::SYS_fchownat, Call::At),
];
#[cfg(target_arch = "aarch64")]
const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
#[cfg(target_arch = "aarch64")]
const CALLS: &[(i64, Call)] = &[(libc::SYS_fchown, Call::Fd), (libc::SYS_fchownat, Call::At)];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH: u32 = 0;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const CALLS: &[(i64, Call)] = &[];

/// The filter: the calls above to the listener, everything else allowed.
fn filter() -> Vec<libc::sock_filter> {
    let op = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let ret = libc::BPF_RET | libc::BPF_K;
    let n = CALLS.len() as u8;
    // seccomp_data: nr at 0, arch at 4.
    let mut prog = vec![
        op(load, 4, 0, 0),
        op(jeq, ARCH, 0, n + 1),
        op(load, 0, 0, 0),
    ];
    for (i, (nr, _)) in CALLS.iter().enumerate() {
        // To the last instruction (notify) on a match.
        prog.push(op(jeq, *nr as u32, n - i as u8, 0));
    }
    prog.push(op(ret, libc::SECCOMP_RET_ALLOW, 0, 0));
    prog.push(op(ret, libc::SECCOMP_RET_USER_NOTIF, 0, 0));
    prog
}

/// The receiving end for the listener a child about to run sends.
pub(super) struct Pending {
    socket: OwnedFd,
}

/// Puts `cmd`'s process (and so every process it starts) under the
/// filter; [`Pending::listen`] after spawning gets its listener. `None`
/// where this architecture's calls are not known.
pub(super) fn arm(cmd: &mut Command) -> io::Result<Option<Pending>> {
    if CALLS.is_empty() {
        return Ok(None);
    }
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let prog = filter();
    // SAFETY: the hook runs in the child between fork and exec; it only
    // makes system calls (prctl, seccomp, sendmsg, close) on memory made
    // before the fork, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            rustix::thread::set_no_new_privs(true)?;
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_ptr().cast_mut(),
            };
            let fd = libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                &fprog as *const libc::sock_fprog,
            );
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let listener = OwnedFd::from_raw_fd(fd as i32);
            let fds = [listener.as_fd()];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            control.push(SendAncillaryMessage::ScmRights(&fds));
            rustix::net::sendmsg(
                &theirs,
                &[io::IoSlice::new(b"l")],
                &mut control,
                SendFlags::empty(),
            )?;
            Ok(())
        });
    }
    Ok(Some(Pending { socket: ours }))
}

impl Pending {
    /// The listener the spawned child sent.
    pub(super) fn listen(self) -> io::Result<Listener> {
        let mut byte = [0u8; 1];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        rustix::net::recvmsg(
            &self.socket,
            &mut [io::IoSliceMut::new(&mut byte)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = message {
                if let Some(fd) = fds.next() {
                    return Ok(Listener { fd, open: true });
                }
            }
        }
        Err(io::Error::other(
            "the sandbox's process sent no seccomp listener",
        ))
    }
}

/// The listener of one sandbox's filter.
pub(super) struct Listener {
    fd: OwnedFd,
    /// False once no process under the filter is left.
    open: bool,
}

impl Listener {
    /// Serves the calls that arrive within `wait`: true if there were any.
    pub(super) fn serve(&mut self, owners: &Owners, wait: Duration) -> bool {
        if !self.open {
            std::thread::sleep(wait);
            return false;
        }
        use rustix::event::{PollFd, PollFlags};
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        let timeout = rustix::event::Timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        let ready = fds[0].revents();
        if ready.contains(PollFlags::IN) {
            self.one(owners);
            return true;
        }
        if ready.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
            self.open = false;
        }
        false
    }

    /// Receives one call and answers it.
    fn one(&mut self, owners: &Owners) {
        // SAFETY: both structures are plain data the kernel fills in or
        // reads, of the sizes these requests take; the receiving one is
        // zeroed first, as the kernel requires.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        let got = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV as _,
                &mut req as *mut libc::seccomp_notif,
            )
        };
        if got < 0 {
            // The caller died before it was received (ENOENT), or an
            // interruption: nothing to answer.
            return;
        }
        let result = self.handle(&req, owners);
        let mut resp = libc::seccomp_notif_resp {
            id: req.id,
            val: 0,
            error: match &result {
                Ok(()) => 0,
                Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
            },
            flags: 0,
        };
        // SAFETY: as above. A caller gone meanwhile is ENOENT: ignored.
        unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND as _,
                &mut resp as *mut libc::seccomp_notif_resp,
            );
        }
    }

    /// Whether the call `id` still waits for its answer (so what was read
    /// of its process was its own).
    fn valid(&self, id: u64) -> bool {
        let mut id = id;
        // SAFETY: the request reads one u64.
        unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _,
                &mut id as *mut u64,
            ) == 0
        }
    }

    /// Resolves a call's target as its process would and records the
    /// owner it asks for.
    fn handle(&self, req: &libc::seccomp_notif, owners: &Owners) -> io::Result<()> {
        let nr = i64::from(req.data.nr);
        let Some((_, call)) = CALLS.iter().find(|(n, _)| *n == nr) else {
            return Err(io::Error::from_raw_os_error(libc::ENOSYS));
        };
        let a = req.data.args;
        let id = |v: u64| Some(v as u32).filter(|v| *v != u32::MAX);
        let proc = format!("/proc/{}", req.pid);
        let (target, owner) = match *call {
            Call::Fd => (
                open_proc(&format!("{proc}/fd/{}", a[0] as i32), true)?,
                Owner {
                    uid: id(a[1]),
                    gid: id(a[2]),
                },
            ),
            Call::Path { follow } => {
                let path = read_path(&proc, a[0])?;
                (
                    resolve(&proc, libc::AT_FDCWD, &path, follow)?,
                    Owner {
                        uid: id(a[1]),
                        gid: id(a[2]),
                    },
                )
            }
            Call::At => {
                let flags = a[4] as i32;
                let path = read_path(&proc, a[1])?;
                let dirfd = a[0] as i32;
                let target = if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
                    if dirfd == libc::AT_FDCWD {
                        open_proc(&format!("{proc}/cwd"), true)?
                    } else {
                        open_proc(&format!("{proc}/fd/{dirfd}"), true)?
                    }
                } else {
                    resolve(&proc, dirfd, &path, flags & libc::AT_SYMLINK_NOFOLLOW == 0)?
                };
                (
                    target,
                    Owner {
                        uid: id(a[2]),
                        gid: id(a[3]),
                    },
                )
            }
        };
        if !self.valid(req.id) {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        owners.give(target.as_fd(), owner)
    }
}

/// Opens a `/proc` link (a process's descriptor, directory or root) as
/// what it refers to.
fn open_proc(link: &str, follow: bool) -> io::Result<OwnedFd> {
    let mut flags = OFlags::PATH | OFlags::CLOEXEC;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    Ok(rustix::fs::open(link, flags, Mode::empty())?)
}

/// The file `path` names for the process at `proc`, relative to its
/// descriptor `dirfd` (or its working directory); a symlink at the end
/// followed when `follow`.
///
/// Resolved a component at a time inside the process's root, as its own
/// call would resolve it: `..` stops at the root and an absolute symlink
/// starts again from it, so no path leads to a file outside the tree.
fn resolve(proc: &str, dirfd: i32, path: &[u8], follow: bool) -> io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let fail = |errno| Err(io::Error::from_raw_os_error(errno));
    if path.is_empty() {
        return fail(libc::ENOENT);
    }
    let root = || open_proc(&format!("{proc}/root"), true);
    let same = |a: &OwnedFd, b: &OwnedFd| -> io::Result<bool> {
        let (a, b) = (rustix::fs::fstat(a)?, rustix::fs::fstat(b)?);
        Ok((a.st_dev, a.st_ino) == (b.st_dev, b.st_ino))
    };
    let parts = |p: &[u8]| -> Vec<Vec<u8>> {
        p.split(|b| *b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .map(<[u8]>::to_vec)
            .collect()
    };
    // `name/` names a directory, through a symlink too.
    let (follow, dir_only) = if path.ends_with(b"/") {
        (true, true)
    } else {
        (follow, false)
    };
    let top = root()?;
    let mut at = if path.starts_with(b"/") {
        root()?
    } else if dirfd == libc::AT_FDCWD {
        open_proc(&format!("{proc}/cwd"), true)?
    } else {
        open_proc(&format!("{proc}/fd/{dirfd}"), true)?
    };
    let mut todo: std::collections::VecDeque<Vec<u8>> = parts(path).into();
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        let name = std::ffi::OsStr::from_bytes(&name);
        let dir = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if name == ".." {
            if !same(&at, &top)? {
                at = rustix::fs::openat(&at, "..", dir, Mode::empty())?;
            }
            continue;
        }
        let next = rustix::fs::openat(
            &at,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let kind = rustix::fs::fstat(&next)?.st_mode & 0o170000;
        if kind == 0o120000 && (follow || !todo.is_empty()) {
            links += 1;
            if links > 40 {
                return fail(libc::ELOOP);
            }
            let target = rustix::fs::readlinkat(&next, "", Vec::new())?;
            let target = target.as_bytes();
            if target.starts_with(b"/") {
                at = root()?;
            }
            for part in parts(target).into_iter().rev() {
                todo.push_front(part);
            }
            continue;
        }
        if !todo.is_empty() && kind != 0o040000 {
            return fail(libc::ENOTDIR);
        }
        at = next;
    }
    if dir_only && rustix::fs::fstat(&at)?.st_mode & 0o170000 != 0o040000 {
        return fail(libc::ENOTDIR);
    }
    Ok(at)
}

/// The NUL-terminated path at `addr` in the process's memory (at most
/// `PATH_MAX` bytes).
fn read_path(proc: &str, addr: u64) -> io::Result<Vec<u8>> {
    let mem = File::open(format!("{proc}/mem"))?;
    let mut path = Vec::new();
    let mut at = addr;
    while path.len() < libc::PATH_MAX as usize {
        // A page at a time: the string may end just before unmapped memory.
        let room = 4096 - (at % 4096) as usize;
        let mut chunk = vec![0u8; room];
        let n = mem.read_at(&mut chunk, at)?;
        if n == 0 {
            return Err(io::Error::from_raw_os_error(libc::EFAULT));
        }
        if let Some(end) = chunk[..n].iter().position(|b| *b == 0) {
            path.extend_from_slice(&chunk[..end]);
            return Ok(path);
        }
        path.extend_from_slice(&chunk[..n]);
        at += n as u64;
    }
    Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG))
}

/// Whether ownership changes can be recorded here: a process put under
/// the filter runs and sends its listener. Found out once.
pub(super) fn available() -> Result<(), String> {
    static FOUND: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            if CALLS.is_empty() {
                return Err(format!(
                    "not known for {} processors",
                    std::env::consts::ARCH
                ));
            }
            let mut cmd = blocksink::tool::Tool::new("true")
                .stdin(std::process::Stdio::null())
                .command()
                .map_err(|e| e.to_string())?;
            let pending = arm(&mut cmd)
                .map_err(|e| e.to_string())?
                .ok_or("not known")?;
            let mut child = cmd.spawn().map_err(|e| e.to_string())?;
            drop(cmd);
            let listened = pending.listen();
            let _ = child.wait();
            listened.map(drop).map_err(|e| e.to_string())
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    /// The inode of `path` (not following a symlink), as `given` takes it.
    fn given(owners: &Owners, path: &std::path::Path) -> Option<Owner> {
        let fd = rustix::fs::open(path, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty()).unwrap();
        let (dev, ino, born) = inode(fd.as_fd()).unwrap();
        owners.given(dev, ino, born)
    }

    /// Runs `script` with busybox's shell in a sandbox whose root is
    /// `tree`, serving its ownership changes into `owners`.
    fn sandboxed(tree: &std::path::Path, script: &str, owners: &Owners) -> (bool, String) {
        let mut cmd = blocksink::tool::Tool::new("bwrap")
            .args(super::super::scripts::SANDBOX)
            .arg("--bind")
            .arg(tree)
            .args(["/", "--proc", "/proc", "--", "/bin/sh", "-c", script])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .command()
            .unwrap();
        let pending = arm(&mut cmd).unwrap().unwrap();
        let mut child = cmd.spawn().unwrap();
        drop(cmd);
        let mut listener = pending.listen().unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            listener.serve(owners, Duration::from_millis(5));
        };
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut out).unwrap();
        (status.success(), out)
    }

    #[test]
    fn chown_in_a_sandbox_is_recorded_and_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let t = &dir.path().join("tree");
        std::fs::create_dir_all(t.join("bin")).unwrap();
        std::fs::copy(testkit::bootroot::static_busybox(), t.join("bin/busybox")).unwrap();
        for tool in ["sh", "chown", "ln", "cd"] {
            std::os::unix::fs::symlink("busybox", t.join("bin").join(tool)).unwrap();
        }
        std::fs::create_dir_all(t.join("d/e")).unwrap();
        std::fs::write(t.join("d/e/f"), "x").unwrap();
        std::fs::write(t.join("suid"), "x").unwrap();
        std::fs::set_permissions(t.join("suid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("d/e/f", t.join("link")).unwrap();
        std::os::unix::fs::symlink("/d/e", t.join("d/abs")).unwrap();
        std::os::unix::fs::symlink("d/e", t.join("dirlink")).unwrap();
        std::fs::write(t.join("plain"), "x").unwrap();
        // A file with a capability (cap_net_raw, revision 2).
        let capped = t.join("capped");
        std::fs::write(&capped, "x").unwrap();
        let mut cap = vec![0u8; 20];
        cap[..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
        cap[4..8].copy_from_slice(&(1u32 << 13).to_le_bytes());
        rustix::fs::setxattr(
            &capped,
            "security.capability",
            &cap,
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let owners = Owners::default();
        let (ok, out) = sandboxed(
            t,
            "set -e; cd /d; chown 5:6 /plain; chown -R 7:8 /d; chown -h 9:13 ../link; \
             chown 0:10 /suid; chown 0:0 abs/f; chown 11:12 abs/../../plain; \
             chown -h 3:3 /dirlink/; chown 1:1 /capped; echo done",
            &owners,
        );
        assert!(ok, "{out}");
        assert_eq!(out, "done\n");
        let o = |uid, gid| Some(Owner { uid, gid });
        // `abs/..` is /d, its parent /.
        assert_eq!(given(&owners, &t.join("plain")), o(Some(11), Some(12)));
        assert_eq!(given(&owners, &t.join("d")), o(Some(7), Some(8)));
        // Through the symlink a trailing slash follows.
        assert_eq!(given(&owners, &t.join("d/e")), o(Some(3), Some(3)));
        assert_eq!(given(&owners, &t.join("dirlink")), None);
        // A new owner takes file capabilities off.
        assert!(rustix::fs::getxattr(&capped, "security.capability", &mut [0u8; 64]).is_err());
        // Given to 7:8, then to root through an absolute symlink.
        assert_eq!(given(&owners, &t.join("d/e/f")), o(Some(0), Some(0)));
        assert_eq!(given(&owners, &t.join("link")), o(Some(9), Some(13)));
        assert_eq!(given(&owners, &t.join("suid")), o(Some(0), Some(10)));
        let mode = std::fs::metadata(t.join("suid")).unwrap().mode();
        assert_eq!(mode & 0o7777, 0o755, "a new group takes set-user-ID off");
        // Nothing really changed hands.
        assert_eq!(
            std::fs::metadata(t.join("plain")).unwrap().uid(),
            std::fs::metadata(t).unwrap().uid()
        );
    }

    #[test]
    fn no_path_leads_out_of_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        let t = &dir.path().join("tree");
        std::fs::create_dir_all(t.join("bin")).unwrap();
        std::fs::copy(testkit::bootroot::static_busybox(), t.join("bin/busybox")).unwrap();
        for tool in ["sh", "chown", "ln"] {
            std::os::unix::fs::symlink("busybox", t.join("bin").join(tool)).unwrap();
        }
        // A set-user-ID file outside the tree, named by the host's path,
        // and one at the same path inside it.
        let outside = dir.path().join("outside");
        let host = outside.to_str().unwrap();
        let inside = t.join(host.trim_start_matches('/'));
        std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
        for f in [&outside, &inside] {
            std::fs::write(f, "x").unwrap();
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o4755)).unwrap();
        }
        let owners = Owners::default();
        let script = format!(
            "ln -s {host} /abs; ln -s ../../../../../../../../{host} /rel; cd /; \
             chown 5:5 abs; chown 5:5 rel; chown 5:5 ../../../../..{host}; chown 5:5 {host}; \
             chown 5:5 /proc/1/root{host}; echo end"
        );
        let (ok, out) = sandboxed(t, &script, &owners);
        assert!(ok && out == "end\n", "{out}");
        // Each was the file inside.
        let meta = std::fs::metadata(&outside).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o4755);
        let meta = std::fs::metadata(&inside).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o755);
        assert_eq!(
            given(&owners, &inside),
            Some(Owner {
                uid: Some(5),
                gid: Some(5)
            })
        );
        assert!(given(&owners, &outside).is_none());
    }
}
