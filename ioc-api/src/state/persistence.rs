//! Saving what the database keeps between runs: the replay window, and the hourly history when
//! there is no InfluxDB.

use std::sync::atomic::Ordering;

use tracing::warn;

use super::{AppState, lock, write};
use crate::store::SavedHour;

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
                    station.tracked.iter_mut().flat_map(move |t| {
                        let (id, param) = (id.clone(), t.param.as_str().to_owned());
                        t.series.take_changed().into_iter().map(move |record| SavedHour {
                            station: id.clone(),
                            param: param.clone(),
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
}
