//! Sensor drivers over embedded-hal 1.0 and embedded-io: no allocation, no floats, no panics on
//! whatever the bus returns.

pub mod ads1115;
pub mod bme280;
pub mod crc8;
pub mod ezo;
pub mod pms5003;
pub mod sds011;
pub mod sht4x;

pub use ads1115::Ads1115;
pub use bme280::Bme280;
pub use ezo::Ezo;
pub use pms5003::Pms5003;
pub use sds011::Sds011;
pub use sht4x::Sht4x;
