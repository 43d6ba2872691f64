//! What the commands print: each report on standard output or standard
//! error, and the progress shown while they work.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use imgconv::{Comparison, OutputTarget};

/// Standard output's reader has gone (a closed pipe).
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub(crate) struct StdoutClosed;

/// Writes one line to standard output; a closed pipe becomes [`StdoutClosed`].
pub(crate) fn stdout_line(line: std::fmt::Arguments<'_>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// A line of the command's output, on standard output.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::print::stdout_line(format_args!($($arg)*))?
    };
}

/// A line for the user, on standard error; nothing to do if it is closed.
macro_rules! note {
    ($($arg:tt)*) => {{
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr(),
            format_args!("{}\n", format_args!($($arg)*)),
        );
    }};
}

pub(crate) fn progress_bar() -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// A spinner saying what is being done, until it is cleared.
fn spinner(message: String) -> indicatif::ProgressBar {
    let bar = progress_bar();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(150));
    bar
}

/// A build's progress: a spinner for each step, a bar while the disk is
/// read into its outputs.
#[derive(Default)]
pub(crate) struct BuildProgress(Option<indicatif::ProgressBar>);

impl BuildProgress {
    /// Shows `step`.
    pub(crate) fn show(&mut self, step: imgbuild::Progress<'_>) {
        let bar = &mut self.0;
        match step {
            imgbuild::Progress::Step(what) => *bar = Some(spinner(what.to_string())),
            imgbuild::Progress::Bytes { done, total } => {
                let b = bar.get_or_insert_with(progress_bar);
                b.set_length(total);
                b.set_position(done);
            }
            imgbuild::Progress::Done => self.clear(),
        }
    }

    /// Clears what is shown.
    pub(crate) fn clear(&mut self) {
        if let Some(b) = self.0.take() {
            b.finish_and_clear();
        }
    }
}

/// What a conversion wrote.
pub(crate) fn conversion(report: &imgconv::ConvertReport, json: bool) -> Result<()> {
    if report.input_format == imgconv::InputFormat::ISO {
        note!(
            "note: {} is an ISO 9660 image; its bytes were converted as a raw disk",
            report.input.display()
        );
    }
    if json {
        note!("{}", serde_json::to_string_pretty(report)?);
    } else {
        outputs(report);
    }
    Ok(())
}

/// One line per output written, and what each output's writer noted.
fn outputs(report: &imgconv::ConvertReport) {
    for o in &report.outputs {
        if let Some(p) = &o.path {
            note!(
                "wrote {} ({}, {} bytes)",
                p.display(),
                o.format.name(),
                o.bytes
            );
        }
        if let Some(note) = &o.note {
            note!("note: {}: {note}", o.format.name());
        }
    }
}

/// What a build made.
pub(crate) fn build(report: &imgbuild::Report, json: bool) -> Result<()> {
    if json {
        note!(
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(report)?)?
        );
        return Ok(());
    }
    if let Some(installed) = &report.installed {
        install_notes(installed);
    }
    for script in &report.scripts {
        note!("ran script {}", script.name);
    }
    if let Some(disk) = &report.disk {
        if let Some(l) = &disk.boot_loader {
            let each: Vec<String> = [("UEFI", &l.uefi), ("BIOS", &l.bios)]
                .iter()
                .filter_map(|(firmware, name)| name.as_ref().map(|n| format!("{n} for {firmware}")))
                .collect();
            if !each.is_empty() {
                note!("boot loader: {} ({})", each.join(", "), l.reason);
            }
        }
        for n in &disk.notes {
            note!("note: {n}");
        }
        outputs(&disk.conversion);
    }
    for t in &report.trees {
        if let Some(p) = &t.path {
            note!("wrote {} ({}, {} bytes)", p.display(), t.format, t.bytes);
        }
        if let Some(image) = &t.image {
            note!("note: {}: manifest {}", t.format, image.manifest.digest);
        }
    }
    Ok(())
}

/// What `imgconv rootfs` installed into `output` (`-`: standard output).
pub(crate) fn rootfs(report: &imgbuild::Report, output: &Path, json: bool) -> Result<()> {
    let installed = report.installed.clone().unwrap_or_default();
    let shown = output.display().to_string();
    if json {
        let packages: Vec<serde_json::Value> = report
            .resolved
            .iter()
            .map(|c| serde_json::json!({"package": c.nevra, "reason": c.reason}))
            .collect();
        note!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "output": output,
                "packages": packages,
                "installed": installed,
            }))?
        );
    } else {
        install_notes(&installed);
        note!(
            "wrote {shown}: {} packages, {} entries, {} bytes of files",
            installed.packages,
            installed.entries,
            installed.bytes
        );
    }
    Ok(())
}

/// The notes of a package install, and the scriptlets it left out.
fn install_notes(report: &pkgstage::install::InstallReport) {
    for n in &report.notes {
        note!("note: {n}");
    }
    for s in report.scriptlets.iter().filter(|s| s.outcome == "skipped") {
        note!("note: skipped {} of {}", s.scriptlet, s.package);
    }
}

