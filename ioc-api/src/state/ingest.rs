//! A verified frame in: the replay window's verdict, the reading through quality control into
//! the live state and its history, and the rules it feeds.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use protocol::registry::NodeInfo;
use protocol::window::Verdict;
use protocol::{Body, Frame, QualityFlags};
use time::OffsetDateTime;
use tracing::{debug, warn};

use super::{AppState, lock, station_ref, write};
use crate::alerts::{AlertChange, Engine, StationRef, StationRule, Watch, Window};
use crate::live::{FlaggedValue, Param, Reading, Series, Station};
use crate::quality::{QcFlag, ReadingFlags};
use crate::time_fmt::rfc3339;

/// Quality flags that mean the sample is not trustworthy (FORMAT.md §4).
const FAULT_FLAGS: [QualityFlags; 3] = [
    QualityFlags::SENSOR_FAULT,
    QualityFlags::OUT_OF_RANGE,
    QualityFlags::STUCK_VALUE,
];

/// A new reading after quality control: its flags, and its PM2.5 as the indices use it
/// (`None` when left out).
#[derive(Clone, Copy)]
struct Checked<'a> {
    reading: &'a Reading,
    flags: &'a ReadingFlags,
    corrected: Option<f64>,
}

impl AppState {
    /// Takes a verified frame that arrived as an MQTT message (`payload`, with its DUP and retain
    /// flags) at `now`: the replay window decides, as in the collector, whether it is a reading
    /// ([`AppState::ingest`]), a duplicate (ignored), or refused: a reused key counts on the
    /// station and feeds its `sequence_reset` rule, a replay counts on the station.
    pub fn receive(
        &self,
        frame: &Frame,
        node: &NodeInfo,
        payload: &[u8],
        dup: bool,
        retain: bool,
        now: OffsetDateTime,
    ) {
        let verdict = {
            let mut window = lock(&self.window);
            let (key, digest, verdict) = window.check_message(frame, payload, dup, retain);
            if verdict == Verdict::New {
                window.mark(key, digest);
                self.window_changed.store(true, Ordering::Relaxed);
            }
            verdict
        };
        match verdict {
            Verdict::New => {
                self.ingest(frame, node, now);
                self.sequence_flag(node, 0.0, now);
            }
            Verdict::Duplicate => {
                self.metrics.frames_duplicate.fetch_add(1, Ordering::Relaxed);
            }
            Verdict::SeqReused(detail) => {
                self.metrics.frames_seq_reused.fetch_add(1, Ordering::Relaxed);
                debug!(node = node.id, detail = %detail, "Frame refused: reused sequence number.");
                if let Some(station) = write(&self.stations).by_node.get_mut(&node.id) {
                    station.refused.seq_reused += 1;
                    station.refused.last_seq_reused_at = Some(rfc3339(now));
                }
                self.sequence_flag(node, 1.0, now);
            }
            Verdict::Replay(detail) => {
                self.metrics.frames_replay.fetch_add(1, Ordering::Relaxed);
                debug!(node = node.id, detail = %detail, "Frame refused: replay.");
                if let Some(station) = write(&self.stations).by_node.get_mut(&node.id) {
                    station.refused.replays += 1;
                }
            }
        }
    }

    /// Evaluates the station's `sequence_reset` rules: 1 for a frame refused for a reused key,
    /// 0 for a new frame (only while such an alert is open, so the hot path stays cheap).
    fn sequence_flag(&self, node: &NodeInfo, flag: f64, now: OffsetDateTime) {
        if !self.evaluates_alerts {
            return;
        }
        let watch = Watch::Station(StationRule::SequenceReset);
        let changes = {
            let mut engine = lock(&self.engine);
            if flag == 0.0 && !engine.has_open(&node.station, watch) {
                return;
            }
            self.evaluate_station_rule(
                &mut engine,
                station_ref(node, &self.quality.correction),
                watch,
                flag,
                now,
            )
        };
        self.announce(changes);
    }

