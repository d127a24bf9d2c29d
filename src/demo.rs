//! The whole system in one process: an embedded broker, the collector, the IOC API and a
//! simulated fleet. Readings go to InfluxDB when one is configured, otherwise to a local
//! line-protocol file that `citysense-collector ship` sends to InfluxDB later.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use collector::config::{
    BatchConfig, DeadLetterConfig, HttpConfig, RegistryConfig, ShutdownConfig, SinkConfig, SpoolConfig,
};
use firmware::node::NodeConfig;
use protocol::registry::{Registry, StationKind};
use service::mqtt::MqttConfig;
use simulators::clock::{SimClock, Speed, wall_ms};
use simulators::fleet::{self, FleetConfig, FleetOptions};
use simulators::signal::{Episode, Scenario};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::broker;

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Where the registry, the readings file and the dead letters go.
    pub data_dir: PathBuf,
    /// The embedded broker's address; port 0 picks a free one.
    pub mqtt_listen: SocketAddr,
    /// An external broker to use instead of the embedded one.
    pub broker: Option<SocketAddr>,
    /// The IOC API's address; port 0 picks a free one.
    pub api_listen: SocketAddr,
    /// Air nodes to simulate (when the registry is created).
    pub air: u32,
    /// Water nodes to simulate (when the registry is created).
    pub water: u32,
    /// History to backfill (as fast as the broker takes it) before running in real time.
    pub backfill: Duration,
    /// The InfluxDB to write to; `None` writes `readings.lp` in the data directory.
    pub sink: Option<SinkConfig>,
    /// Force a one-hour PM2.5 episode at the first air station, ending 20 minutes before the
    /// backfill does: the alert is firing at start and resolves about 25 minutes later.
    pub episode: bool,
}

/// A started demo: addresses to show the user, then [`Demo::run`].
pub struct Demo {
    /// Where the IOC API listens.
    pub api: SocketAddr,
    /// Where the embedded broker listens.
    pub mqtt: SocketAddr,
    /// Where readings are written.
    pub sink: String,
    /// The registry file.
    pub registry_path: PathBuf,
    /// Where the relay keeps the environment authority's files (no receiver in the demo).
    pub authority_files: PathBuf,
    collector: collector::Collector,
    relay: relay::Relay,
    ioc: ioc_api::IocApi,
    fleet: FleetConfig,
    /// The nodes' settings flash in the data directory: a restart boots them with the next boot
    /// counter, so their new frames never reuse a (boot, seq) key of the run before.
    fleet_options: FleetOptions,
}

fn resolve_port(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    Ok(TcpListener::bind(addr)?.local_addr()?)
}

fn load_or_create_registry(path: &std::path::Path, air: u32, water: u32) -> anyhow::Result<Registry> {
    if path.exists() {
        return Ok(Registry::load(path)?);
    }
    let registry = simulators::stations::hau_giang(air, water);
    std::fs::write(path, registry.to_toml()).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(registry)
}

/// The demo's simulated time across runs on one data directory: the first run backfills from
/// `backfill` before its start; a later run carries on from its own start, since the time
/// before it was simulated already (simulating it again would add a second set of readings to
/// hours that have theirs). Episodes stay where the first run placed them.
struct Timeline {
    /// Where the first run's simulation began (ms since the epoch), kept in `demo-epoch`.
    first_ms: u64,
    /// Where this run's simulation begins.
    start_ms: u64,
}

impl Timeline {
    fn of(data_dir: &std::path::Path, backfill: Duration) -> anyhow::Result<Timeline> {
        let path = data_dir.join("demo-epoch");
        let now = wall_ms();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let first_ms = text.trim().parse().with_context(|| {
                    format!(
                        "{} does not hold a time in ms; remove it to backfill afresh",
                        path.display()
                    )
                })?;
                info!("Resuming the demo's timeline: no backfill, the history of earlier runs is kept.");
                Ok(Timeline {
                    first_ms,
                    start_ms: now,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let first_ms = now - backfill.as_millis() as u64;
                std::fs::write(&path, first_ms.to_string())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                Ok(Timeline {
                    first_ms,
                    start_ms: first_ms,
                })
            }
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }
}

impl Demo {
    /// Prepares everything and starts the broker; nothing is simulated until [`Demo::run`].
    ///
    /// # Errors
    ///
    /// A data directory that cannot be written, a port that cannot be bound, a bad sink.
    pub async fn start(config: DemoConfig) -> anyhow::Result<Demo> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
        let registry_path = config.data_dir.join("nodes.toml");
        let registry = load_or_create_registry(&registry_path, config.air, config.water)?;

