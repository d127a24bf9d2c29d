//! The one retry policy: which failures are worth retrying, and how long to wait.
//!
//! Classification ([`classify_status`], [`classify_transport`]) is the only place that decides
//! retriable or permanent, for both InfluxDB APIs, live writes and spool drains alike:
//! - retriable: connection errors, timeouts, 5xx, 429, 408, and 401/403/404 (a wrong token or a
//!   missing database or bucket is an operator mistake to fix, not a reason to drop data);
//! - permanent: 400, 413 and 422, where the server refuses the bytes themselves. The caller then
//!   splits the batch to isolate the points refused and dead-letters only those.
//!
//! Delays: exponential backoff with jitter and a cap ([`Backoff`]), never shorter than the
//! server's `Retry-After` when it sent one.

use std::time::Duration;

use rand::Rng;

use super::{Retry, WriteError};

/// The longest `Retry-After` honoured; a larger value is capped (a misconfigured proxy must not
/// park the collector for a day).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Classifies an HTTP answer that was not a success.
pub fn classify_status(status: u16, retry_after: Option<Duration>, body: &str) -> WriteError {
    let retry = match status {
        400 | 413 | 422 => Retry::Permanent,
        _ => Retry::Retriable,
    };
    let hint = match status {
        401 | 403 => " (check the sink's credentials)",
        404 => " (check that the database or bucket exists)",
        _ => "",
    };
    WriteError {
        retry,
        retry_after: retry_after.map(|d| d.min(MAX_RETRY_AFTER)),
        status: Some(status),
        message: format!("HTTP {status}{hint}: {}", body.trim()),
    }
}

/// Classifies a failure below HTTP (connect, timeout, reset): always retriable.
pub fn classify_transport(message: impl Into<String>) -> WriteError {
    WriteError {
        retry: Retry::Retriable,
        retry_after: None,
        status: None,
        message: message.into(),
    }
}

/// Parses a `Retry-After` header given in seconds (the HTTP-date form is rare for APIs and read
/// as absent).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Delays between retries of one write: 100 ms doubling to a cap (30 s by default), each drawn
/// uniformly from [delay/2, delay] so that many collectors do not retry in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    cap: Duration,
}

const FIRST: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(30);

impl Default for Backoff {
    fn default() -> Self {
        Backoff::with_cap(CAP)
    }
}

impl Backoff {
    /// Backoff capped at `cap`.
    pub fn with_cap(cap: Duration) -> Self {
        Backoff {
            next: FIRST.min(cap),
            cap,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(self.cap);
        let half = ceiling / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }

    /// The delay before retrying after `error`: the backoff, or the server's `Retry-After` if
    /// that is longer.
    pub fn delay_for(&mut self, error: &WriteError) -> Duration {
        let delay = self.next_delay();
        error.retry_after.map_or(delay, |after| after.max(delay))
    }

    /// Starts again from the first delay (after a success).
    pub fn reset(&mut self) {
        self.next = FIRST.min(self.cap);
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

    #[test]
    fn statuses_are_classified_in_one_place() {
        for s in [400, 413, 422] {
            assert_eq!(classify_status(s, None, "").retry, Retry::Permanent, "{s}");
        }
        for s in [401, 403, 404, 408, 429, 500, 502, 503, 504] {
            assert_eq!(classify_status(s, None, "").retry, Retry::Retriable, "{s}");
        }
        assert_eq!(classify_transport("reset").retry, Retry::Retriable);
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let after = parse_retry_after(Some(" 7 "));
        assert_eq!(after, Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        let error = classify_status(429, after, "slow down");
        let mut backoff = Backoff::default();
        assert_eq!(backoff.delay_for(&error), Duration::from_secs(7));
        let huge = classify_status(503, Some(Duration::from_secs(86_400)), "");
        assert_eq!(huge.retry_after, Some(MAX_RETRY_AFTER));
    }
}
