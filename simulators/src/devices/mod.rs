//! Byte-level emulations of the node's sensors, implementing the same embedded-hal / embedded-io
//! traits as the board's peripherals, so the firmware's own drivers run against them on the host.
//!
//! Each emulation is split in two: the device, which the firmware driver owns, and a cloneable
//! handle (`Send`, behind an `Arc<Mutex<_>>`) through which a scenario sets what the sensor measures
//! and injects faults while the node runs.

mod ads1115;
mod bme280;
mod delay;
mod ezo;
mod gas;
mod pms5003;
mod sds011;
mod sht4x;
mod water;

#[cfg(test)]
mod analogue_tests;
#[cfg(test)]
mod ezo_tests;
#[cfg(test)]
mod tests;

pub use ads1115::{
    ADS1115_ADDRESS, Ads1115Handle, AnalogueWater, DO_AIR_V, EmulatedAds1115, PH_BOARD_MID_V, PH_EFFICIENCY,
};
pub use bme280::{BME280_ADDRESS, Bme280Handle, EmulatedBme280, Weather};
pub use delay::NoDelay;
pub use ezo::{EmulatedEzo, EzoCircuit, EzoHandle, EzoStationHandle, PH_UNCALIBRATED_OFFSET, ezo_station};
pub use gas::{GasAir, GasBoardHandle, TrueCell, gas_board, restart_gas_board};
pub use pms5003::{EmulatedPms5003, PmLevels, Pms5003Handle, PmsMode, UartTimeout};
pub use sds011::{EmulatedSds011, Sds011Handle};
pub use sht4x::{Climate, EmulatedSht4x, SHT4X_ADDRESS, Sht4xHandle};
pub use water::WaterLevels;
