//! What the collector's service tests start from, and the collector running in the test's own
//! process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use collector::{Collector, Config, Stats};
use protocol::registry::Registry;
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::stream::{NodeStream, StreamConfig};
use crate::support::{Influx1, Mosquitto, MosquittoOptions};

/// `batch.max_unacked` of the test collectors, and so the broker's `max_inflight_messages`.
pub const MAX_UNACKED: usize = 1_000;

/// mosquitto with the settings `docs/collector.md` gives operators, InfluxDB 1.6 with the test
/// database, and a node registry and its file, in a temp dir of their own.
pub struct Bed {
    /// Holds the registry file, the collectors' configs, spools and dead letters.
    pub dir: TempDir,
    /// The broker.
    pub broker: Mosquitto,
    /// The database.
    pub influx: Influx1,
    /// The nodes.
    pub registry: Registry,
    /// The registry as a TOML file.
    pub registry_path: PathBuf,
}

impl Bed {
    /// The bed with `max_inflight_messages` = [`MAX_UNACKED`] and no broker persistence.
    ///
    /// # Errors
    /// When a service does not start.
    pub async fn start(registry: Registry) -> Result<Self> {
        Self::start_with(
            registry,
            MosquittoOptions {
                max_inflight_messages: MAX_UNACKED,
                ..MosquittoOptions::default()
            },
        )
        .await
    }

    /// The bed with the broker configured by `broker`.
    ///
    /// # Errors
    /// When a service does not start.
    pub async fn start_with(registry: Registry, broker: MosquittoOptions) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let broker = Mosquitto::start(broker).await?;
        let influx = Influx1::start().await?;
        influx.create_database(super::DATABASE).await?;
        let registry_path = super::write_registry(&registry, dir.path());
        Ok(Bed {
            dir,
            broker,
            influx,
            registry,
            registry_path,
        })
    }

    /// The test config of a collector named `client_id` on this bed.
    pub fn config(&self, client_id: &str) -> Config {
        super::config(
            self.broker.port(),
            client_id,
            &self.registry_path,
            &self.influx.url(),
            self.dir.path(),
        )
    }

    /// Every node publishing frames of boot 1, `rate` a second in all, `frames_per_node` each,
    /// over `connections` MQTT connections.
    pub fn stream(&self, rate: u32, frames_per_node: u32, connections: usize, name: &str) -> NodeStream {
        NodeStream::start(
            &self.registry,
            StreamConfig {
                port: self.broker.port(),
                rate,
                frames_per_node,
                connections,
                boot: 1,
            },
            name,
        )
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
