//! Dissolved-oxygen saturation of fresh water at sea level: the Elmore–Hayes polynomial
//! (`shared/reference/domain.md` §3.4), used to calibrate a galvanic DO probe in air and to turn
//! mg/L into % saturation.

/// DO at saturation in mg/L at `temperature_c`:
/// 14.652 − 0.41022·T + 0.0079910·T² − 0.000077774·T³. No salinity or pressure correction.
pub fn saturation_mg_l(temperature_c: f64) -> f64 {
    let t = temperature_c;
    14.652 + t * (-0.410_22 + t * (0.007_991_0 - t * 0.000_077_774))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_table() {
        // domain.md §3.4, computed values.
        for (t, sat) in [
            (20.0, 9.02),
            (25.0, 8.18),
            (28.0, 7.72),
            (30.0, 7.44),
            (32.0, 7.16),
        ] {
            let got = saturation_mg_l(t);
            assert!((got - sat).abs() < 0.006, "{t} °C: {got}, table {sat}");
        }
    }
}
