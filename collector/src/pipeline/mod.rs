//! The pipeline: take a message, accept or reject it, check it against the replay window, batch
//! it. Full or old batches go to the writer (`crate::delivery`), which makes them durable and
//! acks them.
//!
//! Every message goes into a batch, accepted or not, so acks leave in receive order: an accepted
//! frame is acked once its batch is written or spooled; a duplicate with the batch it arrived in
//! (never before the batch holding its first copy); a rejected frame once its dead-letter record
//! is synced with the batch.

mod batch;
pub mod window_file;

pub use protocol::window;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use protocol::inbound::accept;
use rumqttc::Publish;
use service::registry::LiveRegistry;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

pub(crate) use self::batch::Batch;
use self::window::{ReplayWindow, Verdict};
use crate::config::BatchConfig;
use crate::dead_letter::{DeadLetter, DeadLetterStore};
use crate::sink::line_protocol::TagCache;
use crate::stats::Stats;

pub(crate) struct Pipeline {
    /// The registry, reread when its file changes (a key rotated, a node revoked).
    pub(crate) registry: LiveRegistry,
    pub(crate) prefix: String,
    pub(crate) batch_config: BatchConfig,
    pub(crate) dead_letters: Arc<Mutex<DeadLetterStore>>,
    /// The live window: durable frames and frames in batches not yet written.
    pub(crate) window: ReplayWindow,
    pub(crate) tags: TagCache,
    pub(crate) stats: Arc<Stats>,
    /// Nodes already warned about for reusing sequence numbers: one WARN a node and run, not one
    /// a frame (a re-flashed node reuses every key of its earlier life).
    pub(crate) reused_warned: HashSet<u32>,
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
        if self.registry.refresh() {
            // A node's station or district may have changed with it.
            self.tags = TagCache::default();
        }
        let rejection = match accept(
            self.registry.get(),
            &self.prefix,
            &publish.topic,
            &publish.payload,
        ) {
            Ok((frame, node)) => {
                let (key, digest, verdict) =
                    self.window
                        .check_message(&frame, &publish.payload, publish.dup, publish.retain);
                match verdict {
                    Verdict::New => {
                        self.window.mark(key, digest);
                        let start = batch.lines.len();
                        self.tags.write_point(&mut batch.lines, &frame, node, now_ms());
                        let end = batch.lines.len();
                        batch.push_point(publish, start..end, (key, digest));
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
                    Verdict::SeqReused(detail) => {
                        if self.reused_warned.insert(key.node) {
                            warn!(
                                node = key.node,
                                boot = key.boot,
                                seq = key.seq,
                                "Node sends frames under (boot, seq) keys it used before with other bytes: it was re-flashed or lost its boot counter, or an old frame of it is replayed. They are dead-lettered as seq_reused, not written; see docs/decisions.md. Further frames of this node are counted, not logged."
                            );
                        }
                        ("seq_reused", detail)
                    }
                    Verdict::Replay(detail) => ("replay", detail),
                }
            }
            Err(rejection) => (rejection.reason, rejection.detail),
        };
        let (reason, detail) = rejection;
        self.stats.rejected(reason);
        if reason == "seq_reused" {
            debug!(topic = %publish.topic, detail = %detail, "Frame rejected: reused sequence number.");
        } else {
            warn!(topic = %publish.topic, reason, detail = %detail, "Frame rejected.");
        }
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

#[cfg(test)]
mod tests {
    use protocol::registry::{NodeInfo, Registry, StationKind};
    use protocol::{AirSample, Body, FirmwareVersion, Frame, MAX_FRAME_LEN, NodeKey, NodeStatus, StatusKind};
    use rumqttc::QoS;

    use super::*;

    fn pipeline(dir: &std::path::Path) -> Pipeline {
        let registry = Registry::from_nodes([NodeInfo {
            id: 7,
            station: "S7".into(),
            name: String::new(),
            kind: StationKind::Air,
            district: String::new(),
            location: None,
            key: Some(NodeKey::new([7; 32])),
        }])
        .expect("registry");
        let store = DeadLetterStore::open(&dir.join("dl.jsonl"), 1 << 20).expect("dead letters");
        Pipeline {
            registry: LiveRegistry::new(dir.join("nodes.toml"), registry),
            prefix: "p".into(),
            batch_config: BatchConfig::default(),
            dead_letters: Arc::new(Mutex::new(store)),
            window: ReplayWindow::default(),
            tags: TagCache::default(),
            stats: Arc::default(),
            reused_warned: HashSet::new(),
        }
    }

    const CLOCK_MS: u64 = 1_764_201_600_000;

    fn message(seq: u32, body: Body, retain: bool) -> Publish {
        message_at(seq, CLOCK_MS + u64::from(seq), body, retain)
    }

    fn message_at(seq: u32, time_ms: u64, body: Body, retain: bool) -> Publish {
        let channel = if matches!(body, Body::Status(_)) {
            "status"
        } else {
            "telemetry"
        };
        let frame = Frame {
            node_id: 7,
            boot: 1,
            seq,
            time_ms,
            body,
        };
        let mut buf = [0u8; MAX_FRAME_LEN];
        let bytes = frame
            .encode(Some(&NodeKey::new([7; 32])), &mut buf)
            .expect("encodes")
            .to_vec();
        let mut publish = Publish::new(format!("p/node/7/{channel}"), QoS::AtLeastOnce, bytes);
        publish.retain = retain;
        publish
    }

    fn status(kind: StatusKind) -> Body {
        Body::Status(NodeStatus {
            kind,
            firmware: FirmwareVersion {
                major: 1,
                minor: 0,
                patch: 0,
            },
            uptime_s: 1,
            battery_mv: None,
            rssi_dbm: None,
            frames_dropped: 0,
            frames_queued: 0,
        })
    }

    #[test]
    fn a_late_will_is_written_a_retained_repeat_is_a_duplicate_a_replay_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut p = pipeline(dir.path());
        let mut batch = Batch::with_room_for(10);
        // Seq 0 was the will the node registered when it connected; then 300 samples.
        for seq in 1..=300 {
            p.take(&mut batch, message(seq, Body::Air(AirSample::default()), false));
        }
        assert_eq!(batch.points.len(), 300);
        // The broker publishes the will (seq 0) when the node dies: old, but written.
        p.take(&mut batch, message(0, status(StatusKind::Death), false));
        assert_eq!(batch.points.len(), 301);
        // A retained birth handed out again on subscribe: a duplicate, not a dead letter.
        p.take(&mut batch, message(1, status(StatusKind::Birth), true));
        // The same old frame published live by someone else: a replay.
        p.take(&mut batch, message(2, Body::Air(AirSample::default()), false));
        let stats = p.stats.snapshot();
        assert_eq!(batch.points.len(), 301);
        assert_eq!(stats.duplicates, 1);
        assert_eq!(stats.rejected.get("replay"), Some(&1));
        assert_eq!(
            batch.messages.len(),
            303,
            "every message waits for its ack in the batch"
        );
    }

    /// A re-flashed node numbers its frames from the start again: the same keys with other bytes.
    /// Each is dead-lettered as `seq_reused` with its bytes, none written, none a duplicate, one
    /// WARN for the node; the first life's frame retried by the node is still a duplicate.
    #[test]
    fn a_reused_key_with_other_bytes_is_dead_lettered_never_a_duplicate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut p = pipeline(dir.path());
        let mut batch = Batch::with_room_for(10);
        for seq in 0..5 {
            p.take(&mut batch, message(seq, Body::Air(AirSample::default()), false));
        }
        let an_hour_later = CLOCK_MS + 3_600_000;
        let reused: Vec<Publish> = (0..5)
            .map(|seq| {
                message_at(
                    seq,
                    an_hour_later + u64::from(seq),
                    Body::Air(AirSample::default()),
                    false,
                )
            })
            .collect();
        for publish in &reused {
            p.take(&mut batch, publish.clone());
        }
        p.take(&mut batch, message(4, Body::Air(AirSample::default()), false));
        let stats = p.stats.snapshot();
        assert_eq!(batch.points.len(), 5, "only the first life is written");
        assert_eq!(stats.duplicates, 1, "the retried frame");
        assert_eq!(stats.rejected.get("seq_reused"), Some(&5));
        assert_eq!(p.reused_warned, HashSet::from([7]), "warned once, for node 7");
        let (records, _) = crate::dead_letter::read_all(&dir.path().join("dl.jsonl")).expect("read");
        let kept: Vec<&str> = records
            .iter()
            .filter(|r| r.reason == "seq_reused")
            .map(|r| r.payload_hex.as_str())
            .collect();
        let sent: Vec<String> = reused.iter().map(|m| hex::encode(&m.payload)).collect();
        assert_eq!(
            kept, sent,
            "every reused frame kept with its bytes, for republish"
        );
    }
}
