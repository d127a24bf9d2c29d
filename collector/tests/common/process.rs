//! The collector binary as a process of its own, for tests that kill it like a crash.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use collector::Config;

use crate::support::{ChildProcess, free_port, loopback_client};

/// `citysense-collector run -c <file>` as a child process; killed on drop.
pub struct CollectorProcess {
    process: ChildProcess,
    http: String,
    client: reqwest::Client,
    config: Config,
    path: PathBuf,
}

impl CollectorProcess {
    /// Writes `config` (with HTTP on a free port) to `dir/<client_id>.toml` and starts the binary.
    ///
    /// # Errors
    /// When the file cannot be written or the process cannot start.
    pub fn spawn(mut config: Config, dir: &Path) -> Result<Self> {
        let port = free_port()?;
        config.http.listen = ([127, 0, 0, 1], port).into();
        let path = dir.join(format!("{}.toml", config.mqtt.client_id));
        std::fs::write(&path, toml::to_string(&config)?).context("writing the collector config")?;
        let config_path = path.clone();
        let kept = config.clone();
        let binary = PathBuf::from(env!("CARGO_BIN_EXE_citysense-collector"));
        let log = dir.join(format!("{}.log", config.mqtt.client_id));
        // An absolute path as the "binary": the harness's lookup joins it onto each directory,
        // which yields the path itself.
        let process = ChildProcess::spawn(
            &binary.display().to_string(),
            "collector",
            vec!["run".into(), "-c".into(), path.display().to_string()],
            log,
        )?;
        Ok(CollectorProcess {
            process,
            http: format!("http://127.0.0.1:{port}"),
            client: loopback_client(Duration::from_secs(5))?,
            config: kept,
            path: config_path,
        })
    }

    /// Waits until `/readyz` answers 200 (connected and subscribed).
    ///
    /// # Errors
    /// When the process exits or is not ready within 30 s.
    pub async fn wait_ready(&mut self) -> Result<()> {
        for attempt in 1..=3 {
            let url = format!("{}/readyz", self.http);
            let client = self.client.clone();
            let ready = self
                .process
                .wait_ready(Duration::from_secs(30), || {
                    let request = client.get(&url).send();
                    async move { request.await.is_ok_and(|r| r.status().is_success()) }
                })
                .await;
            match ready {
                // Between a kill and the restart another test can take the metrics port (as
                // an ephemeral port of one of its connections): move to a new one.
                Err(e) if attempt < 3 && format!("{e:#}").contains("cannot listen on http.listen") => {
                    let port = free_port()?;
                    self.config.http.listen = ([127, 0, 0, 1], port).into();
                    self.http = format!("http://127.0.0.1:{port}");
                    std::fs::write(&self.path, toml::to_string(&self.config)?)?;
                    self.process.start_again()?;
                }
                other => return other,
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The `citysense_collector_*` samples of `/metrics` without labels, by name.
    ///
    /// # Errors
    /// When the endpoint does not answer.
    pub async fn metrics(&self) -> Result<BTreeMap<String, f64>> {
        let text = self
            .client
            .get(format!("{}/metrics", self.http))
            .send()
            .await?
            .text()
            .await?;
        Ok(parse_metrics(&text))
    }

    /// Kills the process (SIGKILL, like a crash).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Stops it with SIGTERM and waits for it to exit.
    ///
    /// # Errors
    /// When it cannot be signalled.
    pub async fn stop(&mut self) -> Result<()> {
        self.process.stop().await
    }

    /// Starts the same command again.
    ///
    /// # Errors
    /// When it cannot be spawned.
    pub fn start_again(&mut self) -> Result<()> {
        self.process.start_again()
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// The end of its log.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// Parses Prometheus text into `name{labels} -> value` (labels kept in the name).
pub fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((
                name.trim_start_matches("citysense_collector_").to_owned(),
                value.parse().ok()?,
            ))
        })
        .collect()
}
