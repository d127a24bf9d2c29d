//! US EPA AQI (40 CFR 58 App. G, PM2.5 revised 7 Feb 2024), the second scheme (domain.md §2).
//!
//! Inputs are µg/m³ like the rest of the API; gases are converted with the 25 °C, 1 atm factors
//! of domain.md §1.7 (µg/m³ = ppb × MW / 24.45). Concentrations are truncated before the lookup
//! (PM2.5 0.1 µg/m³, PM10 1 µg/m³, O3 0.001 ppm, CO 0.1 ppm, SO2 and NO2 1 ppb) and the index is
//! rounded to the nearest integer (domain.md §2.1).
//!
//! The top PM2.5 band is unconfirmed [U]: S7 maps 225.5–325.4 to 301–500 in one segment, S6
//! splits it at 400 up to 500.4. [`Pm25TopBand`] selects one (`indices.us_pm2_5_top_band`);
//! the default follows S7, which cites the 2024 rule.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::category;
use super::nowcast::{PM_WEIGHT_FLOOR, nowcast};
use super::segments::{discrete, round_half_up, truncate};
use super::{AqiResult, Pollutant, SubIndex};

/// µg/m³ in 1 ppb at 25 °C, 1 atm (domain.md §1.7).
pub fn ug_per_ppb(pollutant: Pollutant) -> Option<f64> {
    match pollutant {
        Pollutant::Co => Some(1.145),
        Pollutant::No2 => Some(1.882),
        Pollutant::O3 => Some(1.963),
        Pollutant::So2 => Some(2.620),
        Pollutant::Pm25 | Pollutant::Pm10 => None,
    }
}

/// Which reading of the unconfirmed top PM2.5 band to use [U].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pm25TopBand {
    /// 225.5–325.4 µg/m³ → 301–500 in one segment (S7, citing 40 CFR App. G 2024).
    #[default]
    SingleTo325,
    /// 225.5–325.4 → 301–400 and 325.5–500.4 → 401–500 (S6).
    SplitTo500,
}

/// The AQI rows of the EPA's breakpoint table (40 CFR 58 App. G, Table 6), the same for every
/// pollutant: each pollutant's column gives the concentrations of the rows it covers.
const AQI_ROWS: [(f64, f64); 7] = [
    (0.0, 50.0),
    (51.0, 100.0),
    (101.0, 150.0),
    (151.0, 200.0),
    (201.0, 300.0),
    (301.0, 400.0),
    (401.0, 500.0),
];

/// One pollutant's column of the table: the concentration range (truncated units) of each AQI
/// row it covers, from row `first` on.
#[derive(Debug, Clone, Copy)]
struct Column {
    first: usize,
    ranges: &'static [(f64, f64)],
}

impl Column {
    /// The column as discrete segments `(C_lo, C_hi, I_lo, I_hi)`.
    fn segments(self) -> impl Iterator<Item = (f64, f64, f64, f64)> {
        self.ranges
            .iter()
            .zip(&AQI_ROWS[self.first..])
            .map(|(&(c_lo, c_hi), &(i_lo, i_hi))| (c_lo, c_hi, i_lo, i_hi))
    }

    /// The index of a truncated concentration.
    fn index(self, c: f64) -> Option<f64> {
        discrete(self.segments(), c)
    }
}

