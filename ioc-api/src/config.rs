//! The IOC API's configuration: a TOML file, validated before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use service::Secret;
use service::config::{ConfigError, Validate};
pub use service::mqtt::MqttConfig;

use crate::indices::salinity::{SalinityClass, default_classes};
use crate::indices::us_aqi::Pm25TopBand;
use crate::indices::wqi::Aggregation;

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

fn yes() -> bool {
    true
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_max_body_bytes() -> usize {
    64 * 1024
}
fn default_offline_after_s() -> u64 {
    300
}
fn default_utc_offset_hours() -> i8 {
    7
}
fn default_time_zone() -> String {
    "Asia/Ho_Chi_Minh".into()
}
fn default_database() -> PathBuf {
    PathBuf::from("ioc-api.sqlite")
}
fn default_influx_timeout_s() -> u64 {
    10
}
fn default_min_coverage() -> f64 {
    0.75
}
fn default_daily_min_hours() -> usize {
    18
}
fn default_min_hours_8h() -> usize {
    6
}
fn default_lab_max_age_days() -> u32 {
    31
}
fn default_replay_events() -> usize {
    4_096
}
fn default_tick_s() -> u64 {
    1
}
fn default_max_attempts() -> u32 {
    8
}
fn default_initial_backoff_ms() -> u64 {
    1_000
}
fn default_max_backoff_ms() -> u64 {
    300_000
}
fn default_webhook_timeout_ms() -> u64 {
    10_000
}
fn default_publisher() -> String {
    "Trung tâm Giám sát, điều hành đô thị thông minh".into()
}
fn default_licence() -> String {
    "https://creativecommons.org/licenses/by/4.0/".into()
}
fn default_daily_backfill_days() -> u32 {
    7
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
            cors_origins: Vec::new(),
            max_body_bytes: default_max_body_bytes(),
        }
    }
}

impl Default for StationsConfig {
    fn default() -> Self {
        StationsConfig {
            offline_after_s: default_offline_after_s(),
            utc_offset_hours: default_utc_offset_hours(),
            time_zone: default_time_zone(),
            map_tiles: None,
            map_attribution: None,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: default_database(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig { anonymous_read: true }
    }
}

impl Default for IndicesConfig {
    fn default() -> Self {
        IndicesConfig {
            min_coverage: default_min_coverage(),
            daily_min_hours: default_daily_min_hours(),
            min_hours_8h: default_min_hours_8h(),
            us_pm2_5_top_band: Pm25TopBand::default(),
            wqi_aggregation: Aggregation::default(),
            lab_max_age_days: default_lab_max_age_days(),
            salinity_classes: default_classes(),
        }
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            mqtt: true,
            replay_events: default_replay_events(),
            tick_s: default_tick_s(),
            evaluate: true,
        }
    }
}

impl Default for OpenDataConfig {
    fn default() -> Self {
        OpenDataConfig {
            base_url: None,
            publisher: default_publisher(),
            contact_email: None,
            licence: default_licence(),
            homepage: None,
            daily_dir: None,
            daily_backfill_days: default_daily_backfill_days(),
        }
    }
}

/// An absolute `http(s)` URL without query or fragment, as the catalogue's links need.
fn web_url(text: &str) -> bool {
    text.parse::<axum::http::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.authority().is_some_and(|a| !a.host().is_empty())
            && uri.query().is_none()
    }) && !text.contains('#')
}

/// A plain address (`name@host.tld`) that needs no escaping in a `mailto:` IRI.
fn email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let plain = |part: &str, extra: &str| {
        part.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    !local.is_empty()
        && plain(local, "._+-")
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && plain(domain, ".-")
}

impl OpenDataConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, problem: &str| Err(ConfigError::invalid(field, problem));
        if let Some(base) = &self.base_url
            && !web_url(base)
        {
            return invalid(
                "open_data.base_url",
                "must be an absolute http:// or https:// URL without query, such as https://quantrac.example.vn",
            );
        }
        if self.publisher.trim().is_empty() || self.publisher.chars().count() > 200 {
            return invalid("open_data.publisher", "must be a name of 1 to 200 characters");
        }
        if let Some(address) = &self.contact_email
            && !email(address)
        {
            return invalid(
                "open_data.contact_email",
                "must be an e-mail address such as opendata@example.vn",
            );
        }
        if !web_url(&self.licence) {
            return invalid(
                "open_data.licence",
                "must be an http:// or https:// URI such as https://creativecommons.org/licenses/by/4.0/",
            );
        }
        if let Some(page) = &self.homepage
            && !web_url(page)
        {
            return invalid(
                "open_data.homepage",
                "must be an absolute http:// or https:// URL without query",
            );
        }
        if self
            .daily_dir
            .as_ref()
            .is_some_and(|dir| dir.as_os_str().is_empty())
        {
            return invalid(
                "open_data.daily_dir",
                "must not be empty (leave it out for no files)",
            );
        }
        if !(1..=366).contains(&self.daily_backfill_days) {
            return invalid("open_data.daily_backfill_days", "must be between 1 and 366");
        }
        Ok(())
    }
}

