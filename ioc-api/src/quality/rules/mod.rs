//! The QC rules, one per file, each with its config (the `[quality.<rule>]` section) and the
//! source of its defaults. The per-reading driver is `quality::StationQc`.

pub mod neighbour;
pub mod range;
pub mod sensor_limits;
pub mod spike;
pub mod stuck;

pub use neighbour::{NeighbourConfig, robust_z};
pub use range::{RangeConfig, Span, default_span};
pub use sensor_limits::SensorLimitsConfig;
pub use spike::{HampelState, MAX_WINDOW, SpikeConfig};
pub use stuck::{StuckConfig, StuckState};

/// `true`, for `#[serde(default = ...)]`.
pub(crate) fn yes() -> bool {
    true
}