/// PM2.5, µg/m³, with the top band split at 325.4 (S6); S7 reads the last two rows as one.
const PM25: Column = Column {
    first: 0,
    ranges: &[
        (0.0, 9.0),
        (9.1, 35.4),
        (35.5, 55.4),
        (55.5, 125.4),
        (125.5, 225.4),
        (225.5, 325.4),
        (325.5, 500.4),
    ],
};
const PM10: Column = Column {
    first: 0,
    ranges: &[
        (0.0, 54.0),
        (55.0, 154.0),
        (155.0, 254.0),
        (255.0, 354.0),
        (355.0, 424.0),
        (425.0, 504.0),
        (505.0, 604.0),
    ],
};
/// O3 8-hour, ppm; the table defines no AQI above 300.
const O3_8H: Column = Column {
    first: 0,
    ranges: &[
        (0.0, 0.054),
        (0.055, 0.070),
        (0.071, 0.085),
        (0.086, 0.105),
        (0.106, 0.200),
    ],
};
/// O3 1-hour, ppm; defined from AQI 101 up.
const O3_1H: Column = Column {
    first: 2,
    ranges: &[
        (0.125, 0.164),
        (0.165, 0.204),
        (0.205, 0.404),
        (0.405, 0.504),
        (0.505, 0.604),
    ],
};
/// CO 8-hour, ppm.
const CO_8H: Column = Column {
    first: 0,
    ranges: &[
        (0.0, 4.4),
        (4.5, 9.4),
        (9.5, 12.4),
        (12.5, 15.4),
        (15.5, 30.4),
        (30.5, 40.4),
        (40.5, 50.4),
    ],
};
/// SO2 1-hour, ppb; covers AQI ≤ 200 only.
const SO2_1H: Column = Column {
    first: 0,
    ranges: &[(0.0, 35.0), (36.0, 75.0), (76.0, 185.0), (186.0, 304.0)],
};
/// SO2 24-hour, ppb, for AQI above 200.
const SO2_24H: Column = Column {
    first: 4,
    ranges: &[(305.0, 604.0), (605.0, 804.0), (805.0, 1_004.0)],
};
/// NO2 1-hour, ppb.
const NO2_1H: Column = Column {
    first: 0,
    ranges: &[
        (0.0, 53.0),
        (54.0, 100.0),
        (101.0, 360.0),
        (361.0, 649.0),
        (650.0, 1_249.0),
        (1_250.0, 1_649.0),
        (1_650.0, 2_049.0),
    ],
};

/// The PM2.5 index of a concentration (µg/m³) already averaged as the caller wants.
pub fn pm2_5_index(c: f64, top: Pm25TopBand) -> Option<f64> {
    let c = truncate(c, 1);
    match top {
        Pm25TopBand::SplitTo500 => PM25.index(c),
        Pm25TopBand::SingleTo325 => {
            discrete(PM25.segments().take(5).chain([(225.5, 325.4, 301.0, 500.0)]), c)
        }
    }
}

/// The PM10 index.
pub fn pm10_index(c: f64) -> Option<f64> {
    PM10.index(truncate(c, 0))
}

fn mean(values: &[Option<f64>], min: usize) -> Option<f64> {
    let present: Vec<f64> = values.iter().flatten().copied().collect();
    (present.len() >= min.max(1)).then(|| present.iter().sum::<f64>() / present.len() as f64)
}

fn ppb(pollutant: Pollutant, ug: f64) -> f64 {
    ug / ug_per_ppb(pollutant).unwrap_or(1.0)
}

fn ppm(pollutant: Pollutant, ug: f64) -> f64 {
    ppb(pollutant, ug) / 1_000.0
}

fn part(pollutant: Pollutant, basis: &'static str, c_ug: f64, index: f64) -> (f64, SubIndex) {
    let rounded = round_half_up(index);
    (
        rounded,
        SubIndex {
            pollutant,
            basis,
            concentration: (c_ug * 10.0).round() / 10.0,
            index: rounded as u16,
        },
    )
}