impl Validate for Config {
    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        if let Some(influx) = &mut self.influx {
            service::secret::take_optional(
                &mut influx.password,
                influx.password_file.as_ref(),
                ("influx.password", "influx.password_file"),
            )?;
        }
        for hook in &mut self.webhooks {
            service::secret::take_required(
                &mut hook.secret,
                hook.secret_file.as_ref(),
                ("webhooks.secret", "webhooks.secret_file"),
            )?;
        }
        Ok(())
    }

    /// Checks values that parse but cannot work.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, problem: &str| Err(ConfigError::invalid(field, problem));
        self.mqtt.validate()?;
        if self.http.max_body_bytes < 1_024 {
            return invalid("http.max_body_bytes", "must be at least 1024");
        }
        for origin in &self.http.cors_origins {
            if origin.parse::<axum::http::HeaderValue>().is_err() || !origin.starts_with("http") {
                return invalid(
                    "http.cors_origins",
                    "each must be an origin such as https://example.org",
                );
            }
        }
        let zone = &self.stations.time_zone;
        if zone.is_empty()
            || zone.len() > 64
            || !zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
            || jiff::tz::TimeZone::get(zone).is_err()
        {
            return invalid(
                "stations.time_zone",
                "must be an IANA time zone name such as Asia/Ho_Chi_Minh",
            );
        }
        if let Some(tiles) = &self.stations.map_tiles
            && !(tiles.starts_with("https://") || tiles.starts_with("http://") || tiles.starts_with('/'))
        {
            return invalid(
                "stations.map_tiles",
                "must be a tile URL template such as https://tiles.example.vn/{z}/{x}/{y}.png",
            );
        }
        if self.stations.offline_after_s == 0 {
            return invalid("stations.offline_after_s", "must be at least 1");
        }
        if !(-12..=14).contains(&self.stations.utc_offset_hours) {
            return invalid("stations.utc_offset_hours", "must be between -12 and 14");
        }
        if let Some(influx) = &self.influx {
            if !(influx.url.starts_with("http://") || influx.url.starts_with("https://")) {
                return invalid("influx.url", "must start with http:// or https://");
            }
            if influx.database.trim().is_empty() {
                return invalid("influx.database", "must not be empty");
            }
            if influx.timeout_s == 0 {
                return invalid("influx.timeout_s", "must be at least 1");
            }
        }
        let ix = &self.indices;
        if !(0.0..=1.0).contains(&ix.min_coverage) {
            return invalid("indices.min_coverage", "must be between 0 and 1");
        }
        if !(1..=24).contains(&ix.daily_min_hours) {
            return invalid("indices.daily_min_hours", "must be between 1 and 24");
        }
        if !(1..=8).contains(&ix.min_hours_8h) {
            return invalid("indices.min_hours_8h", "must be between 1 and 8");
        }
        if ix.salinity_classes.first().is_none_or(|c| c.from_ppt != 0.0)
            || ix
                .salinity_classes
                .windows(2)
                .any(|w| w[0].from_ppt.partial_cmp(&w[1].from_ppt) != Some(std::cmp::Ordering::Less))
        {
            return invalid(
                "indices.salinity_classes",
                "must start at from_ppt = 0 and increase strictly",
            );
        }
        if self.alerts.replay_events == 0 || self.alerts.replay_events > 1_000_000 {
            return invalid("alerts.replay_events", "must be between 1 and 1000000");
        }
        if self.alerts.tick_s == 0 {
            return invalid("alerts.tick_s", "must be at least 1");
        }
        if !self.alerts.evaluate && !self.webhooks.is_empty() {
            return invalid(
                "alerts.evaluate",
                "is false (a replica) while [[webhooks]] are set: only the instance that evaluates alerts delivers them",
            );
        }
        let mut names = std::collections::HashSet::new();
        for hook in &self.webhooks {
            if hook.name.trim().is_empty() || !names.insert(hook.name.as_str()) {
                return invalid("webhooks.name", "each webhook needs a unique, non-empty name");
            }
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                return invalid("webhooks.url", "must start with http:// or https://");
            }
            if hook.secret.expose().len() < 16 {
                return invalid("webhooks.secret", "must be at least 16 characters");
            }
            if hook.max_attempts == 0
                || hook.initial_backoff_ms == 0
                || hook.max_backoff_ms < hook.initial_backoff_ms
            {
                return invalid(
                    "webhooks.max_attempts",
                    "max_attempts and initial_backoff_ms must be at least 1, max_backoff_ms at least initial_backoff_ms",
                );
            }
        }
        self.open_data.validate()
    }
}

