//! Counters the relay keeps about itself, for `/metrics`, `/healthz` and the tests.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;

/// One receiver's counters.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    /// Its name.
    pub name: String,
    uploaded: AtomicU64,
    already_there: AtomicU64,
    failures: AtomicU64,
    last_upload_ms: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// Live counters.
#[derive(Debug, Default)]
pub struct Stats {
    received: AtomicU64,
    joined: AtomicU64,
    duplicates: AtomicU64,
    late: AtomicU64,
    files_written: AtomicU64,
    intervals_open: AtomicU64,
    held: AtomicU64,
    mqtt_connected: AtomicBool,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Per receiver, in config order.
    pub receivers: Vec<ReceiverStats>,
}

/// What a receiver's counters and queue say, for reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReceiverSnapshot {
    /// Its name.
    pub name: String,
    /// Files uploaded.
    pub uploaded: u64,
    /// Files found already on the server after a restart, recorded without a second upload.
    pub already_there: u64,
    /// Failed attempts.
    pub failures: u64,
    /// Files waiting for it.
    pub pending: u64,
    /// Age of the oldest waiting file's interval, seconds (0 when none waits).
    pub oldest_pending_age_s: u64,
    /// When the last upload succeeded, ms since the Unix epoch (0: never, in this run).
    pub last_upload_ms: u64,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
}

/// A copy of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// MQTT messages taken.
    pub received: u64,
    /// Frames that joined an interval.
    pub joined: u64,
    /// Frames an interval already had.
    pub duplicates: u64,
    /// Frames for an interval whose file was already written (left out; `resend` rebuilds it).
    pub late: u64,
    /// Refused messages by reason (the collector's acceptance rule).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Files written to the outbox.
    pub files_written: u64,
    /// Intervals open.
    pub intervals_open: u64,
    /// Messages held unacknowledged while the outbox is full.
    pub held: u64,
    /// Connected to the broker.
    pub mqtt_connected: bool,
    /// Outbox bytes and limit.
    pub outbox_bytes: u64,
    /// The outbox's limit.
    pub outbox_max_bytes: u64,
    /// Per receiver.
    pub receivers: Vec<ReceiverSnapshot>,
}

impl Stats {
    /// Counters for the receivers named.
    pub fn new(receivers: impl IntoIterator<Item = String>) -> Self {
        Stats {
            receivers: receivers
                .into_iter()
                .map(|name| ReceiverStats {
                    name,
                    ..ReceiverStats::default()
                })
                .collect(),
            ..Stats::default()
        }
    }

    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn joined(&self) {
        self.joined.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn duplicate(&self) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn late(&self) {
        self.late.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn rejected(&self, reason: &'static str) {
        if let Ok(mut r) = self.rejected.lock() {
            *r.entry(reason).or_default() += 1;
        }
    }
    pub(crate) fn file_written(&self) {
        self.files_written.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn set_open(&self, open: usize, held: usize) {
        self.intervals_open.store(open as u64, Ordering::Relaxed);
        self.held.store(held as u64, Ordering::Relaxed);
    }
    pub(crate) fn set_mqtt_connected(&self, up: bool) {
        self.mqtt_connected.store(up, Ordering::Relaxed);
    }
    pub(crate) fn uploaded(&self, r: usize, already_there: bool, now_ms: u64) {
        if let Some(s) = self.receivers.get(r) {
            let counter = if already_there {
                &s.already_there
            } else {
                &s.uploaded
            };
            counter.fetch_add(1, Ordering::Relaxed);
            s.last_upload_ms.store(now_ms, Ordering::Relaxed);
            if let Ok(mut e) = s.last_error.lock() {
                *e = None;
            }
        }
    }
    pub(crate) fn failed(&self, r: usize, error: String) {
        if let Some(s) = self.receivers.get(r) {
            s.failures.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut e) = s.last_error.lock() {
                *e = Some(error);
            }
        }
    }

    /// A copy, with the outbox's figures: `(bytes, max)` and per receiver `(pending, oldest ms)`.
    pub fn snapshot(&self, outbox: (u64, u64), queues: &[(usize, Option<u64>)], now_ms: u64) -> Snapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            received: load(&self.received),
            joined: load(&self.joined),
            duplicates: load(&self.duplicates),
            late: load(&self.late),
            rejected: self.rejected.lock().map(|r| r.clone()).unwrap_or_default(),
            files_written: load(&self.files_written),
            intervals_open: load(&self.intervals_open),
            held: load(&self.held),
            mqtt_connected: self.mqtt_connected.load(Ordering::Relaxed),
            outbox_bytes: outbox.0,
            outbox_max_bytes: outbox.1,
            receivers: self
                .receivers
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let (pending, oldest) = queues.get(i).copied().unwrap_or_default();
                    ReceiverSnapshot {
                        name: s.name.clone(),
                        uploaded: load(&s.uploaded),
                        already_there: load(&s.already_there),
                        failures: load(&s.failures),
                        pending: pending as u64,
                        oldest_pending_age_s: oldest.map_or(0, |ms| now_ms.saturating_sub(ms) / 1_000),
                        last_upload_ms: load(&s.last_upload_ms),
                        last_error: s.last_error.lock().ok().and_then(|e| e.clone()),
                    }
                })
                .collect(),
        }
    }
}

