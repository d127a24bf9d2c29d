//! InfluxDB 1.x write API: `POST /write?db=&rp=&precision=ms`, gzip when configured.

use std::time::Duration;

use service::Secret;

use crate::sink::WriteError;
use crate::sink::retry::{classify_status, classify_transport, parse_retry_after};

/// Writes to an InfluxDB 1.x database. Clones share the connection pool.
#[derive(Debug, Clone)]
pub struct InfluxV1Sink {
    client: reqwest::Client,
    write_url: reqwest::Url,
    username: Option<String>,
    password: Option<Secret>,
    gzip: bool,
}

impl InfluxV1Sink {
    /// A sink for `database` (and `retention_policy`, if given) at `url`.
    ///
    /// # Errors
    ///
    /// If the URL does not parse or the HTTP client cannot be built.
    pub fn new(
        url: &str,
        database: &str,
        retention_policy: Option<String>,
        username: Option<String>,
        password: Option<Secret>,
        gzip: bool,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut write_url = reqwest::Url::parse(url)?.join("write")?;
        write_url
            .query_pairs_mut()
            .append_pair("db", database)
            .append_pair("precision", "ms");
        if let Some(rp) = &retention_policy {
            write_url.query_pairs_mut().append_pair("rp", rp);
        }
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(InfluxV1Sink {
            client,
            write_url,
            username,
            password,
            gzip,
        })
    }

    pub(crate) async fn write(&mut self, lines: &str) -> Result<(), WriteError> {
        let mut request = self.client.post(self.write_url.clone());
        request = if self.gzip {
            request
                .header(reqwest::header::CONTENT_ENCODING, "gzip")
                .body(super::gzip(lines))
        } else {
            request.body(lines.to_owned())
        };
        if let Some(user) = &self.username {
            request = request.basic_auth(user, self.password.as_ref().map(Secret::expose));
        }
        let response = request
            .send()
            .await
            .map_err(|e| classify_transport(format!("request failed: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = parse_retry_after(
            response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let body = response.text().await.unwrap_or_default();
        Err(classify_status(status.as_u16(), retry_after, &body))
    }

    pub(crate) fn describe(&self) -> String {
        let mut shown = self.write_url.clone();
        shown.set_query(None);
        format!("InfluxDB v1 API at {shown}")
    }
}
