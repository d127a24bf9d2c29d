//! Sensor-node firmware: embedded-hal 1.0 drivers, sampling and averaging, signed frames.
//!
//! The crate is `no_std`, allocation-free and float-free: it builds for `thumbv7em-none-eabihf` and
//! runs unchanged on the host, where the simulators drive it against byte-level sensor emulations.
//!
//! # Layout
//!
//! - `drivers`: the sensors, each generic over embedded-hal / embedded-io so the same code talks to
//!   the board's peripherals and the simulators' emulations.
//!   - `drivers::crc8`: the Sensirion CRC-8.
//!   - `drivers::pms5003`, `drivers::sds011`: Plantower PMS5003 and Nova SDS011 particulate
//!     sensors (UART).
//!   - `drivers::sht4x`, `drivers::bme280`: Sensirion SHT4x and Bosch BME280 climate sensors (I²C).
//!   - `drivers::ads1115`, `drivers::ezo`: the ADS1115 ADC and Atlas EZO circuits (I²C).
//! - `node`: the node logic, with time supplied by the caller.
//!   - [`node::Node`]: the schedule; builds, signs and publishes frames.
//!   - [`node::Sampler`]: reads a station's sensors and averages them; [`node::AirSampler`] (over
//!     the [`node::ParticulateSensor`], [`node::ClimateSensor`] and [`node::GasSensor`] seams)
//!     and [`node::WaterSampler`] (over the [`node::WaterProbe`] seam) are the two stations.
//!   - [`node::Transport`]: the uplink seam (MQTT on a board, a `Vec` in tests).
//! - `storage`: flash on `sequential-storage`: [`storage::Settings`] (boot counter, downlink
//!   counter, interval, calibrations) and [`storage::FrameQueue`] (store-and-forward).
//! - `uplink`: MQTT on the node (`minimq` over `embedded-io-async`): will, birth, QoS 1 from the
//!   outbox, downlink commands.
//! - `convert`: PSS-78 salinity (with the Hill extension), DO saturation, analogue pH / DO /
//!   turbidity / level probes with their calibrations, electrochemical gas cells.
//! - `calibration`: probe calibration points and when they are due.
//! - `exec`: [`exec::block_on`], the executor for the async flash and MQTT crates.
//! - `src/bin/board.rs` (feature `board`): the Cortex-M binary for QEMU's `mps2-an386`.
#![cfg_attr(not(test), no_std)]

pub mod calibration;
pub mod convert;
pub mod drivers;
pub mod exec;
pub mod node;
pub mod storage;
pub mod uplink;
