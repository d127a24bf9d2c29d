//! The IOC API against real InfluxDB 1.6: at start it rebuilds the hourly history over InfluxQL
//! (`/query`), so the AQI is there before any frame arrives; a frame the broker redelivers that
//! InfluxDB already holds is not counted twice; station history and the open-data export read
//! the same data; bad ranges get a 400 naming the field.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use ioc_api::indices::{Pollutant, vn_aqi};
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN};
use serde_json::Value;
use simulators::clock::wall_ms;
use support::{Influx1, Mosquitto, MosquittoOptions, TestClient, ioc_config, start_ioc};

const DATABASE: &str = "citysense";
const HOUR_MS: u64 = 3_600_000;
const MINUTE_MS: u64 = 60_000;

/// PM2.5 in hour `h` (0 = six hours ago): steps of 10 µg/m³, so each hourly mean is known.
fn pm_of_hour(h: u64) -> f64 {
    10.0 * (h + 1) as f64
}

async fn get(url: &str) -> Result<(u16, Value)> {
    let response = reqwest::get(url).await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_rebuilt_from_influxdb_and_served() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let influx = Influx1::start().await?;
    influx.create_database(DATABASE).await?;
    let registry = simulators::stations::hau_giang(1, 1);
    let air = registry
        .nodes()
        .find(|n| n.kind == protocol::registry::StationKind::Air)
        .context("air node")?
        .clone();
    let water = registry
        .nodes()
        .find(|n| n.kind == protocol::registry::StationKind::Water)
        .context("water node")?
        .clone();
    let registry_path = dir.path().join("nodes.toml");
    std::fs::write(&registry_path, registry.to_toml())?;

    // Six complete hours of one-minute points, as the collector writes them
    // (docs/influxdb-schema.md), ending at the start of the current hour.
    let now_hour = wall_ms() - wall_ms() % HOUR_MS;
    let start = now_hour - 6 * HOUR_MS;
    let mut lines = String::new();
    for minute in 0..6 * 60 {
        let t = start + minute * MINUTE_MS;
        let h = minute / 60;
        let district = air.district.replace(' ', "\\ ");
        lines.push_str(&format!(
            "air_quality,node={},station={},district={district} pm2_5={},pm10={},seq={}i {t}\n",
            air.id,
            air.station,
            pm_of_hour(h),
            2.0 * pm_of_hour(h),
            minute
        ));
        let wd = water.district.replace(' ', "\\ ");
        lines.push_str(&format!(
            "water_quality,node={},station={},district={wd} conductivity=2170,temperature=30,ph=7.1,dissolved_oxygen=6,seq={}i {t}\n",
            water.id, water.station, minute
        ));
    }
    influx.write(DATABASE, &lines).await?;

    let mut config = ioc_config(&mosquitto, "ioc-history", &registry_path, dir.path());
    config.influx = Some(ioc_api::config::InfluxConfig::new(influx.url(), DATABASE));
    let ioc = start_ioc(config, &registry).await?;
    let (status, ready) = get(&format!("{}/readyz", ioc.url)).await?;
    ensure!(
        status == 200 && ready["history_rebuilt"] == true,
        "readyz: {status} {ready}"
    );

    // The AQI from the rebuilt hours alone, equal to the decision's formula over the known means:
    // c1 is the newest stored hour (five hours back is c6).
    let (_, station) = get(&format!("{}/api/v1/stations/{}", ioc.url, air.station)).await?;
    let pm25: Vec<Option<f64>> = (0..12u64)
        .map(|back| (back < 6).then(|| pm_of_hour(5 - back)))
        .collect();
    let pm10: Vec<Option<f64>> = pm25.iter().map(|v| v.map(|v| 2.0 * v)).collect();
    let expected = vn_aqi::hourly(&BTreeMap::from([
        (Pollutant::Pm25, pm25),
        (Pollutant::Pm10, pm10),
    ]))
    .context("expected AQI")?;
    ensure!(
        station["vn_aqi"]["value"] == expected.aqi,
        "VN_AQI after the rebuild: {} (expected {})",
        station["vn_aqi"],
        expected.aqi
    );
    ensure!(
        station["us_aqi"]["value"].is_u64(),
        "US AQI after the rebuild: {station}"
    );
    // Water: salinity recomputed per bucket from conductivity and temperature (PSS-78):
    // 2.17 mS/cm at 30 °C is about 1 ‰.
    let (_, water_view) = get(&format!("{}/api/v1/stations/{}/hourly", ioc.url, water.station)).await?;
    let salinity = water_view["series"]["salinity"]
        .as_array()
        .context("salinity series")?;
    let last = salinity
        .iter()
        .rev()
        .find_map(Value::as_f64)
        .context("a salinity hour")?;
    ensure!((last - 1.0).abs() < 0.03, "rebuilt salinity {last}");

    // The broker redelivers the last stored frame (same node time): not counted again. A new
    // frame is.
    let hourly_before = get(&format!("{}/api/v1/stations/{}/hourly", ioc.url, air.station))
        .await?
        .1;
    let key = air.key.clone();
    let mut publisher = TestClient::connect(mosquitto.port(), "history-test", true).await?;
    let topic = NodeTopic {
        prefix: DEFAULT_PREFIX,
        node_id: air.id,
        channel: NodeChannel::Telemetry,
    }
    .to_string();
    let frame = |seq: u32, t: u64, pm: u16| -> Result<Vec<u8>> {
        let f = Frame {
            node_id: air.id,
            boot: 1,
            seq,
            time_ms: t,
            body: Body::Air(AirSample {
                samples: 1,
                pm2_5: Some(pm),
                ..AirSample::default()
            }),
        };
        let mut buf = [0u8; MAX_FRAME_LEN];
        Ok(f.encode(key.as_ref(), &mut buf)?.to_vec())
    };
    publisher
        .publish_qos1(&topic, &frame(9_999, now_hour - MINUTE_MS, 9_000)?)
        .await?;
    publisher
        .publish_qos1(&topic, &frame(10_000, now_hour + MINUTE_MS, 123)?)
        .await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, s) = get(&format!("{}/api/v1/stations/{}", ioc.url, air.station)).await?;
        if s["reading"]["pm2_5"] == 12.3 {
            break;
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the new frame never arrived: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hourly_after = get(&format!("{}/api/v1/stations/{}/hourly", ioc.url, air.station))
        .await?
        .1;
    let series = |v: &Value| v["series"]["pm2_5"].as_array().cloned().unwrap_or_default();
    let (before, after) = (series(&hourly_before), series(&hourly_after));
    ensure!(
        before[before.len() - 1] == after[after.len() - 2],
        "the redelivered 900 µg/m³ frame changed the stored hour: {before:?} → {after:?}"
    );
    publisher.disconnect().await?;

    // History over InfluxQL: six hourly means equal to what was written.
    let from = time_text(start);
    let to = time_text(now_hour);
    let (status, history) = get(&format!(
        "{}/api/v1/stations/{}/readings?from={from}&to={to}&every=1h",
        ioc.url, air.station
    ))
    .await?;
    ensure!(status == 200, "history: {status} {history}");
    let means: Vec<f64> = history["points"]
        .as_array()
        .context("points")?
        .iter()
        .filter_map(|p| p["values"]["pm2_5"].as_f64())
        .collect();
    ensure!(
        means == (0..6).map(pm_of_hour).collect::<Vec<_>>(),
        "history means {means:?}"
    );
    let (status, err) = get(&format!(
        "{}/api/v1/stations/{}/readings?from={to}&to={from}",
        ioc.url, air.station
    ))
    .await?;
    ensure!(
        status == 400 && err["field"] == "from",
        "reversed range: {status} {err}"
    );

    // Open data: hourly means with station metadata.
    let (status, export) = get(&format!(
        "{}/api/v1/export/hourly.json?from={from}&to={to}&kind=air",
        ioc.url
    ))
    .await?;
    ensure!(status == 200, "export: {status} {export}");
    let rows = export["rows"].as_array().context("rows")?;
    ensure!(rows.len() == 6, "export rows: {}", rows.len());
    ensure!(
        rows[0]["district"] == air.district.as_str() && rows[0]["lon"].is_number(),
        "row: {}",
        rows[0]
    );
    let csv = reqwest::get(format!(
        "{}/api/v1/export/hourly.csv?from={from}&to={to}",
        ioc.url
    ))
    .await?
    .text()
    .await?;
    let lines: Vec<&str> = csv.lines().collect();
    ensure!(
        lines[0].starts_with("station,name,district,kind,lon,lat,hour_start_utc,"),
        "CSV header: {}",
        lines[0]
    );
    ensure!(
        lines.len() == 1 + 12,
        "CSV rows (6 air + 6 water hours): {}",
        lines.len()
    );

    ioc.stop.cancel();
    ioc.task.await??;
    Ok(())
}

fn time_text(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((ms / 1_000) as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
