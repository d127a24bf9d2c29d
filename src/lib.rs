//! citysense: environmental telemetry for a provincial operations centre.
//!
//! This root package holds the all-in-one command (`citysense`) and the whole-path tests in
//! `tests/`. The parts live in their own crates: `protocol` (the wire contract), `firmware`
//! (the node), `collector`, `ioc-api`, `simulators`.
//!
//! # Layout
//!
//! - `demo`: the whole system in one process, with no external services.
//! - `broker`: the embedded MQTT broker (rumqttd).

mod broker;
pub mod demo;
