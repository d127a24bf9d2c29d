//! Headless Chromium (Debian package `chromium`) driven over the DevTools protocol: open a page,
//! evaluate JavaScript in it, wait for a condition, take a screenshot. The flags are the ones
//! `shared/reference/services.md` gives (no background networking: this network refuses it).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::process::ChildProcess;

/// How long Chromium may take to open its DevTools port.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running headless Chromium with an empty profile; killed on drop.
#[derive(Debug)]
pub struct Chromium {
    process: ChildProcess,
    port: u16,
    _dir: TempDir,
}

impl Chromium {
    /// Starts Chromium on `url`; returns once its DevTools endpoint answers.
    ///
    /// # Errors
    /// When chromium is not installed, or it exits or is not ready in time (the error quotes its log).
    pub async fn start(url: &str, window: (u32, u32)) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("chromium-").tempdir()?;
        let profile = dir.path().join("profile");
        std::fs::create_dir(&profile)?;
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={},{}", window.0, window.1),
            url.to_owned(),
        ])
        .collect();
        let mut process = ChildProcess::spawn("chromium", "chromium", args, dir.path().join("chromium.log"))?;
        // Chromium writes the port it picked to DevToolsActivePort in the profile.
        let port_file = profile.join("DevToolsActivePort");
        process
            .wait_ready(READY_TIMEOUT, || {
                let ready = port_file.exists();
                async move { ready }
            })
            .await?;
        let text = std::fs::read_to_string(&port_file).context("reading DevToolsActivePort")?;
        let port = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| anyhow!("DevToolsActivePort holds no port: {text:?}"))?;
        Ok(Chromium {
            process,
            port,
            _dir: dir,
        })
    }

    /// The first page target, connected.
    ///
    /// # Errors
    /// When no page is open or the WebSocket does not connect.
    pub async fn page(&self) -> Result<Page> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let targets: Value = reqwest::Client::builder()
                .no_proxy()
                .build()?
                .get(format!("http://127.0.0.1:{}/json/list", self.port))
                .send()
                .await?
                .json()
                .await?;
            let ws = targets
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                .map(str::to_owned);
            if let Some(ws) = ws {
                let (socket, _) = tokio_tungstenite::connect_async(ws.as_str())
                    .await
                    .context("connecting to the page's DevTools socket")?;
                return Ok(Page { socket, next_id: 1 });
            }
            if Instant::now() > deadline {
                bail!("Chromium opened no page: {targets}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The end of Chromium's log.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// One page, over the DevTools protocol.
pub struct Page {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Page {
    /// Sends a command and returns its `result`.
    ///
    /// # Errors
    /// When the socket fails or the command answers an error.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(Message::text(message)).await?;
        while let Some(frame) = self.socket.next().await {
            let Message::Text(text) = frame? else { continue };
            let answer: Value = serde_json::from_str(text.as_str())?;
            if answer["id"] == id {
                if let Some(error) = answer.get("error") {
                    bail!("{method} failed: {error}");
                }
                return Ok(answer["result"].clone());
            }
        }
        bail!("the DevTools socket closed")
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value.
    ///
    /// # Errors
    /// When the call fails or the expression throws.
    pub async fn eval(&mut self, expression: &str) -> Result<Value> {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await?;
        if let Some(exception) = result.get("exceptionDetails") {
            bail!("`{expression}` threw: {exception}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Polls `expression` until it is truthy; returns its value.
    ///
    /// # Errors
    /// When `timeout` passes first (the error shows the last value).
    pub async fn wait_for(&mut self, expression: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression).await?;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for `{expression}` (last value {value})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Saves a PNG screenshot of the page.
    ///
    /// # Errors
    /// When the capture or the write fails.
    pub async fn screenshot(&mut self, path: &Path) -> Result<()> {
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await?;
        let data = shot["data"].as_str().context("screenshot data")?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(data)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
    }
}
