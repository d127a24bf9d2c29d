//! A re-flashed node (its settings flash, and with it the boot counter, wiped) against the
//! collector writing to real InfluxDB 1.6 and the IOC API, through real mosquitto. Its second life
//! numbers frames from boot 1, seq 0 again, with other bytes: none is counted as a duplicate; the
//! collector dead-letters each as `seq_reused` (its last frames' bytes are known) or `replay`
//! (older), stores none, and counts them in `/metrics`; the IOC API refuses the same frames, shows
//! them on the station's health, and fires its `sequence_reset` alert.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use collector::config::BatchConfig;
use serde_json::Value;
use simulators::fleet::{self, FleetOptions, FleetReport};
use support::{
    InProcess, Influx1, Mosquitto, MosquittoOptions, influx1_config, ioc_config, paced_fleet, start_ioc,
};

const DATABASE: &str = "reflash";
const FRAMES: u32 = 40;
const WAIT: Duration = Duration::from_secs(60);

async fn wait_for<F: FnMut() -> bool>(what: &str, mut done: F) -> Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        if tokio::time::Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The (boot, seq) of every frame of `node` stored in InfluxDB.
async fn stored(influx: &Influx1, node: u32) -> Result<Vec<(u32, u32)>> {
    let mut keys = Vec::new();
    for measurement in ["air_quality", "node_status"] {
        let answer = influx
            .query(
                DATABASE,
                &format!("SELECT boot, seq FROM {measurement} WHERE node = '{node}'"),
            )
            .await?;
        for row in answer["results"][0]["series"][0]["values"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let field = |i: usize| row[i].as_u64().map(|v| v as u32).context("boot/seq");
            keys.push((field(1)?, field(2)?));
        }
    }
    Ok(keys)
}

fn keys_of(report: &FleetReport) -> Vec<(u32, u32)> {
    report.sent.iter().map(|s| (s.frame.boot, s.frame.seq)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reflashed_nodes_reused_keys_are_refused_shown_and_alerted_never_duplicates() -> Result<()> {
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let dir = tempfile::tempdir()?;
    let registry = simulators::stations::hau_giang(1, 0);
    let node = registry.nodes().next().context("one node")?.clone();
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;
    let config = influx1_config(
        &mosquitto,
        (&influx, DATABASE),
        "reflash-collector",
        &registry_path,
        BatchConfig::default(),
        dir.path(),
    );
    let collector = InProcess::start(config, registry.clone()).await?;
    let ioc = start_ioc(
        ioc_config(&mosquitto, "reflash-ioc", &registry_path, dir.path()),
        &registry,
    )
    .await?;
    let settings = dir.path().join("node-flash");
    let options = FleetOptions {
        settings_dir: Some(settings.clone()),
        ..FleetOptions::default()
    };

    let first = fleet::run_with(
        paced_fleet(&mosquitto, registry.clone(), "reflash-node", FRAMES),
        options.clone(),
        std::future::pending(),
    )
    .await?;
    let first_keys = keys_of(&first);
    let stats = &collector.stats;
    wait_for("the first life to be written", || {
        stats.snapshot().written == first_keys.len() as u64
    })
    .await?;

    // Re-flashed: the settings flash is gone, so the node boots as boot 1 again.
    std::fs::remove_dir_all(&settings)?;
    let second = fleet::run_with(
        paced_fleet(&mosquitto, registry.clone(), "reflash-node", FRAMES),
        options,
        std::future::pending(),
    )
    .await?;
    let second_keys = keys_of(&second);
    ensure!(
        second_keys.iter().all(|&(boot, _)| boot == 1),
        "the re-flashed node boots as 1: {second_keys:?}"
    );
    let seen: BTreeSet<(u32, u32)> = first_keys.iter().copied().collect();
    let reused = second_keys.iter().filter(|k| seen.contains(k)).count() as u64;
    let fresh = second_keys.len() as u64 - reused;
    ensure!(reused > 0, "the second life reuses no key: {second_keys:?}");
    let refused = |s: &collector::StatsSnapshot| {
        s.rejected.get("seq_reused").copied().unwrap_or(0) + s.rejected.get("replay").copied().unwrap_or(0)
    };
    wait_for("the second life to be refused", || {
        let s = stats.snapshot();
        refused(&s) == reused && s.written == first_keys.len() as u64 + fresh
    })
    .await?;
    let end = stats.snapshot();
    ensure!(end.duplicates == 0, "counted as duplicates: {end:?}");
    let seq_reused = end.rejected.get("seq_reused").copied().unwrap_or(0);
    ensure!(seq_reused >= 1, "no frame dead-lettered as seq_reused: {end:?}");

    // Nothing of the second life under a reused key is stored; the first life is, once each.
    let keys = stored(&influx, node.id).await?;
    let unique: BTreeSet<(u32, u32)> = keys.iter().copied().collect();
    ensure!(unique.len() == keys.len(), "a key stored twice: {keys:?}");
    ensure!(
        keys.len() as u64 == first_keys.len() as u64 + fresh,
        "stored {} points, first life {} + fresh keys {fresh}",
        keys.len(),
        first_keys.len()
    );
    let (dead_letters, _) = collector::dead_letter::read_all(&dir.path().join("dead-letter.jsonl"))?;
    ensure!(
        dead_letters.len() as u64 == reused,
        "dead letters {} for {reused} reused keys",
        dead_letters.len()
    );

    // The metric, and the same frames refused by the IOC API: on the station and as an alert.
    let client = reqwest::Client::builder().no_proxy().build()?;
    let metrics = client
        .get(format!("http://{}/metrics", collector.http))
        .send()
        .await?
        .text()
        .await?;
    let line = format!("citysense_collector_rejected_total{{reason=\"seq_reused\"}} {seq_reused}");
    ensure!(metrics.contains(&line), "{line} not in /metrics:\n{metrics}");
    let station_url = format!("{}/api/v1/stations/{}", ioc.url, node.station);
    let deadline = tokio::time::Instant::now() + WAIT;
    let station: Value = loop {
        let station: Value = client.get(&station_url).send().await?.json().await?;
        let shown = station["frames_refused"]["seq_reused"].as_u64().unwrap_or(0)
            + station["frames_refused"]["replays"].as_u64().unwrap_or(0);
        if shown == reused {
            break station;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "station health: {station}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure!(
        station["frames_refused"]["seq_reused"].as_u64() == Some(seq_reused),
        "the IOC API and the collector disagree: {station} vs {end:?}"
    );
    let alerts: Value = client
        .get(format!("{}/api/v1/alerts?station={}", ioc.url, node.station))
        .send()
        .await?
        .json()
        .await?;
    let alert = alerts
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["parameter"] == "sequence_reset")
        .with_context(|| format!("no sequence_reset alert: {alerts}"))?;
    let expected_state = if fresh > 0 { "resolved" } else { "firing" };
    ensure!(alert["state"] == expected_state, "{alert}");

    eprintln!(
        "re-flash: first life {} frames stored; second life {} frames, {reused} under reused keys (seq_reused {seq_reused}, replay {}), {fresh} new; duplicates 0; the IOC shows {} reused and a sequence_reset alert ({expected_state})",
        first_keys.len(),
        second_keys.len(),
        reused - seq_reused,
        station["frames_refused"]["seq_reused"]
    );
    ioc.stop.cancel();
    ioc.task.await??;
    collector.stop().await
}
