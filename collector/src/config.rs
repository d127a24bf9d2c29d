//! The collector's configuration: a TOML file, validated before anything starts.

use std::net::SocketAddr;
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
    /// The disk spool that holds written-off batches while InfluxDB is unreachable.
    pub spool: SpoolConfig,
    /// `/metrics`, `/healthz`, `/readyz`.
    #[serde(default)]
    pub http: HttpConfig,
    /// How shutdown drains.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
}

/// The disk spool (and the replay-window state kept beside it).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// Directory for spool segments and the replay-window state; created if missing. Give each
    /// collector its own.
    pub dir: PathBuf,
    /// The most bytes the spool may hold. When full, the collector stops acknowledging and the
    /// broker holds the backlog.
    #[serde(default = "default_spool_max_bytes")]
    pub max_bytes: u64,
    /// Size at which a segment file is closed and a new one started.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
}

/// The observability endpoints.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address for `/metrics`, `/healthz` and `/readyz` (port 0 picks a free one).
    #[serde(default = "default_http_listen")]
    pub listen: SocketAddr,
}

/// How shutdown drains.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// On SIGTERM the collector stops taking messages, writes (or spools) what it holds, acks
    /// it and disconnects, all within this many ms; what is left then stays unacknowledged
    /// and the broker redelivers it.
    #[serde(default = "default_grace_ms")]
    pub grace_ms: u64,
}

fn default_spool_max_bytes() -> u64 {
    1 << 30
}
fn default_segment_bytes() -> u64 {
    16 << 20
}
fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9310))
}
fn default_grace_ms() -> u64 {
    10_000
}
fn default_max_unacked() -> usize {
    10_000
}
fn default_true() -> bool {
    true
}
fn default_timeout_ms() -> u64 {
    10_000
}
fn default_dead_letter_max_bytes() -> u64 {
    64 << 20
}

impl SpoolConfig {
    /// A spool in `dir` with the default bounds.
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        SpoolConfig {
            dir: dir.into(),
            max_bytes: default_spool_max_bytes(),
            segment_bytes: default_segment_bytes(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_http_listen(),
        }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            grace_ms: default_grace_ms(),
        }
    }
}

impl ShutdownConfig {
    /// The grace period as a duration.
    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms)
    }
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
        /// Password, when authentication is on; prefer `password_file`.
        #[serde(default)]
        password: Option<Secret>,
        /// A file holding the password (its first line) instead, readable by the collector's
        /// user only; read at start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password_file: Option<PathBuf>,
        /// Compress request bodies with gzip.
        #[serde(default = "default_true")]
        gzip: bool,
        /// Time limit of one write request, in ms.
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
    },
    /// InfluxDB 2.x/3.x, Cloud, or any `/api/v2/write` server, through the `influxdb2` crate.
    InfluxV2 {
        /// Base URL, e.g. `http://127.0.0.1:8086`.
        url: String,
        /// Organisation.
        org: String,
        /// Bucket.
        bucket: String,
        /// API token; prefer `token_file`.
        #[serde(default, skip_serializing_if = "Secret::is_empty")]
        token: Secret,
        /// A file holding the token (its first line) instead, readable by the collector's user
        /// only; read at start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_file: Option<PathBuf>,
        /// Compress request bodies with gzip.
        #[serde(default = "default_true")]
        gzip: bool,
        /// Time limit of one write request, in ms.
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
    },
    /// A local line-protocol file, appended and fsynced; `citysense-collector ship` sends it to
    /// InfluxDB later. For running without a database (the demo).
    File {
        /// The file to append to.
        path: PathBuf,
    },
}

impl SinkConfig {
    /// InfluxDB 1.x's `database` at `url` through the v1 API, without credentials, with the
    /// defaults (gzip, 10 s per request).
    pub fn influx_v1(url: impl Into<String>, database: impl Into<String>) -> Self {
        SinkConfig::InfluxV1 {
            url: url.into(),
            database: database.into(),
            retention_policy: None,
            username: None,
            password: None,
            password_file: None,
            gzip: default_true(),
            timeout_ms: default_timeout_ms(),
        }
    }
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
    /// The most messages the collector holds unacknowledged (at least 5 x `max_frames`). Set the
    /// broker's limit on unacknowledged messages to this or less (mosquitto:
    /// `max_inflight_messages`), so the broker stops sending before the collector stops reading.
    #[serde(default = "default_max_unacked")]
    pub max_unacked: usize,
}

/// Where rejected frames go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// JSON-lines file: one record per rejected frame, with its reason and raw bytes. One older
    /// generation is kept beside it as `<path>.1`.
    pub path: PathBuf,
    /// The most bytes the file and its older generation hold together; past that the oldest
    /// records are dropped (counted and logged).
    #[serde(default = "default_dead_letter_max_bytes")]
    pub max_bytes: u64,
}

