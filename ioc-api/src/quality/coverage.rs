//! Coverage: how many readings a station should have sent in an hour or a day (from its
//! reporting interval), how many arrived, and how many were valid (no QC flag).
//!
//! Source: the reference's QA list ("report each sensor's coverage (expected vs received) per
//! hour and day", vn-transmission.md, after OpenAQ v3 and MazamaScience/AirSensor).
//!
//! Design: counts per clock hour in a ring of [`COVERAGE_HOURS`], so a day is any 24 of them
//! and the local day (the caller's midnight) needs no time zone here. The expected count uses
//! the interval in force now: after an interval change the past hours' expectation is the new
//! interval's (the counts themselves are kept).

use serde::Serialize;
use utoipa::ToSchema;

use crate::live::HOUR_MS;

/// Clock hours kept: a whole local day before the current one in any time zone, and the
/// current day.
pub const COVERAGE_HOURS: usize = 48;

/// A reporting interval that cannot be counted in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoverageError {
    /// Zero, or longer than an hour.
    #[error("reporting interval of {0} s: coverage needs 1 to 3600 s")]
    Interval(u32),
}

/// Expected, received and valid readings over an hour or a day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CoverageCount {
    /// Readings the reporting interval promises over the elapsed part of the period.
    pub expected: u32,
    /// Readings that arrived with a time in the period.
    pub received: u32,
    /// Of those, readings without a QC flag.
    pub valid: u32,
}

impl CoverageCount {
    /// `received / expected`, at most 1; `None` before anything was expected.
    pub fn received_ratio(&self) -> Option<f64> {
        ratio(self.received, self.expected)
    }

    /// `valid / expected`, at most 1; `None` before anything was expected.
    pub fn valid_ratio(&self) -> Option<f64> {
        ratio(self.valid, self.expected)
    }
}

fn ratio(count: u32, expected: u32) -> Option<f64> {
    (expected > 0).then(|| (f64::from(count) / f64::from(expected)).min(1.0))
}

#[derive(Debug, Clone, Copy, Default)]
struct HourCount {
    /// Which hour (ms / HOUR_MS) the slot holds; the slot is stale when it is another.
    hour: u64,
    received: u16,
    valid: u16,
}

/// One station's readings counted per clock hour, in fixed memory (about 1 KiB).
#[derive(Debug, Clone)]
pub struct Coverage {
    interval_ms: u64,
    /// The newest hour recorded; nothing older than `COVERAGE_HOURS` before it is kept.
    newest_hour: u64,
    hours: [HourCount; COVERAGE_HOURS],
}

impl Coverage {
    /// Counts for a station that reports every `interval_s` seconds.
    ///
    /// # Errors
    ///
    /// [`CoverageError::Interval`] for 0 or more than an hour.
    pub fn new(interval_s: u32) -> Result<Coverage, CoverageError> {
        Ok(Coverage {
            interval_ms: Self::check_interval(interval_s)?,
            newest_hour: 0,
            hours: [HourCount::default(); COVERAGE_HOURS],
        })
    }

    /// Counts for an interval already validated (the config's): one outside 1 to 3600 s is
    /// brought inside rather than refused.
    pub fn clamped(interval_s: u32) -> Coverage {
        Coverage {
            interval_ms: u64::from(interval_s.clamp(1, 3_600)) * 1_000,
            newest_hour: 0,
            hours: [HourCount::default(); COVERAGE_HOURS],
        }
    }

    fn check_interval(interval_s: u32) -> Result<u64, CoverageError> {
        if (1..=3_600).contains(&interval_s) {
            Ok(u64::from(interval_s) * 1_000)
        } else {
            Err(CoverageError::Interval(interval_s))
        }
    }

    /// The reporting interval, seconds.
    pub fn interval_s(&self) -> u32 {
        (self.interval_ms / 1_000) as u32
    }

    /// A new reporting interval (the station was told to report at another rate).
    ///
    /// # Errors
    ///
    /// As [`Coverage::new`]; the old interval is kept.
    pub fn set_interval(&mut self, interval_s: u32) -> Result<(), CoverageError> {
        self.interval_ms = Self::check_interval(interval_s)?;
        Ok(())
    }

