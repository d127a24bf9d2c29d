//! The PM2.5 rule: the rolling 1-hour mean above the national limit raises an alert, which
//! resolves when the mean falls back to the limit or below.
//!
//! QCVN 05:2023/BTNMT (Table 1) sets PM2.5 at 50 µg/Nm³ as a 24-hour mean, 45 µg/Nm³ from
//! 1 January 2026 (shared/reference/domain.md §4.1); it sets no 1-hour value. Using the 24-hour
//! limit against the 1-hour mean makes the alert an early warning: a station whose hourly mean
//! stays above it is on course to break the daily limit. The limit is configurable.
//! Thresholds with hysteresis, pending durations and per-station settings come with the full
//! alert lifecycle.

use serde::{Deserialize, Serialize};
use time::{Date, Month};

/// The QCVN 05:2023 24-hour PM2.5 limit in force on `day`, in µg/m³.
pub fn national_pm2_5_limit(day: Date) -> f64 {
    // Table 1's footnote: 50 until the end of 2025, 45 from 2026-01-01.
    match Date::from_calendar_date(2026, Month::January, 1) {
        Ok(change) if day >= change => 45.0,
        _ => 50.0,
    }
}

/// Settings of the PM2.5 rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pm25Rule {
    /// Trigger level for the rolling mean, µg/m³; `None` uses the national limit in force today.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Span of the rolling mean in seconds.
    #[serde(default = "default_window_s")]
    pub window_s: u64,
    /// Fraction of the window the data must cover before the mean counts (0.75: the common
    /// completeness rule for hourly means).
    #[serde(default = "default_min_coverage")]
    pub min_coverage: f64,
}

fn default_window_s() -> u64 {
    3_600
}
fn default_min_coverage() -> f64 {
    0.75
}

impl Default for Pm25Rule {
    fn default() -> Self {
        Pm25Rule {
            threshold: None,
            window_s: default_window_s(),
            min_coverage: default_min_coverage(),
        }
    }
}

impl Pm25Rule {
    /// The trigger level in force on `today`.
    pub fn threshold_on(&self, today: Date) -> f64 {
        self.threshold.unwrap_or_else(|| national_pm2_5_limit(today))
    }

    /// Window span in ms.
    pub fn window_ms(&self) -> u64 {
        self.window_s * 1_000
    }

    /// The span the data must cover, in ms.
    pub fn min_span_ms(&self) -> u64 {
        (self.window_ms() as f64 * self.min_coverage) as u64
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn national_limit_tightens_in_2026() {
        assert_eq!(national_pm2_5_limit(date!(2025 - 12 - 31)), 50.0);
        assert_eq!(national_pm2_5_limit(date!(2026 - 01 - 01)), 45.0);
        assert_eq!(Pm25Rule::default().threshold_on(date!(2026 - 11 - 26)), 45.0);
        let fixed = Pm25Rule {
            threshold: Some(35.0),
            ..Pm25Rule::default()
        };
        assert_eq!(fixed.threshold_on(date!(2026 - 11 - 26)), 35.0);
    }
}