/// What `imgconv iso` wrote to `output` (a line only for a file).
pub(crate) fn iso_built(
    summary: &imgconv::IsoSummary,
    output: &OutputTarget,
    json: bool,
) -> Result<()> {
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "size": summary.size, "directories": summary.directories,
                "files": summary.files, "data_bytes": summary.data_bytes,
            }))?
        );
    } else if let OutputTarget::Path(output) = output {
        out!(
            "{}: {} bytes, {} directories, {} files",
            output.display(),
            summary.size,
            summary.directories,
            summary.files
        );
    }
    Ok(())
}

/// What `imgconv iso --extract` extracted into `dir`, and what it left out.
pub(crate) fn iso_extracted(s: &imgconv::ExtractSummary, dir: &Path, json: bool) -> Result<()> {
    for why in &s.skipped {
        note!("imgconv: not extracted: {why}");
    }
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "directories": s.directories, "files": s.files, "symlinks": s.symlinks,
                "bytes": s.bytes, "skipped": s.skipped,
            }))?
        );
    } else {
        out!(
            "extracted {} directories, {} files ({} bytes), {} symlinks into {}",
            s.directories,
            s.files,
            s.bytes,
            s.symlinks,
            dir.display()
        );
    }
    Ok(())
}

/// What `imgconv info` shows of an ISO image.
pub(crate) fn iso_info(i: &imgconv::IsoInfo, json: bool) -> Result<()> {
    if json {
        out!("{}", serde_json::to_string_pretty(i)?);
        return Ok(());
    }
    out!("image: {}", i.path.display());
    out!("file format: iso9660");
    out!("volume id: {}", i.volume_id);
    out!("system id: {}", i.system_id);
    out!("publisher: {}", i.publisher);
    out!("data preparer: {}", i.preparer);
    out!("application: {}", i.application);
    if let Some(c) = &i.created {
        out!("created: {c}");
    }
    out!("volume size: {} bytes", i.volume_size);
    out!("file size: {} bytes", i.file_size);
    out!("names: {}", i.naming);
    if let Some(j) = &i.joliet_volume_id {
        out!("joliet volume id: {j}");
    }
    out!(
        "entries: {} directories, {} files ({} bytes), {} other",
        i.directories,
        i.files,
        i.data_bytes,
        i.other
    );
    if let Some(c) = i.boot_catalog {
        out!("El Torito boot catalog: sector {c}");
    }
    for (n, b) in i.boot_entries.iter().enumerate() {
        out!(
            "boot entry {}: {} {} load {} sectors at sector {}{}",
            n + 1,
            b.platform,
            if b.bootable {
                "bootable"
            } else {
                "not bootable"
            },
            b.load_sectors,
            b.lba,
            b.path
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        );
    }
    if let Some(s) = &i.system_area {
        out!("system area: {s}");
    }
    Ok(())
}

/// What `imgconv info` shows of a disk image.
pub(crate) fn image_info(i: &imgconv::ImageInfo, json: bool) -> Result<()> {
    if json {
        out!("{}", serde_json::to_string_pretty(i)?);
        return Ok(());
    }
    out!("image: {}", i.path.display());
    out!("file format: {}", i.format.name());
    out!("virtual size: {} bytes", i.virtual_size);
    out!("file size: {} bytes", i.file_size);
    out!("disk size: {} bytes", i.allocated_size);
    out!("data: {} bytes", i.data_size);
    for (k, v) in &i.format_options {
        out!("    {k}: {v}");
    }
    if let Some(parts) = &i.partitions {
        out!("partition table: gpt");
        out!(
            "{:>6} {:>12} {:>12} {:>14}  {:<20} name",
            "number",
            "start",
            "end",
            "size",
            "type"
        );
        for p in parts {
            let ty = p
                .type_name
                .map(str::to_string)
                .unwrap_or_else(|| p.type_guid.clone());
            out!(
                "{:>6} {:>12} {:>12} {:>14}  {:<20} {}",
                p.number,
                p.first_lba,
                p.last_lba,
                p.size,
                ty,
                p.name
            );
        }
    }
    for problem in &i.gpt_problems {
        out!("GPT problem: {problem}");
    }
    Ok(())
}

/// What `imgconv compare` found, as `qemu-img compare` says it.
pub(crate) fn comparison(c: &Comparison) -> Result<()> {
    match c {
        Comparison::Identical { size_mismatch } => {
            if *size_mismatch {
                out!("Warning: Image size mismatch!");
            }
            out!("Images are identical.");
        }
        Comparison::Differ { offset } => {
            out!("Content mismatch at offset {offset}!");
        }
    }
    Ok(())
}

/// What `imgconv check` found, as `qemu-img check` says it.
pub(crate) fn check(r: &imgconv::CheckReport, json: bool) -> Result<()> {
    if json {
        out!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    for e in &r.errors {
        out!("ERROR {e}");
    }
    for n in &r.notes {
        out!("note: {n}");
    }
    if r.leaked_clusters > 0 {
        out!(
            "{} leaked clusters were found on the image.",
            r.leaked_clusters
        );
    }
    if r.errors.is_empty() && r.leaked_clusters == 0 {
        out!("No errors were found on the image.");
    } else if !r.errors.is_empty() {
        out!("{} errors were found on the image.", r.errors.len());
    }
    Ok(())
}
