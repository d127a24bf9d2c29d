//! The all-in-one command with no external services: it backfills history through its embedded
//! broker into the local readings file and serves the API, history and the hourly CSV included,
//! and the water stations' VN_WQI from the simulated laboratory's samples; `ship` later sends that file to a real
//! InfluxDB, where every line becomes exactly one point.

mod support;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use citysense::demo::{Demo, DemoConfig};
use collector::config::SinkConfig;
use serde_json::Value;
use support::Influx1;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_runs_without_services_and_its_file_ships_to_influxdb() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = DemoConfig {
        data_dir: dir.path().join("data"),
        mqtt_listen: "127.0.0.1:0".parse()?,
        broker: None,
        api_listen: "127.0.0.1:0".parse()?,
        air: 3,
        water: 2,
        backfill: Duration::from_secs(90 * 60),
        sink: None,
        episode: true,
    };
    let demo = Demo::start(config).await?;
    let api = format!("http://{}", demo.api);
    let readings = dir.path().join("data/readings.lp");
    let stop = CancellationToken::new();
    let running = tokio::spawn(demo.run(stop.clone().cancelled_owned()));

    // 90 minutes at one frame a minute for 5 nodes, plus status frames.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let lines = loop {
        let lines = std::fs::read_to_string(&readings)
            .unwrap_or_default()
            .lines()
            .count();
        if lines >= 5 * 90 || tokio::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    ensure!(
        lines >= 5 * 90,
        "the demo wrote {lines} lines to {}",
        readings.display()
    );

    let stations: Vec<Value> = reqwest::get(format!("{api}/api/v1/stations"))
        .await?
        .json()
        .await?;
    ensure!(
        stations.len() == 5 && stations.iter().all(|s| s["online"] == true),
        "{stations:#?}"
    );
    let firing: Vec<Value> = reqwest::get(format!("{api}/api/v1/alerts?state=firing"))
        .await?
        .json()
        .await?;
    ensure!(
        firing.len() == 1,
        "the forced episode should be firing at start: {firing:#?}"
    );

    // The water stations show a VN_WQI: the probes' pH and DO with the simulated laboratory's
    // BOD5, COD, nutrients and coliform, posted through the API.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stations: Vec<Value> = reqwest::get(format!("{api}/api/v1/stations"))
            .await?
            .json()
            .await?;
        let water: Vec<&Value> = stations.iter().filter(|s| s["kind"] == "water").collect();
        if water.len() == 2 && water.iter().all(|s| s["wqi"]["value"].is_u64()) {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "no VN_WQI at the water stations: {:?}",
            water
                .iter()
                .map(|s| (&s["station"], &s["wqi"]))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // History and the open-data export answer without InfluxDB, from the IOC's database.
    let station = &stations[0]["station"];
    let station = station.as_str().context("station id")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let points = loop {
        let history: Value = reqwest::get(format!("{api}/api/v1/stations/{station}/readings"))
            .await?
            .json()
            .await?;
        let points = history["points"].as_array().map_or(0, Vec::len);
        if points > 0 || tokio::time::Instant::now() > deadline {
            break points;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ensure!(points > 0, "no history for {station} in the demo");
    let csv = reqwest::get(format!("{api}/api/v1/export/hourly.csv")).await?;
    ensure!(csv.status().is_success(), "export: {}", csv.status());
    let csv = csv.text().await?;
    ensure!(csv.lines().count() > 1, "export: {csv}");

    stop.cancel();
    running.await.context("demo task")??;

    let written = std::fs::read_to_string(&readings)?.lines().count() as u64;
    let influx = Influx1::start().await?;
    influx.create_database("shipped").await?;
    let target = SinkConfig::InfluxV1 {
        url: influx.url(),
        database: "shipped".into(),
        retention_policy: None,
        username: None,
        password: None,
        password_file: None,
        gzip: true,
        timeout_ms: 10_000,
    };
    let shipped = collector::ship_file(&readings, &target).await?;
    ensure!(shipped == written, "shipped {shipped} of {written} lines");
    let mut stored = 0;
    for measurement in ["air_quality", "water_quality", "node_status"] {
        let answer = influx
            .query("shipped", &format!("SELECT count(seq) FROM {measurement}"))
            .await?;
        stored += answer["results"][0]["series"][0]["values"][0][1]
            .as_u64()
            .context("count")?;
    }
    ensure!(
        stored == written,
        "InfluxDB holds {stored} points from {written} lines"
    );
    eprintln!(
        "demo: {written} readings written locally while running without services, all {stored} shipped to InfluxDB 1.6"
    );
    Ok(())
}
