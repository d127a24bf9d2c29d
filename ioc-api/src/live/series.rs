//! One parameter's recent history at one station, in fixed memory: five-minute slots for the
//! rolling hour, and clock-hour accumulators for the indices and the 8-hour and 24-hour means.
//!
//! Keyed by the node's clock, so backfilled and late frames land in their own hour. Values older
//! than the kept history are dropped (they are in InfluxDB).
//!
//! Design: buckets, not a list of raw samples. A station reporting every second would otherwise
//! hold 3,600 samples an hour per parameter; buckets keep a station under a few KiB whatever the
//! rate (docs/BENCHMARKS.md, memory per station). The rolling hour therefore slides in five-minute
//! steps.
//!
//! Design: sums in whole steps of the parameter's resolution (an `i32`), not floating point. The
//! values come from frames in exactly those steps, so the live sums are exact, and the sums
//! rebuilt from InfluxDB's five-minute means and counts after a restart round back to the same
//! integers: the means served before and after a restart are identical, whatever the order the
//! values arrived in. (With `f32` sums they differed in the last digit.) The memory is the same.

/// Five minutes: the rolling hour's step.
pub const SLOT_MS: u64 = 300_000;
/// One hour.
pub const HOUR_MS: u64 = 3_600_000;
/// Slots in an hour.
pub const SLOTS_PER_HOUR: usize = 12;
/// Clock hours kept: the last complete local day (24 h) plus the 7 hours before it for the O3
/// 8-hour means, plus up to 24 hours of the day in progress, plus the current hour.
pub const HOURS_KEPT: usize = 56;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// In steps of the series' resolution.
    sum: i32,
    count: u16,
}

#[derive(Debug, Clone, Copy, Default)]
struct Hour {
    /// In steps of the series' resolution.
    sum: i32,
    count: u16,
    /// Which of the hour's twelve five-minute slots have data (coverage).
    slots: u16,
}

/// One clock hour of a series as the local history saves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourRecord {
    /// Start of the hour, ms since the epoch.
    pub hour_ms: u64,
    /// Sum in steps of the resolution.
    pub sum_steps: i32,
    /// Values in the hour.
    pub count: u16,
    /// Which of its twelve five-minute slots have data.
    pub slots: u16,
    /// Steps per unit.
    pub per_unit: u16,
}

impl HourRecord {
    /// The hour's mean.
    pub fn mean(&self) -> f64 {
        f64::from(self.sum_steps) / (f64::from(self.per_unit) * f64::from(self.count.max(1)))
    }
}

/// The recent history of one parameter.
#[derive(Debug, Clone)]
pub struct Series {
    /// Steps per unit the sums count in (10 for PM2.5 in 0.1 µg/m³): an integer, so that a
    /// whole number of units divides exactly.
    per_unit: u16,
    /// Hours changed since [`Series::take_changed`], one bit per place in the ring of hours:
    /// what the local history (without InfluxDB) has to save.
    changed: u64,
    /// Index (ms / HOUR_MS) of the newest hour held; hours older than `HOURS_KEPT` are gone.
    newest_hour: u32,
    hours: [Hour; HOURS_KEPT],
    /// Index (ms / SLOT_MS) of the newest slot held.
    newest_slot: u32,
    slots: [Slot; SLOTS_PER_HOUR],
}

impl Series {
    /// An empty history of a parameter measured in steps of `step` (0.1, 0.01, 0.001 or 1).
    pub fn new(step: f64) -> Self {
        Series {
            per_unit: (1.0 / step).round().clamp(1.0, f64::from(u16::MAX)) as u16,
            changed: 0,
            newest_hour: 0,
            hours: [Hour::default(); HOURS_KEPT],
            newest_slot: 0,
            slots: [Slot::default(); SLOTS_PER_HOUR],
        }
    }

    /// `value` in whole steps, saturating (no station reports an hour's sum beyond `i32`).
    fn steps(&self, value: f64) -> i32 {
        (value * f64::from(self.per_unit)).round() as i32
    }

