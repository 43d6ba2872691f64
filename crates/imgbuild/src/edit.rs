//! Files the build changes from what the tree holds, rather than writing
//! them whole: a configuration's kernel module settings merged into the
//! tree's own `modprobe.d` and `modules-load.d` files, as Image Customizer
//! merges them.
//!
//! [`Edited`] is the tree with the edits made: it passes every entry
//! through but the files an edit reads, holds those, and after the tree
//! hands on each edit's result (a file the tree lacked is made, root's,
//! 0644, at the build's time; one it had keeps its owner and mode). Both
//! the disk and the tree formats read it, so each edit is written once.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use crate::config::{ImageConfig, KernelModule, ModuleLoad, SelinuxMode};
use crate::error;
use crate::rootfs::{Entry, EntryKind, EntrySource};
use crate::{Error, Result};

/// Largest file an edit reads from the tree.
const MAX_EDITED: u64 = 16 << 20;

/// A change to some of the tree's files, made from what they hold.
pub(crate) struct TreeEdit {
    /// The files, relative to the root.
    pub(crate) paths: Vec<&'static str>,
    /// Changes each file's bytes in place (`None`: the tree has no such
    /// file, or it is to have none).
    #[allow(clippy::type_complexity)]
    pub(crate) apply: Box<dyn Fn(&mut [Option<Vec<u8>>]) -> Result<()> + Send + Sync>,
}

/// The edits `config` asks for.
pub(crate) fn edits(config: &ImageConfig) -> Vec<TreeEdit> {
    let mut edits = Vec::new();
    if !config.modules.is_empty() {
        let modules = config.modules.clone();
        let source = config.source.clone();
        edits.push(TreeEdit {
            paths: vec![MODULES_LOAD, MODULES_DISABLED, MODULE_OPTIONS],
            apply: Box::new(move |files| kernel_modules(&modules, files, &source)),
        });
    }
    if let Some(mode) = config.selinux {
        let source = config.source.clone();
        edits.push(TreeEdit {
            paths: vec![SELINUX_CONFIG],
            apply: Box::new(move |files| selinux_config(mode, files, &source)),
        });
    }
    edits
}

/// The SELinux configuration, where the tree's policy package puts it.
pub(crate) const SELINUX_CONFIG: &str = "etc/selinux/config";

/// `SELINUX=` set to `mode` in the tree's `/etc/selinux/config` (every
/// such line, as the toolkit's `sed` sets it; added when there is none).
/// A mode other than disabled needs the file: it comes with the policy.
fn selinux_config(mode: SelinuxMode, files: &mut [Option<Vec<u8>>], source: &Path) -> Result<()> {
    let [file] = files else {
        return Ok(());
    };
    let Some(bytes) = file else {
        if mode == SelinuxMode::Disabled {
            return Ok(());
        }
        return Err(error::config(
            source,
            "",
            format!(
                "SELinux mode {} needs the tree's SELinux policy, but /{SELINUX_CONFIG} is not \
                 in the tree (install the policy's package: selinux-policy)",
                mode.config_value()
            ),
        ));
    };
    let text = String::from_utf8_lossy(bytes);
    let line = format!("SELINUX={}", mode.config_value());
    let mut found = false;
    let mut out: Vec<&str> = Vec::new();
    for l in text.lines() {
        if l.starts_with("SELINUX=") {
            found = true;
            out.push(&line);
        } else {
            out.push(l);
        }
    }
    if !found {
        out.push(&line);
    }
    let mut new = out.join("\n");
    new.push('\n');
    *file = Some(new.into_bytes());
    Ok(())
}

/// `inner` with `edits` made.
pub(crate) struct Edited<'a> {
    pub(crate) inner: &'a dyn EntrySource,
    pub(crate) edits: Vec<TreeEdit>,
    /// The build's time, for the files an edit changes.
    pub(crate) time: i64,
}

