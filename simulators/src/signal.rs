//! What the emulated sensors measure: plausible signals for the Mekong Delta, deterministic for a
//! given node and instant, with forced pollution episodes.
//!
//! Air: PM2.5 follows a daily cycle with morning and evening traffic peaks (local time, UTC+7)
//! and a night-time build-up; PM10 and PM1 follow at fixed ratios; temperature and humidity swing
//! daily, pressure with the semi-diurnal atmospheric tide; CO and NO2 follow the traffic peaks,
//! ozone peaks mid-afternoon. Water: pH and dissolved oxygen follow photosynthesis (high in the afternoon);
//! conductivity rises with the semi-diurnal tide that pushes salt up the canals.

use std::f32::consts::TAU;

use crate::node::{AirConditions, Environment, WaterConditions};

const HOUR_MS: u64 = 3_600_000;
/// Hau Giang is at UTC+7.
const LOCAL_OFFSET_MS: u64 = 7 * HOUR_MS;
/// The principal lunar semi-diurnal tide (M2), 12.42 h.
const TIDE_PERIOD_H: f32 = 12.42;

/// A forced pollution episode: extra PM2.5 at some nodes for a while.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The node affected, or `None` for every air node.
    pub node_id: Option<u32>,
    /// Start, ms since the Unix epoch (simulated time).
    pub start_ms: u64,
    /// Length in ms.
    pub duration_ms: u64,
    /// PM2.5 added at full strength, µg/m³ (PM10 gets 1.3 times as much).
    pub pm2_5_added: f32,
}

impl Episode {
    /// The episode's strength at `t_ms`, 0 to 1: ten-minute ramps in and out, like smoke arriving.
    fn strength(&self, node_id: u32, t_ms: u64) -> f32 {
        if self.node_id.is_some_and(|n| n != node_id) || t_ms < self.start_ms {
            return 0.0;
        }
        let into = t_ms - self.start_ms;
        if into >= self.duration_ms {
            return 0.0;
        }
        let ramp = 600_000.0_f32;
        let left = (self.duration_ms - into) as f32;
        (into as f32 / ramp).min(left / ramp).min(1.0)
    }
}

/// The signal model for a fleet.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// Forced episodes.
    pub episodes: Vec<Episode>,
}

fn local_hour(t_ms: u64) -> f32 {
    ((t_ms + LOCAL_OFFSET_MS) % (24 * HOUR_MS)) as f32 / HOUR_MS as f32
}

/// A bump of height 1 centred on `centre` hours with width `width` (wrapping at midnight).
fn peak(hour: f32, centre: f32, width: f32) -> f32 {
    let d = (hour - centre + 12.0).rem_euclid(24.0) - 12.0;
    (-(d * d) / (2.0 * width * width)).exp()
}

/// Deterministic noise in [-1, 1] from a node and a minute: reproducible runs without RNG state.
fn noise(node_id: u32, t_ms: u64, stream: u64) -> f32 {
    let mut x = (u64::from(node_id) << 40) ^ (t_ms / 60_000) ^ (stream << 56);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    (x as f64 / u64::MAX as f64 * 2.0 - 1.0) as f32
}

/// A per-node factor in [0.8, 1.2], so stations differ.
fn site_factor(node_id: u32) -> f32 {
    1.0 + 0.2 * noise(node_id, 0, 7)
}

impl Scenario {
    /// What an air node's sensors see at `t_ms`.
    pub fn air(&self, node_id: u32, t_ms: u64) -> AirConditions {
        let h = local_hour(t_ms);
        let cycle = 1.0 + 0.6 * peak(h, 7.5, 1.5) + 0.8 * peak(h, 18.5, 2.0) + 0.3 * peak(h, 2.0, 3.0);
        let base = 16.0 * site_factor(node_id) * cycle * (1.0 + 0.08 * noise(node_id, t_ms, 1));
        let extra: f32 = self
            .episodes
            .iter()
            .map(|e| e.pm2_5_added * e.strength(node_id, t_ms))
            .sum();
        let pm2_5 = base + extra;
        let temperature_c = 27.5 + 4.0 * ((h - 9.0) / 24.0 * TAU).sin() + 0.3 * noise(node_id, t_ms, 2);
        let humidity_pct =
            (78.0 - 14.0 * ((h - 9.0) / 24.0 * TAU).sin() + noise(node_id, t_ms, 3)).clamp(0.0, 100.0);
        // The tropics' semi-diurnal pressure tide: highs near 10:00 and 22:00, about ±1.2 hPa.
        let pressure_hpa = 1_009.0 + 1.2 * ((h - 10.0) / 12.0 * TAU).cos() + 0.2 * noise(node_id, t_ms, 8);
        // Traffic gases follow the rush hours; ozone is made by sunlight from them and peaks in
        // the mid-afternoon. Levels of a provincial town, far below QCVN 05:2023's limits.
        let traffic = 1.0 + 1.2 * peak(h, 7.5, 1.5) + 1.5 * peak(h, 18.5, 2.0) + 0.3 * peak(h, 2.0, 3.0);
        let site = site_factor(node_id);
        let co_ppb = 250.0 * site * traffic * (1.0 + 0.05 * noise(node_id, t_ms, 9));
        let no2_ppb = 8.0 * site * traffic * (1.0 + 0.08 * noise(node_id, t_ms, 10));
        let o3_ppb = (10.0 + 38.0 * peak(h, 14.5, 2.5)) * (1.0 + 0.06 * noise(node_id, t_ms, 11));
        let so2_ppb = 2.5 * site * (1.0 + 0.1 * noise(node_id, t_ms, 12));
        AirConditions {
            pm1_0: base * 0.7 + extra * 0.8,
            pm2_5,
            pm10: base * 1.6 + extra * 1.3,
            temperature_c,
            humidity_pct,
            pressure_hpa,
            co_ppb,
            no2_ppb,
            so2_ppb,
            o3_ppb,
        }
    }

