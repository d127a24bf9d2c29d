//! The host-run node the fleet drives: the firmware's own `Node`, samplers, settings flash and
//! store-and-forward outbox over the byte-level sensor emulations in [`crate::devices`], with
//! simulated time supplied by the caller. A reboot goes through the firmware's boot path: the
//! boot counter from the node's flash, the queue kept, the sequence from 0.
//!
//! # Layout
//!
//! - `conditions`: what a station's sensors see, set by the caller.
//! - `sim_node`: [`SimNode`], its station and flash, and the frames it hands back ([`Outgoing`]).
//! - `boot`: building a node and its reboot, through the firmware's boot path.
//! - `run`: polling the node in simulated time, its status frames and downlink commands.

mod boot;
mod conditions;
mod run;
mod sim_node;
#[cfg(test)]
mod tests;

pub use conditions::{AirConditions, Environment, WaterConditions};
pub use sim_node::{Outbox, Outgoing, QueueFlash, SimNode};
