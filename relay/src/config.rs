//! The relay's configuration: the broker, the registry, how files are made and named, the outbox
//! and the receivers. `relay.example.toml` documents every field.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use service::config::{ConfigError, Validate};
use service::mqtt::MqttConfig;

use crate::params::ALL;
use crate::upload::{Protocol, ReceiverConfig, parse_sha256_fingerprint};

/// The prefix of the environment variables that override config fields.
pub const ENV_PREFIX: &str = "CITYSENSE_RELAY";

/// The commented default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("../relay.example.toml");

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The broker.
    pub mqtt: MqttConfig,
    /// The node registry.
    pub registry: RegistryConfig,
    /// How files are made and named.
    pub files: FilesConfig,
    /// Symbol, unit and decimals per parameter key, overriding the defaults.
    #[serde(default)]
    pub parameters: BTreeMap<String, ParameterConfig>,
    /// The outbox.
    pub outbox: OutboxConfig,
    /// `/metrics`, `/healthz`, `/readyz`.
    #[serde(default)]
    pub http: HttpConfig,
    /// Where the files go.
    #[serde(default, rename = "receiver")]
    pub receivers: Vec<ReceiverConfig>,
    /// The InfluxDB that `resend` reads a period back from (InfluxQL over `/query`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub influx: Option<InfluxConfig>,
}

/// InfluxDB for `resend`: 1.x, or 2.x/3.x through its v1-compatible `/query` (a DBRP mapping).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfluxConfig {
    /// Base URL, e.g. `http://127.0.0.1:8086`.
    pub url: String,
    /// Database (1.x) or the bucket's DBRP database name (2.x).
    pub database: String,
    /// User name (1.x), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password (1.x) or token (2.x, with `token_auth`); never logged. Prefer `password_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<service::Secret>,
    /// A file holding the password or token (its first line) instead, readable by the relay's
    /// user only; read at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Send `password` as `Authorization: Token` (2.x).
    #[serde(default)]
    pub token_auth: bool,
    /// Seconds a query may take.
    #[serde(default = "default_influx_timeout_s")]
    pub timeout_s: u64,
}

fn default_influx_timeout_s() -> u64 {
    60
}

/// Where the node registry is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// The registry file (TOML, or CSV when the name ends in `.csv`).
    pub path: PathBuf,
}

/// How files are made and named.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Interval of one file, seconds (a divisor of a day).
    #[serde(default = "default_interval_s")]
    pub interval_s: u64,
    /// An interval is written this long after its end and after its last frame, seconds.
    #[serde(default = "default_grace_s")]
    pub grace_s: u64,
    /// The zone of the times in names, folders and lines (IANA name).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Whether the time written is the interval's `end` or its `start`.
    #[serde(default)]
    pub stamp: Stamp,
    /// Province code.
    pub province: String,
    /// Facility code.
    pub facility: String,
    /// File name template (`{province}`, `{facility}`, `{station}`, `{time}`).
    #[serde(default = "default_file_name")]
    pub file_name: String,
    /// Folder template (`{station}`, `{yyyy}`, `{MM}`, `{dd}`).
    #[serde(default = "default_folder")]
    pub folder: String,
    /// Line ending: `lf` or `crlf`.
    #[serde(default)]
    pub newline: Newline,
    /// The authority's code of each station, by the registry's station id; a station not
    /// listed uses its id.
    #[serde(default)]
    pub station_codes: BTreeMap<String, String>,
}

/// Which end of the interval names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stamp {
    /// The end (`00:05:00` for 00:00–00:05), as the reference's example suggests.
    #[default]
    End,
    /// The start.
    Start,
}

/// Line ending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Newline {
    /// `\n`.
    #[default]
    Lf,
    /// `\r\n`.
    Crlf,
}

impl Newline {
    /// The characters.
    pub fn as_str(self) -> &'static str {
        match self {
            Newline::Lf => "\n",
            Newline::Crlf => "\r\n",
        }
    }
}

