//! VN_WQI, Decision 1460/QĐ-TCMT (12 Nov 2019), domain.md §3.
//!
//! The tables and the aggregation are [I]: two independent implementations (S14, S18) agree on
//! them, the official PDF was not read. The choice between the square-root aggregation and the
//! "weighted" cube-root variant is [U], so it is configurable ([`Aggregation`],
//! `indices.wqi_aggregation`); the default is the square root both implementations use.
//!
//! Temperature is not a sub-index: it only turns DO in mg/L into % saturation (§3.4).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::category::{self, Band};
use super::segments::round_half_up;

/// How groups IV and V combine [U] (domain.md §3.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// `[AM_IV · AM_V]^(1/2)`.
    #[default]
    SquareRoot,
    /// `[AM_IV² · AM_V]^(1/3)`.
    WeightedCubeRoot,
}

/// The parameters of Decision 1460, by group (domain.md §3.1). Units: mg/L, pesticides µg/L,
/// coliform and E. coli MPN/100 mL, DO as % saturation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WqiParameter {
    /// Group I.
    Ph,
    /// Group II, µg/L.
    Aldrin,
    /// Group II, µg/L.
    Bhc,
    /// Group II, µg/L.
    Dieldrin,
    /// Group II, µg/L.
    Ddts,
    /// Group II, µg/L.
    Heptachlor,
    /// Group III.
    As,
    /// Group III.
    Cd,
    /// Group III.
    Pb,
    /// Group III.
    Cr6,
    /// Group III.
    Cu,
    /// Group III.
    Zn,
    /// Group III.
    Hg,
    /// Group IV, DO as % saturation.
    DoPct,
    /// Group IV.
    Bod5,
    /// Group IV.
    Cod,
    /// Group IV.
    Toc,
    /// Group IV.
    NNh4,
    /// Group IV.
    NNo3,
    /// Group IV.
    NNo2,
    /// Group IV.
    PPo4,
    /// Group V.
    Coliform,
    /// Group V.
    EColi,
}

impl WqiParameter {
    /// Group number, 1 to 5.
    pub fn group(self) -> usize {
        use WqiParameter::*;
        match self {
            Ph => 1,
            Aldrin | Bhc | Dieldrin | Ddts | Heptachlor => 2,
            As | Cd | Pb | Cr6 | Cu | Zn | Hg => 3,
            DoPct | Bod5 | Cod | Toc | NNh4 | NNo3 | NNo2 | PPo4 => 4,
            Coliform | EColi => 5,
        }
    }
}

/// A decreasing table: (BP, q) pairs; `strict_first` when the q = 100 column is "<" (the value
/// at the first breakpoint already scores 75, a step). Above the last breakpoint the sub-index
/// is 10 (domain.md §3.3).
struct Decreasing {
    strict_first: bool,
    points: &'static [(f64, f64)],
}

const fn le(points: &'static [(f64, f64)]) -> Decreasing {
    Decreasing {
        strict_first: false,
        points,
    }
}
const fn lt(points: &'static [(f64, f64)]) -> Decreasing {
    Decreasing {
        strict_first: true,
        points,
    }
}

