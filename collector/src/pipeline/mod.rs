//! The pipeline: take a message, accept or reject it, batch, write, then ack.
//!
//! Acks follow durability: a message is acked only after the write holding its point succeeded,
//! or after it was appended to the dead-letter file. A crash before that leaves it unacked, and
//! the broker delivers it again.

mod batch;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocol::inbound::accept;
use protocol::registry::Registry;
use rumqttc::Publish;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use self::batch::Batch;
use crate::config::BatchConfig;
use crate::dead_letter::{DeadLetter, DeadLetterStore};
use crate::sink::line_protocol::write_point;
use crate::sink::{Backoff, Retry, Sink};
use crate::source::mqtt::Acker;
use crate::stats::Stats;

/// How long shutdown keeps retrying the last write before leaving its frames to redelivery.
const SHUTDOWN_WRITE_GRACE: Duration = Duration::from_secs(10);

pub(crate) struct Pipeline {
    pub(crate) registry: Registry,
    pub(crate) prefix: String,
    pub(crate) batch_config: BatchConfig,
    pub(crate) sink: Sink,
    pub(crate) dead_letters: DeadLetterStore,
    pub(crate) acker: Acker,
    pub(crate) stats: Arc<Stats>,
}

impl Pipeline {
    /// Runs until `shutdown`, then flushes what it holds and hands the acks over.
    pub(crate) async fn run(mut self, mut rx: mpsc::Receiver<Publish>, shutdown: CancellationToken) {
        let mut batch = Batch::default();
        loop {
            let deadline = batch
                .opened_at
                .map(|t| Instant::from_std(t) + self.batch_config.max_age());
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = sleep_until(deadline) => self.flush(&mut batch, &shutdown).await,
                message = rx.recv() => {
                    let Some(publish) = message else { break };
                    self.take(&mut batch, publish);
                    if batch.frames >= self.batch_config.max_frames {
                        self.flush(&mut batch, &shutdown).await;
                    }
                }
            }
        }
        // Stop taking messages; whatever is still queued stays unacked and comes back later.
        drop(rx);
        self.flush(&mut batch, &shutdown).await;
        self.acker.finish().await;
        info!(stats = ?self.stats.snapshot(), "Collector stopped.");
    }

    fn take(&mut self, batch: &mut Batch, publish: Publish) {
        self.stats.received();
        match accept(&self.registry, &self.prefix, &publish.topic, &publish.payload) {
            Ok((frame, node)) => {
                write_point(&mut batch.lines, &frame, node, now_ms());
                batch.push_accepted(publish);
            }
            Err(rejection) => {
                self.stats.rejected(rejection.reason);
                warn!(topic = %publish.topic, reason = rejection.reason, detail = %rejection.detail, "Frame rejected.");
                let record = DeadLetter::new(
                    &publish.topic,
                    rejection.reason,
                    rejection.detail,
                    &publish.payload,
                );
                match self.dead_letters.append(&record) {
                    Ok(()) => batch.push_dead_lettered(publish),
                    // Without a durable record the message must not be acked: the broker keeps it.
                    Err(e) => error!(path = %self.dead_letters.path().display(), error = %e,
                        "Cannot write the dead-letter file; leaving the frame unacknowledged."),
                }
            }
        }
    }

    /// Writes the batch (retrying what can be retried) and acks its messages.
    async fn flush(&mut self, batch: &mut Batch, shutdown: &CancellationToken) {
        let batch = batch.take();
        if batch.is_empty() {
            return;
        }
        if batch.frames > 0 {
            match self.write(&batch.lines, shutdown).await {
                WriteOutcome::Written => self.stats.written(batch.frames as u64),
                WriteOutcome::Refused(message) => {
                    if !self.dead_letter_refused(&batch, &message) {
                        return;
                    }
                }
                // Not durable: no ack, the broker redelivers after we reconnect.
                WriteOutcome::GaveUp => return,
            }
        }
        self.acker
            .ack(batch.messages.into_iter().map(|(publish, _)| publish));
    }

    async fn write(&mut self, lines: &str, shutdown: &CancellationToken) -> WriteOutcome {
        let mut backoff = Backoff::default();
        let mut give_up_at = None;
        loop {
            let error = match self.sink.write(lines).await {
                Ok(()) => return WriteOutcome::Written,
                Err(e) if e.retry == Retry::Permanent => return WriteOutcome::Refused(e.message),
                Err(e) => e,
            };
            self.stats.write_failed();
            if shutdown.is_cancelled() {
                let deadline = *give_up_at.get_or_insert_with(|| Instant::now() + SHUTDOWN_WRITE_GRACE);
                if Instant::now() >= deadline {
                    warn!(error = %error, "Shutting down with a batch not written; the broker will redeliver it.");
                    return WriteOutcome::GaveUp;
                }
            }
            let delay = backoff.next_delay();
            warn!(sink = %self.sink.describe(), error = %error, retry_in_ms = delay.as_millis() as u64,
                "Write failed; retrying. Frames stay unacknowledged meanwhile.");
            tokio::time::sleep(delay).await;
        }
    }

    /// The sink refused the data itself: keep every frame of the batch in the dead-letter store
    /// with the server's message, so nothing disappears. False if a record could not be written;
    /// the batch must then stay unacked.
    fn dead_letter_refused(&mut self, batch: &Batch, message: &str) -> bool {
        error!(sink = %self.sink.describe(), error = message, frames = batch.frames,
            "The database refused a batch; its frames go to the dead-letter file.");
        for (publish, _) in batch.messages.iter().filter(|(_, accepted)| *accepted) {
            self.stats.rejected("sink_refused");
            let record = DeadLetter::new(
                &publish.topic,
                "sink_refused",
                message.to_owned(),
                &publish.payload,
            );
            if let Err(e) = self.dead_letters.append(&record) {
                error!(error = %e, "Cannot write the dead-letter file; leaving the batch unacknowledged.");
                return false;
            }
        }
        true
    }
}

enum WriteOutcome {
    Written,
    Refused(String),
    GaveUp,
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
