//! What the relay's whole-path tests share: the relay's config for a test FTP server, the
//! simulated hour, the files on the server, and a parser of the authority's file layout written
//! from the reference (`shared/reference/vn-transmission.md`), not from the relay's code.

// Each test binary compiles its own copy and reads only some of it (the crash test checks that
// files parse, not their lines' fields).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use firmware::node::NodeConfig;
use protocol::registry::Registry;
use protocol::topic::DEFAULT_PREFIX;
use relay::config::{Config as RelayConfig, FilesConfig, HttpConfig, OutboxConfig, RegistryConfig, Stamp};
use relay::upload::{Protocol, ReceiverConfig};
use service::Secret;
use service::mqtt::MqttConfig;
use simulators::clock::{SimClock, Speed, wall_ms};
use simulators::fleet::{self, FleetConfig};
use simulators::signal::Scenario;
use tokio_util::sync::CancellationToken;

use crate::support::{FtpServer, Mosquitto};

pub const MINUTE_MS: u64 = 60_000;
pub const INTERVAL_MS: u64 = 5 * MINUTE_MS;
pub const DEADLINE: Duration = Duration::from_secs(120);

/// One line of an authority file: `<parameter>\t<value>\t<unit>\t<yyyyMMddHHmmss>\t<status>`.
#[derive(Debug)]
pub struct Line {
    pub symbol: String,
    pub value: f64,
    pub decimals: usize,
    pub stamp: String,
    pub status: String,
}

/// Parses a file from the reference's layout alone: no header, one line per parameter, five
/// TAB-separated fields, a 14-digit local time, a two-digit status.
pub fn parse_file(text: &str) -> Result<Vec<Line>> {
    ensure!(text.ends_with('\n'), "the last line is not ended");
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [symbol, value, _unit, stamp, status] = fields[..] else {
                bail!("{line:?}: {} fields, not 5", fields.len());
            };
            ensure!(!symbol.is_empty(), "{line:?}: no parameter");
            ensure!(
                stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()),
                "{line:?}: time is not yyyyMMddHHmmss"
            );
            ensure!(["00", "01", "02"].contains(&status), "{line:?}: status {status}");
            Ok(Line {
                symbol: symbol.to_owned(),
                value: value.parse().with_context(|| format!("{line:?}: value"))?,
                decimals: value.split_once('.').map_or(0, |(_, d)| d.len()),
                stamp: stamp.to_owned(),
                status: status.to_owned(),
            })
        })
        .collect()
}

pub fn relay_config(mosquitto: &Mosquitto, ftp: &FtpServer, registry: &Path, dir: &Path) -> RelayConfig {
    RelayConfig {
        mqtt: MqttConfig::new(mosquitto.host(), mosquitto.port(), "relay-files"),
        registry: RegistryConfig {
            path: registry.to_owned(),
        },
        files: FilesConfig {
            interval_s: INTERVAL_MS / 1_000,
            grace_s: 1,
            time_zone: "Asia/Ho_Chi_Minh".into(),
            stamp: Stamp::End,
            province: "HG".into(),
            facility: "IOC".into(),
            file_name: "{province}_{facility}_{station}_{time}.txt".into(),
            folder: "{station}/{yyyy}/{MM}/{dd}".into(),
            newline: relay::config::Newline::Lf,
            station_codes: BTreeMap::new(),
        },
        parameters: BTreeMap::new(),
        outbox: OutboxConfig {
            path: dir.join("outbox"),
            max_bytes: 64 << 20,
            keep_days: 60,
        },
        http: HttpConfig {
            listen: "127.0.0.1:0".parse().expect("an address"),
        },
        receivers: vec![ReceiverConfig {
            name: "stnmt".into(),
            protocol: Protocol::Ftp,
            host: "127.0.0.1".into(),
            port: Some(ftp.port()),
            username: ftp.username().into(),
            password: Some(Secret::new(ftp.password())),
            password_file: None,
            password_env: None,
            key_file: None,
            known_hosts: None,
            host_key_sha256: None,
            root: "/".into(),
            ca_file: None,
            timeout_s: 10,
        }],
        influx: None,
    }
}

/// Every `.txt` file under `root`, by its path relative to it.
pub fn files_under(root: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| dir.display().to_string()),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let rel = path.strip_prefix(root)?.to_string_lossy().into_owned();
                // A temporary upload may be renamed between the listing and the read.
                match std::fs::read_to_string(&path) {
                    Ok(text) => {
                        out.insert(rel, text);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| path.display().to_string()),
                }
            }
        }
    }
    Ok(out)
}

/// The start of a simulated hour aligned to the intervals and ending well in the past, so every
/// interval is over.
pub fn hour_start() -> u64 {
    let back = wall_ms() - 75 * MINUTE_MS;
    back - back % INTERVAL_MS
}

/// Runs the firmware's code for every node of `registry` over a simulated hour from `start`, at
/// speed, one frame a minute; returns how many telemetry frames the broker took.
pub async fn run_fleet_hour(mosquitto: &Mosquitto, registry: &Registry, start: u64) -> Result<usize> {
    let report = fleet::run(
        FleetConfig {
            host: mosquitto.host().into(),
            port: mosquitto.port(),
            prefix: DEFAULT_PREFIX.into(),
            client_prefix: "relay-sim".into(),
            registry: registry.clone(),
            node: NodeConfig {
                sample_interval_ms: 5_000,
                report_interval_ms: MINUTE_MS as u32,
                ..NodeConfig::default()
            },
            clock: SimClock::new(start, Speed::Unlimited),
            frames_per_node: Some(60),
            scenario: Scenario::default(),
            boot: 1,
        },
        CancellationToken::new().cancelled_owned(),
    )
    .await?;
    let telemetry = report.telemetry().count();
    ensure!(telemetry == 60 * registry.len(), "fleet sent {telemetry} frames");
    Ok(telemetry)
}
