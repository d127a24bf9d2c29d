//! Physical range: a value outside what the parameter (or its sensor) can be is flagged
//! `range`, and so is a value that is not a number.
//!
//! Design: the defaults are the measuring spans of the sensors the frame format describes
//! (protocol `AirSample` / `WaterSample`), so a value outside one cannot be a measurement;
//! tighter, climatological limits are site knowledge an operator sets per parameter. Frames are
//! already refused outside the wire's span, so by default the rule catches what reaches the IOC
//! by other ways: a corrected PM value below 0 (the reference's "negative values" flag, see
//! `quality::epa_pm25`), a laboratory result posted through the API, and any tightened span.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use service::config::ConfigError;

use super::yes;
use crate::live::Param;

/// An inclusive range of plausible values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// Lowest plausible value, in the parameter's unit.
    pub min: f64,
    /// Highest plausible value, in the parameter's unit.
    pub max: f64,
}

impl Span {
    const fn new(min: f64, max: f64) -> Span {
        Span { min, max }
    }

    /// True if `value` is a number within the span.
    pub fn contains(&self, value: f64) -> bool {
        value >= self.min && value <= self.max
    }
}

/// The default span of a parameter at an air (`water == false`) or water station; `None` for a
/// parameter that kind of station does not measure (or that has no natural bound).
pub fn default_span(param: Param, water: bool) -> Option<Span> {
    use Param::*;
    Some(match (param, water) {
        // PMS5003 stated maximum (protocol/src/body/air.rs); below 0 is the reference's
        // "negative values" flag.
        (Pm1_0 | Pm2_5 | Pm10, false) => Span::new(0.0, 1000.0),
        // The air sensors' span (SHT3x/SHT4x and BME280 as the frame format states it).
        (Temperature, false) => Span::new(-40.0, 85.0),
        // Relative humidity's definition; SHT4x output is clamped there (domain.md §7.3).
        (Humidity, false) => Span::new(0.0, 100.0),
        // BME280 span (protocol/src/body/air.rs).
        (Pressure, false) => Span::new(300.0, 1100.0),
        // The frame's span, about 1 750 ppm (protocol/src/body/air.rs).
        (Co, false) => Span::new(0.0, 2_000_000.0),
        // The frame's span (a u16 in 0.1 µg/m³); tighten to the cell's span.
        (No2 | So2 | O3, false) => Span::new(0.0, 6553.5),
        // The pH scale (protocol/src/body/water.rs).
        (Ph, true) => Span::new(0.0, 14.0),
        // The frame's span (protocol/src/body/water.rs).
        (DissolvedOxygen, true) => Span::new(0.0, 50.0),
        // The Atlas EZO-EC span (protocol/src/body/water.rs).
        (Conductivity, true) => Span::new(0.0, 500_000.0),
        // The water probes' span (protocol/src/body/water.rs).
        (Temperature, true) => Span::new(-5.0, 50.0),
        // The frame's span (protocol/src/body/water.rs); the DFRobot SEN0189 saturates at
        // 3000 NTU (domain.md §7.4).
        (Turbidity, true) => Span::new(0.0, 4000.0),
        // The frame's span; a gauge's real bounds depend on its datum.
        (WaterLevel, true) => Span::new(-20.0, 20.0),
        // PSS-78 is valid up to 42 (domain.md, practical salinity); above it is extrapolation.
        (Salinity, true) => Span::new(0.0, 42.0),
        _ => return None,
    })
}

/// `[quality.range]`: physical range per parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeConfig {
    /// Flag values outside their parameter's span. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Spans for air stations' parameters that replace the defaults, by field name:
    /// `pm2_5 = { min = 0, max = 500 }`. Parameters not named keep their default (see
    /// [`default_span`] for each default and its source).
    #[serde(default)]
    pub air: BTreeMap<Param, Span>,
    /// Spans for water stations' parameters that replace the defaults, as `air`.
    #[serde(default)]
    pub water: BTreeMap<Param, Span>,
}

