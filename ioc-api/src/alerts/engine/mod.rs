//! The alert engine: evaluates rules against values, keeps each rule's pending state and the
//! open alerts, and applies the lifecycle (fire, acknowledge, resolve, stale, suppress).
//!
//! Time: measurements are evaluated on the node's clock (`at_ms`), so a backfilled hour fires
//! and resolves at the times it happened and pending durations are exact however fast frames
//! arrive. Staleness and offline detection run on the server's clock (`now`), given by the
//! caller, so tests drive both.
//!
//! An alert belongs to a *slot*: (station, parameter, window, level, direction). A station
//! override replaces the rule of a slot, and an open alert simply continues under it.
//!
//! # Layout
//!
//! - `state`: the engine's state (rules, pending conditions, open alerts by slot), the rules in
//!   force and the stored transitions every change goes through.
//! - `evaluate`: a value against a rule: pending, firing, recovery by hysteresis.
//! - `station`: liveness: offline alerts, suppression, staleness.
//! - `operator`: what operators do by hand: acknowledge, resolve.

mod evaluate;
mod operator;
mod state;
mod station;

pub use state::{Engine, LifecycleError, StationRef};
