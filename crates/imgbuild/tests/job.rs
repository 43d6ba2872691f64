//! The README's library example, run: a bootable raw disk and a VHDX from
//! a directory through `imgbuild::Job` alone, checked by sgdisk and
//! qemu-img. (That such disks boot is in the command line's boot tests,
//! which run the same job.)
#![allow(clippy::unwrap_used)]

use std::path::Path;

use imgbuild::{Format, Job, Source};
use testkit::bootroot::{rootfs_tar, Variant};

const CONFIG: &str = r#"{
  "Disks": [{
    "PartitionTableType": "gpt",
    "MaxSize": 160,
    "Partitions": [
      {"ID": "boot", "Flags": ["esp", "boot"], "Start": 1, "End": 41, "FsType": "fat32"},
      {"ID": "rootfs", "Name": "rootfs", "Start": 41, "End": 0, "FsType": "ext4"}
    ]
  }],
  "SystemConfigs": [{
    "Name": "Standard",
    "BootType": "efi",
    "PartitionSettings": [
      {"ID": "boot", "MountPoint": "/boot/efi", "MountOptions": "umask=0077"},
      {"ID": "rootfs", "MountPoint": "/"}
    ],
    "Hostname": "core-efi"
  }]
}
"#;

/// The README's example, as written there, in `dir`.
fn readme_example(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::env::set_current_dir(dir)?;
    let mut job = Job::new("core-efi.json", Source::Rootfs("rootfs/".into()))?;
    for format in ["raw", "vhdx"] {
        job.output_in(Format::parse(format)?, "out".as_ref());
    }
    let report = job.run(&mut |_| {})?;
    if let Some(disk) = &report.disk {
        for output in &disk.conversion.outputs {
            println!("{:?}: {} bytes", output.path, output.bytes);
        }
    }
    Ok(())
}

#[test]
fn the_readme_example_builds_a_disk_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("core-efi.json"), CONFIG).unwrap();
    testkit::python_extract_tar(&rootfs_tar(Variant::Grub), &dir.path().join("rootfs"));
    readme_example(dir.path()).unwrap();
    let raw = dir.path().join("out/core-efi.raw");
    let v = testkit::run_ok("sgdisk", &["-v", raw.to_str().unwrap()]);
    assert!(v.contains("No problems found"), "{v}");
    testkit::qemu_compare(&raw, "raw", &dir.path().join("out/core-efi.vhdx"), "vhdx");
}

