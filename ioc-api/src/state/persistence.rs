//! Saving what the database keeps between runs: the replay window, the stations' quality
//! control, and the hourly history when there is no InfluxDB.

use std::sync::atomic::Ordering;

use tracing::warn;

use super::{AppState, lock, write};
use crate::live::{HOUR_MS, HOURS_KEPT, RAW_PM2_5};
use crate::store::{SavedFlag, SavedHour, SavedQuality};

impl AppState {
    /// Without InfluxDB, saves the hours that changed to the local history (the tick and the
    /// shutdown call this); with InfluxDB the history is there and nothing is saved.
    pub fn save_history(&self) {
        if self.influx.is_some() {
            return;
        }
        let hours: Vec<SavedHour> = {
            let mut stations = write(&self.stations);
            stations
                .by_node
                .values_mut()
                .flat_map(|station| {
                    let id = station.info.station.clone();
                    let raw = station.raw_pm2_5.iter_mut().map(|series| (RAW_PM2_5, series));
                    let tracked = station
                        .tracked
                        .iter_mut()
                        .map(|t| (t.param.as_str(), &mut t.series));
                    tracked.chain(raw).flat_map(move |(param, series)| {
                        let id = id.clone();
                        series.take_changed().into_iter().map(move |record| SavedHour {
                            station: id.clone(),
                            param: param.to_owned(),
                            record,
                        })
                    })
                })
                .collect()
        };
        if let Err(e) = self.store.save_hours(&hours) {
            warn!(error = %e, hours = hours.len(), "Cannot save the hourly history; history and exports miss these hours.");
        }
    }

    /// Saves the replay window if it changed (the tick and the shutdown call this).
    pub fn save_window(&self) {
        if !self.window_changed.swap(false, Ordering::Relaxed) {
            return;
        }
        let encoded = lock(&self.window).encode();
        if let Err(e) = self.store.save_replay_window(&encoded) {
            self.window_changed.store(true, Ordering::Relaxed);
            warn!(error = %e, "Cannot save the replay window; a restart may count a re-flashed node's refused frames.");
        }
    }

    /// Saves the QC memory and coverage of the stations that took a reading since the last
    /// save, and the values flagged since; flagged values older than the kept history are
    /// forgotten (the tick and the shutdown call this, with the replay window). What cannot be
    /// saved is kept for the next try.
    pub fn save_quality(&self, now: time::OffsetDateTime) {
        let (states, pending) = {
            let mut stations = write(&self.stations);
            let mut states = Vec::new();
            let mut pending = Vec::new();
            for station in stations.by_node.values_mut().filter(|s| s.qc_changed) {
                station.qc_changed = false;
                states.push(SavedQuality {
                    station: station.info.station.clone(),
                    qc: station.qc.clone(),
                    coverage: station.coverage.counted_hours(),
                });
                pending.push((station.info.station.clone(), std::mem::take(&mut station.flagged)));
            }
            (states, pending)
        };
        let flagged: Vec<SavedFlag> = pending
            .iter()
            .flat_map(|(station, values)| {
                values.iter().map(move |f| SavedFlag {
                    station: station.clone(),
                    param: f.param.as_str().to_owned(),
                    at_ms: i64::try_from(f.at_ms).unwrap_or(i64::MAX),
                    value: f.value,
                    flags: f.flags.bits(),
                })
            })
            .collect();
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let keep_from_ms = now_ms - (HOURS_KEPT as u64 * HOUR_MS) as i64;
        if let Err(e) = self.store.save_quality(&states, &flagged, keep_from_ms) {
            warn!(error = %e, "Cannot save quality control; a restart may let a stuck run's values in again.");
            let mut stations = write(&self.stations);
            for (station_id, values) in pending {
                if let Some(station) = stations.by_station_mut(&station_id) {
                    station.qc_changed = true;
                    // Values flagged while saving came after these.
                    let newer = std::mem::replace(&mut station.flagged, values);
                    station.flagged.extend(newer);
                }
            }
        }
    }
}
