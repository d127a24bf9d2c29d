//! The IOC API's MQTT subscription: verified frames feed the live state.
//!
//! Same topics and same acceptance rule as the collector, under a client id of its own, so
//! either service can restart without the other. The session is persistent: frames published
//! while the API restarts are delivered when it comes back, so the rolling means stay whole.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use protocol::inbound::accept;
use protocol::registry::Registry;
use protocol::topic::{AllNodes, NodeChannel};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter, SubscribeReasonCode};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::MqttConfig;
use crate::state::AppState;

/// Subscribes and feeds `state` until `cancel`, then disconnects.
pub(crate) async fn subscribe(
    config: MqttConfig,
    registry: Registry,
    state: Arc<AppState>,
    cancel: CancellationToken,
) {
    let mut options = MqttOptions::new(&config.client_id, &config.host, config.port);
    options
        .set_keep_alive(Duration::from_secs(config.keep_alive_s))
        .set_clean_session(false);
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let filters: Vec<SubscribeFilter> = [NodeChannel::Telemetry, NodeChannel::Status]
        .into_iter()
        .map(|channel| {
            SubscribeFilter::new(
                AllNodes {
                    prefix: &config.prefix,
                    channel,
                }
                .to_string(),
                QoS::AtLeastOnce,
            )
        })
        .collect();
    let mut failures = 0u32;
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                failures = 0;
                state.mqtt_connected.store(true, Ordering::Relaxed);
                info!(
                    session_present = ack.session_present,
                    "IOC API connected to the MQTT broker."
                );
                // Resubscribe on every connect (rumqttc forgets subscriptions on a clean start),
                // from a task of its own so the request channel never waits on this loop.
                let (client, filters) = (client.clone(), filters.clone());
                tokio::spawn(async move {
                    if let Err(e) = client.subscribe_many(filters).await {
                        warn!(error = %e, "Subscribe request failed.");
                    }
                });
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, SubscribeReasonCode::Failure))
                {
                    warn!("The broker refused the IOC API's subscription; check its ACLs.");
                } else {
                    state.subscribed.send_replace(true);
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                match accept(&registry, &config.prefix, &publish.topic, &publish.payload) {
                    Ok((frame, node)) => state.ingest(&frame, node, OffsetDateTime::now_utc()),
                    Err(rejection) => {
                        state.count_rejected();
                        debug!(topic = %publish.topic, reason = rejection.reason, "Frame ignored by the IOC API.");
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                state.mqtt_connected.store(false, Ordering::Relaxed);
                failures += 1;
                let delay = Duration::from_millis(200 * u64::from(failures.min(25)));
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "IOC API lost the MQTT broker; reconnecting.");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    let _ = client.disconnect().await;
    // Give the event loop the chance to send the DISCONNECT.
    let flush = async {
        while let Ok(event) = eventloop.poll().await {
            if matches!(event, Event::Outgoing(Outgoing::Disconnect)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
    state.mqtt_connected.store(false, Ordering::Relaxed);
}
