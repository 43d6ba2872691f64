//! The output formats on the command line: the names `--to` takes, and
//! each format's options as flags made from what its crate declares.

use anyhow::Result;
use clap::Args;
use imgconv::{FormatOptions, OutputFormat};

/// A format `imgconv build` writes: a disk image, or one made from the
/// root file system itself.
/// Parses `imgconv build --to` names: every disk writer's and the tree
/// formats'.
#[derive(Clone)]
pub(super) struct BuildFormatParser;

impl clap::builder::TypedValueParser for BuildFormatParser {
    type Value = imgbuild::Format;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<imgbuild::Format, clap::Error> {
        parse_listed(self, cmd, arg, value, |name| {
            Ok(imgbuild::Format::parse(name)?)
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        let disks = OutputFormatParser.possible_values().into_iter().flatten();
        let trees = imgbuild::TREE_FORMATS.iter().map(|f| {
            clap::builder::PossibleValue::new(f.name)
                .aliases(f.aliases.iter().copied())
                .help(format!("{} (.{})", f.description, f.extension))
        });
        Some(Box::new(disks.chain(trees)))
    }
}

/// Options of the output formats, shared by `convert` and `build`.
#[derive(Args)]
pub(super) struct FormatArgs {
    #[command(flatten)]
    values: FormatFlags,
    /// vhd-fixed: when rounding the disk up to a whole MiB, leave a GPT's
    /// backup header where it was (by default it moves to the new end).
    #[arg(long)]
    no_gpt_grow: bool,
    /// Seed for the identifiers written into outputs, with their times
    /// fixed too (SOURCE_DATE_EPOCH when set, else 2000-01-01 00:00 UTC):
    /// the same input and seed give byte-identical outputs. Default: both
    /// from SOURCE_DATE_EPOCH when set, else random identifiers and the
    /// current time.
    #[arg(long)]
    seed: Option<String>,
}

/// The output formats' own options, as flags made from what each format
/// crate declares ([`imgconv::OPTIONS`]): `--NAME` (and its short form)
/// for each, and `--option FORMAT.NAME=VALUE` for any. A format's new
/// option is a flag here without a change to this file.
struct FormatFlags(imgconv::FormatValues);

/// The id of `--option`'s argument.
const OPTION_ARG: &str = "option";

/// A flag's value checked by its format, the others at their defaults:
/// a bad one is refused as clap refuses any, with the format's reason.
fn check_option_value(
    set: &'static blocksink::FormatOptionSet,
    name: &'static str,
) -> impl clap::builder::TypedValueParser<Value = String> {
    move |value: &str| -> Result<String, String> {
        set.check(name, value).map_err(|e| option_reason(&e))?;
        Ok(value.to_string())
    }
}

/// Why a format refused a value, without the option's name and value,
/// which clap says.
fn option_reason(e: &blocksink::Error) -> String {
    std::error::Error::source(e).map_or_else(|| e.to_string(), ToString::to_string)
}

/// `--option FORMAT.NAME[=VALUE]`, checked by its format.
fn check_assignment(text: &str) -> Result<String, String> {
    let mut values = imgconv::FormatValues::new();
    values.assign(text).map_err(|e| e.to_string())?;
    values.check().map_err(|e| e.to_string())?;
    Ok(text.to_string())
}

impl Args for FormatFlags {
    fn augment_args(mut cmd: clap::Command) -> clap::Command {
        use blocksink::OptionKind;
        use clap::{Arg, ArgAction};
        for &set in imgconv::OPTIONS {
            for spec in set.options {
                let mut arg = Arg::new(spec.name).long(spec.name).help(spec.help);
                if let Some(short) = spec.short {
                    arg = arg.short(short);
                }
                arg = match spec.kind {
                    OptionKind::Flag => arg.action(ArgAction::SetTrue),
                    OptionKind::Value => arg.action(ArgAction::Set),
                    OptionKind::OptionalValue { when_bare } => arg
                        .action(ArgAction::Set)
                        .num_args(0..=1)
                        .default_missing_value(when_bare),
                };
                if spec.kind != OptionKind::Flag {
                    arg = arg
                        .value_name(spec.value_name)
                        .value_parser(check_option_value(set, spec.name));
                    if let Some(default) = spec.default {
                        arg = arg.default_value(default);
                    }
                }
                cmd = cmd.arg(arg);
            }
        }
        cmd.arg(
            Arg::new(OPTION_ARG)
                .long("option")
                .value_name("FORMAT.NAME=VALUE")
                .action(ArgAction::Append)
                .value_parser(check_assignment)
                .help(
                    "An output format's option by name, over its flag: FORMAT.NAME=VALUE, \
                     or FORMAT.NAME to turn a flag on (qcow2.cluster-size=1M; repeatable)",
                ),
        )
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for FormatFlags {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = FormatFlags(imgconv::FormatValues::new());
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        let invalid = |e: imgconv::Error| {
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n"))
        };
        for &set in imgconv::OPTIONS {
            for spec in set.options {
                // Only what was given: a declared default is the format's
                // to apply.
                if matches.value_source(spec.name) != Some(clap::parser::ValueSource::CommandLine) {
                    continue;
                }
                if spec.kind == blocksink::OptionKind::Flag {
                    if matches.get_flag(spec.name) {
                        self.0.set_bare(set.format, spec.name).map_err(invalid)?;
                    }
                } else if let Some(value) = matches.get_one::<String>(spec.name) {
                    self.0.set(set.format, spec.name, value).map_err(invalid)?;
                }
            }
        }
        for text in matches.get_many::<String>(OPTION_ARG).into_iter().flatten() {
            self.0.assign(text).map_err(invalid)?;
        }
        Ok(())
    }
}

/// `value` parsed with `parse` once it is one of `parser`'s listed names
/// (clap says which are, and suggests the nearest, when it is not).
fn parse_listed<T>(
    parser: &impl clap::builder::TypedValueParser,
    cmd: &clap::Command,
    arg: Option<&clap::Arg>,
    value: &std::ffi::OsStr,
    parse: impl Fn(&str) -> Result<T>,
) -> Result<T, clap::Error> {
    let value = value
        .to_str()
        .map_or(value, |s| std::ffi::OsStr::new(s.trim()));
    let names =
        clap::builder::PossibleValuesParser::new(parser.possible_values().into_iter().flatten());
    let name = clap::builder::TypedValueParser::parse_ref(&names, cmd, arg, value)?;
    parse(&name).map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidValue, e))
}

/// Parses `--to` names against the registry of writers, which lists them
/// (with what each writes and its extension) in `--help` and in the error
/// for a name that is none of them.
#[derive(Clone)]
pub(super) struct OutputFormatParser;

impl clap::builder::TypedValueParser for OutputFormatParser {
    type Value = OutputFormat;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<OutputFormat, clap::Error> {
        parse_listed(self, cmd, arg, value, |name| Ok(OutputFormat::parse(name)?))
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(OutputFormat::all().map(|f| {
            clap::builder::PossibleValue::new(f.name())
                .aliases(f.spec().aliases.iter().copied())
                .help(format!("{} (.{})", f.description(), f.extension()))
        })))
    }
}

/// The time outputs are stamped with under `--seed` when
/// SOURCE_DATE_EPOCH is not set: 2000-01-01 00:00:00 UTC, which every
/// format's time field can hold (FAT's start in 1980, VHD's in 2000).
const SEED_TIME: u64 = 946_684_800;

pub(super) fn format_options(a: &FormatArgs) -> Result<FormatOptions> {
    let mut opts = FormatOptions::default();
    if let Some(seed) = &a.seed {
        // A stamp from SOURCE_DATE_EPOCH keeps its time; otherwise a fixed
        // one, so that the seed alone makes outputs repeatable.
        let time = if opts.stamp.is_reproducible() {
            opts.stamp.unix_time()
        } else {
            SEED_TIME
        };
        opts.stamp = blocksink::BuildStamp::fixed(time, seed);
    }
    opts.set_values(&a.values.0)?;
    opts.grow_gpt = !a.no_gpt_grow;
    Ok(opts)
}
