//! `imgconv doctor`: the external tools builds run, as a table or JSON.

use anyhow::Result;
use blocksink::tool::Checked;

/// Each tool `checked` found, and whether the default build is `ready`.
pub(crate) fn print(checked: &[Checked], ready: bool, json: bool) -> Result<()> {
    if json {
        let tools: Vec<_> = checked
            .iter()
            .map(|c| {
                serde_json::json!({
                    "program": c.tool.program,
                    "state": c.state.as_str(),
                    "path": c.path,
                    "version": c.version,
                    "minimum": c.tool.minimum.map(|m| m.version.to_string()),
                    "default_build": c.tool.default_build,
                    "purpose": c.tool.purpose,
                    "debian": c.tool.debian,
                    "fedora": c.tool.fedora,
                })
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "default_build_ready": ready,
                "tools": tools,
            }))?
        );
    } else {
        let mut rows = vec![[
            "TOOL".to_string(),
            "STATE".into(),
            "VERSION".into(),
            "MINIMUM".into(),
            "DEFAULT BUILD".into(),
            "PATH".into(),
            "DEBIAN / FEDORA PACKAGE".into(),
        ]];
        for c in checked {
            rows.push([
                c.tool.program.to_string(),
                c.state.as_str().into(),
                c.version.clone().unwrap_or_else(|| "-".into()),
                c.tool
                    .minimum
                    .map_or_else(|| "-".into(), |m| m.version.to_string()),
                if c.tool.default_build {
                    "needs it"
                } else {
                    "-"
                }
                .into(),
                c.path
                    .as_ref()
                    .map_or_else(|| "-".into(), |p| p.display().to_string()),
                format!("{} / {}", c.tool.debian, c.tool.fedora),
            ]);
        }
        let mut widths = [0; 7];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in &rows {
            let line: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:w$}"))
                .collect();
            out!("{}", line.join("  ").trim_end());
        }
        for c in checked {
            if let Some(e) = c.error() {
                out!("");
                out!("{e}");
            }
        }
        out!("");
        if ready {
            out!("The default build (an ext4 disk booting with GRUB) has every tool it needs.");
        } else {
            let lacking: Vec<&str> = checked
                .iter()
                .filter(|c| c.blocks_default_build())
                .map(|c| c.tool.program)
                .collect();
            out!(
                "The default build (an ext4 disk booting with GRUB) cannot run: {} {}.",
                lacking.join(", "),
                if lacking.len() == 1 {
                    "is missing or too old"
                } else {
                    "are missing or too old"
                }
            );
        }
    }
    Ok(())
}