        // The services' address, and the nodes' (the embedded broker has a listener for each
        // protocol version; an external one takes both on one port).
        let (mqtt, mqtt_v5) = match config.broker {
            Some(external) => (external, external),
            None => {
                let mqtt = resolve_port(config.mqtt_listen)?;
                (mqtt, broker::start(mqtt)?)
            }
        };

        let sink = config.sink.clone().unwrap_or(SinkConfig::File {
            path: config.data_dir.join("readings.lp"),
        });
        let collector_config = collector::Config {
            mqtt: MqttConfig::new(mqtt.ip().to_string(), mqtt.port(), "citysense-collector"),
            registry: RegistryConfig {
                path: registry_path.clone(),
            },
            sink,
            batch: BatchConfig::default(),
            dead_letter: DeadLetterConfig::at(config.data_dir.join("dead-letter.jsonl")),
            spool: SpoolConfig::at(config.data_dir.join("collector-spool")),
            // Port 0: the demo must start on a machine where 9310 is taken.
            http: HttpConfig {
                listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            },
            shutdown: ShutdownConfig::default(),
        };
        let collector = collector::Collector::new(collector_config.clone(), registry.clone())?;
        let sink = collector_sink_description(&collector_config.sink);

        let mut ioc_config = ioc_api::Config::new(
            config.api_listen,
            MqttConfig::new(mqtt.ip().to_string(), mqtt.port(), "citysense-ioc-api"),
            registry_path.clone(),
            config.data_dir.join("ioc-api.sqlite"),
        );
        // History, exports and the rebuild at start read the InfluxDB 1.x the collector writes
        // to (InfluxQL over /query); a v2 server would need a DBRP mapping first.
        if let SinkConfig::InfluxV1 {
            url,
            database,
            username,
            password,
            ..
        } = &collector_config.sink
        {
            ioc_config.influx = Some(ioc_api::config::InfluxConfig {
                url: url.clone(),
                database: database.clone(),
                username: username.clone(),
                password: password.clone(),
                password_file: None,
                token_auth: false,
                timeout_s: 10,
                rebuild_at_start: true,
            });
        }
        let ioc = ioc_api::IocApi::bind(ioc_config, registry.clone()).await?;

        // The relay with its documented defaults and no receiver: the files the authority would
        // get stay in the outbox, where a newcomer can read them.
        let mut relay_config: relay::Config = service::config::from_toml(relay::config::DEFAULT_CONFIG)?;
        relay_config.mqtt = MqttConfig::new(mqtt.ip().to_string(), mqtt.port(), "citysense-relay");
        relay_config.registry.path = registry_path.clone();
        relay_config.outbox.path = config.data_dir.join("relay-outbox");
        relay_config.http.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        // The backfill's last intervals are written half a minute after it, not two.
        relay_config.files.grace_s = 30;
        let authority_files = relay_config.outbox.path.join("files");
        let relay = relay::Relay::new(relay_config, registry.clone())?;
        let api = ioc.local_addr()?;

        let timeline = Timeline::of(&config.data_dir, config.backfill)?;
        let episodes = match (
            config.episode,
            registry.nodes().find(|n| n.kind == StationKind::Air),
        ) {
            (true, Some(node)) => {
                let backfill_ms = config.backfill.as_millis() as u64;
                let start = timeline.first_ms + backfill_ms.saturating_sub(80 * 60_000);
                vec![Episode {
                    node_id: Some(node.id),
                    start_ms: start,
                    duration_ms: 3_600_000,
                    pm2_5_added: 120.0,
                }]
            }
            _ => Vec::new(),
        };
        let fleet = FleetConfig {
            host: mqtt_v5.ip().to_string(),
            port: mqtt_v5.port(),
            prefix: protocol::topic::DEFAULT_PREFIX.into(),
            client_prefix: "citysense-sim".into(),
            registry,
            node: NodeConfig::default(),
            clock: SimClock::new(timeline.start_ms, Speed::Unlimited),
            frames_per_node: None,
            scenario: Scenario { episodes },
            boot: 1,
        };
        Ok(Demo {
            api,
            mqtt,
            sink,
            registry_path,
            authority_files,
            collector,
            relay,
            ioc,
            fleet,
            fleet_options: FleetOptions {
                settings_dir: Some(config.data_dir.join("nodes")),
                ..FleetOptions::default()
            },
        })
    }

