//! The IOC API in-process on a free port against a real broker, and a simulated fleet feeding
//! it: what the IOC whole-path tests (`tests/ioc_*.rs`) share.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use firmware::node::NodeConfig;
use ioc_api::{AppState, Config};
use protocol::registry::Registry;
use protocol::topic::DEFAULT_PREFIX;
use service::mqtt::MqttConfig;
use simulators::clock::{SimClock, Speed, wall_ms};
use simulators::fleet::{self, FleetConfig, FleetReport};
use simulators::signal::{Episode, Scenario};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::mosquitto::Mosquitto;

/// A config for the API on a free port with its database in `dir`.
pub fn ioc_config(mosquitto: &Mosquitto, client_id: &str, registry_path: &Path, dir: &Path) -> Config {
    Config::new(
        "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
        MqttConfig::new(mosquitto.host(), mosquitto.port(), client_id),
        registry_path.to_owned(),
        dir.join("ioc-api.sqlite"),
    )
}

/// A running API: its base URL, its state and its task.
pub struct RunningIoc {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The shared state.
    pub state: Arc<AppState>,
    /// Cancel to stop it.
    pub stop: CancellationToken,
    /// The serving task.
    pub task: JoinHandle<Result<()>>,
}

/// Binds and runs the API, waiting until the broker granted its subscription.
///
/// # Errors
/// When it cannot bind or does not subscribe within a minute.
pub async fn start_ioc(config: Config, registry: &Registry) -> Result<RunningIoc> {
    let ioc = ioc_api::IocApi::bind(config, registry.clone()).await?;
    let url = format!("http://{}", ioc.local_addr()?);
    let state = ioc.state();
    let mut subscribed = state.subscribed();
    let stop = CancellationToken::new();
    let task = tokio::spawn(ioc.run(stop.clone().cancelled_owned()));
    tokio::time::timeout(Duration::from_secs(60), subscribed.wait_for(|s| *s))
        .await
        .context("the IOC API did not subscribe within a minute")??;
    Ok(RunningIoc {
        url,
        state,
        stop,
        task,
    })
}

/// A fleet that backfills `backfill` of history as fast as the broker takes it, then reports
/// every `report_ms` in real time (until `frames_per_node` or `stop`), with an optional PM2.5
/// episode at `episode_node` over the last `episode_minutes` of the backfill.
pub struct FleetPlan {
    /// History to backfill.
    pub backfill: Duration,
    /// Reporting interval.
    pub report_ms: u32,
    /// Stop after this many telemetry frames per node.
    pub frames_per_node: Option<u32>,
    /// A node with a PM2.5 episode and its length in minutes.
    pub episode: Option<(u32, u64)>,
}

/// Runs the fleet in the background.
pub fn start_fleet(
    mosquitto: &Mosquitto,
    registry: &Registry,
    plan: FleetPlan,
    stop: CancellationToken,
) -> JoinHandle<Result<FleetReport>> {
    let start_ms = wall_ms() - plan.backfill.as_millis() as u64;
    let end_ms = start_ms + plan.backfill.as_millis() as u64;
    let episodes = plan
        .episode
        .map(|(node, minutes)| Episode {
            node_id: Some(node),
            start_ms: end_ms - minutes * 60_000,
            duration_ms: minutes * 60_000 + 3_600_000,
            pm2_5_added: 150.0,
        })
        .into_iter()
        .collect();
    let config = FleetConfig {
        host: mosquitto.host().into(),
        port: mosquitto.port(),
        prefix: DEFAULT_PREFIX.into(),
        client_prefix: "ioc-sim".into(),
        registry: registry.clone(),
        node: NodeConfig {
            sample_interval_ms: plan.report_ms.min(5_000),
            report_interval_ms: plan.report_ms,
            ..NodeConfig::default()
        },
        clock: SimClock::new(start_ms, Speed::Unlimited),
        frames_per_node: plan.frames_per_node,
        scenario: Scenario { episodes },
        boot: 1,
    };
    tokio::spawn(fleet::run(config, stop.cancelled_owned()))
}
