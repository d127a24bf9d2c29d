//! The collector's configuration: a TOML file, validated before anything starts.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use service::Secret;
use service::config::{ConfigError, Validate};
pub use service::mqtt::MqttConfig;

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

impl Validate for Config {
    /// Checks values that parse but cannot work.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field.
    fn validate(&self) -> Result<(), ConfigError> {
        self.mqtt.validate()?;
        if self.batch.max_frames == 0 {
            return Err(ConfigError::invalid("batch.max_frames", "must be at least 1"));
        }
        if self.batch.max_age_ms == 0 {
            return Err(ConfigError::invalid("batch.max_age_ms", "must be at least 1"));
        }
        match &self.sink {
            SinkConfig::InfluxV1 { url, database, .. } => {
                check_url("sink.url", url)?;
                if database.is_empty() {
                    return Err(ConfigError::invalid("sink.database", "must not be empty"));
                }
            }
            SinkConfig::InfluxV2 { url, org, bucket, .. } => {
                check_url("sink.url", url)?;
                if org.is_empty() {
                    return Err(ConfigError::invalid("sink.org", "must not be empty"));
                }
                if bucket.is_empty() {
                    return Err(ConfigError::invalid("sink.bucket", "must not be empty"));
                }
            }
            SinkConfig::File { path } => {
                if path.as_os_str().is_empty() {
                    return Err(ConfigError::invalid("sink.path", "must not be empty"));
                }
            }
        }
        Ok(())
    }
}

fn check_url(field: &'static str, url: &str) -> Result<(), ConfigError> {
    match reqwest::Url::parse(url) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(()),
        Ok(_) => Err(ConfigError::invalid(
            field,
            format!("must be an http:// or https:// URL, got {url:?}"),
        )),
        Err(e) => Err(ConfigError::invalid(
            field,
            format!("is not a URL ({e}): {url:?}"),
        )),
    }
}

/// The commented configuration printed by `citysense-collector print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("../collector.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_valid() {
        let config = service::config::from_toml::<Config>(DEFAULT_CONFIG).expect("example config is valid");
        assert!(matches!(config.sink, SinkConfig::InfluxV2 { .. }));
    }

    #[test]
    fn errors_name_the_field() {
        let bad = DEFAULT_CONFIG.replace("max_frames = 5000", "max_frames = 0");
        let err = service::config::from_toml::<Config>(&bad)
            .expect_err("zero batch")
            .to_string();
        assert!(err.contains("batch.max_frames"), "{err}");

        let typo = DEFAULT_CONFIG.replace("max_age_ms", "max_age");
        let err = service::config::from_toml::<Config>(&typo)
            .expect_err("unknown field")
            .to_string();
        assert!(err.contains("max_age"), "{err}");

        let bad_url = DEFAULT_CONFIG.replace("http://127.0.0.1:8086", "127.0.0.1:8086");
        let err = service::config::from_toml::<Config>(&bad_url)
            .expect_err("bad url")
            .to_string();
        assert!(err.contains("sink.url"), "{err}");
    }

    #[test]
    fn secrets_do_not_leak_into_debug_output() {
        let config = service::config::from_toml::<Config>(DEFAULT_CONFIG).expect("valid");
        let shown = format!("{config:?}");
        assert!(!shown.contains("change-me"), "{shown}");
    }
}
