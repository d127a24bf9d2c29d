//! Conditions at the sensor: relative humidity above 100 % (`rh_limit`) or temperature above
//! 65 °C (`t_limit`) at an air station mark every value of that reading.
//!
//! Source: the shared reference `vn-transmission.md`, "Low-cost PM sensors: correction and QA":
//! "drop T > 65 °C or RH > 100 %" (the PurpleAir cleaning that Barkjohn et al. 2021 and the
//! AirSensor/OpenAQ tooling apply). A humidity sensor reading above saturation, or a housing
//! hotter than any weather, means the sensors that share it are not measuring the air either;
//! the record is dropped whole, so every value of it is flagged.
//!
//! Water stations carry no humidity and their temperature is the water's, so the rule applies
//! to air stations only.

use serde::{Deserialize, Serialize};
use service::config::ConfigError;

use super::yes;
use crate::quality::flags::{QcFlag, QcFlags};

/// `[quality.sensor_limits]`: RH and T at an air station's sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorLimitsConfig {
    /// Flag readings taken beyond these limits. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Relative humidity (%) above which the reading is flagged `rh_limit`. Default 100
    /// (vn-transmission.md, "drop … RH > 100 %").
    #[serde(default = "default_rh_max")]
    pub rh_max_percent: f64,
    /// Temperature (°C) above which the reading is flagged `t_limit`. Default 65
    /// (vn-transmission.md, "drop T > 65 °C").
    #[serde(default = "default_t_max")]
    pub t_max_celsius: f64,
}

fn default_rh_max() -> f64 {
    100.0
}

fn default_t_max() -> f64 {
    65.0
}

impl Default for SensorLimitsConfig {
    fn default() -> Self {
        SensorLimitsConfig {
            enabled: true,
            rh_max_percent: default_rh_max(),
            t_max_celsius: default_t_max(),
        }
    }
}

impl SensorLimitsConfig {
    /// The flags for every value of an air reading with this humidity and temperature (either
    /// may be absent). Strictly above a limit trips it: 100.0 % is saturated air, not an error.
    pub fn check(&self, humidity: Option<f64>, temperature: Option<f64>) -> QcFlags {
        let mut flags = QcFlags::empty();
        if self.enabled {
            flags.set_if(
                QcFlag::RhLimit,
                humidity.is_some_and(|rh| rh > self.rh_max_percent),
            );
            flags.set_if(
                QcFlag::TLimit,
                temperature.is_some_and(|t| t > self.t_max_celsius),
            );
        }
        flags
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.rh_max_percent.is_finite() {
            return Err(ConfigError::invalid(
                "quality.sensor_limits.rh_max_percent",
                "must be a number",
            ));
        }
        if !self.t_max_celsius.is_finite() {
            return Err(ConfigError::invalid(
                "quality.sensor_limits.t_max_celsius",
                "must be a number",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saturated_or_hot_sensor_trips_its_flag() {
        let config = SensorLimitsConfig::default();
        let tripping = [
            (Some(100.5), Some(30.0)),
            (Some(60.0), Some(65.1)),
            (Some(101.0), Some(70.0)),
        ];
        let flags: Vec<String> = tripping
            .iter()
            .map(|(rh, t)| config.check(*rh, *t).to_string())
            .collect();
        assert_eq!(flags, ["rh_limit", "t_limit", "rh_limit,t_limit"]);
    }

    #[test]
    fn humid_hot_weather_within_the_limits_does_not() {
        let config = SensorLimitsConfig::default();
        let series = [
            (Some(100.0), Some(41.0)),
            (Some(98.5), Some(65.0)),
            (None, None),
            (Some(0.0), Some(-10.0)),
        ];
        assert!(series.iter().all(|(rh, t)| config.check(*rh, *t).is_empty()));
    }

    #[test]
    fn the_limits_are_configurable() {
        let config: SensorLimitsConfig = toml::from_str("t_max_celsius = 55.0").expect("parses");
        assert_eq!(config.rh_max_percent, 100.0);
        assert_eq!(config.check(None, Some(60.0)).to_string(), "t_limit");
        assert!(toml::from_str::<SensorLimitsConfig>("t_max = 55.0").is_err());
    }
}
