//! The collector's configuration: a TOML file, validated before anything starts.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Everything the collector needs to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the frames come from.
    pub mqtt: MqttConfig,
    /// The node registry file (node id → station, district, key).
    pub registry: RegistryConfig,
    /// Where the points go.
    pub sink: SinkConfig,
    /// How points are grouped into writes.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Where rejected frames are kept.
    pub dead_letter: DeadLetterConfig,
}

/// The MQTT broker connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker TCP port.
    #[serde(default = "default_mqtt_port")]
    pub port: u16,
    /// Client id. Keep it stable: the broker keeps this client's persistent session (and the
    /// messages not yet acknowledged) under it across restarts.
    #[serde(default = "default_client_id")]
    pub client_id: String,
    /// Topic prefix of the deployment.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// MQTT keep-alive in seconds.
    #[serde(default = "default_keep_alive_s")]
    pub keep_alive_s: u64,
}

/// Where the node registry is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Path to the registry TOML file.
    pub path: PathBuf,
}

/// Where points are written. Exactly one sink per collector.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// InfluxDB 1.x through its v1 write API (`/write`).
    InfluxV1 {
        /// Base URL, e.g. `http://127.0.0.1:8086`.
        url: String,
        /// Database name.
        database: String,
        /// Retention policy; the database default when absent.
        #[serde(default)]
        retention_policy: Option<String>,
        /// User name, when authentication is on.
        #[serde(default)]
        username: Option<String>,
        /// Password, when authentication is on.
        #[serde(default)]
        password: Option<Secret>,
    },
    /// InfluxDB 2.x/3.x, Cloud, or any `/api/v2/write` server, through the `influxdb2` crate.
    InfluxV2 {
        /// Base URL, e.g. `http://127.0.0.1:8086`.
        url: String,
        /// Organisation.
        org: String,
        /// Bucket.
        bucket: String,
        /// API token.
        token: Secret,
    },
    /// A local line-protocol file, appended and fsynced; `citysense-collector ship` sends it to
    /// InfluxDB later. For running without a database (the demo).
    File {
        /// The file to append to.
        path: PathBuf,
    },
}

/// How points are grouped into writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Write when this many frames are waiting.
    #[serde(default = "default_max_frames")]
    pub max_frames: usize,
    /// Write when the oldest waiting frame is this old, in ms, however few there are.
    #[serde(default = "default_max_age_ms")]
    pub max_age_ms: u64,
}

/// Where rejected frames go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// JSON-lines file: one record per rejected frame, with its reason and raw bytes.
    pub path: PathBuf,
}

fn default_mqtt_port() -> u16 {
    1883
}
fn default_client_id() -> String {
    "citysense-collector".into()
}
fn default_prefix() -> String {
    protocol::topic::DEFAULT_PREFIX.into()
}
fn default_keep_alive_s() -> u64 {
    30
}
fn default_max_frames() -> usize {
    5_000
}
fn default_max_age_ms() -> u64 {
    1_000
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_frames: default_max_frames(),
            max_age_ms: default_max_age_ms(),
        }
    }
}

impl BatchConfig {
    /// The age limit as a duration.
    pub fn max_age(&self) -> Duration {
        Duration::from_millis(self.max_age_ms)
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
    /// The TOML is not a collector configuration (serde names the field).
    #[error("config file is not valid: {0}")]
    Syntax(#[from] toml::de::Error),
    /// A field has a value that cannot work.
    #[error("config field `{field}` {problem}")]
    Invalid {
        /// Dotted path of the field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        problem: problem.into(),
    }
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
        if self.mqtt.host.trim().is_empty() {
            return Err(invalid("mqtt.host", "must not be empty"));
        }
        if self.mqtt.client_id.trim().is_empty() {
            return Err(invalid(
                "mqtt.client_id",
                "must not be empty (the persistent session is keyed by it)",
            ));
        }
        if self.mqtt.prefix.is_empty()
            || self.mqtt.prefix.ends_with('/')
            || self.mqtt.prefix.contains(['+', '#'])
        {
            return Err(invalid(
                "mqtt.prefix",
                "must be non-empty, without a trailing '/' or wildcards",
            ));
        }
        if !(5..=3_600).contains(&self.mqtt.keep_alive_s) {
            return Err(invalid("mqtt.keep_alive_s", "must be between 5 and 3600"));
        }
        if self.batch.max_frames == 0 {
            return Err(invalid("batch.max_frames", "must be at least 1"));
        }
        if self.batch.max_age_ms == 0 {
            return Err(invalid("batch.max_age_ms", "must be at least 1"));
        }
        match &self.sink {
            SinkConfig::InfluxV1 { url, database, .. } => {
                check_url("sink.url", url)?;
                if database.is_empty() {
                    return Err(invalid("sink.database", "must not be empty"));
                }
            }
            SinkConfig::InfluxV2 { url, org, bucket, .. } => {
                check_url("sink.url", url)?;
                if org.is_empty() {
                    return Err(invalid("sink.org", "must not be empty"));
                }
                if bucket.is_empty() {
                    return Err(invalid("sink.bucket", "must not be empty"));
                }
            }
            SinkConfig::File { path } => {
                if path.as_os_str().is_empty() {
                    return Err(invalid("sink.path", "must not be empty"));
                }
            }
        }
        Ok(())
    }
}

fn check_url(field: &'static str, url: &str) -> Result<(), ConfigError> {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        Ok(_) => Err(invalid(
            field,
            format!("must be an http:// or https:// URL, got {url:?}"),
        )),
        Err(e) => Err(invalid(field, format!("is not a URL ({e}): {url:?}"))),
    }
}

/// The commented configuration printed by `citysense-collector print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("../collector.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_valid() {
        let config = Config::from_toml(DEFAULT_CONFIG).expect("example config is valid");
        assert!(matches!(config.sink, SinkConfig::InfluxV2 { .. }));
    }

    #[test]
    fn errors_name_the_field() {
        let bad = DEFAULT_CONFIG.replace("max_frames = 5000", "max_frames = 0");
        let err = Config::from_toml(&bad).expect_err("zero batch").to_string();
        assert!(err.contains("batch.max_frames"), "{err}");

        let typo = DEFAULT_CONFIG.replace("max_age_ms", "max_age");
        let err = Config::from_toml(&typo).expect_err("unknown field").to_string();
        assert!(err.contains("max_age"), "{err}");

        let bad_url = DEFAULT_CONFIG.replace("http://127.0.0.1:8086", "127.0.0.1:8086");
        let err = Config::from_toml(&bad_url).expect_err("bad url").to_string();
        assert!(err.contains("sink.url"), "{err}");
    }

    #[test]
    fn secrets_do_not_leak_into_debug_output() {
        let config = Config::from_toml(DEFAULT_CONFIG).expect("valid");
        let shown = format!("{config:?}");
        assert!(!shown.contains("change-me"), "{shown}");
    }
}
