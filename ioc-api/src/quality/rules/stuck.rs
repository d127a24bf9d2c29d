//! Stuck value: the same value, consecutive, `repeats` times, or unchanged (zero variance) for
//! a whole `window_s`, is flagged `stuck` from that value on until it changes.
//!
//! Source: the reference's QA list ("flag stuck (repeating) values", vn-transmission.md) and the
//! flat-line test of IOOS QARTOD (U.S. IOOS 2015, *Manual for Real-Time Quality Control of In-situ
//! Temperature and Salinity Data* v2.0, doi:10.7289/V5V40SD4): a count of repeats within a
//! tolerance, whose thresholds QARTOD leaves to local expert judgement. The time window is the
//! same test counted in time, so a slow-reporting station is judged on how long it has been
//! flat rather than on how many reports it sent.
//!
//! Design: one run (last value, length, start time) per parameter instead of the window's
//! values: "all values in the last `window_s` are equal" is "the current run of equal values
//! started at least `window_s` ago", so the memory is a few bytes at any reporting rate.
//!
//! Defaults are chosen for this system's one-minute means (simulators' and firmware's
//! reporting interval): 30 identical one-minute means is half an hour with no change of even
//! one resolution step, which a working optical or electrochemical sensor does not produce;
//! pressure (0.1 hPa) and water level (1 mm) legitimately stay flat that long and are skipped.

use serde::{Deserialize, Serialize};
use service::config::ConfigError;

use super::yes;
use crate::live::Param;

/// `[quality.stuck]`: repeating values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StuckConfig {
    /// Flag stuck values. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// This many consecutive equal values are stuck (the QARTOD flat-line count); 0 turns the
    /// count off. Default 30 (half an hour of one-minute means, see the module doc).
    #[serde(default = "default_repeats")]
    pub repeats: u32,
    /// Values unchanged for this many seconds are stuck (zero variance over the window); 0 turns
    /// the window off. Default 3600 (an hour).
    #[serde(default = "default_window_s")]
    pub window_s: u64,
    /// The window test needs at least this many equal values (so two hourly reports that agree
    /// are not yet a flat line). Default 3 (QARTOD's smallest "suspect" count in its examples).
    #[serde(default = "default_min_values")]
    pub min_values: u32,
    /// Values within this many steps of the parameter's resolution count as equal. Default 0:
    /// only the identical value at the sensor's resolution.
    #[serde(default)]
    pub tolerance_steps: u32,
    /// Whether a run of zeros is stuck. Default false: a gas cell or PM sensor in clean air
    /// reads 0 for long stretches (the frame clips negative readings to 0), and flagging those
    /// would leave the cleanest hours out of the indices. A dead sensor that reads 0 is left to
    /// the neighbour check.
    #[serde(default)]
    pub flag_zero_runs: bool,
    /// Parameters not checked. Default `["pressure", "water_level"]`, which stay flat at their
    /// resolution (0.1 hPa, 1 mm) for hours in calm weather and still water.
    #[serde(default = "default_skip")]
    pub skip: Vec<Param>,
}

fn default_repeats() -> u32 {
    30
}

fn default_window_s() -> u64 {
    3_600
}

fn default_min_values() -> u32 {
    3
}

fn default_skip() -> Vec<Param> {
    vec![Param::Pressure, Param::WaterLevel]
}

impl Default for StuckConfig {
    fn default() -> Self {
        StuckConfig {
            enabled: true,
            repeats: default_repeats(),
            window_s: default_window_s(),
            min_values: default_min_values(),
            tolerance_steps: 0,
            flag_zero_runs: false,
            skip: default_skip(),
        }
    }
}

impl StuckConfig {
    /// Whether the rule checks `param`.
    pub fn applies_to(&self, param: Param) -> bool {
        self.enabled && !self.skip.contains(&param)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled && self.repeats == 0 && self.window_s == 0 {
            return Err(ConfigError::invalid(
                "quality.stuck",
                "repeats and window_s are both 0: set one, or enabled = false",
            ));
        }
        if self.repeats == 1 {
            return Err(ConfigError::invalid(
                "quality.stuck.repeats",
                "must be at least 2 (one value is not a repeat), or 0 for off",
            ));
        }
        Ok(())
    }
}

