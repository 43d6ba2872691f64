//! Package scriptlets run by `imgconv rootfs` in an unprivileged sandbox:
//! what they leave in the tree is what rpm's own install (as root, in a
//! chroot) leaves; the same as nobody; skipped and failing ones reported.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{imgconv, open_dir, rpmbuild_into, s, toolkit_config};
use testkit::rpms::{build_rpm, createrepo, PackageSpec};
use testkit::run_ok;

/// A `%filetriggerin` and a `%transfiletriggerin` package, which the rpm
/// crate cannot build: made with rpmbuild.
fn trigger_package(repo: &Path, work: &Path) {
    let spec = work.join("trig.spec");
    fs::write(
        &spec,
        "Name: trig\nVersion: 1\nRelease: 1\nSummary: file triggers\nLicense: MIT\n\
         BuildArch: noarch\nRequires(pre): /bin/sh\nRequires: lib\n\
         %description\nFile triggers.\n\
         %install\nmkdir -p %{buildroot}/usr/share/trig\n\
         echo own > %{buildroot}/usr/share/trig/own\n\
         %files\n/usr/share/trig/own\n\
         %post -p <lua>\n\
         local f = io.open('/etc/trig.log', 'a') f:write('post ', arg[2], '\\n') f:close()\n\
         %posttrans -p /bin/sh\n\
         %filetriggerin -- /usr/lib64\n\
         while read f; do echo \"in $1 $f\" >> /etc/trig.log; done\n\
         %transfiletriggerin -- /usr/lib64 /usr/share/trig\n\
         while read f; do echo \"trans $1 $f\" >> /etc/trig.log; done\n",
    )
    .unwrap();
    rpmbuild_into(repo, work, &spec, "trig-1-1.noarch.rpm");
}

/// Package triggers (`%triggerprein`, `%triggerin`), made with rpmbuild:
/// watcher's own on svc (installed before it) and on zz-late (after it),
/// one whose version range nothing installed is in.
fn watcher_package(repo: &Path, work: &Path) {
    let spec = work.join("watcher.spec");
    fs::write(
        &spec,
        "Name: watcher\nVersion: 1\nRelease: 1\nSummary: package triggers\nLicense: MIT\n\
         BuildArch: noarch\nRequires(pre): /bin/sh\nRequires: svc\n\
         %description\nPackage triggers.\n%files\n\
         %triggerin -- svc\necho \"watcher in svc $1 $2\" >> /etc/watcher.log\n\
         %triggerprein -- zz-late\necho \"watcher prein zz-late $1 $2\" >> /etc/watcher.log\n\
         %triggerin -- zz-late\necho \"watcher in zz-late $1 $2\" >> /etc/watcher.log\n\
         %triggerin -- base > 5\necho never >> /etc/watcher.log\n",
    )
    .unwrap();
    rpmbuild_into(repo, work, &spec, "watcher-1-1.noarch.rpm");
}

