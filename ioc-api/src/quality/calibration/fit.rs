//! The fits: ordinary least squares of the reference on the station's raw values, as one line
//! or as a continuous piecewise line (a linear spline with fixed knots, fitted on the hinge
//! basis `1, x, max(0, x − b₁), …`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::config::CalibrationConfig;
use super::error::CalibrationError;
use super::lsq::least_squares;
use super::model::{BreakpointSource, Calibration, FitStats, Method, Segment};

/// A station's raw value and the reference monitor's value for the same period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    /// The station's value (uncorrected).
    pub raw: f64,
    /// The reference monitor's value.
    pub reference: f64,
}

/// Pairs the station's and the reference's values that share a time (for example both hourly
/// means keyed by the hour's start, ms); times only one side has are left out, as are values
/// that are not numbers. In the station's time order; a time the reference repeats takes its
/// last value.
pub fn pair_by_time(station: &[(u64, f64)], reference: &[(u64, f64)]) -> Vec<Pair> {
    let reference: BTreeMap<u64, f64> = reference.iter().copied().collect();
    let mut station: Vec<(u64, f64)> = station.to_vec();
    station.sort_by_key(|(t, _)| *t);
    station
        .into_iter()
        .filter_map(|(t, raw)| reference.get(&t).map(|&reference| Pair { raw, reference }))
        .filter(|p| p.raw.is_finite() && p.reference.is_finite())
        .collect()
}

/// How a piecewise fit gets its breakpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakpointChoice {
    /// These raw values, increasing, strictly inside the pairs' raw range.
    Given(Vec<f64>),
    /// This many breakpoints at equally spaced quantiles of the raw values.
    Quantiles(usize),
}

/// Refuses too few pairs and values that are not numbers.
pub(super) fn check_pairs(pairs: &[Pair], need: usize) -> Result<(), CalibrationError> {
    if pairs.len() < need {
        return Err(CalibrationError::TooFewPairs {
            got: pairs.len(),
            need,
        });
    }
    if let Some((index, p)) = pairs
        .iter()
        .enumerate()
        .find(|(_, p)| !(p.raw.is_finite() && p.reference.is_finite()))
    {
        return Err(CalibrationError::NotANumber {
            index,
            raw: p.raw,
            reference: p.reference,
        });
    }
    Ok(())
}

/// Refuses a constant series (of finite pairs).
fn check_variance(pairs: &[Pair]) -> Result<(f64, f64), CalibrationError> {
    let (raw_min, raw_max) = min_max(pairs.iter().map(|p| p.raw));
    if raw_min == raw_max {
        return Err(CalibrationError::ZeroVariance {
            series: "station",
            value: raw_min,
        });
    }
    let (ref_min, ref_max) = min_max(pairs.iter().map(|p| p.reference));
    if ref_min == ref_max {
        return Err(CalibrationError::ZeroVariance {
            series: "reference",
            value: ref_min,
        });
    }
    Ok((raw_min, raw_max))
}

fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

/// R², RMSE and the raw range of `correct` on `pairs` (finite, at least one).
pub(super) fn stats(pairs: &[Pair], correct: impl Fn(f64) -> f64) -> Result<FitStats, CalibrationError> {
    let n = pairs.len();
    let mean = pairs.iter().map(|p| p.reference).sum::<f64>() / n as f64;
    let sst: f64 = pairs.iter().map(|p| (p.reference - mean).powi(2)).sum();
    if sst == 0.0 {
        return Err(CalibrationError::ZeroVariance {
            series: "reference",
            value: mean,
        });
    }
    let sse: f64 = pairs.iter().map(|p| (p.reference - correct(p.raw)).powi(2)).sum();
    let (raw_min, raw_max) = min_max(pairs.iter().map(|p| p.raw));
    Ok(FitStats {
        n,
        r2: 1.0 - sse / sst,
        rmse: (sse / n as f64).sqrt(),
        raw_min,
        raw_max,
    })
}