/// A package stage's error met while the tree is walked into an output
/// comes back out of the job as that stage's error, to be matched.
#[test]
fn a_package_error_in_the_walk_comes_back_as_the_package_stages() {
    let dir = tempfile::tempdir().unwrap();
    let repo = testkit::bootroot::package_repo(dir.path());
    let config = dir.path().join("pkgs.json");
    std::fs::write(
        &config,
        CONFIG.replace(
            r#""Name": "Standard","#,
            r#""Name": "Standard", "Packages": ["filesystem"],"#,
        ),
    )
    .unwrap();
    let source = Source::Packages(imgbuild::job::Packages {
        repos: vec![(repo, 99)],
        recommends: true,
        scripts: false,
        gpg_check: pkgstage::signature::GpgCheck::Keys(
            pkgstage::signature::Keyring::load::<&str>(&[]).unwrap(),
        ),
    });
    let mut job = Job::new(&config, source).unwrap();
    job.output_in(Format::parse("tar").unwrap(), &dir.path().join("out"));
    let err = job.run(&mut |_| {}).unwrap_err();
    assert!(
        matches!(
            err.detail::<pkgstage::Untrusted>(),
            Some(pkgstage::Untrusted {
                keys_given: false,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(!dir.path().join("out/pkgs.tar").exists());
}

/// Packages the caller names, written as an archive by a job without a
/// configuration: their files and database alone, nothing generated from a
/// configuration (no rpm macro files for the install options), compressed
/// as the archive's name asks, and the resolution in the report.
#[test]
fn named_packages_become_an_archive_of_their_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    testkit::rpms::sample_repo(&repo);
    let source = Source::Install(imgbuild::job::Install {
        from: imgbuild::job::Packages {
            repos: vec![(repo, 99)],
            recommends: false,
            scripts: false,
            gpg_check: pkgstage::signature::GpgCheck::Off,
        },
        names: vec!["webclient".into()],
        exclude_docs: true,
        install_langs: Some("en".into()),
        no_rpmdb: false,
        rpm_manifests: false,
    });
    let mut job = Job::without_config(source);
    let archive = dir.path().join("rootfs.tar.gz");
    job.archive_to(imgconv::OutputTarget::Path(archive.clone()));
    let report = job.run(&mut |_| {}).unwrap();

    let resolved: Vec<&str> = report.resolved.iter().map(|c| c.nevra.as_str()).collect();
    assert_eq!(resolved.len(), 4, "{resolved:?}");
    assert!(resolved[0].starts_with("base-"), "{resolved:?}");
    assert!(resolved.iter().any(|p| p.starts_with("webclient-")));
    assert_eq!(report.installed.unwrap().packages, 4);
    assert_eq!(report.trees.len(), 1);
    assert_eq!(report.trees[0].format, "tar.gz");
    let listing = testkit::run_ok("tar", &["-tzf", archive.to_str().unwrap()]);
    assert!(
        listing.contains("usr/share/webclient/index.html"),
        "{listing}"
    );
    assert!(listing.contains("var/lib/rpm/rpmdb.sqlite"), "{listing}");
    assert!(!listing.contains("macros.d"), "{listing}");
    assert!(!listing.contains("etc/hostname"), "{listing}");
}

/// A job without a configuration makes the tree's own formats; a disk,
/// which needs a configuration's partitions, is refused before anything is
/// made, in words that name no file (there is none) and with the problem
/// for a program to act on.
#[test]
fn a_job_without_a_configuration_is_refused_a_disk_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::write(tree.join("etc/motd"), "hello\n").unwrap();
    let mut job = Job::without_config(Source::Rootfs(tree));
    job.output_in(Format::parse("raw").unwrap(), &dir.path().join("out"));
    let err = job.run(&mut |_| {}).unwrap_err();
    assert_eq!(
        err.detail::<imgbuild::Problem>(),
        Some(&imgbuild::Problem::NoDisk)
    );
    let text = err.to_string();
    assert!(
        text.starts_with("the configuration describes no disk"),
        "{text}"
    );
    assert!(!dir.path().join("out").exists());
}

/// Packages the source names are installed with the source's options: a
/// configuration's DisableRpmDocs is neither applied to them nor kept in
/// the image as rpm's `%_excludedocs`, while what else the configuration
/// generates (the hostname) is.
#[test]
fn named_packages_keep_no_install_options_of_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    testkit::rpms::sample_repo(&repo);
    let config = dir.path().join("image.json");
    std::fs::write(
        &config,
        CONFIG.replace(
            r#""Hostname": "core-efi""#,
            r#""Hostname": "core-efi", "DisableRpmDocs": true"#,
        ),
    )
    .unwrap();
    let source = Source::Install(imgbuild::job::Install {
        from: imgbuild::job::Packages {
            repos: vec![(repo, 99)],
            recommends: false,
            scripts: false,
            gpg_check: pkgstage::signature::GpgCheck::Off,
        },
        names: vec!["webclient".into()],
        exclude_docs: false,
        install_langs: None,
        no_rpmdb: false,
        rpm_manifests: false,
    });
    let mut job = Job::new(&config, source).unwrap();
    let archive = dir.path().join("rootfs.tar");
    job.archive_to(imgconv::OutputTarget::Path(archive.clone()));
    job.run(&mut |_| {}).unwrap();
    let listing = testkit::run_ok("tar", &["-tf", archive.to_str().unwrap()]);
    assert!(listing.contains("etc/hostname"), "{listing}");
    assert!(!listing.contains("macros.d"), "{listing}");
}
