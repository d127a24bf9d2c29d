//! The broker connection every service uses, and the subscription rule they share: subscribe on
//! every connect, from a task of its own, and say when the broker has granted it.

use std::time::Duration;

use protocol::topic::{AllNodes, NodeChannel};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeFilter, SubscribeReasonCode};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::ConfigError;

/// Connection to the MQTT broker, the `[mqtt]` table of a service's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker TCP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Client id. Keep it stable: the broker keeps this client's persistent session (and what it
    /// has not acknowledged) under it across restarts. Each service needs its own.
    pub client_id: String,
    /// Topic prefix of the deployment.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// MQTT keep-alive in seconds (5–3600).
    #[serde(default = "default_keep_alive_s")]
    pub keep_alive_s: u64,
}

fn default_port() -> u16 {
    1883
}
fn default_prefix() -> String {
    protocol::topic::DEFAULT_PREFIX.into()
}
fn default_keep_alive_s() -> u64 {
    30
}

impl MqttConfig {
    /// Defaults for a broker at `host:port` under `client_id`.
    pub fn new(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> Self {
        MqttConfig {
            host: host.into(),
            port,
            client_id: client_id.into(),
            prefix: default_prefix(),
            keep_alive_s: default_keep_alive_s(),
        }
    }

    /// Checks the values, naming fields as `mqtt.<field>`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for the first bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.host.trim().is_empty() {
            return Err(ConfigError::invalid("mqtt.host", "must not be empty"));
        }
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::invalid(
                "mqtt.client_id",
                "must not be empty (the persistent session is keyed by it)",
            ));
        }
        if self.prefix.is_empty() || self.prefix.ends_with('/') || self.prefix.contains(['+', '#']) {
            return Err(ConfigError::invalid(
                "mqtt.prefix",
                "must be non-empty, without a trailing '/' or wildcards",
            ));
        }
        if !(5..=3_600).contains(&self.keep_alive_s) {
            return Err(ConfigError::invalid(
                "mqtt.keep_alive_s",
                "must be between 5 and 3600",
            ));
        }
        Ok(())
    }

    /// Client options with a persistent session (clean session off), so the broker keeps what
    /// was published while the service was away.
    pub fn options(&self) -> MqttOptions {
        let mut options = MqttOptions::new(&self.client_id, &self.host, self.port);
        options
            .set_keep_alive(Duration::from_secs(self.keep_alive_s))
            .set_clean_session(false);
        options
    }

    /// `host:port`, for logs.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Subscribes a service to every node's telemetry and status topics on each connect, and turns
/// `subscribed` true once the broker grants it.
///
/// Subscribing again on every ConnAck covers a broker that lost the session (rumqttc keeps no
/// subscriptions across a clean start, #250). The request goes out from a task of its own, so the
/// request channel never waits on the polling loop (rumqttc #263, #1025).
#[derive(Debug)]
pub struct NodeSubscription {
    client: AsyncClient,
    client_id: String,
    filters: Vec<SubscribeFilter>,
    subscribed: watch::Sender<bool>,
}

impl NodeSubscription {
    /// The subscription, with QoS 1, for the nodes under the config's prefix; `subscribed` is
    /// set once the broker grants it (until then nothing published reaches the service: on a
    /// fresh broker there is no session to queue into).
    pub fn new(client: AsyncClient, config: &MqttConfig, subscribed: watch::Sender<bool>) -> Self {
        let prefix = config.prefix.as_str();
        let filters = [NodeChannel::Telemetry, NodeChannel::Status]
            .into_iter()
            .map(|channel| SubscribeFilter::new(AllNodes { prefix, channel }.to_string(), QoS::AtLeastOnce))
            .collect();
        NodeSubscription {
            client,
            client_id: config.client_id.clone(),
            filters,
            subscribed,
        }
    }

    /// Acts on connection events; call it with every event the polling loop sees.
    pub fn observe(&self, event: &Event) {
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                info!(client_id = %self.client_id, session_present = ack.session_present, "Connected to the MQTT broker.");
                let (client, filters) = (self.client.clone(), self.filters.clone());
                tokio::spawn(async move {
                    if let Err(e) = client.subscribe_many(filters).await {
                        warn!(error = %e, "Subscribe request failed.");
                    }
                });
            }
            Event::Incoming(Packet::SubAck(ack)) => {
                if ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, SubscribeReasonCode::Failure))
                {
                    warn!(filters = ?self.filter_names(), "The broker refused a subscription; check its ACLs.");
                } else {
                    debug!(filters = ?self.filter_names(), "Subscribed.");
                    self.subscribed.send_replace(true);
                }
            }
            _ => {}
        }
    }

    fn filter_names(&self) -> Vec<&str> {
        self.filters.iter().map(|f| f.path.as_str()).collect()
    }
}

/// How long to wait before reconnecting after the `failures`-th failure in a row: 200 ms more each
/// time, capped at 5 s.
pub fn reconnect_delay(failures: u32) -> Duration {
    Duration::from_millis(200 * u64::from(failures.clamp(1, 25)))
}
