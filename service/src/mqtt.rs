//! The broker connection every service uses, and the subscription rule they share: subscribe on
//! every connect, from a task of its own, and say when the broker has granted it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use protocol::topic::{AllNodes, NodeChannel};
use rumqttc::{
    AsyncClient, Event, MqttOptions, Packet, QoS, SubscribeFilter, SubscribeReasonCode, TlsConfiguration,
    Transport,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::Secret;
use crate::config::ConfigError;
use crate::secret::read_secret_file;

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
    /// User name for the broker, when it requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password for `username`; never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A file holding the password instead (its first line: what `citysense-provision services`
    /// writes), read at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// TLS to the broker; plain TCP when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Subscribe through the shared subscription `$share/{group}/...`, so that every service
    /// with the same group splits the stream (each message goes to one member). `None`: a
    /// subscription of this client's own, which sees every message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_group: Option<String>,
}

/// TLS settings for the broker connection (rustls with the ring provider).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate authorities that sign the broker's certificate.
    pub ca_file: PathBuf,
    /// PEM client certificate chain, for brokers that require client certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
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
            username: None,
            password: None,
            password_file: None,
            tls: None,
            shared_group: None,
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
        if self.password.is_some() && self.username.is_none() {
            return Err(ConfigError::invalid(
                "mqtt.password",
                "is set without mqtt.username",
            ));
        }
        if let Some(path) = &self.password_file {
            if self.password.is_some() || self.username.is_none() {
                return Err(ConfigError::invalid(
                    "mqtt.password_file",
                    "goes with mqtt.username and instead of mqtt.password",
                ));
            }
            read_secret_file("mqtt.password_file", path)?;
        }
        if let Some(group) = &self.shared_group
            && (group.is_empty() || group.contains(['/', '+', '#']))
        {
            return Err(ConfigError::invalid(
                "mqtt.shared_group",
                "must be non-empty, without '/', '+' or '#'",
            ));
        }
        if let Some(tls) = &self.tls {
            if tls.client_cert_file.is_some() != tls.client_key_file.is_some() {
                return Err(ConfigError::invalid(
                    "mqtt.tls.client_key_file",
                    "client_cert_file and client_key_file go together",
                ));
            }
            tls.client_config()?;
        }
        Ok(())
    }

    /// Client options with a persistent session (clean session off), so the broker keeps what
    /// was published while the service was away; with credentials and TLS when configured.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming `mqtt.tls.*` when a certificate or key file cannot be
    /// read or parsed.
    pub fn options(&self) -> Result<MqttOptions, ConfigError> {
        let mut options = MqttOptions::new(&self.client_id, &self.host, self.port);
        options
            .set_keep_alive(Duration::from_secs(self.keep_alive_s))
            .set_clean_session(false);
        if let Some(user) = &self.username {
            let password = match (&self.password, &self.password_file) {
                (Some(password), _) => password.clone(),
                (None, Some(path)) => read_secret_file("mqtt.password_file", path)?,
                (None, None) => Secret::new(""),
            };
            options.set_credentials(user, password.expose());
        }
        if let Some(tls) = &self.tls {
            let config = tls.client_config()?;
            options.set_transport(Transport::Tls(TlsConfiguration::Rustls(Arc::new(config))));
        }
        Ok(options)
    }

    /// `host:port`, for logs.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl TlsConfig {
    /// A rustls client config with the ring provider, chosen explicitly: aws-lc-rs (rustls'
    /// default) builds C code with cmake, which the CI machines would pay for on every run.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the file that cannot be read or holds nothing usable.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, ConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::invalid("mqtt.tls", e.to_string()))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs("mqtt.tls.ca_file", &self.ca_file)? {
            roots
                .add(cert)
                .map_err(|e| ConfigError::invalid("mqtt.tls.ca_file", e.to_string()))?;
        }
        let builder = builder.with_root_certificates(roots);
        match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => {
                let chain = read_certs("mqtt.tls.client_cert_file", cert)?;
                let pem = read_file("mqtt.tls.client_key_file", key)?;
                let key = rustls_pemfile::private_key(&mut pem.as_slice())
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        ConfigError::invalid(
                            "mqtt.tls.client_key_file",
                            format!("{} holds no PEM private key", key.display()),
                        )
                    })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| ConfigError::invalid("mqtt.tls.client_key_file", e.to_string()))
            }
            _ => Ok(builder.with_no_client_auth()),
        }
    }
}

fn read_file(field: &'static str, path: &std::path::Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path)
        .map_err(|e| ConfigError::invalid(field, format!("cannot read {}: {e}", path.display())))
}

fn read_certs(
    field: &'static str,
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, ConfigError> {
    let pem = read_file(field, path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::invalid(field, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ConfigError::invalid(
            field,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(certs)
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
            .map(|channel| {
                let filter = AllNodes { prefix, channel }.to_string();
                let filter = match &config.shared_group {
                    Some(group) => format!("$share/{group}/{filter}"),
                    None => filter,
                };
                SubscribeFilter::new(filter, QoS::AtLeastOnce)
            })
            .collect();
        NodeSubscription {
            client,
            client_id: config.client_id.clone(),
            filters,
            subscribed,
        }
    }

    /// Also subscribes to `filter` (QoS 1, never through the shared group: every member needs
    /// what it carries).
    pub fn with_filter(mut self, filter: String) -> Self {
        self.filters.push(SubscribeFilter::new(filter, QoS::AtLeastOnce));
        self
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_file_is_read_and_its_errors_name_the_field_not_the_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mqtt-ioc");
        std::fs::write(&path, "s3cret-value\n").expect("write");
        let mut config = MqttConfig::new("127.0.0.1", 1883, "ioc");
        config.username = Some("citysense-ioc".into());
        config.password_file = Some(path.clone());
        assert!(config.validate().is_ok());
        assert!(config.options().is_ok());

        config.password = Some(Secret::new("inline"));
        let both = config.validate().expect_err("both");
        assert!(both.to_string().contains("mqtt.password_file"), "{both}");

        config.password = None;
        std::fs::write(&path, "\n").expect("write");
        let empty = config.validate().expect_err("empty");
        assert!(empty.to_string().contains("is empty"), "{empty}");

        config.password_file = Some(dir.path().join("missing"));
        let missing = config.validate().expect_err("missing");
        assert!(
            missing.to_string().contains("mqtt.password_file") && !missing.to_string().contains("s3cret"),
            "{missing}"
        );
    }
}
