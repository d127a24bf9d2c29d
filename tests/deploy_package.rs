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

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use firmware::node::NodeConfig;
use protocol::Body;
use protocol::registry::Registry;
use protocol::topic::DEFAULT_PREFIX;
use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;
use simulators::clock::{SimClock, Speed, wall_ms};
use simulators::fleet::{self, FleetConfig, FleetOptions};
use simulators::signal::Scenario;
use support::{
    BrokerSecurity, Influx1, Mosquitto, MosquittoOptions, find_program, free_ports, loopback_client,
};

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

/// One unit of the package and what the test needs to know about its service.
struct UnitSpec {
    /// The unit file's name.
    unit: &'static str,
    /// Its binary in /usr/bin.
    binary: &'static str,
    /// Its config in /etc/citysense (a conffile).
    config: &'static str,
}

const UNITS: [UnitSpec; 3] = [
    UnitSpec {
        unit: "citysense-collector.service",
        binary: "citysense-collector",
        config: "collector.toml",
    },
    UnitSpec {
        unit: "citysense-ioc.service",
        binary: "citysense-ioc-api",
        config: "ioc.toml",
    },
    UnitSpec {
        unit: "citysense-relay.service",
        binary: "citysense-relay",
        config: "relay.toml",
    },
];

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

/// Root and dpkg, and no citysense on the machine yet: the test would otherwise purge what it did
/// not install.
fn preconditions() -> Result<()> {
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

/// Runs `scripts/package --out <out>`: the release build and the .deb.
fn build_package(out: &Path) -> Result<PathBuf> {
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
fn check_deb(deb: &Path) -> Result<()> {
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

/// The installed package; purged on drop unless [`Installed::purge`] ran.
struct Installed {
    purged: bool,
}

impl Installed {
    fn install(deb: &Path) -> Result<Self> {
        // The guard exists before dpkg runs: a failed install can leave a half-configured package.
        let installed = Installed { purged: false };
        let text =
            output(Command::new("dpkg").arg("-i").arg(deb)).context("dpkg -i of the package failed")?;
        eprintln!("dpkg -i: installed\n{}", indent(&text));
        Ok(installed)
    }

    /// `dpkg -i` again, as an upgrade or a reinstall does: postinst runs a second time and keeps
    /// every password and the certificate it made the first time.
    fn reinstall_keeps_secrets(&self, deb: &Path) -> Result<()> {
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
    fn purge(&mut self) -> Result<()> {
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

/// The service account as `getent passwd` shows it.
struct Account {
    uid: u32,
    gid: u32,
    home: String,
}

/// A system user and its own group, home /var/lib/citysense, no login shell.
fn check_account() -> Result<Account> {
    let passwd = getent("passwd", USER)?.context("postinst made no user citysense")?;
    // name:password:uid:gid:gecos:home:shell
    let fields: Vec<&str> = passwd.trim().split(':').collect();
    ensure!(fields.len() == 7, "getent passwd: {passwd}");
    let uid: u32 = fields[2].parse()?;
    let gid: u32 = fields[3].parse()?;
    let account = Account {
        uid,
        gid,
        home: fields[5].to_owned(),
    };
    // Debian's system range (adduser.conf FIRST_SYSTEM_UID..LAST_SYSTEM_UID).
    ensure!(uid < 1000, "{USER} is not a system user: {passwd}");
    ensure!(account.home == "/var/lib/citysense", "home: {passwd}");
    ensure!(fields[6].ends_with("nologin"), "login shell: {passwd}");
    let group = getent("group", USER)?.context("postinst made no group citysense")?;
    ensure!(
        group.split(':').nth(2) == Some(&gid.to_string()),
        "the user's group is not citysense: {passwd} / {group}"
    );
    eprintln!("account: {}", passwd.trim());
    Ok(account)
}

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
fn check_files(account: &Account, ships_mosquitto_conf: bool) -> Result<()> {
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

/// What an admin does after the install, with the installed `citysense-provision`: the services'
/// broker accounts, then each station of `stations` as a node (a fresh key in the registry, a
/// broker account limited to its topics, a settings blob). Returns the registry it wrote, whose
/// files the services' group reads.
fn provision(stations: &Registry, account: &Account) -> Result<Registry> {
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

/// `systemd-analyze verify` on the installed units, when the tool is here.
fn verify_units() -> Result<()> {
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
fn check_configs(units: &[Unit], account: &Account) -> Result<()> {
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

/// The services' HTTP addresses: collector, IOC API, relay, in the order of [`UNITS`].
///
/// Environment overrides, written to the env files the units read (as an admin would put
/// secrets there); the shipped configs stay as installed.
fn point_at_test_services(
    mosquitto: &Mosquitto,
    influx: &Influx1,
    ports: &[u16],
    account: &Account,
) -> Result<Vec<String>> {
    let listen: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let broker_port = mosquitto.port();
    write_owned(
        Path::new("/etc/citysense/secrets/collector.env"),
        &format!(
            "CITYSENSE_COLLECTOR__MQTT__PORT={broker_port}\n\
             CITYSENSE_COLLECTOR__SINK__URL={}\n\
             CITYSENSE_COLLECTOR__HTTP__LISTEN={}\n",
            influx.url(),
            listen[0]
        ),
        account,
    )?;
    write_owned(
        Path::new("/etc/citysense/secrets/relay.env"),
        &format!(
            "CITYSENSE_RELAY__MQTT__PORT={broker_port}\n\
             CITYSENSE_RELAY__HTTP__LISTEN={}\n\
             # An interval's file is written a second after its end instead of two minutes, so the\n\
             # backfilled hour is in files by the time the fleet is done.\n\
             CITYSENSE_RELAY__FILES__GRACE_S=1\n",
            listen[2]
        ),
        account,
    )?;
    write_owned(
        Path::new("/etc/citysense/secrets/ioc.env"),
        &format!(
            "CITYSENSE_IOC__MQTT__PORT={broker_port}\n\
             CITYSENSE_IOC__HTTP__LISTEN={}\n\
             CITYSENSE_IOC__INFLUX__URL={}\n",
            listen[1],
            influx.url()
        ),
        account,
    )?;
    Ok(listen.iter().map(|l| format!("http://{l}")).collect())
}

/// What a unit file says about how to run its service.
struct Unit {
    spec: &'static UnitSpec,
    exec_start: Vec<String>,
    user: String,
    group: String,
    environment_files: Vec<(PathBuf, bool)>,
    state_directories: Vec<PathBuf>,
    state_directory_mode: u32,
    timeout_stop: Duration,
    no_new_privileges: bool,
    empty_bounding_set: bool,
}

impl Unit {
    /// Reads the installed unit's `[Service]` section. Only the forms the shipped units use are
    /// understood; anything else fails rather than run something other than what systemd would.
    fn load(spec: &'static UnitSpec) -> Result<Self> {
        let path = Path::new("/lib/systemd/system").join(spec.unit);
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let mut service: Vec<(String, String)> = Vec::new();
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                section = line.to_owned();
                continue;
            }
            ensure!(
                !line.ends_with('\\'),
                "{}: continued lines are not supported: {line}",
                spec.unit
            );
            let (key, value) = line
                .split_once('=')
                .with_context(|| format!("{}: not a key=value line: {line}", spec.unit))?;
            if section == "[Service]" {
                service.push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let all = |key: &str| -> Vec<&str> {
            service
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        let one = |key: &str| -> Result<&str> {
            match all(key)[..] {
                [value] => Ok(value),
                ref values => bail!("{}: {key}= {} times, expected once", spec.unit, values.len()),
            }
        };
        let plain = |value: &str| {
            !value.contains(['"', '\'', '$', '%', '\\']) && !value.starts_with(['-', '@', '+', '!', ':'])
        };
        let exec_start = one("ExecStart")?;
        ensure!(
            plain(exec_start),
            "{}: ExecStart= uses quoting, variables, specifiers or prefixes this test does not run: {exec_start}",
            spec.unit
        );
        ensure!(
            all("Environment").is_empty(),
            "{}: Environment= is not run by this test yet (the shipped units use EnvironmentFile=)",
            spec.unit
        );
        let environment_files = all("EnvironmentFile")
            .into_iter()
            .map(|v| match v.strip_prefix('-') {
                Some(optional) => (PathBuf::from(optional), true),
                None => (PathBuf::from(v), false),
            })
            .collect();
        let state_directories = all("StateDirectory")
            .into_iter()
            .flat_map(str::split_whitespace)
            .map(|d| Path::new("/var/lib").join(d))
            .collect();
        // systemd's default StateDirectoryMode= is 0755.
        let state_directory_mode = match all("StateDirectoryMode")[..] {
            [] => 0o755,
            [mode] => u32::from_str_radix(mode, 8)?,
            _ => bail!("{}: StateDirectoryMode= more than once", spec.unit),
        };
        let timeout_stop = humantime::parse_duration(one("TimeoutStopSec")?)
            .with_context(|| format!("{}: TimeoutStopSec=", spec.unit))?;
        let unit = Unit {
            spec,
            exec_start: exec_start.split_whitespace().map(str::to_owned).collect(),
            user: one("User")?.to_owned(),
            group: one("Group")?.to_owned(),
            environment_files,
            state_directories,
            state_directory_mode,
            timeout_stop,
            no_new_privileges: one("NoNewPrivileges")? == "yes",
            empty_bounding_set: one("CapabilityBoundingSet")?.is_empty(),
        };
        ensure!(
            unit.user == USER && unit.group == USER,
            "{}: runs as {}:{}, expected {USER}:{USER}",
            spec.unit,
            unit.user,
            unit.group
        );
        ensure!(
            unit.exec_start.first().map(String::as_str) == Some(&format!("/usr/bin/{}", spec.binary)),
            "{}: ExecStart= does not run /usr/bin/{}",
            spec.unit,
            spec.binary
        );
        Ok(unit)
    }

    /// The unit's state directories, as systemd makes them: the parents root's, the directory
    /// itself the unit's user's with `StateDirectoryMode=`.
    fn make_state_directories(&self, account: &Account) -> Result<()> {
        for dir in &self.state_directories {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            std::os::unix::fs::chown(dir, Some(account.uid), Some(account.gid))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(self.state_directory_mode))?;
        }
        Ok(())
    }

    /// `argv` as the unit's user, with the basic environment systemd gives a unit's processes.
    fn command(&self, argv: &[String], account: &Account) -> Command {
        let mut command = Command::new("setpriv");
        command.args([
            format!("--reuid={}", self.user),
            format!("--regid={}", self.group),
            "--init-groups".into(),
        ]);
        if self.no_new_privileges {
            command.arg("--no-new-privs");
        }
        if self.empty_bounding_set {
            command.arg("--bounding-set=-all");
        }
        command.arg("--").args(argv);
        command
            .env_clear()
            .current_dir("/")
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin")
            .env("HOME", &account.home)
            .env("USER", &self.user)
            .env("LOGNAME", &self.user)
            .env("CONFIGURATION_DIRECTORY", "/etc/citysense");
        let state: Vec<String> = self
            .state_directories
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        if !state.is_empty() {
            command.env("STATE_DIRECTORY", state.join(":"));
        }
        command
    }

    /// The variables of the unit's `EnvironmentFile=`s; a missing optional one (`-`) is skipped.
    fn environment_file_vars(&self) -> Result<Vec<(String, String)>> {
        let mut vars = Vec::new();
        for (path, optional) in &self.environment_files {
            let text = match fs::read_to_string(path) {
                Err(e) if *optional && e.kind() == std::io::ErrorKind::NotFound => continue,
                read => {
                    read.with_context(|| format!("{}: EnvironmentFile {}", self.spec.unit, path.display()))?
                }
            };
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (k, v) = line
                    .split_once('=')
                    .with_context(|| format!("{}: not VAR=value: {line}", path.display()))?;
                vars.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        Ok(vars)
    }
}

/// A service started from its unit: directly (no systemd) or by systemctl.
enum Running<'a> {
    Direct {
        unit: &'a Unit,
        child: Child,
        log: PathBuf,
    },
    Systemd {
        unit: &'a Unit,
    },
}

impl<'a> Running<'a> {
    fn start(unit: &'a Unit, systemd: bool, logs: &Path, account: &Account) -> Result<Self> {
        if systemd {
            output(Command::new("systemctl").args(["start", unit.spec.unit]))?;
            return Ok(Running::Systemd { unit });
        }
        unit.make_state_directories(account)?;
        let log = logs.join(format!("{}.log", unit.spec.binary));
        let file = File::create(&log)?;
        let child = unit
            .command(&unit.exec_start, account)
            .envs(unit.environment_file_vars()?)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {}", unit.exec_start.join(" ")))?;
        eprintln!(
            "{}: ran ExecStart={} as {}:{} (pid {})",
            unit.spec.unit,
            unit.exec_start.join(" "),
            unit.user,
            unit.group,
            child.id()
        );
        Ok(Running::Direct { unit, child, log })
    }

    /// The unit, borrowed for as long as the units live (not as long as `self`).
    fn unit(&self) -> &'a Unit {
        match self {
            Running::Direct { unit, .. } | Running::Systemd { unit } => unit,
        }
    }

    /// What the service wrote to stdout/stderr (the journal, under systemd).
    fn log(&self) -> Result<String> {
        match self {
            Running::Direct { log, .. } => Ok(fs::read_to_string(log)?),
            Running::Systemd { unit } => {
                output(Command::new("journalctl").args(["--no-pager", "--output=cat", "-u", unit.spec.unit]))
            }
        }
    }

    /// Until `/readyz` answers 200.
    async fn wait_ready(&mut self, http: &reqwest::Client, url: &str) -> Result<()> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Running::Direct { child, .. } = self
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.unit().spec.unit,
                    tail(&self.log()?, 30)
                );
            }
            let ready = http
                .get(format!("{url}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "{} not ready at {url} within {DEADLINE:?}:\n{}",
                self.unit().spec.unit,
                tail(&self.log()?, 30)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM (what systemd sends, `KillSignal=`), then exit status 0 within `TimeoutStopSec=`;
    /// and its log has no colour codes (journald would keep them).
    async fn stop_and_check(&mut self) -> Result<()> {
        let unit = self.unit();
        let limit = unit.timeout_stop;
        let started = Instant::now();
        match self {
            Running::Direct { child, .. } => {
                let status = stop(child, limit).await?;
                ensure!(
                    status.code() == Some(0),
                    "{} exited {status} on SIGTERM, expected 0:\n{}",
                    unit.spec.unit,
                    tail(&self.log()?, 30)
                );
            }
            Running::Systemd { unit } => {
                output(Command::new("systemctl").args(["stop", unit.spec.unit]))?;
                let show = output(Command::new("systemctl").args([
                    "show",
                    "-p",
                    "Result,ExecMainStatus",
                    unit.spec.unit,
                ]))?;
                ensure!(
                    show.contains("Result=success") && show.contains("ExecMainStatus=0"),
                    "{} did not stop cleanly: {show}",
                    unit.spec.unit
                );
            }
        }
        let took = started.elapsed();
        ensure!(
            took < limit,
            "{} took {took:?} to stop, TimeoutStopSec={limit:?}",
            unit.spec.unit
        );
        let log = self.log()?;
        ensure!(
            !log.contains('\u{1b}'),
            "{} logs colour codes:\n{}",
            unit.spec.unit,
            tail(&log, 5)
        );
        eprintln!(
            "{}: SIGTERM -> exit 0 in {} ms (TimeoutStopSec={}s); {} log lines, no colour codes",
            unit.spec.unit,
            took.as_millis(),
            limit.as_secs(),
            log.lines().count()
        );
        Ok(())
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        match self {
            // A test that failed half-way must not leave a service running as the user the purge
            // removes (deluser refuses a user with processes).
            Running::Direct { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Running::Systemd { unit } => {
                let _ = Command::new("systemctl").args(["stop", unit.spec.unit]).status();
            }
        }
    }
}

/// SIGTERM, then the exit status once it comes, or SIGKILL and an error after `limit`.
async fn stop(child: &mut Child, limit: Duration) -> Result<ExitStatus> {
    let pid = Pid::from_child(child);
    kill_process(pid, Signal::TERM).context("sending SIGTERM")?;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            bail!("no exit within TimeoutStopSec={limit:?} of SIGTERM; killed");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every telemetry frame is a point in InfluxDB (`seq` is in every point).
async fn check_influx(influx: &Influx1, air: u64, water: u64) -> Result<()> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut found = Vec::new();
        for measurement in ["air_quality", "water_quality"] {
            let answer = influx
                .query(DATABASE, &format!("SELECT count(seq) FROM {measurement}"))
                .await?;
            found.push(
                answer["results"][0]["series"][0]["values"][0][1]
                    .as_u64()
                    .unwrap_or(0),
            );
        }
        if found == [air, water] {
            eprintln!("InfluxDB: {air} air and {water} water points, one per telemetry frame");
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "InfluxDB holds {found:?} (air, water) points, expected [{air}, {water}]"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The IOC API's station list shows every station of the registry online.
async fn check_ioc_stations(http: &reqwest::Client, url: &str, registry: &Registry) -> Result<()> {
    let expected: BTreeSet<String> = registry.nodes().map(|n| n.station.clone()).collect();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let stations: Vec<Value> = http
            .get(format!("{url}/api/v1/stations"))
            .send()
            .await?
            .json()
            .await?;
        let online: BTreeSet<String> = stations
            .iter()
            .filter(|s| s["status"] == "online")
            .filter_map(|s| s["station"].as_str().map(str::to_owned))
            .collect();
        if online == expected {
            eprintln!("IOC API: /api/v1/stations shows {online:?} online");
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "IOC API shows {online:?} online, expected {expected:?}: {stations:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The relay wrote the backfilled hour's intervals (at least 11 of the 5-minute ones closed by
/// now, whatever the phase) as files in its state directory, owned by its user.
async fn check_relay_files(
    http: &reqwest::Client,
    url: &str,
    registry: &Registry,
    account: &Account,
) -> Result<()> {
    let at_least = 11 * registry.len() as u64;
    let files_written = || async {
        let health: Value = http.get(format!("{url}/healthz")).send().await?.json().await?;
        anyhow::Ok((health["files_written"].as_u64().unwrap_or(0), health))
    };
    let deadline = Instant::now() + DEADLINE;
    let before = loop {
        let (written, health) = files_written().await?;
        if written >= at_least {
            break written;
        }
        ensure!(
            Instant::now() < deadline,
            "the relay wrote {written} files, expected at least {at_least}: {health}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // The outbox writes `.<name>.tmp` and renames it; the current interval may close meanwhile,
    // so the count on disk lies between the counter before and after the listing.
    let files: BTreeMap<PathBuf, u32> = files_under(Path::new("/var/lib/citysense/relay/outbox/files"))?
        .into_iter()
        .filter(|(p, _)| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    let (after, _) = files_written().await?;
    let on_disk = files.len() as u64;
    ensure!(
        (before..=after).contains(&on_disk),
        "{on_disk} files in the outbox, the relay counted {before} then {after}"
    );
    for (path, uid) in &files {
        ensure!(*uid == account.uid, "{} is not {USER}'s", path.display());
    }
    eprintln!("relay: {on_disk} files in /var/lib/citysense/relay/outbox/files, owned by {USER}");
    Ok(())
}

/// The services wrote their state where their configs say, inside their state directories, as
/// their user.
fn check_state(account: &Account) -> Result<()> {
    for path in [
        "/var/lib/citysense/collector/spool",
        "/var/lib/citysense/ioc/ioc-api.sqlite",
        "/var/lib/citysense/relay/outbox",
    ] {
        let meta = fs::metadata(path).with_context(|| format!("{path} was not written"))?;
        ensure!(meta.uid() == account.uid, "{path} is not {USER}'s");
    }
    eprintln!("state: spool, SQLite database and outbox under /var/lib/citysense, owned by {USER}");
    Ok(())
}

/// Nothing of the package is left: no package, user, group, state, config or statoverride.
fn check_purged() -> Result<()> {
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

/// `path` with `text`, 0640 root:citysense: how docs/deploy.md tells an admin to keep the units'
/// env files (they hold passwords).
fn write_owned(path: &Path, text: &str, account: &Account) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o640))?;
    std::os::unix::fs::chown(path, Some(0), Some(account.gid))?;
    Ok(())
}

/// Regular files under `dir` with their owner.
fn files_under(dir: &Path) -> Result<BTreeMap<PathBuf, u32>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files.insert(entry.path(), meta.uid());
            }
        }
    }
    Ok(files)
}

/// The entry of `key` in the `database` (`passwd`, `group`), or `None` when there is none.
fn getent(database: &str, key: &str) -> Result<Option<String>> {
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
fn output(command: &mut Command) -> Result<String> {
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
fn logged(command: &mut Command, log: &Path) -> Result<ExitStatus> {
    let file = File::create(log)?;
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .status()
        .with_context(|| format!("running {command:?}"))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}
