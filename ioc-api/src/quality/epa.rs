//! The US EPA correction of Plantower PM2.5 for relative humidity.
//!
//! Source: Barkjohn, Gantt and Clements 2021, "Development and application of a United
//! States-wide correction for PM2.5 data collected with the PurpleAir sensor", AMT 14:4617
//! (the linear fit with an RH term), extended for smoke by Barkjohn, Holder, Frederick and
//! Clements 2022, "Correction and Accuracy of PurpleAir PM2.5 Measurements for Extreme Wildfire
//! Smoke", Sensors 22:9669 (the pieces above 50 µg/m³ and the blends), as the shared reference
//! `vn-transmission.md` ("Low-cost PM sensors: correction and QA") gives them:
//!
//! | PA (cf_1, µg/m³) | corrected PM2.5 |
//! |---|---|
//! | PA < 30 | `0.524·PA − 0.0862·RH + 5.75` |
//! | 30 ≤ PA < 50 | blend of the first and third lines, weight `w = PA/20 − 3/2` |
//! | 50 ≤ PA < 210 | `0.786·PA − 0.0862·RH + 5.75` |
//! | 210 ≤ PA < 260 | blend of the third and fifth lines, weight `w = PA/50 − 21/5` |
//! | PA ≥ 260 | `0.69·PA + 8.84·10⁻⁴·PA² + 2.966` |
//!
//! The reference says to check the blend weights in the paper; the paper's text itself could
//! not be read here, so the weights are the paper's form as independent implementations give
//! it: each blend weight runs linearly from 0 at the lower edge to 1 at the upper edge (30 → 0,
//! 50 → 1; 210 → 0, 260 → 1), and the blended result is `w·upper + (1 − w)·lower`, term by term.
//! The tests show the blends meet the neighbouring pieces exactly at 30, 50, 210 and 260, which
//! these weights (and no others of this form) do.
//!
//! Negative results are not clamped: neither the reference nor the paper's equation clamps,
//! and the reference's QA list flags negative values instead, which the `range` rule does for a
//! corrected PM2.5 below 0 (at PA = 0 and RH = 100 % the formula gives −2.87 µg/m³).
//!
//! The input is the sensor's **cf_1** ("standard particle") value. The frames of this system
//! carry the PMS5003's "atmospheric environment" value (protocol `AirSample`), which equals
//! cf_1 below about 30 µg/m³ and reads lower above it, so applied to it the formula
//! under-corrects in smoke; a station that sends cf_1 should be corrected with it.

/// RH coefficient of the pieces below 260 µg/m³ (per %RH).
const RH_COEFF: f64 = 0.0862;
/// Intercept of the pieces below 260 µg/m³.
const LOW_INTERCEPT: f64 = 5.75;

/// `0.524·PA − 0.0862·RH + 5.75` (PA < 30).
fn low(pa: f64, rh: f64) -> f64 {
    0.524 * pa - RH_COEFF * rh + LOW_INTERCEPT
}

/// `0.786·PA − 0.0862·RH + 5.75` (50 ≤ PA < 210).
fn mid(pa: f64, rh: f64) -> f64 {
    0.786 * pa - RH_COEFF * rh + LOW_INTERCEPT
}

/// `0.69·PA + 8.84·10⁻⁴·PA² + 2.966` (PA ≥ 260; no RH term).
fn high(pa: f64) -> f64 {
    0.69 * pa + 8.84e-4 * pa * pa + 2.966
}