    /// The mean of `count` values summing to `sum` steps.
    fn mean(&self, sum: i64, count: u32) -> f64 {
        sum as f64 / (f64::from(self.per_unit) * f64::from(count))
    }

    /// Adds a value observed at `at_ms` (node clock).
    pub fn insert(&mut self, at_ms: u64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let steps = self.steps(value);
        let hour = (at_ms / HOUR_MS) as u32;
        let slot = (at_ms / SLOT_MS) as u32;
        let slot_in_hour = ((at_ms % HOUR_MS) / SLOT_MS) as u16;
        self.advance_hours(hour);
        self.changed |= 1 << (hour as usize % HOURS_KEPT);
        if let Some(h) = self.hour_mut(hour) {
            h.sum = h.sum.saturating_add(steps);
            h.count = h.count.saturating_add(1);
            h.slots |= 1 << slot_in_hour;
        }
        self.advance_slots(slot);
        if slot + SLOTS_PER_HOUR as u32 > self.newest_slot {
            let s = &mut self.slots[slot as usize % SLOTS_PER_HOUR];
            s.sum = s.sum.saturating_add(steps);
            s.count = s.count.saturating_add(1);
        }
    }

    /// Adds a five-minute bucket's mean at once, as if its `count` values had arrived one by
    /// one (the rebuild from InfluxDB, which answers `mean` and `count` per 5 minutes).
    pub fn insert_bucket(&mut self, slot_start_ms: u64, mean: f64, count: u16) {
        if !mean.is_finite() || count == 0 {
            return;
        }
        let hour = (slot_start_ms / HOUR_MS) as u32;
        let slot = (slot_start_ms / SLOT_MS) as u32;
        let slot_in_hour = ((slot_start_ms % HOUR_MS) / SLOT_MS) as u16;
        let sum = self.steps(mean * f64::from(count));
        self.advance_hours(hour);
        if let Some(h) = self.hour_mut(hour) {
            h.sum = h.sum.saturating_add(sum);
            h.count = h.count.saturating_add(count);
            h.slots |= 1 << slot_in_hour;
        }
        self.advance_slots(slot);
        if slot + SLOTS_PER_HOUR as u32 > self.newest_slot {
            let s = &mut self.slots[slot as usize % SLOTS_PER_HOUR];
            s.sum = s.sum.saturating_add(sum);
            s.count = s.count.saturating_add(count);
        }
    }

    fn advance_hours(&mut self, hour: u32) {
        if hour <= self.newest_hour {
            return;
        }
        let gap = (hour - self.newest_hour) as usize;
        for step in 1..=gap.min(HOURS_KEPT) {
            let h = self.newest_hour as usize + step;
            self.hours[h % HOURS_KEPT] = Hour::default();
        }
        if gap > HOURS_KEPT {
            self.hours = [Hour::default(); HOURS_KEPT];
        }
        self.newest_hour = hour;
    }

    fn advance_slots(&mut self, slot: u32) {
        if slot <= self.newest_slot {
            return;
        }
        let gap = (slot - self.newest_slot) as usize;
        for step in 1..=gap.min(SLOTS_PER_HOUR) {
            let s = self.newest_slot as usize + step;
            self.slots[s % SLOTS_PER_HOUR] = Slot::default();
        }
        self.newest_slot = slot;
    }

    fn hour_mut(&mut self, hour: u32) -> Option<&mut Hour> {
        (hour + HOURS_KEPT as u32 > self.newest_hour).then(|| &mut self.hours[hour as usize % HOURS_KEPT])
    }

    fn hour(&self, hour: u32) -> Option<&Hour> {
        (hour <= self.newest_hour && hour + HOURS_KEPT as u32 > self.newest_hour)
            .then(|| &self.hours[hour as usize % HOURS_KEPT])
    }