/// base (a shell, passwd and group), svc (a %pre adding its user, a file
/// owned by it, a %post writing a file), lib (a %posttrans), trig (file
/// triggers), broken-pre, broken-post and lua (refused unless skipped).
fn repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    fs::create_dir_all(&repo).unwrap();
    let busybox = fs::read(testkit::bootroot::static_busybox()).unwrap();
    let specs = [
        PackageSpec::new("base", "1", "1")
            .arch("noarch")
            .dir("/etc", 0o755)
            .dir("/usr", 0o755)
            .dir("/usr/bin", 0o755)
            .dir("/usr/lib64", 0o755)
            .dir("/var", 0o755)
            .dir("/var/lib", 0o755)
            .dir("/var/tmp", 0o1777)
            .dir("/tmp", 0o1777)
            .symlink("/bin", "usr/bin")
            .file("/usr/bin/sh", 0o755, busybox)
            .symlink("/usr/bin/chmod", "sh")
            .symlink("/usr/bin/cp", "sh")
            .symlink("/usr/bin/mv", "sh")
            .symlink("/usr/bin/sleep", "sh")
            .symlink("/usr/bin/cat", "sh")
            .symlink("/usr/bin/chown", "sh")
            .symlink("/usr/bin/mkdir", "sh")
            .file("/etc/shadow", 0o000, "root:*::0:::::\n")
            .file("/etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\n")
            .file("/etc/group", 0o644, "root:x:0:\n")
            .provides("/bin/sh"),
        PackageSpec::new("svc", "1", "1")
            .requires_pre("/bin/sh")
            .requires("base")
            .file_owned("/var/lib/svc.state", 0o640, "svc", "svc", "state\n")
            .file("/var/lib/svc.log", 0o640, "log\n")
            .file("/usr/bin/svc-helper", 0o4755, "helper\n")
            .pre(
                "echo 'svc:x:990:990::/:/sbin/nologin' >> /etc/passwd\n\
                 echo 'svc:x:990:' >> /etc/group\necho \"adding svc ($1)\"\n\
                 cp -p /etc/shadow /etc/shadow+\n\
                 echo 'svc:!::0:::::' >> /etc/shadow+\nmv /etc/shadow+ /etc/shadow\n",
            )
            .post(
                "echo \"post ran $1\" > /etc/svc.installed\nchmod 600 /etc/svc.installed\n\
                 echo secret > /etc/locked\nchmod 000 /etc/locked\n\
                 mkdir -p /var/lib/svc/data\necho d > /var/lib/svc/data/f\n\
                 chown -R svc:svc /var/lib/svc\nchown 990 /var/lib/svc.log\n\
                 chown root:svc /usr/bin/svc-helper\n",
            ),
        PackageSpec::new("lib", "1", "1")
            .requires_pre("/bin/sh")
            .requires("svc")
            .file("/usr/lib64/libx.so.1", 0o755, "lib\n")
            .posttrans("echo \"posttrans $1\" > /etc/lib.posttrans\n"),
        // A multilib pair: rpm's first argument counts both.
        PackageSpec::new("pair", "1", "1")
            .requires_pre("/bin/sh")
            .post("echo \"post $1\" >> /etc/pair.log\n")
            .posttrans("echo \"posttrans $1\" >> /etc/pair.log\n"),
        PackageSpec::new("pair", "1", "1")
            .arch("i686")
            .requires_pre("/bin/sh")
            .post("echo \"post $1\" >> /etc/pair.log\n")
            .posttrans("echo \"posttrans $1\" >> /etc/pair.log\n"),
        PackageSpec::new("zz-late", "1", "1")
            .requires("watcher")
            .file("/etc/zz-late", 0o644, "late\n"),
        PackageSpec::new("broken-pre", "1", "1")
            .requires_pre("/bin/sh")
            .requires("base")
            .file("/etc/broken-pre", 0o644, "x\n")
            .pre("echo 'cannot go on' >&2\nexit 3\n"),
        PackageSpec::new("broken-post", "1", "1")
            .requires_pre("/bin/sh")
            .requires("base")
            .file("/etc/broken-post", 0o644, "x\n")
            .post("echo 'half done'\nexit 2\n"),
        PackageSpec::new("machine-id", "1", "1")
            .requires_pre("/bin/sh")
            .requires("base")
            .post("cat /proc/sys/kernel/random/uuid > /etc/machine-id\n"),
        PackageSpec::new("slow", "1", "1")
            .requires_pre("/bin/sh")
            .requires("base")
            .file("/etc/slow", 0o644, "x\n")
            .post("sleep 60\n"),
        PackageSpec::new("lua-broken", "1", "1")
            .requires("base")
            .file("/etc/lua-broken", 0o644, "x\n")
            .lua_pretrans("print('checking')\nerror('lua says no')\n"),
        // As Azure Linux's filesystem package makes its ghost symlinks,
        // and more of rpm's Lua.
        PackageSpec::new("luapkg", "1", "1")
            .requires("base")
            .requires_pre("/bin/sh")
            .dir("/etc/lua.d", 0o755)
            .file("/etc/lua.d/input", 0o644, "first\nsecond\n")
            .lua_post(
                "posix.symlink('../usr/lib64', '/etc/lua.d/libdir')\n\
                 assert(posix.mkdir('/etc/lua.d/made') == 0)\n\
                 local n = 0\n\
                 for line in io.lines('/etc/lua.d/input') do n = n + 1 end\n\
                 local f = assert(io.open('/etc/lua.out', 'w'))\n\
                 f:write('arg ', arg[2], ' lines ', n, ' libdir ', rpm.expand('%{_libdir}'), '\\n')\n\
                 f:write('type ', posix.stat('/etc/lua.d', 'type'), ' link ', posix.readlink('/etc/lua.d/libdir'), '\\n')\n\
                 f:write('vercmp ', rpm.vercmp('1.10', '1.9'), '\\n')\n\
                 local names = {}\n\
                 for name in posix.files('/etc/lua.d') do names[#names + 1] = name end\n\
                 table.sort(names)\n\
                 f:write('files ', table.concat(names, ' '), '\\n')\n\
                 local r = assert(io.open('/etc/lua.d/input', 'r'))\n\
                 f:write('first ', r:read('l'), ' next ', tostring(arg[2] + 1), ' is ', posix.stat('/etc/lua.d/libdir', 'type'), '\\n')\n\
                 r:close()\n\
                 f:close()\n\
                 assert(io.open('/etc/lua.chain', 'w')):write('a'):write('b'):close()\n\
                 assert(posix.chmod('/etc/lua.chain', 640) == 0)\n\
                 assert(posix.chmod('/etc/lua.out', '0600') == 0)\n\
                 assert(posix.chown('/etc/lua.chain', 990, 'root') == 0)\n\
                 assert(rpm.execute('/bin/sh', '-c', 'echo executed > /etc/lua.exec') == 0)\n\
                 print('lua post done')\n",
            ),
    ];
    for spec in &specs {
        build_rpm(&repo, spec);
    }
    trigger_package(&repo, dir);
    watcher_package(&repo, dir);
    createrepo(&repo);
    repo
}

