//! The IOC API's configuration: a TOML file, validated before anything starts.
//!
//! # Layout
//!
//! - `mod.rs`: the sections and their fields (the fields' doc comments are the manual).
//! - `defaults`: the named default of each field and the sections' `Default`.
//! - `validate`: secrets read from their files, then the values that parse but cannot work.
//! - `tests`: the shipped example, and errors that name the field.

mod defaults;
mod validate;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use service::Secret;
pub use service::mqtt::MqttConfig;

use crate::quality::QualityConfig;

use crate::indices::salinity::{SalinityClass, default_classes};
use crate::indices::us_aqi::Pm25TopBand;
use crate::indices::wqi::Aggregation;
use defaults::{
    default_daily_backfill_days, default_daily_min_hours, default_database, default_influx_timeout_s,
    default_initial_backoff_ms, default_lab_max_age_days, default_licence, default_listen,
    default_max_attempts, default_max_backoff_ms, default_max_body_bytes, default_min_coverage,
    default_min_hours_8h, default_offline_after_s, default_publisher, default_replay_events, default_tick_s,
    default_time_zone, default_utc_offset_hours, default_webhook_timeout_ms, yes,
};

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
    /// Station liveness and the local day.
    #[serde(default)]
    pub stations: StationsConfig,
    /// The SQLite database.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Who may read without a token.
    #[serde(default)]
    pub auth: AuthConfig,
    /// InfluxDB for history, exports and the rebuild at start; without it those endpoints
    /// answer 503 and the indices fill from live frames.
    #[serde(default)]
    pub influx: Option<InfluxConfig>,
    /// Index settings, including the unconfirmed values made configurable.
    #[serde(default)]
    pub indices: IndicesConfig,
    /// Alert delivery.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// Webhooks that receive every alert change.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// The open-data catalogue (DCAT, JSON-LD) and the daily CSV files.
    #[serde(default)]
    pub open_data: OpenDataConfig,
    /// Quality control of readings before indices and alerts use them, and coverage.
    #[serde(default)]
    pub quality: QualityConfig,
}

impl Config {
    /// A config with every optional section at its default, the database at `database`.
    pub fn new(listen: SocketAddr, mqtt: MqttConfig, registry: PathBuf, database: PathBuf) -> Config {
        Config {
            http: HttpConfig {
                listen,
                ..HttpConfig::default()
            },
            mqtt,
            registry: RegistryConfig { path: registry },
            stations: StationsConfig::default(),
            storage: StorageConfig { path: database },
            auth: AuthConfig::default(),
            influx: None,
            indices: IndicesConfig::default(),
            alerts: AlertsConfig::default(),
            webhooks: Vec::new(),
            open_data: OpenDataConfig::default(),
            quality: QualityConfig::default(),
        }
    }
}

/// The HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address and port to listen on; port 0 picks a free one.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Browser origins allowed to call the API from other sites (CORS), e.g.
    /// `https://data.haugiang.gov.vn`. Empty: no CORS headers, same-origin only.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, bytes; larger ones get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
}

/// Where the registry is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Path to the registry TOML file.
    pub path: PathBuf,
}

/// Station liveness and the local day.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationsConfig {
    /// A station with no frame for this many seconds is shown offline; also the trigger of the
    /// default `station_offline` rule.
    #[serde(default = "default_offline_after_s")]
    pub offline_after_s: u64,
    /// The local time zone's offset from UTC in whole hours, for the daily AQI's day
    /// (Vietnam: +7, no daylight saving).
    #[serde(default = "default_utc_offset_hours")]
    pub utc_offset_hours: i8,
    /// The operations centre's time zone (IANA name) for times on the dashboard and the exports'
    /// local columns; the API itself answers in UTC (RFC 3339).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Map tiles for the dashboard's map (`https://tiles.example.vn/{z}/{x}/{y}.png`), for
    /// deployments with a tile server; without one the map shows the stations on a plain
    /// background. The browser fetches them, not the API.
    #[serde(default)]
    pub map_tiles: Option<String>,
    /// The attribution the tile server asks for, shown on the map.
    #[serde(default)]
    pub map_attribution: Option<String>,
}

/// The SQLite database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Path of the database file (created on first start).
    #[serde(default = "default_database")]
    pub path: PathBuf,
}

/// Who may read without a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Readings, indices, alerts and exports are open data by default: anyone may read them.
    /// Set false to require a viewer token for every read. Writes always need a token.
    #[serde(default = "yes")]
    pub anonymous_read: bool,
}

/// InfluxDB, read with InfluxQL over `/query` (1.x, 2.x with a DBRP mapping, 3.x).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// Base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    /// Database (1.x) or the bucket's DBRP database name (2.x).
    pub database: String,
    /// User name (1.x auth), if any.
    #[serde(default)]
    pub username: Option<String>,
    /// Password (1.x) or token (2.x, sent as `Authorization: Token`), if any; prefer
    /// `password_file`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A file holding the password or token (its first line) instead, readable by the API's
    /// user only; read at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Send `password` as a 2.x token instead of 1.x basic credentials.
    #[serde(default)]
    pub token_auth: bool,
    /// Per-request timeout, seconds.
    #[serde(default = "default_influx_timeout_s")]
    pub timeout_s: u64,
    /// Rebuild the indices' hourly history from InfluxDB at start.
    #[serde(default = "yes")]
    pub rebuild_at_start: bool,
}

