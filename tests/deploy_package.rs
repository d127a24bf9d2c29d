//! The Debian package end to end: `scripts/package` builds it (release binaries), `dpkg -i`
//! installs it (user, files, conffiles, permissions, and through postinst the services' broker
//! accounts and the broker's self-signed certificate; a second `dpkg -i` keeps them), the
//! installed `citysense-provision` makes the stations, each unit's `ExecStart=` runs its service as the unit's
//! `User=` with the shipped config against a test mosquitto running the shipped broker config
//! (accounts and ACL required) and a test InfluxDB while a simulated fleet reports, SIGTERM stops
//! each one with exit 0 within its `TimeoutStopSec=`, and `dpkg --purge` leaves nothing.
//!
//! It changes the machine (a system user, /usr/bin, /etc/citysense, /var/lib/citysense), so it
//! needs root and dpkg and fails without them; a guard purges the package whatever happens.

mod support;

#[path = "deploy_package/account.rs"]
mod account;
#[path = "deploy_package/commands.rs"]
mod commands;
#[path = "deploy_package/deb.rs"]
mod deb;
#[path = "deploy_package/env_files.rs"]
mod env_files;
#[path = "deploy_package/files.rs"]
mod files;
#[path = "deploy_package/installed.rs"]
mod installed;
#[path = "deploy_package/provision.rs"]
mod provision;
#[path = "deploy_package/running.rs"]
mod running;
#[path = "deploy_package/service_results.rs"]
mod service_results;
#[path = "deploy_package/unit.rs"]
mod unit;
#[path = "deploy_package/unit_checks.rs"]
mod unit_checks;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use account::check_account;
use anyhow::Result;
use deb::{build_package, check_deb};
use env_files::point_at_test_services;
use files::check_files;
use firmware::node::NodeConfig;
use installed::{Installed, check_purged, preconditions};
use protocol::Body;
use protocol::topic::DEFAULT_PREFIX;
use provision::provision;
use running::Running;
use service_results::{check_influx, check_ioc_stations, check_relay_files, check_state};
use simulators::clock::{SimClock, Speed, wall_ms};
use simulators::fleet::{self, FleetConfig, FleetOptions};
use simulators::signal::Scenario;
use support::{BrokerSecurity, Influx1, Mosquitto, MosquittoOptions, free_ports, loopback_client};
use unit::{UNITS, Unit};
use unit_checks::{check_configs, verify_units};

