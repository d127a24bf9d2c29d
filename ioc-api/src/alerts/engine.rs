//! The alert engine: evaluates rules against values, keeps each rule's pending state and the
//! open alerts, and applies the lifecycle (fire, acknowledge, resolve, stale, suppress).
//!
//! Time: measurements are evaluated on the node's clock (`at_ms`), so a backfilled hour fires
//! and resolves at the times it happened and pending durations are exact however fast frames
//! arrive. Staleness and offline detection run on the server's clock (`now`), given to
//! [`Engine::tick`] by the caller, so tests drive both.
//!
//! An alert belongs to a *slot*: (station, parameter, window, level, direction). A station
//! override replaces the rule of a slot, and an open alert simply continues under it.

use std::collections::HashMap;

use time::{Date, OffsetDateTime};

use super::alert::{Alert, AlertChange, AlertState, Transition, TransitionRecord};
use super::threshold::{Direction, StationRule, Threshold, Watch, Window};
use crate::store::{AlertFilter, Store, StoreError};
use crate::time_fmt::{rfc3339, rfc3339_ms};

/// Who a station is, for rule selection and alert records.
#[derive(Debug, Clone, Copy)]
pub struct StationRef<'a> {
    /// Station id.
    pub station: &'a str,
    /// Node id.
    pub node_id: u32,
    /// District.
    pub district: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Slot {
    station: String,
    watch: Watch,
    window: Window,
    level: super::threshold::Level,
    direction: Direction,
}

impl Slot {
    fn of(station: &str, rule: &Threshold) -> Slot {
        Slot {
            station: station.to_owned(),
            watch: rule.spec.parameter,
            window: rule.spec.window,
            level: rule.spec.level,
            direction: rule.spec.direction,
        }
    }

    fn of_alert(alert: &Alert) -> Option<Slot> {
        Some(Slot {
            station: alert.station.clone(),
            watch: Watch::parse(&alert.parameter)?,
            window: Window::parse(&alert.window)?,
            level: alert.level,
            direction: if alert.direction == "below" {
                Direction::Below
            } else {
                Direction::Above
            },
        })
    }
}

/// Rules, pending conditions and open alerts.
#[derive(Debug, Default)]
pub struct Engine {
    rules: Vec<Threshold>,
    /// When each slot's condition started holding and when it was last seen holding (node
    /// clock, ms), before it fired.
    pending: HashMap<Slot, (u64, u64)>,
    /// Open alerts by slot.
    open: HashMap<Slot, Alert>,
    /// When the engine was loaded: after a restart, an input not heard from since counts as
    /// fresh from this moment, not as stale from the start.
    loaded_at: Option<OffsetDateTime>,
}

/// Why a lifecycle request was refused.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// No such alert.
    #[error("no alert with id {0}")]
    NotFound(i64),
    /// The alert is not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
    /// The database refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn worse(direction: Direction, a: f64, b: f64) -> f64 {
    match direction {
        Direction::Above => a.max(b),
        Direction::Below => a.min(b),
    }
}

impl Engine {
    /// The engine with the stored rules and open alerts (after a restart, alerts and their
    /// acknowledgements come back from the database).
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn load(store: &Store) -> Result<Engine, StoreError> {
        let mut engine = Engine {
            rules: store.thresholds()?,
            loaded_at: Some(OffsetDateTime::now_utc()),
            ..Engine::default()
        };
        let open = store.alerts(&AlertFilter {
            open: true,
            ..AlertFilter::default()
        })?;
        for alert in open {
            if let Some(slot) = Slot::of_alert(&alert) {
                engine.open.insert(slot, alert);
            }
        }
        Ok(engine)
    }

    /// The rules in force.
    pub fn rules(&self) -> &[Threshold] {
        &self.rules
    }