fn decreasing_table(p: WqiParameter) -> Option<Decreasing> {
    use WqiParameter::*;
    Some(match p {
        As => le(&[(0.01, 100.0), (0.02, 75.0), (0.05, 50.0), (0.1, 25.0)]),
        Cd => lt(&[(0.005, 75.0), (0.008, 50.0), (0.01, 25.0), (0.1, 10.0)]),
        Pb => lt(&[(0.02, 75.0), (0.04, 50.0), (0.05, 25.0), (0.5, 10.0)]),
        Cr6 => le(&[
            (0.01, 100.0),
            (0.02, 75.0),
            (0.04, 50.0),
            (0.05, 25.0),
            (0.1, 10.0),
        ]),
        Cu => le(&[(0.1, 100.0), (0.2, 75.0), (0.5, 50.0), (1.0, 25.0), (2.0, 10.0)]),
        Zn => le(&[(0.5, 100.0), (1.0, 75.0), (1.5, 50.0), (2.0, 25.0), (3.0, 10.0)]),
        Hg => lt(&[(0.001, 75.0), (0.0015, 50.0), (0.002, 25.0), (0.01, 10.0)]),
        Bod5 | Toc => le(&[
            (4.0, 100.0),
            (6.0, 75.0),
            (15.0, 50.0),
            (25.0, 25.0),
            (50.0, 10.0),
        ]),
        Cod => le(&[
            (10.0, 100.0),
            (15.0, 75.0),
            (30.0, 50.0),
            (50.0, 25.0),
            (150.0, 10.0),
        ]),
        NNh4 => lt(&[(0.3, 75.0), (0.6, 50.0), (0.9, 25.0), (5.0, 10.0)]),
        // S14's q = 52 at 10 mg/L is a typo for 50 (domain.md §3.3).
        NNo3 => le(&[(2.0, 100.0), (5.0, 75.0), (10.0, 50.0), (15.0, 25.0)]),
        NNo2 => le(&[(0.05, 100.0)]),
        PPo4 => le(&[(0.1, 100.0), (0.2, 75.0), (0.3, 50.0), (0.5, 25.0), (4.0, 10.0)]),
        Coliform => le(&[
            (2_500.0, 100.0),
            (5_000.0, 75.0),
            (7_500.0, 50.0),
            (10_000.0, 25.0),
        ]),
        EColi => le(&[(20.0, 100.0), (50.0, 75.0), (100.0, 50.0), (200.0, 25.0)]),
        _ => return None,
    })
}

fn lerp((x0, y0): (f64, f64), (x1, y1): (f64, f64), x: f64) -> f64 {
    (y1 - y0) / (x1 - x0) * (x - x0) + y0
}

fn decreasing(t: &Decreasing, c: f64) -> f64 {
    let first = t.points[0];
    if (t.strict_first && c < first.0) || (!t.strict_first && c <= first.0) {
        return if t.strict_first { 100.0 } else { first.1 };
    }
    for pair in t.points.windows(2) {
        if c <= pair[1].0 {
            return lerp(pair[0], pair[1], c);
        }
    }
    if c == t.points[t.points.len() - 1].0 {
        return t.points[t.points.len() - 1].1;
    }
    10.0
}

/// Group I, pH (domain.md §3.3).
fn ph(c: f64) -> f64 {
    match c {
        c if c < 5.5 => 10.0,
        c if c < 6.0 => lerp((5.5, 50.0), (6.0, 100.0), c),
        c if c <= 8.5 => 100.0,
        c if c <= 9.0 => lerp((8.5, 100.0), (9.0, 50.0), c),
        _ => 10.0,
    }
}

/// DO in % saturation (domain.md §3.3).
fn do_pct(c: f64) -> f64 {
    const RISING: [(f64, f64); 4] = [(20.0, 25.0), (50.0, 50.0), (75.0, 75.0), (88.0, 100.0)];
    const FALLING: [(f64, f64); 4] = [(112.0, 100.0), (125.0, 75.0), (150.0, 50.0), (200.0, 25.0)];
    if !(20.0..=200.0).contains(&c) {
        return 10.0;
    }
    if (88.0..=112.0).contains(&c) {
        return 100.0;
    }
    let table: &[(f64, f64)] = if c < 88.0 { &RISING } else { &FALLING };
    table
        .windows(2)
        .find(|w| c >= w[0].0 && c <= w[1].0)
        .map_or(10.0, |w| lerp(w[0], w[1], c))
}

/// Group II limits, µg/L: 100 at or below, 10 above.
fn pesticide_limit(p: WqiParameter) -> Option<f64> {
    use WqiParameter::*;
    match p {
        Aldrin | Dieldrin => Some(0.1),
        Bhc => Some(0.02),
        Ddts => Some(1.0),
        Heptachlor => Some(0.2),
        _ => None,
    }
}

/// The sub-index of one parameter (unrounded), or `None` for a value that is not a number.
pub fn sub_index(p: WqiParameter, c: f64) -> Option<f64> {
    if !c.is_finite() || c < 0.0 {
        return None;
    }
    Some(match p {
        WqiParameter::Ph => ph(c),
        WqiParameter::DoPct => do_pct(c),
        _ => match (pesticide_limit(p), decreasing_table(p)) {
            (Some(limit), _) => {
                if c <= limit {
                    100.0
                } else {
                    10.0
                }
            }
            (None, Some(table)) => decreasing(&table, c),
            (None, None) => return None,
        },
    })
}

