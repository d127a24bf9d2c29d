//! The `citysense-ioc-api` and `citysense-collector` binaries the test takes backups and restores
//! with, and what their exit says.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, ensure};

/// A workspace binary next to this test's binary.
pub(super) fn binary(name: &str, package: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("target dir")?;
    let path = dir.join(name);
    ensure!(
        path.is_file(),
        "{} is missing: build it first (`cargo build -p {package}`; scripts/test builds every target)",
        path.display()
    );
    Ok(path)
}

/// Runs `program args` off the runtime's threads.
pub(super) async fn run(program: &Path, args: Vec<String>) -> Result<Output> {
    let program = program.to_owned();
    let output = tokio::task::spawn_blocking(move || Command::new(program).args(args).output()).await??;
    Ok(output)
}

pub(super) fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

pub(super) fn succeeded(what: &str, output: &Output) -> Result<()> {
    ensure!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

pub(super) fn refused(what: &str, output: &Output, because: &str) -> Result<()> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        !output.status.success() && stderr.contains(because),
        "{what} should have been refused with {because:?}: {} {stderr}",
        output.status
    );
    Ok(())
}
