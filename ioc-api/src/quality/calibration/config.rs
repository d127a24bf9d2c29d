//! `[quality.calibration]`: how much co-location data a fit needs.

use serde::{Deserialize, Serialize};
use service::config::ConfigError;

/// `[quality.calibration]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationConfig {
    /// Fewer pairs than this and the fit is refused. Default 24, one day of hourly means: the
    /// floor, not the aim; the US EPA's performance targets for PM2.5 sensors (Duvall et al.
    /// 2021, EPA/600/R-20/280) ask for at least 30 days side by side.
    #[serde(default = "default_min_pairs")]
    pub min_pairs: usize,
    /// A piecewise fit is refused when a segment holds fewer pairs than this. Default 12 (half a
    /// day of hourly means), so no segment's slope rests on a handful of hours.
    #[serde(default = "default_min_pairs_per_segment")]
    pub min_pairs_per_segment: usize,
    /// Most breakpoints a piecewise fit may have. Default 4, as many as the EPA correction's
    /// own equation has (30, 50, 210, 260 µg/m³).
    #[serde(default = "default_max_breakpoints")]
    pub max_breakpoints: usize,
}

fn default_min_pairs() -> usize {
    24
}

fn default_min_pairs_per_segment() -> usize {
    12
}

fn default_max_breakpoints() -> usize {
    4
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        CalibrationConfig {
            min_pairs: default_min_pairs(),
            min_pairs_per_segment: default_min_pairs_per_segment(),
            max_breakpoints: default_max_breakpoints(),
        }
    }
}

impl CalibrationConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        // A line through two points has no residual to judge it by.
        if self.min_pairs < 3 {
            return Err(ConfigError::invalid(
                "quality.calibration.min_pairs",
                "must be at least 3",
            ));
        }
        if self.min_pairs_per_segment < 2 {
            return Err(ConfigError::invalid(
                "quality.calibration.min_pairs_per_segment",
                "must be at least 2",
            ));
        }
        if self.max_breakpoints > 16 {
            return Err(ConfigError::invalid(
                "quality.calibration.max_breakpoints",
                "must be at most 16",
            ));
        }
        Ok(())
    }
}
