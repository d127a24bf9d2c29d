//! Integer means for the reporting interval.

/// A running mean of fixed-point values. i64 holds a day of u32 readings at one per millisecond.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Mean {
    sum: i64,
    count: u32,
}

impl Mean {
    pub(crate) fn add(&mut self, value: i64) {
        self.sum = self.sum.saturating_add(value);
        self.count = self.count.saturating_add(1);
    }

    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// The mean rounded to the nearest integer (halves away from zero), or `None` with no values.
    pub(crate) fn get(&self) -> Option<i64> {
        (self.count > 0).then(|| div_round(self.sum, i64::from(self.count)))
    }
}

/// `n / d` rounded to the nearest integer, halves away from zero; `d` must be positive.
pub(crate) fn div_round(n: i64, d: i64) -> i64 {
    if n >= 0 { (n + d / 2) / d } else { (n - d / 2) / d }
}

/// How many readings stand behind a sample: the count of its best-covered field.
pub(crate) fn sample_count(means: &[Mean]) -> u16 {
    let most = means.iter().map(Mean::count).max().unwrap_or(0);
    u16::try_from(most).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_halves_away_from_zero() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(div_round(-4, 3), -1);
    }

    #[test]
    fn an_empty_mean_is_absent_not_zero() {
        let mut mean = Mean::default();
        assert_eq!(mean.get(), None);
        mean.add(0);
        assert_eq!(mean.get(), Some(0));
    }
}
