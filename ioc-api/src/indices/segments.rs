//! Piecewise-linear interpolation over breakpoint tables, and rounding.

/// Rounds half up (x.5 goes up), as an integer index is reported. A tiny epsilon keeps values
/// like 109.5 that binary floating point holds as 109.49999999999999 on the side the decimal
/// arithmetic of the decisions puts them.
pub fn round_half_up(x: f64) -> f64 {
    (x + 0.5 + 1e-9).floor()
}

/// The continuous interpolation Decision 1459 writes (Formula 1, domain.md §1.3):
/// `I = (I_{i+1} − I_i)/(BP_{i+1} − BP_i) × (C − BP_i) + I_i` between consecutive breakpoints,
/// so BP_i maps to I_i exactly. `points` are (BP, I) pairs in increasing order. Above the last
/// breakpoint the value is capped at the last index (the decision gives no rule there); below the
/// first (negative input) there is no value.
pub fn continuous(points: &[(f64, f64)], c: f64) -> Option<f64> {
    if !c.is_finite() || c < points.first()?.0 {
        return None;
    }
    for pair in points.windows(2) {
        let ((bp_lo, i_lo), (bp_hi, i_hi)) = (pair[0], pair[1]);
        if c <= bp_hi {
            return Some((i_hi - i_lo) / (bp_hi - bp_lo) * (c - bp_lo) + i_lo);
        }
    }
    points.last().map(|&(_, i)| i)
}

/// EPA-style discrete segments `(C_lo, C_hi, I_lo, I_hi)` (domain.md §2.1). The concentration is
/// truncated by the caller; a value in a gap between segments (impossible after truncation) takes
/// the upper segment. Above the top segment the index is capped at its top.
pub fn discrete(segments: impl IntoIterator<Item = (f64, f64, f64, f64)>, c: f64) -> Option<f64> {
    if !c.is_finite() || c < 0.0 {
        return None;
    }
    let mut top = None;
    for (c_lo, c_hi, i_lo, i_hi) in segments {
        if c <= c_hi {
            let c = c.max(c_lo);
            return Some((i_hi - i_lo) / (c_hi - c_lo) * (c - c_lo) + i_lo);
        }
        top = Some(i_hi);
    }
    top
}

/// Truncates (towards zero) to `decimals` places, as EPA truncates before the table lookup.
pub fn truncate(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    // The epsilon keeps 35.4 (held as 35.399999…) from truncating to 35.3.
    ((x * scale) + 1e-9).floor() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_and_truncation_follow_the_decimal_values() {
        assert_eq!(round_half_up(109.5), 110.0);
        assert_eq!(round_half_up(100.0 + 50.0 / 30.0 * 5.7), 110.0);
        assert_eq!(round_half_up(59.35), 59.0);
        assert_eq!(truncate(35.4, 1), 35.4);
        assert_eq!(truncate(35.49, 1), 35.4);
        assert_eq!(truncate(0.0549, 3), 0.054);
    }

    #[test]
    fn continuous_maps_breakpoints_exactly_and_caps() {
        let t = [(0.0, 0.0), (25.0, 50.0), (50.0, 100.0)];
        assert_eq!(continuous(&t, 25.0), Some(50.0));
        assert_eq!(continuous(&t, 37.5), Some(75.0));
        assert_eq!(continuous(&t, 80.0), Some(100.0));
        assert_eq!(continuous(&t, -1.0), None);
        assert_eq!(continuous(&t, f64::NAN), None);
    }
}
