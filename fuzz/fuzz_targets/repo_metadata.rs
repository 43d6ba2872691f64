#![no_main]

use libfuzzer_sys::fuzz_target;

// Any bytes as primary.xml: packages whose locations stay inside the
// repository and whose checksums are well formed, or an error naming the file;
// then resolved, every requirement (rich ones parsed) met or reported.
fuzz_target!(|data: &[u8]| {
    match pkgstage::repo::parse_primary(data, "fuzz-primary.xml".as_ref()) {
        Ok(packages) => {
            for p in &packages {
                assert!(!p.location.starts_with('/') && !p.location.split('/').any(|c| c == ".."));
                assert_eq!(p.checksum.hex.len(), p.checksum.algorithm.hex_len());
                assert!(p.files.iter().all(|f| f.path.starts_with('/')));
            }
            let repo = pkgstage::Repository {
                root: "/fuzz".into(),
                files_complete: true,
                packages,
            };
            let names: Vec<String> = repo
                .packages
                .iter()
                .take(8)
                .map(|p| p.name.clone())
                .collect();
            let source = pkgstage::resolve::Source {
                repo: &repo,
                priority: 99,
            };
            match pkgstage::resolve::resolve(&[source], &pkgstage::resolve::Request::new(names)) {
                Ok(r) => assert!(r.packages.len() <= repo.packages.len()),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
            // Every text is tried as a rich dependency too.
            for p in &repo.packages {
                for d in &p.requires {
                    let _ = pkgstage::resolve::parse_rich(&d.name);
                }
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz-primary.xml")),
    }
});
