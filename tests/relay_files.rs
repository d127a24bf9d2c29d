//! The relay on real services: simulated nodes running the firmware's code publish a simulated
//! hour at speed through real mosquitto; a collector writes it to real InfluxDB 1.6; the relay
//! writes one file per station and five-minute interval and uploads it to a real FTP server
//! (pyftpdlib). Every interval's file is on the server, named and laid out as configured; every
//! line parses with the parser below, written from the reference's layout
//! (`shared/reference/vn-transmission.md`), not from the relay's code; each value equals the mean
//! InfluxDB holds for that interval; a simulated water node calibrated by downlink and with its
//! probes' bus down for a minute gives `01` and `02` on the lines its flagged reports carry.

#[path = "relay/common.rs"]
mod common;
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use collector::config::BatchConfig;
use common::{
    DEADLINE, INTERVAL_MS, MINUTE_MS, files_under, hour_start, parse_file, relay_config, run_fleet_hour,
};
use firmware::node::NodeConfig;
use protocol::command::{CalibrationPoint, CalibrationStep, Command, Probe, SignedCommand};
use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::topic::{DEFAULT_PREFIX, NodeTopic};
use protocol::{Body, NodeKey, QualityFlags};
use simulators::clock::wall_ms;
use simulators::node::{Outgoing, SimNode};
use support::{
    FtpServer, FtpServerOptions, InProcess, Influx1, Mosquitto, MosquittoOptions, TestClient, influx1_config,
};
use time::{OffsetDateTime, UtcOffset};
use tokio_util::sync::CancellationToken;

const DATABASE: &str = "citysense";
/// A water node that a technician calibrates and whose probes fail for a minute.
const FLAGGED: u32 = 150;

/// The symbols of the relay's default config, and the InfluxDB field each stands for
/// (`docs/influxdb-schema.md`).
const AIR_FIELDS: [(&str, &str); 10] = [
    ("PM1", "pm1_0"),
    ("PM2.5", "pm2_5"),
    ("PM10", "pm10"),
    ("CO", "co"),
    ("NO2", "no2"),
    ("SO2", "so2"),
    ("O3", "o3"),
    ("Temp", "temperature"),
    ("Humidity", "humidity"),
    ("Pressure", "pressure"),
];
const WATER_FIELDS: [(&str, &str); 7] = [
    ("pH", "ph"),
    ("DO", "dissolved_oxygen"),
    ("EC", "conductivity"),
    ("Temp", "temperature"),
    ("Turbidity", "turbidity"),
    ("WaterLevel", "water_level"),
    ("Salinity", "salinity"),
];

/// `yyyyMMddHHmmss` of `ms` in Vietnam time (UTC+7 all year).
fn vietnam(ms: u64) -> Result<(String, String)> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)?
        .to_offset(UtcOffset::from_hms(7, 0, 0)?);
    let stamp = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let folder = format!("{:04}/{:02}/{:02}", t.year(), u8::from(t.month()), t.day());
    Ok((stamp, folder))
}

/// When, in the flagged node's uptime, a technician takes a pH point in a buffer (second minute of
/// the first interval), and when its probes' bus is down (second interval).
const CALIBRATION_STEP_MS: u64 = 90_000;
const BUS_DOWN_MS: (u64, u64) = (330_000, 390_000);
/// The flagged node runs three five-minute intervals.
const FLAGGED_RUN_MS: u64 = 3 * INTERVAL_MS - 1_000;

