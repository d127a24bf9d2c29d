//! Making batches durable, then acknowledging them.
//!
//! The writer takes batches from the pipeline in order. For each one it
//! 1. writes it to InfluxDB while the sink is healthy (splitting it to isolate points refused
//!    with 400/413/422, which are dead-lettered), or else appends it to the disk spool (fsynced);
//! 2. when the spool is full too, keeps the batch and retries both, with backoff, until one takes
//!    it: nothing is acknowledged meanwhile, the pipeline stops, the MQTT channel fills, and the
//!    broker holds the backlog. The log and `/metrics` (`spool_full`) say so;
//! 3. syncs the batch's dead-letter records, records its frames in the durable replay window and
//!    saves it, then hands the acks to the acker, in receive order.
//!
//! The drainer (`drain`) writes spooled batches back to InfluxDB oldest first, in parallel with
//! live writes, and marks the sink healthy again when a write succeeds.

mod drain;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub(crate) use self::drain::Drainer;
use crate::dead_letter::{DeadLetter, DeadLetterStore};
use crate::pipeline::window::ReplayWindow;
use crate::pipeline::window_file::WindowFile;
use crate::pipeline::{Batch, now_ms};
use crate::sink::{Backoff, Sink, WriteError, retry, write_isolating};
use crate::source::mqtt::Acker;
use crate::spool::{AppendError, Spool};
use crate::stats::Stats;

/// How often a full spool is reported while it stays full.
const FULL_REPORT_EVERY: Duration = Duration::from_secs(10);

/// What the writer and the drainer share.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) spool: Arc<Mutex<Spool>>,
    pub(crate) dead_letters: Arc<Mutex<DeadLetterStore>>,
    pub(crate) stats: Arc<Stats>,
    /// Wakes the drainer: something was spooled.
    pub(crate) spooled: Arc<Notify>,
    /// Wakes the writer: the drainer freed spool space or found the sink healthy.
    pub(crate) space: Arc<Notify>,
}

impl Shared {
    pub(crate) fn lock_spool(&self) -> std::sync::MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn lock_dead_letters(&self) -> std::sync::MutexGuard<'_, DeadLetterStore> {
        self.dead_letters.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn publish_spool_state(&self, spool: &Spool) {
        self.stats.spool_state(
            spool.bytes(),
            spool.max_bytes(),
            spool.oldest_ms(),
            spool.corrupt_records(),
        );
    }

    /// Dead-letters points a server refused, with its message, and syncs the records.
    pub(crate) fn dead_letter_refused<'a>(
        &self,
        refused: impl IntoIterator<Item = (&'a str, &'a [u8], String)>,
    ) -> std::io::Result<()> {
        let mut store = self.lock_dead_letters();
        for (topic, payload, message) in refused {
            self.stats.rejected("sink_refused");
            error!(topic, error = %message, "The database refused a point; it goes to the dead-letter store.");
            store.append(&DeadLetter::new(topic, "sink_refused", message, payload))?;
        }
        let synced = store.sync();
        self.stats.dead_letters_dropped(store.dropped());
        synced
    }
}

/// How many batches are written at once. Two keep InfluxDB busy while the next write's request
/// is built and the last one's acks go out; acks still leave in receive order.
pub(crate) const CONCURRENT_WRITES: usize = 2;

pub(crate) struct Writer {
    pub(crate) sink: Sink,
    pub(crate) shared: Shared,
    /// Frames that are durable (written, spooled or dead-lettered); recorded on disk after every
    /// batch that brought new ones.
    pub(crate) window: ReplayWindow,
    pub(crate) window_file: WindowFile,
    pub(crate) acker: Acker,
    pub(crate) shutdown: CancellationToken,
    pub(crate) grace: Duration,
    /// Set once a batch was left unacknowledged (shutdown's grace ran out before it was
    /// durable); no later batch is acked then.
    pub(crate) acks_stopped: bool,
}

impl Writer {
    /// Stores up to [`CONCURRENT_WRITES`] batches at once and completes them in the order they
    /// came (window, dead-letter sync, acks), so acks leave in receive order.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Batch>) {
        let mut inflight = FuturesOrdered::new();
        let mut open = true;
        loop {
            tokio::select! {
                batch = rx.recv(), if open && inflight.len() < CONCURRENT_WRITES => match batch {
                    Some(batch) => {
                        let store = Store {
                            sink: self.sink.clone(),
                            shared: self.shared.clone(),
                            shutdown: self.shutdown.clone(),
                            grace: self.grace,
                        };
                        inflight.push_back(async move {
                            let durable = batch.points.is_empty() || store.store(&batch).await;
                            (batch, durable)
                        });
                    }
                    None => open = false,
                },
                Some((batch, durable)) = inflight.next(), if !inflight.is_empty() => {
                    self.complete(batch, durable);
                }
                else => break,
            }
        }
        self.acker.finish().await;
    }

    fn complete(&mut self, batch: Batch, durable: bool) {
        if !durable {
            let held = batch.messages.len() as u64;
            self.shared.stats.released(held);
            warn!(
                messages = held,
                "Shutting down with a batch neither written nor spooled; the broker will redeliver it and what came after it."
            );
            // Nothing after it is acked either: acks leave in receive order, and a later batch
            // may hold a redelivery of one of its frames (a duplicate), whose ack would make the
            // broker drop the only copy.
            self.acks_stopped = true;
            return;
        }
        if batch.dead_lettered
            && let Err(e) = self.shared.lock_dead_letters().sync()
        {
            self.shared.stats.released(batch.messages.len() as u64);
            error!(error = %e, "Cannot sync the dead-letter file; leaving the batch unacknowledged.");
            return;
        }
        // A batch of duplicates and dead letters leaves the window as it was: nothing to record.
        if !batch.keys.is_empty() {
            for &(key, digest) in &batch.keys {
                self.window.mark(key, digest);
            }
            if let Err(e) = self.window_file.record(&batch.keys, &self.window) {
                warn!(error = %e, "Cannot save the replay-window state; a restart may write redelivered frames again.");
            }
        }
        let count = batch.messages.len() as u64;
        self.shared.stats.released(count);
        if !self.acks_stopped {
            self.acker.ack(batch.messages);
        }
    }
}

