//! NowCast over recent hourly means (domain.md §1.4 and §2.2).
//!
//! `c[0]` is the current hour (c1), `c[i]` the hour i back; a missing hour is `None` and takes
//! weight 0 in both sums. The weight is `w* = c_min/c_max`, floored at ½ for particulate matter
//! and unfloored for US ozone. A NowCast exists only when at least 2 of c1, c2, c3 exist.
//!
//! Decision 1459 writes the w = ½ case as `Σ (½)^i·c_i` without dividing by the weights' sum;
//! we always normalise (EPA's form). The two differ by under 0.03 % (Σ(½)^i for i = 1..12 is
//! 0.99976): for c = [50, 10×11] the decision's form gives 29.998, ours 30.005.

/// The weight floor for PM2.5 and PM10 in both schemes.
pub const PM_WEIGHT_FLOOR: f64 = 0.5;

/// The NowCast of `c` (c1 first), or `None` when fewer than 2 of the 3 most recent hours exist.
pub fn nowcast(c: &[Option<f64>], weight_floor: Option<f64>) -> Option<f64> {
    let recent = c.iter().take(3).filter(|v| v.is_some()).count();
    if recent < 2 {
        return None;
    }
    let present = || c.iter().flatten().copied();
    let c_min = present().fold(f64::INFINITY, f64::min);
    let c_max = present().fold(f64::NEG_INFINITY, f64::max);
    let ratio = if c_max > 0.0 { c_min / c_max } else { 1.0 };
    let w = weight_floor.map_or(ratio, |floor| ratio.max(floor));
    let (mut num, mut den, mut weight) = (0.0, 0.0, 1.0);
    for value in c {
        if let Some(v) = value {
            num += weight * v;
            den += weight;
        }
        weight *= w;
    }
    Some(num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(values: &[f64]) -> Vec<Option<f64>> {
        values.iter().map(|&v| Some(v)).collect()
    }

    #[test]
    fn decision_1459_worked_example_gives_20_27() {
        // PM2.5 09:00 → 20:00 (domain.md §1.6); c1 is 20:00.
        let mut c = hours(&[
            26.9, 24.7, 20.5, 23.5, 19.5, 16.5, 19.0, 16.5, 20.3, 22.4, 19.6, 20.6,
        ]);
        c.reverse();
        let n = nowcast(&c, Some(PM_WEIGHT_FLOOR)).expect("12 hours");
        assert!((n - 20.27).abs() < 0.005, "{n}");
    }

    #[test]
    fn the_weight_floor_holds_at_one_half() {
        let mut c = hours(&[50.0]);
        c.extend(hours(&[10.0; 11]));
        let n = nowcast(&c, Some(PM_WEIGHT_FLOOR)).expect("value");
        assert!((n - 30.005).abs() < 0.001, "{n}");
    }

    #[test]
    fn a_steady_series_is_its_own_mean() {
        assert_eq!(nowcast(&hours(&[12.0; 12]), Some(0.5)), Some(12.0));
    }

    #[test]
    fn two_of_the_three_latest_hours_are_required() {
        let only_c1 = [Some(30.0), None, None, Some(10.0), Some(10.0)];
        assert_eq!(nowcast(&only_c1, Some(0.5)), None);
        let only_c3 = [None, None, Some(30.0), Some(10.0)];
        assert_eq!(nowcast(&only_c3, Some(0.5)), None);
        // c1 and c3: valid; c2 takes weight 0 in both sums. w* = 10/30 → w = ½:
        // (30 + ¼·10) / (1 + ¼) = 26.
        let c1_c3 = [Some(30.0), None, Some(10.0)];
        assert_eq!(nowcast(&c1_c3, Some(0.5)), Some(26.0));
        // c2 and c3 without c1 is valid too.
        let c2_c3 = [None, Some(20.0), Some(20.0)];
        assert_eq!(nowcast(&c2_c3, Some(0.5)), Some(20.0));
    }

    #[test]
    fn ozone_has_no_weight_floor() {
        // w* = 10/40 = ¼: (40 + ¼·10) / (1 + ¼) = 34.
        assert_eq!(nowcast(&hours(&[40.0, 10.0]), None), Some(34.0));
        // With the PM floor the same series gives (40 + ½·10)/(1.5) = 30.
        assert_eq!(nowcast(&hours(&[40.0, 10.0]), Some(0.5)), Some(30.0));
    }
}
