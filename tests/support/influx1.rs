//! A real InfluxDB 1.x server (Debian package `influxdb`, 1.6.7): v1 write API and InfluxQL.

use std::fs;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use tempfile::TempDir;

use super::ports::{loopback_client, with_free_ports};
use super::process::ChildProcess;

/// How long influxd may take to answer `/ping` (it opens its shards first; slow on 2 busy cores).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `influxd -config <file>` child with its meta, data and WAL in a temp dir; killed on drop.
#[derive(Debug)]
pub struct Influx1 {
    process: ChildProcess,
    http_port: u16,
    client: reqwest::Client,
    // Dropped after `process`, so the server is gone before its files are.
    _dir: TempDir,
}

impl Influx1 {
    /// Starts influxd with its HTTP API and its RPC bind address on two free 127.0.0.1 ports (the
    /// RPC port is 8088 by default, so two default instances collide); returns once `GET /ping`
    /// answers 204.
    ///
    /// # Errors
    /// When influxd is not installed, or it exits or is not ready in time (the error quotes its log).
    pub async fn start() -> Result<Self> {
        with_free_ports(2, |ports| Self::start_on(ports[0], ports[1])).await
    }

    async fn start_on(http_port: u16, rpc_port: u16) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("influxdb-")
            .tempdir()
            .context("creating a temp dir")?;
        let root = dir.path().display();
        let config = format!(
            "reporting-disabled = true\n\
             bind-address = \"127.0.0.1:{rpc_port}\"\n\
             [meta]\n  dir = \"{root}/meta\"\n\
             [data]\n  dir = \"{root}/data\"\n  wal-dir = \"{root}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"127.0.0.1:{http_port}\"\n  log-enabled = false\n"
        );
        let config_path = dir.path().join("influxdb.conf");
        fs::write(&config_path, config).context("writing influxdb.conf")?;

        let args = vec!["-config".to_owned(), config_path.display().to_string()];
        let process = ChildProcess::spawn("influxd", "influxdb", args, dir.path().join("influxd.log"))?;
        let client = loopback_client(Duration::from_secs(30))?;
        let mut server = Self {
            process,
            http_port,
            client,
            _dir: dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// The base URL of the HTTP API, e.g. `http://127.0.0.1:43211` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Creates a database (`CREATE DATABASE` is idempotent in InfluxQL).
    ///
    /// # Errors
    /// When the request fails or InfluxDB reports an error.
    pub async fn create_database(&self, name: &str) -> Result<()> {
        let response = self
            .client
            .post(format!("{}/query", self.url()))
            .form(&[("q", format!("CREATE DATABASE \"{name}\""))])
            .send()
            .await
            .context("POST /query CREATE DATABASE")?;
        Self::parse_query_response(response).await.map(drop)
    }

    /// Runs InfluxQL against `db` (POST /query, which also takes `SELECT`) and returns the parsed JSON.
    ///
    /// # Errors
    /// When the request fails, the status is not 2xx, or the JSON has an `error` field at the top or
    /// in any statement result.
    pub async fn query(&self, db: &str, influxql: &str) -> Result<Value> {
        let response = self
            .client
            .post(format!("{}/query", self.url()))
            .form(&[("db", db), ("q", influxql), ("epoch", "ms")])
            .send()
            .await
            .with_context(|| format!("POST /query {influxql}"))?;
        Self::parse_query_response(response)
            .await
            .with_context(|| format!("query `{influxql}` on `{db}`"))
    }

    /// Writes line protocol with millisecond timestamps (`POST /write?db=&precision=ms`).
    ///
    /// # Errors
    /// When the request fails or the answer is not 204 (the error carries InfluxDB's message).
    pub async fn write(&self, db: &str, lines: &str) -> Result<()> {
        let response = self
            .client
            .post(format!("{}/write", self.url()))
            .query(&[("db", db), ("precision", "ms")])
            .body(lines.to_owned())
            .send()
            .await
            .context("POST /write")?;
        let status = response.status();
        if status != reqwest::StatusCode::NO_CONTENT {
            let body = response.text().await.unwrap_or_default();
            bail!("POST /write?db={db} answered {status}: {body}");
        }
        Ok(())
    }

    /// Stops the server gracefully (SIGTERM), keeping its data dir; for outage tests.
    ///
    /// # Errors
    /// When the process cannot be signalled or reaped.
    pub async fn stop(&mut self) -> Result<()> {
        self.process.stop().await
    }

    /// Kills the server like a crash (SIGKILL); the WAL keeps acknowledged writes.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the server again on the same ports and data dir, after [`Influx1::stop`] or
    /// [`Influx1::kill`]; returns once `/ping` answers.
    ///
    /// # Errors
    /// As [`Influx1::start`].
    pub async fn start_again(&mut self) -> Result<()> {
        self.process.start_again()?;
        self.wait_ready().await
    }

    /// The end of the server's log (for assertion messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let ping = format!("{}/ping", self.url());
        let client = self.client.clone();
        self.process
            .wait_ready(READY_TIMEOUT, || {
                let request = client.get(&ping).timeout(Duration::from_secs(2)).send();
                async move {
                    request
                        .await
                        .is_ok_and(|r| r.status() == reqwest::StatusCode::NO_CONTENT)
                }
            })
            .await
    }

    async fn parse_query_response(response: reqwest::Response) -> Result<Value> {
        let status = response.status();
        let text = response.text().await.context("reading the /query answer")?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow!("/query answered {status} with something that is not JSON ({e}): {text}"))?;
        if let Some(error) = json.get("error") {
            bail!("InfluxDB answered {status} with error: {error}");
        }
        let statement_errors: Vec<&Value> = json
            .get("results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|result| result.get("error"))
            .collect();
        if !statement_errors.is_empty() {
            bail!("InfluxDB answered {status} with statement errors: {statement_errors:?}");
        }
        if !status.is_success() {
            bail!("/query answered {status}: {text}");
        }
        Ok(json)
    }
}
