//! The relay: hands each station's data to the environment authority as the files of Circular
//! 10/2021/TT-BTNMT, through a durable outbox, to one or more FTP/FTPS/SFTP receivers. A peer of the
//! collector and the IOC API on the bus, with the same acceptance rule and a session of its own.
//!
//! # Layout
//!
//! - `config`: the TOML configuration, its defaults and validation.
//! - `params`: the quantities a file carries, with their default symbols and units.
//! - `file`: a file's lines, status codes, name and folder.
//! - `interval`: frames gathered into each station's intervals, and their means.
//! - `journal`: the messages of open intervals, synced before they are acknowledged.
//! - `outbox`: the written files and which receiver has taken which.
//! - `layout`: a file's folder, name and text, from the config.
//! - `intake`: from a message to an interval to a file.
//! - `upload`: the receivers (FTP, FTPS) and the worker that feeds each, in order.
//! - `resend`: a period's files made again from InfluxDB and uploaded again.
//! - `http`: `/metrics`, `/healthz`, `/readyz`; `stats`: the counters behind them.
//!
//! How the relay keeps the delivery promise is in `docs/relay.md`.

pub mod config;
pub mod file;
mod http;
pub mod intake;
pub mod interval;
pub mod journal;
pub mod layout;
pub mod outbox;
pub mod params;
pub mod resend;
mod run;
pub mod stats;
pub mod upload;

pub use config::Config;
pub use run::Relay;
pub use stats::{Snapshot, Stats};
