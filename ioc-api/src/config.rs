//! The IOC API's configuration: a TOML file, validated before anything starts.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use service::config::{ConfigError, Validate};
pub use service::mqtt::MqttConfig;

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

impl Validate for Config {
    /// Checks values that parse but cannot work.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, problem| Err(ConfigError::invalid(field, problem));
        self.mqtt.validate()?;
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
        let config = service::config::from_toml::<Config>(DEFAULT_CONFIG).expect("example is valid");
        assert_eq!(config.rules.pm2_5.window_s, 3_600);
    }

    #[test]
    fn errors_name_the_field() {
        let bad = DEFAULT_CONFIG.replace("min_coverage = 0.75", "min_coverage = 1.5");
        let err = service::config::from_toml::<Config>(&bad)
            .expect_err("bad coverage")
            .to_string();
        assert!(err.contains("rules.pm2_5.min_coverage"), "{err}");
        let typo = DEFAULT_CONFIG.replace("offline_after_s", "offline_after");
        let err = service::config::from_toml::<Config>(&typo)
            .expect_err("typo")
            .to_string();
        assert!(err.contains("offline_after"), "{err}");
    }
}
