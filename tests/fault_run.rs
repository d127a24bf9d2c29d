//! The delivery promise in one run: a fleet of 50 simulated nodes (the firmware's code, 40 air and
//! 10 water) at twelve frames a second each through real mosquitto (persistence on) to the
//! collector binary writing to real InfluxDB 1.6, for more than three minutes, while on a
//! schedule the collector is killed with -9 and restarted (twice, once while it spools), mosquitto
//! is restarted (twice), InfluxDB is stopped for 60 s, and 5 nodes reboot on a signed command.
//! At the end every frame the broker acknowledged to a node is in InfluxDB exactly once: the
//! figures (published, stored, stored twice, lost) are printed and go in `docs/collector.md`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use collector::config::BatchConfig;
use firmware::node::NodeConfig;
use protocol::command::Command;
use protocol::topic::DEFAULT_PREFIX;
use simulators::clock::{SimClock, Speed, wall_ms};
use simulators::fleet::{self, FleetConfig, FleetReport};
use simulators::signal::Scenario;
use support::{
    ChildProcess, Influx1, Mosquitto, MosquittoOptions, free_port, influx1_config, loopback_client,
};
use tokio_util::sync::CancellationToken;

const DATABASE: &str = "faults";
/// The collector's `batch.max_unacked`, and so the broker's `max_inflight_messages`
/// (docs/collector.md).
const MAX_UNACKED: usize = 2_500;
/// How long the fleet runs.
const RUN: Duration = Duration::from_secs(190);

/// The collector binary next to this test's binary (`scripts/test` builds every target).
fn collector_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(Path::parent).context("target dir")?;
    let path = dir.join("citysense-collector");
    ensure!(
        path.is_file(),
        "{} is missing: build it first (`cargo build -p collector`; scripts/test builds every target)",
        path.display()
    );
    Ok(path)
}

/// `citysense-collector run -c <file>` with `/readyz` to wait on.
struct Collector {
    process: ChildProcess,
    ready: String,
    client: reqwest::Client,
}

impl Collector {
    fn spawn(config: &collector::Config, dir: &Path) -> Result<Collector> {
        let path = dir.join("collector.toml");
        std::fs::write(&path, toml::to_string(config)?)?;
        let process = ChildProcess::spawn(
            &collector_binary()?.display().to_string(),
            "collector (cargo build)",
            vec!["run".into(), "-c".into(), path.display().to_string()],
            dir.join("collector.log"),
        )?;
        Ok(Collector {
            process,
            ready: format!("http://{}/readyz", config.http.listen),
            client: loopback_client(Duration::from_secs(2))?,
        })
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let (client, url) = (self.client.clone(), self.ready.clone());
        self.process
            .wait_ready(Duration::from_secs(60), || {
                let request = client.get(&url).send();
                async move { request.await.is_ok_and(|r| r.status().is_success()) }
            })
            .await
    }

    /// Started again after a kill: ready means connected and subscribed, not InfluxDB up.
    async fn restart_after_kill(&mut self) -> Result<()> {
        self.process.kill();
        self.process.start_again()?;
        let (client, url) = (self.client.clone(), self.ready.replace("/readyz", "/healthz"));
        self.process
            .wait_ready(Duration::from_secs(60), || {
                let request = client.get(&url).send();
                async move { request.await.is_ok_and(|r| r.status().is_success()) }
            })
            .await
    }
}

/// Every stored frame's (node, boot, seq), and the keys of the death frames (MQTT wills, which
/// the broker publishes for a node, not the node itself).
async fn stored(influx: &Influx1) -> Result<(Vec<(u32, u32, u32)>, BTreeSet<(u32, u32, u32)>)> {
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
    let deaths = query_keys(
        influx,
        "SELECT boot, seq FROM node_status WHERE kind = 'death' GROUP BY node",
    )
    .await?;
    Ok((keys, deaths.into_iter().collect()))
}

async fn query_keys(influx: &Influx1, influxql: &str) -> Result<Vec<(u32, u32, u32)>> {
    let answer = influx.query(DATABASE, influxql).await?;
    let mut keys = Vec::new();
    for series in answer["results"][0]["series"].as_array().into_iter().flatten() {
        let node: u32 = series["tags"]["node"].as_str().context("node tag")?.parse()?;
        for row in series["values"].as_array().context("values")? {
            let field = |i: usize| {
                row[i]
                    .as_u64()
                    .map(|v| v as u32)
                    .with_context(|| format!("row {row}"))
            };
            keys.push((node, field(1)?, field(2)?));
        }
    }
    Ok(keys)
}

