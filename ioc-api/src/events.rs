//! Changes pushed to the SSE stream.

use serde::Serialize;

use crate::alerts::Alert;
use crate::live::StationView;

/// A change worth telling the dashboards about.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Event {
    /// A station's new reading (the whole station view).
    Reading(Box<StationView>),
    /// An alert fired or resolved.
    Alert(Box<Alert>),
}

impl Event {
    /// The SSE event type.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Reading(_) => "reading",
            Event::Alert(_) => "alert",
        }
    }
}