fn extract(archive: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    run_ok("tar", &["--numeric-owner", "-xpf", s(archive), "-C", s(to)]);
}

#[test]
fn scriptlets_leave_what_rpm_leaves_and_run_without_root() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let out = open_dir(dir.path());
    let archive = out.join("rootfs.tar");
    let args = [
        "rootfs",
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--install",
        "trig,luapkg,zz-late,pair.x86_64,pair.i686",
        "-o",
        s(&archive),
        "--json",
    ];
    // One time for both runs (the scriptlets' files get it).
    let epoch = "1700000000";
    let r = common::command()
        .args(args)
        .env("SOURCE_DATE_EPOCH", epoch)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&r.stderr).unwrap();
    let ran: Vec<String> = summary["installed"]["scriptlets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {} {}",
                s["scriptlet"].as_str().unwrap(),
                s["package"].as_str().unwrap(),
                s["outcome"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        ran.contains(&"%post luapkg-1-1.x86_64 ran".to_string()),
        "{summary}"
    );
    let ran: Vec<&String> = ran
        .iter()
        .filter(|r| !r.contains("luapkg") && !r.contains(" pair-"))
        .collect();
    assert_eq!(
        ran,
        [
            "%pre svc-1-1.x86_64 ran",
            "%post svc-1-1.x86_64 ran",
            "%filetriggerin /usr/lib64 trig-1-1.noarch ran",
            "%post trig-1-1.noarch ran",
            "%triggerin -- svc watcher-1-1.noarch ran",
            "%triggerprein -- zz-late watcher-1-1.noarch ran",
            "%triggerin -- zz-late watcher-1-1.noarch ran",
            "%posttrans lib-1-1.x86_64 ran",
            "%posttrans trig-1-1.noarch ran",
            "%transfiletriggerin /usr/lib64 /usr/share/trig trig-1-1.noarch ran",
        ],
        "{summary}"
    );
    assert!(
        summary["installed"]["scriptlets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["output"].as_str().unwrap().contains("adding svc (1)")),
        "{summary}"
    );

    // rpm's own install of the same packages, as root, scriptlets run in
    // a chroot.
    let theirs = dir.path().join("theirs");
    fs::create_dir_all(&theirs).unwrap();
    let mut rpm_args: Vec<String> = [
        "--root",
        s(&theirs),
        "-i",
        "--nodeps",
        "--nosignature",
        "--ignorearch",
        "--dbpath",
        "/var/lib/rpm",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    for p in summary["packages"].as_array().unwrap() {
        let nevra = p["package"].as_str().unwrap();
        let file = fs::read_dir(&repo)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|f| f.file_name().unwrap().to_string_lossy() == format!("{nevra}.rpm"))
            .unwrap_or_else(|| panic!("{nevra}.rpm"));
        rpm_args.push(file.display().to_string());
    }
    let rpm_args: Vec<&str> = rpm_args.iter().map(String::as_str).collect();
    run_ok("rpm", &rpm_args);

    let ours = dir.path().join("ours");
    extract(&archive, &ours);
    for file in [
        "etc/passwd",
        "etc/group",
        "etc/svc.installed",
        "etc/lib.posttrans",
        "etc/trig.log",
        "etc/watcher.log",
        "etc/pair.log",
        "var/lib/svc.state",
        "usr/lib64/libx.so.1",
        "etc/lua.out",
        "etc/lua.exec",
        "etc/lua.d/made",
        "etc/lua.chain",
        "etc/shadow",
        "etc/locked",
        "var/lib/svc",
        "var/lib/svc/data",
        "var/lib/svc/data/f",
        "var/lib/svc.log",
        "usr/bin/svc-helper",
    ] {
        let (a, b) = (ours.join(file), theirs.join(file));
        if fs::metadata(&a).unwrap().is_dir() {
            assert!(fs::metadata(&b).unwrap().is_dir(), "{file}");
        } else {
            assert_eq!(
                fs::read_to_string(&a).unwrap(),
                fs::read_to_string(&b).unwrap(),
                "{file}"
            );
        }
        let (ma, mb) = (fs::metadata(&a).unwrap(), fs::metadata(&b).unwrap());
        assert_eq!(
            (ma.mode(), ma.uid(), ma.gid()),
            (mb.mode(), mb.uid(), mb.gid()),
            "{file}: mode and owner"
        );
    }
    assert_eq!(
        fs::read_link(ours.join("etc/lua.d/libdir")).unwrap(),
        fs::read_link(theirs.join("etc/lua.d/libdir")).unwrap()
    );
    assert_eq!(
        fs::read_to_string(ours.join("etc/lua.out")).unwrap(),
        "arg 1 lines 2 libdir /usr/lib64\ntype directory link ../usr/lib64\nvercmp 1\n\
         files . .. input libdir made\nfirst first next 2 is link\n"
    );
    // Package triggers with rpm's arguments: watcher's own on svc,
    // installed before it; on zz-late, before its %pre (zz-late not yet
    // counted) and after its %post; none for a base version not there.
    assert_eq!(
        fs::read_to_string(ours.join("etc/watcher.log")).unwrap(),
        "watcher in svc 1 1\nwatcher prein zz-late 1 0\nwatcher in zz-late 1 1\n"
    );
    assert_eq!(
        fs::read_to_string(ours.join("etc/pair.log")).unwrap(),
        "post 1\npost 2\nposttrans 2\nposttrans 2\n"
    );
    // The user the %pre added owns the file its package records for it,
    // and what its %post gives it.
    for file in ["var/lib/svc.state", "var/lib/svc/data/f", "var/lib/svc.log"] {
        assert_eq!(fs::metadata(ours.join(file)).unwrap().uid(), 990, "{file}");
    }
    // A new group took the set-user-ID bit off, as the kernel does.
    assert_eq!(
        fs::metadata(ours.join("usr/bin/svc-helper"))
            .unwrap()
            .mode()
            & 0o7777,
        0o755
    );
    // The sandbox's mount points are not part of the tree.
    assert!(!ours.join("dev").exists() && !ours.join("proc").exists());

    // As nobody: the same bytes.
    let nobody = out.join("nobody.tar");
    let mut args2 = args.to_vec();
    args2[7] = s(&nobody);
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let r = Command::new("chmod")
        .args(["-R", "a+rX", s(&repo)])
        .status()
        .unwrap();
    assert!(r.success());
    let r = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_imgconv"))
        .args(&args2)
        .env("SOURCE_DATE_EPOCH", epoch)
        .env("TMPDIR", &out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        fs::read(&archive).unwrap() == fs::read(&nobody).unwrap(),
        "the archive made as nobody differs"
    );
    // No scratch tree is left behind.
    let left: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".imgconv"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn skipped_and_failing_scriptlets_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let rootfs = |install: &str, extra: &[&str], out: &Path| {
        let mut args = vec![
            "rootfs",
            "--repo",
            s(&repo),
            "--no-gpg-check",
            "--install",
            install,
            "-o",
            s(out),
        ];
        args.extend_from_slice(extra);
        imgconv(&args)
    };

    // --no-scripts: each scriptlet named; the user the %pre would add is
    // unknown, so its file is root's.
    let skipped = dir.path().join("skipped.tar");
    let r = rootfs("trig", &["--no-scripts"], &skipped);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    for line in [
        "skipped %pre of svc-1-1.x86_64",
        "skipped %post of svc-1-1.x86_64",
        "skipped %posttrans of lib-1-1.x86_64",
        "skipped %filetriggerin /usr/lib64 of trig-1-1.noarch",
        "skipped %transfiletriggerin /usr/lib64 /usr/share/trig of trig-1-1.noarch",
    ] {
        assert!(err.contains(line), "{line}: {err}");
    }
    let tree = dir.path().join("skipped");
    extract(&skipped, &tree);
    assert_eq!(
        fs::metadata(tree.join("var/lib/svc.state")).unwrap().uid(),
        0
    );
    assert!(!tree.join("etc/svc.installed").exists());

    // A failing %pre stops the install: the package, the status and the
    // output are named, and nothing is written.
    let out = dir.path().join("pre.tar");
    let r = rootfs("broken-pre", &[], &out);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("%pre scriptlet of broken-pre-1-1.x86_64 failed, exit status 3")
            && err.contains("cannot go on"),
        "{err}"
    );
    assert!(!out.exists());

    // A failing %post is a warning, as dnf reports it.
    let out = dir.path().join("post.tar");
    let work = dir.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let r = rootfs("broken-post", &["--work-dir", s(&work)], &out);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        err.contains("%post scriptlet of broken-post-1-1.x86_64 failed, exit status 2")
            && err.contains("half done"),
        "{err}"
    );
    let listing = run_ok("tar", &["-tf", s(&out)]);
    assert!(listing.contains("etc/broken-post"), "{listing}");
    // The scratch tree was in the work directory, and is gone.
    assert_eq!(fs::read_dir(&work).unwrap().count(), 0);

    // A Lua %pretrans that fails stops the install with the Lua error;
    // skipped, the package installs.
    let out = dir.path().join("lua.tar");
    let r = rootfs("lua-broken", &[], &out);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("%pretrans scriptlet of lua-broken-1-1.x86_64 failed, exit status 1")
            && err.contains("checking")
            && err.contains("lua says no"),
        "{err}"
    );
    assert!(!out.exists());
    let r = rootfs("lua-broken", &["--no-scripts"], &out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("skipped %pretrans of lua-broken-1-1.x86_64")
    );
}