/// DO saturation in mg/L at `t_c` °C (Elmore–Hayes, sea level, fresh water; domain.md §3.4).
pub fn do_saturation(t_c: f64) -> f64 {
    14.652 - 0.41022 * t_c + 0.007_991_0 * t_c.powi(2) - 0.000_077_774 * t_c.powi(3)
}

/// DO in % saturation from mg/L and the water temperature.
pub fn do_percent(do_mg_l: f64, t_c: f64) -> f64 {
    do_mg_l / do_saturation(t_c) * 100.0
}

/// One sub-index in a result.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WqiPart {
    /// The parameter.
    pub parameter: WqiParameter,
    /// Its group (1–5).
    pub group: usize,
    /// The value used.
    pub value: f64,
    /// The sub-index, rounded half up.
    pub index: u16,
}

/// A computed VN_WQI.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WqiResult {
    /// The index, rounded half up.
    pub wqi: u16,
    /// Its band.
    pub band: Band,
    /// Every sub-index.
    pub parts: Vec<WqiPart>,
}

/// Why no VN_WQI could be computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Insufficient {
    /// Groups with data (1–5).
    pub groups_present: Vec<usize>,
    /// Group IV parameters with data.
    pub group_iv_parameters: usize,
    /// The rule: at least 3 of the 5 groups, and at least 3 group IV parameters.
    pub rule: &'static str,
}

/// The data-sufficiency rule [I] (domain.md §3.1, S14).
pub const SUFFICIENCY_RULE: &str = "at least 3 of the 5 groups, and at least 3 parameters in group IV";

