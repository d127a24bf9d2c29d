//! The whole path on real services: simulated nodes running the firmware's code publish through
//! real mosquitto; one collector writes to real InfluxDB 1.6 through the v1 API, another to real
//! VictoriaMetrics through the v2 API; the IOC API raises and resolves a PM2.5 alert from a forced
//! episode. Hostile frames are rejected, counted and dead-lettered while everything keeps running.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use collector::config::{
    BatchConfig, DeadLetterConfig, HttpConfig, RegistryConfig, ShutdownConfig, SinkConfig, SpoolConfig,
};
use collector::{Collector, StatsSnapshot};
use firmware::node::NodeConfig;
use futures::StreamExt;
use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN, WaterSample};
use serde_json::Value;
use service::Secret;
use service::mqtt::MqttConfig;
use simulators::clock::{SimClock, Speed, wall_ms};
use simulators::fleet::{self, FleetConfig, FleetReport, SentFrame};
use simulators::signal::{Episode, Scenario};
use support::{Influx1, Mosquitto, MosquittoOptions, TestClient, VictoriaMetrics, take_events};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const DATABASE: &str = "citysense";
const MINUTE_MS: u64 = 60_000;
/// Three simulated hours at one frame a minute per node.
const FRAMES_PER_NODE: u32 = 180;
const EPISODE_NODE: u32 = 101;
const DEADLINE: Duration = Duration::from_secs(120);

fn collector_config(
    mosquitto: &Mosquitto,
    client_id: &str,
    registry: &Path,
    sink: SinkConfig,
    dir: &Path,
) -> collector::Config {
    collector::Config {
        mqtt: MqttConfig::new(mosquitto.host(), mosquitto.port(), client_id),
        registry: RegistryConfig {
            path: registry.to_owned(),
        },
        sink,
        batch: BatchConfig {
            max_frames: 500,
            max_age_ms: 200,
            ..BatchConfig::default()
        },
        dead_letter: DeadLetterConfig::at(dir.join(format!("{client_id}-dead-letter.jsonl"))),
        spool: SpoolConfig::at(dir.join(format!("{client_id}-spool"))),
        http: HttpConfig {
            listen: "127.0.0.1:0".parse().expect("an address"),
        },
        shutdown: ShutdownConfig::default(),
    }
}

/// One server-sent event: its type and JSON data.
#[derive(Debug, Clone)]
struct SseEvent {
    kind: String,
    data: Value,
}

/// Reads `/api/v1/stream` in the background and forwards each event.
fn follow_stream(url: String, stop: CancellationToken) -> mpsc::UnboundedReceiver<SseEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let Ok(response) = reqwest::get(&url).await else {
            return;
        };
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        loop {
            let chunk = tokio::select! {
                () = stop.cancelled() => return,
                chunk = body.next() => chunk,
            };
            let Some(Ok(chunk)) = chunk else { return };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            for block in take_events(&mut buffer) {
                if let (Some(kind), Some(data)) = (block.event, block.data)
                    && let Ok(data) = serde_json::from_str(&data)
                {
                    let _ = tx.send(SseEvent { kind, data });
                }
            }
        }
    });
    rx
}

/// A valid frame from `node` signed with its key, for the hostile-input part.
fn signed_frame(node: &NodeInfo) -> Result<Vec<u8>> {
    let frame = Frame {
        node_id: node.id,
        boot: 999,
        seq: 0,
        time_ms: wall_ms() - 10 * MINUTE_MS,
        body: Body::Air(AirSample {
            samples: 1,
            pm2_5: Some(123),
            ..AirSample::default()
        }),
    };
    let mut buf = [0u8; MAX_FRAME_LEN];
    Ok(frame.encode(node.key.as_ref(), &mut buf)?.to_vec())
}