impl Default for RangeConfig {
    fn default() -> Self {
        RangeConfig {
            enabled: true,
            air: BTreeMap::new(),
            water: BTreeMap::new(),
        }
    }
}

impl RangeConfig {
    /// The span in force for `param` at an air or water station.
    pub fn span(&self, param: Param, water: bool) -> Option<Span> {
        let overrides = if water { &self.water } else { &self.air };
        overrides
            .get(&param)
            .copied()
            .or_else(|| default_span(param, water))
    }

    /// True if `value` is to be flagged `range`: not a number, or outside the span in force.
    pub fn out_of_range(&self, param: Param, water: bool, value: f64) -> bool {
        if !self.enabled {
            return false;
        }
        if !value.is_finite() {
            return true;
        }
        self.span(param, water).is_some_and(|span| !span.contains(value))
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (field, water, spans) in [
            ("quality.range.air", false, &self.air),
            ("quality.range.water", true, &self.water),
        ] {
            let (kind, measured) = Param::measurement(water);
            for (param, span) in spans {
                if !measured.contains(param) {
                    return Err(ConfigError::invalid(
                        field,
                        format!("names {}, which {kind} points do not carry", param.as_str()),
                    ));
                }
                if !(span.min.is_finite() && span.max.is_finite() && span.min < span.max) {
                    return Err(ConfigError::invalid(
                        field,
                        format!("{}: min must be below max, both numbers", param.as_str()),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_inside_the_span_pass_and_outside_are_flagged() {
        let config = RangeConfig::default();
        let series = [0.0, 12.3, 999.9, 1000.0];
        assert!(
            series
                .iter()
                .all(|v| !config.out_of_range(Param::Pm2_5, false, *v))
        );
        let bad = [-0.1, 1000.1, f64::NAN, f64::INFINITY];
        assert!(bad.iter().all(|v| config.out_of_range(Param::Pm2_5, false, *v)));
    }

    #[test]
    fn the_station_kind_chooses_the_span() {
        let config = RangeConfig::default();
        // 60 °C is a hot air sensor but no river.
        assert!(!config.out_of_range(Param::Temperature, false, 60.0));
        assert!(config.out_of_range(Param::Temperature, true, 60.0));
        assert!(config.out_of_range(Param::Salinity, true, 43.0));
    }

    #[test]
    fn every_measured_parameter_has_a_default_span() {
        for water in [false, true] {
            for param in Param::measurement(water).1 {
                let span = default_span(*param, water).expect("a default span");
                assert!(span.min < span.max, "{param:?}");
            }
        }
    }

    #[test]
    fn an_override_replaces_one_default_and_keeps_the_rest() {
        let config: RangeConfig = toml::from_str("[air]\npm2_5 = { min = 0, max = 500 }\n").expect("parses");
        config.validate().expect("valid");
        assert!(config.out_of_range(Param::Pm2_5, false, 600.0));
        assert!(!config.out_of_range(Param::Pm10, false, 600.0));
    }

    #[test]
    fn bad_overrides_are_refused_with_the_field() {
        let typo = toml::from_str::<RangeConfig>("[air]\npm25 = { min = 0, max = 5 }\n");
        assert!(typo.is_err());
        let unknown = toml::from_str::<RangeConfig>("[air]\npm2_5 = { min = 0, maximum = 5 }\n");
        assert!(unknown.is_err());
        let inverted: RangeConfig = toml::from_str("[air]\npm2_5 = { min = 5, max = 0 }\n").expect("parses");
        let err = inverted.validate().expect_err("refused").to_string();
        assert!(
            err.contains("quality.range.air") && err.contains("pm2_5"),
            "{err}"
        );
        let wrong_kind: RangeConfig =
            toml::from_str("[water]\nhumidity = { min = 0, max = 5 }\n").expect("parses");
        assert!(wrong_kind.validate().is_err());
    }

    #[test]
    fn disabled_flags_nothing() {
        let config = RangeConfig {
            enabled: false,
            ..RangeConfig::default()
        };
        assert!(!config.out_of_range(Param::Pm2_5, false, -5.0));
    }
}