    /// Evaluates every applicable rule of a station-level `watch` (a value read at `now` on the
    /// server clock, not a frame's), returning the alert changes.
    pub(crate) fn evaluate_station_rule(
        &self,
        engine: &mut Engine,
        sref: StationRef<'_>,
        watch: Watch,
        value: f64,
        now: OffsetDateTime,
    ) -> Vec<AlertChange> {
        let rules: Vec<_> = engine
            .applicable(sref, watch, now.date())
            .into_iter()
            .cloned()
            .collect();
        let now_ms = (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        let mut changes = Vec::new();
        for rule in rules {
            match engine.evaluate(&self.store, sref, &rule, value, now_ms, now) {
                Ok(change) => changes.extend(change),
                Err(e) => warn!(error = %e, "Alert state not stored."),
            }
        }
        changes
    }

    /// Takes a verified frame arriving at `now` (server clock): liveness, reading, history,
    /// rules; publishes the station's new view and any alert change. The MQTT path calls it
    /// through [`AppState::receive`], for new frames only.
    pub fn ingest(&self, frame: &Frame, node: &NodeInfo, now: OffsetDateTime) {
        self.metrics.frames_accepted.fetch_add(1, Ordering::Relaxed);
        let observed_ms = if frame.time_ms == 0 {
            (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64
        } else {
            frame.time_ms
        };
        let mut changes = Vec::new();
        let view = {
            let mut stations = write(&self.stations);
            // Only a reading is checked against its neighbours: a status frame needs no scan.
            let neighbours = if self.quality.neighbour.enabled && !matches!(frame.body, Body::Status(_)) {
                stations.neighbour_values(
                    node,
                    &self.quality.neighbour.params,
                    now,
                    self.settings.offline_after,
                )
            } else {
                Vec::new()
            };
            let Some(station) = stations.seen(node.id, now) else {
                return;
            };
            let mut engine = lock(&self.engine);
            let store = &self.store;
            let sref = station_ref(node, &self.quality.correction);
            let evaluate = self.evaluates_alerts;
            if evaluate {
                match engine.station_alive(store, &node.station, now) {
                    Ok(c) => changes.extend(c),
                    Err(e) => warn!(error = %e, "Alert state not stored."),
                }
            }
            match &frame.body {
                Body::Status(status) => {
                    station.take_status(status);
                    if station.dead && evaluate {
                        let day = now.date();
                        let rules: Vec<_> = engine
                            .applicable(sref, Watch::Station(StationRule::StationOffline), day)
                            .into_iter()
                            .cloned()
                            .collect();
                        for rule in rules {
                            match engine.station_offline(store, sref, &rule, rule.spec.trigger + 1.0, now) {
                                Ok(c) => changes.extend(c),
                                Err(e) => warn!(error = %e, "Alert state not stored."),
                            }
                        }
                    }
                    None
                }
                body => match Reading::from_body(body) {
                    None => None,
                    Some(mut reading) => {
                        let water = station.is_water();
                        if water {
                            reading.derive_salinity();
                        }
                        let of_neighbours = |p: Param| {
                            neighbours
                                .iter()
                                .find(|(q, _)| *q == p)
                                .map(|(_, v)| v.as_slice())
                        };
                        let mut flags = station.qc.check_reading(
                            &self.quality,
                            water,
                            observed_ms,
                            &reading,
                            of_neighbours,
                        );
                        station.qc_changed = true;
                        let fresh = observed_ms > station.rebuilt_until_ms;
                        if fresh {
                            let corrected = self.corrected_pm2_5(station, &reading, &mut flags);
                            let checked = Checked {
                                reading: &reading,
                                flags: &flags,
                                corrected,
                            };
                            self.take_checked(station, &checked, observed_ms, now);
                            if evaluate {
                                changes.extend(self.evaluate_frame(
                                    &mut engine,
                                    station,
                                    &checked,
                                    observed_ms,
                                    now,
                                ));
                            }
                        }
                        station.update_reading(observed_ms, reading, flags).then(|| {
                            station.view(
                                now,
                                &self.settings,
                                &HashMap::new(),
                                engine.open_for(&node.station).len(),
                            )
                        })
                    }
                },
            }
        };
        if let Some(view) = view {
            self.hub.publish("reading", &view);
        }
        self.announce(changes);
    }

    /// The reading's PM2.5 as the station's indices use it (`quality.correction`): `Some` of the
    /// raw value, or of the corrected one, which QC's range rule checks again (a correction can
    /// go below 0); `None` when it cannot be corrected (no humidity in the reading) or was
    /// flagged.
    fn corrected_pm2_5(&self, station: &Station, reading: &Reading, flags: &mut ReadingFlags) -> Option<f64> {
        let raw = reading
            .get(Param::Pm2_5)
            .filter(|_| flags.is_valid(Param::Pm2_5))?;
        let corrected =
            self.quality
                .correction
                .apply(&station.info.station, raw, reading.get(Param::Humidity))?;
        if self.quality.range.out_of_range(Param::Pm2_5, false, corrected) {
            flags.add(Param::Pm2_5, QcFlag::Range);
            return None;
        }
        Some(corrected)
    }

    /// A new reading's checked values into the station: coverage counts it, the values QC
    /// let through enter the history (PM2.5 as `corrected`), the flagged ones wait to be saved
    /// with their flags.
    fn take_checked(
        &self,
        station: &mut Station,
        checked: &Checked<'_>,
        observed_ms: u64,
        now: OffsetDateTime,
    ) {
        let Checked {
            reading,
            flags,
            corrected,
        } = *checked;
        let water = station.is_water();
        station.coverage.record(observed_ms, flags.is_clean());
        for (param, value) in reading.values() {
            match flags.get(param) {
                Some(f) if !f.is_empty() => {
                    self.metrics.values_flagged.fetch_add(1, Ordering::Relaxed);
                    station.flagged.push(FlaggedValue {
                        param,
                        at_ms: observed_ms,
                        value,
                        flags: f,
                    });
                }
                _ if param.tracked(water) => {
                    let value = if param == Param::Pm2_5 {
                        station
                            .raw_pm2_5
                            .get_or_insert_with(|| Series::new(param.step()))
                            .insert(observed_ms, value);
                        corrected
                    } else {
                        Some(value)
                    };
                    if let Some(value) = value {
                        let tracked = station.series_mut(param, now);
                        tracked.series.insert(observed_ms, value);
                        tracked.updated = now;
                    }
                }
                _ => {}
            }
        }
    }

    /// The rules the reading feeds; a value QC flagged feeds none.
    fn evaluate_frame(
        &self,
        engine: &mut Engine,
        station: &Station,
        checked: &Checked<'_>,
        observed_ms: u64,
        now: OffsetDateTime,
    ) -> Vec<AlertChange> {
        let Checked {
            reading,
            flags,
            corrected,
        } = *checked;
        let offset =
            time::UtcOffset::from_hms(self.settings.utc_offset_hours, 0, 0).unwrap_or(time::UtcOffset::UTC);
        let day = OffsetDateTime::from_unix_timestamp((observed_ms / 1_000) as i64)
            .map_or(now.date(), |t| t.to_offset(offset).date());
        let sref = station_ref(&station.info, &self.quality.correction);
        let ix = &self.settings.indices;
        let mut changes = Vec::new();
        let mut watched: Vec<(Watch, Option<f64>, Option<&crate::live::Series>)> = reading
            .values()
            .filter(|(p, _)| flags.is_valid(*p))
            .filter_map(|(p, v)| Some((p, if p == Param::Pm2_5 { corrected? } else { v })))
            .map(|(p, v)| (Watch::Param(p), Some(v), station.series(p).map(|t| &t.series)))
            .collect();
        let fault = FAULT_FLAGS
            .iter()
            .any(|f| QualityFlags::from_bits(reading.quality()).is_some_and(|q| q.contains(*f)));
        watched.push((
            Watch::Station(StationRule::SensorFault),
            Some(if fault { 1.0 } else { 0.0 }),
            None,
        ));
        for (watch, latest, series) in watched {
            let rules: Vec<_> = engine.applicable(sref, watch, day).into_iter().cloned().collect();
            for rule in rules {
                let value = match rule.spec.window {
                    Window::Latest => latest,
                    Window::OneHour => series.and_then(|s| s.rolling_hour_mean(ix.min_coverage)),
                    Window::EightHours => {
                        series.and_then(|s| s.rolling_hours_mean(8, ix.min_hours_8h, ix.min_coverage))
                    }
                    Window::Day => {
                        series.and_then(|s| s.rolling_hours_mean(24, ix.daily_min_hours, ix.min_coverage))
                    }
                };
                let Some(value) = value else { continue };
                match engine.evaluate(&self.store, sref, &rule, value, observed_ms, now) {
                    Ok(Some(change)) => changes.push(change),
                    Ok(None) => {}
                    Err(e) => warn!(error = %e, "Alert state not stored."),
                }
            }
        }
        changes
    }
}
