#![no_main]

use libfuzzer_sys::fuzz_target;

// Any text as either image configuration: a model that passed validation,
// or an error naming the file (or, for Image Customizer's, a base
// configuration it names, read from where it says).
fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for result in [
        imgbuild::config::toolkit::parse(text, "fuzz.json"),
        imgbuild::config::customizer::parse(text, "fuzz.yaml"),
    ] {
        match result {
            Ok(config) => assert!(config.partitions.len() <= 128),
            Err(e) => assert!(
                e.to_string().contains("fuzz.")
                    || e.file_path().is_some_and(std::path::Path::is_absolute),
                "{e}"
            ),
        }
    }
});
