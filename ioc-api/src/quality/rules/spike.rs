//! Spike: a value far from the median of the station's own previous values is flagged
//! `spike` (the Hampel identifier).
//!
//! Source: the reference's QA list ("spikes (Hampel filter)", vn-transmission.md). The
//! identifier is Hampel's (F. R. Hampel 1974, "The influence curve and its role in robust
//! estimation", JASA 69:383) as R. K. Pearson applies it to time series ("Outliers in process
//! modeling and identification", IEEE Trans. Control Syst. Technol. 10:55, 2002): a value `x`
//! is an outlier when `|x − median| > k · 1.4826 · MAD` over a moving window, with `k = 3` the
//! robust form of the three-sigma edit rule.
//!
//! The defaults are MazamaScience/AirSensor's for low-cost PM sensors (`flagOutliers`, and
//! `pat_qaqc_outliercounts`: `windowSize = 23`, `thresholdMin = 8`), not Pearson's textbook
//! `7` and `3`: over a trailing window of 7 the MAD itself is too noisy, and `k = 3` flagged
//! about one value in sixty of a working sensor's one-minute means in our whole-path test.
//!
//! Design: a trailing window (the previous `window` values), not Pearson's centred one, since
//! the live path must decide when the value arrives; the price is that the first values of a
//! genuine step (a smoke plume arriving) are flagged until the window's median reaches the
//! new level, about `window / 2` values. Every value enters the window, flagged or not, so the
//! window does learn the new level; leaving flagged values out would flag a lasting step for
//! ever.
//!
//! Design: two floors under the threshold. `min_deviation_steps` steps of the parameter's
//! resolution: a window of equal values has MAD 0, and without a floor one resolution step would
//! be a spike. `min_deviation_percent` of the window's median: after a calm spell the MAD is a
//! few tenths, and a sensor at 300 µg/m³ moving 2 µg/m³ (under 1 %, well inside a PMS5003's
//! stated ±10 %) would be a spike.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use service::config::ConfigError;

use super::yes;
use crate::live::Param;
use crate::quality::stats::{MAD_TO_SIGMA, median_mad};

/// The largest window the state keeps, in values.
pub const MAX_WINDOW: usize = 31;

/// `[quality.spike]`: the Hampel identifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikeConfig {
    /// Flag spikes. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Previous values the median and MAD are taken over (3 to 31). Default 23 (AirSensor's
    /// `windowSize`).
    #[serde(default = "default_window")]
    pub window: usize,
    /// Threshold in robust standard deviations (1.4826 · MAD). Default 8 (AirSensor's
    /// `thresholdMin`; Pearson's textbook value is 3).
    #[serde(default = "default_k")]
    pub k: f64,
    /// The threshold is never below this many steps of the parameter's resolution (0.1 µg/m³
    /// for PM, 0.01 °C, ...). Default 20 (2 µg/m³ for PM, 0.2 °C): the smallest change that is
    /// more than the sensor's noise at its resolution.
    #[serde(default = "default_min_deviation_steps")]
    pub min_deviation_steps: u32,
    /// Nor below this percentage of the window's median. Default 5.
    #[serde(default = "default_min_deviation_percent")]
    pub min_deviation_percent: f64,
    /// A gap longer than this many seconds since the previous value empties the window, so a
    /// station back from an outage is not judged against the day before. Default 1800.
    #[serde(default = "default_max_gap_s")]
    pub max_gap_s: u64,
    /// Parameters not checked. Default none.
    #[serde(default)]
    pub skip: Vec<Param>,
}

fn default_window() -> usize {
    23
}

fn default_k() -> f64 {
    8.0
}

fn default_min_deviation_steps() -> u32 {
    20
}

fn default_min_deviation_percent() -> f64 {
    5.0
}

fn default_max_gap_s() -> u64 {
    1_800
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            enabled: true,
            window: default_window(),
            k: default_k(),
            min_deviation_steps: default_min_deviation_steps(),
            min_deviation_percent: default_min_deviation_percent(),
            max_gap_s: default_max_gap_s(),
            skip: Vec::new(),
        }
    }
}

impl SpikeConfig {
    /// Whether the rule checks `param`.
    pub fn applies_to(&self, param: Param) -> bool {
        self.enabled && !self.skip.contains(&param)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(3..=MAX_WINDOW).contains(&self.window) {
            return Err(ConfigError::invalid(
                "quality.spike.window",
                format!("must be 3 to {MAX_WINDOW} values"),
            ));
        }
        if !(0.0..=100.0).contains(&self.min_deviation_percent) {
            return Err(ConfigError::invalid(
                "quality.spike.min_deviation_percent",
                "must be between 0 and 100",
            ));
        }
        if !(self.k.is_finite() && self.k > 0.0) {
            return Err(ConfigError::invalid(
                "quality.spike.k",
                "must be a number above 0",
            ));
        }
        Ok(())
    }
}

