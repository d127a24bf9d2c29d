//! Conversions from what a probe measures to what the frame carries: PSS-78 salinity, dissolved
//! oxygen saturation, the analogue pH, DO, turbidity and level probes with their calibrations,
//! the electrochemical gas cells (integers only).
//!
//! The Cortex-M4F has a single-precision FPU; these run once per reading, so they use `f64`
//! (soft-float, exact enough for PSS-78's coefficients) where a formula needs it and integers
//! where a linear calibration does.

pub mod analogue;
pub mod gas;
pub mod oxygen;
pub mod pss78;

/// √x for x ≥ 0 by Newton's method (`core` has no `f64::sqrt` without `std`).
pub(crate) fn sqrt(x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    let mut y = if x > 1.0 { x / 2.0 } else { 1.0 };
    for _ in 0..60 {
        let next = 0.5 * (y + x / y);
        if (next - y).abs() <= f64::EPSILON * next {
            return next;
        }
        y = next;
    }
    y
}

/// Rounds to the nearest integer, halves away from zero (`core` has no `f64::round`).
pub(crate) fn round(x: f64) -> i64 {
    if x >= 0.0 {
        (x + 0.5) as i64
    } else {
        (x - 0.5) as i64
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqrt_and_round_match_std() {
        for x in [0.0, 1e-9, 0.25, 2.0, 1.5e6] {
            assert!((super::sqrt(x) - f64::sqrt(x)).abs() <= 1e-12 * (1.0 + x), "{x}");
        }
        assert_eq!(super::round(2.5), 3);
        assert_eq!(super::round(-2.5), -3);
        assert_eq!(super::round(2.49), 2);
    }
}
