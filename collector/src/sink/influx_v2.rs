//! The v2 write API (`/api/v2/write`) through the `influxdb2` crate: InfluxDB 2.x, 3.x, Cloud,
//! 1.8+ in compatibility mode, and other servers of the API such as VictoriaMetrics.

use influxdb2::api::write::TimestampPrecision;

use crate::sink::WriteError;
use service::Secret;

/// Writes to a bucket through `/api/v2/write`.
pub struct InfluxV2Sink {
    client: influxdb2::Client,
    url: String,
    org: String,
    bucket: String,
}

impl std::fmt::Debug for InfluxV2Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfluxV2Sink")
            .field("url", &self.url)
            .field("bucket", &self.bucket)
            .finish()
    }
}

impl InfluxV2Sink {
    /// A sink for `org`/`bucket` at `url`.
    ///
    /// # Errors
    ///
    /// Currently none; kept fallible for TLS settings that can be wrong.
    pub fn new(url: &str, org: &str, bucket: &str, token: &Secret) -> anyhow::Result<Self> {
        let client = influxdb2::Client::new(url, org, token.expose());
        Ok(InfluxV2Sink {
            client,
            url: url.to_owned(),
            org: org.to_owned(),
            bucket: bucket.to_owned(),
        })
    }

    pub(crate) async fn write(&mut self, lines: &str) -> Result<(), WriteError> {
        let result = self
            .client
            .write_line_protocol_with_precision(
                &self.org,
                &self.bucket,
                lines.to_owned(),
                TimestampPrecision::Milliseconds,
            )
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(influxdb2::RequestError::Http { status, text }) => {
                Err(WriteError::from_status(status.as_u16(), &text))
            }
            Err(other) => Err(WriteError::retriable(other.to_string())),
        }
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "v2 write API at {} (org {}, bucket {})",
            self.url, self.org, self.bucket
        )
    }
}
