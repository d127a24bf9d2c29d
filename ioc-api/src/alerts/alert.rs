//! An alert and the transitions of its life: firing → acknowledged → resolved.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::threshold::Level;

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition holds and nobody has acknowledged it.
    Firing,
    /// The condition holds; an operator has acknowledged it.
    Acknowledged,
    /// Over: by hysteresis, by the station coming back, or by hand.
    Resolved,
}

impl AlertState {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Option<AlertState> {
        [AlertState::Firing, AlertState::Acknowledged, AlertState::Resolved]
            .into_iter()
            .find(|s| s.as_str() == name)
    }

    /// Firing or acknowledged.
    pub fn is_open(self) -> bool {
        self != AlertState::Resolved
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    /// Unique, increasing.
    pub id: i64,
    /// Station id.
    pub station: String,
    /// Node id.
    pub node_id: u32,
    /// The station's district.
    pub district: String,
    /// The threshold rule that raised it.
    pub rule_id: i64,
    /// What is watched: a parameter (`pm2_5`, …), `station_offline` or `sensor_fault`.
    pub parameter: String,
    /// The averaging window (`latest`, `1h`, `8h`, `24h`).
    pub window: String,
    /// `warning` or `critical`.
    pub level: Level,
    /// `above` or `below`.
    pub direction: String,
    /// Current state.
    pub state: AlertState,
    /// The trigger level of the rule when it fired.
    pub threshold: f64,
    /// The recovery level of the rule when it fired.
    pub recovery: f64,
    /// The value that fired it.
    pub value_at_fire: f64,
    /// The worst value seen while open (highest for `above`, lowest for `below`).
    pub peak: f64,
    /// The latest value evaluated.
    pub last_value: f64,
    /// When it fired (RFC 3339; the node's clock for measurements, the server's for offline).
    pub fired_at: String,
    /// When it was acknowledged.
    pub acknowledged_at: Option<String>,
    /// Who acknowledged it (token name).
    pub acknowledged_by: Option<String>,
    /// The acknowledgement's comment.
    pub ack_comment: Option<String>,
    /// When it resolved.
    pub resolved_at: Option<String>,
    /// Who resolved it: a token name for a manual resolve, `system` otherwise.
    pub resolved_by: Option<String>,
    /// `hysteresis`, `back_online`, `sensor_ok`, `manual`, or `rule_removed`.
    pub resolution: Option<String>,
    /// No new value for the rule's staleness timeout: the condition is unknown.
    pub stale: bool,
    /// The station is offline: the alert is kept but not notified.
    pub suppressed: bool,
    /// For a PM2.5 rule, the PM2.5 it fired on: `raw`, `us_epa_rh` or `co_location`
    /// (`quality.correction`). Absent for other parameters, and on alerts stored before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pm2_5_basis: Option<String>,
}

/// One step in an alert's life, kept for ever.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TransitionRecord {
    /// The alert.
    pub alert_id: i64,
    /// `fired`, `acknowledged`, `resolved`, `stale`, `fresh`, `suppressed`, `unsuppressed`.
    pub kind: String,
    /// When (RFC 3339, server clock).
    pub at: String,
    /// Token name, or `system`.
    pub actor: String,
    /// The operator's comment, if any.
    pub comment: Option<String>,
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// A new alert.
    Fired,
    /// An operator acknowledged it.
    Acknowledged,
    /// It is over.
    Resolved,
    /// Its input went stale.
    Stale,
    /// Its input is fresh again.
    Fresh,
    /// Its station went offline.
    Suppressed,
    /// Its station came back.
    Unsuppressed,
}

impl Transition {
    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Fired => "fired",
            Transition::Acknowledged => "acknowledged",
            Transition::Resolved => "resolved",
            Transition::Stale => "stale",
            Transition::Fresh => "fresh",
            Transition::Suppressed => "suppressed",
            Transition::Unsuppressed => "unsuppressed",
        }
    }
}

/// An alert change as it goes out (SSE, MQTT, webhooks): the alert after the change, with
/// what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AlertChange {
    /// What happened.
    pub transition: Transition,
    /// The alert after the change.
    #[serde(flatten)]
    pub alert: Alert,
}
