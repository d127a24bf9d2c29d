//! The package on the machine: the preconditions for installing it, the guard that purges it
//! whatever happens, and the check that the purge left nothing.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};

use super::commands::{getent, indent, output};
use super::unit::UNITS;
use super::{BOOTSTRAP_SECRETS, BROKER_CERT, BROKER_KEY, PACKAGE, PASSWD, PROVISIONED, USER};
use crate::support::find_program;

/// Root and dpkg, and no citysense on the machine yet: the test would otherwise purge what it did
/// not install.
pub(super) fn preconditions() -> Result<()> {
    ensure!(
        rustix::process::getuid().is_root(),
        "this test installs a Debian package with dpkg -i: run it as root (it fails rather than skip)"
    );
    for (tool, package) in [
        ("dpkg", "dpkg"),
        ("dpkg-deb", "dpkg"),
        ("dpkg-query", "dpkg"),
        ("dpkg-statoverride", "dpkg"),
        ("setpriv", "util-linux"),
        ("getent", "libc-bin"),
    ] {
        find_program(tool, package)?;
    }
    let status = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", PACKAGE])
        .output()
        .context("running dpkg-query")?;
    let state = String::from_utf8_lossy(&status.stdout).trim().to_owned();
    ensure!(
        !status.status.success() || state == "not-installed",
        "the package {PACKAGE} is on this machine already ({state}); this test installs and purges it: \
         `dpkg --purge {PACKAGE}` first"
    );
    ensure!(
        getent("passwd", USER)?.is_none(),
        "a user {USER} exists already; this test creates and removes it: remove it first"
    );
    Ok(())
}

/// The installed package; purged on drop unless [`Installed::purge`] ran.
pub(super) struct Installed {
    purged: bool,
}

impl Installed {
    pub(super) fn install(deb: &Path) -> Result<Self> {
        // The guard exists before dpkg runs: a failed install can leave a half-configured package.
        let installed = Installed { purged: false };
        let text =
            output(Command::new("dpkg").arg("-i").arg(deb)).context("dpkg -i of the package failed")?;
        eprintln!("dpkg -i: installed\n{}", indent(&text));
        Ok(installed)
    }

    /// `dpkg -i` again, as an upgrade or a reinstall does: postinst runs a second time and keeps
    /// every password and the certificate it made the first time.
    pub(super) fn reinstall_keeps_secrets(&self, deb: &Path) -> Result<()> {
        let kept = [BROKER_CERT, BROKER_KEY, PASSWD]
            .into_iter()
            .chain(BOOTSTRAP_SECRETS)
            .map(|path| Ok((path, fs::read(path).with_context(|| format!("reading {path}"))?)))
            .collect::<Result<Vec<_>>>()?;
        let text = output(Command::new("dpkg").arg("-i").arg(deb)).context("the second dpkg -i failed")?;
        eprintln!("dpkg -i again:\n{}", indent(&text));
        for (path, before) in kept {
            ensure!(fs::read(path)? == before, "the second install changed {path}");
        }
        eprintln!("second install: broker certificate, key, password hashes and service passwords unchanged");
        Ok(())
    }

    /// Removes the admin's files the package's purge keeps, then `dpkg --purge`.
    pub(super) fn purge(&mut self) -> Result<()> {
        self.purged = true;
        for path in PROVISIONED.map(Path::new) {
            let removed = if path.is_dir() {
                fs::remove_dir_all(path)
            } else {
                fs::remove_file(path)
            };
            match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", path.display()));
                }
                _ => {}
            }
        }
        let text = output(Command::new("dpkg").args(["--purge", PACKAGE])).context("dpkg --purge failed")?;
        eprintln!("dpkg --purge:\n{}", indent(&text));
        Ok(())
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !self.purged
            && let Err(e) = self.purge()
        {
            eprintln!(
                "CLEAN-UP FAILED: {e:#}\nthe machine may still hold the package: run `dpkg --purge {PACKAGE}`"
            );
        }
    }
}

/// Nothing of the package is left: no package, user, group, state, config or statoverride.
pub(super) fn check_purged() -> Result<()> {
    let status = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", PACKAGE])
        .output()?;
    let state = String::from_utf8_lossy(&status.stdout).trim().to_owned();
    ensure!(
        !status.status.success() || state == "not-installed",
        "after the purge dpkg knows {PACKAGE} as {state:?}"
    );
    ensure!(getent("passwd", USER)?.is_none(), "the user {USER} is left");
    ensure!(getent("group", USER)?.is_none(), "the group {USER} is left");
    let mut left: Vec<&str> = ["/var/lib/citysense", "/etc/citysense", "/usr/share/doc/citysense"]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();
    for spec in &UNITS {
        for path in [
            format!("/usr/bin/{}", spec.binary),
            format!("/lib/systemd/system/{}", spec.unit),
        ] {
            ensure!(!Path::new(&path).exists(), "{path} is left");
        }
    }
    let overrides = output(Command::new("dpkg-statoverride").arg("--list"))?;
    if overrides.contains("/etc/citysense/") {
        left.push("a dpkg-statoverride for /etc/citysense");
    }
    ensure!(left.is_empty(), "left after the purge: {left:?}");
    eprintln!("purged: no package, user, group, files, state or statoverride left");
    Ok(())
}