impl EntrySource for Edited<'_> {
    fn name(&self) -> &Path {
        self.inner.name()
    }

    fn walk(
        &self,
        visit: &mut dyn FnMut(&Entry, &mut dyn Read) -> rootfs::Result<()>,
    ) -> rootfs::Result<()> {
        if self.edits.is_empty() {
            return self.inner.walk(visit);
        }
        let edited: HashSet<&str> = self.edits.iter().flat_map(|e| e.paths.clone()).collect();
        let mut held: HashMap<String, (Entry, Vec<u8>)> = HashMap::new();
        let mut links: Vec<Entry> = Vec::new();
        let name = self.inner.name().to_path_buf();
        self.inner.walk(&mut |entry, data| {
            if edited.contains(entry.path.as_str()) {
                let EntryKind::File { len } = entry.kind else {
                    return Err(::rootfs::source_error(
                        self.inner,
                        Some(&entry.path),
                        "is not a regular file, and the configuration changes it as one",
                    ));
                };
                if len > MAX_EDITED {
                    return Err(::rootfs::source_error(
                        self.inner,
                        Some(&entry.path),
                        format!("is {len} bytes, more than the {MAX_EDITED} an edit reads"),
                    ));
                }
                let mut bytes = Vec::new();
                data.take(len)
                    .read_to_end(&mut bytes)
                    .map_err(|e| Error::file(&name, e))?;
                held.insert(entry.path.clone(), (entry.clone(), bytes));
                return Ok(());
            }
            // A hard link to an edited file comes after it.
            if let EntryKind::HardLink { target } = &entry.kind {
                if edited.contains(target.as_str()) {
                    links.push(entry.clone());
                    return Ok(());
                }
            }
            visit(entry, data)
        })?;
        let mut written = HashSet::new();
        for edit in &self.edits {
            let mut files: Vec<Option<Vec<u8>>> = edit
                .paths
                .iter()
                .map(|p| held.get(*p).map(|h| h.1.clone()))
                .collect();
            (edit.apply)(&mut files)?;
            for (path, bytes) in edit.paths.iter().zip(files) {
                let Some(bytes) = bytes else {
                    continue;
                };
                let entry = match held.get(*path) {
                    Some((entry, old)) => Entry {
                        kind: EntryKind::File {
                            len: bytes.len() as u64,
                        },
                        mtime: if *old == bytes {
                            entry.mtime
                        } else {
                            self.time
                        },
                        ..entry.clone()
                    },
                    None => Entry {
                        kind: EntryKind::File {
                            len: bytes.len() as u64,
                        },
                        mode: 0o644,
                        ..Entry::implied_dir(path.to_string(), self.time)
                    },
                };
                visit(&entry, &mut bytes.as_slice())?;
                written.insert(*path);
            }
        }
        for link in links {
            if let EntryKind::HardLink { target } = &link.kind {
                if written.contains(target.as_str()) {
                    visit(&link, &mut std::io::empty())?;
                }
            }
        }
        Ok(())
    }
}

/// Modules loaded at boot (systemd-modules-load).
const MODULES_LOAD: &str = "etc/modules-load.d/modules-load.conf";
/// Modules disabled (`blacklist NAME`).
const MODULES_DISABLED: &str = "etc/modprobe.d/modules-disabled.conf";
/// Module options (`options NAME KEY=VALUE …`).
const MODULE_OPTIONS: &str = "etc/modprobe.d/module-options.conf";

/// Image Customizer's `os.modules` over the tree's three files (`files`
/// in the order of [`edits`]), as its `LoadOrDisableModules` does it: each
/// module in order taken off the disabled list where it loads, then the
/// ones to load and to disable added where missing, then the options
/// merged into each module's `options` line.
fn kernel_modules(
    modules: &[KernelModule],
    files: &mut [Option<Vec<u8>>],
    source: &Path,
) -> Result<()> {
    let text =
        |f: &Option<Vec<u8>>| String::from_utf8_lossy(f.as_deref().unwrap_or(&[])).into_owned();
    let [load, disabled, options] = files else {
        return Ok(());
    };
    let mut disabled_text = text(disabled);
    let mut to_load = Vec::new();
    let mut to_disable = Vec::new();
    let mut new_options: Vec<(&str, &[(String, String)])> = Vec::new();
    for (i, m) in modules.iter().enumerate() {
        let is_disabled = |t: &str| t.contains(&format!("blacklist {}\n", m.name));
        match m.load {
            ModuleLoad::Always | ModuleLoad::Auto => {
                if is_disabled(&disabled_text) {
                    // Every line naming it, as Image Customizer drops them.
                    let kept: Vec<&str> = disabled_text
                        .lines()
                        .filter(|l| !l.contains(m.name.as_str()))
                        .collect();
                    disabled_text = kept.join("\n") + if kept.is_empty() { "" } else { "\n" };
                    *disabled = Some(disabled_text.clone().into_bytes());
                }
                if m.load == ModuleLoad::Always {
                    to_load.push(m.name.as_str());
                }
            }
            ModuleLoad::Disable => to_disable.push(m.name.as_str()),
            ModuleLoad::Inherit => {
                if !m.options.is_empty() && is_disabled(&disabled_text) {
                    return Err(error::config(
                        source,
                        format!("os.modules[{i}].options"),
                        format!(
                            "{} is disabled in the tree ({MODULES_DISABLED}); give loadMode \
                             auto or always to set its options",
                            m.name
                        ),
                    ));
                }
            }
        }
        if !m.options.is_empty() {
            new_options.push((&m.name, &m.options));
        }
    }
    let mut load_text = text(load);
    let mut load_changed = false;
    for name in to_load {
        if !load_text.contains(&format!("{name}\n")) {
            load_text.push_str(&format!("{name}\n"));
            load_changed = true;
        }
    }
    if load_changed {
        *load = Some(load_text.into_bytes());
    }
    let mut disable_changed = false;
    for name in to_disable {
        let line = format!("blacklist {name}\n");
        if !disabled_text.contains(&line) {
            disabled_text.push_str(&line);
            disable_changed = true;
        }
    }
    if disable_changed {
        *disabled = Some(disabled_text.into_bytes());
    }
    if !new_options.is_empty() {
        *options = Some(merge_options(&text(options), &new_options).into_bytes());
    }
    Ok(())
}