async fn wait_until<F: FnMut() -> bool>(what: &str, mut done: F) -> Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !done() {
        if tokio::time::Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frames_flow_from_simulated_nodes_to_both_databases_and_raise_an_alert() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let victoria = VictoriaMetrics::start().await?;

    let registry = simulators::stations::hau_giang(7, 3);
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;

    // Two collectors, each with its own session on the same topics: v1 API to InfluxDB 1.6, v2 API
    // to VictoriaMetrics.
    let v1_sink = SinkConfig::influx_v1(influx.url(), DATABASE);
    let v2_sink = SinkConfig::InfluxV2 {
        url: victoria.url(),
        org: "haugiang".into(),
        bucket: "telemetry".into(),
        token: Secret::new("unused-by-victoria-metrics"),
        token_file: None,
        gzip: true,
        timeout_ms: 10_000,
    };
    let v1_config = collector_config(&mosquitto, "collector-v1", &registry_path, v1_sink, dir.path());
    let v2_config = collector_config(&mosquitto, "collector-v2", &registry_path, v2_sink, dir.path());
    let v1_dead_letters = v1_config.dead_letter.path.clone();
    let v1 = Collector::new(v1_config, registry.clone())?;
    let v2 = Collector::new(v2_config, registry.clone())?;
    let (v1_stats, v2_stats) = (v1.stats(), v2.stats());
    let mut ready = vec![v1.subscribed(), v2.subscribed()];

    let ioc_config = ioc_api::Config::new(
        "127.0.0.1:0".parse()?,
        MqttConfig::new(mosquitto.host(), mosquitto.port(), "ioc-api"),
        registry_path.clone(),
        dir.path().join("ioc-api.sqlite"),
    );
    let ioc = ioc_api::IocApi::bind(ioc_config, registry.clone()).await?;
    let api = format!("http://{}", ioc.local_addr()?);
    let ioc_state = ioc.state();
    ready.push(ioc_state.subscribed());

    let stop = CancellationToken::new();
    let v1_task = tokio::spawn(v1.run(stop.clone().cancelled_owned()));
    let v2_task = tokio::spawn(v2.run(stop.clone().cancelled_owned()));
    let ioc_task = tokio::spawn(ioc.run(stop.clone().cancelled_owned()));
    for subscribed in &mut ready {
        tokio::time::timeout(DEADLINE, subscribed.wait_for(|s| *s))
            .await
            .context("subscribe")??;
    }
    let mut events = follow_stream(format!("{api}/api/v1/stream"), stop.clone());

    // Hostile input first: a frame with a corrupted tag and a truncated frame on a real node's
    // topic. Both must be rejected and counted; the run that follows proves nothing stopped.
    let victim = registry.get(EPISODE_NODE).context("episode node registered")?;
    let mut bad_tag = signed_frame(victim)?;
    let last = bad_tag.len() - 1;
    bad_tag[last] ^= 0x01;
    let mut truncated = signed_frame(victim)?;
    truncated.truncate(truncated.len() - 5);
    let topic = NodeTopic {
        prefix: DEFAULT_PREFIX,
        node_id: victim.id,
        channel: NodeChannel::Telemetry,
    }
    .to_string();
    let mut attacker = TestClient::connect(mosquitto.port(), "attacker", true).await?;
    attacker.publish_qos1(&topic, &bad_tag).await?;
    attacker.publish_qos1(&topic, &truncated).await?;
    attacker.disconnect().await?;
    let rejected_both =
        |s: &StatsSnapshot| s.rejected.get("bad_tag") == Some(&1) && s.rejected.get("truncated") == Some(&1);
    wait_until("both collectors to reject the hostile frames", || {
        rejected_both(&v1_stats.snapshot()) && rejected_both(&v2_stats.snapshot())
    })
    .await?;

    // Three simulated hours from five hours ago, as fast as the broker takes them, with a
    // 50-minute PM2.5 episode at one station from the first hour.
    let start_ms = wall_ms() - 5 * 60 * MINUTE_MS;
    let episode = Episode {
        node_id: Some(EPISODE_NODE),
        start_ms: start_ms + 60 * MINUTE_MS,
        duration_ms: 50 * MINUTE_MS,
        pm2_5_added: 150.0,
    };
    let fleet_config = FleetConfig {
        host: mosquitto.host().into(),
        port: mosquitto.port(),
        prefix: DEFAULT_PREFIX.into(),
        client_prefix: "sim".into(),
        registry: registry.clone(),
        node: NodeConfig {
            sample_interval_ms: 10_000,
            ..NodeConfig::default()
        },
        clock: SimClock::new(start_ms, Speed::Unlimited),
        frames_per_node: Some(FRAMES_PER_NODE),
        scenario: Scenario {
            episodes: vec![episode],
        },
        boot: 1,
    };
    let report = fleet::run(fleet_config, std::future::pending()).await?;
    let telemetry: Vec<&SentFrame> = report.telemetry().collect();
    let total = report.sent.len() as u64;
    ensure!(
        telemetry.len() == 10 * FRAMES_PER_NODE as usize,
        "fleet sent {} telemetry frames",
        telemetry.len()
    );

    // Every frame reaches both collectors and is written; only the two hostile ones are rejected.
    wait_until("both collectors to write every frame", || {
        v1_stats.snapshot().written >= total && v2_stats.snapshot().written >= total
    })
    .await?;
    for (name, stats) in [("v1", v1_stats.snapshot()), ("v2", v2_stats.snapshot())] {
        eprintln!("collector {name}: {stats:?}");
        ensure!(
            stats.written == total,
            "collector {name} wrote {} of {total}",
            stats.written
        );
        ensure!(
            stats.rejected_total() == 2,
            "collector {name} rejected {:?}",
            stats.rejected
        );
    }
    let dead_letters = std::fs::read_to_string(&v1_dead_letters)?;
    let reasons: Vec<String> = dead_letters
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).map(|v| v["reason"].as_str().unwrap_or_default().to_owned())
        })
        .collect::<Result<_, _>>()?;
    ensure!(reasons == ["bad_tag", "truncated"], "dead letters: {reasons:?}");

    check_influx(&influx, &report).await?;
    check_victoria(&victoria, &report).await?;
    check_alerts(&api, &registry, &mut events).await?;
    let health: Value = reqwest::get(format!("{api}/healthz")).await?.json().await?;
    ensure!(health["frames_rejected"] == 2, "IOC API health: {health}");

    stop.cancel();
    v1_task.await?;
    v2_task.await?;
    ioc_task.await??;
    eprintln!(
        "whole path: {} frames published ({} telemetry), {total} written to each database, 0 lost, 0 duplicated, 2 hostile rejected",
        report.sent.len(),
        telemetry.len()
    );
    Ok(())
}