/// Fits `reference = slope · raw + intercept` by ordinary least squares.
///
/// # Errors
///
/// Fewer pairs than `config.min_pairs`, a value that is not a number, or a constant station
/// or reference series.
pub fn fit_linear(pairs: &[Pair], config: &CalibrationConfig) -> Result<Calibration, CalibrationError> {
    check_pairs(pairs, config.min_pairs.max(3))?;
    check_variance(pairs)?;
    let n = pairs.len() as f64;
    let mean_x = pairs.iter().map(|p| p.raw).sum::<f64>() / n;
    let mean_y = pairs.iter().map(|p| p.reference).sum::<f64>() / n;
    let sxx: f64 = pairs.iter().map(|p| (p.raw - mean_x).powi(2)).sum();
    let sxy: f64 = pairs
        .iter()
        .map(|p| (p.raw - mean_x) * (p.reference - mean_y))
        .sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let mut calibration = Calibration {
        method: Method::Linear,
        breakpoints: Vec::new(),
        breakpoints_from: BreakpointSource::None,
        segments: vec![Segment {
            slope,
            intercept,
            pairs: pairs.len(),
        }],
        stats: FitStats {
            n: 0,
            r2: 0.0,
            rmse: 0.0,
            raw_min: 0.0,
            raw_max: 0.0,
        },
    };
    calibration.stats = stats(pairs, |raw| calibration.apply(raw))?;
    Ok(calibration)
}

/// The breakpoints at the `j/(k+1)` quantiles of the raw values (nearest rank), without
/// repeats and strictly inside the raw range.
fn quantile_breakpoints(pairs: &[Pair], k: usize) -> Vec<f64> {
    let mut raw: Vec<f64> = pairs.iter().map(|p| p.raw).collect();
    raw.sort_unstable_by(f64::total_cmp);
    let (lo, hi) = (raw[0], raw[raw.len() - 1]);
    let mut breakpoints: Vec<f64> = (1..=k)
        .map(|j| raw[(j * raw.len() / (k + 1)).min(raw.len() - 1)])
        .filter(|b| *b > lo && *b < hi)
        .collect();
    breakpoints.dedup();
    breakpoints
}

