//! Plumbing shared by the host-side services (collector, IOC API, simulators, the all-in-one
//! command), so each does the same thing the same way.
//!
//! # Layout
//!
//! - `config`: loading a TOML config file and validating it, with errors that name the field.
//! - `mqtt`: the broker connection settings and the subscribe-on-every-connect rule.
//! - `secret`: a string that never shows in logs.
//! - `cli`: tracing set-up, the SIGINT/SIGTERM future and the exit status for binaries.
//! - `metrics`: Prometheus text exposition.
//! - `registry`: the node registry reread when its file changes.
//! - `state_lock`: the lock by which a restore knows that a service runs on its state.

pub mod cli;
pub mod config;
pub mod metrics;
pub mod mqtt;
pub mod registry;
pub mod secret;
pub mod state_lock;

pub use secret::Secret;
