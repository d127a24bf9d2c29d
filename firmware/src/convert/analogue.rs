//! The low-cost water probes read through the ADS1115: analogue pH board, galvanic dissolved
//! oxygen, DFRobot SEN0189-style turbidity and a 4–20 mA level transducer. Each turns a voltage
//! (µV at the ADC input) into the frame's unit, through the probe's [`Calibration`] points (raw in
//! µV, reference in the frame's unit).

use super::oxygen::saturation_mg_l;
use super::round;
use crate::calibration::{CalPoint, Calibration};

/// The Nernst slope, 0.19841·T[K] mV per pH unit (59.16 mV at 25 °C), in µV per pH
/// (`shared/reference/domain.md` §7.4).
pub fn nernst_uv_per_ph(temperature_c: f64) -> f64 {
    198.41 * (temperature_c + 273.15)
}

/// An analogue pH board. The electrode follows E = E₇ − s(T)·(pH − 7): its isopotential point is
/// taken as pH 7, and its slope s follows the Nernst law 0.19841·T[K] mV/pH, scaled by the
/// electrode's efficiency. Without calibration it assumes the ideal electrode on a unity-gain
/// board biased to [`PH_UNCALIBRATED_MID_UV`] at pH 7, the voltage falling as pH rises (readings
/// then carry the calibration-due flag). One point fixes E₇; two or three fix the slope too
/// (three: one slope each side of the middle point), measured at the calibration's temperature
/// (25 °C if it was not recorded).
pub const PH_UNCALIBRATED_MID_UV: i32 = 1_500_000;

/// pH in 0.001 pH for `uv` at the probe and `temperature_c`; `None` outside 0–14.
pub fn ph_milli(uv: i32, temperature_c: f64, calibration: Option<&Calibration>) -> Option<u16> {
    let calibrated_at = calibration
        .and_then(|c| c.temperature_centi)
        .map_or(25.0, |t| f64::from(t) / 100.0);
    let at_calibration = nernst_uv_per_ph(calibrated_at);
    let points = calibration.map_or(&[][..], Calibration::points);
    // Sorted by pH; at most three.
    let mut sorted = [CalPoint::default(); 3];
    let n = points.len().min(3);
    sorted[..n].copy_from_slice(&points[..n]);
    sorted[..n].sort_unstable_by_key(|p| p.reference);
    let sorted = &sorted[..n];
    let ph_of = |p: &CalPoint| f64::from(p.reference) / 1_000.0;
    // (a point on the line, slope in µV per pH at the calibration's temperature)
    let (anchor, slope) = match sorted {
        [] => ((f64::from(PH_UNCALIBRATED_MID_UV), 7.0), -at_calibration),
        [p] => ((f64::from(p.raw), ph_of(p)), -at_calibration),
        _ => {
            let slope = |a: &CalPoint, b: &CalPoint| f64::from(b.raw - a.raw) / (ph_of(b) - ph_of(a));
            let (a, b) = if sorted.len() == 3 {
                // The reading's side of the middle point: voltage is monotonic in pH.
                let acid_side =
                    (f64::from(uv) - f64::from(sorted[1].raw)) / slope(&sorted[0], &sorted[1]) < 0.0;
                if acid_side {
                    (&sorted[0], &sorted[1])
                } else {
                    (&sorted[1], &sorted[2])
                }
            } else {
                (&sorted[0], &sorted[1])
            };
            ((f64::from(a.raw), ph_of(a)), slope(a, b))
        }
    };
    if slope == 0.0 {
        return None;
    }
    let e7 = anchor.0 + (7.0 - anchor.1) * slope;
    let slope_now = slope * nernst_uv_per_ph(temperature_c) / at_calibration;
    let ph = 7.0 + (f64::from(uv) - e7) / slope_now;
    u16::try_from(round(ph * 1_000.0)).ok().filter(|v| *v <= 14_000)
}

/// A galvanic DO probe: its output is proportional to the oxygen partial pressure, so
/// DO = (V − V₀)/(V_air − V₀) × DO_sat(T), with V_air from the "air" calibration point and V₀ from
/// the optional "zero" point (0 without one). Returns DO in 0.01 mg/L, or `None` uncalibrated
/// (there is no typical V_air to assume) or outside 0–50 mg/L.
pub fn dissolved_oxygen_centi(uv: i32, temperature_c: f64, calibration: Option<&Calibration>) -> Option<u16> {
    let points = calibration?.points();
    // The air point is the one with a non-zero reference (saturation in 0.01 mg/L at calibration).
    let air = points.iter().rev().find(|p| p.reference != 0)?;
    let zero_uv = points
        .iter()
        .rev()
        .find(|p| p.reference == 0)
        .map_or(0, |p| p.raw);
    let span = f64::from(air.raw - zero_uv);
    if span <= 0.0 {
        return None;
    }
    let fraction = f64::from(uv - zero_uv) / span;
    let mg_l = fraction * saturation_mg_l(temperature_c);
    u16::try_from(round(mg_l * 100.0)).ok().filter(|v| *v <= 5_000)
}

