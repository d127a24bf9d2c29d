//! Counters and gauges the collector keeps about itself, read by tests, logs and `/metrics`.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Upper bounds of the write-latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Live counters, shared between the pipeline and whoever reports on it.
#[derive(Debug, Default)]
pub struct Stats {
    received: AtomicU64,
    written: AtomicU64,
    acked: AtomicU64,
    duplicates: AtomicU64,
    write_failures: AtomicU64,
    spooled: AtomicU64,
    drained: AtomicU64,
    unacked: AtomicU64,
    spool_bytes: AtomicU64,
    spool_max_bytes: AtomicU64,
    spool_oldest_ms: AtomicU64,
    spool_corrupt_records: AtomicU64,
    spool_full: AtomicBool,
    mqtt_connected: AtomicBool,
    sink_healthy: AtomicBool,
    dead_letters_dropped: AtomicU64,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

/// A consistent-enough copy of [`Stats`] for reporting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    /// MQTT messages taken from the broker.
    pub received: u64,
    /// Frames whose point was written to the sink (live or from the spool).
    pub written: u64,
    /// Messages acknowledged to the broker (written, spooled, duplicate or dead-lettered).
    pub acked: u64,
    /// Frames seen before (same node, boot and seq): acked, not written again.
    pub duplicates: u64,
    /// Write attempts that failed.
    pub write_failures: u64,
    /// Frames put in the disk spool.
    pub spooled: u64,
    /// Frames written from the disk spool.
    pub drained: u64,
    /// Messages taken but not yet acknowledged.
    pub unacked: u64,
    /// Bytes in the spool.
    pub spool_bytes: u64,
    /// Whether the spool is full (the collector has stopped acknowledging).
    pub spool_full: bool,
    /// Frames rejected, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
}

impl StatsSnapshot {
    /// Frames rejected for any reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// The counts as a sentence, for the line the collector logs when it stops.
impl std::fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages received, {} frames written ({} of them from the spool), {} duplicates",
            self.received, self.written, self.drained, self.duplicates
        )?;
        write!(f, ", {} rejected", self.rejected_total())?;
        if !self.rejected.is_empty() {
            let reasons: Vec<String> = self.rejected.iter().map(|(r, n)| format!("{r}: {n}")).collect();
            write!(f, " ({})", reasons.join(", "))?;
        }
        write!(
            f,
            ", {} failed writes; {} bytes left in the spool{}, {} messages unacknowledged",
            self.write_failures,
            self.spool_bytes,
            if self.spool_full { " (full)" } else { "" },
            self.unacked
        )
    }
}

impl Stats {
    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// A message arrived from the broker (counted from here until its ack is handed over).
    pub(crate) fn arrived(&self) {
        self.unacked.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn written(&self, frames: u64) {
        self.written.fetch_add(frames, Ordering::Relaxed);
    }

    pub(crate) fn acked(&self, messages: u64) {
        self.acked.fetch_add(messages, Ordering::Relaxed);
    }

    /// Messages handed to the acker (no longer held by the pipeline).
    pub(crate) fn released(&self, messages: u64) {
        self.unacked.fetch_sub(messages, Ordering::Relaxed);
    }

    pub(crate) fn duplicate(&self) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn write_failed(&self) {
        self.write_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn spooled(&self, frames: u64) {
        self.spooled.fetch_add(frames, Ordering::Relaxed);
    }

    pub(crate) fn drained(&self, frames: u64) {
        self.drained.fetch_add(frames, Ordering::Relaxed);
        self.written(frames);
    }

    pub(crate) fn spool_state(&self, bytes: u64, max_bytes: u64, oldest_ms: Option<u64>, corrupt: u64) {
        self.spool_bytes.store(bytes, Ordering::Relaxed);
        self.spool_max_bytes.store(max_bytes, Ordering::Relaxed);
        self.spool_oldest_ms
            .store(oldest_ms.unwrap_or(0), Ordering::Relaxed);
        self.spool_corrupt_records.store(corrupt, Ordering::Relaxed);
    }

    pub(crate) fn set_spool_full(&self, full: bool) {
        self.spool_full.store(full, Ordering::Relaxed);
    }

    pub(crate) fn set_mqtt_connected(&self, connected: bool) {
        self.mqtt_connected.store(connected, Ordering::Relaxed);
    }

    pub(crate) fn set_sink_healthy(&self, healthy: bool) {
        self.sink_healthy.store(healthy, Ordering::Relaxed);
    }

    pub(crate) fn sink_healthy(&self) -> bool {
        self.sink_healthy.load(Ordering::Relaxed)
    }

    pub(crate) fn dead_letters_dropped(&self, total: u64) {
        self.dead_letters_dropped.store(total, Ordering::Relaxed);
    }

    pub(crate) fn write_latency(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self, reason: &'static str) {
        let mut rejected = self
            .rejected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *rejected.entry(reason).or_default() += 1;
    }

    /// Whether the collector is taking and storing data: connected and subscribed, and either
    /// InfluxDB or the spool takes writes.
    pub fn ready(&self, subscribed: bool) -> bool {
        subscribed && self.mqtt_connected.load(Ordering::Relaxed) && !self.spool_full.load(Ordering::Relaxed)
    }

    /// Copies the counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            received: self.received.load(Ordering::Relaxed),
            written: self.written.load(Ordering::Relaxed),
            acked: self.acked.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            write_failures: self.write_failures.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            drained: self.drained.load(Ordering::Relaxed),
            unacked: self.unacked.load(Ordering::Relaxed),
            spool_bytes: self.spool_bytes.load(Ordering::Relaxed),
            spool_full: self.spool_full.load(Ordering::Relaxed),
            rejected: self
                .rejected
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        }
    }

