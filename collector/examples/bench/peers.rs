//! The two peers, run on the same workload against VictoriaMetrics: a Node-RED flow and a Python
//! collector. Both ack on receipt (their clients do), unlike the collector.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::run::{broker, memory_mb, publish_all, victoria_count, victoria_count_fast};
use crate::support::{VictoriaMetrics, free_port};
use crate::workload::Workload;
use crate::{Args, Row};

/// The repository root (the bench runs from it or from `collector/`).
fn repo() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until VictoriaMetrics holds every frame or nothing arrives for 30 s; returns the time
/// the last frame was seen and the count.
async fn wait_stored(victoria: &VictoriaMetrics, want: u64) -> Result<(Instant, u64)> {
    let mut last = (Instant::now(), 0);
    loop {
        let n = victoria_count_fast(victoria).await.unwrap_or(last.1);
        if n > last.1 {
            last = (Instant::now(), n);
        }
        if n >= want || last.0.elapsed() > Duration::from_secs(30) {
            return Ok(last);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn node_red(args: &Args, workload: &Workload) -> Result<Row> {
    let install = repo().join(&args.peers_dir).join("node-red");
    let bin = install.join("node_modules/.bin/node-red");
    if !bin.exists() {
        bail!("{} is missing: run scripts/bench-collector", bin.display());
    }
    let victoria = VictoriaMetrics::start().await?;
    let broker = broker().await?;
    let dir = tempfile::Builder::new().prefix("bench-node-red-").tempdir()?;
    std::os::unix::fs::symlink(install.join("node_modules"), dir.path().join("node_modules"))?;
    let flow = std::fs::read_to_string(repo().join("collector/bench/node-red-flow.json"))?
        .replace("@MQTT_PORT@", &broker.port().to_string())
        .replace("@INFLUX_URL@", &victoria.url());
    std::fs::write(dir.path().join("flows.json"), flow)?;
    let ui = free_port()?;
    std::fs::write(
        dir.path().join("settings.js"),
        format!(
            "module.exports = {{ uiPort: {ui}, uiHost: '127.0.0.1', flowFile: 'flows.json', credentialSecret: false, \
             httpAdminRoot: false, logging: {{ console: {{ level: 'info' }} }} }};\n"
        ),
    )?;
    let mut child = Command::new(&bin)
        .arg("-u")
        .arg(dir.path())
        .arg("-s")
        .arg(dir.path().join("settings.js"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("node-red stdout")?;
    let child = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .context("Node-RED said nothing")?;
        if line.contains("Connected to broker") {
            break;
        }
        if line.contains("Error") || line.contains("Missing node types") {
            eprintln!("node-red: {line}");
        }
        if Instant::now() > deadline {
            bail!("Node-RED did not connect to the broker");
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = publish_all(broker.port(), workload.json_messages(), args, "node-red").await?;
    let (done, _) = wait_stored(&victoria, workload.frames as u64).await?;
    let stored = victoria_count(&victoria).await?;
    let rss = memory_mb(child.0.id(), "VmHWM");
    drop(child);
    let row = Row {
        what: "peer: Node-RED 4.1.8 flow (mqtt in -> influxdb batch, v2 API)".into(),
        frames: workload.frames,
        seconds: (done - started).as_secs_f64(),
        lost: workload.frames as i64 - stored as i64,
        rss_mb: rss,
        note: format!(
            "JSON payload (cannot read postcard), batches of 1,000, acks on receipt; stored {stored}"
        ),
    };
    eprintln!("{row:?}");
    Ok(row)
}

pub async fn python(args: &Args, workload: &Workload) -> Result<Row> {
    let python = repo().join(&args.peers_dir).join("py/bin/python");
    if !python.exists() {
        bail!("{} is missing: run scripts/bench-collector", python.display());
    }
    let victoria = VictoriaMetrics::start().await?;
    let broker = broker().await?;
    let dir = tempfile::Builder::new().prefix("bench-python-").tempdir()?;
    let registry: BTreeMap<String, (String, String, String)> = workload
        .registry
        .nodes()
        .map(|n| {
            let key = n
                .key
                .as_ref()
                .map(|k| hex::encode(k.as_bytes()))
                .unwrap_or_default();
            (n.id.to_string(), (n.station.clone(), n.district.clone(), key))
        })
        .collect();
    let registry_path = dir.path().join("registry.json");
    std::fs::write(&registry_path, serde_json::to_string(&registry)?)?;
    let mut child = Command::new(&python)
        .arg(repo().join("collector/bench/peer_collector.py"))
        .args([
            "--port",
            &broker.port().to_string(),
            "--url",
            &victoria.url(),
            "--batch",
            "5000",
            "--registry",
        ])
        .arg(&registry_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("python stdout")?;
    let child = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    match lines.next() {
        Some(Ok(line)) if line.contains("subscribed") => {}
        other => bail!("the Python peer did not subscribe: {other:?}"),
    }
    let started = publish_all(broker.port(), workload.messages(), args, "python").await?;
    let (done, _) = wait_stored(&victoria, workload.frames as u64).await?;
    let stored = victoria_count(&victoria).await?;
    let rss = memory_mb(child.0.id(), "VmHWM");
    drop(child);
    let row = Row {
        what: "peer: Python (paho-mqtt 2.2 + influxdb-client 1.50, v2 API)".into(),
        frames: workload.frames,
        seconds: (done - started).as_secs_f64(),
        lost: workload.frames as i64 - stored as i64,
        rss_mb: rss,
        note: format!(
            "decodes and verifies the same postcard frames, batches of 5,000, acks on receipt; stored {stored}"
        ),
    };
    eprintln!("{row:?}");
    Ok(row)
}
