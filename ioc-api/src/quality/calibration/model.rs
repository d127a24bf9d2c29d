//! A fitted calibration as an operator reads it, stores it and applies it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::CalibrationError;
use super::fit::Pair;

/// The shape of the fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// One line: `corrected = slope · raw + intercept`.
    Linear,
    /// A continuous line with a change of slope at each breakpoint.
    Piecewise,
}

/// Where a piecewise fit's breakpoints came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakpointSource {
    /// No breakpoints (a linear fit).
    None,
    /// Given by the operator.
    Given,
    /// Chosen at equally spaced quantiles of the station's raw values (`k` breakpoints at the
    /// `j/(k+1)` quantiles), so each segment holds about the same number of pairs.
    Quantiles,
}

/// One segment's line: `corrected = slope · raw + intercept`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Corrected units per raw unit.
    pub slope: f64,
    /// Corrected value at raw 0 (of this segment's line).
    pub intercept: f64,
    /// Pairs the segment was fitted on.
    pub pairs: usize,
}

/// How well a calibration matches the reference on a set of pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FitStats {
    /// Pairs.
    pub n: usize,
    /// Coefficient of determination, `1 − SSE/SST` of the corrected values against the reference.
    pub r2: f64,
    /// Root mean square of the residuals, `√(SSE/n)`, in the parameter's unit (the mean over
    /// `n`, not `n − 2`, as Barkjohn et al. 2021 report RMSE).
    pub rmse: f64,
    /// Lowest raw value fitted: outside `raw_min..raw_max` the calibration extrapolates.
    pub raw_min: f64,
    /// Highest raw value fitted.
    pub raw_max: f64,
}

/// A station's co-location calibration: inspectable, serialisable, applied by [`Calibration::apply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// `linear` or `piecewise`.
    pub method: Method,
    /// Raw values where the slope changes, increasing; empty for `linear`. A raw value equal
    /// to a breakpoint belongs to the segment above it (the line is continuous, so either gives
    /// the same result to rounding).
    pub breakpoints: Vec<f64>,
    /// How the breakpoints were set.
    pub breakpoints_from: BreakpointSource,
    /// One more segment than breakpoints, from the lowest raw values up: segment `i` applies
    /// from breakpoint `i − 1` to breakpoint `i`; the first and last extend without bound.
    pub segments: Vec<Segment>,
    /// The fit's quality on the pairs it was fitted to.
    pub stats: FitStats,
}

impl Calibration {
    /// The corrected value of `raw`. Not clamped: a value the calibration takes below the
    /// parameter's range is left to the `range` rule. NaN for a calibration without segments
    /// (one that failed [`Calibration::validate`]).
    pub fn apply(&self, raw: f64) -> f64 {
        let i = self.breakpoints.partition_point(|b| *b <= raw);
        match self.segments.get(i).or(self.segments.last()) {
            Some(s) => s.slope * raw + s.intercept,
            None => f64::NAN,
        }
    }

    /// The statistics of this calibration on other pairs (a later co-location, before applying
    /// or rolling back).
    ///
    /// # Errors
    ///
    /// As the fits: too few pairs (fewer than 3), a value that is not a number, or a constant
    /// reference.
    pub fn stats_on(&self, pairs: &[Pair]) -> Result<FitStats, CalibrationError> {
        super::fit::check_pairs(pairs, 3)?;
        super::fit::stats(pairs, |raw| self.apply(raw))
    }

    /// Checks a calibration read from storage or posted by an operator.
    ///
    /// # Errors
    ///
    /// [`CalibrationError::Invalid`] saying what does not hold together.
    pub fn validate(&self) -> Result<(), CalibrationError> {
        let invalid = |why: &str| Err(CalibrationError::Invalid(why.to_owned()));
        if self.segments.len() != self.breakpoints.len() + 1 {
            return invalid("there must be one more segment than breakpoints");
        }
        match (self.method, self.breakpoints.is_empty(), self.breakpoints_from) {
            (Method::Linear, true, BreakpointSource::None) => {}
            (Method::Linear, _, _) => return invalid("a linear calibration has no breakpoints"),
            (Method::Piecewise, false, BreakpointSource::Given | BreakpointSource::Quantiles) => {}
            (Method::Piecewise, _, _) => {
                return invalid("a piecewise calibration has breakpoints, given or from quantiles");
            }
        }
        if !self.breakpoints.iter().all(|b| b.is_finite())
            || !self.breakpoints.windows(2).all(|w| w[0] < w[1])
        {
            return invalid("breakpoints must be increasing numbers");
        }
        if !self
            .segments
            .iter()
            .all(|s| s.slope.is_finite() && s.intercept.is_finite())
        {
            return invalid("every slope and intercept must be a number");
        }
        Ok(())
    }
}
