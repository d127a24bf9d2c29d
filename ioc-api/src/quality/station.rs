//! A station's QC memory and the per-reading check that runs every rule.
//!
//! Memory is bounded whatever the reporting rate: per parameter one stuck run (a value, a
//! count, a time) and at most [`MAX_WINDOW`](super::rules::MAX_WINDOW) previous values for the
//! Hampel window; about 2 KiB for a station with ten parameters at the default window.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

use protocol::QualityFlags;

use super::config::QualityConfig;
use super::flags::{QcFlag, QcFlags};
use super::rules::{HampelState, StuckState};
use crate::live::{Param, Reading};

const PARAMS: usize = Param::ALL.len();

/// The node's own quality flags that make a reading unusable (FORMAT.md §4): its value is not
/// the environment's. `CALIBRATION_DUE` is not among them: the sensor still measures.
const NODE_UNUSABLE: [QualityFlags; 5] = [
    QualityFlags::WARMING_UP,
    QualityFlags::SENSOR_FAULT,
    QualityFlags::OUT_OF_RANGE,
    QualityFlags::STUCK_VALUE,
    QualityFlags::CALIBRATING,
];

/// The parameter's place in [`Param::ALL`] (the enum is declared in that order; a test holds it).
fn slot(param: Param) -> usize {
    param as usize
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ParamQc {
    stuck: StuckState,
    spike: HampelState,
    /// Node time of the newest value that entered the history.
    last_ms: Option<u64>,
}

/// One station's QC memory: what the stuck and spike rules remember between readings. It is
/// saved with the replay window, so a restart neither forgets a stuck run nor lets it in again.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StationQc {
    params: [Option<ParamQc>; PARAMS],
}

/// The flags of each value in one reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadingFlags {
    /// `None` for a parameter the reading did not carry.
    flags: [Option<QcFlags>; PARAMS],
}

impl ReadingFlags {
    /// The flags of `param`'s value, `None` if the reading had none.
    pub fn get(&self, param: Param) -> Option<QcFlags> {
        self.flags[slot(param)]
    }

    /// True if the reading carried `param` and no rule flagged it: the value may go into
    /// indices and alerts.
    pub fn is_valid(&self, param: Param) -> bool {
        self.get(param).is_some_and(QcFlags::is_empty)
    }

    /// True if no value of the reading was flagged.
    pub fn is_clean(&self) -> bool {
        self.flags.iter().flatten().all(|f| f.is_empty())
    }

    /// Adds `flag` to `param`'s value, if the reading carried one (a check made after the
    /// rules, such as the range of a corrected value).
    pub fn add(&mut self, param: Param, flag: QcFlag) {
        if let Some(flags) = &mut self.flags[slot(param)] {
            flags.insert(flag);
        }
    }

    /// Every flag raised on any value.
    pub fn union(&self) -> QcFlags {
        self.flags
            .iter()
            .flatten()
            .fold(QcFlags::empty(), |acc, f| acc | *f)
    }

    /// The flagged values' parameters and flags, in [`Param::ALL`] order.
    pub fn flagged(&self) -> impl Iterator<Item = (Param, QcFlags)> + '_ {
        Param::ALL
            .into_iter()
            .filter_map(|p| self.get(p).filter(|f| !f.is_empty()).map(|f| (p, f)))
    }
}

impl Serialize for ReadingFlags {
    /// The flagged values only: `{"pm2_5": ["stuck"]}`; `{}` for a clean reading.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (param, flags) in self.flagged() {
            map.serialize_entry(param.as_str(), &flags)?;
        }
        map.end()
    }
}

/// For [`StationQc::check`] when no neighbours' values are at hand.
pub fn no_neighbours(_: Param) -> Option<&'static [f64]> {
    None
}

impl StationQc {
    /// A station with no history.
    pub fn new() -> Self {
        StationQc::default()
    }

