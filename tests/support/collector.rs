//! The collector in-process, for tests that read its counters while it runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use collector::config::{
    BatchConfig, DeadLetterConfig, HttpConfig, RegistryConfig, ShutdownConfig, SinkConfig, SpoolConfig,
};
use collector::{Collector, Config, Stats};
use protocol::registry::Registry;
use service::mqtt::MqttConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A collector config for `mosquitto` writing to `influx`'s `database` over the v1 API, with its
/// dead letters, spool and window in `dir` and `/metrics` on a free port.
pub fn influx1_config(
    mosquitto: &super::Mosquitto,
    (influx, database): (&super::Influx1, &str),
    client_id: &str,
    registry: &std::path::Path,
    batch: BatchConfig,
    dir: &std::path::Path,
) -> Config {
    Config {
        mqtt: MqttConfig::new(mosquitto.host(), mosquitto.port(), client_id),
        registry: RegistryConfig {
            path: registry.to_owned(),
        },
        sink: SinkConfig::influx_v1(influx.url(), database),
        batch,
        dead_letter: DeadLetterConfig::at(dir.join("dead-letter.jsonl")),
        spool: SpoolConfig::at(dir.join("spool")),
        http: HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        },
        shutdown: ShutdownConfig::default(),
    }
}

/// A collector running as a task of the test, so the test reads its counters directly.
pub struct InProcess {
    /// Its counters.
    pub stats: Arc<Stats>,
    /// Where `/metrics`, `/healthz` and `/readyz` answer.
    pub http: SocketAddr,
    subscribed: watch::Receiver<bool>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl InProcess {
    /// Starts the collector and waits until the broker has granted its subscription.
    ///
    /// # Errors
    /// An invalid config, or no subscription within 30 s.
    pub async fn start(config: Config, registry: Registry) -> Result<Self> {
        let mut collector = Self::spawn(config, registry)?;
        collector.subscribed(Duration::from_secs(30)).await?;
        Ok(collector)
    }

    /// Starts the collector without waiting for anything.
    ///
    /// # Errors
    /// As [`Collector::new`].
    pub fn spawn(config: Config, registry: Registry) -> Result<Self> {
        let collector = Collector::new(config, registry)?;
        let stats = collector.stats();
        let http = collector.http_addr()?;
        let subscribed = collector.subscribed();
        let stop = CancellationToken::new();
        let task = tokio::spawn(collector.run(stop.clone().cancelled_owned()));
        Ok(InProcess {
            stats,
            http,
            subscribed,
            stop,
            task,
        })
    }

    /// Waits until the broker has granted the collector's subscription.
    ///
    /// # Errors
    /// When it has not within `limit`.
    pub async fn subscribed(&mut self, limit: Duration) -> Result<()> {
        tokio::time::timeout(limit, self.subscribed.wait_for(|s| *s))
            .await
            .with_context(|| format!("not subscribed within {limit:?}"))??;
        Ok(())
    }

    /// Whether it still runs (it stops only when told to).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Shuts it down (drain, acks, disconnect) and waits until it has stopped.
    ///
    /// # Errors
    /// When its task panicked.
    pub async fn stop(self) -> Result<()> {
        self.stop.cancel();
        self.task.await?;
        Ok(())
    }
}
