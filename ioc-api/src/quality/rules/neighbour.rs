//! Neighbour check: a station's value far outside the median of its district's other stations
//! is flagged `neighbour`.
//!
//! Source: the reference's QA list ("stations far outside their neighbours (±3σ around the
//! neighbours' median)", vn-transmission.md). σ is estimated robustly, 1.4826 · MAD of the
//! neighbours' values (Leys et al. 2013, J. Exp. Soc. Psychol. 49:764; Hampel 1974), so one
//! broken neighbour moves neither the centre nor the spread: with the default minimum of three
//! neighbours the median and MAD survive one wild value among them.
//!
//! Design: the caller passes the neighbours' values (their latest readings, or hourly means,
//! of the same parameter); the rule keeps no state and knows no district.

use serde::{Deserialize, Serialize};
use service::config::ConfigError;

use super::yes;
use crate::live::Param;
use crate::quality::stats::{MAD_TO_SIGMA, median_mad};

/// `[quality.neighbour]`: the district's median.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeighbourConfig {
    /// Flag values far from the neighbours'. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Flag when the robust z-score exceeds this. Default 3 (the reference's ±3σ).
    #[serde(default = "default_z_max")]
    pub z_max: f64,
    /// Fewer other stations reporting the parameter than this: no verdict. Default 3 (the
    /// fewest whose median and MAD one wild neighbour cannot move).
    #[serde(default = "default_min_neighbours")]
    pub min_neighbours: usize,
    /// σ is never taken below this many steps of the parameter's resolution, so neighbours that
    /// happen to agree exactly do not make every difference infinite. Default 20 (2 µg/m³ for PM).
    #[serde(default = "default_min_sigma_steps")]
    pub min_sigma_steps: u32,
    /// Parameters checked. Default the air pollutants (`pm1_0`, `pm2_5`, `pm10`, `co`, `no2`,
    /// `so2`, `o3`), which the reference's rule is about; temperature, pressure (altitude),
    /// water level (each gauge's own datum) and the water parameters (a river's salinity and
    /// oxygen change along it) differ between neighbours for real.
    #[serde(default = "default_params")]
    pub params: Vec<Param>,
}

fn default_z_max() -> f64 {
    3.0
}

fn default_min_neighbours() -> usize {
    3
}

fn default_min_sigma_steps() -> u32 {
    20
}

fn default_params() -> Vec<Param> {
    vec![
        Param::Pm1_0,
        Param::Pm2_5,
        Param::Pm10,
        Param::Co,
        Param::No2,
        Param::So2,
        Param::O3,
    ]
}

impl Default for NeighbourConfig {
    fn default() -> Self {
        NeighbourConfig {
            enabled: true,
            z_max: default_z_max(),
            min_neighbours: default_min_neighbours(),
            min_sigma_steps: default_min_sigma_steps(),
            params: default_params(),
        }
    }
}

/// The robust z-score of `value` against `others`: `(value − median) / max(1.4826 · MAD,
/// min_sigma)`. Non-finite neighbours are ignored; `None` with fewer than `min_count` left.
pub fn robust_z(value: f64, others: &[f64], min_count: usize, min_sigma: f64) -> Option<f64> {
    let mut finite: Vec<f64> = others.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < min_count.max(1) {
        return None;
    }
    let (median, mad) = median_mad(&mut finite)?;
    let sigma = (MAD_TO_SIGMA * mad).max(min_sigma);
    if sigma > 0.0 {
        Some((value - median) / sigma)
    } else {
        // Identical neighbours and no floor: only an equal value is unremarkable.
        Some(if value == median {
            0.0
        } else {
            f64::INFINITY.copysign(value - median)
        })
    }
}

impl NeighbourConfig {
    /// Whether the rule checks `param`.
    pub fn applies_to(&self, param: Param) -> bool {
        self.enabled && self.params.contains(&param)
    }

    /// True if `value` of `param` is to be flagged against the other stations' `others`.
    pub fn check(&self, param: Param, value: f64, others: &[f64]) -> bool {
        if !self.applies_to(param) || !value.is_finite() {
            return false;
        }
        let min_sigma = f64::from(self.min_sigma_steps) * param.step();
        robust_z(value, others, self.min_neighbours, min_sigma).is_some_and(|z| z.abs() > self.z_max)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.z_max.is_finite() && self.z_max > 0.0) {
            return Err(ConfigError::invalid(
                "quality.neighbour.z_max",
                "must be a number above 0",
            ));
        }
        if self.min_neighbours < 2 {
            return Err(ConfigError::invalid(
                "quality.neighbour.min_neighbours",
                "must be at least 2: one station has no spread to judge by",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_station_far_above_its_district_is_flagged() {
        let config = NeighbourConfig::default();
        let district = [31.0, 28.5, 35.2, 30.1, 33.0];
        assert!(config.check(Param::Pm2_5, 80.0, &district));
        assert!(config.check(Param::Pm2_5, 2.0, &district));
    }

    #[test]
    fn a_station_within_the_spread_is_not_even_with_a_broken_neighbour() {
        let config = NeighbourConfig::default();
        // One neighbour reads 900; the median and MAD ignore it.
        let district = [31.0, 28.5, 35.2, 900.0, 33.0];
        for value in [26.0, 31.0, 38.0] {
            assert!(!config.check(Param::Pm2_5, value, &district), "{value}");
        }
    }

    #[test]
    fn too_few_neighbours_or_an_unchecked_parameter_give_no_verdict() {
        let config = NeighbourConfig::default();
        assert!(!config.check(Param::Pm2_5, 500.0, &[30.0, 31.0]));
        assert!(!config.check(Param::Pm2_5, 500.0, &[30.0, 31.0, f64::NAN]));
        assert!(!config.check(Param::Pressure, 700.0, &[1000.0, 1001.0, 1002.0]));
    }

    #[test]
    fn the_sigma_floor_keeps_agreeing_neighbours_from_flagging_small_differences() {
        let config = NeighbourConfig::default();
        let identical = [20.0, 20.0, 20.0, 20.0];
        // σ floor 2 µg/m³: 25 is z = 2.5, 27 is z = 3.5.
        assert!(!config.check(Param::Pm2_5, 25.0, &identical));
        assert!(config.check(Param::Pm2_5, 27.0, &identical));
        assert_eq!(robust_z(5.0, &identical, 3, 0.0), Some(f64::NEG_INFINITY));
        assert_eq!(robust_z(20.0, &identical, 3, 0.0), Some(0.0));
    }

    #[test]
    fn config_validation() {
        let config: NeighbourConfig = toml::from_str("params = [\"pm2_5\"]\nz_max = 4.0").expect("parses");
        assert!(config.validate().is_ok());
        assert!(!config.applies_to(Param::Pm10));
        let lonely: NeighbourConfig = toml::from_str("min_neighbours = 1").expect("parses");
        assert!(lonely.validate().is_err());
        assert!(toml::from_str::<NeighbourConfig>("params = [\"pm25\"]").is_err());
    }
}