/// One parameter's current run of equal values.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct StuckState {
    /// The run's value; meaningless while `run` is 0.
    value: f64,
    /// Values in the run (0 before the first value).
    run: u32,
    /// Node time of the run's first value, ms.
    since_ms: u64,
}

impl StuckState {
    /// Adds `value` (in steps of `step`, the parameter's resolution) observed at `at_ms`, in
    /// time order, and says whether it is stuck.
    pub fn push(&mut self, config: &StuckConfig, step: f64, at_ms: u64, value: f64) -> bool {
        // Half a step absorbs the float error of values that are whole steps.
        let tolerance = (f64::from(config.tolerance_steps) + 0.5) * step;
        if self.run > 0 && (value - self.value).abs() < tolerance {
            self.run = self.run.saturating_add(1);
        } else {
            *self = StuckState {
                value,
                run: 1,
                since_ms: at_ms,
            };
        }
        if !config.flag_zero_runs && value.abs() < 0.5 * step {
            return false;
        }
        let by_count = config.repeats >= 2 && self.run >= config.repeats;
        let by_window = config.window_s > 0
            && self.run >= config.min_values.max(2)
            && at_ms.saturating_sub(self.since_ms) >= config.window_s.saturating_mul(1_000);
        by_count || by_window
    }

    /// Values in the current run.
    pub fn run(&self) -> u32 {
        self.run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    /// Feeds `values` one a minute; the indices flagged stuck.
    fn flagged(config: &StuckConfig, step: f64, every_ms: u64, values: &[f64]) -> Vec<usize> {
        let mut state = StuckState::default();
        (0..values.len())
            .filter(|&i| state.push(config, step, i as u64 * every_ms, values[i]))
            .collect()
    }

    #[test]
    fn thirty_identical_means_are_stuck_from_the_thirtieth_until_it_changes() {
        let mut values = vec![21.3; 35];
        values.push(21.4);
        let got = flagged(&StuckConfig::default(), 0.1, MINUTE, &values);
        assert_eq!(got, (29..35).collect::<Vec<_>>());
    }

    #[test]
    fn a_slowly_varying_series_with_short_repeats_is_not() {
        // Repeats of up to 5, as a real one-minute mean series has at its resolution.
        let values: Vec<f64> = (0..300).map(|i| 20.0 + f64::from((i / 5) % 7) * 0.1).collect();
        assert!(flagged(&StuckConfig::default(), 0.1, MINUTE, &values).is_empty());
    }

    #[test]
    fn a_slow_station_is_caught_by_the_window() {
        // One report every 20 minutes: an hour flat is 4 values, far below the count.
        let values = [5.0, 7.2, 7.2, 7.2, 7.2, 7.2];
        let got = flagged(&StuckConfig::default(), 0.1, 20 * MINUTE, &values);
        assert_eq!(got, [4, 5]);
    }

    #[test]
    fn zeros_are_not_stuck_unless_asked() {
        let zeros = vec![0.0; 100];
        assert!(flagged(&StuckConfig::default(), 0.1, MINUTE, &zeros).is_empty());
        let config = StuckConfig {
            flag_zero_runs: true,
            ..StuckConfig::default()
        };
        assert_eq!(flagged(&config, 0.1, MINUTE, &zeros).first(), Some(&29));
    }

    #[test]
    fn tolerance_counts_near_values_as_equal() {
        let values: Vec<f64> = (0..40).map(|i| if i % 2 == 0 { 3.0 } else { 3.1 }).collect();
        assert!(flagged(&StuckConfig::default(), 0.1, MINUTE, &values).is_empty());
        let config = StuckConfig {
            tolerance_steps: 1,
            ..StuckConfig::default()
        };
        assert_eq!(flagged(&config, 0.1, MINUTE, &values).first(), Some(&29));
    }

    #[test]
    fn config_defaults_skip_and_validation() {
        let config: StuckConfig = toml::from_str("repeats = 10").expect("parses");
        assert_eq!(config.window_s, 3_600);
        assert!(!config.applies_to(Param::Pressure));
        assert!(config.applies_to(Param::Pm2_5));
        let off: StuckConfig = toml::from_str("repeats = 0\nwindow_s = 0").expect("parses");
        assert!(off.validate().is_err());
        assert!(toml::from_str::<StuckConfig>("repeat = 10").is_err());
    }
}
