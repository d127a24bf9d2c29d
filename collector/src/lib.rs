//! The collector: takes node frames from MQTT, verifies and decodes them, writes them to InfluxDB
//! in batches, and acknowledges each message only once its point is durable (written, or in the
//! fsynced disk spool) or its frame is in the dead-letter store.
//!
//! # Layout
//!
//! - `config`: the TOML configuration, its defaults and validation.
//! - `source::mqtt`: the polling task and the in-order acker (rumqttc, QoS 1, manual acks).
//! - `pipeline`: accept or reject, the replay window, batching by size and age.
//! - `delivery`: the writer (write, or spool, or hold; then ack) and the spool drainer.
//! - `sink`: line protocol, the InfluxDB v1 and v2 writers, the local file, the retry policy and
//!   the batch split that isolates refused points.
//! - `spool`: the durable on-disk spool (segments, per-record checksums, torn-tail recovery).
//! - `dead_letter`: where rejected frames are kept with their reason, bounded.
//! - `backup`: `backup` and `restore` of the spool, the replay window and the dead letters
//!   while the collector runs, and the lock by which a restore knows it runs.
//! - `http`: `/metrics`, `/healthz`, `/readyz`.
//! - `ship`: sends a local line-protocol file to InfluxDB.
//! - `stats`: counters and gauges.
//!
//! `docs/collector.md` describes the delivery promise and how each part keeps it.

pub mod backup;
pub mod config;
pub mod dead_letter;
mod delivery;
mod http;
pub mod pipeline;
pub mod republish;
mod ship;
pub mod sink;
pub mod source;
pub mod spool;
mod stats;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use protocol::registry::Registry;
use service::registry::LiveRegistry;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use config::Config;
pub use ship::ship_file;
pub use stats::{Stats, StatsSnapshot};

use crate::backup::StateLock;
use crate::dead_letter::DeadLetterStore;
use crate::delivery::{Drainer, Shared, Writer};
use crate::pipeline::Pipeline;
use crate::pipeline::window_file::WindowFile;
use crate::sink::Sink;
use crate::source::mqtt::{Acker, connect, start};
use crate::spool::Spool;

/// A collector ready to run; hold [`Collector::stats`] to watch it.
pub struct Collector {
    config: Config,
    registry: Registry,
    sinks: (Sink, Sink),
    shared: Shared,
    window_file: WindowFile,
    listener: std::net::TcpListener,
    subscribed: watch::Sender<bool>,
    /// Held until the run ends, so `restore` refuses while the collector runs.
    state_lock: StateLock,
}

impl Collector {
    /// Prepares a collector: validates the config, opens the sink, the dead-letter file and the
    /// spool (cutting a torn record a crash left), loads the replay window and binds the HTTP
    /// port, so every mistake shows here, before any message is taken.
    ///
    /// # Errors
    ///
    /// An invalid config, a sink that cannot be built, a restore in progress on the spool
    /// directory, a file or port that cannot be opened.
    pub fn new(config: Config, registry: Registry) -> anyhow::Result<Self> {
        service::config::Validate::validate(&config)?;
        let sinks = (Sink::from_config(&config.sink)?, Sink::from_config(&config.sink)?);
        let state_lock = StateLock::hold(&config.spool.dir)?;
        let dead_letters = DeadLetterStore::open(&config.dead_letter.path, config.dead_letter.max_bytes)
            .with_context(|| {
                format!(
                    "cannot open dead-letter file {}",
                    config.dead_letter.path.display()
                )
            })?;
        let (spool, report) = Spool::open(
            &config.spool.dir,
            config.spool.max_bytes,
            config.spool.segment_bytes,
        )
        .with_context(|| format!("cannot open the spool in {}", config.spool.dir.display()))?;
        if report.bytes > 0 {
            info!(
                segments = report.segments,
                bytes = report.bytes,
                "Spool holds batches from an earlier run; draining them."
            );
        }
        let listener = std::net::TcpListener::bind(config.http.listen)
            .with_context(|| format!("cannot listen on http.listen = {}", config.http.listen))?;
        listener.set_nonblocking(true)?;
        let stats = Arc::new(Stats::default());
        stats.set_sink_healthy(true);
        let shared = Shared {
            spool: Arc::new(Mutex::new(spool)),
            dead_letters: Arc::new(Mutex::new(dead_letters)),
            stats,
            spooled: Arc::new(Notify::new()),
            space: Arc::new(Notify::new()),
        };
        shared.publish_spool_state(&shared.lock_spool());
        let (subscribed, _) = watch::channel(false);
        Ok(Collector {
            window_file: WindowFile::in_dir(&config.spool.dir),
            config,
            registry,
            sinks,
            shared,
            listener,
            subscribed,
            state_lock,
        })
    }

