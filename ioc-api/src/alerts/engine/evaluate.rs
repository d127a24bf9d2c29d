//! A value against a rule: the pending time, firing, and recovery by hysteresis.

use time::OffsetDateTime;

use time::format_description::well_known::Rfc3339;

use super::state::{Engine, SYSTEM, Slot, StationRef, close_by_system, time_of_ms, transition};
use crate::alerts::alert::{Alert, AlertChange, AlertState, Transition};
use crate::alerts::threshold::{Direction, StationRule, Threshold, Watch};
use crate::live::Param;
use crate::store::{Store, StoreError};
use crate::time_fmt::{rfc3339, rfc3339_ms};

impl Engine {
    /// Evaluates one rule against a value observed at `at_ms` (node clock).
    ///
    /// # Errors
    ///
    /// The database refused; the in-memory state is left as it was before the call.
    pub fn evaluate(
        &mut self,
        store: &Store,
        station: StationRef<'_>,
        rule: &Threshold,
        value: f64,
        at_ms: u64,
        now: OffsetDateTime,
    ) -> Result<Option<AlertChange>, StoreError> {
        let slot = Slot::of(station.station, rule);
        let spec = &rule.spec;
        if let Some(alert) = self.open.get(&slot) {
            if fired_after(alert, at_ms) {
                // A value from before the alert (a node's backlog, or history replayed after a
                // restart) belongs to before the episode: it neither feeds nor ends it.
                return Ok(None);
            }
            let mut alert = alert.clone();
            alert.last_value = value;
            let peak = worse(spec.direction, alert.peak, value);
            let new_peak = peak != alert.peak;
            alert.peak = peak;
            let was_stale = alert.stale;
            alert.stale = false;
            if spec.recovered(value) {
                self.open.remove(&slot);
                alert.recovery = spec.recovery_level();
                let change = close_by_system(store, &mut alert, "hysteresis", Some(at_ms), now);
                if change.is_err() {
                    self.open.insert(slot, alert);
                }
                return change.map(Some);
            }
            let change = if was_stale {
                Some(transition(store, &alert, Transition::Fresh, SYSTEM, None, now)?)
            } else {
                // The last value is kept in memory and goes to the database with the next
                // transition; a new peak is stored at once (peaks rise rarely, and the worst value
                // of an episode is what an operator reports), so a crash cannot lose it.
                if new_peak {
                    store.update_alert(&alert, None)?;
                }
                None
            };
            self.open.insert(slot, alert);
            return Ok(change);
        }
        if !spec.breached(value) {
            self.pending.remove(&slot);
            return Ok(None);
        }
        // A gap longer than the staleness timeout breaks the condition's continuity.
        let entry = self.pending.entry(slot.clone()).or_insert((at_ms, at_ms));
        if spec.stale_after_s > 0 && at_ms.saturating_sub(entry.1) > spec.stale_after_s * 1_000 {
            *entry = (at_ms, at_ms);
        }
        entry.1 = entry.1.max(at_ms);
        let since = entry.0;
        if at_ms.saturating_sub(since) < spec.pending_s * 1_000 {
            return Ok(None);
        }
        if self.is_offline(station.station) && !matches!(spec.parameter, Watch::Station(_)) {
            // A dead node's sensors do not raise threshold alerts while it is offline.
            return Ok(None);
        }
        self.pending.remove(&slot);
        let alert = new_alert(station, rule, value, at_ms, now);
        let alert = store.insert_alert(&alert, &rfc3339(now))?;
        self.open.insert(slot, alert.clone());
        Ok(Some(AlertChange {
            transition: Transition::Fired,
            alert,
        }))
    }
}

/// Whether `alert` fired after the node time `at_ms`.
fn fired_after(alert: &Alert, at_ms: u64) -> bool {
    let fired = OffsetDateTime::parse(&alert.fired_at, &Rfc3339).ok();
    fired.zip(time_of_ms(at_ms)).is_some_and(|(fired, at)| fired > at)
}

/// The worse of two values for a rule's direction (the peak of an alert).
fn worse(direction: Direction, a: f64, b: f64) -> f64 {
    match direction {
        Direction::Above => a.max(b),
        Direction::Below => a.min(b),
    }
}

/// The alert `rule` fires for `station` at `value` (not stored yet).
fn new_alert(
    station: StationRef<'_>,
    rule: &Threshold,
    value: f64,
    at_ms: u64,
    now: OffsetDateTime,
) -> Alert {
    let spec = &rule.spec;
    let fired_at = if matches!(spec.parameter, Watch::Station(StationRule::StationOffline)) {
        rfc3339(now)
    } else {
        rfc3339_ms(i128::from(at_ms))
    };
    Alert {
        id: 0,
        station: station.station.to_owned(),
        node_id: station.node_id,
        district: station.district.to_owned(),
        rule_id: rule.id,
        parameter: spec.parameter.as_str().to_owned(),
        window: spec.window.as_str().to_owned(),
        level: spec.level,
        direction: match spec.direction {
            Direction::Above => "above".into(),
            Direction::Below => "below".into(),
        },
        state: AlertState::Firing,
        threshold: spec.trigger,
        recovery: spec.recovery_level(),
        value_at_fire: value,
        peak: value,
        last_value: value,
        fired_at,
        acknowledged_at: None,
        acknowledged_by: None,
        ack_comment: None,
        resolved_at: None,
        resolved_by: None,
        resolution: None,
        stale: false,
        suppressed: false,
        pm2_5_basis: matches!(spec.parameter, Watch::Param(Param::Pm2_5))
            .then(|| station.pm2_5_basis.to_owned()),
    }
}
