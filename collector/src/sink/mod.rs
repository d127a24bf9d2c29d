//! Where points go: InfluxDB through its v1 or v2 write API, or a local file to ship later.

mod file;
mod influx_v1;
mod influx_v2;
pub mod line_protocol;
mod retry;

use std::fmt;

pub use file::FileSink;
pub use influx_v1::InfluxV1Sink;
pub use influx_v2::InfluxV2Sink;
pub use retry::Backoff;

use crate::config::SinkConfig;

/// Whether trying the same write again can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The server or the network may recover: timeouts, connection errors, 5xx, 429.
    Retriable,
    /// The server refused the data itself (4xx): retrying the same bytes cannot help.
    Permanent,
}

/// A write that did not succeed.
#[derive(Debug, Clone)]
pub struct WriteError {
    /// Whether to retry.
    pub retry: Retry,
    /// What the server or the OS said.
    pub message: String,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WriteError {}

impl WriteError {
    pub(crate) fn retriable(message: impl Into<String>) -> Self {
        WriteError {
            retry: Retry::Retriable,
            message: message.into(),
        }
    }

    /// Classifies an HTTP status in one place for both InfluxDB APIs.
    pub(crate) fn from_status(status: u16, body: &str) -> Self {
        let retry = match status {
            // 404 is "database not found" on 1.x and "bucket not found" on 2.x: an operator
            // mistake that an operator can fix, so keep the frames and retry rather than drop.
            404 | 408 | 429 => Retry::Retriable,
            s if s >= 500 => Retry::Retriable,
            _ => Retry::Permanent,
        };
        WriteError {
            retry,
            message: format!("HTTP {status}: {}", body.trim()),
        }
    }
}

/// The configured sink.
#[derive(Debug)]
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
            } => Sink::InfluxV1(InfluxV1Sink::new(
                url,
                database,
                retention_policy.clone(),
                username.clone(),
                password.clone(),
            )?),
            SinkConfig::InfluxV2 {
                url,
                org,
                bucket,
                token,
            } => Sink::InfluxV2(InfluxV2Sink::new(url, org, bucket, token)?),
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