/// One parameter's previous values, at most [`MAX_WINDOW`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HampelState {
    values: VecDeque<f64>,
    last_ms: Option<u64>,
}

impl HampelState {
    /// Adds `value` observed at `at_ms`, in time order, and says whether it is a spike against
    /// the window before it. Needs a full window before it flags anything.
    pub fn push(&mut self, config: &SpikeConfig, step: f64, at_ms: u64, value: f64) -> bool {
        let window = config.window.clamp(1, MAX_WINDOW);
        if self
            .last_ms
            .is_some_and(|last| at_ms.saturating_sub(last) > config.max_gap_s.saturating_mul(1_000))
        {
            self.values.clear();
        }
        self.last_ms = Some(at_ms);
        let spike = self.values.len() >= window && {
            let mut buf = [0.0; MAX_WINDOW];
            let buf = &mut buf[..self.values.len()];
            for (slot, v) in buf.iter_mut().zip(&self.values) {
                *slot = *v;
            }
            median_mad(buf).is_some_and(|(median, mad)| {
                let threshold = (config.k * MAD_TO_SIGMA * mad)
                    .max(f64::from(config.min_deviation_steps) * step)
                    .max(config.min_deviation_percent / 100.0 * median.abs());
                (value - median).abs() > threshold
            })
        };
        while self.values.len() >= window {
            self.values.pop_front();
        }
        self.values.push_back(value);
        spike
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;

    fn flagged(config: &SpikeConfig, step: f64, values: &[f64]) -> Vec<usize> {
        let mut state = HampelState::default();
        (0..values.len())
            .filter(|&i| state.push(config, step, i as u64 * MINUTE, values[i]))
            .collect()
    }

    /// A noisy PM2.5 series around 30 µg/m³ (deterministic "noise" of ±1.5).
    fn noisy(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 30.0 + [0.0, 1.2, -0.8, 0.5, -1.5, 0.9, -0.3][i % 7])
            .collect()
    }

    /// Pearson's textbook window and threshold, for the mechanics on short series.
    fn pearson() -> SpikeConfig {
        SpikeConfig {
            window: 7,
            k: 3.0,
            ..SpikeConfig::default()
        }
    }

    #[test]
    fn a_single_wild_value_is_a_spike() {
        let mut values = noisy(20);
        values[12] = 95.0;
        assert_eq!(flagged(&pearson(), 0.1, &values), [12]);
        // The defaults need a full window of 23 first, and a wilder value for their k = 8.
        let mut values = noisy(60);
        values[40] = 95.0;
        assert_eq!(flagged(&SpikeConfig::default(), 0.1, &values), [40]);
    }

    #[test]
    fn noise_and_a_ramp_are_not() {
        for config in [pearson(), SpikeConfig::default()] {
            assert!(flagged(&config, 0.1, &noisy(200)).is_empty());
            // Temperature rising 0.1 °C a minute after sunrise.
            let ramp: Vec<f64> = (0..120).map(|i| 24.0 + f64::from(i) * 0.1).collect();
            assert!(flagged(&config, 0.01, &ramp).is_empty());
        }
    }

    #[test]
    fn a_lasting_step_is_flagged_only_until_the_window_learns_it() {
        let mut values = noisy(10);
        values.extend(noisy(20).iter().map(|v| v + 100.0));
        let got = flagged(&pearson(), 0.1, &values);
        // The first half-window of the new level, then accepted.
        assert_eq!(got, [10, 11, 12, 13]);
        let mut values = noisy(30);
        values.extend(noisy(40).iter().map(|v| v + 100.0));
        assert_eq!(
            flagged(&SpikeConfig::default(), 0.1, &values),
            (30..42).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_flat_window_needs_more_than_one_step() {
        let mut values = vec![12.0; 25];
        values.push(12.1);
        values.push(14.5);
        assert_eq!(flagged(&SpikeConfig::default(), 0.1, &values), [26]);
    }

    #[test]
    fn a_long_gap_restarts_the_window() {
        let config = SpikeConfig::default();
        let mut state = HampelState::default();
        for i in 0..30 {
            assert!(!state.push(&config, 0.1, i * MINUTE, 20.0));
        }
        // Two hours later the air is different; no window to judge it against yet.
        assert!(!state.push(&config, 0.1, 130 * MINUTE, 80.0));
    }

    #[test]
    fn config_validation() {
        assert!(SpikeConfig::default().validate().is_ok());
        let wide: SpikeConfig = toml::from_str("window = 64").expect("parses");
        assert!(wide.validate().is_err());
        let zero_k: SpikeConfig = toml::from_str("k = 0.0").expect("parses");
        assert!(zero_k.validate().is_err());
        assert!(toml::from_str::<SpikeConfig>("width = 7").is_err());
    }
}
