//! Physical-range checks shared by the bodies.

/// Fails with the field name and value if a present value lies outside `min..=max`.
pub(super) fn check<T: Copy + Into<i64>>(
    field: &'static str,
    value: Option<T>,
    min: i64,
    max: i64,
) -> Result<(), (&'static str, i64)> {
    match value.map(Into::into) {
        Some(v) if v < min || v > max => Err((field, v)),
        _ => Ok(()),
    }
}
