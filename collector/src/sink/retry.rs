//! Exponential backoff with full jitter, capped: the one retry policy for every sink.

use std::time::Duration;

use rand::Rng;

/// Delays between retries of one write: 100 ms doubling to a 30 s cap, each drawn uniformly from
/// [delay/2, delay] so that many collectors do not retry in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

const FIRST: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(30);

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(CAP);
        let half = ceiling / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stay_within_it() {
        let mut backoff = Backoff::default();
        let delays: Vec<Duration> = (0..20).map(|_| backoff.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= FIRST);
        assert!(delays.iter().all(|d| *d <= CAP));
        assert!(delays[19] >= CAP / 2, "reaches the cap: {:?}", delays[19]);
    }
}
