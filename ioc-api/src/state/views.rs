//! Station views, with the lab values VN_WQI needs and each station's open alert count.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::{AppState, read};
use crate::indices::wqi::WqiParameter;
use crate::live::StationView;
use crate::time_fmt::rfc3339;

impl AppState {
    /// Lab values per water station, for VN_WQI.
    pub(crate) fn lab_values(&self, now: OffsetDateTime) -> HashMap<String, Vec<(WqiParameter, f64)>> {
        let water: Vec<String> = read(&self.stations)
            .iter()
            .filter(|s| s.is_water())
            .map(|s| s.info.station.clone())
            .collect();
        water
            .into_iter()
            .filter_map(|station| Some((station.clone(), self.lab_values_of(&station, now)?)))
            .collect()
    }

    /// The latest lab value of each parameter of one station within `indices.lab_max_age_days`;
    /// `None` when the database does not answer.
    fn lab_values_of(&self, station: &str, now: OffsetDateTime) -> Option<Vec<(WqiParameter, f64)>> {
        let since = rfc3339(now - time::Duration::days(i64::from(self.settings.indices.lab_max_age_days)));
        let results = self.store.latest_lab_results(station, &since).ok()?;
        Some(
            results
                .into_iter()
                .filter_map(|r| {
                    serde_json::from_value::<WqiParameter>(serde_json::Value::String(r.parameter))
                        .ok()
                        .map(|p| (p, r.value))
                })
                .collect(),
        )
    }

    /// Every station's view.
    pub fn views(&self, now: OffsetDateTime) -> Vec<StationView> {
        let lab = self.lab_values(now);
        let open = self.open_counts();
        self.stations()
            .iter()
            .map(|s| {
                s.view(
                    now,
                    &self.settings,
                    &lab,
                    open.get(&s.info.station).copied().unwrap_or(0),
                )
            })
            .collect()
    }

    /// One station's view.
    pub fn view(&self, station_id: &str, now: OffsetDateTime) -> Option<StationView> {
        // Only this station's lab values (a water station's), not every station's.
        let water = self.stations().by_station(station_id)?.is_water();
        let lab: HashMap<String, _> = water
            .then(|| self.lab_values_of(station_id, now))
            .flatten()
            .map(|values| (station_id.to_owned(), values))
            .into_iter()
            .collect();
        let open = self.engine().open_for(station_id).len();
        self.stations()
            .by_station(station_id)
            .map(|s| s.view(now, &self.settings, &lab, open))
    }

    fn open_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for alert in self.engine().open_alerts() {
            *counts.entry(alert.station).or_insert(0) += 1;
        }
        counts
    }
}