/// The `options` lines of `text` with `updates` merged in: an option
/// given replaces the module's value in place, others are added at its
/// line's end; a module without a line gets one at the end.
fn merge_options(text: &str, updates: &[(&str, &[(String, String)])]) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut done: HashSet<&str> = HashSet::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let update = match fields.as_slice() {
            ["options", module, ..] => updates.iter().find(|(m, _)| m == module),
            _ => None,
        };
        let Some((module, opts)) = update else {
            lines.push(line.to_string());
            continue;
        };
        let mut out = format!("options {module}");
        let mut seen = HashSet::new();
        for field in &fields[2..] {
            let Some((key, _)) = field.split_once('=') else {
                continue;
            };
            match opts.iter().find(|(k, _)| k == key) {
                Some((k, v)) => {
                    out.push_str(&format!(" {k}={v}"));
                    seen.insert(key);
                }
                None => out.push_str(&format!(" {field}")),
            }
        }
        for (k, v) in opts.iter() {
            if !seen.contains(k.as_str()) {
                out.push_str(&format!(" {k}={v}"));
            }
        }
        lines.push(out);
        done.insert(module);
    }
    for (module, opts) in updates {
        if done.contains(module) {
            continue;
        }
        let mut out = format!("options {module}");
        for (k, v) in opts.iter() {
            out.push_str(&format!(" {k}={v}"));
        }
        lines.push(out);
        done.insert(module);
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(name: &str, load: ModuleLoad, options: &[(&str, &str)]) -> KernelModule {
        KernelModule {
            name: name.into(),
            load,
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn modules_merge_into_the_trees_files() {
        let mut files = [
            Some(b"dummy\n".to_vec()),
            Some(b"blacklist vfio\nblacklist nouveau\n".to_vec()),
            Some(b"# tuned\noptions vfio disable_vga=N x=1\noptions other a=b".to_vec()),
        ];
        let modules = [
            module(
                "vfio",
                ModuleLoad::Always,
                &[("disable_vga", "Y"), ("new", "1")],
            ),
            module("br_netfilter", ModuleLoad::Disable, &[]),
            module("kvm", ModuleLoad::Inherit, &[("nested", "1")]),
            module("dummy", ModuleLoad::Always, &[]),
        ];
        kernel_modules(&modules, &mut files, Path::new("c.yaml")).unwrap();
        let text = |i: usize| String::from_utf8(files[i].clone().unwrap()).unwrap();
        assert_eq!(text(0), "dummy\nvfio\n");
        assert_eq!(text(1), "blacklist nouveau\nblacklist br_netfilter\n");
        assert_eq!(
            text(2),
            "# tuned\noptions vfio disable_vga=Y x=1 new=1\noptions other a=b\noptions kvm nested=1"
        );
        // Options for a module the tree disables, left as the tree has it.
        let mut files = [None, Some(b"blacklist kvm\n".to_vec()), None];
        let e = kernel_modules(
            &[module("kvm", ModuleLoad::Inherit, &[("nested", "1")])],
            &mut files,
            Path::new("c.yaml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("os.modules[0].options"), "{e}");
        // Nothing asked, nothing written.
        let mut files = [None, None, None];
        kernel_modules(
            &[module("kvm", ModuleLoad::Auto, &[])],
            &mut files,
            Path::new("c"),
        )
        .unwrap();
        assert_eq!(files, [None, None, None]);
    }

    #[test]
    fn selinux_mode_set_in_the_trees_config() {
        let source = Path::new("c.json");
        let mut files = [Some(
            b"# policy\nSELINUX=disabled\nSELINUXTYPE=targeted\n".to_vec(),
        )];
        selinux_config(SelinuxMode::ForceEnforcing, &mut files, source).unwrap();
        assert_eq!(
            files[0].as_deref(),
            Some(&b"# policy\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"[..])
        );
        let mut files = [Some(b"SELINUXTYPE=targeted".to_vec())];
        selinux_config(SelinuxMode::Permissive, &mut files, source).unwrap();
        assert_eq!(
            files[0].as_deref(),
            Some(&b"SELINUXTYPE=targeted\nSELINUX=permissive\n"[..])
        );
        // Without a policy: nothing to turn off, nothing to turn on.
        let mut files = [None];
        selinux_config(SelinuxMode::Disabled, &mut files, source).unwrap();
        assert_eq!(files, [None]);
        let e = selinux_config(SelinuxMode::Enforcing, &mut files, source).unwrap_err();
        assert!(e.to_string().contains("/etc/selinux/config"), "{e}");
    }
}
