//! Groups and users (Image Customizer's `os.groups` and `os.users`, the
//! toolkit's `Groups` and `Users`) built as an ordinary user, in every
//! output: the account files, homes and keys compared with what
//! shadow-utils' own groupadd, useradd, usermod and chage leave in a copy
//! of the same tree, extracted and changed as root.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    add_to_system_config, customizer_config, imgconv_unprivileged, open_dir, s, toolkit_config,
};
use testkit::bootroot::{rootfs_tar, Variant};

/// The build's time under `--seed` without SOURCE_DATE_EPOCH, and its day.
const TIME: u64 = 946_684_800;
const DAY: u64 = TIME / 86_400;

/// An account file the tools edit.
const ACCOUNT_FILES: [&str; 4] = ["etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"];

/// The boot test root with what shadow-utils reads beside its account
/// files: gshadow, login.defs (Azure Linux's settings: user groups,
/// private homes), useradd's defaults, a skeleton directory (a file, a
/// directory, a link into itself), and a mail spool through a link.
fn tree(dir: &Path) -> PathBuf {
    let extra = dir.join("extra");
    let put = |path: &str, text: &str, mode: u32| {
        let file = extra.join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, text).unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
    };
    put("etc/gshadow", "root:*::\nshadow:*::\nuser:!::\n", 0o400);
    put(
        "etc/login.defs",
        "MAIL_DIR /var/spool/mail\nPASS_MAX_DAYS 99999\nPASS_MIN_DAYS 0\nPASS_WARN_AGE 7\n\
         UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\nCREATE_HOME yes\nUMASK 077\n\
         HOME_MODE 0700\nUSERGROUPS_ENAB yes\nENCRYPT_METHOD SHA512\n",
        0o644,
    );
    put(
        "etc/default/useradd",
        "GROUP=100\nHOME=/home\nINACTIVE=-1\nEXPIRE=\nSHELL=/bin/bash\nSKEL=/etc/skel\n\
         CREATE_MAIL_SPOOL=yes\n",
        0o644,
    );
    put("etc/skel/.bashrc", "alias ll='ls -l'\n", 0o644);
    put("etc/skel/.config/app.conf", "setting = 1\n", 0o600);
    std::os::unix::fs::symlink("/etc/skel/.bashrc", extra.join("etc/skel/.profile")).unwrap();
    fs::create_dir_all(extra.join("var/spool/mail")).unwrap();
    fs::set_permissions(
        extra.join("var/spool/mail"),
        fs::Permissions::from_mode(0o775),
    )
    .unwrap();
    std::os::unix::fs::symlink("spool/mail", extra.join("var/mail")).unwrap();

    let tar = dir.join("tree.tar");
    fs::copy(rootfs_tar(Variant::Grub), &tar).unwrap();
    fs::set_permissions(&tar, fs::Permissions::from_mode(0o644)).unwrap();
    let mut args: Vec<&str> = vec![
        "-rf",
        s(&tar),
        "--no-recursion",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        "-C",
        s(&extra),
    ];
    args.extend([
        "etc/gshadow",
        "etc/login.defs",
        "etc/default",
        "etc/default/useradd",
        "etc/skel",
        "etc/skel/.bashrc",
        "etc/skel/.config",
        "etc/skel/.config/app.conf",
        "etc/skel/.profile",
        "var/spool",
        "var/spool/mail",
        "var/mail",
    ]);
    testkit::run_ok("tar", &args);
    tar
}

/// `tar` extracted as root into `dir/copy`, owners kept.
fn extracted(tar: &Path, dir: &Path) -> PathBuf {
    let copy = dir.join("copy");
    fs::create_dir_all(&copy).unwrap();
    testkit::run_ok("tar", &["-xpf", s(tar), "--numeric-owner", "-C", s(&copy)]);
    copy
}