/// US EPA corrected PM2.5 (µg/m³) from a Plantower sensor's cf_1 PM2.5 `pa_cf1` (µg/m³) and the
/// relative humidity `rh_percent` (%), by the piecewise equation of Barkjohn et al. 2021/2022
/// (see the module doc). Not clamped at 0; a NaN input gives NaN.
pub fn epa_pm25(pa_cf1: f64, rh_percent: f64) -> f64 {
    let (pa, rh) = (pa_cf1, rh_percent);
    if pa < 30.0 {
        low(pa, rh)
    } else if pa < 50.0 {
        // Sensors 22:9669: [0.786·w + 0.524·(1 − w)]·PA − 0.0862·RH + 5.75, w = PA/20 − 3/2.
        let w = pa / 20.0 - 1.5;
        w * mid(pa, rh) + (1.0 - w) * low(pa, rh)
    } else if pa < 210.0 {
        mid(pa, rh)
    } else if pa < 260.0 {
        // Sensors 22:9669: [0.69·w + 0.786·(1 − w)]·PA − 0.0862·RH·(1 − w) + 2.966·w
        // + 5.75·(1 − w) + 8.84·10⁻⁴·PA²·w, w = PA/50 − 21/5.
        let w = pa / 50.0 - 4.2;
        w * high(pa) + (1.0 - w) * mid(pa, rh)
    } else {
        high(pa)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
    }

    #[test]
    fn below_30_is_the_2021_linear_fit() {
        // 0.524·20 − 0.0862·50 + 5.75 = 10.48 − 4.31 + 5.75
        close(epa_pm25(20.0, 50.0), 11.92);
    }

    #[test]
    fn inside_the_30_to_50_blend_the_slope_is_the_weighted_mean() {
        // w = 40/20 − 1.5 = 0.5; slope 0.786·0.5 + 0.524·0.5 = 0.655;
        // 0.655·40 − 0.0862·60 + 5.75 = 26.2 − 5.172 + 5.75
        close(epa_pm25(40.0, 60.0), 26.778);
        // w = 35/20 − 1.5 = 0.25; slope 0.786·0.25 + 0.524·0.75 = 0.5895;
        // 0.5895·35 − 0.0862·80 + 5.75 = 20.6325 − 6.896 + 5.75
        close(epa_pm25(35.0, 80.0), 19.4865);
    }

    #[test]
    fn between_50_and_210_is_the_mid_linear_fit() {
        // 0.786·100 − 0.0862·70 + 5.75 = 78.6 − 6.034 + 5.75
        close(epa_pm25(100.0, 70.0), 78.316);
    }

    #[test]
    fn inside_the_210_to_260_blend_every_term_is_weighted() {
        // w = 235/50 − 4.2 = 0.5: slope (0.69 + 0.786)/2 = 0.738 → 173.43; quadratic
        // 8.84e-4·235²·0.5 = 24.40945; RH −0.0862·40·0.5 = −1.724; constants
        // 2.966·0.5 + 5.75·0.5 = 4.358; total 200.47345.
        close(epa_pm25(235.0, 40.0), 200.47345);
        // w = 220/50 − 4.2 = 0.2: (0.69·0.2 + 0.786·0.8)·220 = 168.696;
        // 8.84e-4·48400·0.2 = 8.55712; −0.0862·50·0.8 = −3.448; 2.966·0.2 + 5.75·0.8 = 5.1932
        close(epa_pm25(220.0, 50.0), 178.99832);
    }

    #[test]
    fn from_260_up_is_the_quadratic_without_rh() {
        // 0.69·300 + 8.84e-4·90000 + 2.966 = 207 + 79.56 + 2.966
        close(epa_pm25(300.0, 50.0), 289.526);
        close(epa_pm25(300.0, 95.0), 289.526);
    }

    #[test]
    fn the_blends_meet_the_neighbouring_pieces_at_each_edge() {
        for rh in [0.0, 45.0, 100.0] {
            close(epa_pm25(30.0, rh), low(30.0, rh));
            close(epa_pm25(50.0, rh), mid(50.0, rh));
            close(epa_pm25(210.0, rh), mid(210.0, rh));
            close(epa_pm25(260.0, rh), high(260.0));
            // And from just below each edge, within the slope's reach.
            for edge in [30.0, 50.0, 210.0, 260.0] {
                let step = epa_pm25(edge, rh) - epa_pm25(edge - 1e-7, rh);
                assert!(step.abs() < 1e-5, "jump {step} at {edge}, RH {rh}");
            }
        }
    }

    #[test]
    fn clean_humid_air_goes_negative_and_is_left_to_the_range_rule() {
        // 0 − 0.0862·100 + 5.75
        close(epa_pm25(0.0, 100.0), -2.87);
    }

    #[test]
    fn raw_readings_come_down_about_40_percent() {
        // The reference: raw readings run ~40 % high (at typical ambient levels and RH).
        let corrected = epa_pm25(60.0, 60.0);
        let ratio = 60.0 / corrected;
        assert!((1.2..1.6).contains(&ratio), "raw/corrected = {ratio}");
    }
}
