//! Running commands: their output, their log, and the parts of it an error message quotes.

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use anyhow::{Context, Result, anyhow, ensure};

/// The entry of `key` in the `database` (`passwd`, `group`), or `None` when there is none.
pub(super) fn getent(database: &str, key: &str) -> Result<Option<String>> {
    let out = Command::new("getent")
        .args([database, key])
        .output()
        .context("running getent")?;
    // getent exits 2 for a key that is not there.
    match out.status.code() {
        Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
        Some(2) => Ok(None),
        _ => Err(anyhow!("getent {database} {key}: {}", out.status)),
    }
}

/// Runs `command` to completion; its stdout and stderr, or an error quoting them.
pub(super) fn output(command: &mut Command) -> Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {command:?}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success(),
        "{command:?} failed ({}):\n{text}",
        out.status
    );
    Ok(text)
}

/// Runs `command` with its stdout and stderr in `log`.
pub(super) fn logged(command: &mut Command, log: &Path) -> Result<ExitStatus> {
    let file = File::create(log)?;
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("running {command:?}"))
}

pub(super) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub(super) fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}
