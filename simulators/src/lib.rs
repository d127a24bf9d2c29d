//! Host-run sensor nodes: the firmware's own drivers and node logic, executed against byte-level
//! emulations of the sensors, so that whole fleets can feed the collector and the IOC API.
//!
//! # Layout
//!
//! - `devices`: byte-level emulations of PMS5003 and SDS011 (UART), SHT4x, BME280, ADS1115, the
//!   Atlas EZO circuits and the electrochemical gas cells behind two ADS1115s (I²C), each with a
//!   handle for setting what it measures and injecting faults; a delay that does not sleep.
//! - `fit`: which sensors a simulated air node carries (PMS5003 or SDS011, SHT4x and/or BME280,
//!   gas cells).
//! - `file_flash`: a node's settings flash kept in a file, for boot counters that outlive a run.
//! - `node`: [`node::SimNode`], one firmware node on emulated sensors, polled in simulated time,
//!   with its settings flash and store-and-forward outbox, and its reboot.
//! - `signal`: plausible air and water conditions over the day, with pollution episodes.
//! - `stations`: a plausible Hau Giang station list (the node registry) for demos and tests.
//! - `clock`: simulated time, real or accelerated.
//! - `net`: a TCP socket as the firmware's `embedded-io-async` byte stream.
//! - `downlink`: sign and send a downlink command to a node, as the IOC API will.
//! - `fleet`: many `SimNode`s publishing to MQTT through the firmware's own outbox and MQTT
//!   client, rebooting on command.
//! - `lab`: a laboratory posting the water samples' BOD5, COD, nutrients and coliform to the IOC
//!   API, for VN_WQI.

pub mod clock;
pub mod devices;
pub mod downlink;
pub mod file_flash;
pub mod fit;
pub mod fleet;
pub mod lab;
pub mod net;
pub mod node;
pub mod signal;
pub mod stations;
