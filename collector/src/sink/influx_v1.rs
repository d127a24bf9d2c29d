//! InfluxDB 1.x write API: `POST /write?db=&rp=&precision=ms`.

use std::time::Duration;

use crate::sink::WriteError;
use service::Secret;

/// Writes to an InfluxDB 1.x database.
#[derive(Debug)]
pub struct InfluxV1Sink {
    client: reqwest::Client,
    write_url: reqwest::Url,
    username: Option<String>,
    password: Option<Secret>,
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
    ) -> anyhow::Result<Self> {
        let mut write_url = reqwest::Url::parse(url)?.join("write")?;
        write_url
            .query_pairs_mut()
            .append_pair("db", database)
            .append_pair("precision", "ms");
        if let Some(rp) = &retention_policy {
            write_url.query_pairs_mut().append_pair("rp", rp);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(InfluxV1Sink {
            client,
            write_url,
            username,
            password,
        })
    }

    pub(crate) async fn write(&mut self, lines: &str) -> Result<(), WriteError> {
        let mut request = self.client.post(self.write_url.clone()).body(lines.to_owned());
        if let Some(user) = &self.username {
            request = request.basic_auth(user, self.password.as_ref().map(Secret::expose));
        }
        let response = request
            .send()
            .await
            .map_err(|e| WriteError::retriable(format!("request failed: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(WriteError::from_status(status.as_u16(), &body))
    }

    pub(crate) fn describe(&self) -> String {
        let mut shown = self.write_url.clone();
        shown.set_query(None);
        format!("InfluxDB v1 API at {shown}")
    }
}
