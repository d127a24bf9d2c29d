//! Small dense least squares by Householder QR (a handful of columns, thousands of rows).
//!
//! Design: QR rather than the normal equations, which square the condition number; the hinge
//! columns of a piecewise fit are close to collinear when a breakpoint has few points past it.

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `min ‖A·x − b‖` where `columns` are A's columns (each as long as `b`, at least as
/// many rows as columns). `None` when a column is, to rounding, a combination of the others.
pub(super) fn least_squares(mut columns: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let p = columns.len();
    let n = b.len();
    if p == 0 || n < p || columns.iter().any(|c| c.len() != n) {
        return None;
    }
    let original: Vec<f64> = columns.iter().map(|c| dot(c, c).sqrt()).collect();
    for k in 0..p {
        let norm = dot(&columns[k][k..], &columns[k][k..]).sqrt();
        if norm.is_nan() || norm <= 1e-9 * original[k] {
            return None;
        }
        let alpha = if columns[k][k] > 0.0 { -norm } else { norm };
        // The reflector v = x − α·e₁ maps column k's tail onto α·e₁; |v₀| ≥ ‖x‖ > 0.
        let mut v = columns[k][k..].to_vec();
        v[0] -= alpha;
        let vv = dot(&v, &v);
        for column in columns.iter_mut().skip(k + 1) {
            let tail = &mut column[k..];
            let tau = 2.0 * dot(&v, tail) / vv;
            for (c, vi) in tail.iter_mut().zip(&v) {
                *c -= tau * vi;
            }
        }
        let tail = &mut b[k..];
        let tau = 2.0 * dot(&v, tail) / vv;
        for (c, vi) in tail.iter_mut().zip(&v) {
            *c -= tau * vi;
        }
        columns[k][k] = alpha;
    }
    // R·x = (Qᵀ·b)[..p], with R[i][j] = columns[j][i] for j ≥ i.
    let mut x = vec![0.0; p];
    for i in (0..p).rev() {
        let s = b[i] - (i + 1..p).map(|j| columns[j][i] * x[j]).sum::<f64>();
        x[i] = s / columns[i][i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_exact_plane_and_refuses_collinear_columns() {
        let u: Vec<f64> = (0..10).map(f64::from).collect();
        let w: Vec<f64> = u.iter().map(|x| (x - 4.0_f64).max(0.0)).collect();
        let y: Vec<f64> = u.iter().zip(&w).map(|(x, h)| 2.0 + 0.5 * x - 1.5 * h).collect();
        let x = least_squares(vec![vec![1.0; 10], u.clone(), w], y.clone()).expect("full rank");
        for (got, want) in x.iter().zip([2.0, 0.5, -1.5]) {
            assert!((got - want).abs() < 1e-10, "{x:?}");
        }
        let twice: Vec<f64> = u.iter().map(|x| 2.0 * x).collect();
        assert_eq!(least_squares(vec![vec![1.0; 10], u, twice], y), None);
    }
}
