//! `[quality]`: the QC rules' configs and the co-location fit's limits, each section with its
//! defaults (and their sources) in its rule's file.

use serde::{Deserialize, Serialize};
use service::config::{ConfigError, Validate};

use super::calibration::CalibrationConfig;
use super::correction::CorrectionConfig;
use super::rules::{NeighbourConfig, RangeConfig, SensorLimitsConfig, SpikeConfig, StuckConfig};

/// The `[quality]` section. Every subsection may be left out for its defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityConfig {
    /// How often a station sends a reading, seconds: coverage expects one per interval.
    /// Default 60, the firmware's reporting interval.
    #[serde(default = "default_report_interval_s")]
    pub report_interval_s: u32,
    /// `[quality.range]`: physical range per parameter (`range` flag).
    #[serde(default)]
    pub range: RangeConfig,
    /// `[quality.stuck]`: repeating values (`stuck` flag).
    #[serde(default)]
    pub stuck: StuckConfig,
    /// `[quality.spike]`: the Hampel identifier (`spike` flag).
    #[serde(default)]
    pub spike: SpikeConfig,
    /// `[quality.sensor_limits]`: RH and T at an air station's sensor (`rh_limit`, `t_limit`).
    #[serde(default)]
    pub sensor_limits: SensorLimitsConfig,
    /// `[quality.neighbour]`: the district's median (`neighbour` flag).
    #[serde(default)]
    pub neighbour: NeighbourConfig,
    /// `[quality.calibration]`: how much co-location data a fit needs.
    #[serde(default)]
    pub calibration: CalibrationConfig,
    /// `[quality.correction]`: which PM2.5 the indices and alerts use.
    #[serde(default)]
    pub correction: CorrectionConfig,
}

fn default_report_interval_s() -> u32 {
    60
}

impl Default for QualityConfig {
    fn default() -> Self {
        QualityConfig {
            report_interval_s: default_report_interval_s(),
            range: RangeConfig::default(),
            stuck: StuckConfig::default(),
            spike: SpikeConfig::default(),
            sensor_limits: SensorLimitsConfig::default(),
            neighbour: NeighbourConfig::default(),
            calibration: CalibrationConfig::default(),
            correction: CorrectionConfig::default(),
        }
    }
}

impl Validate for QualityConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=3_600).contains(&self.report_interval_s) {
            return Err(ConfigError::invalid(
                "quality.report_interval_s",
                "must be between 1 and 3600 seconds",
            ));
        }
        self.range.validate()?;
        self.stuck.validate()?;
        self.spike.validate()?;
        self.sensor_limits.validate()?;
        self.neighbour.validate()?;
        self.calibration.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_is_every_default() {
        let config = service::config::from_toml::<QualityConfig>("").expect("defaults are valid");
        assert_eq!(config, QualityConfig::default());
    }

    #[test]
    fn a_typo_anywhere_is_refused_and_a_bad_value_names_its_field() {
        assert!(service::config::from_toml::<QualityConfig>("[spikes]\nk = 3.0").is_err());
        assert!(service::config::from_toml::<QualityConfig>("[spike]\nkk = 3.0").is_err());
        let err = service::config::from_toml::<QualityConfig>("[spike]\nwindow = 2")
            .expect_err("refused")
            .to_string();
        assert!(err.contains("quality.spike.window"), "{err}");
    }

    #[test]
    fn a_full_section_parses() {
        let text = r#"
            [range]
            enabled = true
            air = { pm2_5 = { min = 0, max = 600 } }
            [stuck]
            repeats = 20
            window_s = 7200
            skip = ["pressure"]
            [spike]
            window = 9
            k = 3.5
            [sensor_limits]
            rh_max_percent = 99.0
            [neighbour]
            params = ["pm2_5", "pm10"]
            [calibration]
            min_pairs = 48
        "#;
        let config = service::config::from_toml::<QualityConfig>(text).expect("valid");
        assert_eq!(config.stuck.repeats, 20);
        assert_eq!(config.spike.window, 9);
        assert_eq!(config.calibration.min_pairs, 48);
    }
}
