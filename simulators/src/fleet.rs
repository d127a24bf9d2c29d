//! A fleet of simulated nodes on a real broker: each node runs the firmware's own logic against
//! emulated sensors, its own store-and-forward outbox on emulated flash, and the firmware's own
//! MQTT client (`firmware::uplink`, minimq, MQTT 5) over a TCP socket: a death frame as its will,
//! a birth frame on connect, QoS 1 frames forwarded from the outbox one at a time, and downlink
//! commands on its command topic, checked and obeyed as the board does, reboot included.

mod node_run;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use firmware::node::NodeConfig;
use protocol::Frame;
use protocol::registry::{Registry, StationKind};
use protocol::topic::NodeChannel;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::SimClock;
use crate::fit::AirFits;
use crate::net::TcpIo;
use crate::signal::Scenario;

/// How to run a fleet.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Topic prefix.
    pub prefix: String,
    /// Client ids are `{client_prefix}-{node_id}`.
    pub client_prefix: String,
    /// The nodes to run (every node in the registry).
    pub registry: Registry,
    /// Sampling and reporting intervals, firmware version.
    pub node: NodeConfig,
    /// Simulated time.
    pub clock: SimClock,
    /// Stop each node after this many telemetry frames; `None` runs until shutdown.
    pub frames_per_node: Option<u32>,
    /// What the sensors see.
    pub scenario: Scenario,
    /// Boot counter the nodes start with (those with no settings file yet, see
    /// [`FleetOptions::settings_dir`]).
    pub boot: u32,
}

/// What a fleet is fitted with, beyond [`FleetConfig`]; the defaults are the board's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetOptions {
    /// The air nodes' sensors.
    pub air_fits: AirFits,
    /// A folder keeping each node's settings flash (`node-{id}.settings`), so a node boots with
    /// the next boot counter and its settings across runs, as the board does; `None` keeps them
    /// in memory and every run boots the nodes as [`FleetConfig::boot`].
    pub settings_dir: Option<PathBuf>,
    /// Broker passwords by node id, for a broker that requires logins (`citysense-provision`'s
    /// accounts): such a node connects as `node-{id}`, its user name, as the board does.
    pub passwords: BTreeMap<u32, String>,
}

/// The broker passwords in a folder of settings blobs (`node-{id}.bin`, as `citysense-provision`
/// writes them), by node id.
///
/// # Errors
/// When the folder cannot be read, or a `.bin` file in it is not a settings blob.
pub fn passwords_from_blobs(dir: &std::path::Path) -> anyhow::Result<BTreeMap<u32, String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let blob = provision::blob::SettingsBlob::decode(&bytes)
            .with_context(|| format!("{} is not a settings blob", path.display()))?;
        out.insert(blob.node_id, blob.password().to_owned());
    }
    Ok(out)
}

/// A frame the broker acknowledged.
#[derive(Debug, Clone)]
pub struct SentFrame {
    /// Station id of the node.
    pub station: String,
    /// The topic it went to.
    pub channel: NodeChannel,
    /// The frame as the node built it.
    pub frame: Frame,
}

/// What the fleet sent, every frame acknowledged by the broker.
#[derive(Debug, Default)]
pub struct FleetReport {
    /// Every frame published and acknowledged, per node in the order of the acknowledgements.
    pub sent: Vec<SentFrame>,
}

impl FleetReport {
    /// Telemetry frames only.
    pub fn telemetry(&self) -> impl Iterator<Item = &SentFrame> {
        self.sent.iter().filter(|s| s.channel == NodeChannel::Telemetry)
    }
}

/// Runs every node with the default [`FleetOptions`]; see [`run_with`].
///
/// # Errors
///
/// As [`run_with`].
pub async fn run(config: FleetConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<FleetReport> {
    run_with(config, FleetOptions::default(), shutdown).await
}

/// Runs every node until it has sent its frames or `shutdown` resolves, then waits for the
/// broker to acknowledge everything queued and disconnects.
///
/// # Errors
///
/// A node whose session cannot be configured, that stays without a link for five minutes, or
/// whose broker goes a minute without acknowledging any of the frames still queued.
pub async fn run_with(
    config: FleetConfig,
    options: FleetOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<FleetReport> {
    if let Some(dir) = &options.settings_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the nodes' settings folder {}", dir.display()))?;
    }
    let cancel = CancellationToken::new();
    let config = Arc::new(config);
    info!(nodes = config.registry.len(), broker = %format!("{}:{}", config.host, config.port), "Fleet starting.");
    let tasks: Vec<_> = config
        .registry
        .nodes()
        .map(|info| {
            tokio::spawn(node_run::run_node(
                info.clone(),
                Arc::clone(&config),
                options.clone(),
                cancel.clone(),
            ))
        })
        .collect();
    let all = futures::future::join_all(tasks);
    tokio::pin!(all);
    let results = tokio::select! {
        results = &mut all => results,
        () = shutdown => {
            cancel.cancel();
            all.await
        }
    };
    let mut report = FleetReport::default();
    for result in results {
        report.sent.extend(result.context("a node task panicked")??);
    }
    info!(frames = report.sent.len(), "Fleet stopped.");
    Ok(report)
}

/// What a node's status frames report: air stations run on mains (no battery); water stations on a
/// solar-charged battery that sags at night; RSSI differs by site. Plausible values, not a model.
fn power_and_link(kind: StationKind, node_id: u32, t_ms: u64) -> (Option<u16>, Option<i16>) {
    let rssi = -60 - i16::try_from(node_id % 35).unwrap_or(0);
    let battery = match kind {
        StationKind::Air => None,
        StationKind::Water => {
            // Local hour at UTC+7: charging from 07:00, discharging after 17:00.
            let hour = ((t_ms / 3_600_000 + 7) % 24) as u16;
            let charge = if (7..17).contains(&hour) { hour - 7 } else { 0 };
            Some(3_750 + 40 * charge)
        }
    };
    (battery, Some(rssi))
}

/// Connects to the broker, retrying for a while: a fleet may start while the broker does.
async fn connect(host: &str, port: u16, cancel: &CancellationToken) -> anyhow::Result<TcpIo> {
    let mut failures = 0u32;
    loop {
        match TcpIo::connect(host, port).await {
            Ok(io) => return Ok(io),
            Err(e) if failures < 50 => {
                failures += 1;
                if failures > 3 {
                    warn!(error = %e, "Cannot reach the broker yet; retrying.");
                }
                tokio::select! {
                    () = cancel.cancelled() => anyhow::bail!("stopped before the broker was reachable"),
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot connect to the broker at {host}:{port}"));
            }
        }
    }
}