impl DeadLetterConfig {
    /// A dead-letter file at `path` with the default bound.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        DeadLetterConfig {
            path: path.into(),
            max_bytes: default_dead_letter_max_bytes(),
        }
    }
}

fn default_max_frames() -> usize {
    2_000
}
fn default_max_age_ms() -> u64 {
    1_000
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_frames: default_max_frames(),
            max_age_ms: default_max_age_ms(),
            max_unacked: default_max_unacked(),
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
    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        match &mut self.sink {
            SinkConfig::InfluxV1 {
                password,
                password_file,
                ..
            } => service::secret::take_optional(
                password,
                password_file.as_ref(),
                ("sink.password", "sink.password_file"),
            ),
            SinkConfig::InfluxV2 {
                token, token_file, ..
            } => {
                service::secret::take_required(token, token_file.as_ref(), ("sink.token", "sink.token_file"))
            }
            SinkConfig::File { .. } => Ok(()),
        }
    }

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
        if self.batch.max_unacked < MIN_UNACKED_BATCHES * self.batch.max_frames {
            return Err(ConfigError::invalid(
                "batch.max_unacked",
                format!(
                    "must be at least {MIN_UNACKED_BATCHES} x batch.max_frames ({}): one batch filling, one queued, {} being written, and room to read ahead",
                    self.batch.max_frames,
                    crate::delivery::CONCURRENT_WRITES
                ),
            ));
        }
        if self.spool.dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("spool.dir", "must not be empty"));
        }
        if self.spool.segment_bytes < 4096 {
            return Err(ConfigError::invalid(
                "spool.segment_bytes",
                "must be at least 4096",
            ));
        }
        if self.spool.max_bytes < self.spool.segment_bytes {
            return Err(ConfigError::invalid(
                "spool.max_bytes",
                "must be at least spool.segment_bytes",
            ));
        }
        if self.dead_letter.max_bytes < 4096 {
            return Err(ConfigError::invalid(
                "dead_letter.max_bytes",
                "must be at least 4096",
            ));
        }
        if self.shutdown.grace_ms == 0 {
            return Err(ConfigError::invalid("shutdown.grace_ms", "must be at least 1"));
        }
        match &self.sink {
            SinkConfig::InfluxV1 {
                url,
                database,
                timeout_ms,
                ..
            } => {
                check_url("sink.url", url)?;
                check_timeout(*timeout_ms)?;
                if database.is_empty() {
                    return Err(ConfigError::invalid("sink.database", "must not be empty"));
                }
            }
            SinkConfig::InfluxV2 {
                url,
                org,
                bucket,
                timeout_ms,
                ..
            } => {
                check_url("sink.url", url)?;
                check_timeout(*timeout_ms)?;
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

fn check_timeout(timeout_ms: u64) -> Result<(), ConfigError> {
    if timeout_ms < 100 {
        return Err(ConfigError::invalid("sink.timeout_ms", "must be at least 100"));
    }
    Ok(())
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

/// `batch.max_unacked` must hold this many batches: one filling, one queued for the writer, the
/// ones being written, and one more of read-ahead in the MQTT channel.
pub const MIN_UNACKED_BATCHES: usize = 3 + crate::delivery::CONCURRENT_WRITES;

/// Prefix of the environment variables that override config fields:
/// `CITYSENSE_COLLECTOR__SINK__TOKEN` sets `[sink] token`.
pub const ENV_PREFIX: &str = "CITYSENSE_COLLECTOR";

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
        let bad = DEFAULT_CONFIG.replace("max_frames = 2000", "max_frames = 0");
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
    fn environment_overrides_apply_and_are_validated() {
        let vars = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
        };
        let config: Config = service::config::from_toml_with_env(
            DEFAULT_CONFIG,
            ENV_PREFIX,
            vars(&[
                ("CITYSENSE_COLLECTOR__SINK__URL", "http://influx:8086"),
                ("CITYSENSE_COLLECTOR__BATCH__MAX_FRAMES", "100"),
                ("CITYSENSE_COLLECTOR__MQTT__SHARED_GROUP", "collectors"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.batch.max_frames, 100);
        assert_eq!(config.mqtt.shared_group.as_deref(), Some("collectors"));
        let err = service::config::from_toml_with_env::<Config>(
            DEFAULT_CONFIG,
            ENV_PREFIX,
            vars(&[("CITYSENSE_COLLECTOR__BATCH__MAX_UNACKED", "10")]),
        )
        .expect_err("too small")
        .to_string();
        assert!(err.contains("batch.max_unacked"), "{err}");
    }

    #[test]
    fn secrets_do_not_leak_into_debug_output() {
        let config = service::config::from_toml::<Config>(DEFAULT_CONFIG).expect("valid");
        let shown = format!("{config:?}");
        assert!(!shown.contains("change-me"), "{shown}");
    }
}
