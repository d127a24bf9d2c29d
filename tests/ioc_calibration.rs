//! Co-location calibration on the whole path: an air node running the firmware's code publishes
//! 26 hours of ten-minute reports through real mosquitto; a collector stores them in real
//! InfluxDB 1.6; the IOC API, reading its history from InfluxDB, fits a reference series posted
//! by an admin against the station's raw hourly PM2.5 means there (the node's warming-up report,
//! flagged by QC, left out), and applies the fit to the next readings. The reference here is an
//! exact line of the hourly means this test computes itself from the frames it published, so
//! the fit finds that line only if the IOC's station side is those means.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use collector::config::BatchConfig;
use firmware::node::NodeConfig;
use ioc_api::auth::Role;
use protocol::registry::StationKind;
use protocol::topic::{DEFAULT_PREFIX, NodeTopic};
use serde_json::{Value, json};
use simulators::clock::wall_ms;
use simulators::node::SimNode;
use simulators::signal::Scenario;
use support::{
    InProcess, Influx1, Mosquitto, MosquittoOptions, TestClient, influx1_config, ioc_config, start_ioc,
};

const DATABASE: &str = "citysense";
const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const HOURS: u64 = 26;
const DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fit_against_influxdb_history_finds_the_reference_line_and_applies_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let registry = simulators::stations::hau_giang(1, 0);
    let node = registry
        .nodes()
        .find(|n| n.kind == StationKind::Air)
        .cloned()
        .context("an air node")?;
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;
    std::fs::create_dir_all(dir.path().join("collector"))?;
    let collector = InProcess::start(
        influx1_config(
            &mosquitto,
            (&influx, DATABASE),
            "calibration-collector",
            &registry_path,
            BatchConfig::default(),
            &dir.path().join("collector"),
        ),
        registry.clone(),
    )
    .await?;
    let mut config = ioc_config(&mosquitto, "calibration-ioc", &registry_path, dir.path());
    config.influx = Some(ioc_api::config::InfluxConfig::new(influx.url(), DATABASE));
    // The simulated sensor's noise now and then trips the spike rule; this test is about which
    // hourly means the fit is made on, so only the node's own flag (warming up) leaves a value out.
    config.quality.spike.enabled = false;
    config.quality.stuck.enabled = false;
    let ioc = start_ioc(config, &registry).await?;
    let now = time::OffsetDateTime::now_utc();
    let admin = ioc_api::http::create_token(ioc.state.store(), "calibrator", Role::Admin, "test", now)?
        .context("admin token")?;
    ioc.state.reload_tokens()?;

    // Whole hours of ten-minute reports, ending before the current hour.
    let now_ms = wall_ms();
    let start = now_ms - now_ms % HOUR_MS - (HOURS + 1) * HOUR_MS;
    let mut sim = SimNode::new(
        &node,
        1,
        NodeConfig {
            sample_interval_ms: 5_000,
            report_interval_ms: 10 * MINUTE_MS as u32,
            ..NodeConfig::default()
        },
    );
    let scenario = Scenario::default();
    let mut frames = Vec::new();
    for m in 1..=HOURS * 60 {
        let t = start + m * MINUTE_MS;
        sim.set_environment(scenario.environment(sim.kind(), sim.node_id(), t - MINUTE_MS / 2));
        frames.extend(sim.poll(m * MINUTE_MS, t));
    }
    let mut client = TestClient::connect(mosquitto.port(), "calibration-test", true).await?;
    let mut sums: BTreeMap<u64, (f64, u32)> = BTreeMap::new();
    let mut telemetry = 0;
    for out in &frames {
        let topic = NodeTopic {
            prefix: DEFAULT_PREFIX,
            node_id: node.id,
            channel: out.channel,
        }
        .to_string();
        client.publish_qos1(&topic, &out.bytes).await?;
        if let protocol::Body::Air(s) = &out.frame.body {
            telemetry += 1;
            // The first report is taken while the PMS5003 warms up: the node flags it.
            if let (Some(pm), false) = (s.pm2_5, telemetry == 1) {
                let hour = out.frame.time_ms - out.frame.time_ms % HOUR_MS;
                let sum = sums.entry(hour).or_default();
                sum.0 += f64::from(pm) / 10.0;
                sum.1 += 1;
            }
        }
    }
    let means: BTreeMap<u64, f64> = sums
        .into_iter()
        .map(|(h, (s, n))| (h, s / f64::from(n)))
        .collect();
    ensure!(means.len() as u64 >= HOURS, "{} hours of frames", means.len());

    // Every frame in InfluxDB and seen by the IOC before the fit.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let answer = influx
            .query(DATABASE, "SELECT count(\"pm2_5\") FROM air_quality")
            .await?;
        let stored = answer["results"][0]["series"][0]["values"][0][1]
            .as_u64()
            .unwrap_or(0);
        let flagged = ioc
            .state
            .store()
            .flagged(Some(&node.station), 0, i64::MAX, usize::MAX)?;
        if stored == telemetry && flagged.iter().any(|f| f.param == "pm2_5") {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "InfluxDB holds {stored} of {telemetry} PM2.5 values; flagged saved: {}",
            flagged.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let reference: Vec<Value> = means
        .iter()
        .map(|(hour, mean)| {
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(*hour) * 1_000_000)
                .map(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default()
                })
                .unwrap_or_default();
            json!({ "hour": at, "value": 0.5 * mean + 3.0 })
        })
        .collect();
    let http = reqwest::Client::builder().no_proxy().build()?;
    let uri = format!("{}/api/v1/stations/{}/calibrations", ioc.url, node.station);
    let response = http
        .post(&uri)
        .bearer_auth(&admin)
        .json(&json!({ "reference": reference, "note": "whole path" }))
        .send()
        .await?;
    let status = response.status();
    let fit: Value = response.json().await?;
    ensure!(status == reqwest::StatusCode::CREATED, "fit: {status} {fit}");
    let segment = &fit["calibration"]["segments"][0];
    let near = |v: &Value, want: f64| v.as_f64().is_some_and(|x| (x - want).abs() < 1e-3);
    ensure!(
        near(&segment["slope"], 0.5)
            && near(&segment["intercept"], 3.0)
            && fit["calibration"]["stats"]["n"] == means.len(),
        "the IOC fitted on other means than the frames': {fit}"
    );

    let id = fit["id"].as_i64().context("id")?;
    let response = http
        .post(format!("{uri}/{id}/apply"))
        .bearer_auth(&admin)
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "apply: {}",
        response.text().await?
    );
    // The next report, due ten minutes of uptime later, stamped now, goes through it.
    sim.set_environment(scenario.environment(sim.kind(), sim.node_id(), now_ms));
    let next = sim
        .poll((HOURS * 60 + 10) * MINUTE_MS, now_ms)
        .into_iter()
        .find(|o| matches!(o.frame.body, protocol::Body::Air(_)))
        .context("a report ten minutes on")?;
    let topic = NodeTopic {
        prefix: DEFAULT_PREFIX,
        node_id: node.id,
        channel: next.channel,
    }
    .to_string();
    client.publish_qos1(&topic, &next.bytes).await?;
    let protocol::Body::Air(sample) = &next.frame.body else {
        anyhow::bail!("an air report");
    };
    let raw = f64::from(sample.pm2_5.context("PM2.5")?) / 10.0;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let view: Value = http
            .get(format!("{}/api/v1/stations/{}", ioc.url, node.station))
            .send()
            .await?
            .json()
            .await?;
        if view["reading"]["pm2_5"] == raw && view["pm2_5_basis"] == "co_location" {
            ensure!(
                // The view shows PM2.5 at the sensor's 0.1 µg/m³.
                view["pm2_5_basis"] == "co_location"
                    && view["pm2_5_corrected"]
                        .as_f64()
                        .is_some_and(|x| (x - (0.5 * raw + 3.0)).abs() <= 0.05 + 1e-9),
                "the applied calibration corrects the next reading: {view}"
            );
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the next reading never showed: {view}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    collector.stop().await?;
    ioc.stop.cancel();
    Ok(())
}
