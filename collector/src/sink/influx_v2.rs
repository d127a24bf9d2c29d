//! The v2 write API (`/api/v2/write`) through the `influxdb2` crate: InfluxDB 2.x, 3.x, Cloud,
//! 1.8+ in compatibility mode, and other servers of the API such as VictoriaMetrics.
//!
//! Two things the crate does not offer are done around it (see `docs/decisions.md`, "v2 writes
//! stay on the influxdb2 crate"): gzip for line protocol (its own gzip covers only `DataPoint`
//! streams, at the slowest level), done by sending a pre-compressed body through a reqwest client
//! whose default headers say `Content-Encoding: gzip`; and `Retry-After`, which its error type
//! drops, so 429/503 from a v2 server fall back to the backoff alone.

use std::time::Duration;

use influxdb2::api::write::TimestampPrecision;
use service::Secret;

use crate::sink::WriteError;
use crate::sink::retry::{classify_status, classify_transport};

/// Writes to a bucket through `/api/v2/write`. Clones share the connection pool.
#[derive(Clone)]
pub struct InfluxV2Sink {
    client: influxdb2::Client,
    url: String,
    org: String,
    bucket: String,
    gzip: bool,
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
    /// When the HTTP client cannot be built.
    pub fn new(
        url: &str,
        org: &str,
        bucket: &str,
        token: &Secret,
        gzip: bool,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if gzip {
            headers.insert(
                reqwest::header::CONTENT_ENCODING,
                reqwest::header::HeaderValue::from_static("gzip"),
            );
        }
        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .default_headers(headers);
        let client = influxdb2::ClientBuilder::with_builder(builder, url, org, token.expose())
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the InfluxDB v2 client: {e}"))?;
        Ok(InfluxV2Sink {
            client,
            url: url.to_owned(),
            org: org.to_owned(),
            bucket: bucket.to_owned(),
            gzip,
        })
    }

    pub(crate) async fn write(&mut self, lines: &str) -> Result<(), WriteError> {
        let body: reqwest::Body = if self.gzip {
            super::gzip(lines).into()
        } else {
            lines.to_owned().into()
        };
        let result = self
            .client
            .write_line_protocol_with_precision(
                &self.org,
                &self.bucket,
                body,
                TimestampPrecision::Milliseconds,
            )
            .await;
        match result {
            Ok(()) => Ok(()),
            // The crate keeps the status and body but not the headers: no Retry-After here.
            Err(influxdb2::RequestError::Http { status, text }) => {
                Err(classify_status(status.as_u16(), None, &text))
            }
            Err(other) => Err(classify_transport(other.to_string())),
        }
    }

    pub(crate) fn describe(&self) -> String {
        format!(
            "v2 write API at {} (org {}, bucket {})",
            self.url, self.org, self.bucket
        )
    }
}
