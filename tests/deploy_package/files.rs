//! The installed files: modes, owners, the shipped contents and the conffiles.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

use super::account::Account;
use super::commands::{getent, output};
use super::unit::UNITS;
use super::{
    ACL, BOOTSTRAP_SECRETS, BROKER_CERT, BROKER_KEY, MOSQUITTO_CONF, PACKAGE, PASSWD, PROVISION, repo,
};

/// An installed path as it should be.
struct Expected {
    path: PathBuf,
    /// `None`: adduser.conf decides; only that no one else may write matters.
    mode: Option<u32>,
    /// uid and gid.
    owner: (u32, u32),
    /// The repository file it must equal.
    source: Option<PathBuf>,
}

impl Expected {
    fn new(path: impl Into<PathBuf>, mode: u32, owner: (u32, u32)) -> Self {
        Expected {
            path: path.into(),
            mode: Some(mode),
            owner,
            source: None,
        }
    }

    fn equal_to(mut self, source: impl AsRef<Path>) -> Self {
        self.source = Some(repo().join(source));
        self
    }
}

/// Every installed path with its mode and owner, the shipped contents, and the conffiles.
pub(super) fn check_files(account: &Account, ships_mosquitto_conf: bool) -> Result<()> {
    let root = (0, 0);
    let service = (0, account.gid);
    let mut expected = Vec::new();
    for spec in &UNITS {
        expected.push(Expected::new(
            Path::new("/usr/bin").join(spec.binary),
            0o755,
            root,
        ));
        expected.push(
            Expected::new(Path::new("/lib/systemd/system").join(spec.unit), 0o644, root)
                .equal_to(Path::new("deploy/systemd").join(spec.unit)),
        );
        // 0640 root:citysense through dpkg-statoverride: the configs may hold inline secrets.
        expected.push(
            Expected::new(Path::new("/etc/citysense").join(spec.config), 0o640, service)
                .equal_to(Path::new("deploy/etc").join(spec.config)),
        );
    }
    expected.push(Expected::new(PROVISION, 0o755, root));
    expected.push(Expected::new("/etc/citysense/secrets", 0o750, service));
    // What postinst made with citysense-provision, so that mosquitto starts with the shipped
    // config at once: the services' accounts and a self-signed certificate whose key the
    // broker's group reads.
    for secret in BOOTSTRAP_SECRETS {
        expected.push(Expected::new(secret, 0o640, service));
    }
    expected.push(Expected::new(PASSWD, 0o644, root));
    expected.push(Expected::new(ACL, 0o644, root));
    expected.push(Expected::new(BROKER_CERT, 0o644, root));
    let broker_group = getent("group", "mosquitto")?
        .and_then(|line| line.split(':').nth(2).and_then(|gid| gid.parse().ok()))
        .context("no group mosquitto: scripts/test installs Debian's mosquitto")?;
    expected.push(Expected::new(BROKER_KEY, 0o640, (0, broker_group)));
    for doc in ["README.md", "deploy.md", "copyright"] {
        expected.push(Expected::new(
            Path::new("/usr/share/doc/citysense").join(doc),
            0o644,
            root,
        ));
    }
    let mut conffiles: BTreeSet<String> = UNITS
        .iter()
        .map(|s| format!("/etc/citysense/{}", s.config))
        .collect();
    if ships_mosquitto_conf {
        let path = "/etc/mosquitto/conf.d/citysense.conf";
        expected.push(Expected::new(path, 0o644, root).equal_to(MOSQUITTO_CONF));
        conffiles.insert(path.into());
    }
    expected.push(Expected {
        path: PathBuf::from(&account.home),
        mode: None,
        owner: (account.uid, account.gid),
        source: None,
    });

    for Expected {
        path,
        mode,
        owner: (uid, gid),
        source,
    } in &expected
    {
        let meta = fs::metadata(path).with_context(|| format!("{} is not installed", path.display()))?;
        let found = meta.permissions().mode() & 0o7777;
        let mode_ok = mode.map_or(found & 0o022 == 0, |mode| found == mode);
        let wanted = mode.map_or_else(|| "not group/other-writable".to_owned(), |m| format!("{m:o}"));
        ensure!(
            mode_ok && meta.uid() == *uid && meta.gid() == *gid,
            "{}: mode {found:o} owner {}:{}, expected {wanted} {uid}:{gid}",
            path.display(),
            meta.uid(),
            meta.gid()
        );
        if let Some(source) = source {
            ensure!(
                fs::read(path)? == fs::read(source)?,
                "{} differs from {}",
                path.display(),
                source.display()
            );
        }
    }
    let listed = output(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}\n", PACKAGE]))?;
    let listed: BTreeSet<String> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    ensure!(
        listed == conffiles,
        "conffiles: {listed:?}, expected {conffiles:?}"
    );
    eprintln!(
        "files: {} paths with the expected mode and owner; conffiles {:?}{}",
        expected.len(),
        conffiles,
        if ships_mosquitto_conf {
            ""
        } else {
            " (no deploy/mosquitto/citysense.conf in the repository, so no mosquitto config)"
        }
    );
    Ok(())
}