    /// What a water node's probes see at `t_ms`.
    pub fn water(&self, node_id: u32, t_ms: u64) -> WaterConditions {
        let h = local_hour(t_ms);
        let sun = ((h - 10.0) / 24.0 * TAU).sin();
        let tide_phase = (t_ms as f64 / (f64::from(TIDE_PERIOD_H) * HOUR_MS as f64)) as f32 * TAU;
        let tide = tide_phase.sin().max(0.0);
        // Canals nearer the West Sea side (higher factor) see more salt at high tide.
        let fresh_ec = 380.0 * site_factor(node_id);
        let salt_exposure = (site_factor(node_id + 1000) - 0.8) * 2.5; // 0 to 1
        let conductivity_us_cm = fresh_ec * (1.0 + 2.5 * tide * salt_exposure);
        WaterConditions {
            ph: 7.1 + 0.25 * sun + 0.02 * noise(node_id, t_ms, 4),
            dissolved_oxygen_mg_l: 5.6 + 1.4 * sun + 0.1 * noise(node_id, t_ms, 5),
            conductivity_us_cm,
            temperature_c: 29.0 + 1.5 * ((h - 14.0) / 24.0 * TAU).cos() + 0.1 * noise(node_id, t_ms, 6),
        }
    }

    /// The environment of a node of the given kind.
    pub fn environment(&self, kind: protocol::registry::StationKind, node_id: u32, t_ms: u64) -> Environment {
        match kind {
            protocol::registry::StationKind::Air => Environment::Air(self.air(node_id, t_ms)),
            protocol::registry::StationKind::Water => Environment::Water(self.water(node_id, t_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY0: u64 = 1_764_201_600_000 - LOCAL_OFFSET_MS; // local midnight

    #[test]
    fn pm_peaks_at_rush_hour_and_is_lowest_mid_afternoon() {
        let s = Scenario::default();
        let at = |h: u64| s.air(1, DAY0 + h * HOUR_MS).pm2_5;
        assert!(
            at(18) > at(14) * 1.4,
            "evening peak {} vs afternoon {}",
            at(18),
            at(14)
        );
        assert!(at(7) > at(14) * 1.2);
        assert!((5.0..80.0).contains(&at(14)));
    }

    #[test]
    fn an_episode_adds_pm_only_where_and_while_it_runs() {
        let episode = Episode {
            node_id: Some(1),
            start_ms: DAY0,
            duration_ms: 2 * HOUR_MS,
            pm2_5_added: 150.0,
        };
        let s = Scenario {
            episodes: vec![episode],
        };
        let quiet = Scenario::default();
        let mid = DAY0 + HOUR_MS;
        assert!((s.air(1, mid).pm2_5 - quiet.air(1, mid).pm2_5 - 150.0).abs() < 1e-3);
        assert_eq!(s.air(2, mid).pm2_5, quiet.air(2, mid).pm2_5);
        assert_eq!(
            s.air(1, DAY0 + 3 * HOUR_MS).pm2_5,
            quiet.air(1, DAY0 + 3 * HOUR_MS).pm2_5
        );
    }

    #[test]
    fn traffic_gases_peak_at_rush_hour_ozone_mid_afternoon_all_within_qcvn_limits() {
        let s = Scenario::default();
        let at = |h: u64| s.air(1, DAY0 + h * HOUR_MS);
        assert!(at(18).co_ppb > at(14).co_ppb * 1.8 && at(8).no2_ppb > at(14).no2_ppb * 1.5);
        assert!(at(15).o3_ppb > at(8).o3_ppb * 2.0 && at(15).o3_ppb > at(2).o3_ppb * 2.0);
        for minute in 0..24 * 60 {
            let a = s.air(5, DAY0 + minute * 60_000);
            // QCVN 05:2023 1-hour limits in µg/m³ (domain.md §4.1), via §1.7's factors.
            assert!(a.co_ppb * 1.145 < 30_000.0 && a.no2_ppb * 1.882 < 200.0);
            assert!(
                a.o3_ppb * 1.963 < 120.0,
                "below even the 8-hour limit: {}",
                a.o3_ppb
            );
            assert!(a.so2_ppb * 2.620 < 125.0 && a.so2_ppb > 0.0);
        }
    }

    #[test]
    fn water_stays_in_plausible_ranges_over_a_day() {
        let s = Scenario::default();
        for minute in 0..24 * 60 {
            let w = s.water(3, DAY0 + minute * 60_000);
            assert!((6.0..8.5).contains(&w.ph), "pH {}", w.ph);
            assert!((3.0..9.0).contains(&w.dissolved_oxygen_mg_l));
            assert!(
                (200.0..10_000.0).contains(&w.conductivity_us_cm),
                "EC {}",
                w.conductivity_us_cm
            );
        }
    }
}
