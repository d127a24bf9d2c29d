//! Checks of the installed units and configs before anything runs: `systemd-analyze`, and each
//! service's `check-config` as its user.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

use super::USER;
use super::account::Account;
use super::commands::output;
use super::unit::{UNITS, Unit};
use crate::support::find_program;

/// `systemd-analyze verify` on the installed units, when the tool is here.
pub(super) fn verify_units() -> Result<()> {
    let Ok(analyze) = find_program("systemd-analyze", "systemd") else {
        eprintln!("systemd-analyze is not installed: the unit files are NOT verified");
        return Ok(());
    };
    let units: Vec<PathBuf> = UNITS
        .iter()
        .map(|s| Path::new("/lib/systemd/system").join(s.unit))
        .collect();
    let verify = Command::new(&analyze).arg("verify").args(&units).output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    // A warning (an unknown key, a bad value) is a broken line in the unit: none is accepted.
    ensure!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify ({}):\n{said}",
        verify.status
    );
    eprintln!("systemd-analyze verify: the three units pass, without a warning");
    for unit in &units {
        let security = output(
            Command::new(&analyze)
                .args(["security", "--offline=yes"])
                .arg(unit),
        )?;
        // "→ Overall exposure level for citysense-collector.service: 1.2 OK 🙂"
        let exposure: f64 = security
            .lines()
            .find_map(|l| l.split_once("Overall exposure level for "))
            .and_then(|(_, rest)| rest.split_once(": "))
            .and_then(|(_, score)| score.split_whitespace().next())
            .and_then(|score| score.parse().ok())
            .with_context(|| format!("no exposure level in systemd-analyze security:\n{security}"))?;
        // systemd rates up to 10 (unsandboxed); the shipped units score 1.2. A change that drops
        // a handful of the sandboxing lines shows here.
        ensure!(
            exposure <= 2.0,
            "{}: systemd-analyze security rates its exposure {exposure}, above 2.0:\n{security}",
            unit.display()
        );
        eprintln!("systemd-analyze security: {} exposure {exposure}", unit.display());
    }
    Ok(())
}

/// The shipped configs pass each service's own check, read as the service's user.
pub(super) fn check_configs(units: &[Unit], account: &Account) -> Result<()> {
    for unit in units {
        let config = format!("/etc/citysense/{}", unit.spec.config);
        let args: Vec<String> = ["check-config", "--config", &config].map(str::to_owned).into();
        let mut argv = vec![format!("/usr/bin/{}", unit.spec.binary)];
        argv.extend(args.iter().cloned());
        let text = output(&mut unit.command(&argv, account))
            .with_context(|| format!("the shipped {config} fails the check"))?;
        eprintln!(
            "config check, as {USER}: {} {}: ok ({})",
            unit.spec.binary,
            args.join(" "),
            text.lines().next().unwrap_or("no output")
        );
    }
    Ok(())
}
