//! The polling task: connects with a persistent session and manual acks, subscribes on every
//! connect, forwards each PUBLISH into a bounded channel, and writes the acks the writer hands
//! back, in bulk, between polls (see `ack.rs` for why there and not through rumqttc's requests).

use std::sync::Arc;

use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, PubAck, Publish};
use service::mqtt::{MqttConfig, NodeSubscription, reconnect_delay};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::ack::AckQueue;
use crate::stats::Stats;

/// The largest MQTT packet the collector accepts. Far above any frame, on purpose: a packet over
/// the client's limit makes rumqttc drop the connection, the broker redelivers it on reconnect,
/// and the session would loop on it forever (MQTT 3.1.1 has no way to tell the broker the limit).
/// Accepted, an oversized payload is dead-lettered like any bad frame. Bound it at the broker
/// (mosquitto `max_packet_size`).
pub const MAX_INCOMING_PACKET: usize = 16 << 20;

/// The running source: the client handle (for subscribing and disconnecting) and the polling
/// task.
#[derive(Debug)]
pub struct MqttSource {
    /// Cloneable handle; subscriptions and the final disconnect go through it.
    pub client: AsyncClient,
    /// The polling task; it ends after the disconnect is sent.
    pub task: JoinHandle<()>,
}

/// The client, its event loop and the subscription rule for `config`, with a persistent session
/// and manual acks; nothing connects until [`start`] polls.
///
/// # Errors
///
/// When the TLS files named in the config cannot be read.
pub fn connect(
    config: &MqttConfig,
    subscribed: watch::Sender<bool>,
) -> Result<(AsyncClient, EventLoop, NodeSubscription), service::config::ConfigError> {
    let mut options = config.options()?;
    options
        .set_manual_acks(true)
        .set_max_packet_size(MAX_INCOMING_PACKET, 64 * 1024);
    // Only subscriptions and the disconnect use the request channel.
    let (client, eventloop) = AsyncClient::new(options, 64);
    let subscription = NodeSubscription::new(client.clone(), config, subscribed);
    Ok((client, eventloop, subscription))
}

/// Starts the polling task. Messages go to `tx`; acks come back through `acks`.
///
/// `tx` holds as many messages as the collector may hold unacknowledged (`batch.max_unacked`),
/// and the broker is configured to send no more than that unacknowledged, so the poll does not
/// wait on the pipeline and keep-alives keep flowing. If a broker sends more, reading waits
/// (back-pressure by TCP) while acks that come back are still written; a wait past the
/// keep-alive makes the broker drop the connection and redeliver later, which loses nothing.
pub fn start(
    client: AsyncClient,
    eventloop: EventLoop,
    subscription: NodeSubscription,
    tx: mpsc::Sender<Publish>,
    acks: AckQueue,
    stats: Arc<Stats>,
) -> MqttSource {
    let task = tokio::spawn(poll(eventloop, subscription, tx, acks, stats));
    MqttSource { client, task }
}

async fn poll(
    mut eventloop: EventLoop,
    subscription: NodeSubscription,
    tx: mpsc::Sender<Publish>,
    mut acks: AckQueue,
    stats: Arc<Stats>,
) {
    let mut failures = 0u32;
    let mut warned_full = false;
    let mut pending: Vec<u16> = Vec::new();
    let mut acks_open = true;
    loop {
        // Take every ack that is ready, and write them with one flush while connected.
        loop {
            match acks.rx.try_recv() {
                Ok(pkid) => pending.push(pkid),
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    acks_open = false;
                    break;
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
            }
        }
        write_acks(&mut eventloop, &mut pending, &stats).await;
        if !acks_open
            && acks.rx.is_empty()
            && pending.is_empty()
            && let Some(flushed) = acks.flushed.take()
        {
            let _ = flushed.send(());
        }
        let connected = eventloop.network.is_some();
        let event = tokio::select! {
            biased;
            pkid = acks.rx.recv(), if acks_open && connected => {
                match pkid {
                    Some(pkid) => pending.push(pkid),
                    None => acks_open = false,
                }
                continue;
            }
            event = eventloop.poll() => event,
        };
        match event {
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
                // Wait for room, but keep writing the acks that come back meanwhile: they are
                // what lets the broker (and then the pipeline) move again.
                loop {
                    tokio::select! {
                        biased;
                        pkid = acks.rx.recv(), if acks_open => match pkid {
                            Some(pkid) => {
                                pending.push(pkid);
                                write_acks(&mut eventloop, &mut pending, &stats).await;
                            }
                            None => acks_open = false,
                        },
                        permit = tx.reserve() => {
                            match permit {
                                Ok(permit) => permit.send(publish),
                                // The pipeline is shutting down: leave the message
                                // unacknowledged so the broker delivers it again next time.
                                Err(_) => stats.released(1),
                            }
                            break;
                        }
                    }
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
                if tx.is_closed() && !acks_open && pending.is_empty() {
                    if let Some(flushed) = acks.flushed.take() {
                        let _ = flushed.send(());
                    }
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

/// Writes the waiting acks as PUBACKs with one flush, when connected. On a write error they stay
/// waiting: the connection is going, the broker redelivers those messages under the same packet
/// ids, and the acks go out after the reconnect.
async fn write_acks(eventloop: &mut EventLoop, pending: &mut Vec<u16>, stats: &Stats) {
    if pending.is_empty() {
        return;
    }
    let Some(network) = eventloop.network.as_mut() else {
        return;
    };
    let mut written = Ok(());
    for pkid in pending.iter() {
        written = network.write(Packet::PubAck(PubAck::new(*pkid))).await;
        if written.is_err() {
            break;
        }
    }
    if written.is_ok() {
        written = network.flush().await;
    }
    match written {
        Ok(()) => {
            stats.acked(pending.len() as u64);
            pending.clear();
        }
        Err(e) => warn!(error = %e, "Could not write acks; retrying after reconnecting."),
    }
}
