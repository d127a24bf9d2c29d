//! Real services for whole-path tests: mosquitto, InfluxDB 1.x and VictoriaMetrics from Debian's
//! packages, an FTP/FTPS server from PyPI's pyftpdlib and OpenSSH's sshd, each a child process on
//! free loopback ports with its files in a temp dir, stopped on drop.
//! A test includes this with `mod support;`. See `shared/reference/services.md` for the behaviour
//! these helpers encode.
//!
//! # Layout
//! - `ports`: free loopback ports.
//! - `certs`: a test CA and the server and client certificates it signs (`openssl`).
//! - `process`: the child-process guard (binary lookup, log capture, readiness polling, stop/start).
//! - `mosquitto`, `influx1`, `victoria`: one service each.
//! - `ftp`: an FTP or FTPS server (PyPI's pyftpdlib), for the relay's receivers.
//! - `sshd`: an SFTP server (OpenSSH's sshd as the current user), for the relay's SFTP receiver.
//! - `sftp_password`: an SFTP server with password login (PyPI's asyncssh), for the same.
//! - `mqtt`: a small rumqttc client for checks through the broker.
//! - `secured`: settings for the secured broker's TLS listener, a signed frame, and where it shows.
//! - `sse`: server-sent event blocks, for the tests that follow the IOC API's stream.
//! - `ioc`: the IOC API in-process and a simulated fleet feeding it.
//! - `collector`: the collector in-process, its counters at hand.
//! - `fleet`: a small simulated fleet in real time.
//! - `chromium`: headless Chromium over the DevTools protocol, for the dashboard test.

// Each test binary compiles its own copy of this module and uses only some of the helpers (and of
// the re-exports below); without these, every binary would warn about the ones it leaves out.
#![allow(dead_code, unused_imports)]

mod certs;
mod chromium;
mod collector;
mod fleet;
mod ftp;
mod influx1;
mod ioc;
mod mosquitto;
mod mqtt;
mod ports;
mod process;
pub mod reconnecting_node;
mod secured;
mod sftp_password;
mod sse;
mod sshd;
mod victoria;

pub use certs::{CertUsage, TestCa};
pub use chromium::{Chromium, Page};
pub use collector::{InProcess, influx1_config};
pub use fleet::paced_fleet;
pub use ftp::{FtpServer, FtpServerOptions, self_signed_certificate};
pub use influx1::Influx1;
pub use ioc::{FleetPlan, RunningIoc, ioc_config, start_fleet, start_ioc};
pub use mosquitto::{BrokerSecurity, Mosquitto, MosquittoOptions};
pub use mqtt::TestClient;
pub use ports::{free_port, free_ports, loopback_client, with_free_ports};
pub use process::{ChildProcess, find_program};
pub use secured::{Identity, ioc_pm2_5, secured, signed_air_frame, stored_pm2_5, wait_until};
pub use sftp_password::{PasswordSftpServer, SFTP_USER};
pub use sse::{SseBlock, take_events};
pub use sshd::{SshKey, SshServer, ssh_keygen};
pub use victoria::{ExportedSeries, VictoriaMetrics, VictoriaOptions};
