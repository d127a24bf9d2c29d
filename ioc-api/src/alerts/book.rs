//! Every alert raised, with its transitions. One open alert per station and rule; a new firing
//! after a resolve opens a new alert.

use std::collections::HashMap;

use serde::Serialize;

use crate::time_fmt::rfc3339_ms;

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition holds.
    Firing,
    /// The condition cleared.
    Resolved,
}

/// One alert.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Unique, increasing.
    pub id: u64,
    /// Station id.
    pub station: String,
    /// Node id.
    pub node_id: u32,
    /// What is measured: `pm2_5_1h_mean`.
    pub parameter: &'static str,
    /// `warning` for this rule.
    pub level: &'static str,
    /// Current state.
    pub state: AlertState,
    /// Trigger level, µg/m³.
    pub threshold: f64,
    /// The value that fired it.
    pub value_at_fire: f64,
    /// The highest value seen while firing.
    pub peak: f64,
    /// The latest value evaluated.
    pub last_value: f64,
    /// When it fired, by the node's clock (RFC 3339).
    pub fired_at: String,
    /// When it resolved, by the node's clock (RFC 3339).
    pub resolved_at: Option<String>,
}

/// What happened to an alert on an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A new alert fired.
    Fired,
    /// The open alert resolved.
    Resolved,
}

/// All alerts, oldest first.
#[derive(Debug, Default)]
pub struct AlertBook {
    alerts: Vec<Alert>,
    open: HashMap<(String, &'static str), usize>,
}

/// One evaluation of a rule for a station.
#[derive(Debug, Clone, Copy)]
pub struct Evaluation<'a> {
    /// Station id.
    pub station: &'a str,
    /// Node id.
    pub node_id: u32,
    /// Parameter name.
    pub parameter: &'static str,
    /// Trigger level.
    pub threshold: f64,
    /// The evaluated value.
    pub value: f64,
    /// The node's time of the evaluation, ms since the epoch.
    pub at_ms: u64,
}

impl AlertBook {
    /// Applies an evaluation: fires when above the threshold with no open alert, resolves the
    /// open alert when at or below. Returns the alert and what happened to it, if anything did.
    pub fn evaluate(&mut self, e: Evaluation<'_>) -> Option<(Alert, Transition)> {
        let key = (e.station.to_owned(), e.parameter);
        let above = e.value > e.threshold;
        match (self.open.get(&key).copied(), above) {
            (None, true) => {
                let alert = Alert {
                    id: self.alerts.len() as u64 + 1,
                    station: e.station.to_owned(),
                    node_id: e.node_id,
                    parameter: e.parameter,
                    level: "warning",
                    state: AlertState::Firing,
                    threshold: e.threshold,
                    value_at_fire: e.value,
                    peak: e.value,
                    last_value: e.value,
                    fired_at: rfc3339_ms(i128::from(e.at_ms)),
                    resolved_at: None,
                };
                self.open.insert(key, self.alerts.len());
                self.alerts.push(alert.clone());
                Some((alert, Transition::Fired))
            }
            (Some(index), true) => {
                let alert = &mut self.alerts[index];
                alert.last_value = e.value;
                alert.peak = alert.peak.max(e.value);
                None
            }
            (Some(index), false) => {
                self.open.remove(&key);
                let alert = &mut self.alerts[index];
                alert.last_value = e.value;
                alert.state = AlertState::Resolved;
                alert.resolved_at = Some(rfc3339_ms(i128::from(e.at_ms)));
                Some((alert.clone(), Transition::Resolved))
            }
            (None, false) => None,
        }
    }

    /// Alerts, newest first, optionally only those in `state`.
    pub fn list(&self, state: Option<AlertState>) -> Vec<Alert> {
        self.alerts
            .iter()
            .rev()
            .filter(|a| state.is_none_or(|s| a.state == s))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(value: f64, at_ms: u64) -> Evaluation<'static> {
        Evaluation {
            station: "S1",
            node_id: 1,
            parameter: "pm2_5_1h_mean",
            threshold: 45.0,
            value,
            at_ms,
        }
    }

    #[test]
    fn fires_once_resolves_and_refires_as_a_new_alert() {
        let mut book = AlertBook::default();
        assert!(book.evaluate(eval(40.0, 1)).is_none());
        let (fired, t) = book.evaluate(eval(46.0, 2)).expect("fires");
        assert_eq!((fired.id, t), (1, Transition::Fired));
        assert!(
            book.evaluate(eval(80.0, 3)).is_none(),
            "still firing: no new transition"
        );
        let (resolved, t) = book.evaluate(eval(45.0, 4)).expect("resolves at the limit");
        assert_eq!((resolved.id, t, resolved.peak), (1, Transition::Resolved, 80.0));
        let (again, _) = book.evaluate(eval(50.0, 5)).expect("fires again");
        assert_eq!(again.id, 2, "a new alert, not the old one reopened");
        assert_eq!(book.list(Some(AlertState::Firing)).len(), 1);
        assert_eq!(book.list(None).len(), 2);
    }
}
