//! The parts of the workspace's real-service harness (`tests/support/`) the collector's tests
//! use: child processes, free ports, mosquitto, InfluxDB 1.x, VictoriaMetrics, an MQTT test
//! client and the collector in-process. Included file by file rather than through `tests/support/mod.rs`, which also carries
//! the browser and IOC helpers and their dependencies.

#![allow(dead_code, unused_imports)]

#[path = "../../../tests/support/collector.rs"]
mod in_process;
#[path = "../../../tests/support/influx1.rs"]
mod influx1;
#[path = "../../../tests/support/mosquitto.rs"]
mod mosquitto;
#[path = "../../../tests/support/mqtt.rs"]
mod mqtt;
#[path = "../../../tests/support/ports.rs"]
mod ports;
#[path = "../../../tests/support/process.rs"]
mod process;
#[path = "../../../tests/support/victoria.rs"]
mod victoria;

pub use in_process::InProcess;
pub use influx1::Influx1;
pub use mosquitto::{Mosquitto, MosquittoOptions};
pub use mqtt::TestClient;
pub use ports::{free_port, free_ports, loopback_client, with_free_ports};
pub use process::{ChildProcess, find_program};
pub use victoria::{ExportedSeries, VictoriaMetrics, VictoriaOptions};
