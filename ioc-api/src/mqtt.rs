//! The IOC API's MQTT connection: verified frames feed the live state; alert changes and
//! node commands go out through the same client.
//!
//! Same topics and same acceptance rule as the collector, under a client id of its own, so
//! either service can restart without the other. The session is persistent: frames published
//! while the API restarts are delivered when it comes back, so the rolling means stay whole.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use protocol::inbound::accept;
use rumqttc::{AsyncClient, Event, Outgoing, Packet};
use service::mqtt::{MqttConfig, NodeSubscription, reconnect_delay};
use service::registry::LiveRegistry;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::state::AppState;

/// Subscribes and feeds `state` until `cancel`, then disconnects.
pub(crate) async fn subscribe(
    config: MqttConfig,
    mut registry: LiveRegistry,
    state: Arc<AppState>,
    cancel: CancellationToken,
) {
    let options = match config.options() {
        Ok(options) => options,
        Err(e) => {
            // validate() reads the same files before start; this is a file changed since.
            tracing::error!(error = %e, "Cannot build the MQTT connection; the live state stays empty.");
            return;
        }
    };
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    // Alerts out and commands down go through a task of their own (never this polling loop).
    let outbound = state
        .outbound_rx
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .map(|rx| tokio::spawn(crate::notify::outbound::publisher(client.clone(), rx)));
    // The relay's notices of the files the authority took, beside the nodes' topics.
    let transmissions = format!("{}/transmission/", config.prefix);
    let subscription = NodeSubscription::new(client.clone(), &config, state.subscribed.clone())
        .with_filter(format!("{transmissions}+/+"));
    let mut failures = 0u32;
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::Publish(publish))) if publish.topic.starts_with(&transmissions) => {
                state.transmission(&publish.payload, OffsetDateTime::now_utc());
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                registry.refresh();
                match accept(registry.get(), &config.prefix, &publish.topic, &publish.payload) {
                    Ok((frame, node)) => state.receive(
                        &frame,
                        node,
                        &publish.payload,
                        publish.dup,
                        publish.retain,
                        OffsetDateTime::now_utc(),
                    ),
                    Err(rejection) => {
                        state.count_rejected();
                        debug!(topic = %publish.topic, reason = rejection.reason, "Frame ignored by the IOC API.");
                    }
                }
            }
            Ok(event) => {
                if matches!(event, Event::Incoming(Packet::ConnAck(_))) {
                    failures = 0;
                    state.mqtt_connected.store(true, Ordering::Relaxed);
                }
                subscription.observe(&event);
            }
            Err(e) => {
                state.mqtt_connected.store(false, Ordering::Relaxed);
                failures += 1;
                let delay = reconnect_delay(failures);
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "IOC API lost the MQTT broker; reconnecting.");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    if let Some(publisher) = outbound {
        publisher.abort();
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