    /// The hours changed since the last call, as records to save, and forgets them.
    pub fn take_changed(&mut self) -> Vec<HourRecord> {
        let changed = std::mem::take(&mut self.changed);
        let oldest = self.newest_hour.saturating_sub(HOURS_KEPT as u32 - 1);
        (oldest..=self.newest_hour)
            .filter(|hour| changed & (1 << (*hour as usize % HOURS_KEPT)) != 0)
            .filter_map(|hour| {
                let h = self.hour(hour)?;
                (h.count > 0).then(|| HourRecord {
                    hour_ms: u64::from(hour) * HOUR_MS,
                    sum_steps: h.sum,
                    count: h.count,
                    slots: h.slots,
                    per_unit: self.per_unit,
                })
            })
            .collect()
    }

    /// Puts back an hour saved earlier (the local history at start), as it was. A record of
    /// another resolution is left out: its sums count in other steps.
    pub fn restore(&mut self, record: &HourRecord) {
        if record.per_unit != self.per_unit {
            return;
        }
        let hour = (record.hour_ms / HOUR_MS) as u32;
        self.advance_hours(hour);
        if let Some(h) = self.hour_mut(hour) {
            *h = Hour {
                sum: record.sum_steps,
                count: record.count,
                slots: record.slots,
            };
        }
    }

    /// Start (ms) of the newest hour held.
    pub fn newest_hour_ms(&self) -> u64 {
        u64::from(self.newest_hour) * HOUR_MS
    }

    /// The mean of the clock hour starting at `hour_start_ms`, if its data covers at least
    /// `min_coverage` of its five-minute slots.
    pub fn hourly_mean(&self, hour_start_ms: u64, min_coverage: f64) -> Option<f64> {
        let h = self.hour((hour_start_ms / HOUR_MS) as u32)?;
        let covered = f64::from(h.slots.count_ones()) / SLOTS_PER_HOUR as f64;
        (h.count > 0 && covered + 1e-9 >= min_coverage)
            .then(|| self.mean(i64::from(h.sum), u32::from(h.count)))
    }

    /// Hourly means of the `n` hours ending with the hour that starts at `last_hour_ms`, most
    /// recent first (c1, c2, …) as the NowCast wants them.
    pub fn recent_hours(&self, last_hour_ms: u64, n: usize, min_coverage: f64) -> Vec<Option<f64>> {
        (0..n as u64)
            .map(|back| {
                last_hour_ms
                    .checked_sub(back * HOUR_MS)
                    .and_then(|t| self.hourly_mean(t, min_coverage))
            })
            .collect()
    }

    /// The rolling one-hour mean: the twelve five-minute slots up to the newest, if at least
    /// `min_coverage` of them have data.
    pub fn rolling_hour_mean(&self, min_coverage: f64) -> Option<f64> {
        let (mut sum, mut count, mut covered) = (0i64, 0u32, 0usize);
        for s in &self.slots {
            if s.count > 0 {
                sum += i64::from(s.sum);
                count += u32::from(s.count);
                covered += 1;
            }
        }
        let coverage = covered as f64 / SLOTS_PER_HOUR as f64;
        (count > 0 && coverage + 1e-9 >= min_coverage).then(|| self.mean(sum, count))
    }

