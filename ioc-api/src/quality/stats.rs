//! Median and median absolute deviation, the robust location and scale the spike and
//! neighbour rules use.

/// The MAD of a normal sample times this estimates its standard deviation: 1 / Φ⁻¹(3/4)
/// (Hampel 1974; Leys et al. 2013, J. Exp. Soc. Psychol. 49:764, recommend it for outliers).
pub(crate) const MAD_TO_SIGMA: f64 = 1.4826;

/// The median of `values`, which it sorts; `None` when empty.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// The median and the median absolute deviation from it; `values` is overwritten with the
/// deviations. `None` when empty.
pub(crate) fn median_mad(values: &mut [f64]) -> Option<(f64, f64)> {
    let m = median(values)?;
    for v in values.iter_mut() {
        *v = (*v - m).abs();
    }
    let mad = median(values)?;
    Some((m, mad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mad_of_odd_and_even_samples() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
        // Deviations from 3: 2, 1, 0, 1, 97 → MAD 1; the wild value moves neither.
        assert_eq!(median_mad(&mut [1.0, 2.0, 3.0, 4.0, 100.0]), Some((3.0, 1.0)));
    }
}
