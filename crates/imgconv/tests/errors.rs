//! The library's errors name the file and keep the format crate's error.
#![allow(clippy::unwrap_used)]

#[test]
fn a_bad_header_is_named_with_its_file_field_and_kind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.qcow2");
    let mut bytes = b"QFI\xfb".to_vec();
    bytes.extend_from_slice(&7u32.to_be_bytes());
    bytes.resize(64 << 10, 0);
    std::fs::write(&path, &bytes).unwrap();

    let err = imgconv::info(&path).unwrap_err();
    assert_eq!(err.path(), Some(path.as_path()));
    let inner = err.format_error().expect("the qcow2 crate's error is kept");
    assert_eq!(inner.kind(), blocksink::ErrorKind::Corrupt);
    assert_eq!(inner.format(), "qcow2");
    assert_eq!(inner.field_name(), Some("version"));
    let text = blocksink::chain(&err);
    assert_eq!(
        text,
        format!(
            "{}: corrupt qcow2 image: header field version = 7: only versions 2 and 3 exist",
            path.display()
        )
    );
}

#[test]
fn a_vhdx_too_short_for_its_headers_is_named_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.vhdx");
    // The VHDX signature in a file too short for the headers.
    std::fs::write(&path, b"vhdxfile").unwrap();
    let err = imgconv::info(&path).unwrap_err();
    assert_eq!(err.path(), Some(path.as_path()));
    assert_eq!(
        err.format_error().map(blocksink::Error::kind),
        Some(blocksink::ErrorKind::Corrupt),
        "{err}"
    );
}