/// A parameter's override.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterConfig {
    /// Symbol in the file.
    pub symbol: Option<String>,
    /// Unit in the file.
    pub unit: Option<String>,
    /// Decimals written.
    pub decimals: Option<u32>,
    /// `false` leaves the parameter out of the files.
    #[serde(default = "default_true")]
    pub send: bool,
}

/// The outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Its folder (also holds the journal).
    pub path: PathBuf,
    /// Most bytes of files held.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Days a file every receiver has taken is kept.
    #[serde(default = "default_keep_days")]
    pub keep_days: u64,
}

/// The HTTP endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
        }
    }
}

fn default_interval_s() -> u64 {
    300
}
fn default_grace_s() -> u64 {
    120
}
fn default_time_zone() -> String {
    "Asia/Ho_Chi_Minh".into()
}
fn default_file_name() -> String {
    "{province}_{facility}_{station}_{time}.txt".into()
}
fn default_folder() -> String {
    "{station}/{yyyy}/{MM}/{dd}".into()
}
fn default_true() -> bool {
    true
}
fn default_max_bytes() -> u64 {
    1 << 30
}
fn default_keep_days() -> u64 {
    60
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9102))
}

/// Characters a code or template may hold: they end up in file and folder names on a server.
fn plain(text: &str, extra: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c) || extra.contains(c))
}