/// `/proc` bound into a tree while the tools run in it, as the toolkit's
/// and Image Customizer's chroots have it (useradd sets a copied
/// directory's mode through it); unbound when dropped.
struct Proc(PathBuf);

impl Proc {
    fn bind(root: &Path) -> Proc {
        let at = root.join("proc");
        fs::create_dir_all(&at).unwrap();
        testkit::run_ok("mount", &["--bind", "/proc", s(&at)]);
        Proc(at)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A shadow-utils tool run on `root` (`-R`) at the build's time.
fn tool(program: &str, root: &Path, args: &[&str]) {
    let out = Command::new(program)
        .arg("-R")
        .arg(root)
        .args(args)
        .env("SOURCE_DATE_EPOCH", TIME.to_string())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (the test needs shadow-utils' tools)"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What an entry of the built tree is: kind (and a link's target), mode,
/// owner, group; and a file's bytes.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    what: String,
    mode: u32,
    uid: u32,
    gid: u32,
    bytes: Vec<u8>,
}

/// Every entry of an archive by path.
fn archive(tar: &Path) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    imgbuild::Rootfs::open(tar)
        .unwrap()
        .walk(&mut |e, data| {
            let mut bytes = Vec::new();
            data.read_to_end(&mut bytes).unwrap();
            let what = match &e.kind {
                imgbuild::rootfs::EntryKind::Dir => "dir".to_string(),
                imgbuild::rootfs::EntryKind::File { .. } => "file".to_string(),
                imgbuild::rootfs::EntryKind::Symlink { target } => format!("link {target}"),
                other => format!("{other:?}"),
            };
            out.insert(
                e.path.clone(),
                Seen {
                    what,
                    mode: e.mode,
                    uid: e.uid,
                    gid: e.gid,
                    bytes,
                },
            );
            Ok(())
        })
        .unwrap();
    out
}

/// The same of a path in a directory tree.
fn on_disk(root: &Path, path: &str) -> Seen {
    let full = root.join(path);
    let m = fs::symlink_metadata(&full).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (what, bytes) = if m.file_type().is_symlink() {
        (
            format!("link {}", fs::read_link(&full).unwrap().display()),
            Vec::new(),
        )
    } else if m.is_dir() {
        ("dir".to_string(), Vec::new())
    } else {
        ("file".to_string(), fs::read(&full).unwrap())
    };
    Seen {
        what,
        mode: if m.file_type().is_symlink() {
            0o777
        } else {
            m.mode() & 0o7777
        },
        uid: m.uid(),
        gid: m.gid(),
        bytes,
    }
}

/// The built archive's entry at `path`.
fn entry<'a>(built: &'a BTreeMap<String, Seen>, path: &str) -> &'a Seen {
    built
        .get(path)
        .unwrap_or_else(|| panic!("{path} is not in the built tree"))
}

/// The root file system of a raw disk whose root partition starts at
/// `start_mib`, as a file debugfs reads.
fn root_image(disk: &Path, start_mib: u64, dir: &Path) -> PathBuf {
    let data = fs::read(disk).unwrap();
    let root = dir.join("root.img");
    fs::write(&root, &data[(start_mib << 20) as usize..]).unwrap();
    root
}

