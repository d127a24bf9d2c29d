//! The three frame bodies. Every measurement is a fixed-point integer with its scale and unit in
//! the field's documentation; an absent sensor is `None`, never 0.

mod air;
mod range;
mod status;
mod water;

pub use air::AirSample;
pub use status::{FirmwareVersion, NodeStatus, StatusKind};
pub use water::WaterSample;

use serde::{Deserialize, Serialize};

/// What a frame carries. The variant index is the body kind on the wire (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Averages of an air-quality station's sensors over one reporting interval.
    Air(AirSample),
    /// Averages of a water-quality station's probes over one reporting interval.
    Water(WaterSample),
    /// The node's own health: birth on connect, periodic, and death (the MQTT will).
    Status(NodeStatus),
}

impl Body {
    /// Checks every field against its physical range.
    ///
    /// # Errors
    ///
    /// The first field out of range, with its raw value.
    pub fn validate(&self) -> Result<(), (&'static str, i64)> {
        match self {
            Body::Air(sample) => sample.validate(),
            Body::Water(sample) => sample.validate(),
            Body::Status(status) => status.validate(),
        }
    }
}
