//! Where points go: InfluxDB through its v1 or v2 write API, or a local file to ship later.
//!
//! # Layout
//!
//! - `line_protocol`: frames to InfluxDB line protocol.
//! - `influx_v1`, `influx_v2`, `file`: the three sinks.
//! - `retry`: the one place that classifies failures and computes delays.
//! - `split`: isolating the points a server refuses.

mod file;
mod influx_v1;
mod influx_v2;
pub mod line_protocol;
pub mod retry;
pub mod split;

use std::fmt;
use std::io::Write as _;
use std::time::Duration;

pub use file::FileSink;
pub use influx_v1::InfluxV1Sink;
pub use influx_v2::InfluxV2Sink;
pub use retry::Backoff;
pub use split::{LineWriter, write_isolating};

use crate::config::SinkConfig;

/// Whether trying the same write again can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The server or the network may recover: timeouts, connection errors, 5xx, 429.
    Retriable,
    /// The server refused the data itself (400, 413, 422): retrying the same bytes cannot help.
    Permanent,
}

/// A write that did not succeed.
#[derive(Debug, Clone)]
pub struct WriteError {
    /// Whether to retry.
    pub retry: Retry,
    /// How long the server asked us to wait (`Retry-After`), when it said.
    pub retry_after: Option<Duration>,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// What the server or the OS said.
    pub message: String,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WriteError {}

/// The configured sink. Clones share connections (or the file), so concurrent writes are cheap.
#[derive(Debug, Clone)]
pub enum Sink {
    /// InfluxDB 1.x `/write`.
    InfluxV1(InfluxV1Sink),
    /// `/api/v2/write` via the `influxdb2` crate.
    InfluxV2(InfluxV2Sink),
    /// Local line-protocol file.
    File(FileSink),
}

impl Sink {
    /// Builds the sink a config names.
    ///
    /// # Errors
    ///
    /// If the HTTP client cannot be built or the file cannot be opened.
    pub fn from_config(config: &SinkConfig) -> anyhow::Result<Self> {
        Ok(match config {
            SinkConfig::InfluxV1 {
                url,
                database,
                retention_policy,
                username,
                password,
                gzip,
                timeout_ms,
                // Read into `password` when the config was loaded.
                password_file: _,
            } => Sink::InfluxV1(InfluxV1Sink::new(
                url,
                database,
                retention_policy.clone(),
                username.clone(),
                password.clone(),
                *gzip,
                Duration::from_millis(*timeout_ms),
            )?),
            SinkConfig::InfluxV2 {
                url,
                org,
                bucket,
                token,
                gzip,
                timeout_ms,
                // Read into `token` when the config was loaded.
                token_file: _,
            } => Sink::InfluxV2(InfluxV2Sink::new(
                url,
                org,
                bucket,
                token,
                *gzip,
                Duration::from_millis(*timeout_ms),
            )?),
            SinkConfig::File { path } => Sink::File(FileSink::open(path)?),
        })
    }

    /// Writes line protocol (timestamps in ms). `Ok` means the points are durable.
    ///
    /// # Errors
    ///
    /// A [`WriteError`] classified as retriable or permanent.
    pub async fn write(&mut self, lines: &str) -> Result<(), WriteError> {
        match self {
            Sink::InfluxV1(sink) => sink.write(lines).await,
            Sink::InfluxV2(sink) => sink.write(lines).await,
            Sink::File(sink) => sink.write(lines).await,
        }
    }

    /// A short description for logs (no secrets).
    pub fn describe(&self) -> String {
        match self {
            Sink::InfluxV1(sink) => sink.describe(),
            Sink::InfluxV2(sink) => sink.describe(),
            Sink::File(sink) => sink.describe(),
        }
    }
}

impl LineWriter for Sink {
    async fn write_lines(&mut self, lines: &str) -> Result<(), WriteError> {
        self.write(lines).await
    }
}

/// gzip at the fastest level: on a 2-core machine the CPU is scarcer than the bandwidth, and
/// level 1 already shrinks line protocol about eightfold.
pub(crate) fn gzip(lines: &str) -> Vec<u8> {
    let mut encoder =
        flate2::write::GzEncoder::new(Vec::with_capacity(lines.len() / 4), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(lines.as_bytes());
    encoder.finish().unwrap_or_default()
}
