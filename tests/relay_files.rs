//! The relay on real services: simulated nodes running the firmware's code publish a simulated
//! hour at speed through real mosquitto; a collector writes it to real InfluxDB 1.6; the relay
//! writes one file per station and five-minute interval and uploads it to a real FTP server
//! (pyftpdlib). Every interval's file is on the server, named and laid out as configured; every
//! line parses with the parser below, written from the reference's layout
//! (`shared/reference/vn-transmission.md`), not from the relay's code; each value equals the mean
//! InfluxDB holds for that interval; frames flagged calibrating and faulty give `01` and `02`.

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
use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN, QualityFlags};
use simulators::clock::wall_ms;
use support::{
    FtpServer, FtpServerOptions, InProcess, Influx1, Mosquitto, MosquittoOptions, TestClient, influx1_config,
};
use time::{OffsetDateTime, UtcOffset};
use tokio_util::sync::CancellationToken;

const DATABASE: &str = "citysense";
/// A keyless air node that sends hand-made frames with quality flags.
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

/// Signed-or-CRC frames of the flagged node: three in each of three intervals from `start`,
/// flagged calibrating, faulty, then clean.
fn flagged_frames(start: u64) -> Vec<(Frame, QualityFlags)> {
    let flags = [
        QualityFlags::CALIBRATING,
        QualityFlags::SENSOR_FAULT,
        QualityFlags::empty(),
    ];
    let mut out = Vec::new();
    for (i, quality) in flags.into_iter().enumerate() {
        for k in 0..3u64 {
            let seq = (i * 3) as u32 + k as u32;
            out.push((
                Frame {
                    node_id: FLAGGED,
                    boot: 1,
                    seq,
                    time_ms: start + i as u64 * INTERVAL_MS + k * MINUTE_MS + 1_000,
                    body: Body::Air(AirSample {
                        quality,
                        samples: 1,
                        pm2_5: Some(200 + seq as u16),
                        ..AirSample::default()
                    }),
                },
                quality,
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_of_frames_reaches_the_ftp_server_as_one_file_per_interval() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let ftp = FtpServer::start(FtpServerOptions::default()).await?;

    let fleet_registry = simulators::stations::hau_giang(2, 1);
    let flagged = NodeInfo {
        id: FLAGGED,
        station: "HG-QC-A50".into(),
        name: "Kiểm tra cờ".into(),
        kind: StationKind::Air,
        district: "Vị Thanh".into(),
        location: Some((105.47, 9.78)),
        key: None,
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
    let topic = NodeTopic {
        prefix: DEFAULT_PREFIX,
        node_id: FLAGGED,
        channel: NodeChannel::Telemetry,
    }
    .to_string();
    let flagged_start = start + 20 * MINUTE_MS;
    for (frame, _) in flagged_frames(flagged_start) {
        let mut buf = [0u8; MAX_FRAME_LEN];
        let bytes = frame.encode(None, &mut buf)?;
        client.publish_qos1(&topic, bytes).await?;
    }

    // Every frame in InfluxDB, then every interval of it on the FTP server.
    let expected_points = (telemetry + 9) as u64;
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
    let flagged_status: Vec<&str> = expected
        .iter()
        .filter(|(p, _)| p.starts_with(&flagged.station))
        .flat_map(|(_, w)| w.status.values().map(String::as_str))
        .collect();
    ensure!(
        flagged_status == ["01", "02"],
        "flagged intervals: {flagged_status:?}"
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

/// One expected file per station and interval that InfluxDB holds data for, keyed by its path on
/// the server: `<station>/yyyy/MM/dd/HG_IOC_<station>_<end, Vietnam time>.txt`.
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
        let selects: Vec<String> = fields.iter().map(|(_, f)| format!("mean({f}) AS {f}")).collect();
        let q = format!(
            "SELECT {}, max(quality) AS quality FROM {measurement} WHERE station = '{}' AND time >= {}ms AND time < {}ms GROUP BY time(5m)",
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
        for row in series["values"].as_array().context("values")? {
            let row = row.as_array().context("row")?;
            let Some(t) = row[0].as_u64() else { continue };
            let mut means = BTreeMap::new();
            for (symbol, field) in fields {
                if let Some(i) = columns.iter().position(|c| c == field)
                    && let Some(v) = row[i].as_f64()
                {
                    means.insert((*symbol).to_owned(), v);
                }
            }
            if means.is_empty() {
                continue;
            }
            let quality = columns
                .iter()
                .position(|c| *c == "quality")
                .and_then(|i| row[i].as_u64())
                .unwrap_or(0) as u8;
            let status = match QualityFlags::from_bits(quality) {
                Some(q) if q.bits() & 0b1110 != 0 => "02",
                Some(q) if q.contains(QualityFlags::CALIBRATING) => "01",
                _ => "00",
            };
            let (stamp, folder) = vietnam(t + INTERVAL_MS)?;
            let status = if status == "00" {
                BTreeMap::new()
            } else {
                means.keys().map(|s| (s.clone(), status.to_owned())).collect()
            };
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
