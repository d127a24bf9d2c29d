//! Why a co-location fit, or a stored calibration, is refused.

/// A fit that cannot be made, or a calibration that cannot be applied. The messages speak of
/// the operator's data (pairs, segments), not of the algebra.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrationError {
    /// Not enough pairs.
    #[error("{got} pairs of station and reference values; a fit needs at least {need}")]
    TooFewPairs {
        /// Pairs given.
        got: usize,
        /// Pairs needed (`quality.calibration.min_pairs`).
        need: usize,
    },
    /// A pair holds a value that is not a finite number.
    #[error("pair {index} is not two numbers (station {raw}, reference {reference})")]
    NotANumber {
        /// Its place in the pairs, from 0.
        index: usize,
        /// The station's value.
        raw: f64,
        /// The reference's value.
        reference: f64,
    },
    /// One of the series is constant, so no slope (or no fit quality) exists.
    #[error("the {series} values do not vary (all {value}): a fit needs a range of values")]
    ZeroVariance {
        /// `station` or `reference`.
        series: &'static str,
        /// The value they all have.
        value: f64,
    },
    /// Breakpoints that are not increasing numbers inside the station's values, too many, or
    /// none left after taking quantiles.
    #[error("breakpoints: {0}")]
    Breakpoints(String),
    /// A piecewise segment with too few pairs.
    #[error(
        "segment {index} (station values {from} to {to}) holds {got} pairs; each segment needs at least {need}"
    )]
    SparseSegment {
        /// The segment, from 0.
        index: usize,
        /// Its lowest raw value (the data's lowest for the first segment).
        from: f64,
        /// Its highest raw value (the data's highest for the last segment).
        to: f64,
        /// Pairs in it.
        got: usize,
        /// Pairs needed (`quality.calibration.min_pairs_per_segment`).
        need: usize,
    },
    /// The pairs do not pin down every segment's slope.
    #[error("the pairs do not determine every segment's slope (station values bunched at a breakpoint)")]
    Degenerate,
    /// A stored or posted calibration that does not hold together.
    #[error("calibration is not valid: {0}")]
    Invalid(String),
}