/// The current US AQI. `recent[p]` holds hourly means of `p` in µg/m³, the current hour first.
/// PM uses the 12-hour NowCast (floor ½, truncated: PM2.5 to 0.1, PM10 to 1); O3 the larger of
/// the 8-hour NowCast (no floor, truncated to 1 ppb) and, from AQI 101, the 1-hour value; CO the
/// 8-hour mean; SO2 the 1-hour value up to 304 ppb and the 24-hour mean above; NO2 the 1-hour
/// value (domain.md §2.1, §2.2). `min_hours_8h` / `min_hours_24h` are the completeness rules
/// for those means.
pub fn current(
    recent: &BTreeMap<Pollutant, Vec<Option<f64>>>,
    top: Pm25TopBand,
    min_hours_8h: usize,
    min_hours_24h: usize,
) -> Option<AqiResult> {
    let mut parts = Vec::new();
    for (&pollutant, hours) in recent {
        let window = |n: usize| &hours[..hours.len().min(n)];
        let c1 = hours.first().copied().flatten();
        match pollutant {
            Pollutant::Pm25 => {
                if let Some(c) = nowcast(window(12), Some(PM_WEIGHT_FLOOR)).map(|c| truncate(c, 1))
                    && let Some(i) = pm2_5_index(c, top)
                {
                    parts.push(part(pollutant, "nowcast", c, i));
                }
            }
            Pollutant::Pm10 => {
                if let Some(c) = nowcast(window(12), Some(PM_WEIGHT_FLOOR)).map(|c| truncate(c, 0))
                    && let Some(i) = pm10_index(c)
                {
                    parts.push(part(pollutant, "nowcast", c, i));
                }
            }
            Pollutant::O3 => {
                let eight = nowcast(window(8), None).and_then(|c_ug| {
                    let c_ppm = truncate(ppb(pollutant, c_ug), 0) / 1_000.0;
                    (c_ppm <= 0.200)
                        .then(|| O3_8H.index(c_ppm))
                        .flatten()
                        .map(|i| part(pollutant, "nowcast_8h", c_ug, i))
                });
                let one = c1.and_then(|c_ug| {
                    let c_ppm = truncate(ppm(pollutant, c_ug), 3);
                    (c_ppm >= 0.125)
                        .then(|| O3_1H.index(c_ppm))
                        .flatten()
                        .map(|i| part(pollutant, "1h", c_ug, i))
                });
                // The larger of the two is reported (domain.md §2.1).
                if let Some(best) = [eight, one]
                    .into_iter()
                    .flatten()
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                {
                    parts.push(best);
                }
            }
            Pollutant::Co => {
                if let Some(c_ug) = mean(window(8), min_hours_8h)
                    && let Some(i) = CO_8H.index(truncate(ppm(pollutant, c_ug), 1))
                {
                    parts.push(part(pollutant, "8h", c_ug, i));
                }
            }
            Pollutant::So2 => {
                let one = c1.map(|c| (c, truncate(ppb(pollutant, c), 0)));
                match one {
                    Some((c_ug, c_ppb)) if c_ppb <= 304.0 => {
                        if let Some(i) = SO2_1H.index(c_ppb) {
                            parts.push(part(pollutant, "1h", c_ug, i));
                        }
                    }
                    _ => {
                        // Above the 1-hour table: the 24-hour mean, on its table.
                        if let Some(c_ug) = mean(window(24), min_hours_24h) {
                            let c_ppb = truncate(ppb(pollutant, c_ug), 0);
                            let table = if c_ppb <= 304.0 { SO2_1H } else { SO2_24H };
                            if let Some(i) = table.index(c_ppb) {
                                parts.push(part(pollutant, "24h", c_ug, i));
                            }
                        }
                    }
                }
            }
            Pollutant::No2 => {
                if let Some(c_ug) = c1
                    && let Some(i) = NO2_1H.index(truncate(ppb(pollutant, c_ug), 0))
                {
                    parts.push(part(pollutant, "1h", c_ug, i));
                }
            }
        }
    }
    if !parts
        .iter()
        .any(|(_, s)| matches!(s.pollutant, Pollutant::Pm25 | Pollutant::Pm10))
    {
        // Same minimum as VN_AQI, so the two schemes cover the same stations.
        return None;
    }
    let (top_index, dominant) = parts
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(v, s)| (*v, s.pollutant))?;
    let aqi = top_index as u16;
    Some(AqiResult {
        aqi,
        dominant,
        band: category::us_aqi(aqi),
        sub_indices: parts.into_iter().map(|(_, s)| s).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm25(c: f64) -> u16 {
        round_half_up(pm2_5_index(c, Pm25TopBand::default()).expect("value")) as u16
    }

    #[test]
    fn pm2_5_2024_breakpoints_and_edges() {
        assert_eq!(pm25(0.0), 0);
        assert_eq!(pm25(9.0), 50);
        assert_eq!(pm25(9.1), 51);
        assert_eq!(pm25(9.19), 51, "truncated to 9.1 first");
        assert_eq!(pm25(35.4), 100);
        assert_eq!(pm25(35.5), 101);
        assert_eq!(pm25(55.5), 151);
        // (200−151)/(125.4−55.5)·(100−55.5)+151 = 182.19 → 182
        assert_eq!(pm25(100.0), 182);
        assert_eq!(pm25(225.5), 301);
        assert_eq!(pm25(325.4), 500);
        assert_eq!(pm25(600.0), 500, "capped");
    }

    #[test]
    fn the_unconfirmed_top_band_is_selectable() {
        let split = |c| round_half_up(pm2_5_index(c, Pm25TopBand::SplitTo500).expect("value")) as u16;
        assert_eq!(split(325.4), 400);
        assert_eq!(split(500.4), 500);
        // One segment: (500−301)/(325.4−225.5)·(275.0−225.5)+301 = 399.6 → 400;
        // split: (400−301)/(325.4−225.5)·49.5+301 = 350.05 → 350.
        assert_eq!(pm25(275.0), 400);
        assert_eq!(split(275.0), 350);
    }

    #[test]
    fn pm10_truncates_to_integers() {
        assert_eq!(round_half_up(pm10_index(54.9).expect("value")), 50.0);
        assert_eq!(round_half_up(pm10_index(55.0).expect("value")), 51.0);
        assert_eq!(round_half_up(pm10_index(154.0).expect("value")), 100.0);
    }

    #[test]
    fn nowcast_with_missing_hours_and_gases() {
        // PM2.5: c1 = 40, c2 missing, c3 = 20: w* = ½ → (40 + ¼·20)/(1.25) = 36.0 → 102.
        let recent = BTreeMap::from([(Pollutant::Pm25, vec![Some(40.0), None, Some(20.0)])]);
        let aqi = current(&recent, Pm25TopBand::default(), 6, 18).expect("valid");
        assert_eq!((aqi.aqi, aqi.band.code), (102, "unhealthy_for_sensitive_groups"));
        // NO2 200 µg/m³ = 106.27 ppb → 106: (150−101)/(360−101)·(106−101)+101 = 101.9 → 102.
        let recent = BTreeMap::from([
            (Pollutant::Pm25, vec![Some(5.0); 3]),
            (Pollutant::No2, vec![Some(200.0)]),
        ]);
        let aqi = current(&recent, Pm25TopBand::default(), 6, 18).expect("valid");
        assert_eq!((aqi.aqi, aqi.dominant), (102, Pollutant::No2));
        // Only c1 of the last three hours: no PM NowCast, so no AQI.
        let recent = BTreeMap::from([(Pollutant::Pm25, vec![Some(40.0), None, None, Some(20.0)])]);
        assert_eq!(current(&recent, Pm25TopBand::default(), 6, 18), None);
    }

    #[test]
    fn ozone_uses_the_larger_of_8h_and_1h() {
        // Steady 100 µg/m³ = 50.94 ppb: 8h NowCast → 50 ppb = 0.050 ppm → 46; 1h 0.050 < 0.125 unused.
        let mut recent = BTreeMap::from([(Pollutant::Pm25, vec![Some(5.0); 3])]);
        recent.insert(Pollutant::O3, vec![Some(100.0); 8]);
        let aqi = current(&recent, Pm25TopBand::default(), 6, 18).expect("valid");
        let o3 = aqi
            .sub_indices
            .iter()
            .find(|s| s.pollutant == Pollutant::O3)
            .expect("o3");
        assert_eq!((o3.basis, o3.index), ("nowcast_8h", 46));
        // A spike of 400 µg/m³ after seven hours at 100: the unfloored 8h NowCast (w = ¼) is
        // 325.0 µg/m³ = 165.5 ppb → 0.165 ppm → (300−201)/(0.200−0.106)·0.059+201 = 263.1 → 263;
        // the 1h value 0.203 ppm gives 198.7 → 199, so the 8h one is reported.
        let mut spike = vec![Some(100.0); 8];
        spike[0] = Some(400.0);
        recent.insert(Pollutant::O3, spike);
        let aqi = current(&recent, Pm25TopBand::default(), 6, 18).expect("valid");
        assert_eq!((aqi.aqi, aqi.dominant), (263, Pollutant::O3));
        // With only the current hour there is no 8h NowCast: the 1h table alone gives 199.
        recent.insert(Pollutant::O3, vec![Some(400.0)]);
        let aqi = current(&recent, Pm25TopBand::default(), 6, 18).expect("valid");
        let o3 = aqi
            .sub_indices
            .iter()
            .find(|s| s.pollutant == Pollutant::O3)
            .expect("o3");
        assert_eq!((o3.basis, o3.index), ("1h", 199));
    }
}
