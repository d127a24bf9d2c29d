//! Acknowledgements: sent in the order messages were received (MQTT 3.1.1 §4.6 asks for PUBACKs
//! in receive order; rumqttc leaves that to the application, #846), and written in bulk.
//!
//! Design: the writer hands the packet ids of durable messages to the polling task over an
//! unbounded channel, and the polling task writes them straight to the connection, many per
//! flush, between two polls. The alternative, `AsyncClient::ack` through rumqttc's request
//! channel, sends one PUBACK per turn of the event loop with a flush each, and the event loop
//! takes a request only when it has handed out every packet it read (up to ten at a time): under
//! load the acks fell ever further behind the reads (measured: 36,000 acked of 240,000 written)
//! and each queued ack pinned its message's read buffer. This is the PUBACK pipelining whose
//! absence held Telegraf to ~100 msg/s against EMQX (emqx/emqx discussion #14651).
//!
//! It does not bring back rumqttc #263/#1025 (a poll task blocked on a channel only it drains):
//! the polling task never waits on the ack channel or on rumqttc's request channel; it takes the
//! acks that are already there.

use rumqttc::{AsyncClient, Publish, QoS};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// How long [`Acker::finish`] waits for the polling task to write the last acks.
const FINISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Hands acks to the polling task; the pipeline never waits on it.
#[derive(Debug)]
pub struct Acker {
    tx: mpsc::UnboundedSender<u16>,
    flushed: oneshot::Receiver<()>,
    client: AsyncClient,
}

/// The polling task's end of the ack channel.
#[derive(Debug)]
pub struct AckQueue {
    pub(crate) rx: mpsc::UnboundedReceiver<u16>,
    /// Told once the channel is closed and every ack in it is written.
    pub(crate) flushed: Option<oneshot::Sender<()>>,
}

impl Acker {
    /// An acker and the queue the polling task drains.
    pub fn new(client: AsyncClient) -> (Self, AckQueue) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (flushed_tx, flushed) = oneshot::channel();
        (
            Acker { tx, flushed, client },
            AckQueue {
                rx,
                flushed: Some(flushed_tx),
            },
        )
    }

    /// Queues acks for messages whose frames are durable (written, spooled or dead-lettered),
    /// in receive order. QoS 0 messages need none.
    pub fn ack(&self, messages: impl IntoIterator<Item = Publish>) {
        for publish in messages {
            if publish.qos == QoS::AtLeastOnce {
                // The queue lives until the polling task ends, which is after `finish`.
                let _ = self.tx.send(publish.pkid);
            }
        }
    }

    /// Closes the queue, waits until the polling task has written every ack, then disconnects.
    pub async fn finish(self) {
        let Acker { tx, flushed, client } = self;
        drop(tx);
        if tokio::time::timeout(FINISH_TIMEOUT, flushed).await.is_err() {
            warn!("The last acks could not be written in time; the broker will redeliver those messages.");
        }
        let _ = client.disconnect().await;
    }
}
