//! A time-ordered window of values for rolling means, keyed by the node's clock so that late or
//! redelivered frames land where they belong and count once.

use std::collections::VecDeque;

/// Values with their timestamps (ms), covering at most `span_ms` back from the newest.
#[derive(Debug, Clone)]
pub struct RollingWindow {
    span_ms: u64,
    points: VecDeque<(u64, f64)>,
}

impl RollingWindow {
    /// An empty window covering `span_ms`.
    pub fn new(span_ms: u64) -> Self {
        RollingWindow {
            span_ms,
            points: VecDeque::new(),
        }
    }

    /// Adds a value; a repeat of a timestamp already held is ignored (a redelivered frame).
    pub fn insert(&mut self, at_ms: u64, value: f64) {
        match self.points.binary_search_by_key(&at_ms, |&(t, _)| t) {
            Ok(_) => return,
            Err(i) => self.points.insert(i, (at_ms, value)),
        }
        let newest = self.points.back().map_or(at_ms, |&(t, _)| t);
        // The window is (newest - span, newest]; before a full span has passed, keep everything.
        if let Some(cutoff) = newest.checked_sub(self.span_ms) {
            while self.points.front().is_some_and(|&(t, _)| t <= cutoff) {
                self.points.pop_front();
            }
        }
    }

    /// The mean over the window, if its values span at least `min_span_ms` (a mean over a few
    /// minutes of data must not pass for an hourly mean).
    pub fn mean(&self, min_span_ms: u64) -> Option<f64> {
        let (first, last) = (self.points.front()?.0, self.points.back()?.0);
        if last - first < min_span_ms {
            return None;
        }
        Some(self.points.iter().map(|&(_, v)| v).sum::<f64>() / self.points.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn mean_needs_enough_span_and_drops_old_values() {
        let mut w = RollingWindow::new(60 * MIN);
        for minute in 0..=44 {
            w.insert(minute * MIN, 10.0);
        }
        assert_eq!(w.mean(45 * MIN), None, "44 minutes of data is not enough");
        w.insert(45 * MIN, 10.0);
        assert_eq!(w.mean(45 * MIN), Some(10.0));
        for minute in 46..=120 {
            w.insert(minute * MIN, 40.0);
        }
        assert_eq!(w.mean(45 * MIN), Some(40.0), "values older than an hour are gone");
    }

    #[test]
    fn late_and_repeated_values_count_once_in_order() {
        let mut w = RollingWindow::new(60 * MIN);
        w.insert(0, 10.0);
        w.insert(50 * MIN, 30.0);
        w.insert(20 * MIN, 20.0);
        w.insert(20 * MIN, 99.0);
        assert_eq!(w.mean(0), Some(20.0));
    }
}