const PACKAGE: &str = "citysense";
const USER: &str = "citysense";
const DATABASE: &str = "citysense";
const REGISTRY: &str = "/etc/citysense/nodes.toml";
const PROVISION: &str = "/usr/bin/citysense-provision";
/// What `citysense-provision` writes from the registry: the admin's files, which the package's
/// purge keeps, so the test removes them itself (the purge must remove the rest of
/// /etc/citysense, the broker's certificate among it).
const PROVISIONED: [&str; 4] = [REGISTRY, PASSWD, ACL, "/etc/citysense/provisioning"];
/// The services' broker passwords postinst makes (`citysense-provision services`).
const BOOTSTRAP_SECRETS: [&str; 3] = [
    "/etc/citysense/secrets/mqtt-collector",
    "/etc/citysense/secrets/mqtt-ioc",
    "/etc/citysense/secrets/mqtt-relay",
];
const PASSWD: &str = "/etc/citysense/mosquitto/passwd";
const ACL: &str = "/etc/citysense/mosquitto/acl";
/// The broker's certificate and key postinst makes (`citysense-provision broker-cert`).
const BROKER_CERT: &str = "/etc/citysense/mosquitto/tls/server.crt";
const BROKER_KEY: &str = "/etc/citysense/mosquitto/tls/server.key";
/// How long a service may take to be ready, and the data to show up.
const DEADLINE: Duration = Duration::from_secs(90);
/// The mosquitto config another part of the project writes; the package ships it when present.
const MOSQUITTO_CONF: &str = "deploy/mosquitto/citysense.conf";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds, installs, runs and purges the package. The proof is in the steps' checks; each prints
/// one line of what it found.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_package_installs_runs_its_units_and_purges_clean() -> Result<()> {
    let started = Instant::now();
    preconditions()?;
    let out = tempfile::Builder::new().prefix("citysense-deb-").tempdir()?;
    let ships_mosquitto_conf = repo().join(MOSQUITTO_CONF).is_file();
    let deb = build_package(out.path())?;
    check_deb(&deb)?;

    // From here on the machine holds the package: the guard purges it on every way out. It is
    // declared before the services, so they are gone (dropped first) before the purge removes
    // their user.
    let mut installed = Installed::install(&deb)?;
    let account = check_account()?;
    check_files(&account, ships_mosquitto_conf)?;
    installed.reinstall_keeps_secrets(&deb)?;
    verify_units()?;

    let registry = provision(&simulators::stations::hau_giang(2, 1), &account)?;
    // The broker runs the shipped config with the files postinst made: mosquitto (as its own
    // user) reads their certificate and key.
    let mosquitto = Mosquitto::start(MosquittoOptions {
        security: Some(BrokerSecurity {
            passwd: PASSWD.into(),
            acl: ACL.into(),
            cert: BROKER_CERT.into(),
            key: BROKER_KEY.into(),
        }),
        ..MosquittoOptions::default()
    })
    .await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let units: Vec<Unit> = UNITS.iter().map(Unit::load).collect::<Result<_>>()?;
    check_configs(&units, &account)?;

    let ports = free_ports(3)?;
    let urls = point_at_test_services(&mosquitto, &influx, &ports, &account)?;
    let systemd = Path::new("/run/systemd/system").is_dir();
    if systemd {
        eprintln!("systemd runs: starting the units with systemctl");
    } else {
        eprintln!(
            "SYSTEMD IS NOT RUNNING (PID 1 is {:?}, no /run/systemd/system): each unit's ExecStart= line is run \
             directly as its User=/Group= (setpriv), with its EnvironmentFile=, StateDirectory= \
             (made as systemd makes it), NoNewPrivileges= and CapabilityBoundingSet=; its other sandboxing \
             (ProtectSystem=, SystemCallFilter=, ...) is not applied, so this run does not prove it leaves the \
             services working",
            fs::read_to_string("/proc/1/comm").unwrap_or_default().trim()
        );
    }
    let mut running = Vec::new();
    for unit in &units {
        running.push(Running::start(unit, systemd, out.path(), &account)?);
    }
    let http = loopback_client(Duration::from_secs(10))?;
    for (service, url) in running.iter_mut().zip(&urls) {
        service.wait_ready(&http, url).await?;
    }
    eprintln!("all three services ready: {}", urls.join(", "));

    // An hour of reports, one a minute, as fast as the broker takes them; each node logs in with
    // the account citysense-provision gave it (the password from its settings blob).
    let fleet_config = FleetConfig {
        host: mosquitto.host().into(),
        port: mosquitto.port(),
        prefix: DEFAULT_PREFIX.into(),
        client_prefix: "deploy-sim".into(),
        registry: registry.clone(),
        node: NodeConfig {
            sample_interval_ms: 5_000,
            report_interval_ms: 60_000,
            ..NodeConfig::default()
        },
        clock: SimClock::new(wall_ms() - 3_600_000, Speed::Unlimited),
        frames_per_node: Some(60),
        scenario: Scenario::default(),
        boot: 1,
    };
    let options = FleetOptions {
        passwords: fleet::passwords_from_blobs(Path::new("/etc/citysense/provisioning"))?,
        ..FleetOptions::default()
    };
    let report = fleet::run_with(fleet_config, options, std::future::pending()).await?;
    let (air, water) = report
        .telemetry()
        .fold((0, 0), |(air, water), sent| match sent.frame.body {
            Body::Air(_) => (air + 1, water),
            Body::Water(_) => (air, water + 1),
            Body::Status(_) => (air, water),
        });
    eprintln!(
        "fleet: {} nodes sent {air} air and {water} water telemetry frames",
        registry.len()
    );
    check_influx(&influx, air, water).await?;
    check_ioc_stations(&http, &urls[1], &registry).await?;
    check_relay_files(&http, &urls[2], &registry, &account).await?;

    for service in &mut running {
        service.stop_and_check().await?;
    }
    check_state(&account)?;
    drop(running);

    installed.purge()?;
    check_purged()?;
    eprintln!("deploy package test done in {} s", started.elapsed().as_secs());
    Ok(())
}
