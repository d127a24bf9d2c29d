//! The polling task: connects with a persistent session and manual acks, subscribes on every
//! connect, and forwards each PUBLISH into a bounded channel.

use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, Publish};
use service::mqtt::{MqttConfig, NodeSubscription, reconnect_delay};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// The running source: the client handle (for acks and disconnect) and the polling task.
#[derive(Debug)]
pub struct MqttSource {
    /// Cloneable handle; acks and the final disconnect go through it.
    pub client: AsyncClient,
    /// The polling task; it ends after the disconnect is sent.
    pub task: JoinHandle<()>,
}

/// Connects to the broker and starts polling. Messages go to `tx`; when `tx` is full the poll
/// waits, which is the back-pressure: the broker keeps what the collector has not taken.
///
/// `request_capacity` must exceed the acks one batch can produce, so acks never wait on a poll
/// that waits on the pipeline. `subscribed` turns true once the broker has granted the
/// subscriptions.
pub fn connect(
    config: &MqttConfig,
    tx: mpsc::Sender<Publish>,
    request_capacity: usize,
    subscribed: watch::Sender<bool>,
) -> MqttSource {
    let mut options = config.options();
    options
        .set_manual_acks(true)
        .set_max_packet_size(64 * 1024, 64 * 1024);
    let (client, eventloop) = AsyncClient::new(options, request_capacity);
    let subscription = NodeSubscription::new(client.clone(), config, subscribed);
    let task = tokio::spawn(poll(eventloop, subscription, tx));
    MqttSource { client, task }
}

async fn poll(mut eventloop: EventLoop, subscription: NodeSubscription, tx: mpsc::Sender<Publish>) {
    let mut failures = 0u32;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                // A closed channel means the pipeline is shutting down: leave the message
                // unacknowledged so the broker delivers it again next time.
                let _ = tx.send(publish).await;
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                info!("Disconnected from the MQTT broker.");
                return;
            }
            Ok(event) => {
                if matches!(event, Event::Incoming(Packet::ConnAck(_))) {
                    failures = 0;
                }
                subscription.observe(&event);
            }
            Err(e) => {
                if tx.is_closed() {
                    return;
                }
                failures += 1;
                let delay = reconnect_delay(failures);
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "MQTT connection lost; reconnecting.");
                tokio::time::sleep(delay).await;
            }
        }
    }
}
