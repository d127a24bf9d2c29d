//! The admin's step after the install: the installed `citysense-provision` makes the stations.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use protocol::registry::Registry;

use super::account::Account;
use super::commands::{indent, output};
use super::{BOOTSTRAP_SECRETS, PROVISION, REGISTRY, USER};

/// What an admin does after the install, with the installed `citysense-provision`: the services'
/// broker accounts, then each station of `stations` as a node (a fresh key in the registry, a
/// broker account limited to its topics, a settings blob). Returns the registry it wrote, whose
/// files the services' group reads.
pub(super) fn provision(stations: &Registry, account: &Account) -> Result<Registry> {
    // postinst made the accounts already: a second run keeps them.
    let said = output(Command::new(PROVISION).arg("services"))?;
    eprintln!("citysense-provision services:\n{}", indent(&said));
    ensure!(
        said.lines().filter(|l| l.contains(" kept ")).count() == BOOTSTRAP_SECRETS.len(),
        "citysense-provision services after the install should keep the 3 accounts postinst made:\n{said}"
    );
    for node in stations.nodes() {
        let mut add = Command::new(PROVISION);
        add.args([
            "node",
            "add",
            "--id",
            &node.id.to_string(),
            "--station",
            &node.station,
        ])
        .args([
            "--name",
            &node.name,
            "--kind",
            node.kind.as_str(),
            "--district",
            &node.district,
        ])
        // The address written into the node's settings blob; the simulated nodes are given
        // the test broker's instead.
        .args(["--broker", "127.0.0.1:1883"]);
        if let Some((lon, lat)) = node.location {
            add.args(["--lon", &lon.to_string(), "--lat", &lat.to_string()]);
        }
        output(&mut add).with_context(|| format!("citysense-provision node add --id {}", node.id))?;
    }
    let registry = Registry::load(Path::new(REGISTRY))?;
    let ids = |r: &Registry| r.nodes().map(|n| n.id).collect::<BTreeSet<_>>();
    ensure!(ids(&registry) == ids(stations), "{REGISTRY} holds other nodes");
    // The services read these as the group citysense, which the package made.
    for path in [REGISTRY].into_iter().chain(BOOTSTRAP_SECRETS) {
        let meta = fs::metadata(path).with_context(|| format!("citysense-provision wrote no {path}"))?;
        ensure!(
            meta.permissions().mode() & 0o7777 == 0o640 && meta.gid() == account.gid,
            "{path}: mode {:o} group {}, expected 0640 group {USER}",
            meta.permissions().mode() & 0o7777,
            meta.gid()
        );
    }
    eprintln!(
        "provisioned: 3 service accounts and {} nodes; registry and passwords 0640 group {USER}",
        registry.len()
    );
    Ok(registry)
}
