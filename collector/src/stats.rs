//! Counters the collector keeps about itself, read by tests, logs and (later) `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters, shared between the pipeline and whoever reports on it.
#[derive(Debug, Default)]
pub struct Stats {
    received: AtomicU64,
    written: AtomicU64,
    acked: AtomicU64,
    write_failures: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
}

/// A consistent-enough copy of [`Stats`] for reporting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// MQTT messages taken from the broker.
    pub received: u64,
    /// Frames whose point was written to the sink.
    pub written: u64,
    /// Messages acknowledged to the broker (written or dead-lettered).
    pub acked: u64,
    /// Write attempts that failed and were retried.
    pub write_failures: u64,
    /// Frames rejected, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
}

impl StatsSnapshot {
    /// Frames rejected for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

impl Stats {
    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn written(&self, frames: u64) {
        self.written.fetch_add(frames, Ordering::Relaxed);
    }

    pub(crate) fn acked(&self, messages: u64) {
        self.acked.fetch_add(messages, Ordering::Relaxed);
    }

    pub(crate) fn write_failed(&self) {
        self.write_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self, reason: &'static str) {
        let mut rejected = self
            .rejected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *rejected.entry(reason).or_default() += 1;
    }

    /// Copies the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            received: self.received.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            write_failures: self.write_failures.load(Ordering::Relaxed),
            rejected: self
                .rejected
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        }
    }
}