fn debugfs(image: &Path, request: &str) -> String {
    testkit::run_ok("debugfs", &["-R", request, s(image)])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The salt of a SHA-512 crypt hash, `$6$SALT$…`.
fn salt(hash: &str) -> &str {
    hash.split('$').nth(2).unwrap()
}

/// The password field of `name`'s line in a shadow file.
fn shadow_password(shadow: &str, name: &str) -> String {
    shadow
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no {name} in\n{shadow}"))
        .to_string()
}

/// SHA-512 crypt of `password` with `salt`, by openssl, as both formats
/// hash a plain password.
fn openssl_hash(password: &str, salt: &str) -> String {
    testkit::run_ok("openssl", &["passwd", "-6", "-salt", salt, password])
        .trim_end()
        .to_string()
}

#[test]
fn customizer_users_are_made_as_the_tools_make_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = open_dir(dir.path());
    let tar = tree(dir.path());
    fs::write(
        dir.path().join("alice.pub"),
        "ssh-ed25519 AAAAC3Nza alice@laptop\r\n",
    )
    .unwrap();
    let alice_hash = "$6$alicesalt$0123456789abcdef";
    let config = customizer_config(
        dir.path(),
        "accounts",
        &format!(
            "os:
  groups:
  - name: devs
  - name: ops
    gid: 2000
  users:
  - name: alice
    uid: 1500
    password: {{type: hashed, value: \"{alice_hash}\"}}
    passwordExpiresDays: 90
    sshPublicKeyPaths: [alice.pub]
    sshPublicKeys: [\"ssh-rsa AAAAB3Nza alice@desk\"]
    primaryGroup: ops
    secondaryGroups: [devs]
    startupCommand: /bin/sh
  - name: bob
    password: {{type: plain-text, value: s3cret}}
    homeDirectory: /srv/bob
    secondaryGroups: [devs, ops]
  - name: user
    passwordExpiresDays: -1
    primaryGroup: devs
    sshPublicKeys: [\"ssh-ed25519 AAAAC3Nzb user@host\"]
"
        ),
    );
    let r = imgconv_unprivileged(&[
        "build",
        s(&config),
        "--rootfs",
        s(&tar),
        "--to",
        "raw,tar",
        "--seed",
        "users",
        "--output-dir",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let built = archive(&out.join("accounts.tar"));
    let shadow = text(&entry(&built, "etc/shadow").bytes);

    // bob's plain password, hashed as openssl hashes it with its salt.
    let bob_hash = shadow_password(&shadow, "bob");
    assert_eq!(bob_hash, openssl_hash("s3cret", salt(&bob_hash)));

    // What Image Customizer runs, in the same tree as root.
    let copy = extracted(&tar, dir.path());
    let proc = Proc::bind(&copy);
    tool("groupadd", &copy, &["devs"]);
    tool("groupadd", &copy, &["-g", "2000", "ops"]);
    tool(
        "useradd",
        &copy,
        &["alice", "-m", "-p", alice_hash, "-u", "1500", "-g", "ops"],
    );
    tool("chage", &copy, &["-E", &(DAY + 90).to_string(), "alice"]);
    tool("usermod", &copy, &["-a", "-G", "devs", "alice"]);
    tool("usermod", &copy, &["-s", "/bin/sh", "alice"]);
    tool(
        "useradd",
        &copy,
        &["bob", "-m", "-p", &bob_hash, "-d", "/srv/bob"],
    );
    tool("usermod", &copy, &["-a", "-G", "devs,ops", "bob"]);
    tool(
        "chage",
        &copy,
        &["-M", "-1", "-W", "-1", "-I", "-1", "-E", "-1", "user"],
    );
    tool("usermod", &copy, &["-g", "devs", "user"]);
    drop(proc);

    for path in ACCOUNT_FILES {
        assert_eq!(
            text(&entry(&built, path).bytes),
            text(&fs::read(copy.join(path)).unwrap()),
            "{path}"
        );
    }
    let passwd = text(&entry(&built, "etc/passwd").bytes);
    assert!(
        passwd.contains("alice:x:1500:2000::/home/alice:/bin/sh\n"),
        "{passwd}"
    );
    assert!(passwd.contains("user:x:1000:1001:"), "{passwd}");

    // Homes, the skeleton in them, mailboxes (through /var/mail's link),
    // and the existing user's files moved to the new group.
    for path in [
        "home/alice",
        "home/alice/.bashrc",
        "home/alice/.config",
        "home/alice/.config/app.conf",
        "home/alice/.profile",
        "srv",
        "srv/bob",
        "srv/bob/.bashrc",
        "var/spool/mail/alice",
        "var/spool/mail/bob",
        "home/user",
        "home/user/notes.txt",
    ] {
        assert_eq!(*entry(&built, path), on_disk(&copy, path), "{path}");
    }
    assert_eq!(
        entry(&built, "home/alice/.profile").what,
        "link /home/alice/.bashrc"
    );
    assert_eq!(entry(&built, "home/alice").mode, 0o700);

    // ~/.ssh as Image Customizer writes it: the user's, 0700 and 0600, the
    // key file's lines without their carriage returns.
    let keys = |home: &str, uid: u32, gid: u32, lines: &str| {
        let ssh = entry(&built, &format!("{home}/.ssh"));
        assert_eq!(
            (ssh.what.as_str(), ssh.mode, ssh.uid, ssh.gid),
            ("dir", 0o700, uid, gid)
        );
        let file = entry(&built, &format!("{home}/.ssh/authorized_keys"));
        assert_eq!((file.mode, file.uid, file.gid), (0o600, uid, gid));
        assert_eq!(text(&file.bytes), lines);
    };
    keys(
        "home/alice",
        1500,
        2000,
        "ssh-ed25519 AAAAC3Nza alice@laptop\nssh-rsa AAAAB3Nza alice@desk\n",
    );
    keys("home/user", 1000, 1001, "ssh-ed25519 AAAAC3Nzb user@host\n");

    // The disk holds the same.
    let root = root_image(&out.join("accounts.raw"), 97, dir.path());
    assert_eq!(
        debugfs(&root, "cat /etc/passwd"),
        text(&fs::read(copy.join("etc/passwd")).unwrap())
    );
    assert_eq!(
        debugfs(&root, "cat /home/alice/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAC3Nza alice@laptop\nssh-rsa AAAAB3Nza alice@desk\n"
    );
    let stat = debugfs(&root, "stat /home/alice/.ssh/authorized_keys");
    assert!(stat.contains("Mode:  0600"), "{stat}");
    assert!(stat.contains("User:  1500   Group:  2000"), "{stat}");
    let stat = debugfs(&root, "stat /home/alice/.ssh");
    assert!(stat.contains("Mode:  0700"), "{stat}");
    assert!(stat.contains("User:  1500   Group:  2000"), "{stat}");
    let stat = debugfs(&root, "stat /home/user/notes.txt");
    assert!(stat.contains("User:  1000   Group:  1001"), "{stat}");
    testkit::run_ok("e2fsck", &["-fn", s(&root)]);
}

#[test]
fn toolkit_users_are_made_as_the_toolkit_makes_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = open_dir(dir.path());
    let tar = tree(dir.path());
    fs::create_dir(dir.path().join("keys")).unwrap();
    fs::write(
        dir.path().join("keys/carol.pub"),
        "ssh-ed25519 AAAAC3Nzc carol@host\n",
    )
    .unwrap();
    let config = toolkit_config(dir.path(), "tk", "efi", false, 97, "ext4", 200);
    let root_hash = "$6$rootsalt$abcdef";
    add_to_system_config(
        &config,
        &format!(
            r#""Groups": [{{"Name": "devs", "GID": "3000"}}],
            "Users": [
              {{"Name": "carol", "UID": "1600", "Password": "pw", "PasswordExpiresDays": 30,
                "SSHPubKeyPaths": ["keys/carol.pub"], "SSHPubKeys": ["ssh-rsa AAAAB3Nzc carol@b"],
                "PrimaryGroup": "devs", "SecondaryGroups": ["user"],
                "HomeDirectory": "/home/carol", "StartupCommand": "/bin/sh"}},
              {{"Name": "root", "PasswordHashed": true, "Password": "{root_hash}"}}
            ],"#
        ),
    );
    let r = imgconv_unprivileged(&[
        "build",
        s(&config),
        "--rootfs",
        s(&tar),
        "--to",
        "raw,tar",
        "--seed",
        "users",
        "--output-dir",
        s(&out),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let built = archive(&out.join("tk.tar"));
    let carol_hash = shadow_password(&text(&entry(&built, "etc/shadow").bytes), "carol");
    assert_eq!(carol_hash, openssl_hash("pw", salt(&carol_hash)));

    // What the toolkit runs, in the same tree as root; root's password
    // replaced in /etc/shadow as its UpdateUserPassword replaces it.
    let copy = extracted(&tar, dir.path());
    let proc = Proc::bind(&copy);
    tool("groupadd", &copy, &["devs", "-g", "3000"]);
    tool(
        "useradd",
        &copy,
        &[
            "carol",
            "-m",
            "-p",
            &carol_hash,
            "-u",
            "1600",
            "-d",
            "/home/carol",
            "-g",
            "devs",
        ],
    );
    tool("chage", &copy, &["-E", &(DAY + 30).to_string(), "carol"]);
    tool("usermod", &copy, &["-a", "-G", "user", "carol"]);
    tool("usermod", &copy, &["-s", "/bin/sh", "carol"]);
    drop(proc);
    let shadow = fs::read_to_string(copy.join("etc/shadow")).unwrap();
    let old = shadow_password(&shadow, "root");
    fs::write(
        copy.join("etc/shadow"),
        shadow.replacen(&format!("root:{old}:"), &format!("root:{root_hash}:"), 1),
    )
    .unwrap();

    for path in ACCOUNT_FILES {
        assert_eq!(
            text(&entry(&built, path).bytes),
            text(&fs::read(copy.join(path)).unwrap()),
            "{path}"
        );
    }
    for path in [
        "home/carol",
        "home/carol/.bashrc",
        "home/carol/.config",
        "var/spool/mail/carol",
    ] {
        assert_eq!(*entry(&built, path), on_disk(&copy, path), "{path}");
    }
    // The toolkit's ~/.ssh: the key file copied in, authorized_keys, all
    // carol's and her group's, 0700.
    for (path, bytes) in [
        ("home/carol/.ssh", ""),
        (
            "home/carol/.ssh/carol.pub",
            "ssh-ed25519 AAAAC3Nzc carol@host\n",
        ),
        (
            "home/carol/.ssh/authorized_keys",
            "ssh-ed25519 AAAAC3Nzc carol@host\nssh-rsa AAAAB3Nzc carol@b\n",
        ),
    ] {
        let e = entry(&built, path);
        assert_eq!((e.mode, e.uid, e.gid), (0o700, 1600, 3000), "{path}");
        assert_eq!(text(&e.bytes), bytes, "{path}");
    }

    let root = root_image(&out.join("tk.raw"), 97, dir.path());
    assert_eq!(
        debugfs(&root, "cat /etc/passwd"),
        text(&fs::read(copy.join("etc/passwd")).unwrap())
    );
    let stat = debugfs(&root, "stat /home/carol/.ssh/authorized_keys");
    assert!(stat.contains("Mode:  0700"), "{stat}");
    assert!(stat.contains("User:  1600   Group:  3000"), "{stat}");
    testkit::run_ok("e2fsck", &["-fn", s(&root)]);
}

#[test]
fn a_user_the_tree_cannot_hold_stops_the_build_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let out = open_dir(dir.path());
    let tar = tree(dir.path());
    let config = toolkit_config(dir.path(), "clash", "efi", false, 97, "ext4", 200);
    // The tree has `user`: the toolkit's useradd fails on it.
    add_to_system_config(&config, r#""Users": [{"Name": "user"}],"#);
    let r = imgconv_unprivileged(&[
        "build",
        s(&config),
        "--rootfs",
        s(&tar),
        "--to",
        "tar",
        "--output-dir",
        s(&out),
    ]);
    assert!(!r.status.success());
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("SystemConfigs[0].Users[0]"), "{stderr}");
    assert!(stderr.contains("the user exists"), "{stderr}");
    assert!(!out.join("clash.tar").exists());
}