/// What the flagged water node (the firmware's node logic on emulated EZO circuits) publishes
/// from wall time `start`: a calibration step by downlink in the first interval (its reports are
/// flagged calibrating by the firmware), a bus fault in the second (flagged faulty), a clean third.
fn flagged_node_frames(info: &NodeInfo, key: &NodeKey, start: u64) -> Result<Vec<Outgoing>> {
    let mut node = SimNode::new(info, 1, NodeConfig::default());
    let mut out = node.poll(CALIBRATION_STEP_MS, start + CALIBRATION_STEP_MS);
    let step = SignedCommand {
        node_id: info.id,
        counter: 1,
        command: Command::Calibrate(CalibrationStep {
            probe: Probe::Ph,
            point: CalibrationPoint::Mid,
            reference: 7_000,
        }),
    }
    .to_bytes(key)?;
    let (_, answered) = node
        .handle_command(&step, CALIBRATION_STEP_MS, start + CALIBRATION_STEP_MS)
        .map_err(|reason| anyhow::anyhow!("the node refused the calibration step: {reason}"))?;
    out.extend(answered);
    out.extend(node.poll(BUS_DOWN_MS.0, start + BUS_DOWN_MS.0));
    let probes = node.water_probe().context("a water node")?.clone();
    probes.set_failing(true);
    out.extend(node.poll(BUS_DOWN_MS.1, start + BUS_DOWN_MS.1));
    probes.set_failing(false);
    out.extend(node.poll(FLAGGED_RUN_MS, start + FLAGGED_RUN_MS));
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_of_frames_reaches_the_ftp_server_as_one_file_per_interval() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let ftp = FtpServer::start(FtpServerOptions::default()).await?;

    let fleet_registry = simulators::stations::hau_giang(2, 1);
    let flagged_key = NodeKey::new([0x5a; 32]);
    let flagged = NodeInfo {
        id: FLAGGED,
        station: "HG-QC-W50".into(),
        name: "Kênh kiểm tra cờ".into(),
        kind: StationKind::Water,
        district: "Vị Thanh".into(),
        location: Some((105.47, 9.78)),
        key: Some(flagged_key.clone()),
    };
    let registry = Registry::from_nodes(fleet_registry.nodes().cloned().chain([flagged.clone()]))?;
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;

    std::fs::create_dir_all(dir.path().join("collector"))?;
    let collector = InProcess::start(
        influx1_config(
            &mosquitto,
            (&influx, DATABASE),
            "relay-test-collector",
            &registry_path,
            BatchConfig::default(),
            &dir.path().join("collector"),
        ),
        registry.clone(),
    )
    .await?;
    let mut config = relay_config(&mosquitto, &ftp, &registry_path, dir.path());
    config.influx = Some(relay::config::InfluxConfig {
        url: influx.url(),
        database: DATABASE.into(),
        username: None,
        password: None,
        password_file: None,
        token_auth: false,
        timeout_s: 30,
    });
    let relay = relay::Relay::new(config.clone(), registry.clone())?;
    let stats = relay.stats();
    let mut subscribed = relay.subscribed();
    let stop = CancellationToken::new();
    let relay_task = tokio::spawn(relay.run(stop.clone()));
    tokio::time::timeout(Duration::from_secs(30), subscribed.wait_for(|s| *s))
        .await
        .context("relay not subscribed")??;

    let start = hour_start();
    let telemetry = run_fleet_hour(&mosquitto, &fleet_registry, start).await?;
    let mut client = TestClient::connect(mosquitto.port(), "relay-test-flags", true).await?;
    let flagged_start = start + 20 * MINUTE_MS;
    let flagged_frames = flagged_node_frames(&flagged, &flagged_key, flagged_start)?;
    for out in &flagged_frames {
        let topic = NodeTopic {
            prefix: DEFAULT_PREFIX,
            node_id: FLAGGED,
            channel: out.channel,
        }
        .to_string();
        client.publish_qos1(&topic, &out.bytes).await?;
    }
    let flagged_points = flagged_frames
        .iter()
        .filter(|o| matches!(&o.frame.body, Body::Water(s) if s.ph.is_some()))
        .count();

    // Every frame in InfluxDB, then every interval of it on the FTP server.
    let expected_points = (telemetry + flagged_points) as u64;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let written = collector.stats.snapshot().written;
        let counted = influx
            .query(
                DATABASE,
                "SELECT count(pm2_5) FROM air_quality; SELECT count(ph) FROM water_quality",
            )
            .await?;
        let count = |i: usize| {
            counted["results"][i]["series"][0]["values"][0][1]
                .as_u64()
                .unwrap_or(0)
        };
        if count(0) + count(1) >= expected_points {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "InfluxDB holds {} + {} of {expected_points} points (collector wrote {written})",
            count(0),
            count(1)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let expected = expected_files(&influx, &registry, start).await?;
    let files = loop {
        let files = files_under(ftp.root())?;
        let finals = files.keys().filter(|k| !k.contains(".part")).count();
        if finals >= expected.len() && relay_snapshot_idle(&stats) {
            break files;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{finals} of {} files on the FTP server; relay: {:?}",
            expected.len(),
            relay_snapshot(&stats)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    ensure!(
        files.keys().all(|k| !k.contains(".part")),
        "no partial upload left: {:?}",
        files.keys().filter(|k| k.contains(".part")).collect::<Vec<_>>()
    );
    let names: Vec<&String> = expected.keys().collect();
    ensure!(
        files.keys().collect::<Vec<_>>() == names,
        "files on the server {:?}\nexpected {:?}",
        files.keys().collect::<Vec<_>>(),
        names
    );

    let mut checked = 0;
    for (path, want) in &expected {
        let lines = parse_file(&files[path]).with_context(|| path.clone())?;
        ensure!(!lines.is_empty(), "{path}: no lines");
        for line in &lines {
            ensure!(
                line.stamp == want.stamp,
                "{path}: line time {} vs {}",
                line.stamp,
                want.stamp
            );
            let Some(mean) = want.means.get(&line.symbol) else {
                bail!(
                    "{path}: {} is not among InfluxDB's fields {:?}",
                    line.symbol,
                    want.means.keys()
                );
            };
            let tolerance = 0.5 * 10f64.powi(-(line.decimals as i32)) + 1e-9;
            ensure!(
                (line.value - mean).abs() <= tolerance,
                "{path}: {} = {} but InfluxDB's mean is {mean}",
                line.symbol,
                line.value
            );
            let status = want.status.get(&line.symbol).map_or("00", String::as_str);
            ensure!(
                line.status == status,
                "{path}: {} status {} (expected {status})",
                line.symbol,
                line.status
            );
            checked += 1;
        }
        ensure!(
            lines.len() == want.means.len(),
            "{path}: {} lines for {} fields",
            lines.len(),
            want.means.len()
        );
    }
    // The flagged node's three intervals, in order: calibrating on every line, a fault on the
    // lines its failed reports carry, clean.
    let flagged_files: Vec<&Expected> = expected
        .iter()
        .filter(|(p, _)| p.starts_with(&flagged.station))
        .map(|(_, w)| w)
        .collect();
    let statuses = |w: &Expected| {
        w.status
            .values()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
    };
    ensure!(
        flagged_files.len() == 3,
        "flagged node's files: {flagged_files:?}"
    );
    ensure!(
        flagged_files[0].status.len() == flagged_files[0].means.len()
            && statuses(flagged_files[0]) == ["01".to_owned()].into(),
        "the calibration's interval: {:?}",
        flagged_files[0]
    );
    ensure!(
        statuses(flagged_files[1]).contains("02"),
        "the fault's interval: {:?}",
        flagged_files[1]
    );
    ensure!(
        flagged_files[2].status.is_empty(),
        "the clean interval: {:?}",
        flagged_files[2]
    );

    // The authority lost two files: `resend` makes the station's hour again from InfluxDB and
    // uploads it; every file is byte for byte the one the live relay sent.
    let station = &fleet_registry.nodes().next().context("a node")?.station;
    let lost: Vec<&String> = files
        .keys()
        .filter(|p| p.starts_with(station.as_str()))
        .take(2)
        .collect();
    for path in &lost {
        std::fs::remove_file(ftp.root().join(path))?;
    }
    let remade = relay::resend::remake(&config, &registry, station, (start, start + 60 * MINUTE_MS)).await?;
    ensure!(remade.len() == 12, "{} files made again", remade.len());
    for f in &remade {
        let path = format!("{}/{}", f.folder, f.name);
        ensure!(
            files.get(&path) == Some(&f.text),
            "{path} made again differs:\n{}\nvs\n{:?}",
            f.text,
            files.get(&path)
        );
    }
    let uploads = relay::resend::upload(&config, remade, &[], |_, _| {}).await?;
    ensure!(uploads == 12, "{uploads} uploads");
    ensure!(
        files_under(ftp.root())? == files,
        "the server holds the same files after the resend"
    );

    let snapshot = relay_snapshot(&stats);
    ensure!(snapshot.duplicates == 0 && snapshot.late == 0, "{snapshot:?}");
    ensure!(
        snapshot.receivers[0].uploaded == expected.len() as u64,
        "{snapshot:?}"
    );

    // Each station's last delivered file is announced, retained, for the IOC.
    let mut watcher = TestClient::connect(mosquitto.port(), "relay-test-watcher", true).await?;
    watcher
        .subscribe(
            &format!("{DEFAULT_PREFIX}/transmission/#"),
            rumqttc::QoS::AtLeastOnce,
        )
        .await?;
    let mut announced = BTreeMap::new();
    while announced.len() < registry.len() {
        let p = watcher.next_publish(Duration::from_secs(10)).await?;
        ensure!(p.retain, "a retained notice: {p:?}");
        let notice: serde_json::Value = serde_json::from_slice(&p.payload)?;
        announced.insert(p.topic.clone(), notice);
    }
    for node in registry.nodes() {
        let topic = format!("{DEFAULT_PREFIX}/transmission/{}/stnmt", node.station);
        let last = expected
            .keys()
            .filter(|k| k.starts_with(&format!("{}/", node.station)))
            .max()
            .context("a file")?;
        let notice = announced
            .get(&topic)
            .with_context(|| format!("no notice on {topic}"))?;
        ensure!(
            last.ends_with(notice["file"].as_str().unwrap_or("-")),
            "{topic}: {notice} (last file {last})"
        );
    }
    watcher.disconnect().await?;
    eprintln!(
        "relay: {} files on the FTP server, {checked} values equal to InfluxDB's interval means",
        expected.len()
    );
    stop.cancel();
    relay_task.await??;
    client.disconnect().await?;
    collector.stop().await?;
    Ok(())
}

/// What one file must hold: its line time, each symbol's mean from InfluxDB, and the symbols
/// whose status is not `00`.
#[derive(Debug)]
struct Expected {
    stamp: String,
    means: BTreeMap<String, f64>,
    status: BTreeMap<String, String>,
}

/// A point's status code from its quality flags, as the reference reads them: a fault (sensor
/// fault, out of range, stuck) is `02`, a calibration under way `01`, anything else `00`.
fn status_code(quality: u64) -> &'static str {
    let fault = QualityFlags::SENSOR_FAULT.bits()
        | QualityFlags::OUT_OF_RANGE.bits()
        | QualityFlags::STUCK_VALUE.bits();
    if quality & u64::from(fault) != 0 {
        "02"
    } else if quality & u64::from(QualityFlags::CALIBRATING.bits()) != 0 {
        "01"
    } else {
        "00"
    }
}

/// Sums, counts and worst status of each symbol in one interval.
type Accumulated = BTreeMap<String, (f64, u32, &'static str)>;

/// One expected file per station and interval that InfluxDB holds data for, keyed by its path on
/// the server: `<station>/yyyy/MM/dd/HG_IOC_<station>_<end, Vietnam time>.txt`. Each symbol's
/// value is the mean of the points that carry it, and its status the worst of those points'.
async fn expected_files(
    influx: &Influx1,
    registry: &Registry,
    start: u64,
) -> Result<BTreeMap<String, Expected>> {
    let mut out = BTreeMap::new();
    for node in registry.nodes() {
        let (measurement, fields): (&str, &[(&str, &str)]) = match node.kind {
            StationKind::Air => ("air_quality", &AIR_FIELDS),
            StationKind::Water => ("water_quality", &WATER_FIELDS),
        };
        let selects: Vec<&str> = fields.iter().map(|(_, f)| *f).collect();
        let q = format!(
            "SELECT {}, quality FROM {measurement} WHERE station = '{}' AND time >= {}ms AND time < {}ms",
            selects.join(", "),
            node.station,
            start - INTERVAL_MS,
            start + 90 * MINUTE_MS
        );
        let result = influx.query(DATABASE, &q).await?;
        let Some(series) = result["results"][0]["series"][0].as_object() else {
            continue;
        };
        let columns: Vec<&str> = series["columns"]
            .as_array()
            .context("columns")?
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        let quality_at = columns
            .iter()
            .position(|c| *c == "quality")
            .context("quality column")?;
        let mut intervals: BTreeMap<u64, Accumulated> = BTreeMap::new();
        for row in series["values"].as_array().context("values")? {
            let row = row.as_array().context("row")?;
            let t = row[0].as_u64().context("time")?;
            let status = status_code(row[quality_at].as_u64().unwrap_or(0));
            let interval = intervals.entry(t - t % INTERVAL_MS).or_default();
            for (symbol, field) in fields {
                if let Some(i) = columns.iter().position(|c| c == field)
                    && let Some(v) = row[i].as_f64()
                {
                    let (sum, count, worst) = interval.entry((*symbol).to_owned()).or_insert((0.0, 0, "00"));
                    *sum += v;
                    *count += 1;
                    *worst = (*worst).max(status);
                }
            }
        }
        for (t, symbols) in intervals {
            if symbols.is_empty() {
                continue;
            }
            let (stamp, folder) = vietnam(t + INTERVAL_MS)?;
            let means = symbols
                .iter()
                .map(|(s, (sum, count, _))| (s.clone(), sum / f64::from(*count)))
                .collect();
            let status = symbols
                .iter()
                .filter(|(_, (_, _, worst))| *worst != "00")
                .map(|(s, (_, _, worst))| (s.clone(), (*worst).to_owned()))
                .collect();
            let path = PathBuf::from(&node.station)
                .join(folder)
                .join(format!("HG_IOC_{}_{stamp}.txt", node.station));
            out.insert(
                path.to_string_lossy().into_owned(),
                Expected { stamp, means, status },
            );
        }
    }
    Ok(out)
}

fn relay_snapshot(stats: &Arc<relay::Stats>) -> relay::Snapshot {
    stats.snapshot((0, 0), &[], wall_ms())
}

/// True when the relay has no interval open (the workers' queue is checked through the files).
fn relay_snapshot_idle(stats: &Arc<relay::Stats>) -> bool {
    relay_snapshot(stats).intervals_open == 0
}
