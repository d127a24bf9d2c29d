//! The polling task: connects with a persistent session and manual acks, subscribes on every
//! connect, and forwards each PUBLISH into a bounded channel.

use std::sync::Arc;

use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, Publish};
use service::mqtt::{MqttConfig, NodeSubscription, reconnect_delay};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::stats::Stats;

/// The largest MQTT packet the collector accepts. Far above any frame, on purpose: a packet over
/// the client's limit makes rumqttc drop the connection, the broker redelivers it on reconnect,
/// and the session would loop on it forever (MQTT 3.1.1 has no way to tell the broker the limit).
/// Accepted, an oversized payload is dead-lettered like any bad frame. Bound it at the broker
/// (mosquitto `max_packet_size`).
pub const MAX_INCOMING_PACKET: usize = 16 << 20;

/// The running source: the client handle (for acks and disconnect) and the polling task.
#[derive(Debug)]
pub struct MqttSource {
    /// Cloneable handle; acks and the final disconnect go through it.
    pub client: AsyncClient,
    /// The polling task; it ends after the disconnect is sent.
    pub task: JoinHandle<()>,
}

/// Connects to the broker and starts polling. Messages go to `tx`.
///
/// `tx` holds as many messages as the collector may hold unacknowledged (`batch.max_unacked`),
/// and the broker is configured to send no more than that unacknowledged, so the poll never
/// waits on the pipeline and keep-alives keep flowing. If a broker sends more, the poll waits
/// (back-pressure by TCP); a wait past the keep-alive makes the broker drop the connection and
/// redeliver later, which loses nothing.
///
/// `request_capacity` bounds rumqttc's request channel (acks, subscribes, disconnect); the acker
/// is the only one that can fill it, and nothing waits on the acker.
///
/// # Errors
///
/// When the TLS files named in the config cannot be read.
pub fn connect(
    config: &MqttConfig,
    tx: mpsc::Sender<Publish>,
    request_capacity: usize,
    subscribed: watch::Sender<bool>,
    stats: Arc<Stats>,
) -> Result<MqttSource, service::config::ConfigError> {
    let mut options = config.options()?;
    options
        .set_manual_acks(true)
        .set_max_packet_size(MAX_INCOMING_PACKET, 64 * 1024);
    let (client, eventloop) = AsyncClient::new(options, request_capacity);
    let subscription = NodeSubscription::new(client.clone(), config, subscribed);
    let task = tokio::spawn(poll(eventloop, subscription, tx, stats));
    Ok(MqttSource { client, task })
}

async fn poll(
    mut eventloop: EventLoop,
    subscription: NodeSubscription,
    tx: mpsc::Sender<Publish>,
    stats: Arc<Stats>,
) {
    let mut failures = 0u32;
    let mut warned_full = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                stats.arrived();
                let publish = match tx.try_send(publish) {
                    Ok(()) => continue,
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        stats.released(1);
                        continue;
                    }
                    Err(mpsc::error::TrySendError::Full(publish)) => publish,
                };
                if !warned_full {
                    warned_full = true;
                    warn!(
                        "The broker sent more unacknowledged messages than batch.max_unacked; reading pauses until the pipeline catches up. Set the broker's max_inflight_messages to batch.max_unacked."
                    );
                }
                // A closed channel means the pipeline is shutting down: leave the message
                // unacknowledged so the broker delivers it again next time.
                if tx.send(publish).await.is_err() {
                    stats.released(1);
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                stats.set_mqtt_connected(false);
                info!("Disconnected from the MQTT broker.");
                return;
            }
            Ok(event) => {
                if matches!(event, Event::Incoming(Packet::ConnAck(_))) {
                    failures = 0;
                    stats.set_mqtt_connected(true);
                }
                subscription.observe(&event);
            }
            Err(e) => {
                stats.set_mqtt_connected(false);
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