impl Validate for Config {
    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        let Some(influx) = &mut self.influx else {
            return Ok(());
        };
        service::secret::take_optional(
            &mut influx.password,
            influx.password_file.as_ref(),
            ("influx.password", "influx.password_file"),
        )
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.mqtt.validate()?;
        let f = &self.files;
        if f.interval_s == 0 || 86_400 % f.interval_s != 0 {
            return Err(ConfigError::invalid(
                "files.interval_s",
                "must divide a day (60, 300, 600, 900, 3600, ...)",
            ));
        }
        if f.grace_s > 86_400 {
            return Err(ConfigError::invalid("files.grace_s", "must be at most a day"));
        }
        if jiff::tz::TimeZone::get(&f.time_zone).is_err() {
            return Err(ConfigError::invalid(
                "files.time_zone",
                "must be an IANA time zone name such as Asia/Ho_Chi_Minh",
            ));
        }
        if !plain(&f.province, "") {
            return Err(ConfigError::invalid(
                "files.province",
                "must be letters, digits, - _ or .",
            ));
        }
        if !plain(&f.facility, "") {
            return Err(ConfigError::invalid(
                "files.facility",
                "must be letters, digits, - _ or .",
            ));
        }
        let names_each_file = f.file_name.contains("{station}") && f.file_name.contains("{time}");
        if !(names_each_file && plain(&f.file_name, "{}")) {
            return Err(ConfigError::invalid(
                "files.file_name",
                "must hold {station} and {time} (so each file has its own name) and no / or spaces",
            ));
        }
        if !f.folder.is_empty()
            && (!plain(&f.folder, "{}/") || f.folder.split('/').any(|p| p.is_empty() || p == ".."))
        {
            return Err(ConfigError::invalid(
                "files.folder",
                "must be empty or parts such as {station}/{yyyy}/{MM}/{dd}, without .. or empty parts",
            ));
        }
        if f.station_codes.values().any(|c| !plain(c, "")) {
            return Err(ConfigError::invalid(
                "files.station_codes",
                "must be letters, digits, - _ or .",
            ));
        }
        for (key, p) in &self.parameters {
            if !ALL.iter().any(|known| known.key == key) {
                return Err(ConfigError::invalid(
                    "parameters",
                    format!(
                        "{key:?} is not a parameter; known: {}",
                        ALL.iter().map(|p| p.key).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            if p.symbol
                .as_deref()
                .is_some_and(|s| s.is_empty() || s.contains(['\t', '\n', '\r']))
            {
                return Err(ConfigError::invalid(
                    "parameters.symbol",
                    "must be non-empty, without tabs or line breaks",
                ));
            }
            if p.unit.as_deref().is_some_and(|s| s.contains(['\t', '\n', '\r'])) {
                return Err(ConfigError::invalid(
                    "parameters.unit",
                    "must have no tabs or line breaks",
                ));
            }
            if p.decimals.is_some_and(|d| d > 6) {
                return Err(ConfigError::invalid("parameters.decimals", "must be at most 6"));
            }
        }
        if self.outbox.max_bytes < 1 << 20 {
            return Err(ConfigError::invalid("outbox.max_bytes", "must be at least 1 MiB"));
        }
        if self.outbox.keep_days == 0 {
            return Err(ConfigError::invalid(
                "outbox.keep_days",
                "must be at least 1 (Circular 10/2021 asks for 60)",
            ));
        }
        if let Some(influx) = &self.influx
            && !(influx.url.starts_with("http://") || influx.url.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "influx.url",
                "must be an http:// or https:// URL",
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for r in &self.receivers {
            if !plain(&r.name, "") || !names.insert(r.name.as_str()) {
                return Err(ConfigError::invalid(
                    "receiver.name",
                    "must be unique, letters, digits, - _ or .",
                ));
            }
            if r.host.is_empty() {
                return Err(ConfigError::invalid("receiver.host", "must name the server"));
            }
            let sftp = r.protocol == Protocol::Sftp;
            let given = [
                r.password.is_some(),
                r.password_file.is_some(),
                r.password_env.is_some(),
            ]
            .into_iter()
            .filter(|g| *g)
            .count();
            if given > 1 || (!sftp && given == 0) {
                return Err(ConfigError::invalid(
                    "receiver.password",
                    if sftp {
                        "give at most one of password, password_file and password_env"
                    } else {
                        "give exactly one of password, password_file and password_env"
                    },
                ));
            }
            if r.password_env
                .as_deref()
                .is_some_and(|v| v.is_empty() || v.contains('='))
            {
                return Err(ConfigError::invalid(
                    "receiver.password_env",
                    "must name an environment variable",
                ));
            }
            if r.protocol == Protocol::Ftps && r.ca_file.is_none() {
                return Err(ConfigError::invalid(
                    "receiver.ca_file",
                    "is required for ftps: the PEM of the authority that signs the server's certificate (/etc/ssl/certs/ca-certificates.crt for a public one)",
                ));
            }
            if sftp {
                validate_sftp(r)?;
            } else {
                // Set on an FTP receiver, these would look like protection that is not there.
                for (field, set) in [
                    ("receiver.key_file", r.key_file.is_some()),
                    ("receiver.known_hosts", r.known_hosts.is_some()),
                    ("receiver.host_key_sha256", r.host_key_sha256.is_some()),
                ] {
                    if set {
                        return Err(ConfigError::invalid(field, "is for sftp receivers only"));
                    }
                }
            }
            if r.timeout_s == 0 || r.timeout_s > 600 {
                return Err(ConfigError::invalid("receiver.timeout_s", "must be 1 to 600"));
            }
        }
        Ok(())
    }
}

/// The SFTP receiver's own rules: a way to log in and a way to trust the server's host key.
fn validate_sftp(r: &ReceiverConfig) -> Result<(), ConfigError> {
    if r.key_file.is_none() && r.password.is_none() && r.password_file.is_none() && r.password_env.is_none() {
        return Err(ConfigError::invalid(
            "receiver.key_file",
            "sftp needs key_file (a private key in OpenSSH format), password or password_file",
        ));
    }
    if r.known_hosts.is_none() && r.host_key_sha256.is_none() {
        return Err(ConfigError::invalid(
            "receiver.known_hosts",
            "sftp needs known_hosts (a file in OpenSSH format) or host_key_sha256 (SHA256:... as ssh-keygen -l prints it): the server's host key is always checked",
        ));
    }
    if let Some(pin) = &r.host_key_sha256 {
        parse_sha256_fingerprint(pin).map_err(|e| ConfigError::invalid("receiver.host_key_sha256", e))?;
    }
    if r.ca_file.is_some() {
        return Err(ConfigError::invalid(
            "receiver.ca_file",
            "is for ftps; sftp trusts the host key in known_hosts or host_key_sha256",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_valid_and_errors_name_the_field() {
        let config = service::config::from_toml::<Config>(DEFAULT_CONFIG).expect("example config is valid");
        assert_eq!(config.files.interval_s, 300);
        for (from, to, field) in [
            ("interval_s = 300", "interval_s = 7", "files.interval_s"),
            ("\"Asia/Ho_Chi_Minh\"", "\"Mekong/Delta\"", "files.time_zone"),
            (
                "{province}_{facility}_{station}_{time}.txt",
                "{province}.txt",
                "files.file_name",
            ),
            (
                "\"{station}/{yyyy}/{MM}/{dd}\"",
                "\"../{station}\"",
                "files.folder",
            ),
            ("keep_days = 60", "keep_days = 0", "outbox.keep_days"),
        ] {
            let bad = DEFAULT_CONFIG.replace(from, to);
            assert_ne!(bad, DEFAULT_CONFIG, "{from}");
            let err = service::config::from_toml::<Config>(&bad)
                .expect_err(field)
                .to_string();
            assert!(err.contains(field), "{err}");
        }
        let unknown = format!("{DEFAULT_CONFIG}\n[parameters.pm25]\nsymbol = \"PM25\"\n");
        let err = service::config::from_toml::<Config>(&unknown)
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("pm25") && err.contains("pm2_5"), "{err}");
    }

    #[test]
    fn sftp_receivers_need_a_login_and_a_host_key_and_errors_name_the_field() {
        let receiver = |fields: &str| {
            format!(
                "{DEFAULT_CONFIG}\n[[receiver]]\nname = \"stnmt\"\nprotocol = \"sftp\"\nhost = \"sftp.example.vn\"\nusername = \"haugiang\"\n{fields}\n"
            )
        };
        let pin = "host_key_sha256 = \"SHA256:tMQ+sUzRYKg8xo1nTh3EIwIl8To6/qmHgI7+LVWBWFo\"";
        let config = service::config::from_toml::<Config>(&receiver(&format!(
            "key_file = \"/etc/citysense/id_ed25519\"\n{pin}"
        )))
        .expect("key and pin are enough");
        assert_eq!(config.receivers[0].port(), 22);
        for (fields, field) in [
            (pin.to_owned(), "receiver.key_file"),
            ("key_file = \"/k\"".to_owned(), "receiver.known_hosts"),
            (
                "key_file = \"/k\"\nhost_key_sha256 = \"tMQ+sUzRYKg8xo1nTh3EIwIl8To6\"".to_owned(),
                "receiver.host_key_sha256",
            ),
            (
                format!("password = \"a\"\npassword_file = \"/p\"\n{pin}"),
                "receiver.password",
            ),
            (
                format!("key_file = \"/k\"\nca_file = \"/ca.pem\"\n{pin}"),
                "receiver.ca_file",
            ),
        ] {
            let err = service::config::from_toml::<Config>(&receiver(&fields))
                .expect_err(field)
                .to_string();
            assert!(err.contains(field), "{fields}: {err}");
        }
        let ftp_with_pin = receiver(&format!("password = \"a\"\n{pin}")).replace("\"sftp\"", "\"ftp\"");
        let err = service::config::from_toml::<Config>(&ftp_with_pin)
            .expect_err("pin on ftp")
            .to_string();
        assert!(err.contains("receiver.host_key_sha256"), "{err}");
    }
}
