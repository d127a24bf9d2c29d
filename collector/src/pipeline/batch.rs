//! One batch: the line protocol of accepted frames, and every message (accepted, duplicate or
//! dead-lettered) waiting for its ack, in receive order.

use std::ops::Range;
use std::time::Instant;

use rumqttc::Publish;

use super::window::{Digest, FrameKey};
use crate::spool::{SpooledBatch, SpooledPoint};

/// An accepted frame in a batch.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    /// Index of its message in [`Batch::messages`].
    pub(crate) message: usize,
    /// Its line in [`Batch::lines`].
    pub(crate) line: Range<usize>,
}

/// Messages waiting for the write that makes them durable.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Line protocol of the accepted frames.
    pub(crate) lines: String,
    /// The accepted frames, in order.
    pub(crate) points: Vec<Point>,
    /// Every message in the batch, in receive order; all are acked once the batch is durable.
    pub(crate) messages: Vec<Publish>,
    /// Frames to record in the durable replay window once the batch is durable, with the digests
    /// of their bytes.
    pub(crate) keys: Vec<(FrameKey, Digest)>,
    /// Whether dead-letter records were appended for this batch (synced before the ack).
    pub(crate) dead_lettered: bool,
    /// When the first message arrived; the age limit counts from here.
    pub(crate) opened_at: Option<Instant>,
    /// Bytes of line protocol a full batch takes (reserved when the batch opens).
    pub(crate) expected_bytes: usize,
}

impl Batch {
    pub(crate) fn push_point(&mut self, publish: Publish, line: Range<usize>, key: (FrameKey, Digest)) {
        self.points.push(Point {
            message: self.messages.len(),
            line,
        });
        self.keys.push(key);
        self.push(publish);
    }

    /// A message acked with the batch without a point of its own (a duplicate, or a frame already
    /// dead-lettered).
    pub(crate) fn push(&mut self, publish: Publish) {
        if self.opened_at.is_none() {
            // Room for the points of a full batch at once: no doubling on the way, no
            // half-empty allocation held while it is written.
            self.lines.reserve(self.expected_bytes);
            self.opened_at = Some(Instant::now());
        }
        self.messages.push(publish);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// An empty batch that expects `frames` points.
    pub(crate) fn with_room_for(frames: usize) -> Batch {
        Batch {
            expected_bytes: frames * 256,
            messages: Vec::with_capacity(frames),
            ..Batch::default()
        }
    }

    /// Empties the batch, returning it.
    pub(crate) fn take(&mut self) -> Batch {
        let next = Batch::with_room_for(self.expected_bytes / 256);
        std::mem::replace(self, next)
    }

    /// The byte ranges of the points' lines.
    pub(crate) fn ranges(&self) -> Vec<Range<usize>> {
        self.points.iter().map(|p| p.line.clone()).collect()
    }

    /// The topic and payload of the `i`-th point.
    pub(crate) fn source(&self, i: usize) -> (&str, &[u8]) {
        let message = &self.messages[self.points[i].message];
        (&message.topic, &message.payload)
    }

    /// The batch as the spool keeps it.
    pub(crate) fn to_spooled(&self, now_ms: u64) -> SpooledBatch {
        SpooledBatch {
            spooled_at_ms: now_ms,
            points: self
                .points
                .iter()
                .map(|p| {
                    let m = &self.messages[p.message];
                    SpooledPoint {
                        topic: m.topic.clone(),
                        payload: m.payload.to_vec(),
                        line: self.lines[p.line.clone()].to_owned(),
                    }
                })
                .collect(),
        }
    }
}