    /// Counts a reading observed at `at_ms` (node clock), valid if no rule flagged it. A
    /// reading older than the kept hours is not counted.
    pub fn record(&mut self, at_ms: u64, valid: bool) {
        self.restore(at_ms, 1, u16::from(valid));
    }

    /// The kept hours that counted a reading, as `(hour start ms, received, valid)` in time
    /// order: what is saved between runs.
    pub fn counted_hours(&self) -> Vec<(u64, u16, u16)> {
        let mut out: Vec<_> = self
            .hours
            .iter()
            .filter(|slot| slot.received > 0 && self.kept(slot.hour))
            .map(|slot| (slot.hour * HOUR_MS, slot.received, slot.valid))
            .collect();
        out.sort_unstable_by_key(|(hour_ms, ..)| *hour_ms);
        out
    }

    /// Puts back an hour [`Coverage::counted_hours`] gave (at start: valid never above received),
    /// adding to what the hour counted since.
    pub fn restore(&mut self, hour_ms: u64, received: u16, valid: u16) {
        let hour = hour_ms / HOUR_MS;
        if hour + (COVERAGE_HOURS as u64) <= self.newest_hour {
            return;
        }
        self.newest_hour = self.newest_hour.max(hour);
        let slot = &mut self.hours[(hour % COVERAGE_HOURS as u64) as usize];
        if slot.hour != hour {
            *slot = HourCount {
                hour,
                ..HourCount::default()
            };
        }
        slot.received = slot.received.saturating_add(received);
        slot.valid = slot.valid.saturating_add(valid.min(received));
    }

    /// Readings the interval promises in `[start_ms, end_ms)` up to `now_ms`.
    fn expected(&self, start_ms: u64, end_ms: u64, now_ms: u64) -> u32 {
        let elapsed = end_ms.min(now_ms).saturating_sub(start_ms);
        u32::try_from(elapsed / self.interval_ms).unwrap_or(u32::MAX)
    }

    fn counted(&self, hour: u64) -> (u32, u32) {
        let slot = self.hours[(hour % COVERAGE_HOURS as u64) as usize];
        if slot.hour == hour {
            (u32::from(slot.received), u32::from(slot.valid))
        } else {
            (0, 0)
        }
    }

    /// Whether `hour` is still kept.
    fn kept(&self, hour: u64) -> bool {
        hour + (COVERAGE_HOURS as u64) > self.newest_hour
    }

    /// The clock hour that contains `hour_ms`, as of `now_ms` (an hour in progress expects only
    /// its elapsed part); `None` once the hour is no longer kept.
    pub fn hour(&self, hour_ms: u64, now_ms: u64) -> Option<CoverageCount> {
        let hour = hour_ms / HOUR_MS;
        if !self.kept(hour) {
            return None;
        }
        let (received, valid) = self.counted(hour);
        let start = hour * HOUR_MS;
        Some(CoverageCount {
            expected: self.expected(start, start + HOUR_MS, now_ms),
            received,
            valid,
        })
    }

