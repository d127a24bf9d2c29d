//! The polling task: connects with a persistent session and manual acks, subscribes on every
//! connect, and forwards each PUBLISH into a bounded channel.

use std::time::Duration;

use protocol::topic::{AllNodes, NodeChannel};
use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS, SubscribeFilter,
    SubscribeReasonCode,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::MqttConfig;

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
/// subscriptions: frames published before that reach no session of ours.
pub fn connect(
    config: &MqttConfig,
    tx: mpsc::Sender<Publish>,
    request_capacity: usize,
    subscribed: watch::Sender<bool>,
) -> MqttSource {
    let mut options = MqttOptions::new(&config.client_id, &config.host, config.port);
    options
        .set_keep_alive(Duration::from_secs(config.keep_alive_s))
        // A persistent session keeps unacknowledged messages at the broker across restarts.
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_max_packet_size(64 * 1024, 64 * 1024);
    let (client, eventloop) = AsyncClient::new(options, request_capacity);
    let filters = [NodeChannel::Telemetry, NodeChannel::Status].map(|channel| {
        AllNodes {
            prefix: &config.prefix,
            channel,
        }
        .to_string()
    });
    let task = tokio::spawn(poll(eventloop, client.clone(), filters, tx, subscribed));
    MqttSource { client, task }
}

async fn poll(
    mut eventloop: EventLoop,
    client: AsyncClient,
    filters: [String; 2],
    tx: mpsc::Sender<Publish>,
    subscribed: watch::Sender<bool>,
) {
    let mut failures = 0u32;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                failures = 0;
                info!(
                    session_present = ack.session_present,
                    "Connected to the MQTT broker."
                );
                // Subscribe on every connect: a broker that lost the session (or a clean start)
                // would otherwise leave us connected and deaf (rumqttc #250). From another task,
                // so the request channel never waits on this loop.
                let client = client.clone();
                let filters = filters.clone().map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce));
                tokio::spawn(async move {
                    if let Err(e) = client.subscribe_many(filters).await {
                        warn!(error = %e, "Subscribe request failed.");
                    }
                });
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                // A closed channel means the pipeline is shutting down: leave the message
                // unacknowledged so the broker delivers it again next time.
                let _ = tx.send(publish).await;
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, SubscribeReasonCode::Failure))
                {
                    warn!(filters = ?filters, "The broker refused a subscription; check its ACLs.");
                } else {
                    debug!(filters = ?filters, "Subscribed.");
                    subscribed.send_replace(true);
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                info!("Disconnected from the MQTT broker.");
                return;
            }
            Ok(_) => {}
            Err(e) => {
                if tx.is_closed() {
                    return;
                }
                failures += 1;
                let delay = Duration::from_millis(200 * u64::from(failures.min(25)));
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "MQTT connection lost; reconnecting.");
                tokio::time::sleep(delay).await;
            }
        }
    }
}