fn fleet_config(mosquitto: &Mosquitto) -> FleetConfig {
    FleetConfig {
        host: mosquitto.host().into(),
        port: mosquitto.port(),
        prefix: DEFAULT_PREFIX.into(),
        client_prefix: "fault-node".into(),
        registry: simulators::stations::hau_giang(40, 10),
        node: NodeConfig {
            sample_interval_ms: 2_000,
            report_interval_ms: 10_000,
            ..NodeConfig::default()
        },
        // 120 simulated seconds a second: a frame every 10 s is twelve a second per node. The
        // clock starts far enough back that it never runs ahead of the wall clock.
        clock: SimClock::new(wall_ms() - 8 * 3_600_000, Speed::Factor(120.0)),
        frames_per_node: None,
        scenario: Scenario::default(),
        boot: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_nodes_through_kills_broker_restarts_a_database_outage_and_reboots_lose_nothing() -> Result<()>
{
    let mut mosquitto = Mosquitto::start(MosquittoOptions {
        persistence: true,
        max_inflight_messages: MAX_UNACKED,
        ..MosquittoOptions::default()
    })
    .await?;
    let mut influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let dir = tempfile::tempdir()?;
    let fleet = fleet_config(&mosquitto);
    let registry = fleet.registry.clone();
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;
    let mut config = influx1_config(
        &mosquitto,
        (&influx, DATABASE),
        "fault-collector",
        &registry_path,
        BatchConfig {
            max_frames: 500,
            max_age_ms: 200,
            max_unacked: MAX_UNACKED,
        },
        dir.path(),
    );
    config.http.listen = ([127, 0, 0, 1], free_port()?).into();
    let mut collector = Collector::spawn(&config, dir.path())?;
    collector.wait_ready().await?;

    let stop = CancellationToken::new();
    let running = tokio::spawn(fleet::run(fleet, stop.clone().cancelled_owned()));
    let started = Instant::now();
    let at = |s: u64| started + Duration::from_secs(s);
    let mut events: Vec<String> = Vec::new();
    let mut note = |what: &str| events.push(format!("{:>5.1} s  {what}", started.elapsed().as_secs_f64()));

    tokio::time::sleep_until(at(20).into()).await;
    collector.restart_after_kill().await?;
    note("collector killed (-9) and restarted");
    tokio::time::sleep_until(at(45).into()).await;
    mosquitto.restart().await?;
    note("mosquitto restarted (persistence on)");
    tokio::time::sleep_until(at(70).into()).await;
    influx.stop().await?;
    note("InfluxDB stopped");
    tokio::time::sleep_until(at(100).into()).await;
    collector.restart_after_kill().await?;
    note("collector killed (-9) while spooling, and restarted");
    tokio::time::sleep_until(at(130).into()).await;
    influx.start_again().await?;
    note("InfluxDB started again (60 s down)");
    tokio::time::sleep_until(at(145).into()).await;
    let rebooted: Vec<u32> = registry.nodes().map(|n| n.id).step_by(10).take(5).collect();
    for &node in &rebooted {
        simulators::downlink::send(
            mosquitto.host(),
            mosquitto.port(),
            DEFAULT_PREFIX,
            &registry,
            node,
            wall_ms(),
            Command::Reboot,
        )
        .await?;
    }
    note(&format!("reboot commanded to nodes {rebooted:?}"));
    tokio::time::sleep_until(at(165).into()).await;
    mosquitto.restart().await?;
    note("mosquitto restarted again");
    tokio::time::sleep_until(at(RUN.as_secs()).into()).await;
    stop.cancel();
    let report: FleetReport = running.await??;
    note("fleet stopped (every queued frame acknowledged by the broker)");

    let published: BTreeSet<(u32, u32, u32)> = report
        .sent
        .iter()
        .map(|s| (s.frame.node_id, s.frame.boot, s.frame.seq))
        .collect();
    ensure!(
        published.len() == report.sent.len(),
        "{} frames sent, {} distinct keys",
        report.sent.len(),
        published.len()
    );
    let deadline = Instant::now() + Duration::from_secs(180);
    let (keys, deaths) = loop {
        let (keys, deaths) = stored(&influx).await?;
        let have: BTreeSet<_> = keys.iter().copied().collect();
        if published.is_subset(&have) || Instant::now() > deadline {
            break (keys, deaths);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    note("collector drained");
    let mut per_key: BTreeMap<(u32, u32, u32), usize> = BTreeMap::new();
    for k in &keys {
        *per_key.entry(*k).or_default() += 1;
    }
    let twice = per_key.values().filter(|&&n| n > 1).count();
    let lost: Vec<_> = published.iter().filter(|k| !per_key.contains_key(k)).collect();
    let extra: Vec<_> = per_key
        .keys()
        .filter(|k| !published.contains(k) && !deaths.contains(k))
        .collect();
    let rebooted_boots: BTreeSet<u32> = report
        .sent
        .iter()
        .filter(|s| s.frame.boot > 1)
        .map(|s| s.frame.node_id)
        .collect();
    eprintln!("combined fault run, events:\n{}", events.join("\n"));
    eprintln!(
        "| nodes | run | published | stored | stored twice | lost | wills stored | nodes rebooted |\n|---|---|---|---|---|---|---|---|\n| {} | {} s | {} | {} | {twice} | {} | {} | {} |",
        registry.len(),
        RUN.as_secs(),
        published.len(),
        keys.len(),
        lost.len(),
        deaths.len(),
        rebooted_boots.len()
    );
    if !lost.is_empty() {
        bail!(
            "{} frames lost, e.g. {:?}\n{}",
            lost.len(),
            &lost[..lost.len().min(10)],
            collector.process.log_tail()
        );
    }
    ensure!(twice == 0, "{twice} frames stored twice");
    ensure!(extra.is_empty(), "stored without being published: {extra:?}");
    ensure!(
        rebooted_boots.len() == rebooted.len(),
        "nodes with a second boot: {rebooted_boots:?}, commanded {rebooted:?}"
    );
    collector.process.stop().await?;
    Ok(())
}
