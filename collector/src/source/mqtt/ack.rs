//! Sends acknowledgements in the order messages were received (MQTT 3.1.1 §4.6 asks for PUBACKs
//! in receive order; rumqttc leaves that to the application, #846).

use rumqttc::{AsyncClient, Publish};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::stats::Stats;

/// Hands acks to a task of their own, so the pipeline never waits on the MQTT request channel.
#[derive(Debug)]
pub struct Acker {
    tx: mpsc::UnboundedSender<Publish>,
    task: JoinHandle<()>,
}

impl Acker {
    /// Starts the ack task.
    pub fn start(client: AsyncClient, stats: std::sync::Arc<Stats>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Publish>();
        let task = tokio::spawn(async move {
            while let Some(publish) = rx.recv().await {
                if let Err(e) = client.ack(&publish).await {
                    // Only when the event loop is gone; the broker redelivers what was not acked.
                    warn!(error = %e, "Could not send an ack; the broker will redeliver.");
                    return;
                }
                stats.acked(1);
            }
            // All acks are queued before the disconnect, so they reach the broker first.
            let _ = client.disconnect().await;
        });
        Acker { tx, task }
    }

    /// Queues acks for messages whose frames are durable (written or dead-lettered).
    pub fn ack(&self, messages: impl IntoIterator<Item = Publish>) {
        for publish in messages {
            // The task only ends after `finish`, so the channel is open here.
            let _ = self.tx.send(publish);
        }
    }

    /// Sends what is queued, then disconnects; resolves when both are handed to the event loop.
    pub async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}