impl Snapshot {
    /// Prometheus text (format 0.0.4).
    pub fn render_prometheus(&self) -> String {
        use service::metrics::sample;
        let mut out = String::new();
        sample(
            &mut out,
            "citysense_relay_received_total",
            "MQTT messages taken.",
            self.received,
        );
        sample(
            &mut out,
            "citysense_relay_joined_total",
            "Frames that joined an interval.",
            self.joined,
        );
        sample(
            &mut out,
            "citysense_relay_duplicates_total",
            "Frames an interval already had.",
            self.duplicates,
        );
        sample(
            &mut out,
            "citysense_relay_late_total",
            "Frames for an interval whose file was already written.",
            self.late,
        );
        let _ = writeln!(
            out,
            "# HELP citysense_relay_rejected_total Refused messages by reason.\n# TYPE citysense_relay_rejected_total counter"
        );
        for (reason, n) in &self.rejected {
            let _ = writeln!(out, "citysense_relay_rejected_total{{reason=\"{reason}\"}} {n}");
        }
        sample(
            &mut out,
            "citysense_relay_files_written_total",
            "Files written to the outbox.",
            self.files_written,
        );
        sample(
            &mut out,
            "citysense_relay_intervals_open",
            "Intervals not yet written.",
            self.intervals_open,
        );
        sample(
            &mut out,
            "citysense_relay_held_messages",
            "Messages held unacknowledged while the outbox is full.",
            self.held,
        );
        sample(
            &mut out,
            "citysense_relay_mqtt_connected",
            "1 when connected to the broker.",
            u8::from(self.mqtt_connected),
        );
        sample(
            &mut out,
            "citysense_relay_outbox_bytes",
            "Bytes of files in the outbox.",
            self.outbox_bytes,
        );
        sample(
            &mut out,
            "citysense_relay_outbox_max_bytes",
            "The outbox's limit.",
            self.outbox_max_bytes,
        );
        let per = |out: &mut String,
                   name: &str,
                   help: &str,
                   kind: &str,
                   value: &dyn Fn(&ReceiverSnapshot) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for r in &self.receivers {
                let _ = writeln!(out, "{name}{{receiver=\"{}\"}} {}", r.name, value(r));
            }
        };
        per(
            &mut out,
            "citysense_relay_uploaded_total",
            "Files uploaded.",
            "counter",
            &|r| r.uploaded,
        );
        per(
            &mut out,
            "citysense_relay_already_there_total",
            "Files found on the server after a restart and recorded without a second upload.",
            "counter",
            &|r| r.already_there,
        );
        per(
            &mut out,
            "citysense_relay_upload_failures_total",
            "Failed upload attempts.",
            "counter",
            &|r| r.failures,
        );
        per(
            &mut out,
            "citysense_relay_pending_files",
            "Files waiting for the receiver.",
            "gauge",
            &|r| r.pending,
        );
        per(
            &mut out,
            "citysense_relay_oldest_pending_age_seconds",
            "Age of the oldest waiting file's interval.",
            "gauge",
            &|r| r.oldest_pending_age_s,
        );
        per(
            &mut out,
            "citysense_relay_last_upload_timestamp_seconds",
            "When the last upload succeeded (0: not in this run).",
            "gauge",
            &|r| r.last_upload_ms / 1_000,
        );
        out
    }
}
