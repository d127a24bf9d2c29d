//! Alerts: threshold rules and their defaults, the engine that evaluates them, and the alert
//! lifecycle (firing → acknowledged → resolved, with every transition kept).

mod alert;
mod defaults;
mod engine;
mod threshold;

pub use alert::{Alert, AlertChange, AlertState, Transition, TransitionRecord};
pub use defaults::{RENAMED_SOURCES, added_later, default_rules, install_defaults};
pub use engine::{Engine, LifecycleError, StationRef};
pub(crate) use threshold::format_date;
pub use threshold::{
    Direction, Invalid, Level, ScopeKind, StationRule, Threshold, ThresholdSpec, Watch, Window,
};
