//! A real VictoriaMetrics server (Debian package `victoria-metrics`, 1.79.x): an independent
//! implementation of InfluxDB's `/api/v2/write`, read back through `/api/v1/export`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use tempfile::TempDir;

use super::ports::{loopback_client, with_free_ports};
use super::process::ChildProcess;

/// How long victoria-metrics may take to answer `/health`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two exports while waiting for samples.
const EXPORT_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How to configure the server.
#[derive(Debug, Clone)]
pub struct VictoriaOptions {
    /// Pass `-dedup.minScrapeInterval=1ms`, so two samples of one series with the same timestamp
    /// count once (InfluxDB's identity rule). On by default; off only to show the flag's effect.
    pub dedup: bool,
}

impl Default for VictoriaOptions {
    fn default() -> Self {
        Self { dedup: true }
    }
}

/// One series from `/api/v1/export`: its labels (`__name__` is `measurement_field`) and raw samples.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExportedSeries {
    /// Labels, `__name__` included.
    pub metric: BTreeMap<String, String>,
    /// Sample values, in timestamp order.
    pub values: Vec<f64>,
    /// Sample timestamps, ms since the epoch.
    pub timestamps: Vec<i64>,
}

/// A running `victoria-metrics` child with its storage in a temp dir; killed on drop.
#[derive(Debug)]
pub struct VictoriaMetrics {
    process: ChildProcess,
    port: u16,
    client: reqwest::Client,
    // Dropped after `process`, so the server is gone before its files are.
    _dir: TempDir,
}

impl VictoriaMetrics {
    /// Starts victoria-metrics with the dedup flag on; see [`VictoriaMetrics::start_with`].
    ///
    /// # Errors
    /// As [`VictoriaMetrics::start_with`].
    pub async fn start() -> Result<Self> {
        Self::start_with(VictoriaOptions::default()).await
    }

    /// Starts victoria-metrics on a free 127.0.0.1 port with `-retentionPeriod=100y` (the default
    /// month silently drops older fixed timestamps); returns once `GET /health` answers OK.
    ///
    /// # Errors
    /// When victoria-metrics is not installed, or it exits or is not ready in time (the error quotes
    /// its log).
    pub async fn start_with(options: VictoriaOptions) -> Result<Self> {
        with_free_ports(1, |ports| Self::start_on(ports[0], options.clone())).await
    }

    async fn start_on(port: u16, options: VictoriaOptions) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("victoria-")
            .tempdir()
            .context("creating a temp dir")?;
        let mut args = vec![
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-storageDataPath={}", dir.path().join("data").display()),
            "-retentionPeriod=100y".to_owned(),
        ];
        if options.dedup {
            args.push("-dedup.minScrapeInterval=1ms".to_owned());
        }
        let process = ChildProcess::spawn(
            "victoria-metrics",
            "victoria-metrics",
            args,
            dir.path().join("victoria.log"),
        )?;
        let client = loopback_client(Duration::from_secs(30))?;
        let mut server = Self {
            process,
            port,
            client,
            _dir: dir,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// The base URL, e.g. `http://127.0.0.1:43211` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Writes line protocol with millisecond timestamps through InfluxDB's v2 API
    /// (`POST /api/v2/write?org=&bucket=&precision=ms`; VictoriaMetrics ignores org, bucket and token).
    ///
    /// # Errors
    /// When the request fails or the answer is not 204. Note that samples outside the retention or
    /// more than 2 days ahead are dropped with a 204 all the same (only the log says so).
    pub async fn write_v2(&self, org: &str, bucket: &str, lines: &str) -> Result<()> {
        let response = self
            .client
            .post(format!("{}/api/v2/write", self.url()))
            .query(&[("org", org), ("bucket", bucket), ("precision", "ms")])
            .body(lines.to_owned())
            .send()
            .await
            .context("POST /api/v2/write")?;
        let status = response.status();
        if status != reqwest::StatusCode::NO_CONTENT {
            let body = response.text().await.unwrap_or_default();
            bail!("POST /api/v2/write answered {status}: {body}");
        }
        Ok(())
    }

    /// Asks the server to make buffered samples searchable now (`GET /internal/force_flush`, which
    /// 1.79 has); without it new samples show up in export only after a few seconds.
    ///
    /// # Errors
    /// When the request fails or the answer is not 2xx.
    pub async fn force_flush(&self) -> Result<()> {
        let response = self
            .client
            .get(format!("{}/internal/force_flush", self.url()))
            .send()
            .await
            .context("GET /internal/force_flush")?;
        if !response.status().is_success() {
            bail!("/internal/force_flush answered {}", response.status());
        }
        Ok(())
    }

    /// Every series matching `match_selector` (e.g. `{__name__=~"air_quality_.*"}`) with its raw
    /// samples, as `POST /api/v1/export` returns them (one JSON object per line). Sorted by labels.
    ///
    /// # Errors
    /// When the request fails, the status is not 2xx or a line is not a series.
    pub async fn export(&self, match_selector: &str) -> Result<Vec<ExportedSeries>> {
        let response = self
            .client
            .post(format!("{}/api/v1/export", self.url()))
            .form(&[("match[]", match_selector)])
            .send()
            .await
            .context("POST /api/v1/export")?;
        let status = response.status();
        let text = response.text().await.context("reading the export")?;
        if !status.is_success() {
            bail!("/api/v1/export match[]={match_selector} answered {status}: {text}");
        }
        let mut series = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).with_context(|| format!("export line `{line}`")))
            .collect::<Result<Vec<ExportedSeries>>>()?;
        series.sort_by(|a, b| a.metric.cmp(&b.metric));
        Ok(series)
    }

    /// Flushes and exports until `done` holds for the exported series, or `timeout` passes.
    ///
    /// # Errors
    /// When an export fails, or on timeout (the error shows the last export).
    pub async fn wait_for_export<F>(
        &self,
        match_selector: &str,
        timeout: Duration,
        mut done: F,
    ) -> Result<Vec<ExportedSeries>>
    where
        F: FnMut(&[ExportedSeries]) -> bool,
    {
        let deadline = Instant::now() + timeout;
        loop {
            self.force_flush().await?;
            let series = self.export(match_selector).await?;
            if done(&series) {
                return Ok(series);
            }
            if Instant::now() >= deadline {
                bail!(
                    "export of {match_selector} did not reach the expected state within {timeout:?}; \
                     last export: {series:?}\nlog tail:\n{}",
                    self.process.log_tail()
                );
            }
            tokio::time::sleep(EXPORT_POLL_INTERVAL).await;
        }
    }

    /// Stops the server gracefully (SIGTERM), keeping its storage; for outage tests.
    ///
    /// # Errors
    /// When the process cannot be signalled or reaped.
    pub async fn stop(&mut self) -> Result<()> {
        self.process.stop().await
    }

    /// Starts the server again on the same port and storage after [`VictoriaMetrics::stop`].
    ///
    /// # Errors
    /// As [`VictoriaMetrics::start_with`].
    pub async fn start_again(&mut self) -> Result<()> {
        self.process.start_again()?;
        self.wait_ready().await
    }

    /// The end of the server's log (for assertion messages).
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let health = format!("{}/health", self.url());
        let client = self.client.clone();
        self.process
            .wait_ready(READY_TIMEOUT, || {
                let request = client.get(&health).timeout(Duration::from_secs(2)).send();
                async move {
                    match request.await {
                        Ok(response) if response.status().is_success() => {
                            response.text().await.is_ok_and(|body| body.trim() == "OK")
                        }
                        _ => false,
                    }
                }
            })
            .await
    }
}