    /// Replaces the rules after a change; open alerts whose slot no longer has a rule for their
    /// station resolve (`rule_removed`).
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn set_rules(
        &mut self,
        store: &Store,
        rules: Vec<Threshold>,
        districts: &HashMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<Vec<AlertChange>, StoreError> {
        self.rules = rules;
        let orphaned: Vec<Slot> = self
            .open
            .keys()
            .filter(|slot| {
                let district = districts.get(&slot.station).map_or("", String::as_str);
                !self.rules.iter().any(|r| {
                    Slot::of(&slot.station, r) == **slot
                        && r.spec.enabled
                        && r.spec.covers(&slot.station, district)
                })
            })
            .cloned()
            .collect();
        self.pending.retain(|slot, _| !orphaned.contains(slot));
        let mut changes = Vec::new();
        for slot in orphaned {
            if let Some(mut alert) = self.open.remove(&slot) {
                changes.push(self.close(store, &mut alert, "rule_removed", "system", None, now)?);
            }
        }
        Ok(changes)
    }

    /// The rules that apply to `station` for `watch` on `day`: per slot, the most specific.
    pub fn applicable(&self, station: StationRef<'_>, watch: Watch, day: Date) -> Vec<&Threshold> {
        let mut best: HashMap<(Window, super::threshold::Level, Direction), &Threshold> = HashMap::new();
        for rule in &self.rules {
            let spec = &rule.spec;
            if spec.parameter != watch
                || !spec.valid_on(day)
                || !spec.covers(station.station, station.district)
            {
                continue;
            }
            let key = (spec.window, spec.level, spec.direction);
            let replace = best.get(&key).is_none_or(|b| {
                let (rank, best_rank) = (spec.rank(), b.spec.rank());
                rank > best_rank || (rank == best_rank && rule.id > b.id)
            });
            if replace {
                best.insert(key, rule);
            }
        }
        let mut rules: Vec<&Threshold> = best.into_values().collect();
        rules.sort_by_key(|r| r.id);
        rules
    }

    /// Whether the station has an open offline alert.
    pub fn is_offline(&self, station: &str) -> bool {
        self.open
            .keys()
            .any(|s| s.station == station && s.watch == Watch::Station(StationRule::StationOffline))
    }

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
            let mut alert = alert.clone();
            alert.last_value = value;
            alert.peak = worse(spec.direction, alert.peak, value);
            let was_stale = alert.stale;
            alert.stale = false;
            if spec.recovered(value) {
                self.open.remove(&slot);
                alert.recovery = spec.recovery_level();
                let change = self.close(store, &mut alert, "hysteresis", "system", Some(at_ms), now);
                if change.is_err() {
                    self.open.insert(slot, alert);
                }
                return change.map(Some);
            }
            let change = if was_stale {
                let record = self.record(alert.id, Transition::Fresh, "system", None, now);
                store.update_alert(&alert, Some(&record))?;
                Some(AlertChange {
                    transition: Transition::Fresh,
                    alert: alert.clone(),
                })
            } else {
                // Running values are kept in memory; the database gets them with the next
                // transition (peak included), not on every frame.
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
        let fired_at = if matches!(spec.parameter, Watch::Station(StationRule::StationOffline)) {
            rfc3339(now)
        } else {
            rfc3339_ms(i128::from(at_ms))
        };
        let alert = Alert {
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
        };
        let alert = store.insert_alert(&alert, &rfc3339(now))?;
        self.open.insert(slot, alert.clone());
        Ok(Some(AlertChange {
            transition: Transition::Fired,
            alert,
        }))
    }

    fn record(
        &self,
        alert_id: i64,
        t: Transition,
        actor: &str,
        comment: Option<&str>,
        now: OffsetDateTime,
    ) -> TransitionRecord {
        TransitionRecord {
            alert_id,
            kind: t.as_str().into(),
            at: rfc3339(now),
            actor: actor.into(),
            comment: comment.map(str::to_owned),
        }
    }

    /// Resolves `alert` (already removed from the open map by the caller).
    fn close(
        &self,
        store: &Store,
        alert: &mut Alert,
        resolution: &str,
        actor: &str,
        at_ms: Option<u64>,
        now: OffsetDateTime,
    ) -> Result<AlertChange, StoreError> {
        alert.state = AlertState::Resolved;
        alert.resolved_at = Some(at_ms.map_or_else(|| rfc3339(now), |t| rfc3339_ms(i128::from(t))));
        alert.resolved_by = Some(actor.into());
        alert.resolution = Some(resolution.into());
        let comment = (resolution != "manual").then_some(resolution);
        let record = self.record(alert.id, Transition::Resolved, actor, comment, now);
        store.update_alert(alert, Some(&record))?;
        Ok(AlertChange {
            transition: Transition::Resolved,
            alert: alert.clone(),
        })
    }

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
                changes.push(self.close(store, &mut alert, "back_online", "system", None, now)?);
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
        let transition = if on {
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
                let record = TransitionRecord {
                    alert_id: alert.id,
                    kind: transition.as_str().into(),
                    at: rfc3339(now),
                    actor: "system".into(),
                    comment: None,
                };
                store.update_alert(alert, Some(&record))?;
                changes.push(AlertChange {
                    transition,
                    alert: alert.clone(),
                });
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
                let record = self.record(alert.id, Transition::Stale, "system", None, now);
                store.update_alert(&alert, Some(&record))?;
                changes.push(AlertChange {
                    transition: Transition::Stale,
                    alert: alert.clone(),
                });
                self.open.insert(slot, alert);
            }
        }
        Ok(changes)
    }

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
        let Some((slot, alert)) = self
            .open
            .iter()
            .find(|(_, a)| a.id == id)
            .map(|(s, a)| (s.clone(), a.clone()))
        else {
            return Err(match store.alert(id)? {
                Some(_) => LifecycleError::Conflict(format!(
                    "alert {id} is resolved; only open alerts can be acknowledged"
                )),
                None => LifecycleError::NotFound(id),
            });
        };
        if alert.state == AlertState::Acknowledged {
            return Err(LifecycleError::Conflict(format!(
                "alert {id} is already acknowledged"
            )));
        }
        let mut alert = alert;
        alert.state = AlertState::Acknowledged;
        alert.acknowledged_at = Some(rfc3339(now));
        alert.acknowledged_by = Some(actor.into());
        alert.ack_comment = comment.map(str::to_owned);
        let record = self.record(id, Transition::Acknowledged, actor, comment, now);
        store.update_alert(&alert, Some(&record))?;
        self.open.insert(slot, alert.clone());
        Ok(AlertChange {
            transition: Transition::Acknowledged,
            alert,
        })
    }

    /// An operator resolves an alert by hand: allowed for a stale alert (its condition can no
    /// longer be evaluated) and for a sensor-fault alert; a live measurement alert resolves by
    /// hysteresis only.
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
        let Some(slot) = self.open.iter().find(|(_, a)| a.id == id).map(|(s, _)| s.clone()) else {
            return Err(match store.alert(id)? {
                Some(_) => LifecycleError::Conflict(format!("alert {id} is already resolved")),
                None => LifecycleError::NotFound(id),
            });
        };
        let Some(alert) = self.open.get(&slot) else {
            return Err(LifecycleError::NotFound(id));
        };
        let manual_ok = alert.stale || slot.watch == Watch::Station(StationRule::SensorFault);
        if !manual_ok {
            return Err(LifecycleError::Conflict(format!(
                "alert {id} is live (its input is not stale); it resolves when the value recovers past {}",
                alert.recovery
            )));
        }
        let mut alert = alert.clone();
        alert.state = AlertState::Resolved;
        alert.resolved_at = Some(rfc3339(now));
        alert.resolved_by = Some(actor.into());
        alert.resolution = Some("manual".into());
        let record = self.record(id, Transition::Resolved, actor, comment, now);
        store.update_alert(&alert, Some(&record))?;
        self.open.remove(&slot);
        self.pending.remove(&slot);
        Ok(AlertChange {
            transition: Transition::Resolved,
            alert,
        })
    }

    /// Open alerts, newest first.
    pub fn open_alerts(&self) -> Vec<Alert> {
        let mut alerts: Vec<Alert> = self.open.values().cloned().collect();
        alerts.sort_by_key(|a| std::cmp::Reverse(a.id));
        alerts
    }

    /// The open alert with this id, with its running values.
    pub fn open_alert(&self, id: i64) -> Option<&Alert> {
        self.open.values().find(|a| a.id == id)
    }

    /// Open alerts of one station.
    pub fn open_for(&self, station: &str) -> Vec<Alert> {
        let mut alerts: Vec<Alert> = self
            .open
            .iter()
            .filter(|(s, _)| s.station == station)
            .map(|(_, a)| a.clone())
            .collect();
        alerts.sort_by_key(|a| a.id);
        alerts
    }
}