/// One batch's way to durability.
struct Store {
    sink: Sink,
    shared: Shared,
    shutdown: CancellationToken,
    grace: Duration,
}

impl Store {
    /// Makes the batch's points durable: written, or spooled. False only when shutdown's grace
    /// ran out first.
    async fn store(mut self, batch: &Batch) -> bool {
        let stats = Arc::clone(&self.shared.stats);
        let mut backoff = Backoff::with_cap(Duration::from_secs(5));
        let mut full_since: Option<Instant> = None;
        let mut last_report: Option<Instant> = None;
        let mut last_error: Option<WriteError> = None;
        let mut deadline: Option<tokio::time::Instant> = None;
        loop {
            let spool_full = full_since.is_some();
            if stats.sink_healthy() || spool_full {
                match self.write(batch).await {
                    Ok(()) => {
                        if let Some(since) = full_since {
                            stats.set_spool_full(false);
                            info!(
                                after_s = since.elapsed().as_secs(),
                                "InfluxDB takes writes again; acknowledging resumes."
                            );
                        }
                        return true;
                    }
                    Err(e) => {
                        if stats.sink_healthy() {
                            warn!(sink = %self.sink.describe(), error = %e,
                                "Write failed; spooling to disk until InfluxDB takes writes again.");
                        }
                        stats.set_sink_healthy(false);
                        last_error = Some(e);
                        // The drainer probes the sink with the spool's oldest batch.
                        self.shared.spooled.notify_one();
                    }
                }
            }
            match self.spool(batch).await {
                Ok(()) => {
                    if full_since.is_some() {
                        stats.set_spool_full(false);
                        info!("The spool has room again; acknowledging resumes.");
                    }
                    return true;
                }
                Err(AppendError::Full { used, max }) => {
                    if full_since.is_none() {
                        full_since = Some(Instant::now());
                        stats.set_spool_full(true);
                    }
                    if last_report.is_none_or(|t| t.elapsed() >= FULL_REPORT_EVERY) {
                        last_report = Some(Instant::now());
                        error!(
                            spool_bytes = used,
                            spool_max_bytes = max,
                            unacked = stats.snapshot().unacked,
                            waiting_s = full_since.map_or(0, |t| t.elapsed().as_secs()),
                            "SPOOL FULL: InfluxDB is unreachable and the disk spool is at its bound. \
                             The collector has STOPPED ACKNOWLEDGING; the broker holds the backlog \
                             (check its max_queued_messages). Nothing is dropped."
                        );
                    }
                }
                Err(AppendError::Io(e)) => {
                    error!(error = %e, "Cannot append to the spool; retrying the write instead. Nothing is acknowledged meanwhile.");
                    full_since.get_or_insert_with(Instant::now);
                }
            }
            if self.shutdown.is_cancelled() {
                let deadline = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + self.grace);
                if tokio::time::Instant::now() >= deadline {
                    return false;
                }
            }
            let delay = match &last_error {
                Some(e) => backoff.delay_for(e),
                None => backoff.next_delay(),
            };
            let give_up = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let cancelled = self.shutdown.is_cancelled();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.shared.space.notified() => {}
                () = self.shutdown.cancelled(), if !cancelled => {}
                () = give_up => {}
            }
        }
    }

    /// One write of the whole batch, isolating refused points.
    async fn write(&mut self, batch: &Batch) -> Result<(), WriteError> {
        let stats = &self.shared.stats;
        let started = Instant::now();
        let result = write_isolating(&mut self.sink, &batch.lines, &batch.ranges()).await;
        stats.write_latency(started.elapsed());
        match result {
            Ok(refused) => {
                stats.written((batch.points.len() - refused.len()) as u64);
                if !refused.is_empty() {
                    let records = refused.into_iter().map(|(i, message)| {
                        let (topic, payload) = batch.source(i);
                        (topic, payload, message)
                    });
                    if let Err(e) = self.shared.dead_letter_refused(records) {
                        error!(error = %e, "Cannot write the dead-letter file for refused points.");
                        return Err(retry::classify_transport(format!("dead-letter store: {e}")));
                    }
                }
                Ok(())
            }
            Err(e) => {
                stats.write_failed();
                Err(e)
            }
        }
    }

    async fn spool(&mut self, batch: &Batch) -> Result<(), AppendError> {
        let record = batch.to_spooled(now_ms());
        let frames = batch.points.len() as u64;
        let shared = self.shared.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut spool = shared.lock_spool();
            let result = spool.append(&record);
            shared.publish_spool_state(&spool);
            result
        })
        .await
        .unwrap_or_else(|e| Err(AppendError::Io(std::io::Error::other(e.to_string()))));
        if result.is_ok() {
            self.shared.stats.spooled(frames);
            self.shared.spooled.notify_one();
        }
        result
    }
}

#[cfg(test)]
mod tests;
