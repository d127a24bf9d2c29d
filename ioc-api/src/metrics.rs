//! Prometheus text for `/metrics`: counters kept in atomics, gauges read from the state. No
//! per-station labels: cardinality stays fixed however many stations a province has.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::state::AppState;

/// Counters the hot path moves.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Frames taken by `ingest`.
    pub frames_accepted: AtomicU64,
    /// Alert changes announced.
    pub alert_changes: AtomicU64,
    /// MQTT messages dropped because the publisher queue was full.
    pub mqtt_dropped: AtomicU64,
    /// Node commands sent.
    pub commands_sent: AtomicU64,
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

/// The exposition text.
pub fn render(state: &AppState) -> String {
    let mut out = String::new();
    let m = &state.metrics;
    metric(
        &mut out,
        "citysense_ioc_frames_accepted_total",
        "counter",
        "Verified frames taken into the live state.",
        m.frames_accepted.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "citysense_ioc_frames_rejected_total",
        "counter",
        "Frames refused by the acceptance rule.",
        state.rejected(),
    );
    metric(
        &mut out,
        "citysense_ioc_alert_changes_total",
        "counter",
        "Alert transitions announced.",
        m.alert_changes.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "citysense_ioc_mqtt_dropped_total",
        "counter",
        "Outbound MQTT messages dropped on a full queue.",
        m.mqtt_dropped.load(Ordering::Relaxed),
    );
    metric(
        &mut out,
        "citysense_ioc_commands_sent_total",
        "counter",
        "Downlink commands queued for the broker.",
        m.commands_sent.load(Ordering::Relaxed),
    );
    let (open, stations, online) = {
        let open = state.engine().open_alerts().len();
        let stations = state.stations();
        let now = time::OffsetDateTime::now_utc();
        let online = stations
            .iter()
            .filter(|s| {
                s.last_seen
                    .is_some_and(|t| now - t <= state.settings.offline_after)
                    && !s.dead
            })
            .count();
        (open, stations.len(), online)
    };
    metric(
        &mut out,
        "citysense_ioc_alerts_open",
        "gauge",
        "Alerts firing or acknowledged.",
        open,
    );
    metric(
        &mut out,
        "citysense_ioc_stations",
        "gauge",
        "Registered stations.",
        stations,
    );
    metric(
        &mut out,
        "citysense_ioc_stations_online",
        "gauge",
        "Stations heard from within the offline timeout.",
        online,
    );
    metric(
        &mut out,
        "citysense_ioc_stream_clients",
        "gauge",
        "Connected event-stream clients.",
        state.hub.clients(),
    );
    metric(
        &mut out,
        "citysense_ioc_mqtt_connected",
        "gauge",
        "1 while connected to the broker.",
        u8::from(state.mqtt_connected.load(Ordering::Relaxed)),
    );
    out
}