#[test]
fn an_interrupted_install_leaves_no_scratch_tree() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    let tmp = dir.path().join("tmp");
    fs::create_dir_all(&tmp).unwrap();
    let out = dir.path().join("slow.tar");
    let mut child = common::command()
        .args(["rootfs", "--repo", s(&repo), "--no-gpg-check"])
        .args(["--install", "slow", "-o", s(&out)])
        .env("TMPDIR", &tmp)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Interrupted while its %post runs in the scratch tree.
    let scratch = |tmp: &Path| {
        fs::read_dir(tmp)
            .unwrap()
            .filter(|e| {
                let e = e.as_ref().unwrap();
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".imgconv-scriptlets-")
                    && e.path().join("root/etc/slow").exists()
            })
            .count()
    };
    for _ in 0..600 {
        if scratch(&tmp) > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(scratch(&tmp), 1, "the install never reached its %post");
    run_ok("kill", &["-INT", &child.id().to_string()]);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let left: Vec<_> = fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(!out.exists());
}

#[test]
fn a_build_runs_the_scriptlets_once_for_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path());
    fs::write(
        dir.path().join("list.json"),
        r#"{"packages": ["machine-id"]}"#,
    )
    .unwrap();
    let config = toolkit_config(dir.path(), "once", "none", false, 65, "ext4", 200);
    common::add_to_system_config(&config, r#""PackageLists": ["list.json"],"#);
    let out = dir.path().join("out");
    let r = imgconv(&[
        "build",
        s(&config),
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--to",
        "raw,tar",
        "--output-dir",
        s(&out),
        "--json",
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    let summary: serde_json::Value = serde_json::from_slice(&r.stderr).unwrap();
    let ran = summary["installed"]["scriptlets"].as_array().unwrap();
    assert_eq!(ran.len(), 1, "{summary}");
    // The random id the %post wrote is the same in the disk and the tar.
    let tar_id = run_ok("tar", &["-xOf", s(&out.join("once.tar")), "etc/machine-id"]);
    let data = fs::read(out.join("once.raw")).unwrap();
    let root = dir.path().join("root.img");
    fs::write(&root, &data[65 << 20..]).unwrap();
    let disk_id = run_ok("debugfs", &["-R", "cat /etc/machine-id", s(&root)]);
    assert_eq!(tar_id.trim().len(), 36, "{tar_id}");
    assert_eq!(tar_id, disk_id);
}

/// This machine's `systemctl` with the libraries `ldd` finds for it, as
/// package files at the same paths.
fn systemctl_files() -> Vec<(String, Vec<u8>)> {
    let out = Command::new("ldd")
        .arg("/usr/bin/systemctl")
        .output()
        .unwrap();
    assert!(out.status.success(), "ldd systemctl");
    let mut files = vec![(
        "/usr/bin/systemctl".to_string(),
        fs::read("/usr/bin/systemctl").unwrap(),
    )];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or
        // `/lib64/ld-linux-x86-64.so.2 (0x…)`.
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(str::to_string);
        if let Some(path) = path {
            files.push((path.clone(), fs::read(&path).unwrap()));
        }
    }
    files
}

#[test]
fn a_preset_in_post_enables_the_unit_as_in_rpms_chroot() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    let busybox = fs::read(testkit::bootroot::static_busybox()).unwrap();
    let mut systemd = PackageSpec::new("systemd", "1", "1")
        .file("/usr/bin/sh", 0o755, busybox)
        .symlink("/bin", "usr/bin")
        .dir("/etc", 0o755)
        .dir("/usr/lib/systemd/system", 0o755)
        .dir("/usr/lib/systemd/system-preset", 0o755)
        .provides("/bin/sh");
    for (path, bytes) in systemctl_files() {
        if path != "/usr/bin/sh" {
            systemd = systemd.file(&path, 0o755, bytes);
        }
    }
    let demo = PackageSpec::new("demo", "1", "1")
        .requires_pre("systemd")
        .file(
            "/usr/lib/systemd/system/demo.service",
            0o644,
            "[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/true\n\
             [Install]\nWantedBy=multi-user.target\n",
        )
        .file(
            "/usr/lib/systemd/system-preset/90-demo.preset",
            0o644,
            "enable demo.service\n",
        )
        .post("systemctl --no-reload preset demo.service\n");
    for spec in [&systemd, &demo] {
        build_rpm(&repo, spec);
    }
    createrepo(&repo);
    let archive = dir.path().join("rootfs.tar");
    let r = imgconv(&[
        "rootfs",
        "--repo",
        s(&repo),
        "--no-gpg-check",
        "--install",
        "demo",
        "-o",
        s(&archive),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let ours = dir.path().join("ours");
    extract(&archive, &ours);

    // rpm's install as a toolkit's chroot (with /proc) runs it: systemctl
    // offline.
    let theirs = dir.path().join("theirs");
    fs::create_dir_all(&theirs).unwrap();
    let r = Command::new("rpm")
        .args(["--root", s(&theirs), "-i", "--nodeps", "--nosignature"])
        .args(["--dbpath", "/var/lib/rpm"])
        .arg(repo.join("systemd-1-1.x86_64.rpm"))
        .arg(repo.join("demo-1-1.x86_64.rpm"))
        .env("SYSTEMD_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let wants = "etc/systemd/system/multi-user.target.wants/demo.service";
    assert_eq!(
        fs::read_link(ours.join(wants)).unwrap(),
        fs::read_link(theirs.join(wants)).unwrap()
    );
    assert_eq!(
        fs::read_link(ours.join(wants)).unwrap(),
        Path::new("/usr/lib/systemd/system/demo.service")
    );
}