/// The fields a telemetry frame should have in the database, in its units.
fn expected_fields(frame: &Frame) -> BTreeMap<&'static str, f64> {
    let mut fields = BTreeMap::new();
    let mut put = |name, value: Option<f64>| {
        if let Some(v) = value {
            fields.insert(name, v);
        }
    };
    match &frame.body {
        Body::Air(AirSample {
            pm1_0,
            pm2_5,
            pm10,
            temperature,
            humidity,
            ..
        }) => {
            put("pm1_0", pm1_0.map(|v| f64::from(v) / 10.0));
            put("pm2_5", pm2_5.map(|v| f64::from(v) / 10.0));
            put("pm10", pm10.map(|v| f64::from(v) / 10.0));
            put("temperature", temperature.map(|v| f64::from(v) / 100.0));
            put("humidity", humidity.map(|v| f64::from(v) / 100.0));
        }
        Body::Water(WaterSample {
            ph,
            dissolved_oxygen,
            conductivity,
            temperature,
            ..
        }) => {
            put("ph", ph.map(|v| f64::from(v) / 1000.0));
            put("dissolved_oxygen", dissolved_oxygen.map(|v| f64::from(v) / 100.0));
            put("conductivity", conductivity.map(f64::from));
            put("temperature", temperature.map(|v| f64::from(v) / 100.0));
        }
        Body::Status(_) => {}
    }
    put("seq", Some(f64::from(frame.seq)));
    fields
}

fn measurement(frame: &Frame) -> &'static str {
    match frame.body {
        Body::Air(_) => "air_quality",
        Body::Water(_) => "water_quality",
        Body::Status(_) => "node_status",
    }
}

/// Every telemetry frame is in InfluxDB exactly once (per node and timestamp) with its values.
async fn check_influx(influx: &Influx1, report: &FleetReport) -> Result<()> {
    let mut checked = 0;
    for kind in ["air_quality", "water_quality"] {
        let fields = if kind == "air_quality" {
            "pm1_0,pm2_5,pm10,temperature,humidity,seq"
        } else {
            "ph,dissolved_oxygen,conductivity,temperature,seq"
        };
        let result = influx
            .query(DATABASE, &format!("SELECT {fields} FROM {kind} GROUP BY node"))
            .await?;
        let series = result["results"][0]["series"]
            .as_array()
            .context("series in the InfluxQL answer")?;
        let mut stored: HashMap<(u32, u64), BTreeMap<String, f64>> = HashMap::new();
        for s in series {
            let node: u32 = s["tags"]["node"].as_str().context("node tag")?.parse()?;
            let columns: Vec<&str> = s["columns"]
                .as_array()
                .context("columns")?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            for row in s["values"].as_array().context("values")? {
                let row = row.as_array().context("row")?;
                let time = row[0].as_u64().context("epoch ms time")?;
                let values = columns
                    .iter()
                    .zip(row)
                    .skip(1)
                    .filter_map(|(c, v)| v.as_f64().map(|v| (c.to_string(), v)))
                    .collect();
                ensure!(
                    stored.insert((node, time), values).is_none(),
                    "node {node} has two points at {time}"
                );
            }
        }
        let sent: Vec<&SentFrame> = report
            .telemetry()
            .filter(|s| measurement(&s.frame) == kind)
            .collect();
        ensure!(
            stored.len() == sent.len(),
            "{kind}: {} points stored, {} frames sent",
            stored.len(),
            sent.len()
        );
        for s in sent {
            let key = (s.frame.node_id, s.frame.time_ms);
            let got = stored
                .get(&key)
                .with_context(|| format!("{kind}: frame {key:?} missing"))?;
            for (field, want) in expected_fields(&s.frame) {
                ensure!(
                    got.get(field) == Some(&want),
                    "{kind} {key:?} {field}: stored {:?}, sent {want}",
                    got.get(field)
                );
                checked += 1;
            }
        }
    }
    let status = influx
        .query(DATABASE, "SELECT count(seq) FROM node_status")
        .await?;
    let status_count = status["results"][0]["series"][0]["values"][0][1]
        .as_u64()
        .context("status count")?;
    let status_sent = report
        .sent
        .iter()
        .filter(|s| s.channel == NodeChannel::Status)
        .count() as u64;
    ensure!(
        status_count == status_sent,
        "node_status: {status_count} stored, {status_sent} sent"
    );
    eprintln!(
        "InfluxDB 1.6 (v1 API): every frame present once, {checked} field values equal to what the nodes sent"
    );
    Ok(())
}