    /// The collector's counters.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.shared.stats)
    }

    /// Where `/metrics`, `/healthz` and `/readyz` answer.
    ///
    /// # Errors
    ///
    /// The socket's error.
    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Turns true once the broker has granted the collector's subscriptions. Until then nothing
    /// published reaches it (on a fresh broker there is no session to queue into).
    pub fn subscribed(&self) -> watch::Receiver<bool> {
        self.subscribed.subscribe()
    }

    /// Runs until `shutdown` resolves, then drains: stops taking messages, writes or spools what
    /// it holds, acks that, disconnects; bounded by `shutdown.grace_ms` (what is left after it
    /// stays unacknowledged and comes back from the broker).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Collector {
            config,
            registry,
            sinks,
            shared,
            window_file,
            listener,
            subscribed,
            state_lock: _state_lock,
        } = self;
        let stats = Arc::clone(&shared.stats);
        info!(
            broker = %config.mqtt.address(),
            tls = config.mqtt.tls.is_some(),
            shared_group = config.mqtt.shared_group.as_deref().unwrap_or("-"),
            sink = %sinks.0.describe(),
            nodes = registry.len(),
            spool = %config.spool.dir.display(),
            "Collector starting."
        );
        let http_cancel = CancellationToken::new();
        let http_task = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => {
                let app = http::router(Arc::clone(&stats), subscribed.subscribe());
                let cancel = http_cancel.clone();
                Some(tokio::spawn(async move {
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(cancel.cancelled_owned())
                        .await;
                    if let Err(e) = served {
                        warn!(error = %e, "The metrics endpoint stopped.");
                    }
                }))
            }
            Err(e) => {
                error!(error = %e, "Cannot serve /metrics.");
                None
            }
        };

        let window = window_file.load();
        if !window.is_empty() {
            info!(nodes = window.len(), "Loaded the replay window of the last run.");
        }
        // What the batches can hold is taken off the channel, so the collector never holds more
        // than max_unacked; with the broker limited to that, the poll never waits on the channel.
        let in_batches = (config::MIN_UNACKED_BATCHES - 1) * config.batch.max_frames;
        let (tx, rx) = mpsc::channel(config.batch.max_unacked.saturating_sub(in_batches).max(1));
        let (client, eventloop, subscription) = match connect(&config.mqtt, subscribed) {
            Ok(parts) => parts,
            Err(e) => {
                error!(error = %e, "Cannot connect to the broker.");
                return;
            }
        };
        let (acker, ack_queue) = Acker::new(client.clone());
        let source = start(client, eventloop, subscription, tx, ack_queue, Arc::clone(&stats));
        let cancel = CancellationToken::new();
        let (writer_tx, writer_rx) = mpsc::channel(1);
        let (live_sink, drain_sink) = sinks;
        let writer = Writer {
            sink: live_sink,
            shared: shared.clone(),
            // The writer's window is only saved; the log it appends keeps the digests.
            window: window.clone().without_digests(),
            window_file,
            acker,
            shutdown: cancel.clone(),
            grace: config.shutdown.grace(),
            acks_stopped: false,
        };
        let drainer = Drainer {
            sink: drain_sink,
            shared: shared.clone(),
        };
        let pipeline = Pipeline {
            registry: LiveRegistry::new(config.registry.path.clone(), registry),
            prefix: config.mqtt.prefix.clone(),
            batch_config: config.batch.clone(),
            dead_letters: Arc::clone(&shared.dead_letters),
            window,
            tags: Default::default(),
            stats: Arc::clone(&stats),
            reused_warned: Default::default(),
        };
        let drain_cancel = CancellationToken::new();
        let drain_task = tokio::spawn(drainer.run(drain_cancel.clone()));
        let writer_task = tokio::spawn(writer.run(writer_rx));
        let pipeline_task = tokio::spawn(pipeline.run(rx, writer_tx, cancel.clone()));

        shutdown.await;
        info!(
            grace_ms = config.shutdown.grace_ms,
            "Shutdown requested; draining."
        );
        cancel.cancel();
        drain_cancel.cancel();
        let drained = tokio::time::timeout(
            config.shutdown.grace() + std::time::Duration::from_secs(2),
            async {
                let _ = pipeline_task.await;
                let _ = writer_task.await;
                let _ = source.task.await;
            },
        )
        .await;
        if drained.is_err() {
            warn!(
                "Shutdown grace ran out; exiting with messages unacknowledged (the broker redelivers them)."
            );
        }
        let _ = drain_task.await;
        http_cancel.cancel();
        if let Some(task) = http_task {
            let _ = task.await;
        }
        info!("Collector stopped: {}.", stats.snapshot());
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
