//! Simulated time: starts where the scenario says and runs at a chosen speed, but never ahead of
//! the wall clock (a node cannot report the future, and databases drop far-future points).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How fast simulated time runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the broker takes frames, until simulated time reaches the wall clock; then
    /// real time. Backfills history quickly.
    Unlimited,
    /// This many simulated seconds per real second (1.0 is real time), capped at the wall clock.
    Factor(f64),
}

/// A simulated clock.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    start_ms: u64,
    speed: Speed,
    started: Instant,
}

/// Milliseconds since the Unix epoch, now.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl SimClock {
    /// A clock reading `start_ms` now and advancing at `speed`.
    pub fn new(start_ms: u64, speed: Speed) -> Self {
        SimClock {
            start_ms,
            speed,
            started: Instant::now(),
        }
    }

    /// Where simulated time starts.
    pub fn start_ms(&self) -> u64 {
        self.start_ms
    }

    /// How fast it runs.
    pub fn speed(&self) -> Speed {
        self.speed
    }

    /// Simulated time now, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        let wall = wall_ms();
        match self.speed {
            Speed::Unlimited => wall,
            Speed::Factor(f) => {
                let advanced = (self.started.elapsed().as_secs_f64() * f * 1_000.0) as u64;
                (self.start_ms + advanced).min(wall)
            }
        }
    }

    /// Real time to wait for simulated time to advance by `sim_ms` (bounded, so a caller re-checks
    /// the clock regularly).
    pub fn real_wait(&self, sim_ms: u64) -> Duration {
        let real_ms = match self.speed {
            Speed::Unlimited => sim_ms as f64,
            Speed::Factor(f) => sim_ms as f64 / f,
        };
        Duration::from_millis(real_ms.clamp(1.0, 1_000.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_runs_ahead_of_the_wall_clock() {
        let fast = SimClock::new(wall_ms(), Speed::Factor(1_000_000.0));
        std::thread::sleep(Duration::from_millis(5));
        assert!(fast.now_ms() <= wall_ms());
        let past = SimClock::new(wall_ms() - 3_600_000, Speed::Unlimited);
        assert!(
            past.now_ms() + 1_000 >= wall_ms(),
            "unlimited speed is at the wall clock at once"
        );
    }

    #[test]
    fn a_factor_advances_proportionally() {
        let start = wall_ms() - 86_400_000;
        let clock = SimClock::new(start, Speed::Factor(3_600.0));
        std::thread::sleep(Duration::from_millis(20));
        let advanced = clock.now_ms() - start;
        assert!(
            advanced >= 60_000,
            "20 ms at 3600x is at least a simulated minute: {advanced}"
        );
        assert_eq!(clock.real_wait(3_600_000), Duration::from_millis(1_000));
    }
}
