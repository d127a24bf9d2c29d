//! The server clock advancing: offline stations, interrupted transmissions, stale alerts.

use time::OffsetDateTime;
use tracing::warn;

use super::{AppState, lock, read, station_ref};
use crate::alerts::{StationRule, Watch};

impl AppState {
    /// Advances the server clock to `now`: stations silent past their offline rule (or dead)
    /// raise `station_offline`; alerts whose input stopped go stale. Nothing in a replica.
    pub fn tick(&self, now: OffsetDateTime) {
        if !self.evaluates_alerts {
            return;
        }
        let mut changes = Vec::new();
        {
            let stations = read(&self.stations);
            let mut engine = lock(&self.engine);
            for station in stations.iter() {
                let Some(last_seen) = station.last_seen else {
                    continue;
                };
                let silent_s = (now - last_seen).as_seconds_f64();
                let sref = station_ref(&station.info, &self.quality.correction);
                let rules: Vec<_> = engine
                    .applicable(sref, Watch::Station(StationRule::StationOffline), now.date())
                    .into_iter()
                    .cloned()
                    .collect();
                for rule in rules {
                    let value = if station.dead {
                        silent_s.max(rule.spec.trigger + 1.0)
                    } else {
                        silent_s
                    };
                    if rule.spec.breached(value) {
                        match engine.station_offline(&self.store, sref, &rule, value, now) {
                            Ok(c) => changes.extend(c),
                            Err(e) => warn!(error = %e, "Alert state not stored."),
                        }
                    }
                }
            }
            changes.extend(self.transmission_changes(&stations, &mut engine, now));
            let last_update = |station_id: &str, watch: Watch| {
                let station = stations.by_station(station_id)?;
                match watch {
                    Watch::Param(p) => station.series(p).map(|t| t.updated).or(station.last_seen),
                    Watch::Station(_) => station.last_seen,
                }
            };
            match engine.mark_stale(&self.store, now, last_update) {
                Ok(c) => changes.extend(c),
                Err(e) => warn!(error = %e, "Alert state not stored."),
            }
        }
        self.announce(changes);
    }
}
