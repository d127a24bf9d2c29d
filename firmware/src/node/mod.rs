//! The node: sample the sensors, average over the reporting interval, sign and publish frames.
//!
//! Time comes from the caller (`uptime_ms`, `wall_ms` on every call) and there is no clock inside,
//! so the same code runs on the board from SysTick and in tests through 24 hours in milliseconds.

mod config;
mod downlink;
mod error;
mod ezo;
mod forward;
mod mean;
mod runner;
mod sampler;
mod stuck;
mod transport;

mod absent;
mod air;
mod analogue;
mod climate;
mod gas;
mod particulate;
mod water;

pub use absent::NoSensor;
pub use air::{AirSampler, PM_MAX_UG_M3};
pub use analogue::{AnalogueProbes, AnalogueWiring};
pub use climate::{ClimateReading, ClimateSensor, HEATER_ABOVE_MILLI_PERCENT, SensorFault};
pub use config::{FIRMWARE_VERSION, NodeConfig, NodeIdentity};
pub use downlink::DownlinkError;
pub use error::NodeError;
pub use ezo::{EZO_CALIBRATION_INTERVAL_S, EzoFailure, EzoProbes};
pub use forward::{ForwardPolicy, StoreAndForward};
pub use gas::{Adc, GasChannel, GasFrontEnd, GasReading, GasSensor, GasWiring, NEGATIVE_LIMIT_PPB};
pub use particulate::{PMS_WARM_UP_MS, ParticulateSensor, PmFault, PmReading, SDS_WARM_UP_MS};
pub use runner::{LinkStatus, Node};
pub use sampler::{Calibrated, Sampler};
pub use stuck::STUCK_AFTER_MS;
pub use transport::Transport;
pub use water::{WaterProbe, WaterReading, WaterSampler};
