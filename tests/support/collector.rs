//! The collector in-process, for tests that read its counters while it runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use collector::{Collector, Config, Stats};
use protocol::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
