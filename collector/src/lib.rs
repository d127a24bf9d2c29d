//! The collector: takes node frames from MQTT, verifies and decodes them, writes them to InfluxDB
//! in batches, and acknowledges each message only once its point is durable.
//!
//! # Layout
//!
//! - `config`: the TOML configuration, its defaults and validation.
//! - `source::mqtt`: the polling task and the in-order acker (rumqttc, QoS 1, manual acks).
//! - `pipeline`: accept or reject, batch by size and age, write with retries, then ack.
//! - `sink`: line protocol, the InfluxDB v1 and v2 writers, the local file, the retry policy.
//! - `dead_letter`: where rejected frames are kept with their reason.
//! - `ship`: sends a local line-protocol file to InfluxDB.
//! - `stats`: counters.

pub mod config;
pub mod dead_letter;
mod pipeline;
mod ship;
pub mod sink;
pub mod source;
mod stats;

use std::future::Future;
use std::sync::Arc;

use protocol::registry::Registry;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use config::Config;
pub use ship::ship_file;
pub use stats::{Stats, StatsSnapshot};

use crate::dead_letter::DeadLetterStore;
use crate::pipeline::Pipeline;
use crate::sink::Sink;
use crate::source::mqtt::{Acker, connect};

/// A collector ready to run; hold [`Collector::stats`] to watch it.
pub struct Collector {
    config: Config,
    registry: Registry,
    sink: Sink,
    dead_letters: DeadLetterStore,
    stats: Arc<Stats>,
    subscribed: watch::Sender<bool>,
}

impl Collector {
    /// Prepares a collector: opens the sink and the dead-letter file, so a bad path fails here,
    /// before any message is taken.
    ///
    /// # Errors
    ///
    /// An invalid config, a sink that cannot be built, a dead-letter file that cannot be opened.
    pub fn new(config: Config, registry: Registry) -> anyhow::Result<Self> {
        service::config::Validate::validate(&config)?;
        let sink = Sink::from_config(&config.sink)?;
        let dead_letters = DeadLetterStore::open(&config.dead_letter.path).map_err(|e| {
            anyhow::anyhow!(
                "cannot open dead-letter file {}: {e}",
                config.dead_letter.path.display()
            )
        })?;
        let (subscribed, _) = watch::channel(false);
        Ok(Collector {
            config,
            registry,
            sink,
            dead_letters,
            stats: Arc::default(),
            subscribed,
        })
    }

    /// The collector's counters.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// Turns true once the broker has granted the collector's subscriptions. Until then nothing
    /// published reaches it (on a fresh broker there is no session to queue into).
    pub fn subscribed(&self) -> watch::Receiver<bool> {
        self.subscribed.subscribe()
    }

    /// Runs until `shutdown` resolves, then drains: stops taking messages, writes the batch,
    /// acks what was written, disconnects.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Collector {
            config,
            registry,
            sink,
            dead_letters,
            stats,
            subscribed,
        } = self;
        info!(
            broker = %format!("{}:{}", config.mqtt.host, config.mqtt.port),
            sink = %sink.describe(),
            nodes = registry.len(),
            "Collector starting."
        );
        let max_frames = config.batch.max_frames;
        let (tx, rx) = mpsc::channel(max_frames);
        // Room for two batches of acks plus subscribes: acks never wait on a blocked poll.
        let source = connect(&config.mqtt, tx, 2 * max_frames + 64, subscribed);
        let acker = Acker::start(source.client.clone(), Arc::clone(&stats));
        let pipeline = Pipeline {
            registry,
            prefix: config.mqtt.prefix.clone(),
            batch_config: config.batch.clone(),
            sink,
            dead_letters,
            acker,
            stats,
        };
        let cancel = CancellationToken::new();
        let pipeline_task = tokio::spawn(pipeline.run(rx, cancel.clone()));
        shutdown.await;
        info!("Shutdown requested; draining.");
        cancel.cancel();
        let _ = pipeline_task.await;
        let _ = source.task.await;
    }
}

/// Loads the registry the config names, builds the collector and runs it until `shutdown`.
///
/// # Errors
///
/// As [`Collector::new`], or an unreadable registry.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let registry = Registry::load(&config.registry.path)?;
    Collector::new(config, registry)?.run(shutdown).await;
    Ok(())
}