    /// The mean of the hourly means of the `n` hours up to the newest (the one in progress
    /// included), if at least `min_hours` of them are valid hours.
    pub fn rolling_hours_mean(&self, n: usize, min_hours: usize, min_coverage: f64) -> Option<f64> {
        let hours = self.recent_hours(self.newest_hour_ms(), n, min_coverage);
        let valid: Vec<f64> = hours.into_iter().flatten().collect();
        (valid.len() >= min_hours.max(1)).then(|| valid.iter().sum::<f64>() / valid.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;
    const T0: u64 = 1_764_201_600_000; // an hour boundary

    #[test]
    fn rolling_hour_needs_coverage_and_slides() {
        let mut s = Series::new(0.1);
        for minute in 0..40 {
            s.insert(T0 + minute * MIN, 10.0);
        }
        assert_eq!(s.rolling_hour_mean(0.75), None, "8 of 12 slots");
        for minute in 40..45 {
            s.insert(T0 + minute * MIN, 10.0);
        }
        assert_eq!(s.rolling_hour_mean(0.75), Some(10.0), "9 of 12 slots");
        for minute in 45..=120 {
            s.insert(T0 + minute * MIN, 40.0);
        }
        assert_eq!(s.rolling_hour_mean(0.75), Some(40.0), "older slots are gone");
    }

    #[test]
    fn hourly_means_by_clock_hour_with_coverage() {
        let mut s = Series::new(0.1);
        for minute in 0..60 {
            s.insert(T0 + minute * MIN, if minute < 30 { 10.0 } else { 20.0 });
        }
        for minute in 60..90 {
            s.insert(T0 + minute * MIN, 50.0);
        }
        assert_eq!(s.hourly_mean(T0, 0.75), Some(15.0));
        assert_eq!(s.hourly_mean(T0 + HOUR_MS, 0.75), None, "half an hour");
        assert_eq!(s.hourly_mean(T0 + HOUR_MS, 0.5), Some(50.0));
        assert_eq!(
            s.recent_hours(T0 + HOUR_MS, 3, 0.5),
            vec![Some(50.0), Some(15.0), None]
        );
    }

    #[test]
    fn late_values_land_in_their_hour_and_old_ones_are_dropped() {
        let mut s = Series::new(0.1);
        s.insert(T0 + 10 * HOUR_MS, 5.0);
        s.insert(T0 + 9 * HOUR_MS, 7.0);
        assert_eq!(s.hourly_mean(T0 + 9 * HOUR_MS, 0.0), Some(7.0));
        s.insert(T0 + 10 * HOUR_MS - HOURS_KEPT as u64 * HOUR_MS, 99.0);
        assert_eq!(
            s.hourly_mean(T0 + 10 * HOUR_MS - HOURS_KEPT as u64 * HOUR_MS, 0.0),
            None
        );
        s.insert(T0 + 200 * HOUR_MS, 1.0);
        assert_eq!(
            s.hourly_mean(T0 + 10 * HOUR_MS, 0.0),
            None,
            "a long gap clears the ring"
        );
    }

    #[test]
    fn rebuilt_buckets_count_like_live_values() {
        let mut live = Series::new(0.1);
        let mut rebuilt = Series::new(0.1);
        for slot in 0..12u64 {
            for minute in 0..5 {
                live.insert(T0 + slot * SLOT_MS + minute * MIN, slot as f64);
            }
            rebuilt.insert_bucket(T0 + slot * SLOT_MS, slot as f64, 5);
        }
        assert_eq!(live.hourly_mean(T0, 0.75), rebuilt.hourly_mean(T0, 0.75));
        assert_eq!(live.rolling_hour_mean(0.75), rebuilt.rolling_hour_mean(0.75));
        assert_eq!(rebuilt.hourly_mean(T0, 0.75), Some(5.5));
    }

    /// Values whose mean lies on a rounding boundary: the live sum and the one rebuilt from
    /// five-minute means (as InfluxDB answers them, in floating point) are the same integers, so
    /// the hour's mean is the same to the last digit.
    #[test]
    fn a_rebuilt_hour_has_exactly_the_live_mean() {
        let mut live = Series::new(0.1);
        let mut rebuilt = Series::new(0.1);
        let values =
            |slot: u64| (0..5).map(move |minute| 80.0 + ((slot * 5 + minute) * 37 % 100) as f64 / 10.0);
        for slot in 0..12u64 {
            for (minute, value) in values(slot).enumerate() {
                live.insert(T0 + slot * SLOT_MS + minute as u64 * MIN, value);
            }
            let mean = values(slot).sum::<f64>() / 5.0;
            rebuilt.insert_bucket(T0 + slot * SLOT_MS, mean, 5);
        }
        let (a, b) = (live.hourly_mean(T0, 0.75), rebuilt.hourly_mean(T0, 0.75));
        assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits), "{a:?} {b:?}");
        assert_eq!(
            live.rolling_hour_mean(0.75).map(f64::to_bits),
            rebuilt.rolling_hour_mean(0.75).map(f64::to_bits)
        );
    }
}
