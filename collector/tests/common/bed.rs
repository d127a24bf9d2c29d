//! What the collector's service tests start from (the collector in-process is
//! `support::InProcess`, shared with the workspace's whole-path tests).

use std::path::PathBuf;

use anyhow::Result;
use collector::Config;
use protocol::registry::Registry;
use tempfile::TempDir;

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
