//! PM2.5 corrected by the US EPA formula where `quality.correction` says so: the reading keeps
//! the sensor's value, the means, AQI, alerts and exports use the corrected one and say so, and after a
//! restart (the local hourly history) the means are the corrected ones still.

mod common;

use axum::http::StatusCode;
use common::{Api, MINUTE};
use ioc_api::quality::Correction;
use ioc_api::store::Store;
use protocol::{AirSample, Body};
use time::OffsetDateTime;

fn feed(api: &Api, start_ms: u64, minutes: u64, now: OffsetDateTime) {
    for minute in 0..=minutes {
        let body = Body::Air(AirSample {
            samples: 6,
            pm2_5: Some(200),      // 20.0 µg/m³
            humidity: Some(8_000), // 80 %RH
            ..AirSample::default()
        });
        api.frame(101, start_ms + minute * MINUTE, body, now);
    }
}

#[tokio::test]
async fn corrected_pm2_5_feeds_the_means_and_says_so_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ioc-api.sqlite");
    let mut config = common::config();
    config
        .quality
        .correction
        .stations
        .insert("HG-VT-A01".into(), Correction::Epa);
    let now = OffsetDateTime::now_utc();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as u64;
    let start = now_ms - 70 * MINUTE;
    // 0.524 · 20 − 0.0862 · 80 + 5.75 = 9.334, shown at the sensor's 0.1 µg/m³.
    let expected = 9.3;
    let before = {
        let api = Api::with_store(config.clone(), Store::open(&path).expect("db"));
        feed(&api, start, 70, now);
        let (status, station) = api.get("/api/v1/stations/HG-VT-A01").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            station["reading"]["pm2_5"], 20.0,
            "the reading keeps the sensor's value"
        );
        assert_eq!(station["pm2_5_corrected"], expected, "{station}");
        assert_eq!(station["pm2_5_basis"], "us_epa_rh");
        assert_eq!(station["means_1h"]["pm2_5"], expected, "{station}");
        let (_, aqi) = api.get("/api/v1/indices/aqi?station=HG-VT-A01").await;
        assert_eq!(aqi["stations"][0]["pm2_5_basis"], "us_epa_rh", "{aqi}");
        let (_, other) = api.get("/api/v1/stations/HG-VT-W01").await;
        assert_eq!(
            other["pm2_5_basis"], "raw",
            "a station not named keeps the sensor's value"
        );
        api.state.save_history();
        let (_, export) = api.get("/api/v1/export/hourly.json?station=HG-VT-A01").await;
        let row = &export["rows"][0];
        assert!(
            row["pm2_5_basis"] == "us_epa_rh" && row["quality_controlled"] == true,
            "the export says what its means are of: {export}"
        );
        api.get("/api/v1/stations/HG-VT-A01/readings?every=1h").await.1
    };
    let api = Api::with_store(config, Store::open(&path).expect("db"));
    let (_, after) = api.get("/api/v1/stations/HG-VT-A01/readings?every=1h").await;
    // The restored hours hold the corrected means, not the sensor's 20.0.
    let means = |history: &serde_json::Value| -> Vec<f64> {
        history["points"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["values"]["pm2_5"].as_f64()).collect())
            .unwrap_or_default()
    };
    assert!(
        !means(&after).is_empty() && means(&after).iter().all(|v| *v == expected),
        "{after}"
    );
    assert_eq!(means(&before), means(&after));
}