/// The DO "air" calibration point for a reading `uv` taken in air at `temperature_c`: its
/// reference is the saturation concentration then, in 0.01 mg/L.
pub fn dissolved_oxygen_air_point(uv: i32, temperature_c: f64) -> CalPoint {
    CalPoint {
        raw: uv,
        reference: i32::try_from(round(saturation_mg_l(temperature_c) * 100.0)).unwrap_or(0),
    }
}

/// Supply voltage the SEN0189 curve was fitted at; the board's output is scaled from 3.3 V.
const TURBIDITY_CURVE_SUPPLY_MV: f64 = 5_000.0;

/// Turbidity (DFRobot SEN0189 curve, `domain.md` §7.4) in 0.1 NTU for `uv` from a sensor powered
/// at `supply_mv`: NTU = −1120.4·V² + 5742.3·V − 4352.9 with V scaled to a 5 V supply, 3000 NTU
/// at or below 2.5 V, never below 0. A "zero" calibration point (clear water) subtracts what the
/// curve gives for it.
pub fn turbidity_deci(uv: i32, supply_mv: u32, calibration: Option<&Calibration>) -> Option<u16> {
    let curve = |uv: i32| {
        let v = f64::from(uv) / 1e6 * TURBIDITY_CURVE_SUPPLY_MV / f64::from(supply_mv.max(1));
        if v <= 2.5 {
            3_000.0
        } else {
            (-1_120.4 * v * v + 5_742.3 * v - 4_352.9).max(0.0)
        }
    };
    let offset = calibration
        .and_then(|c| c.points().iter().rev().find(|p| p.reference == 0))
        .map_or(0.0, |zero| curve(zero.raw));
    let ntu = (curve(uv) - offset).clamp(0.0, 4_000.0);
    u16::try_from(round(ntu * 10.0)).ok()
}

/// A 4–20 mA level transducer read as a voltage across a shunt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelTransducer {
    /// Shunt resistance in Ω (150 Ω turns 4–20 mA into 0.6–3.0 V).
    pub shunt_ohm: u32,
    /// Water level at 4 mA, in mm above the gauge datum.
    pub at_4ma_mm: i32,
    /// Water level at 20 mA, in mm above the gauge datum.
    pub at_20ma_mm: i32,
}