    /// The Prometheus text exposition (format 0.0.4). No per-node labels: a province's node
    /// count would blow up every scrape.
    pub fn render_prometheus(&self, now_ms: u64) -> String {
        let s = self.snapshot();
        let load = |value: &AtomicU64| value.load(Ordering::Relaxed);
        let flag = |value: &AtomicBool| u8::from(value.load(Ordering::Relaxed));
        let oldest = load(&self.spool_oldest_ms);
        let oldest_age_s = if oldest == 0 {
            0.0
        } else {
            now_ms.saturating_sub(oldest) as f64 / 1000.0
        };
        let samples: [(&str, &str, &dyn fmt::Display); 16] = [
            (
                "received_total",
                "MQTT messages taken from the broker.",
                &s.received,
            ),
            (
                "written_total",
                "Frames written to the sink (live and from the spool).",
                &s.written,
            ),
            ("acked_total", "Messages acknowledged to the broker.", &s.acked),
            (
                "duplicates_total",
                "Frames seen before (same node, boot, seq); acked, not written again.",
                &s.duplicates,
            ),
            (
                "write_failures_total",
                "Write attempts that failed.",
                &s.write_failures,
            ),
            ("spooled_total", "Frames put in the disk spool.", &s.spooled),
            ("drained_total", "Frames written from the disk spool.", &s.drained),
            (
                "unacked_messages",
                "Messages taken from the broker and not yet acknowledged (in flight).",
                &s.unacked,
            ),
            ("spool_bytes", "Bytes in the disk spool.", &s.spool_bytes),
            (
                "spool_max_bytes",
                "The disk spool's bound.",
                &load(&self.spool_max_bytes),
            ),
            (
                "spool_oldest_age_seconds",
                "Age of the oldest batch waiting in the spool (0 when empty).",
                &format!("{oldest_age_s:.3}"),
            ),
            (
                "spool_full",
                "1 while the spool is full and the collector has stopped acknowledging.",
                &u8::from(s.spool_full),
            ),
            (
                "spool_corrupt_records_total",
                "Spool records found damaged on disk.",
                &load(&self.spool_corrupt_records),
            ),
            (
                "mqtt_connected",
                "1 while connected to the broker.",
                &flag(&self.mqtt_connected),
            ),
            (
                "sink_healthy",
                "1 while the last write to the sink succeeded.",
                &flag(&self.sink_healthy),
            ),
            (
                "dead_letters_dropped_total",
                "Dead-letter records dropped to keep the store within its bound.",
                &load(&self.dead_letters_dropped),
            ),
        ];
        let mut out = String::with_capacity(4096);
        for (name, help, value) in samples {
            service::metrics::sample(&mut out, &format!("citysense_collector_{name}"), help, value);
        }

        let _ = writeln!(
            out,
            "# HELP citysense_collector_rejected_total Frames rejected and dead-lettered, by reason."
        );
        let _ = writeln!(out, "# TYPE citysense_collector_rejected_total counter");
        for (reason, count) in &s.rejected {
            let _ = writeln!(
                out,
                "citysense_collector_rejected_total{{reason=\"{reason}\"}} {count}"
            );
        }

        let _ = writeln!(
            out,
            "# HELP citysense_collector_write_seconds Time of one write request to the sink."
        );
        let _ = writeln!(out, "# TYPE citysense_collector_write_seconds histogram");
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "citysense_collector_write_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "citysense_collector_write_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "citysense_collector_write_seconds_sum {sum:.6}");
        let _ = writeln!(out, "citysense_collector_write_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family_and_a_cumulative_histogram() {
        let stats = Stats::default();
        stats.received();
        stats.arrived();
        stats.rejected("bad_tag");
        stats.write_latency(Duration::from_millis(3));
        stats.write_latency(Duration::from_millis(300));
        let text = stats.render_prometheus(0);
        for name in [
            "received_total 1",
            "unacked_messages 1",
            "rejected_total{reason=\"bad_tag\"} 1",
            "write_seconds_bucket{le=\"0.005\"} 1",
            "write_seconds_bucket{le=\"0.5\"} 2",
            "write_seconds_bucket{le=\"+Inf\"} 2",
            "write_seconds_count 2",
            "spool_oldest_age_seconds 0.000",
        ] {
            assert!(
                text.contains(&format!("citysense_collector_{name}")),
                "{name} missing:\n{text}"
            );
        }
    }

    #[test]
    fn the_stop_line_reads_as_a_sentence() {
        let snapshot = StatsSnapshot {
            received: 120,
            written: 117,
            acked: 120,
            duplicates: 1,
            write_failures: 0,
            spooled: 5,
            drained: 5,
            unacked: 0,
            spool_bytes: 0,
            spool_full: false,
            rejected: BTreeMap::from([("bad_signature", 2)]),
        };
        assert_eq!(
            snapshot.to_string(),
            "120 messages received, 117 frames written (5 of them from the spool), 1 duplicates, \
             2 rejected (bad_signature: 2), 0 failed writes; 0 bytes left in the spool, 0 messages \
             unacknowledged"
        );
    }
}
