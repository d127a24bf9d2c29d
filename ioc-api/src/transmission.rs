//! The relay's notices of the files the environment authority took
//! (`{prefix}/transmission/{station}/{receiver}`, retained), kept on each station, and the
//! `transmission_interrupted` rule the tick evaluates from them.

use time::OffsetDateTime;
use tracing::debug;

use crate::alerts::{AlertChange, Engine, StationRule, Watch};
use crate::live::Stations;
use crate::state::{AppState, station_ref, write};
use crate::time_fmt::rfc3339;

impl AppState {
    /// Takes the relay's notice that a receiver of the authority took a station's file (JSON on
    /// `{prefix}/transmission/{station}/{receiver}`); the `transmission_interrupted` rule reads
    /// it at the next tick. A notice that does not parse or names no registered station is
    /// counted and ignored.
    pub fn transmission(&self, payload: &[u8], now: OffsetDateTime) {
        #[derive(serde::Deserialize)]
        struct Notice {
            station: String,
            receiver: String,
            file: String,
            interval_start: String,
            delivered_at: String,
        }
        let Ok(notice) = serde_json::from_slice::<Notice>(payload) else {
            self.count_rejected();
            debug!("A transmission notice that does not parse; ignored.");
            return;
        };
        let delivered = OffsetDateTime::parse(
            &notice.delivered_at,
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or(now)
        .min(now);
        let mut stations = write(&self.stations);
        let Some(station) = stations
            .by_node
            .values_mut()
            .find(|s| s.info.station == notice.station)
        else {
            self.count_rejected();
            debug!(station = %notice.station, "A transmission notice for a station not in the registry; ignored.");
            return;
        };
        station.transmissions.insert(
            notice.receiver.clone(),
            (
                crate::live::Transmission {
                    receiver: notice.receiver,
                    file: notice.file,
                    interval_start: notice.interval_start,
                    delivered_at: rfc3339(delivered),
                    age_s: 0,
                },
                delivered,
            ),
        );
    }

    /// Evaluates `transmission_interrupted` for each station a relay reports on: the age of the
    /// receiver that has waited longest.
    pub(crate) fn transmission_changes(
        &self,
        stations: &Stations,
        engine: &mut Engine,
        now: OffsetDateTime,
    ) -> Vec<AlertChange> {
        let watch = Watch::Station(StationRule::TransmissionInterrupted);
        stations
            .iter()
            .filter_map(|s| Some((s, s.transmission_age_s(now)?)))
            .flat_map(|(s, age)| {
                self.evaluate_station_rule(
                    engine,
                    station_ref(&s.info, &self.quality.correction),
                    watch,
                    age,
                    now,
                )
            })
            .collect()
    }
}
