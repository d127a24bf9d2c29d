//! The IOC API's configuration: a TOML file, validated before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::alerts::Pm25Rule;

/// Everything the IOC API needs to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP listener.
    #[serde(default)]
    pub http: HttpConfig,
    /// The MQTT broker the nodes publish to.
    pub mqtt: MqttConfig,
    /// The node registry file.
    pub registry: RegistryConfig,
    /// Station liveness.
    #[serde(default)]
    pub stations: StationsConfig,
    /// Alert rules.
    #[serde(default)]
    pub rules: RulesConfig,
}

/// The HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port to listen on; port 0 picks a free one.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

/// The MQTT connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker host.
    pub host: String,
    /// Broker port.
    #[serde(default = "default_mqtt_port")]
    pub port: u16,
    /// Client id; stable, so the broker keeps the session across restarts.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Topic prefix of the deployment.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Keep-alive in seconds.
    #[serde(default = "default_keep_alive_s")]
    pub keep_alive_s: u64,
}

/// Where the registry is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Path to the registry TOML file.
    pub path: PathBuf,
}

/// Station liveness.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationsConfig {
    /// A station with no frame for this many seconds is shown offline.
    #[serde(default = "default_offline_after_s")]
    pub offline_after_s: u64,
}

/// Alert rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// The PM2.5 rolling-mean rule.
    #[serde(default)]
    pub pm2_5: Pm25Rule,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_mqtt_port() -> u16 {
    1883
}
fn default_client_id() -> String {
    "citysense-ioc-api".into()
}
fn default_prefix() -> String {
    protocol::topic::DEFAULT_PREFIX.into()
}
fn default_keep_alive_s() -> u64 {
    30
}
fn default_offline_after_s() -> u64 {
    300
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
        }
    }
}

impl Default for StationsConfig {
    fn default() -> Self {
        StationsConfig {
            offline_after_s: default_offline_after_s(),
        }
    }
}

impl MqttConfig {
    /// Defaults for a broker at `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        MqttConfig {
            host: host.into(),
            port,
            client_id: default_client_id(),
            prefix: default_prefix(),
            keep_alive_s: default_keep_alive_s(),
        }
    }
}

/// A configuration that cannot work; the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML does not have the configuration's shape (serde names the field).
    #[error("config file is not valid: {0}")]
    Syntax(#[from] toml::de::Error),
    /// A field has a value that cannot work.
    #[error("config field `{field}` {problem}")]
    Invalid {
        /// Dotted path of the field.
        field: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
}

impl Config {
    /// Parses and validates TOML text.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the first bad field.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a config file.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file or the first bad field.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Checks values that parse but cannot work.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, problem| Err(ConfigError::Invalid { field, problem });
        if self.mqtt.host.trim().is_empty() {
            return invalid("mqtt.host", "must not be empty");
        }
        if self.mqtt.client_id.trim().is_empty() {
            return invalid("mqtt.client_id", "must not be empty");
        }
        if self.mqtt.prefix.is_empty()
            || self.mqtt.prefix.ends_with('/')
            || self.mqtt.prefix.contains(['+', '#'])
        {
            return invalid(
                "mqtt.prefix",
                "must be non-empty, without a trailing '/' or wildcards",
            );
        }
        if !(5..=3_600).contains(&self.mqtt.keep_alive_s) {
            return invalid("mqtt.keep_alive_s", "must be between 5 and 3600");
        }
        if self.stations.offline_after_s == 0 {
            return invalid("stations.offline_after_s", "must be at least 1");
        }
        let rule = &self.rules.pm2_5;
        if rule.threshold.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            return invalid("rules.pm2_5.threshold", "must be a positive number of µg/m³");
        }
        if rule.window_s == 0 {
            return invalid("rules.pm2_5.window_s", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&rule.min_coverage) {
            return invalid("rules.pm2_5.min_coverage", "must be between 0 and 1");
        }
        Ok(())
    }
}

/// The commented configuration printed by `citysense-ioc-api print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("../ioc-api.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_valid() {
        let config = Config::from_toml(DEFAULT_CONFIG).expect("example is valid");
        assert_eq!(config.rules.pm2_5.window_s, 3_600);
    }

    #[test]
    fn errors_name_the_field() {
        let bad = DEFAULT_CONFIG.replace("min_coverage = 0.75", "min_coverage = 1.5");
        let err = Config::from_toml(&bad).expect_err("bad coverage").to_string();
        assert!(err.contains("rules.pm2_5.min_coverage"), "{err}");
        let typo = DEFAULT_CONFIG.replace("offline_after_s", "offline_after");
        let err = Config::from_toml(&typo).expect_err("typo").to_string();
        assert!(err.contains("offline_after"), "{err}");
    }
}
