//! MQTT messages the IOC API sends: alert changes on `{prefix}/alerts/{station_id}` and
//! downlink commands on `{prefix}/node/{id}/cmd`. A task of its own publishes them through the
//! subscription's client, never the polling task (rumqttc #263, #1025).

use rumqttc::{AsyncClient, QoS};
use tokio::sync::mpsc;
use tracing::warn;

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Topic.
    pub topic: String,
    /// Payload; empty with `retain` clears a retained message.
    pub payload: Vec<u8>,
    /// Retained at the broker.
    pub retain: bool,
}

/// Messages waiting for the publisher. When full, a message is dropped and counted
/// (`citysense_ioc_mqtt_dropped_total`): alerts also reach SSE, webhooks and the database, and a
/// command caller gets a 503.
pub const QUEUE: usize = 1_024;

/// Publishes until the channel closes.
pub async fn publisher(client: AsyncClient, mut rx: mpsc::Receiver<Outbound>) {
    while let Some(message) = rx.recv().await {
        if let Err(e) = client
            .publish(
                message.topic.as_str(),
                QoS::AtLeastOnce,
                message.retain,
                message.payload,
            )
            .await
        {
            warn!(topic = %message.topic, error = %e, "Could not hand a message to the MQTT client.");
        }
    }
}
