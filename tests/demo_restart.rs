//! The all-in-one command as a user runs it, on real mosquitto (persistence on, `--broker`) and
//! writing to a real InfluxDB 1.6: started, stopped with SIGTERM and started again on the same
//! data directory, then killed with -9 and started once more. Every run boots the nodes with the next boot counter (kept in the data directory), so no
//! frame reuses a key of the run before; no frame is stored twice, none is lost (no gap in any
//! node's seqs but its wills'); the acknowledged PM2.5 alert
//! of the forced episode is the same alert, still acknowledged, after each restart; the hourly
//! means of the hours complete before the first stop are identical after each restart (the IOC
//! rebuilds them from InfluxDB, which holds the readings); nothing is dead-lettered.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use ioc_api::auth::Role;
use ioc_api::store::Store;
use serde_json::{Value, json};
use support::{ChildProcess, Influx1, Mosquitto, MosquittoOptions, free_port};

const WAIT: Duration = Duration::from_secs(120);
const DATABASE: &str = "demo";

/// The all-in-one binary next to this test's binary (`scripts/test` builds every target).
fn binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(Path::parent).context("target dir")?;
    let path = dir.join("citysense");
    ensure!(
        path.is_file(),
        "{} is missing: build it first (`cargo build`; scripts/test builds every target)",
        path.display()
    );
    Ok(path)
}

struct Run {
    client: reqwest::Client,
    url: String,
}

impl Run {
    async fn get(&self, path: &str) -> Result<Value> {
        let response = self.client.get(format!("{}{path}", self.url)).send().await?;
        ensure!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        Ok(response.json().await?)
    }