fn geometric_mean(values: &[f64]) -> f64 {
    (values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp()
}

fn arithmetic_mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// VN_WQI from whatever parameters are present (domain.md §3.5).
///
/// # Errors
///
/// [`Insufficient`] when the data-sufficiency rule is not met.
pub fn compute(values: &[(WqiParameter, f64)], aggregation: Aggregation) -> Result<WqiResult, Insufficient> {
    let mut groups: [Vec<f64>; 6] = Default::default();
    let mut parts = Vec::new();
    for &(parameter, value) in values {
        if let Some(q) = sub_index(parameter, value) {
            groups[parameter.group()].push(q);
            parts.push(WqiPart {
                parameter,
                group: parameter.group(),
                value,
                index: round_half_up(q) as u16,
            });
        }
    }
    let groups_present: Vec<usize> = (1..=5).filter(|&g| !groups[g].is_empty()).collect();
    if groups_present.len() < 3 || groups[4].len() < 3 {
        return Err(Insufficient {
            group_iv_parameters: groups[4].len(),
            groups_present,
            rule: SUFFICIENCY_RULE,
        });
    }
    // An absent group I, II or III contributes a factor of 1.
    let factor = |g: usize, f: fn(&[f64]) -> f64| {
        if groups[g].is_empty() {
            1.0
        } else {
            f(&groups[g]) / 100.0
        }
    };
    let am_iv = arithmetic_mean(&groups[4]);
    let organic = if groups[5].is_empty() {
        am_iv
    } else {
        let am_v = arithmetic_mean(&groups[5]);
        match aggregation {
            Aggregation::SquareRoot => (am_iv * am_v).sqrt(),
            Aggregation::WeightedCubeRoot => (am_iv * am_iv * am_v).cbrt(),
        }
    };
    let wqi = factor(1, arithmetic_mean) * factor(2, geometric_mean) * factor(3, geometric_mean) * organic;
    let wqi = round_half_up(wqi) as u16;
    Ok(WqiResult {
        wqi,
        band: category::vn_wqi(wqi),
        parts,
    })
}

#[cfg(test)]
mod tests {
    use super::WqiParameter::*;
    use super::*;

    fn q(p: WqiParameter, c: f64) -> f64 {
        sub_index(p, c).expect("number")
    }

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
    }

    #[test]
    fn ph_and_do_tables() {
        close(q(Ph, 5.4), 10.0);
        close(q(Ph, 5.5), 50.0);
        close(q(Ph, 5.75), 75.0);
        close(q(Ph, 7.0), 100.0);
        close(q(Ph, 8.75), 75.0);
        close(q(Ph, 9.1), 10.0);
        close(q(DoPct, 19.9), 10.0);
        close(q(DoPct, 20.0), 25.0);
        close(q(DoPct, 62.5), 62.5);
        close(q(DoPct, 81.5), 87.5);
        close(q(DoPct, 100.0), 100.0);
        close(q(DoPct, 137.5), 62.5);
        close(q(DoPct, 201.0), 10.0);
    }

    #[test]
    fn decreasing_tables_with_their_steps() {
        close(q(Bod5, 4.0), 100.0);
        close(q(Bod5, 5.0), 87.5);
        close(q(Bod5, 37.5), 17.5);
        close(q(Bod5, 60.0), 10.0);
        // "<0.3 → 100, 0.3 → 75": a step at the first breakpoint.
        close(q(NNh4, 0.29), 100.0);
        close(q(NNh4, 0.3), 75.0);
        close(q(NNh4, 0.45), 62.5);
        // "15 → 25, >15 → 10": a step after the last breakpoint.
        close(q(NNo3, 15.0), 25.0);
        close(q(NNo3, 15.01), 10.0);
        close(q(NNo2, 0.05), 100.0);
        close(q(NNo2, 0.051), 10.0);
        close(q(Cd, 0.004), 100.0);
        close(q(Cd, 0.0065), 62.5);
        close(q(Coliform, 6_250.0), 62.5);
        close(q(Aldrin, 0.1), 100.0);
        close(q(Aldrin, 0.11), 10.0);
    }

    #[test]
    fn do_saturation_matches_the_reference_table() {
        for (t, sat) in [
            (20.0, 9.02),
            (25.0, 8.18),
            (28.0, 7.72),
            (30.0, 7.44),
            (32.0, 7.16),
        ] {
            assert!(
                (do_saturation(t) - sat).abs() < 0.006,
                "{t} °C: {}",
                do_saturation(t)
            );
        }
        // 6.0 mg/L at 30 °C: 6.0 / 7.4374 = 80.67 % saturation.
        assert!((do_percent(6.0, 30.0) - 80.67).abs() < 0.01);
    }

    #[test]
    fn aggregation_by_hand() {
        // pH 7 (100); DO 100 %, BOD5 5 (87.5), COD 12.5 (87.5): AM_IV = 91.67; coliform 3750 (87.5).
        // sqrt(91.67 × 87.5) = 89.56 → 90, Good.
        let values = [
            (Ph, 7.0),
            (DoPct, 100.0),
            (Bod5, 5.0),
            (Cod, 12.5),
            (Coliform, 3_750.0),
        ];
        let r = compute(&values, Aggregation::SquareRoot).expect("sufficient");
        assert_eq!((r.wqi, r.band.code), (90, "good"));
        // Weighted: (91.67² × 87.5)^(1/3) = 90.26 → 90.
        let r = compute(&values, Aggregation::WeightedCubeRoot).expect("sufficient");
        assert_eq!(r.wqi, 90);
        // pH 5.75 (75) scales everything: 0.75 × 89.56 = 67.2 → 67, Medium.
        let mut acid = values;
        acid[0] = (Ph, 5.75);
        assert_eq!(compute(&acid, Aggregation::SquareRoot).expect("ok").wqi, 67);
        // Group V absent: AM_IV alone; with a metal (Cu 0.35 → 62.5): 0.625 × 91.67 = 57.3 → 57.
        let metals = [(Ph, 7.0), (DoPct, 100.0), (Bod5, 5.0), (Cod, 12.5), (Cu, 0.35)];
        assert_eq!(compute(&metals, Aggregation::SquareRoot).expect("ok").wqi, 57);
    }

    #[test]
    fn data_sufficiency_rule() {
        // pH and DO only (what the probes measure): 2 groups, 1 group IV parameter.
        let err = compute(&[(Ph, 7.0), (DoPct, 90.0)], Aggregation::SquareRoot).expect_err("insufficient");
        assert_eq!((err.groups_present, err.group_iv_parameters), (vec![1, 4], 1));
        // 3 groups but only 2 group IV parameters.
        let two = [(Ph, 7.0), (DoPct, 90.0), (Cod, 10.0), (Coliform, 100.0)];
        assert!(compute(&two, Aggregation::SquareRoot).is_err());
        let three = [
            (Ph, 7.0),
            (DoPct, 90.0),
            (Cod, 10.0),
            (Bod5, 4.0),
            (Coliform, 100.0),
        ];
        assert_eq!(compute(&three, Aggregation::SquareRoot).expect("ok").wqi, 100);
    }
}
