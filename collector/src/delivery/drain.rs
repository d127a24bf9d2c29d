//! The drainer: writes spooled batches to InfluxDB, oldest first, while live batches keep
//! flowing; commits each one only after the write, so a crash mid-drain sends it again (an
//! overwrite, not a duplicate).

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Shared;
use crate::sink::{Backoff, Sink, write_isolating};
use crate::spool::SpooledBatch;

/// The longest pause between two probes of an unreachable sink.
const PROBE_CAP: Duration = Duration::from_secs(5);

pub(crate) struct Drainer {
    pub(crate) sink: Sink,
    pub(crate) shared: Shared,
}

impl Drainer {
    pub(crate) async fn run(mut self, cancel: CancellationToken) {
        let mut backoff = Backoff::with_cap(PROBE_CAP);
        let mut draining_since: Option<Instant> = None;
        let mut drained_frames = 0u64;
        loop {
            let shared = self.shared.clone();
            let next = tokio::task::spawn_blocking(move || shared.lock_spool().peek_oldest()).await;
            let batch = match next {
                Ok(Ok(Some(batch))) => batch,
                Ok(Ok(None)) => {
                    if let Some(since) = draining_since.take() {
                        info!(
                            frames = drained_frames,
                            took_s = since.elapsed().as_secs(),
                            "Spool drained."
                        );
                        drained_frames = 0;
                    }
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = self.shared.spooled.notified() => continue,
                    }
                }
                Ok(Err(e)) => {
                    warn!(error = %e, "Cannot read the spool; trying again.");
                    if sleep_or_cancel(backoff.next_delay(), &cancel).await {
                        return;
                    }
                    continue;
                }
                Err(_) => return,
            };
            draining_since.get_or_insert_with(Instant::now);
            match self.write(&batch, &mut backoff).await {
                Ok(frames) => {
                    backoff.reset();
                    drained_frames += frames;
                    let shared = self.shared.clone();
                    let committed = tokio::task::spawn_blocking(move || {
                        let mut spool = shared.lock_spool();
                        let result = spool.commit();
                        shared.publish_spool_state(&spool);
                        result
                    })
                    .await;
                    if let Ok(Err(e)) = committed {
                        warn!(error = %e, "Cannot move the spool cursor; the batch may be written again (harmless).");
                    }
                    if !self.shared.stats.sink_healthy() {
                        info!("InfluxDB takes writes again; draining the spool, oldest first.");
                        self.shared.stats.set_sink_healthy(true);
                    }
                    self.shared.space.notify_waiters();
                }
                Err(delay) => {
                    self.shared.stats.set_sink_healthy(false);
                    if sleep_or_cancel(delay, &cancel).await {
                        return;
                    }
                }
            }
            if cancel.is_cancelled() {
                return;
            }
        }
    }

    /// Writes one spooled batch; the frames written, or the delay before the next try.
    async fn write(&mut self, batch: &SpooledBatch, backoff: &mut Backoff) -> Result<u64, Duration> {
        let mut lines = String::with_capacity(batch.points.iter().map(|p| p.line.len()).sum());
        let mut ranges = Vec::with_capacity(batch.points.len());
        for p in &batch.points {
            let start = lines.len();
            lines.push_str(&p.line);
            ranges.push(start..lines.len());
        }
        let stats = &self.shared.stats;
        let started = Instant::now();
        let result = write_isolating(&mut self.sink, &lines, &ranges).await;
        stats.write_latency(started.elapsed());
        match result {
            Ok(refused) => {
                let written = (batch.points.len() - refused.len()) as u64;
                stats.drained(written);
                if !refused.is_empty() {
                    let records = refused.into_iter().map(|(i, message)| {
                        let p = &batch.points[i];
                        (p.topic.as_str(), p.payload.as_slice(), message)
                    });
                    if let Err(e) = self.shared.dead_letter_refused(records) {
                        warn!(error = %e, "Cannot write the dead-letter file for refused points; retrying the batch.");
                        return Err(Duration::from_secs(1));
                    }
                }
                Ok(written)
            }
            Err(e) => {
                stats.write_failed();
                let delay = backoff.delay_for(&e);
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Spool drain: write failed; retrying.");
                Err(delay)
            }
        }
    }
}

/// Sleeps; true if cancelled first.
async fn sleep_or_cancel(delay: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = cancel.cancelled() => true,
        () = tokio::time::sleep(delay) => false,
    }
}