impl InfluxConfig {
    /// InfluxDB at `url`, database `database`, without credentials, with the default timeout,
    /// rebuilding the history at start.
    pub fn new(url: impl Into<String>, database: impl Into<String>) -> Self {
        InfluxConfig {
            url: url.into(),
            database: database.into(),
            username: None,
            password: None,
            password_file: None,
            token_auth: false,
            timeout_s: default_influx_timeout_s(),
            rebuild_at_start: true,
        }
    }
}

/// Index settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicesConfig {
    /// Fraction of an hour's five-minute slots that must hold data for its mean to count (and
    /// for the rolling hour). 0.75 is the common completeness rule; lower it for nodes that
    /// report less often than every 5 minutes.
    #[serde(default = "default_min_coverage")]
    pub min_coverage: f64,
    /// Valid hours a day needs for its 24-hour mean or daily maximum (ours; Decision 1459
    /// states none).
    #[serde(default = "default_daily_min_hours")]
    pub daily_min_hours: usize,
    /// Valid hours an 8-hour mean needs (ours).
    #[serde(default = "default_min_hours_8h")]
    pub min_hours_8h: usize,
    /// [U] US AQI top PM2.5 band: `single_to325` (225.5–325.4 → 301–500, S7) or `split_to500`
    /// (S6).
    #[serde(default)]
    pub us_pm2_5_top_band: Pm25TopBand,
    /// [U] VN_WQI aggregation of groups IV and V: `square_root` or `weighted_cube_root`.
    #[serde(default)]
    pub wqi_aggregation: Aggregation,
    /// Lab results older than this many days do not count in VN_WQI.
    #[serde(default = "default_lab_max_age_days")]
    pub lab_max_age_days: u32,
    /// Salinity classes, by lower bound in ‰ (domain.md §5.1); sorted, the first from 0.
    #[serde(default = "default_classes")]
    pub salinity_classes: Vec<SalinityClass>,
}

/// Alert delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Publish alert changes on `{prefix}/alerts/{station_id}` (JSON, QoS 1, retained while an
    /// alert of the station is open).
    #[serde(default = "yes")]
    pub mqtt: bool,
    /// Events kept for `Last-Event-ID` resumption of the stream.
    #[serde(default = "default_replay_events")]
    pub replay_events: usize,
    /// How often offline stations and stale alerts are checked, seconds.
    #[serde(default = "default_tick_s")]
    pub tick_s: u64,
    /// Evaluate the thresholds and raise, resolve and deliver alerts. Exactly one IOC API of a
    /// deployment does: replicas behind a load balancer set `false` and serve the alerts the
    /// evaluating one stored (docs/deploy.md, "The IOC behind a load balancer").
    #[serde(default = "yes")]
    pub evaluate: bool,
}

/// One webhook.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name, shown in the delivery log.
    pub name: String,
    /// URL receiving a POST with the alert change as JSON.
    pub url: String,
    /// HMAC-SHA256 key (at least 16 characters): the body's MAC is sent as
    /// `X-Citysense-Signature: sha256=<hex>` over `<timestamp>.<body>`, with the timestamp in
    /// `X-Citysense-Timestamp`. Give it here or, better, by `secret_file`.
    #[serde(default, skip_serializing_if = "Secret::is_empty")]
    pub secret: Secret,
    /// A file holding the key (its first line), readable by the API's user only; read at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Attempts before a delivery is marked failed.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay, ms; doubles each attempt (with jitter) up to `max_backoff_ms`.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Longest retry delay, ms.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Per-request timeout, ms.
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
}

/// The open-data catalogue at `/api/v1/open-data/catalog.jsonld` and the daily CSV files for
/// portals that pull files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenDataConfig {
    /// The public address harvesters reach the API at (`https://quantrac.example.vn`, or with a
    /// path behind a reverse proxy, `https://example.vn/citysense`): the catalogue's links are
    /// absolute and start with it. Unset: `http://` and the address the API listens on, which
    /// only works on this machine.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The publisher's name (`foaf:name` of the catalogue's and datasets' `dct:publisher`).
    #[serde(default = "default_publisher")]
    pub publisher: String,
    /// The datasets' contact e-mail (`vcard:hasEmail` of `dcat:contactPoint`). Unset: the contact
    /// point carries the publisher's name only.
    #[serde(default)]
    pub contact_email: Option<String>,
    /// The licence of the data (`dct:license`), a URI.
    #[serde(default = "default_licence")]
    pub licence: String,
    /// The catalogue's home page (`foaf:homepage`), e.g. the portal's page of the datasets.
    /// Unset: the dashboard at `base_url`.
    #[serde(default)]
    pub homepage: Option<String>,
    /// Where to write each previous local day's hourly CSV, as
    /// `<daily_dir>/<kind>/<yyyy>/<yyyy-mm-dd>.csv`, shortly after each local midnight
    /// (`stations.time_zone`). Unset: no files.
    #[serde(default)]
    pub daily_dir: Option<PathBuf>,
    /// At start and at each midnight, days missing among this many days before today are
    /// written too, so a restart or an outage leaves no hole; files already there are kept.
    #[serde(default = "default_daily_backfill_days")]
    pub daily_backfill_days: u32,
}

/// Prefix of the environment variables that override config fields:
/// `CITYSENSE_IOC__INFLUX__PASSWORD_FILE` sets `[influx] password_file`.
pub const ENV_PREFIX: &str = "CITYSENSE_IOC";

/// The commented configuration printed by `citysense-ioc-api print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("../../ioc-api.example.toml");
