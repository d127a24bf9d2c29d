//! One batch: the line protocol of accepted frames, and every message (accepted or dead-lettered)
//! waiting for its ack, in receive order.

use std::time::Instant;

use rumqttc::Publish;

/// Messages waiting for the write that makes them durable.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Line protocol of the accepted frames.
    pub(crate) lines: String,
    /// How many accepted frames `lines` holds.
    pub(crate) frames: usize,
    /// Every message in the batch, in receive order, with whether it was accepted (written by
    /// the flush) or already dead-lettered.
    pub(crate) messages: Vec<(Publish, bool)>,
    /// When the first message arrived; the age limit counts from here.
    pub(crate) opened_at: Option<Instant>,
}

impl Batch {
    pub(crate) fn push_accepted(&mut self, publish: Publish) {
        self.frames += 1;
        self.push(publish, true);
    }

    pub(crate) fn push_dead_lettered(&mut self, publish: Publish) {
        self.push(publish, false);
    }

    fn push(&mut self, publish: Publish, accepted: bool) {
        self.opened_at.get_or_insert_with(Instant::now);
        self.messages.push((publish, accepted));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Empties the batch, returning it.
    pub(crate) fn take(&mut self) -> Batch {
        std::mem::take(self)
    }
}