    /// Runs until `shutdown`: the fleet stops first, then the collector drains, then the API.
    ///
    /// # Errors
    ///
    /// If a component fails.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let cancel = CancellationToken::new();
        let collector_stats = self.collector.stats();
        let ready = [
            self.collector.subscribed(),
            self.ioc.state().subscribed(),
            self.relay.subscribed(),
        ];
        let ioc_state = self.ioc.state();
        let lab_registry = self.fleet.registry.clone();
        let collector = tokio::spawn(self.collector.run(cancel.clone().cancelled_owned()));
        let relay = tokio::spawn(self.relay.run(cancel.clone()));
        let ioc = tokio::spawn(self.ioc.run(cancel.clone().cancelled_owned()));
        // Nodes start once both services are subscribed: on a fresh broker, frames published
        // earlier would reach no session and be lost.
        for mut subscribed in ready {
            subscribed
                .wait_for(|s| *s)
                .await
                .context("a service stopped before subscribing")?;
        }
        let fleet_stop = CancellationToken::new();
        let fleet = tokio::spawn(fleet::run_with(
            self.fleet,
            self.fleet_options,
            fleet_stop.clone().cancelled_owned(),
        ));
        let progress = tokio::spawn(report_progress(collector_stats));
        let lab = tokio::spawn(laboratory(ioc_state, self.api, lab_registry));

        shutdown.await;
        info!("Stopping: fleet first, then the collector drains and the relay syncs, then the API.");
        fleet_stop.cancel();
        match fleet.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "Fleet stopped with an error."),
            Err(e) => warn!(error = %e, "Fleet task failed."),
        }
        cancel.cancel();
        progress.abort();
        lab.abort();
        let _ = collector.await;
        relay.await.context("relay task")??;
        ioc.await.context("IOC API task")??;
        Ok(())
    }
}

fn collector_sink_description(sink: &SinkConfig) -> String {
    match sink {
        SinkConfig::InfluxV1 { url, database, .. } => format!("InfluxDB v1 at {url}, database {database}"),
        SinkConfig::InfluxV2 { url, bucket, .. } => format!("InfluxDB v2 API at {url}, bucket {bucket}"),
        SinkConfig::File { path } => format!(
            "{} (send it to InfluxDB later with `citysense-collector ship`)",
            path.display()
        ),
    }
}

/// Logs the collector's counters every 10 s, so a long run shows it is alive.
async fn report_progress(stats: std::sync::Arc<collector::Stats>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    loop {
        tick.tick().await;
        let s = stats.snapshot();
        info!(
            received = s.received,
            written = s.written,
            rejected = s.rejected_total(),
            "Collector progress."
        );
    }
}

/// The water samples' laboratory values, posted through the IOC API as a laboratory would (with
/// an operator token of its own for this run, revoked when the demo stops): the day's sample at
/// start, then each day's as it is taken, so the water stations show a VN_WQI from the first
/// minutes. A sample posted again on a second start replaces itself.
async fn laboratory(state: std::sync::Arc<ioc_api::AppState>, api: SocketAddr, registry: Registry) {
    let name = format!("simulated-laboratory-{}", wall_ms() / 1_000);
    let token = match state.create_token(&name, ioc_api::auth::Role::Operator, "demo") {
        Ok(Some(token)) => token,
        Ok(None) => {
            return warn!(token = %name, "The laboratory's token name is taken; no lab results this run.");
        }
        Err(e) => return warn!(error = %e, "Cannot create the laboratory's token; no lab results this run."),
    };
    let host = if api.ip().is_unspecified() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        api.ip()
    };
    let url = format!("http://{}", SocketAddr::new(host, api.port()));
    let _revoke = RevokeOnDrop(state, name);
    loop {
        let sampled = simulators::lab::last_sampling_ms(wall_ms());
        match simulators::lab::post_samples(&url, &token, &registry, sampled).await {
            Ok(n) => info!(
                stations = n,
                "The laboratory posted the day's water samples (BOD5, COD, nutrients, coliform)."
            ),
            Err(e) => warn!(error = %e, "The laboratory could not post its samples; VN_WQI waits for them."),
        }
        let next = sampled + 86_400_000;
        tokio::time::sleep(Duration::from_millis(next.saturating_sub(wall_ms()).max(60_000))).await;
    }
}

/// Revokes the laboratory's token when its task ends (aborted at shutdown).
struct RevokeOnDrop(std::sync::Arc<ioc_api::AppState>, String);

impl Drop for RevokeOnDrop {
    fn drop(&mut self) {
        if let Err(e) = self.0.revoke_token(&self.1) {
            warn!(error = %e, token = %self.1, "Cannot revoke the laboratory's token.");
        }
    }
}