impl LevelTransducer {
    /// Level in mm for `uv` across the shunt; `None` for a current outside 3.6–21 mA (a broken
    /// loop reads 0 mA; NAMUR NE 43 puts faults outside that band). A "single" calibration point
    /// (the level read off a staff gauge) shifts the line to pass through it.
    pub fn level_mm(&self, uv: i32, calibration: Option<&Calibration>) -> Option<i32> {
        let linear = |uv: i32| -> Option<f64> {
            let ua = f64::from(uv) / f64::from(self.shunt_ohm.max(1));
            if !(3_600.0..=21_000.0).contains(&ua) {
                return None;
            }
            let span = f64::from(self.at_20ma_mm - self.at_4ma_mm);
            Some(f64::from(self.at_4ma_mm) + (ua - 4_000.0) / 16_000.0 * span)
        };
        let offset = match calibration.and_then(|c| c.points().last()) {
            Some(p) => f64::from(p.reference) - linear(p.raw)?,
            None => 0.0,
        };
        i32::try_from(round(linear(uv)? + offset)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(points: &[(i32, i32)]) -> Calibration {
        let mut c = Calibration::default();
        for &(raw, reference) in points {
            c.add(CalPoint { raw, reference }, 1);
        }
        c
    }

    #[test]
    fn nernst_slope_is_59_16_mv_at_25_c() {
        assert!((nernst_uv_per_ph(25.0) - 59_156.0).abs() < 5.0);
    }

    #[test]
    fn ph_two_point_calibration_and_temperature_slope() {
        // A probe at 95 % efficiency: pH 7 at 1.500 V, pH 4 at 1.500 + 3·0.95·59.16 mV.
        let s = 0.95 * nernst_uv_per_ph(25.0);
        let mid = 1_500_000;
        let low = mid + (3.0 * s) as i32;
        let c = cal(&[(mid, 7_000), (low, 4_000)]);
        assert_eq!(ph_milli(mid, 25.0, Some(&c)), Some(7_000));
        assert_eq!(ph_milli(low, 25.0, Some(&c)), Some(4_000));
        let ph9 = mid - (2.0 * s) as i32;
        assert!(ph_milli(ph9, 25.0, Some(&c)).expect("pH").abs_diff(9_000) <= 1);
        // At 35 °C the slope is 3.4 % steeper: the same voltage means a pH nearer 7.
        let warm = ph_milli(ph9, 35.0, Some(&c)).expect("pH");
        let expected = 7.0 + 2.0 * (298.15 / 308.15);
        assert!((f64::from(warm) / 1_000.0 - expected).abs() < 0.002, "{warm}");
        // Buffers measured at 30 °C: the slope found then is the 30 °C one.
        let s30 = 0.95 * nernst_uv_per_ph(30.0);
        let c30 = cal(&[(mid, 7_000), (mid + (3.0 * s30) as i32, 4_000)]);
        let mut c30 = c30;
        c30.temperature_centi = Some(3_000);
        let ph5 = mid + (2.0 * 0.95 * nernst_uv_per_ph(20.0)) as i32;
        assert!(ph_milli(ph5, 20.0, Some(&c30)).expect("pH").abs_diff(5_000) <= 1);
    }

    #[test]
    fn ph_three_points_use_the_slope_on_each_side() {
        let c = cal(&[(1_500_000, 7_000), (1_680_000, 4_000), (1_330_000, 10_000)]);
        assert_eq!(ph_milli(1_680_000, 25.0, Some(&c)), Some(4_000));
        assert_eq!(ph_milli(1_330_000, 25.0, Some(&c)), Some(10_000));
        // Halfway on the acid side and on the alkaline side.
        assert_eq!(ph_milli(1_590_000, 25.0, Some(&c)), Some(5_500));
        assert_eq!(ph_milli(1_415_000, 25.0, Some(&c)), Some(8_500));
    }

    #[test]
    fn uncalibrated_ph_uses_the_ideal_probe() {
        assert_eq!(ph_milli(PH_UNCALIBRATED_MID_UV, 25.0, None), Some(7_000));
        assert_eq!(ph_milli(0, 25.0, None), None, "25 pH is no pH");
    }

    #[test]
    fn galvanic_do_scales_with_saturation() {
        let air = dissolved_oxygen_air_point(40_000, 25.0);
        assert_eq!(air.reference, 818);
        let c = cal(&[(air.raw, air.reference)]);
        assert_eq!(dissolved_oxygen_centi(40_000, 25.0, Some(&c)), Some(818));
        assert_eq!(
            dissolved_oxygen_centi(20_000, 30.0, Some(&c)),
            Some(372),
            "half of 7.44"
        );
        assert_eq!(dissolved_oxygen_centi(20_000, 30.0, None), None);
    }

    #[test]
    fn turbidity_follows_the_sen0189_curve() {
        // 4.1 V at 5 V supply: −1120.4·16.81 + 5742.3·4.1 − 4352.9 = 356.6 NTU.
        assert_eq!(turbidity_deci(4_100_000, 5_000, None), Some(3_566));
        assert_eq!(
            turbidity_deci(2_000_000, 5_000, None),
            Some(30_000),
            "≤ 2.5 V is 3000 NTU"
        );
        // A 3.3 V supply: the same reading scaled up by 5/3.3.
        let scaled = (4.1e6 * 3.3 / 5.0) as i32;
        assert!(turbidity_deci(scaled, 3_300, None).expect("ntu").abs_diff(3_566) <= 1);
        let clear = cal(&[(4_150_000, 0)]);
        assert!(turbidity_deci(4_150_000, 5_000, Some(&clear)) == Some(0));
    }

    #[test]
    fn level_from_a_4_20_ma_loop_with_a_staff_gauge_offset() {
        let t = LevelTransducer {
            shunt_ohm: 150,
            at_4ma_mm: -1_000,
            at_20ma_mm: 4_000,
        };
        assert_eq!(t.level_mm(600_000, None), Some(-1_000));
        assert_eq!(t.level_mm(3_000_000, None), Some(4_000));
        assert_eq!(t.level_mm(1_800_000, None), Some(1_500));
        assert_eq!(t.level_mm(0, None), None, "a broken loop");
        let gauge = cal(&[(1_800_000, 1_530)]);
        assert_eq!(t.level_mm(1_800_000, Some(&gauge)), Some(1_530));
    }
}
