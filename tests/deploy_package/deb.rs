//! The package as built: `scripts/package` and what the .deb says about itself.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Result, ensure};

use super::commands::{logged, output, tail};
use super::{PACKAGE, repo};

/// Runs `scripts/package --out <out>`: the release build and the .deb.
pub(super) fn build_package(out: &Path) -> Result<PathBuf> {
    let log_path = out.join("package.log");
    let started = Instant::now();
    let status = logged(
        Command::new(repo().join("scripts/package")).args(["--out".as_ref(), out.as_os_str()]),
        &log_path,
    )?;
    let log = fs::read_to_string(&log_path)?;
    ensure!(
        status.success(),
        "scripts/package failed ({status}):\n{}",
        tail(&log, 40)
    );
    for line in log
        .lines()
        .filter(|l| l.starts_with("==> ") || l.starts_with("    "))
    {
        eprintln!("  {line}");
    }
    eprintln!("scripts/package took {} s", started.elapsed().as_secs());

    let arch = output(Command::new("dpkg").arg("--print-architecture"))?;
    let expected = out.join(format!(
        "{PACKAGE}_{}_{}.deb",
        env!("CARGO_PKG_VERSION"),
        arch.trim()
    ));
    let debs: Vec<PathBuf> = fs::read_dir(out)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    ensure!(
        debs == [expected.clone()],
        "expected exactly {} in {}, found {debs:?}",
        expected.display(),
        out.display()
    );
    Ok(expected)
}

/// The control fields and that every file in the archive belongs to root.
pub(super) fn check_deb(deb: &Path) -> Result<()> {
    let fields = output(Command::new("dpkg-deb").arg("--field").arg(deb).args([
        "Package",
        "Version",
        "Depends",
        "Recommends",
        "Suggests",
    ]))?;
    let field = |name: &str| {
        fields
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_owned()
    };
    ensure!(field("Package") == PACKAGE, "{fields}");
    ensure!(field("Version") == env!("CARGO_PKG_VERSION"), "{fields}");
    ensure!(
        field("Depends").split(", ").any(|d| d == "adduser") && field("Depends").contains("libc6"),
        "Depends: {fields}"
    );
    ensure!(field("Recommends") == "mosquitto", "{fields}");
    ensure!(field("Suggests") == "influxdb", "{fields}");
    let contents = output(Command::new("dpkg-deb").arg("--contents").arg(deb))?;
    let not_root: Vec<&str> = contents
        .lines()
        .filter(|l| l.split_whitespace().nth(1) != Some("root/root"))
        .collect();
    ensure!(
        not_root.is_empty(),
        "files not owned by root in the .deb: {not_root:?}"
    );
    eprintln!(
        "package: {} entries, all root/root; Depends: {}",
        contents.lines().count(),
        field("Depends")
    );
    Ok(())
}
