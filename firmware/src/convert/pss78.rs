//! Practical salinity from conductivity and temperature: PSS-78 (UNESCO 1981/1983) with the
//! Hill et al. (1986) extension below S = 2, not the "‰ ≈ 0.64 × EC" rule of thumb, which
//! overestimates by 16–30 % in the 0.5–4 ‰ band that matters for rice and water intakes
//! (`shared/reference/domain.md` §5.2, whose coefficients these are). Surface water: p = 0.

use super::{round, sqrt};

/// Conductivity of standard seawater (S = 35, 15 °C, p = 0), in µS/cm.
const C_35_15_0_US_CM: f64 = 42_914.0;
const A: [f64; 6] = [0.0080, -0.1692, 25.3851, 14.0941, -7.0261, 2.7081];
const B: [f64; 6] = [0.0005, -0.0056, -0.0066, -0.0375, 0.0636, -0.0144];
const K: f64 = 0.0162;

/// rt(t): the conductivity ratio of standard seawater at t to that at 15 °C.
fn rt(t: f64) -> f64 {
    0.676_609_7 + t * (0.020_056_4 + t * (1.104_259e-4 + t * (-6.9698e-7 + t * 1.0031e-9)))
}

/// Practical salinity for in-situ conductivity `conductivity_us_cm` (µS/cm, not compensated) at
/// `temperature_c` (°C). `None` outside the scale's temperature range (−2 to 35 °C) or above
/// S = 42. Below S = 2 the Hill extension applies, so fresh water reads near 0, not negative.
pub fn salinity(conductivity_us_cm: f64, temperature_c: f64) -> Option<f64> {
    if !(-2.0..=35.0).contains(&temperature_c) || conductivity_us_cm < 0.0 {
        return None;
    }
    let r = conductivity_us_cm / C_35_15_0_US_CM;
    let big_rt = r / rt(temperature_c);
    let root = sqrt(big_rt);
    let powers = [
        1.0,
        root,
        big_rt,
        big_rt * root,
        big_rt * big_rt,
        big_rt * big_rt * root,
    ];
    let dt = temperature_c - 15.0;
    let f = dt / (1.0 + K * dt);
    let sum = |c: &[f64; 6]| c.iter().zip(powers).map(|(c, p)| c * p).sum::<f64>();
    let mut s = sum(&A) + f * sum(&B);
    if s < 2.0 {
        let x = 400.0 * big_rt;
        let y = 100.0 * big_rt;
        let sy = sqrt(y);
        s -= A[0] / (1.0 + 1.5 * x + x * x) + B[0] * f / (1.0 + sy + y + y * sy);
    }
    if s > 42.0 {
        return None;
    }
    Some(s.max(0.0))
}

/// [`salinity`] in the frame's units: conductivity in µS/cm, temperature in 0.01 °C, salinity in
/// 0.01 (`FORMAT.md` §4.2).
pub fn salinity_centi(conductivity_us_cm: u32, temperature_centi_c: i16) -> Option<u16> {
    let s = salinity(
        f64::from(conductivity_us_cm),
        f64::from(temperature_centi_c) / 100.0,
    )?;
    u16::try_from(round(s * 100.0)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// domain.md §5.2, "Computed with the formulas above (t = 25 °C, p = 0)": (S, EC25 in mS/cm).
    /// The table's EC is rounded to 10 µS/cm, so S agrees to about 0.01.
    const TABLE_25C: [(f64, f64); 7] = [
        (0.25, 0.52),
        (0.5, 1.02),
        (1.0, 1.97),
        (2.0, 3.80),
        (4.0, 7.28),
        (10.0, 17.02),
        (35.0, 53.07),
    ];

    #[test]
    fn matches_the_reference_table_at_25_c() {
        for (s, ec_ms) in TABLE_25C {
            let got = salinity(ec_ms * 1_000.0, 25.0).expect("in range");
            let tolerance = 0.006 * s.max(1.0);
            assert!(
                (got - s).abs() <= tolerance,
                "EC {ec_ms} mS/cm: S {got}, table {s}"
            );
        }
    }

    #[test]
    fn standard_seawater_is_35_and_the_30_c_example_holds() {
        let s = salinity(C_35_15_0_US_CM, 15.0).expect("in range");
        assert!((s - 35.0).abs() < 1e-3, "{s}");
        // domain.md §5.2: at 30 °C, 1 ‰ gives 2.17 mS/cm.
        let s = salinity(2_170.0, 30.0).expect("in range");
        assert!((s - 1.0).abs() < 0.01, "{s}");
    }

    #[test]
    fn not_the_rule_of_thumb_and_never_negative() {
        let pss = salinity(1_970.0, 25.0).expect("in range");
        let thumb = 0.64 * 1.970;
        assert!(thumb - pss > 0.2, "PSS-78 {pss} vs 0.64 rule {thumb}");
        assert_eq!(salinity(0.0, 25.0), Some(0.0));
        assert!(salinity(50.0, 25.0).expect("fresh water") < 0.05);
        assert_eq!(salinity(1_000.0, 36.0), None, "outside the scale's temperatures");
    }

    #[test]
    fn frame_units() {
        assert_eq!(salinity_centi(1_970, 2_500), Some(100));
        assert_eq!(salinity_centi(1_000, 3_600), None);
    }
}
