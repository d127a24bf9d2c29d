//! What operators do to an open alert by hand: acknowledge it, or resolve a stale (or
//! sensor-fault) one.

use time::OffsetDateTime;

use super::state::{Engine, LifecycleError, Slot, close, in_order, transition};
use crate::alerts::alert::{Alert, AlertChange, AlertState, Transition};
use crate::alerts::threshold::{StationRule, Watch};
use crate::store::Store;

impl Engine {
    /// An operator acknowledges an open alert.
    ///
    /// # Errors
    ///
    /// Not found, already resolved or acknowledged, or the database refused.
    pub fn acknowledge(
        &mut self,
        store: &Store,
        id: i64,
        actor: &str,
        comment: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<AlertChange, LifecycleError> {
        let (slot, mut alert) =
            self.open_by_id(store, id, "is resolved; only open alerts can be acknowledged")?;
        if alert.state == AlertState::Acknowledged {
            return Err(LifecycleError::Conflict(format!(
                "alert {id} is already acknowledged"
            )));
        }
        alert.state = AlertState::Acknowledged;
        alert.acknowledged_at = Some(in_order(now, &[Some(&alert.fired_at)]));
        alert.acknowledged_by = Some(actor.into());
        alert.ack_comment = comment.map(str::to_owned);
        let change = transition(store, &alert, Transition::Acknowledged, actor, comment, now)?;
        self.open.insert(slot, alert);
        Ok(change)
    }

    /// An operator resolves an alert by hand: allowed for a stale alert (its condition can no
    /// longer be evaluated) and for a sensor-fault or sequence-reset alert (the node's problem,
    /// handled on site); a live measurement alert resolves by hysteresis only.
    ///
    /// # Errors
    ///
    /// Not found, not open, not stale, or the database refused.
    pub fn resolve(
        &mut self,
        store: &Store,
        id: i64,
        actor: &str,
        comment: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<AlertChange, LifecycleError> {
        let (slot, mut alert) = self.open_by_id(store, id, "is already resolved")?;
        let manual_ok = alert.stale
            || matches!(
                slot.watch,
                Watch::Station(StationRule::SensorFault | StationRule::SequenceReset)
            );
        if !manual_ok {
            return Err(LifecycleError::Conflict(format!(
                "alert {id} is live (its input is not stale); it resolves when the value recovers past {}",
                alert.recovery
            )));
        }
        let change = close(store, &mut alert, "manual", actor, comment, None, now)?;
        self.open.remove(&slot);
        self.pending.remove(&slot);
        Ok(change)
    }

    /// The open alert `id` with its slot; for an alert that is no longer open, a conflict that
    /// says it `closed`.
    fn open_by_id(&self, store: &Store, id: i64, closed: &str) -> Result<(Slot, Alert), LifecycleError> {
        if let Some((slot, alert)) = self.open.iter().find(|(_, a)| a.id == id) {
            return Ok((slot.clone(), alert.clone()));
        }
        Err(match store.alert(id)? {
            Some(_) => LifecycleError::Conflict(format!("alert {id} {closed}")),
            None => LifecycleError::NotFound(id),
        })
    }
}
