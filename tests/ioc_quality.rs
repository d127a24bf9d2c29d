//! Quality control on the whole path: two air nodes running the firmware's code publish an hour
//! and a half through real mosquitto; a collector stores every raw value in real InfluxDB 1.6;
//! the IOC API checks each reading. One node's PMS5003 is frozen: its PM readings are flagged
//! `stuck` (and, after half an hour, `node`, as the firmware marks them too), left out of the
//! 1-hour means and the AQI, listed with their flags, and counted as received but not valid in
//! its coverage. The IOC API then stops and starts again on the same database: the history it
//! rebuilds from InfluxDB leaves the flagged values out again, the coverage is the same, and
//! the next frozen reading is flagged at once, since the stuck run was saved.

mod support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use collector::config::BatchConfig;
use firmware::node::NodeConfig;
use protocol::registry::{NodeInfo, StationKind};
use protocol::topic::{DEFAULT_PREFIX, NodeTopic};
use serde_json::Value;
use simulators::clock::wall_ms;
use simulators::node::{Outgoing, SimNode};
use simulators::signal::Scenario;
use support::{
    InProcess, Influx1, Mosquitto, MosquittoOptions, RunningIoc, TestClient, influx1_config, ioc_config,
    start_ioc,
};

const DATABASE: &str = "citysense";
const MINUTE_MS: u64 = 60_000;
/// Minutes of frames before the restart.
const MINUTES: u64 = 90;
const DEADLINE: Duration = Duration::from_secs(90);

async fn get(url: &str) -> Result<Value> {
    let response = reqwest::get(url).await?;
    let status = response.status();
    let body: Value = response.json().await?;
    ensure!(status.is_success(), "{url}: {status} {body}");
    Ok(body)
}

/// The node's telemetry for minutes `from..=to` of its uptime, wall time `start` at uptime 0,
/// in the fleet's default air (each minute's conditions, as the fleet sets them).
fn minutes(node: &mut SimNode, start: u64, from: u64, to: u64) -> Vec<Outgoing> {
    let scenario = Scenario::default();
    (from..=to)
        .flat_map(|m| {
            let t = start + m * MINUTE_MS;
            node.set_environment(scenario.environment(node.kind(), node.node_id(), t - MINUTE_MS / 2));
            node.poll(m * MINUTE_MS, t)
        })
        .collect()
}

async fn publish(client: &mut TestClient, node: &NodeInfo, frames: &[Outgoing]) -> Result<()> {
    for out in frames {
        let topic = NodeTopic {
            prefix: DEFAULT_PREFIX,
            node_id: node.id,
            channel: out.channel,
        }
        .to_string();
        client.publish_qos1(&topic, &out.bytes).await?;
    }
    Ok(())
}

/// Received and valid readings over the station's kept hours.
async fn coverage(ioc: &RunningIoc, station: &str) -> Result<(u64, u64)> {
    let body = get(&format!("{}/api/v1/stations/{station}/coverage", ioc.url)).await?;
    let hours = body["hours"].as_array().context("hours")?;
    let sum = |field: &str| hours.iter().filter_map(|h| h[field].as_u64()).sum::<u64>();
    Ok((sum("received"), sum("valid")))
}

