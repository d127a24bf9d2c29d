//! The pipeline: take a message, accept or reject it, check it against the replay window, batch
//! it. Full or old batches go to the writer (`crate::delivery`), which makes them durable and
//! acks them.
//!
//! Every message goes into a batch, accepted or not, so acks leave in receive order: an accepted
//! frame is acked once its batch is written or spooled; a duplicate with the batch it arrived in
//! (never before the batch holding its first copy); a rejected frame once its dead-letter record
//! is synced with the batch.

mod batch;
pub mod window;

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use protocol::inbound::accept;
use protocol::registry::Registry;
use rumqttc::Publish;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

pub(crate) use self::batch::Batch;
use self::window::{FrameKey, ReplayWindow, Verdict};
use crate::config::BatchConfig;
use crate::dead_letter::{DeadLetter, DeadLetterStore};
use crate::sink::line_protocol::TagCache;
use crate::stats::Stats;

pub(crate) struct Pipeline {
    pub(crate) registry: Registry,
    pub(crate) prefix: String,
    pub(crate) batch_config: BatchConfig,
    pub(crate) dead_letters: Arc<Mutex<DeadLetterStore>>,
    /// The live window: durable frames and frames in batches not yet written.
    pub(crate) window: ReplayWindow,
    pub(crate) tags: TagCache,
    pub(crate) stats: Arc<Stats>,
}

impl Pipeline {
    /// Runs until `shutdown` or until the source ends, then hands the last batch to the writer.
    pub(crate) async fn run(
        mut self,
        mut rx: mpsc::Receiver<Publish>,
        writer: mpsc::Sender<Batch>,
        shutdown: CancellationToken,
    ) {
        let mut batch = Batch::with_room_for(self.batch_config.max_frames);
        loop {
            let deadline = batch
                .opened_at
                .map(|t| Instant::from_std(t) + self.batch_config.max_age());
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = sleep_until(deadline) => {
                    if writer.send(batch.take()).await.is_err() { return; }
                }
                message = rx.recv() => {
                    let Some(publish) = message else { break };
                    self.take(&mut batch, publish);
                    let full = batch.points.len() >= self.batch_config.max_frames
                        || batch.messages.len() >= 2 * self.batch_config.max_frames;
                    if full && writer.send(batch.take()).await.is_err() {
                        return;
                    }
                }
            }
        }
        // Stop taking messages; whatever is still queued stays unacked and comes back later.
        drop(rx);
        if !batch.is_empty() {
            let _ = writer.send(batch).await;
        }
    }

    /// Accepts or rejects one message into `batch`.
    pub(crate) fn take(&mut self, batch: &mut Batch, publish: Publish) {
        self.stats.received();
        let rejection = match accept(&self.registry, &self.prefix, &publish.topic, &publish.payload) {
            Ok((frame, node)) => {
                let key = FrameKey {
                    node: frame.node_id,
                    boot: frame.boot,
                    seq: frame.seq,
                };
                match self.window.check(key) {
                    Verdict::New => {
                        self.window.mark(key);
                        let start = batch.lines.len();
                        self.tags.write_point(&mut batch.lines, &frame, node, now_ms());
                        let end = batch.lines.len();
                        batch.push_point(publish, start..end, key);
                        return;
                    }
                    Verdict::Duplicate => {
                        self.stats.duplicate();
                        debug!(
                            node = key.node,
                            boot = key.boot,
                            seq = key.seq,
                            "Duplicate frame; acked with this batch, not written again."
                        );
                        batch.push(publish);
                        return;
                    }
                    Verdict::Replay(detail) => ("replay", detail),
                }
            }
            Err(rejection) => (rejection.reason, rejection.detail),
        };
        let (reason, detail) = rejection;
        self.stats.rejected(reason);
        warn!(topic = %publish.topic, reason, detail = %detail, "Frame rejected.");
        let record = DeadLetter::new(&publish.topic, reason, detail, &publish.payload);
        let mut store = self
            .dead_letters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match store.append(&record) {
            Ok(()) => {
                batch.dead_lettered = true;
                batch.push(publish);
            }
            // Without a durable record the message must not be acked: the broker keeps it.
            Err(e) => {
                self.stats.released(1);
                error!(path = %store.path().display(), error = %e,
                    "Cannot write the dead-letter file; leaving the frame unacknowledged.");
            }
        }
        self.stats.dead_letters_dropped(store.dropped());
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