    /// The 24 hours from `day_start_ms` (the local midnight, which must fall on an hour: the
    /// hour containing it is taken), as of `now_ms`; `None` once its first hour is no longer
    /// kept.
    pub fn day(&self, day_start_ms: u64, now_ms: u64) -> Option<CoverageCount> {
        let first = day_start_ms / HOUR_MS;
        if !self.kept(first) {
            return None;
        }
        let (mut received, mut valid) = (0, 0);
        for hour in first..first + 24 {
            let (r, v) = self.counted(hour);
            received += r;
            valid += v;
        }
        let start = first * HOUR_MS;
        Some(CoverageCount {
            expected: self.expected(start, start + 24 * HOUR_MS, now_ms),
            received,
            valid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-05-01 00:00 UTC.
    const DAY: u64 = 1_714_521_600_000;

    #[test]
    fn a_full_hour_at_one_minute_expects_60() {
        let mut coverage = Coverage::new(60).expect("valid interval");
        // 55 frames arrive, 5 of them flagged.
        for i in 0..55u64 {
            coverage.record(DAY + i * 60_000 + 5_000, i % 11 != 0);
        }
        let hour = coverage.hour(DAY, DAY + 2 * HOUR_MS).expect("kept");
        assert_eq!(
            hour,
            CoverageCount {
                expected: 60,
                received: 55,
                valid: 50
            }
        );
        assert_eq!(hour.received_ratio(), Some(55.0 / 60.0));
        // The next hour saw nothing.
        let empty = coverage.hour(DAY + HOUR_MS, DAY + 2 * HOUR_MS).expect("kept");
        assert_eq!((empty.expected, empty.received), (60, 0));
    }

    #[test]
    fn an_hour_in_progress_expects_only_its_elapsed_part() {
        let mut coverage = Coverage::new(300).expect("valid interval");
        for i in 0..4u64 {
            coverage.record(DAY + i * 300_000, true);
        }
        let now = DAY + 20 * 60_000 + 1;
        let hour = coverage.hour(DAY, now).expect("kept");
        assert_eq!((hour.expected, hour.received, hour.valid), (4, 4, 4));
        assert_eq!(hour.valid_ratio(), Some(1.0));
        assert_eq!(coverage.hour(DAY + HOUR_MS, now).map(|c| c.expected), Some(0));
        assert_eq!(
            coverage.hour(DAY + HOUR_MS, now).and_then(|c| c.valid_ratio()),
            None
        );
    }

    #[test]
    fn a_day_sums_its_hours_and_a_local_midnight_shifts_it() {
        let mut coverage = Coverage::new(600).expect("valid interval");
        // Every 10 minutes for two days, the second day's readings invalid.
        for i in 0..(2 * 24 * 6u64) {
            coverage.record(DAY + i * 600_000, i < 144);
        }
        let now = DAY + 2 * 24 * HOUR_MS;
        let first = coverage.day(DAY, now).expect("kept");
        assert_eq!((first.expected, first.received, first.valid), (144, 144, 144));
        let second = coverage.day(DAY + 24 * HOUR_MS, now).expect("kept");
        assert_eq!((second.expected, second.received, second.valid), (144, 144, 0));
        // Vietnam's day (UTC+7) starts at 17:00 UTC: its first 7 hours fall in the first UTC
        // day (valid), the other 17 in the second (invalid).
        let local = coverage.day(DAY + 17 * HOUR_MS, now).expect("kept");
        assert_eq!((local.received, local.valid), (144, 7 * 6));
    }

    #[test]
    fn hours_beyond_the_ring_are_not_answered_or_counted() {
        let mut coverage = Coverage::new(60).expect("valid interval");
        coverage.record(DAY, true);
        coverage.record(DAY + 48 * HOUR_MS, true);
        assert_eq!(coverage.hour(DAY, DAY + 49 * HOUR_MS), None);
        // A late reading for a forgotten hour is dropped, not counted into a reused slot.
        coverage.record(DAY + 10_000, true);
        let newest = coverage
            .hour(DAY + 48 * HOUR_MS, DAY + 49 * HOUR_MS)
            .expect("kept");
        assert_eq!(newest.received, 1);
    }

    #[test]
    fn intervals_outside_one_second_to_an_hour_are_refused() {
        assert_eq!(Coverage::new(0).err(), Some(CoverageError::Interval(0)));
        assert!(Coverage::new(3_601).is_err());
        let mut coverage = Coverage::new(60).expect("valid interval");
        assert!(coverage.set_interval(0).is_err());
        assert_eq!(coverage.interval_s(), 60);
        coverage.set_interval(30).expect("valid interval");
        assert_eq!(coverage.hour(DAY, DAY + HOUR_MS).map(|c| c.expected), Some(120));
    }

    #[test]
    fn counted_hours_restore_into_the_same_counts() {
        let mut coverage = Coverage::new(60).expect("valid interval");
        for i in 0..150u64 {
            coverage.record(DAY + i * 60_000, i % 4 != 0);
        }
        let saved = coverage.counted_hours();
        assert_eq!(saved.len(), 3);
        let mut restored = Coverage::new(60).expect("valid interval");
        for (hour_ms, received, valid) in saved.iter().copied() {
            restored.restore(hour_ms, received, valid);
        }
        let now = DAY + 3 * HOUR_MS;
        for hour in 0..3 {
            assert_eq!(
                restored.hour(DAY + hour * HOUR_MS, now),
                coverage.hour(DAY + hour * HOUR_MS, now)
            );
        }
        assert_eq!(restored.counted_hours(), saved);
    }
}