async fn wait_received(ioc: &RunningIoc, station: &str, want: u64) -> Result<()> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (received, _) = coverage(ioc, station).await?;
        if received >= want {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{station}: the IOC counted {received} of {want} readings"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `ms` as the API writes times (RFC 3339, milliseconds, UTC).
fn rfc3339(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn flags_of(view: &Value, param: &str) -> Vec<String> {
    view["qc"][param]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_sensor_is_flagged_left_out_of_the_aqi_and_counted_across_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let registry = simulators::stations::hau_giang(2, 0);
    let mut air = registry.nodes().filter(|n| n.kind == StationKind::Air).cloned();
    let stuck = air.next().context("an air node")?;
    let clean = air.next().context("a second air node")?;
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;

    std::fs::create_dir_all(dir.path().join("collector"))?;
    let collector = InProcess::start(
        influx1_config(
            &mosquitto,
            (&influx, DATABASE),
            "quality-collector",
            &registry_path,
            BatchConfig::default(),
            &dir.path().join("collector"),
        ),
        registry.clone(),
    )
    .await?;
    let mut config = ioc_config(&mosquitto, "quality-ioc", &registry_path, dir.path());
    config.influx = Some(ioc_api::config::InfluxConfig::new(influx.url(), DATABASE));
    // The simulated sensors' noise now and then jumps far enough for the spike rule to flag a
    // value of the working station (it did in CI: one PM1.0 of 90 readings), which would make
    // its coverage depend on the start time. This test is about the stuck rule; the spike rule
    // has series of its own in `ioc-api/src/quality/rules/spike.rs`.
    config.quality.spike.enabled = false;
    let ioc = start_ioc(config.clone(), &registry).await?;

    // An hour and a half of one-minute reports, ending ten minutes ago.
    let start = wall_ms() - (MINUTES + 10) * MINUTE_MS;
    let node_config = NodeConfig {
        sample_interval_ms: 5_000,
        report_interval_ms: MINUTE_MS as u32,
        ..NodeConfig::default()
    };
    let mut stuck_node = SimNode::new(&stuck, 1, node_config);
    stuck_node
        .air_sensors()
        .and_then(|s| s.pms5003.as_ref())
        .context("the air node has a PMS5003")?
        .set_stuck(true);
    let mut clean_node = SimNode::new(&clean, 1, node_config);
    let stuck_frames = minutes(&mut stuck_node, start, 1, MINUTES);
    let clean_frames = minutes(&mut clean_node, start, 1, MINUTES);
    ensure!(
        stuck_frames.len() == MINUTES as usize && clean_frames.len() == MINUTES as usize,
        "one report a minute: {} and {}",
        stuck_frames.len(),
        clean_frames.len()
    );
    let mut client = TestClient::connect(mosquitto.port(), "quality-test", true).await?;
    publish(&mut client, &stuck, &stuck_frames).await?;
    publish(&mut client, &clean, &clean_frames).await?;
    wait_received(&ioc, &stuck.station, MINUTES).await?;
    wait_received(&ioc, &clean.station, MINUTES).await?;

    // The frozen sensor: flagged, out of the means and the AQI; the other station untouched.
    let view = get(&format!("{}/api/v1/stations/{}", ioc.url, stuck.station)).await?;
    ensure!(
        flags_of(&view, "pm2_5").contains(&"stuck".to_owned()),
        "the frozen PM2.5 is flagged stuck: {}",
        view["qc"]
    );
    ensure!(
        view["means_1h"].get("pm2_5").is_none() && view["pm2_5_1h_mean"].is_null(),
        "no 1-hour PM2.5 mean from flagged values: {}",
        view["means_1h"]
    );
    ensure!(
        view["vn_aqi"]["dominant"] != "pm2_5" && view["us_aqi"]["dominant"] != "pm2_5",
        "PM2.5 decides no AQI of the stuck station: {} {}",
        view["vn_aqi"],
        view["us_aqi"]
    );
    let clean_view = get(&format!("{}/api/v1/stations/{}", ioc.url, clean.station)).await?;
    ensure!(
        clean_view["qc"] == serde_json::json!({}) && clean_view["pm2_5_1h_mean"].is_number(),
        "the working station is clean and has its mean: {} {}",
        clean_view["qc"],
        clean_view["means_1h"]
    );
    let clean_mean = clean_view["pm2_5_1h_mean"].as_f64().context("mean")?;

    // Coverage: every reading received; the working station's all valid, the stuck one's only
    // those before the run was long enough to tell.
    let (received, valid) = coverage(&ioc, &stuck.station).await?;
    let flagged = get(&format!(
        "{}/api/v1/stations/{}/flagged?limit=10000",
        ioc.url, stuck.station
    ))
    .await?;
    let values = flagged["values"].as_array().context("values")?;
    let mut flagged_times: Vec<&str> = values.iter().filter_map(|v| v["time"].as_str()).collect();
    flagged_times.dedup();
    ensure!(
        received == MINUTES && valid == received - flagged_times.len() as u64 && valid < 40,
        "stuck station coverage: {received} received, {valid} valid, {} readings flagged",
        flagged_times.len()
    );
    let frozen = stuck_frames
        .last()
        .and_then(|o| match &o.frame.body {
            protocol::Body::Air(s) => s.pm2_5,
            _ => None,
        })
        .context("the frozen PM2.5")?;
    ensure!(
        values
            .iter()
            .filter(|v| v["param"] == "pm2_5")
            .all(|v| v["value"].as_f64() == Some(f64::from(frozen) / 10.0)),
        "the flagged PM2.5 values are the frozen one: {values:?}"
    );
    // The working station: only its first report is left out, which the firmware marks as
    // taken while the PMS5003 warmed up.
    let clean_coverage = coverage(&ioc, &clean.station).await?;
    let clean_flagged = get(&format!(
        "{}/api/v1/stations/{}/flagged?limit=10000",
        ioc.url, clean.station
    ))
    .await?;
    let first = clean_frames.first().context("a first report")?.frame.time_ms;
    let warming = clean_flagged["values"]
        .as_array()
        .context("values")?
        .iter()
        .all(|v| {
            v["flags"] == serde_json::json!(["node"]) && v["time"].as_str() == Some(rfc3339(first).as_str())
        });
    ensure!(
        clean_coverage == (MINUTES, MINUTES - 1) && warming,
        "the working station's coverage (received, valid): {clean_coverage:?}; flagged: {clean_flagged}"
    );

    // Every raw value is in InfluxDB before the restart, so the rebuild sees the frozen ones.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let counted = influx
            .query(DATABASE, "SELECT count(pm2_5) FROM air_quality")
            .await?;
        let count = counted["results"][0]["series"][0]["values"][0][1]
            .as_u64()
            .unwrap_or(0);
        if count >= 2 * MINUTES {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "InfluxDB holds {count} of {} PM2.5 values",
            2 * MINUTES
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The second start: the same means, the same coverage, and the run remembered.
    ioc.stop.cancel();
    ioc.task.await??;
    let ioc = start_ioc(config, &registry).await?;
    let view = get(&format!("{}/api/v1/stations/{}", ioc.url, stuck.station)).await?;
    ensure!(
        view["means_1h"].get("pm2_5").is_none(),
        "the rebuild from InfluxDB let the flagged PM2.5 back in: {}",
        view["means_1h"]
    );
    let clean_view = get(&format!("{}/api/v1/stations/{}", ioc.url, clean.station)).await?;
    let rebuilt_mean = clean_view["pm2_5_1h_mean"]
        .as_f64()
        .context("mean after restart")?;
    ensure!(
        (rebuilt_mean - clean_mean).abs() < 0.051,
        "the working station's mean before and after the restart: {clean_mean} and {rebuilt_mean}"
    );
    ensure!(
        coverage(&ioc, &stuck.station).await? == (received, valid),
        "the stuck station's coverage after the restart: {:?}, before ({received}, {valid})",
        coverage(&ioc, &stuck.station).await?
    );
    let next = minutes(&mut stuck_node, start, MINUTES + 1, MINUTES + 1);
    publish(&mut client, &stuck, &next).await?;
    wait_received(&ioc, &stuck.station, MINUTES + 1).await?;
    let view = get(&format!("{}/api/v1/stations/{}", ioc.url, stuck.station)).await?;
    ensure!(
        flags_of(&view, "pm2_5").contains(&"stuck".to_owned()),
        "the first frozen reading after the restart is flagged stuck: {}",
        view["qc"]
    );

    client.disconnect().await?;
    ioc.stop.cancel();
    ioc.task.await??;
    collector.stop().await?;
    Ok(())
}
