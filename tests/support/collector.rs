//! The collector in-process, for whole-path tests that read its counters while it runs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use collector::config::Config;
use collector::{Collector, Stats};
use protocol::registry::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A collector running in a task of the test's runtime.
pub struct RunningCollector {
    /// Its counters.
    pub stats: Arc<Stats>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl RunningCollector {
    /// Starts the collector and waits, up to `limit`, until it has subscribed.
    ///
    /// # Errors
    /// A config the collector refuses, or no subscription within `limit`.
    pub async fn start(config: Config, registry: Registry, limit: Duration) -> Result<Self> {
        let collector = Collector::new(config, registry)?;
        let stats = collector.stats();
        let mut subscribed = collector.subscribed();
        let stop = CancellationToken::new();
        let task = tokio::spawn(collector.run(stop.clone().cancelled_owned()));
        tokio::time::timeout(limit, subscribed.wait_for(|s| *s))
            .await
            .context("the collector subscribing")??;
        Ok(RunningCollector { stats, stop, task })
    }

    /// Stops it (draining as on SIGTERM) and waits for it.
    ///
    /// # Errors
    /// The collector's task panicked.
    pub async fn stop(self) -> Result<()> {
        self.stop.cancel();
        self.task.await.context("the collector's task")
    }
}