/// Prefix of the environment variables that override config fields:
/// `CITYSENSE_IOC__INFLUX__PASSWORD_FILE` sets `[influx] password_file`.
pub const ENV_PREFIX: &str = "CITYSENSE_IOC";

/// The commented configuration printed by `citysense-ioc-api print-default-config`.
pub const DEFAULT_CONFIG: &str = include_str!("../ioc-api.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_is_valid() {
        let config = service::config::from_toml::<Config>(DEFAULT_CONFIG).expect("example is valid");
        assert_eq!(config.indices.min_coverage, 0.75);
        assert_eq!(config.indices.salinity_classes.len(), 4);
    }

    #[test]
    fn errors_name_the_field() {
        let bad = DEFAULT_CONFIG.replace("min_coverage = 0.75", "min_coverage = 1.5");
        let err = service::config::from_toml::<Config>(&bad)
            .expect_err("bad coverage")
            .to_string();
        assert!(err.contains("indices.min_coverage"), "{err}");
        let typo = DEFAULT_CONFIG.replace("offline_after_s", "offline_after");
        let err = service::config::from_toml::<Config>(&typo)
            .expect_err("typo")
            .to_string();
        assert!(err.contains("offline_after"), "{err}");
        let zone = DEFAULT_CONFIG.replace("Asia/Ho_Chi_Minh", "Vietnam time\\\" onload=\\\"x");
        let err = service::config::from_toml::<Config>(&zone)
            .expect_err("bad zone")
            .to_string();
        assert!(err.contains("stations.time_zone"), "{err}");
        let unknown = DEFAULT_CONFIG.replace("Asia/Ho_Chi_Minh", "Asia/Vi_Thanh");
        let err = service::config::from_toml::<Config>(&unknown)
            .expect_err("unknown zone")
            .to_string();
        assert!(err.contains("stations.time_zone"), "{err}");
    }

    #[test]
    fn open_data_errors_name_the_field() {
        let config = service::config::from_toml::<Config>(DEFAULT_CONFIG).expect("example is valid");
        assert_eq!(
            config.open_data.licence,
            "https://creativecommons.org/licenses/by/4.0/"
        );
        for (line, field) in [
            ("base_url = \"quantrac.example.vn\"", "open_data.base_url"),
            (
                "base_url = \"https://quantrac.example.vn/?x=1\"",
                "open_data.base_url",
            ),
            (
                "contact_email = \"opendata at example.vn\"",
                "open_data.contact_email",
            ),
            ("licence = \"CC BY 4.0\"", "open_data.licence"),
            ("homepage = \"ftp://data.example.vn\"", "open_data.homepage"),
            ("publisher = \" \"", "open_data.publisher"),
            ("daily_backfill_days = 0", "open_data.daily_backfill_days"),
        ] {
            let key = line.split(' ').next().unwrap_or_default();
            let bad: String = DEFAULT_CONFIG
                .lines()
                .filter(|l| !l.starts_with(&format!("{key} =")))
                .map(|l| {
                    if l == "[open_data]" {
                        format!("{l}\n{line}")
                    } else {
                        l.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            let err = service::config::from_toml::<Config>(&bad)
                .expect_err(line)
                .to_string();
            assert!(err.contains(field), "{line}: {err}");
        }
        let good = DEFAULT_CONFIG.replace(
            "[open_data]",
            "[open_data]\nbase_url = \"https://example.vn/citysense/\"\ncontact_email = \"open.data+ioc@so-tnmt.example.vn\"",
        );
        assert!(service::config::from_toml::<Config>(&good).is_ok());
    }

    #[test]
    fn secrets_come_from_their_files_and_are_checked_as_if_inline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (password, key, short) = (
            dir.path().join("influx"),
            dir.path().join("hook"),
            dir.path().join("short"),
        );
        std::fs::write(&password, "reader-password\n").expect("written");
        std::fs::write(&key, "0123456789abcdef0123\n").expect("written");
        std::fs::write(&short, "too-short\n").expect("written");
        let with = |key_file: &std::path::Path| {
            format!(
                "{DEFAULT_CONFIG}\n[influx]\nurl = \"http://127.0.0.1:8086\"\ndatabase = \"citysense\"\npassword_file = \"{}\"\n\
                 [[webhooks]]\nname = \"sms\"\nurl = \"https://sms.example.vn/hook\"\nsecret_file = \"{}\"\n",
                password.display(),
                key_file.display()
            )
        };
        let config = service::config::from_toml::<Config>(&with(&key)).expect("valid");
        let influx = config.influx.expect("influx");
        assert_eq!(
            influx.password.as_ref().map(Secret::expose),
            Some("reader-password")
        );
        assert_eq!(config.webhooks[0].secret.expose(), "0123456789abcdef0123");
        let err = service::config::from_toml::<Config>(&with(&short))
            .expect_err("a short key")
            .to_string();
        assert!(
            err.contains("webhooks.secret") && !err.contains("too-short"),
            "{err}"
        );
    }
}
