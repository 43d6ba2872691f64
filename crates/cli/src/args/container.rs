//! The flags that describe a container image `imgconv build` writes.

use anyhow::{bail, Context, Result};
use clap::Args;

/// How a container image (oci, oci-archive, docker-archive) is described.
#[derive(Args)]
pub(super) struct ContainerArgs {
    /// Container image: the name it is tagged with, NAME[:TAG] (default:
    /// the artifact's name, tag latest).
    #[arg(long)]
    tag: Option<String>,
    /// Container image: a label, KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Container image: an environment variable, KEY=VALUE (repeatable;
    /// PATH has the usual default).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Container image: the entrypoint, as a JSON array
    /// (`["/bin/sh","-c"]`) or words separated by spaces.
    #[arg(long)]
    entrypoint: Option<String>,
    /// Container image: the default command (arguments to the entrypoint),
    /// as a JSON array or words separated by spaces.
    #[arg(long)]
    cmd: Option<String>,
    /// Container image: the working directory.
    #[arg(long)]
    workdir: Option<String>,
    /// Container image: the user the command runs as (USER[:GROUP]).
    #[arg(long)]
    user: Option<String>,
    /// Container image: its architecture as OCI names it (amd64, arm64;
    /// default: this machine's).
    #[arg(long)]
    arch: Option<String>,
    /// Container image: layer compression, gzip (default, level 6) or
    /// zstd (level 3), with a level as `gzip:1`, `zstd:19`; a docker
    /// archive's layers are never compressed.
    #[arg(long, value_name = "ALGO[:LEVEL]")]
    layer_compression: Option<String>,
}

impl ContainerArgs {
    /// The image options these flags give, for an image named after
    /// `stem` made at `time`.
    /// The image's options: the configuration's container section with
    /// the flags over it (an `--env` or `--label` replaces the same key).
    pub(super) fn image_options(
        &self,
        stem: &str,
        time: u64,
        settings: &imgbuild::config::ContainerSettings,
    ) -> Result<container::ImageOptions> {
        let mut config = container::ContainerConfig {
            created: i64::try_from(time).unwrap_or(0),
            architecture: self.arch.clone().unwrap_or_else(|| {
                match std::env::consts::ARCH {
                    "x86_64" => "amd64",
                    "aarch64" => "arm64",
                    "x86" => "386",
                    "powerpc64" => "ppc64le",
                    other => other,
                }
                .to_string()
            }),
            created_by: format!("imgconv build {}", env!("CARGO_PKG_VERSION")),
            labels: settings.labels.iter().cloned().collect(),
            ..Default::default()
        };
        config.env.extend(settings.env.iter().cloned());
        for e in &self.env {
            let Some((key, _)) = e.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                bail!("--env {e:?}: expected KEY=VALUE");
            };
            config
                .env
                .retain(|old| old.split_once('=').map(|(k, _)| k) != Some(key));
            config.env.push(e.clone());
        }
        for l in &self.labels {
            let Some((key, value)) = l.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                bail!("--label {l:?}: expected KEY=VALUE");
            };
            config.labels.insert(key.to_string(), value.to_string());
        }
        config.entrypoint = match self.entrypoint.as_deref() {
            Some(e) => Some(command_words("--entrypoint", e)?),
            None => settings.entrypoint.clone(),
        };
        config.cmd = match self.cmd.as_deref() {
            Some(c) => Some(command_words("--cmd", c)?),
            None => settings.cmd.clone(),
        };
        config.working_dir = self
            .workdir
            .clone()
            .or_else(|| settings.working_dir.clone());
        config.user = self.user.clone().or_else(|| settings.user.clone());
        let compression = match self.layer_compression.as_deref() {
            None => container::Compression::GZIP,
            Some(text) => container::Compression::parse(text)
                .map_err(|why| anyhow::anyhow!("--layer-compression {text:?}: {why}"))?,
        };
        let tag = match self.tag.as_ref().or(settings.tag.as_ref()) {
            Some(t) => t.clone(),
            None => default_name(stem),
        };
        Ok(container::ImageOptions {
            layout: None,
            compression,
            config,
            reference: Some(container::Reference::parse(&tag)?),
        })
    }
}

/// An image name made from an artifact's name: lower case, each character
/// a repository name may not hold a `-`, and `image` if nothing is left.
fn default_name(stem: &str) -> String {
    let name: String = stem
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if name.is_empty() {
        "image".into()
    } else {
        name.into()
    }
}

/// A command given as a JSON array of strings, or as words separated by
/// white space.
fn command_words(flag: &str, text: &str) -> Result<Vec<String>> {
    if text.trim_start().starts_with('[') {
        serde_json::from_str(text)
            .with_context(|| format!("{flag} {text:?}: not a JSON array of strings"))
    } else {
        Ok(text.split_whitespace().map(str::to_string).collect())
    }
}