/// Fits a continuous piecewise line: one slope per segment between breakpoints, joined at
/// them, by least squares over all pairs at once.
///
/// # Errors
///
/// As [`fit_linear`], and: breakpoints that are not increasing numbers strictly inside the raw
/// values' range or more than `config.max_breakpoints` (none left from quantiles when the raw
/// values are bunched); a segment with fewer than `config.min_pairs_per_segment` pairs; pairs
/// that do not determine every slope.
pub fn fit_piecewise(
    pairs: &[Pair],
    choice: &BreakpointChoice,
    config: &CalibrationConfig,
) -> Result<Calibration, CalibrationError> {
    check_pairs(pairs, config.min_pairs.max(3))?;
    let (raw_min, raw_max) = check_variance(pairs)?;
    let (breakpoints, source) = match choice {
        BreakpointChoice::Given(given) => (given.clone(), BreakpointSource::Given),
        BreakpointChoice::Quantiles(k) => {
            if *k == 0 || *k > config.max_breakpoints {
                return Err(CalibrationError::Breakpoints(format!(
                    "{k} quantiles asked; 1 to {} may be",
                    config.max_breakpoints
                )));
            }
            let chosen = quantile_breakpoints(pairs, *k);
            if chosen.is_empty() {
                return Err(CalibrationError::Breakpoints(
                    "the station's values are too bunched for any quantile to fall inside them".into(),
                ));
            }
            (chosen, BreakpointSource::Quantiles)
        }
    };
    if breakpoints.is_empty() || breakpoints.len() > config.max_breakpoints {
        return Err(CalibrationError::Breakpoints(format!(
            "{} given; 1 to {} may be",
            breakpoints.len(),
            config.max_breakpoints
        )));
    }
    if !breakpoints.windows(2).all(|w| w[0] < w[1])
        || !breakpoints
            .iter()
            .all(|b| b.is_finite() && *b > raw_min && *b < raw_max)
    {
        return Err(CalibrationError::Breakpoints(format!(
            "must be increasing and strictly between the station's lowest and highest values ({raw_min} to {raw_max})"
        )));
    }
    // Pairs per segment, before the algebra, so the error names the thin segment.
    let mut counts = vec![0usize; breakpoints.len() + 1];
    for p in pairs {
        counts[breakpoints.partition_point(|b| *b <= p.raw)] += 1;
    }
    let need = config.min_pairs_per_segment.max(2);
    if let Some((index, &got)) = counts.iter().enumerate().find(|(_, c)| **c < need) {
        let from = if index == 0 {
            raw_min
        } else {
            breakpoints[index - 1]
        };
        let to = breakpoints.get(index).copied().unwrap_or(raw_max);
        return Err(CalibrationError::SparseSegment {
            index,
            from,
            to,
            got,
            need,
        });
    }

    // Design: the basis in standardised units u = (x − m)/s keeps the columns of comparable
    // size whatever the parameter's unit; the coefficients are turned back into raw units below.
    let n = pairs.len() as f64;
    let m = pairs.iter().map(|p| p.raw).sum::<f64>() / n;
    let s = (pairs.iter().map(|p| (p.raw - m).powi(2)).sum::<f64>() / n).sqrt();
    let u = |x: f64| (x - m) / s;
    let mut columns = vec![vec![1.0; pairs.len()], pairs.iter().map(|p| u(p.raw)).collect()];
    for b in &breakpoints {
        columns.push(pairs.iter().map(|p| (u(p.raw) - u(*b)).max(0.0)).collect());
    }
    let y: Vec<f64> = pairs.iter().map(|p| p.reference).collect();
    let coeffs = least_squares(columns, y).ok_or(CalibrationError::Degenerate)?;

    // y = a + b·u + Σ c_j·max(0, u − u_j); in raw units the slope past the first i breakpoints
    // is (b + Σ_{j<i} c_j)/s and the intercept a − b·m/s − Σ_{j<i} c_j·(m + s·u_j)/s, i.e.
    // a − b·m/s − Σ_{j<i} (c_j/s)·b_j.
    let (a, b) = (coeffs[0], coeffs[1]);
    let mut slope = b / s;
    let mut intercept = a - b * m / s;
    let mut segments = Vec::with_capacity(breakpoints.len() + 1);
    segments.push(Segment {
        slope,
        intercept,
        pairs: counts[0],
    });
    for (j, breakpoint) in breakpoints.iter().enumerate() {
        let c = coeffs[j + 2] / s;
        slope += c;
        intercept -= c * breakpoint;
        segments.push(Segment {
            slope,
            intercept,
            pairs: counts[j + 1],
        });
    }
    let mut calibration = Calibration {
        method: Method::Piecewise,
        breakpoints,
        breakpoints_from: source,
        segments,
        stats: FitStats {
            n: 0,
            r2: 0.0,
            rmse: 0.0,
            raw_min,
            raw_max,
        },
    };
    calibration.stats = stats(pairs, |raw| calibration.apply(raw))?;
    Ok(calibration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, tolerance: f64) {
        assert!((got - want).abs() < tolerance, "got {got}, want {want}");
    }

    /// A station reading 40 % high with 2 µg/m³ offset, and a small deterministic scatter.
    fn colocated(n: usize) -> Vec<Pair> {
        (0..n)
            .map(|i| {
                let reference = 5.0 + (i as f64 * 7.3) % 60.0;
                let scatter = [0.4, -0.3, 0.1, -0.2, 0.0][i % 5];
                Pair {
                    raw: 1.4 * reference + 2.0 + scatter,
                    reference,
                }
            })
            .collect()
    }

    #[test]
    fn a_linear_fit_recovers_slope_and_intercept_by_hand() {
        // reference = 2·raw + 1 exactly on raw 1..=30: slope 2, intercept 1, r² 1, RMSE 0.
        let pairs: Vec<Pair> = (1..=30)
            .map(|i| Pair {
                raw: f64::from(i),
                reference: 2.0 * f64::from(i) + 1.0,
            })
            .collect();
        let fit = fit_linear(&pairs, &CalibrationConfig::default()).expect("fits");
        close(fit.segments[0].slope, 2.0, 1e-12);
        close(fit.segments[0].intercept, 1.0, 1e-12);
        close(fit.stats.r2, 1.0, 1e-12);
        close(fit.stats.rmse, 0.0, 1e-12);
        assert_eq!(
            (fit.stats.n, fit.stats.raw_min, fit.stats.raw_max),
            (30, 1.0, 30.0)
        );
        close(fit.apply(10.0), 21.0, 1e-12);
        fit.validate().expect("valid");
    }

    #[test]
    fn a_linear_fit_on_scattered_pairs_reports_its_residuals() {
        // Residual scatter of about 0.25/1.4: slope about 1/1.4, RMSE small, r² near 1.
        let fit = fit_linear(&colocated(100), &CalibrationConfig::default()).expect("fits");
        close(fit.segments[0].slope, 1.0 / 1.4, 0.01);
        close(fit.segments[0].intercept, -2.0 / 1.4, 0.1);
        assert!(fit.stats.rmse < 0.3 && fit.stats.r2 > 0.999, "{:?}", fit.stats);
    }

    #[test]
    fn too_few_pairs_constant_series_and_nan_are_refused() {
        let config = CalibrationConfig::default();
        let err = fit_linear(&colocated(10), &config).expect_err("too few");
        assert_eq!(err, CalibrationError::TooFewPairs { got: 10, need: 24 });
        assert!(err.to_string().contains("at least 24"), "{err}");
        let flat_station: Vec<Pair> = colocated(30)
            .into_iter()
            .map(|p| Pair { raw: 12.0, ..p })
            .collect();
        assert_eq!(
            fit_linear(&flat_station, &config),
            Err(CalibrationError::ZeroVariance {
                series: "station",
                value: 12.0
            })
        );
        let flat_reference: Vec<Pair> = colocated(30)
            .into_iter()
            .map(|p| Pair { reference: 9.0, ..p })
            .collect();
        assert!(matches!(
            fit_linear(&flat_reference, &config),
            Err(CalibrationError::ZeroVariance {
                series: "reference",
                ..
            })
        ));
        let mut holed = colocated(30);
        holed[7].reference = f64::NAN;
        assert!(matches!(
            fit_linear(&holed, &config),
            Err(CalibrationError::NotANumber { index: 7, .. })
        ));
    }

    /// Pairs on a continuous line with slopes 0.5 then 0.8 then 0.6, breaking at 50 and 200.
    fn kinked() -> Vec<Pair> {
        let truth = |x: f64| {
            if x < 50.0 {
                0.5 * x + 3.0
            } else if x < 200.0 {
                0.8 * x - 12.0
            } else {
                0.6 * x + 28.0
            }
        };
        (0..120)
            .map(|i| {
                let raw = 2.0 + f64::from(i) * 2.5;
                Pair {
                    raw,
                    reference: truth(raw),
                }
            })
            .collect()
    }

    #[test]
    fn a_piecewise_fit_with_given_breakpoints_recovers_each_segment() {
        let given = BreakpointChoice::Given(vec![50.0, 200.0]);
        let fit = fit_piecewise(&kinked(), &given, &CalibrationConfig::default()).expect("fits");
        assert_eq!(
            (fit.method, fit.breakpoints_from),
            (Method::Piecewise, BreakpointSource::Given)
        );
        let want = [(0.5, 3.0), (0.8, -12.0), (0.6, 28.0)];
        for (segment, (slope, intercept)) in fit.segments.iter().zip(want) {
            close(segment.slope, slope, 1e-9);
            close(segment.intercept, intercept, 1e-7);
        }
        assert_eq!(fit.segments.iter().map(|s| s.pairs).sum::<usize>(), 120);
        close(fit.stats.rmse, 0.0, 1e-7);
        // Continuous at the breakpoints.
        close(fit.apply(50.0), fit.apply(50.0 - 1e-9), 1e-6);
        close(fit.apply(125.0), 88.0, 1e-7);
        fit.validate().expect("valid");
    }

    #[test]
    fn quantile_breakpoints_are_chosen_and_said_so() {
        let fit = fit_piecewise(
            &kinked(),
            &BreakpointChoice::Quantiles(3),
            &CalibrationConfig::default(),
        )
        .expect("fits");
        assert_eq!(fit.breakpoints_from, BreakpointSource::Quantiles);
        // Raw values 2, 4.5, …, 299.5: the 1/4, 2/4, 3/4 nearest-rank quantiles.
        assert_eq!(fit.breakpoints, [77.0, 152.0, 227.0]);
        assert!(fit.segments.iter().all(|s| s.pairs == 30));
        // The kinks are not at the quantiles, so the fit is close but not exact.
        assert!(fit.stats.r2 > 0.99, "{:?}", fit.stats);
    }

    #[test]
    fn bad_breakpoints_and_thin_segments_are_refused() {
        let config = CalibrationConfig::default();
        let outside = fit_piecewise(&kinked(), &BreakpointChoice::Given(vec![400.0]), &config);
        assert!(matches!(outside, Err(CalibrationError::Breakpoints(_))));
        let unordered = fit_piecewise(&kinked(), &BreakpointChoice::Given(vec![200.0, 50.0]), &config);
        assert!(matches!(unordered, Err(CalibrationError::Breakpoints(_))));
        let too_many = fit_piecewise(&kinked(), &BreakpointChoice::Quantiles(9), &config);
        assert!(matches!(too_many, Err(CalibrationError::Breakpoints(_))));
        let thin = fit_piecewise(&kinked(), &BreakpointChoice::Given(vec![20.0]), &config);
        assert_eq!(
            thin,
            Err(CalibrationError::SparseSegment {
                index: 0,
                from: 2.0,
                to: 20.0,
                got: 8,
                need: 12
            })
        );
    }

    #[test]
    fn a_calibration_round_trips_through_json_and_a_broken_one_is_refused() {
        let fit = fit_piecewise(
            &kinked(),
            &BreakpointChoice::Given(vec![50.0, 200.0]),
            &CalibrationConfig::default(),
        )
        .expect("fits");
        let json = serde_json::to_string(&fit).expect("serialises");
        assert!(json.contains(r#""method":"piecewise""#) && json.contains(r#""breakpoints_from":"given""#));
        let back: Calibration = serde_json::from_str(&json).expect("parses");
        // serde_json reads floats back to within an ulp, not always bit for bit.
        assert_eq!(
            (back.method, &back.breakpoints, back.stats.n),
            (fit.method, &fit.breakpoints, fit.stats.n)
        );
        for raw in [0.0, 49.9, 50.0, 125.0, 250.0, 1000.0] {
            close(back.apply(raw), fit.apply(raw), 1e-9);
        }
        let mut broken = back.clone();
        broken.breakpoints.pop();
        assert!(matches!(broken.validate(), Err(CalibrationError::Invalid(_))));
        assert!(
            serde_json::from_str::<Calibration>(&json.replace("\"stats\"", "\"extra\":1,\"stats\"")).is_err()
        );
    }

    #[test]
    fn stats_on_new_pairs_judge_an_old_calibration() {
        let fit = fit_linear(&colocated(100), &CalibrationConfig::default()).expect("fits");
        // The sensor drifted: it now reads 10 % higher still.
        let drifted: Vec<Pair> = colocated(50)
            .into_iter()
            .map(|p| Pair {
                raw: p.raw * 1.1,
                ..p
            })
            .collect();
        let now = fit.stats_on(&drifted).expect("stats");
        assert!(now.rmse > 5.0 * fit.stats.rmse, "{now:?}");
    }

    #[test]
    fn pairs_are_matched_by_time() {
        let station = [
            (3_600_000, 14.0),
            (0, 10.0),
            (7_200_000, f64::NAN),
            (10_800_000, 20.0),
        ];
        let reference = [(0, 7.0), (3_600_000, 9.5), (7_200_000, 11.0)];
        assert_eq!(
            pair_by_time(&station, &reference),
            [
                Pair {
                    raw: 10.0,
                    reference: 7.0
                },
                Pair {
                    raw: 14.0,
                    reference: 9.5
                }
            ]
        );
    }
}