    /// Flags each of `values` (one reading of an air or water station, observed at `at_ms` by
    /// the node's clock) and remembers them for the stuck and spike rules.
    ///
    /// `neighbours(param)` gives the same parameter's values at the district's other stations
    /// (for example their latest readings), or `None` to skip the neighbour check.
    ///
    /// A reading older than (or as old as) the newest one already seen for a parameter, a late
    /// or repeated frame, gets the rules that need no history (range, sensor limits, neighbour)
    /// and leaves the history alone; so does a value flagged `range`, which says nothing about
    /// how the sensor's series runs.
    pub fn check<'n>(
        &mut self,
        config: &QualityConfig,
        water: bool,
        at_ms: u64,
        values: impl IntoIterator<Item = (Param, f64)>,
        neighbours: impl Fn(Param) -> Option<&'n [f64]>,
    ) -> ReadingFlags {
        self.check_marked(config, water, at_ms, values, QcFlags::empty(), neighbours)
    }

    /// [`StationQc::check`] on a live [`Reading`]; a reading the node marked unusable (warming
    /// up, faulty, calibrating: [`NODE_UNUSABLE`]) gets the `node` flag on every value, and its
    /// values stay out of the spike rule's window (the stuck rule still counts them: the node
    /// cannot say which sensor it flagged, the IOC's rule can).
    pub fn check_reading<'n>(
        &mut self,
        config: &QualityConfig,
        water: bool,
        at_ms: u64,
        reading: &Reading,
        neighbours: impl Fn(Param) -> Option<&'n [f64]>,
    ) -> ReadingFlags {
        let quality = QualityFlags::from_bits(reading.quality()).unwrap_or(QualityFlags::SENSOR_FAULT);
        let mut marked = QcFlags::empty();
        marked.set_if(QcFlag::Node, NODE_UNUSABLE.iter().any(|f| quality.contains(*f)));
        self.check_marked(config, water, at_ms, reading.values(), marked, neighbours)
    }

    fn check_marked<'n>(
        &mut self,
        config: &QualityConfig,
        water: bool,
        at_ms: u64,
        values: impl IntoIterator<Item = (Param, f64)>,
        marked: QcFlags,
        neighbours: impl Fn(Param) -> Option<&'n [f64]>,
    ) -> ReadingFlags {
        let mut present = [None; PARAMS];
        for (param, value) in values {
            present[slot(param)] = Some(value);
        }
        let mut whole = marked;
        if !water {
            whole |= config
                .sensor_limits
                .check(present[slot(Param::Humidity)], present[slot(Param::Temperature)]);
        }
        let mut out = ReadingFlags::default();
        for param in Param::ALL {
            let Some(value) = present[slot(param)] else {
                continue;
            };
            let mut flags = whole;
            flags.set_if(QcFlag::Range, config.range.out_of_range(param, water, value));
            if !flags.contains(QcFlag::Range) && value.is_finite() {
                let state = self.params[slot(param)].get_or_insert_with(ParamQc::default);
                if state.last_ms.is_none_or(|last| at_ms > last) {
                    state.last_ms = Some(at_ms);
                    let step = param.step();
                    if config.stuck.applies_to(param) {
                        flags.set_if(QcFlag::Stuck, state.stuck.push(&config.stuck, step, at_ms, value));
                    }
                    // A calibration's or a warming sensor's values would skew the window the
                    // environment's values are judged by; a stuck run goes on through them.
                    if config.spike.applies_to(param) && !flags.contains(QcFlag::Node) {
                        flags.set_if(QcFlag::Spike, state.spike.push(&config.spike, step, at_ms, value));
                    }
                }
            }
            if let Some(others) = neighbours(param) {
                flags.set_if(QcFlag::Neighbour, config.neighbour.check(param, value, others));
            }
            out.flags[slot(param)] = Some(flags);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MINUTE: u64 = 60_000;

    #[test]
    fn slots_follow_param_all() {
        for (i, param) in Param::ALL.into_iter().enumerate() {
            assert_eq!(slot(param), i, "{param:?}");
        }
    }

    #[test]
    fn a_stuck_pm_sensor_is_flagged_while_its_climate_sensor_is_not() {
        let config = QualityConfig::default();
        let mut qc = StationQc::new();
        let mut last = ReadingFlags::default();
        for i in 0..40u32 {
            let values = [
                (Param::Pm2_5, 42.0),
                (Param::Temperature, 28.0 + f64::from(i % 5) * 0.07),
                (Param::Humidity, 70.0 + f64::from(i % 3) * 0.3),
            ];
            last = qc.check(&config, false, u64::from(i) * MINUTE, values, no_neighbours);
        }
        assert_eq!(last.get(Param::Pm2_5), Some(QcFlag::Stuck.into()));
        assert!(last.is_valid(Param::Temperature) && last.is_valid(Param::Humidity));
        assert_eq!(last.get(Param::Co), None);
        assert_eq!(
            serde_json::to_string(&last).expect("serialises"),
            r#"{"pm2_5":["stuck"]}"#
        );
    }

    #[test]
    fn a_saturated_humidity_sensor_flags_the_whole_air_reading_but_not_a_water_one() {
        let config = QualityConfig::default();
        let mut qc = StationQc::new();
        let air = [
            (Param::Pm2_5, 30.0),
            (Param::Humidity, 100.4),
            (Param::Temperature, 30.0),
        ];
        let flags = qc.check(&config, false, 0, air, no_neighbours);
        assert!(flags.flagged().all(|(_, f)| f.contains(QcFlag::RhLimit)));
        assert_eq!(flags.get(Param::Pm2_5), Some(QcFlag::RhLimit.into()));
        // Humidity above 100 % is also outside its own range.
        assert_eq!(
            flags.get(Param::Humidity).map(|f| f.to_string()),
            Some("range,rh_limit".into())
        );
        // Out of a water station's range, but no sensor-limit flag there.
        let mut water_qc = StationQc::new();
        let water = [(Param::Temperature, 70.0), (Param::Ph, 7.1)];
        let flags = water_qc.check(&config, true, 0, water, no_neighbours);
        assert_eq!(flags.get(Param::Temperature), Some(QcFlag::Range.into()));
        assert!(flags.is_valid(Param::Ph));
    }

    #[test]
    fn the_neighbours_values_come_from_the_caller() {
        let config = QualityConfig::default();
        let mut qc = StationQc::new();
        let district = vec![30.0, 31.5, 29.0, 33.0];
        let neighbours = |p: Param| (p == Param::Pm2_5).then_some(district.as_slice());
        let far = qc.check(&config, false, 0, [(Param::Pm2_5, 120.0)], neighbours);
        assert_eq!(far.get(Param::Pm2_5), Some(QcFlag::Neighbour.into()));
        let near = qc.check(&config, false, MINUTE, [(Param::Pm2_5, 32.0)], neighbours);
        assert!(near.is_clean());
    }

    #[test]
    fn a_late_frame_leaves_the_history_alone() {
        let config = QualityConfig::default();
        let mut qc = StationQc::new();
        for i in 0..29 {
            qc.check(
                &config,
                false,
                100 * MINUTE + i * MINUTE,
                [(Param::Pm2_5, 42.0)],
                no_neighbours,
            );
        }
        // Replays of an older frame do not count as repeats.
        for _ in 0..5 {
            let late = qc.check(&config, false, MINUTE, [(Param::Pm2_5, 42.0)], no_neighbours);
            assert!(late.is_clean());
        }
        let next = qc.check(
            &config,
            false,
            129 * MINUTE,
            [(Param::Pm2_5, 42.0)],
            no_neighbours,
        );
        assert_eq!(next.get(Param::Pm2_5), Some(QcFlag::Stuck.into()));
    }

    #[test]
    fn out_of_range_values_do_not_enter_the_spike_window() {
        let config = QualityConfig::default();
        let mut qc = StationQc::new();
        let mut t = 0;
        let mut feed = |qc: &mut StationQc, v: f64| {
            t += MINUTE;
            qc.check(&config, false, t, [(Param::Pm2_5, v)], no_neighbours)
        };
        for v in [20.0, 20.5, 19.8, 20.2, 20.1, 19.9, 20.3] {
            feed(&mut qc, v);
        }
        for _ in 0..10 {
            assert_eq!(feed(&mut qc, -3.0).get(Param::Pm2_5), Some(QcFlag::Range.into()));
        }
        assert!(feed(&mut qc, 20.4).is_clean());
    }

    fn air_reading(pm2_5: u16, temperature: i16, quality: protocol::QualityFlags) -> Reading {
        let body = protocol::Body::Air(protocol::AirSample {
            samples: 1,
            pm2_5: Some(pm2_5),
            temperature: Some(temperature),
            quality,
            ..protocol::AirSample::default()
        });
        Reading::from_body(&body).expect("an air reading")
    }

    #[test]
    fn a_reading_the_node_marks_is_flagged_whole_and_leaves_the_spike_window_alone() {
        let config = QualityConfig::default();
        let mut qc = StationQc::new();
        let mut t = 0;
        for i in 0..30u16 {
            t += MINUTE;
            let reading = air_reading(200 + i % 5, 2_800 + (i % 3) as i16, QualityFlags::empty());
            assert!(
                qc.check_reading(&config, false, t, &reading, no_neighbours)
                    .is_clean()
            );
        }
        // A calibration: zero gas, a value far from the air's; every value is the node's.
        for flags in [
            QualityFlags::CALIBRATING,
            QualityFlags::WARMING_UP,
            QualityFlags::SENSOR_FAULT,
        ] {
            t += MINUTE;
            let marked = qc.check_reading(&config, false, t, &air_reading(0, 2_800, flags), no_neighbours);
            assert_eq!(marked.get(Param::Pm2_5), Some(QcFlag::Node.into()), "{flags:?}");
            assert_eq!(
                marked.get(Param::Temperature),
                Some(QcFlag::Node.into()),
                "{flags:?}"
            );
        }
        // A due calibration still measures the air.
        t += MINUTE;
        let due = air_reading(203, 2_801, QualityFlags::CALIBRATION_DUE);
        assert!(
            qc.check_reading(&config, false, t, &due, no_neighbours)
                .is_clean()
        );
        // The zeros did not enter the window: the air's level is still no spike.
        t += MINUTE;
        let back = air_reading(202, 2_800, QualityFlags::empty());
        assert!(
            qc.check_reading(&config, false, t, &back, no_neighbours)
                .is_clean()
        );
    }

    proptest! {
        /// Whatever arrives, in whatever order, the check returns.
        #[test]
        fn never_panics(
            readings in proptest::collection::vec(
                (0u64..10_000_000, 0usize..16, prop_oneof![any::<f64>(), -10.0..2000.0f64]),
                0..200,
            ),
            water in any::<bool>(),
        ) {
            let config = QualityConfig::default();
            let mut qc = StationQc::new();
            let district = [1.0, f64::NAN, 3.0, 1e308];
            for (at, p, v) in readings {
                let flags = qc.check(&config, water, at, [(Param::ALL[p], v)], |_| Some(&district[..]));
                prop_assert!(flags.get(Param::ALL[p]).is_some());
            }
        }

        /// A PM2.5 random walk within range that never repeats a value and moves at most
        /// 0.4 µg/m³ a minute is never flagged.
        #[test]
        fn a_constant_free_random_walk_within_range_is_never_flagged(
            moves in proptest::collection::vec((1i64..=4, any::<bool>()), 1..400),
        ) {
            let config = QualityConfig::default();
            let mut qc = StationQc::new();
            let mut tenths: i64 = 3_000;
            for (i, (size, up)) in moves.into_iter().enumerate() {
                tenths += if up { size } else { -size };
                let value = tenths as f64 / 10.0;
                let flags = qc.check(&config, false, i as u64 * MINUTE, [(Param::Pm2_5, value)], no_neighbours);
                prop_assert!(flags.is_clean(), "value {} at {} flagged {:?}", value, i, flags);
            }
        }
    }
}
