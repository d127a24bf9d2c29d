//! Liveness: a station going offline raises its offline alert and suppresses its others, a
//! frame brings it back; an alert whose input stops changing turns stale.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::state::{Engine, SYSTEM, Slot, StationRef, close_by_system, transition};
use crate::alerts::alert::{AlertChange, Transition};
use crate::alerts::threshold::{StationRule, Threshold, Watch};
use crate::store::{Store, StoreError};

impl Engine {
    /// The station sent a frame: an open offline alert resolves and the station's other alerts
    /// stop being suppressed.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn station_alive(
        &mut self,
        store: &Store,
        station: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<AlertChange>, StoreError> {
        let mut changes = Vec::new();
        let offline: Vec<Slot> = self
            .open
            .keys()
            .filter(|s| s.station == station && s.watch == Watch::Station(StationRule::StationOffline))
            .cloned()
            .collect();
        if offline.is_empty() {
            return Ok(changes);
        }
        for slot in offline {
            if let Some(mut alert) = self.open.remove(&slot) {
                changes.push(close_by_system(store, &mut alert, "back_online", None, now)?);
            }
        }
        changes.extend(self.set_suppressed(store, station, false, now)?);
        Ok(changes)
    }

    fn set_suppressed(
        &mut self,
        store: &Store,
        station: &str,
        on: bool,
        now: OffsetDateTime,
    ) -> Result<Vec<AlertChange>, StoreError> {
        let change = if on {
            Transition::Suppressed
        } else {
            Transition::Unsuppressed
        };
        let mut changes = Vec::new();
        let slots: Vec<Slot> = self
            .open
            .iter()
            .filter(|(s, a)| {
                s.station == station
                    && !matches!(s.watch, Watch::Station(StationRule::StationOffline))
                    && a.suppressed != on
            })
            .map(|(s, _)| s.clone())
            .collect();
        for slot in slots {
            if let Some(alert) = self.open.get_mut(&slot) {
                alert.suppressed = on;
                changes.push(transition(store, alert, change, SYSTEM, None, now)?);
            }
        }
        Ok(changes)
    }

    /// Fires the offline rule for a station (called by the tick or on a death status), and
    /// suppresses the station's other alerts.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn station_offline(
        &mut self,
        store: &Store,
        station: StationRef<'_>,
        rule: &Threshold,
        silent_s: f64,
        now: OffsetDateTime,
    ) -> Result<Vec<AlertChange>, StoreError> {
        let at_ms = (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
        let mut changes: Vec<AlertChange> = self
            .evaluate(store, station, rule, silent_s, at_ms, now)?
            .into_iter()
            .collect();
        if changes.iter().any(|c| c.transition == Transition::Fired) {
            changes.extend(self.set_suppressed(store, station.station, true, now)?);
        }
        Ok(changes)
    }

    /// Marks open alerts stale whose input has not changed for their rule's staleness timeout.
    /// `last_update` gives, for a station and a watched parameter, when its last value arrived
    /// (server clock).
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn mark_stale(
        &mut self,
        store: &Store,
        now: OffsetDateTime,
        last_update: impl Fn(&str, Watch) -> Option<OffsetDateTime>,
    ) -> Result<Vec<AlertChange>, StoreError> {
        let rules: HashMap<i64, u64> = self.rules.iter().map(|r| (r.id, r.spec.stale_after_s)).collect();
        let mut changes = Vec::new();
        let slots: Vec<Slot> = self.open.keys().cloned().collect();
        for slot in slots {
            let Some(alert) = self.open.get(&slot) else {
                continue;
            };
            let stale_after = rules.get(&alert.rule_id).copied().unwrap_or(0);
            if alert.stale
                || stale_after == 0
                || matches!(slot.watch, Watch::Station(StationRule::StationOffline))
            {
                continue;
            }
            let last = last_update(&slot.station, slot.watch).or(self.loaded_at);
            let stale = last.is_none_or(|t| (now - t).whole_seconds() >= stale_after as i64);
            if stale {
                let mut alert = alert.clone();
                alert.stale = true;
                changes.push(transition(store, &alert, Transition::Stale, SYSTEM, None, now)?);
                self.open.insert(slot, alert);
            }
        }
        Ok(changes)
    }
}