    /// The demo's forced PM2.5 episode alert, once the backfill has made it fire.
    async fn episode_alert(&self, demo: &mut ChildProcess) -> Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let alerts = self.get("/api/v1/alerts").await?;
            let open = alerts.as_array().into_iter().flatten().find(|a| {
                a["parameter"] == "pm2_5" && matches!(a["state"].as_str(), Some("firing" | "acknowledged"))
            });
            if let Some(alert) = open {
                return Ok(alert.clone());
            }
            if tokio::time::Instant::now() > deadline || !demo.is_running() {
                bail!("no PM2.5 alert: {alerts}\n{}", demo.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Per station, the hourly means of the hours that started before `before` (RFC 3339).
    async fn hourly(&self, stations: &[String], before: &str) -> Result<BTreeMap<String, Value>> {
        let mut means = BTreeMap::new();
        for station in stations {
            let hourly = self.get(&format!("/api/v1/stations/{station}/hourly")).await?;
            let hours = hourly["hours"].as_array().context("hours")?;
            let complete: Vec<usize> = (0..hours.len())
                .filter(|&i| hours[i].as_str().is_some_and(|h| h < before))
                .collect();
            let series = hourly["series"].as_object().context("series")?;
            for (param, values) in series {
                let values = values.as_array().context("values")?;
                let kept: Vec<Value> = complete
                    .iter()
                    .map(|&i| json!([hours[i], values.get(i)]))
                    .collect();
                means.insert(format!("{station}/{param}"), Value::Array(kept));
            }
        }
        Ok(means)
    }
}

async fn wait_ready(run: &Run, demo: &mut ChildProcess) -> Result<()> {
    let ready = format!("{}/readyz", run.url);
    let client = run.client.clone();
    demo.wait_ready(WAIT, || {
        let request = client.get(&ready).send();
        async move { request.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await
}

/// Every stored frame's (node, boot, seq), over the three measurements.
async fn stored_keys(influx: &Influx1) -> Result<Vec<(u32, u32, u32)>> {
    let mut keys = Vec::new();
    for measurement in ["air_quality", "water_quality", "node_status"] {
        keys.extend(
            query_keys(
                influx,
                &format!("SELECT boot, seq FROM {measurement} GROUP BY node"),
            )
            .await?,
        );
    }
    Ok(keys)
}

/// The (node, boot, seq) of what `influxql` selects (`boot, seq ... GROUP BY node`).
async fn query_keys(influx: &Influx1, influxql: &str) -> Result<Vec<(u32, u32, u32)>> {
    let answer = influx.query(DATABASE, influxql).await?;
    let mut keys = Vec::new();
    for series in answer["results"][0]["series"].as_array().into_iter().flatten() {
        let node: u32 = series["tags"]["node"].as_str().context("node tag")?.parse()?;
        for row in series["values"].as_array().context("values")? {
            let field = |i: usize| row[i].as_u64().map(|v| v as u32).context("boot/seq field");
            keys.push((node, field(1)?, field(2)?));
        }
    }
    Ok(keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_restarted_and_killed_stores_every_frame_once_and_keeps_its_alert() -> Result<()> {
    let binary = binary()?;
    let mosquitto = Mosquitto::start(MosquittoOptions {
        persistence: true,
        ..MosquittoOptions::default()
    })
    .await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let port = free_port()?;
    let args: Vec<String> = [
        "--data-dir",
        &data.display().to_string(),
        "--broker",
        &format!("{}:{}", mosquitto.host(), mosquitto.port()),
        "--api-listen",
        &format!("127.0.0.1:{port}"),
        "--air",
        "3",
        "--water",
        "1",
        "--backfill",
        "2h",
        "--influx-url",
        &influx.url(),
        "--influx-database",
        DATABASE,
    ]
    .map(str::to_owned)
    .to_vec();
    let run = Run {
        client: reqwest::Client::builder().no_proxy().build()?,
        url: format!("http://127.0.0.1:{port}"),
    };
    let mut demo = ChildProcess::spawn(
        &binary.display().to_string(),
        "citysense (cargo build)",
        args,
        dir.path().join("demo.log"),
    )?;
    wait_ready(&run, &mut demo).await?;
    let alert = run.episode_alert(&mut demo).await?;
    let id = alert["id"].as_i64().context("alert id")?;
    let store = Store::open(&data.join("ioc-api.sqlite")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let operator = ioc_api::http::create_token(
        &store,
        "duty",
        Role::Operator,
        "test",
        time::OffsetDateTime::now_utc(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .context("token name taken")?;
    drop(store);
    // The API takes a new token within a second.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let acked = run
            .client
            .post(format!("{}/api/v1/alerts/{id}/ack", run.url))
            .bearer_auth(&operator)
            .json(&json!({"comment": "đội kiểm tra đã đến"}))
            .send()
            .await?;
        if acked.status().is_success() {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "ack: {} {}",
            acked.status(),
            acked.text().await?
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let acknowledged_at = alert_acknowledged_at(&run, id).await?;
    ensure!(acknowledged_at.is_string(), "acknowledged_at: {acknowledged_at}");
    let stations: Vec<String> = run
        .get("/api/v1/stations")
        .await?
        .as_array()
        .context("stations")?
        .iter()
        .filter_map(|s| s["station"].as_str().map(str::to_owned))
        .collect();
    ensure!(stations.len() == 4, "stations: {stations:?}");
    // Hours that began more than an hour ago are complete and can no longer change.
    let an_hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let before = an_hour_ago
        .format(&time::format_description::well_known::Rfc3339)
        .context("format")?;
    let means = run.hourly(&stations, &before).await?;
    ensure!(
        means
            .values()
            .any(|v| v.as_array().is_some_and(|a| !a.is_empty())),
        "no complete hours to compare before {before}: {means:?}"
    );

    for (restart, how) in [(1, "SIGTERM"), (2, "kill -9")] {
        // Let the run after the backfill send a frame or two of its own.
        tokio::time::sleep(Duration::from_secs(3)).await;
        if how == "SIGTERM" {
            demo.stop().await?;
        } else {
            demo.kill();
        }
        demo.start_again()?;
        wait_ready(&run, &mut demo).await?;
        let after = run.episode_alert(&mut demo).await?;
        ensure!(
            after["id"].as_i64() == Some(id)
                && after["state"] == "acknowledged"
                && after["acknowledged_at"] == acknowledged_at,
            "restart {restart} ({how}): the alert changed: {after}"
        );
        let means_after = run.hourly(&stations, &before).await?;
        let changed: Vec<String> = means
            .iter()
            .filter(|(series, hours)| means_after.get(*series) != Some(*hours))
            .map(|(series, hours)| {
                let tail = |v: Option<&Value>| {
                    let a = v.and_then(Value::as_array).cloned().unwrap_or_default();
                    Value::Array(a[a.len().saturating_sub(2)..].to_vec())
                };
                format!(
                    "{series}: before {}, after {}",
                    tail(Some(hours)),
                    tail(means_after.get(series))
                )
            })
            .collect();
        ensure!(
            changed.is_empty(),
            "restart {restart} ({how}): hourly means changed:\n{}",
            changed.join("\n")
        );
        // Each node boots once more: every node's newest boot goes up by one.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let keys = stored_keys(&influx).await?;
            let newest: BTreeMap<u32, u32> = keys.iter().fold(BTreeMap::new(), |mut m, &(n, b, _)| {
                let e = m.entry(n).or_insert(b);
                *e = (*e).max(b);
                m
            });
            if newest.len() == 4 && newest.values().all(|&b| b == 1 + restart) {
                break;
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "restart {restart} ({how}): newest boots {newest:?}\n{}",
                demo.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    demo.stop().await?;

    let keys = stored_keys(&influx).await?;
    let mut once = BTreeSet::new();
    let twice: Vec<_> = keys.iter().filter(|k| !once.insert(**k)).collect();
    ensure!(twice.is_empty(), "stored twice: {twice:?}");
    let mut per_boot: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    for &(node, boot, _) in &keys {
        *per_boot.entry((node, boot)).or_default() += 1;
    }
    // Nothing lost, the kill -9 included (mosquitto kept what it had acknowledged to the nodes):
    // a node's seqs run without a gap but one before each birth frame, the seq its MQTT will took
    // at connect (the broker publishes the will only when a node's connection breaks).
    let births: BTreeSet<(u32, u32, u32)> = query_keys(
        &influx,
        "SELECT boot, seq FROM node_status WHERE kind = 'birth' GROUP BY node",
    )
    .await?
    .into_iter()
    .collect();
    for &(node, boot) in per_boot.keys() {
        let seqs: BTreeSet<u32> = keys
            .iter()
            .filter(|k| (k.0, k.1) == (node, boot))
            .map(|k| k.2)
            .collect();
        let top = seqs.last().copied().unwrap_or(0);
        let missing: Vec<u32> = (0..=top)
            .filter(|s| !seqs.contains(s) && !births.contains(&(node, boot, s + 1)))
            .collect();
        ensure!(
            missing.is_empty(),
            "node {node} boot {boot}: seqs {missing:?} missing"
        );
    }
    let dead_letters = std::fs::read_to_string(data.join("dead-letter.jsonl")).unwrap_or_default();
    ensure!(
        dead_letters.trim().is_empty(),
        "dead-lettered across the restarts:\n{dead_letters}"
    );
    // A run's only duplicates are the retained status frames mosquitto hands a new subscription
    // again, one a node at most: the new runs' frames are all new.
    let log = std::fs::read_to_string(demo.log_path())?;
    let duplicates: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("Collector stopped"))
        .filter_map(|l| l.split(" duplicates,").next()?.rsplit(' ').next()?.parse().ok())
        .collect();
    ensure!(
        duplicates.len() == 2 && duplicates.iter().all(|&d| d <= stations.len() as u64),
        "duplicates in the collector's stop lines (SIGTERM and the last stop): {duplicates:?}"
    );
    eprintln!(
        "demo restart: {} frames stored once each over 3 runs (SIGTERM, then kill -9); frames per (node, boot): {per_boot:?}; alert {id} kept acknowledged; {} hourly series identical",
        keys.len(),
        means.len()
    );
    Ok(())
}

async fn alert_acknowledged_at(run: &Run, id: i64) -> Result<Value> {
    let alert = run.get(&format!("/api/v1/alerts/{id}")).await?;
    Ok(alert["acknowledged_at"].clone())
}