/// The same through the v2 API into VictoriaMetrics, read back with its export API.
async fn check_victoria(victoria: &VictoriaMetrics, report: &FleetReport) -> Result<()> {
    let sent: Vec<&SentFrame> = report.telemetry().collect();
    let selector = r#"{__name__=~"(air|water)_quality_.*"}"#;
    let expected_seq_samples = sent.len();
    let series = victoria
        .wait_for_export(selector, DEADLINE, |series| {
            let seq_samples: usize = series
                .iter()
                .filter(|s| s.metric["__name__"].ends_with("_seq"))
                .map(|s| s.values.len())
                .sum();
            seq_samples >= expected_seq_samples
        })
        .await?;
    let mut stored: HashMap<(String, u32, i64), f64> = HashMap::new();
    for s in &series {
        let name = &s.metric["__name__"];
        let node: u32 = s.metric.get("node").context("node label")?.parse()?;
        for (t, v) in s.timestamps.iter().zip(&s.values) {
            ensure!(
                stored.insert((name.clone(), node, *t), *v).is_none(),
                "{name} node {node} has two samples at {t}"
            );
        }
    }
    let mut checked = 0;
    for s in &sent {
        for (field, want) in expected_fields(&s.frame) {
            let key = (
                format!("{}_{field}", measurement(&s.frame)),
                s.frame.node_id,
                s.frame.time_ms as i64,
            );
            ensure!(
                stored.get(&key) == Some(&want),
                "VictoriaMetrics {key:?}: stored {:?}, sent {want}",
                stored.get(&key)
            );
            checked += 1;
        }
    }
    let seq_samples = stored
        .keys()
        .filter(|(name, _, _)| name.ends_with("_seq"))
        .count();
    ensure!(
        seq_samples == sent.len(),
        "VictoriaMetrics holds {seq_samples} telemetry points, {} were sent",
        sent.len()
    );
    eprintln!(
        "VictoriaMetrics (v2 API): every frame present once, {checked} field values equal to what the nodes sent"
    );
    Ok(())
}

/// The episode's station fired an alert and resolved it, on `/api/v1/alerts` and on the stream;
/// no other station alerted.
async fn check_alerts(
    api: &str,
    registry: &Registry,
    events: &mut mpsc::UnboundedReceiver<SseEvent>,
) -> Result<()> {
    let station = registry
        .get(EPISODE_NODE)
        .context("episode node")?
        .station
        .clone();
    let alerts: Vec<Value> = reqwest::get(format!("{api}/api/v1/alerts")).await?.json().await?;
    ensure!(alerts.len() == 1, "expected one alert, got {alerts:#?}");
    let alert = &alerts[0];
    ensure!(
        alert["station"] == station.as_str(),
        "alert for the wrong station: {alert}"
    );
    ensure!(
        alert["state"] == "resolved" && alert["resolved_at"].is_string(),
        "alert not resolved: {alert}"
    );
    ensure!(
        alert["peak"].as_f64().unwrap_or(0.0) > 100.0,
        "episode peak too low: {alert}"
    );

    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while seen != ["firing", "resolved"] {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .with_context(|| format!("stream showed alert states {seen:?}"))?
            .context("stream ended")?;
        if event.kind == "alert" {
            ensure!(
                event.data["station"] == station.as_str(),
                "stream alert for another station: {:?}",
                event.data
            );
            seen.push(event.data["state"].as_str().unwrap_or_default().to_owned());
        }
    }
    let stations: Vec<Value> = reqwest::get(format!("{api}/api/v1/stations"))
        .await?
        .json()
        .await?;
    let air_with_mean = stations
        .iter()
        .filter(|s| s["kind"] == StationKind::Air.as_str() && s["pm2_5_1h_mean"].is_number())
        .count();
    ensure!(
        air_with_mean == 7,
        "every air station should show a 1-hour mean: {stations:#?}"
    );
    eprintln!(
        "IOC API: alert for {station} fired (peak {}) and resolved, seen on /api/v1/alerts and the stream",
        alert["peak"]
    );
    Ok(())
}
