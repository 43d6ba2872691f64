//! The `imgconv` command line: parses arguments, calls the library once
//! per command and prints its report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use imgconv::{Comparison, OutputTarget};

#[macro_use]
mod print;
mod args;
mod doctor;

use args::{BuildArgs, Cli, Command, ConvertArgs, IsoArgs, RootfsArgs};
use print::StdoutClosed;

fn run_convert(a: ConvertArgs) -> Result<ExitCode> {
    let job = a.job()?;
    let bar = print::progress_bar();
    let report = imgconv::convert(&job, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    print::conversion(&report?, a.json)?;
    Ok(ExitCode::SUCCESS)
}

fn run_build(a: BuildArgs) -> Result<ExitCode> {
    let job = a.job()?;
    let mut progress = print::BuildProgress::default();
    let report = job.run(&mut |step| progress.show(step));
    progress.clear();
    print::build(&report?, a.json)?;
    Ok(ExitCode::SUCCESS)
}

fn run_rootfs(a: RootfsArgs) -> Result<ExitCode> {
    let report = a.job()?.run(&mut |_| {})?;
    print::rootfs(&report, &a.output, a.json)?;
    Ok(ExitCode::SUCCESS)
}

fn run_iso(a: IsoArgs) -> Result<ExitCode> {
    if let Some(dir) = a.extract_into()? {
        let summary = imgconv::extract_iso(&a.source, dir)?;
        print::iso_extracted(&summary, dir, a.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let job = a.job()?;
    // Progress only for a file, on a terminal.
    let show = matches!(job.output, OutputTarget::Path(_))
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = print::progress_bar();
    let summary = imgconv::build_iso(&job, &mut |done, total| {
        if show {
            bar.set_length(total);
            bar.set_position(done);
        }
    })?;
    bar.finish_and_clear();
    print::iso_built(&summary, &job.output, a.json)?;
    Ok(ExitCode::SUCCESS)
}

fn run_info(image: PathBuf, json: bool) -> Result<ExitCode> {
    if imgconv::is_iso_file(&image) {
        print::iso_info(&imgconv::iso_info(&image)?, json)?;
    } else {
        print::image_info(&imgconv::info(&image)?, json)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit 0 identical, 1 different, 2 could not compare (as `qemu-img compare`).
fn run_compare(a: PathBuf, b: PathBuf) -> Result<ExitCode> {
    match imgconv::compare(&a, &b) {
        Ok(c) => {
            print::comparison(&c)?;
            Ok(ExitCode::from(match c {
                Comparison::Identical { .. } => 0,
                Comparison::Differ { .. } => 1,
            }))
        }
        Err(e) => {
            note!("imgconv: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Exit 0 clean, 2 corruptions, 3 leaked clusters only, 1 could not check
/// (as `qemu-img check`).
fn run_check(image: PathBuf, json: bool) -> Result<ExitCode> {
    let r = match imgconv::check(&image) {
        Ok(r) => r,
        Err(e) => {
            note!("imgconv: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    print::check(&r, json)?;
    Ok(ExitCode::from(
        match (r.errors.is_empty(), r.leaked_clusters) {
            (false, _) => 2,
            (true, 0) => 0,
            (true, _) => 3,
        },
    ))
}

/// Exit 0 when the default build has every tool it needs, else 1.
fn run_doctor(json: bool) -> Result<ExitCode> {
    let checked = blocksink::tool::doctor();
    let ready = !checked.iter().any(|c| c.blocks_default_build());
    doctor::print(&checked, ready, json)?;
    Ok(if ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The flags that would mend `e`, when it is one they mend: the libraries
/// say what is wrong, the command line which of its flags changes it.
fn hint(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use imgbuild::Problem;
    if let Some(e) = e.downcast_ref::<blocksink::Error>() {
        match e.detail::<Problem>() {
            Some(Problem::PackagesForATree) => {
                return Some("give --repo to install them, not --rootfs")
            }
            Some(Problem::RpmDbForATree) => return Some("RemoveRpmDb applies with --repo"),
            Some(Problem::NoPackages) => return Some("--repo installs a configuration's packages"),
            Some(Problem::NotAStream) => return Some("name a file with -o"),
            Some(Problem::OutputClash) => return Some("name them apart with -o or --output-dir"),
            Some(_) => return None,
            None => {}
        }
        if let Some(pkgstage::Untrusted {
            keys_given: false, ..
        }) = e.detail()
        {
            return Some("give the keys with --gpg-key FILE, or --no-gpg-check not to check");
        }
        // No sandbox at all; a scriptlet that failed in one is not mended so.
        let unsandboxed = [
            pkgstage::install::NEEDS_BWRAP,
            pkgstage::install::NEEDS_USERNS,
        ];
        if e.kind() == blocksink::ErrorKind::Failed && unsandboxed.contains(&e.message()) {
            return Some("give --no-scripts to install without running the scriptlets");
        }
    }
    // Its causes, among them an error carried inside another (a
    // conversion's, inside a build's); an I/O error's and a conversion's
    // own are not their sources, but carried whole.
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(blocksink::Error::find)
    {
        return hint(inner);
    }
    if let Some(inner) = e
        .downcast_ref::<imgconv::Error>()
        .and_then(imgconv::Error::cause)
    {
        return hint(inner);
    }
    e.source().and_then(hint)
}

/// On SIGINT, SIGTERM or SIGHUP, removes the outputs still being written
/// and exits as the signal would (128 + its number).
fn remove_unfinished_outputs_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            blocksink::remove_pending_files();
            note!("imgconv: interrupted by signal {signal}; unfinished outputs removed");
            std::process::exit(128 + signal);
        }
    });
}

fn main() -> ExitCode {
    remove_unfinished_outputs_on_signals();
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_convert(cli.convert),
        Some(Command::Convert(a)) => run_convert(*a),
        Some(Command::Iso(a)) => run_iso(*a),
        Some(Command::Build(a)) => run_build(*a),
        Some(Command::Rootfs(a)) => run_rootfs(*a),
        Some(Command::Info { image, json }) => run_info(image, json),
        Some(Command::Compare { a, b }) => run_compare(a, b),
        Some(Command::Check { image, json }) => run_check(image, json),
        Some(Command::Doctor { json }) => run_doctor(json),
    };
    match result {
        Ok(code) => code,
        // Its reader has gone: end quietly, with the status of a process
        // that SIGPIPE ended (128 + 13), as other command-line tools do.
        Err(e) if e.is::<StdoutClosed>() => ExitCode::from(141),
        Err(e) => {
            note!("imgconv: {}", blocksink::chain(e.as_ref()));
            if let Some(hint) = hint(e.as_ref()) {
                note!("imgconv: {hint}");
            }
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::hint;

    /// A build's refusal is mended by the same flag wherever it is
    /// carried: bare, inside an I/O error, or inside another error.
    #[test]
    fn a_hint_is_found_in_an_error_however_it_is_carried() {
        let refusal =
            || imgbuild::error::request(imgbuild::Problem::NotAStream, "a disk to a pipe");
        let want = Some("name a file with -o");
        assert_eq!(hint(&refusal()), want);
        assert_eq!(hint(&std::io::Error::from(refusal())), want);
        assert_eq!(hint(&blocksink::Error::wrap(refusal()).member("x")), want);
        assert_eq!(
            hint(&blocksink::Error::corrupt("", "nothing to mend")),
            None
        );
    }
}
