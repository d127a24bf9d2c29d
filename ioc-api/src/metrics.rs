//! Prometheus text for `/metrics`: counters kept in atomics, gauges read from the state. No
//! per-station labels: cardinality stays fixed however many stations a province has.

use std::fmt::Display;
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
    /// Frames the replay window found delivered before with the same bytes.
    pub frames_duplicate: AtomicU64,
    /// Values QC flagged and left out of indices and alerts.
    pub values_flagged: AtomicU64,
    /// Frames refused for reusing a (boot, seq) key with other bytes.
    pub frames_seq_reused: AtomicU64,
    /// Frames refused as replays.
    pub frames_replay: AtomicU64,
}

/// The exposition text.
pub fn render(state: &AppState) -> String {
    let m = &state.metrics;
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
    let samples: [(&str, &str, &dyn Display); 14] = [
        (
            "citysense_ioc_frames_accepted_total",
            "Verified frames taken into the live state.",
            &m.frames_accepted.load(Ordering::Relaxed),
        ),
        (
            "citysense_ioc_frames_rejected_total",
            "Frames refused by the acceptance rule.",
            &state.rejected(),
        ),
        (
            "citysense_ioc_values_flagged_total",
            "Values quality control flagged (range, stuck, spike, sensor limits, neighbour, node): kept, but left out of indices and alerts.",
            &m.values_flagged.load(Ordering::Relaxed),
        ),
        (
            "citysense_ioc_frames_duplicate_total",
            "Frames delivered before with the same bytes (redeliveries), not counted again.",
            &m.frames_duplicate.load(Ordering::Relaxed),
        ),
        (
            "citysense_ioc_frames_seq_reused_total",
            "Frames refused for reusing a (boot, seq) key with other bytes (node re-flashed or boot counter lost).",
            &m.frames_seq_reused.load(Ordering::Relaxed),
        ),
        (
            "citysense_ioc_frames_replay_total",
            "Frames refused as replays of frames delivered before.",
            &m.frames_replay.load(Ordering::Relaxed),
        ),
        (
            "citysense_ioc_alert_changes_total",
            "Alert transitions announced.",
            &m.alert_changes.load(Ordering::Relaxed),
        ),
        (
            "citysense_ioc_mqtt_dropped_total",
            "Outbound MQTT messages dropped on a full queue.",
            &m.mqtt_dropped.load(Ordering::Relaxed),
        ),
        (
            "citysense_ioc_commands_sent_total",
            "Downlink commands queued for the broker.",
            &m.commands_sent.load(Ordering::Relaxed),
        ),
        (
            "citysense_ioc_alerts_open",
            "Alerts firing or acknowledged.",
            &open,
        ),
        ("citysense_ioc_stations", "Registered stations.", &stations),
        (
            "citysense_ioc_stations_online",
            "Stations heard from within the offline timeout.",
            &online,
        ),
        (
            "citysense_ioc_stream_clients",
            "Connected event-stream clients.",
            &state.hub.clients(),
        ),
        (
            "citysense_ioc_mqtt_connected",
            "1 while connected to the broker.",
            &u8::from(state.mqtt_connected.load(Ordering::Relaxed)),
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in samples {
        service::metrics::sample(&mut out, name, help, value);
    }
    out
}
