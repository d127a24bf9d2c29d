//! The engine's state: rules, pending conditions and open alerts by slot; the rules in force;
//! the stored transitions every change goes through.

use std::collections::HashMap;

use time::{Date, OffsetDateTime};

use crate::alerts::alert::{Alert, AlertChange, AlertState, Transition, TransitionRecord};
use crate::alerts::threshold::{Direction, Level, StationRule, Threshold, Watch, Window};
use crate::store::{AlertFilter, Store, StoreError};
use time::format_description::well_known::Rfc3339;

use crate::time_fmt::rfc3339;

/// ms since the epoch as a time, if representable.
pub(super) fn time_of_ms(ms: u64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// Who a station is, for rule selection and alert records.
#[derive(Debug, Clone, Copy)]
pub struct StationRef<'a> {
    /// Station id.
    pub station: &'a str,
    /// Node id.
    pub node_id: u32,
    /// District.
    pub district: &'a str,
    /// The PM2.5 its rules see: `raw`, `us_epa_rh` or `co_location` (`quality.correction`).
    pub pm2_5_basis: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Slot {
    pub(super) station: String,
    pub(super) watch: Watch,
    window: Window,
    level: Level,
    direction: Direction,
}

impl Slot {
    pub(super) fn of(station: &str, rule: &Threshold) -> Slot {
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
    pub(super) rules: Vec<Threshold>,
    /// When each slot's condition started holding and when it was last seen holding (node
    /// clock, ms), before it fired.
    pub(super) pending: HashMap<Slot, (u64, u64)>,
    /// Open alerts by slot.
    pub(super) open: HashMap<Slot, Alert>,
    /// When the engine was loaded: after a restart, an input not heard from since counts as
    /// fresh from this moment, not as stale from the start.
    pub(super) loaded_at: Option<OffsetDateTime>,
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

/// The actor of the changes the engine makes by itself.
pub(super) const SYSTEM: &str = "system";

/// Stores a transition of `alert` with its record, and returns the change to announce.
pub(super) fn transition(
    store: &Store,
    alert: &Alert,
    transition: Transition,
    actor: &str,
    comment: Option<&str>,
    now: OffsetDateTime,
) -> Result<AlertChange, StoreError> {
    let record = TransitionRecord {
        alert_id: alert.id,
        kind: transition.as_str().into(),
        at: rfc3339(now),
        actor: actor.into(),
        comment: comment.map(str::to_owned),
    };
    store.update_alert(alert, Some(&record))?;
    Ok(AlertChange {
        transition,
        alert: alert.clone(),
    })
}

/// `at`, or the latest of the alert's `earlier` transition times when one is later. An alert's
/// times mix clocks: `fired_at` and a recovery's `resolved_at` are the node's time of the value,
/// `acknowledged_at` the server's. A node clock ahead of the server, or a recovery learnt from a
/// value older than the acknowledgement (a backlog after an outage), would put them out of order;
/// every transition is stamped no earlier than the ones before it, so `fired_at ≤
/// acknowledged_at ≤ resolved_at` always holds. The transition records keep the server's time
/// of each change.
pub(super) fn in_order(at: OffsetDateTime, earlier: &[Option<&str>]) -> String {
    let latest = earlier
        .iter()
        .flatten()
        .filter_map(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .fold(at, std::cmp::max);
    rfc3339(latest)
}

/// Resolves `alert` (already out of the open map, or about to leave it) and stores it;
/// `at_ms` is the node time of a recovery, else the resolution is stamped `now`; either way no
/// earlier than its firing and acknowledgement ([`in_order`]).
pub(super) fn close(
    store: &Store,
    alert: &mut Alert,
    resolution: &str,
    actor: &str,
    comment: Option<&str>,
    at_ms: Option<u64>,
    now: OffsetDateTime,
) -> Result<AlertChange, StoreError> {
    alert.state = AlertState::Resolved;
    let at = at_ms.map_or(now, |t| time_of_ms(t).unwrap_or(now));
    alert.resolved_at = Some(in_order(
        at,
        &[Some(&alert.fired_at), alert.acknowledged_at.as_deref()],
    ));
    alert.resolved_by = Some(actor.into());
    alert.resolution = Some(resolution.into());
    transition(store, alert, Transition::Resolved, actor, comment, now)
}

/// [`close`] by the engine itself: the resolution is the record's comment.
pub(super) fn close_by_system(
    store: &Store,
    alert: &mut Alert,
    resolution: &str,
    at_ms: Option<u64>,
    now: OffsetDateTime,
) -> Result<AlertChange, StoreError> {
    close(store, alert, resolution, SYSTEM, Some(resolution), at_ms, now)
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
                changes.push(close_by_system(store, &mut alert, "rule_removed", None, now)?);
            }
        }
        Ok(changes)
    }

    /// The rules that apply to `station` for `watch` on `day`: per slot, the most specific.
    pub fn applicable(&self, station: StationRef<'_>, watch: Watch, day: Date) -> Vec<&Threshold> {
        let mut best: HashMap<(Window, Level, Direction), &Threshold> = HashMap::new();
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

    /// Whether `station` has an open alert on `watch`.
    pub fn has_open(&self, station: &str, watch: Watch) -> bool {
        self.open.keys().any(|s| s.station == station && s.watch == watch)
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
