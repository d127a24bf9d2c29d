//! Without InfluxDB (the demo), the API keeps each station's hourly sums in its database: history
//! and the hourly exports answer from there instead of 503, and after a restart the hourly means
//! are the ones served before it.

mod common;

use axum::http::StatusCode;
use common::{Api, MINUTE};
use ioc_api::live::HOUR_MS;
use ioc_api::store::Store;
use protocol::{AirSample, Body};
use serde_json::{Value, json};
use time::{OffsetDateTime, UtcOffset};

fn pm(ug: f64) -> Body {
    Body::Air(AirSample {
        samples: 1,
        pm2_5: Some((ug * 10.0).round() as u16),
        ..AirSample::default()
    })
}

fn rfc3339(ms: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

/// The instant in Vietnam's time (UTC+7 all year), written independently of the API's code.
fn vietnam_time(ms: u64) -> String {
    let offset = UtcOffset::from_hms(7, 0, 0).expect("offset");
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .expect("time")
        .to_offset(offset);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]+07:00"
    ))
    .expect("format")
}

/// Three full hours of five-minute frames ending an hour before now: hour h has PM2.5 values
/// around 20 + 10·h, with decimals whose mean has more digits than the sensor's.
fn feed(api: &Api, start: u64, now: OffsetDateTime) {
    for h in 0..3u64 {
        for m in (0..60).step_by(5) {
            let ug = 20.0 + 10.0 * h as f64 + f64::from((m as u32 * 7) % 10) / 10.0;
            let t = start + h * HOUR_MS + m * MINUTE;
            api.message(101, 1, (t / 1_000) as u32, t, pm(ug), now);
        }
    }
}

async fn pm_hours(api: &Api) -> Vec<Value> {
    let (_, hourly) = api.get("/api/v1/stations/HG-VT-A01/hourly").await;
    hourly["series"]["pm2_5"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn history_and_exports_come_from_the_database_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ioc-api.sqlite");
    let now = OffsetDateTime::now_utc();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as u64;
    let start = now_ms - now_ms % HOUR_MS - 4 * HOUR_MS;
    let (from, to) = (rfc3339(start), rfc3339(start + 3 * HOUR_MS));
    let before = {
        let api = Api::with_store(common::config(), Store::open(&path).expect("db"));
        feed(&api, start, now);
        api.state.save_history();
        let (status, history) = api
            .get(&format!(
                "/api/v1/stations/HG-VT-A01/readings?from={from}&to={to}&every=1h"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{history}");
        let means: Vec<f64> = history["points"]
            .as_array()
            .expect("points")
            .iter()
            .filter_map(|p| p["values"]["pm2_5"].as_f64())
            .collect();
        assert_eq!(means.len(), 3, "{history}");
        for (h, mean) in means.iter().enumerate() {
            // The hour's mean, 20.25 µg/m³ and so on, shown at the sensor's 0.1 µg/m³.
            let expected = ((20.0 + 10.0 * h as f64 + 0.25) * 10.0).round() / 10.0;
            assert!((mean - expected).abs() < 1e-9, "hour {h}: {mean} vs {expected}");
        }
        let (status, day) = api
            .get(&format!(
                "/api/v1/stations/HG-VT-A01/readings?from={from}&to={to}&every=1d"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{day}");
        let (status, body) = api
            .get(&format!(
                "/api/v1/stations/HG-VT-A01/readings?from={from}&to={to}&every=5m"
            ))
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("every")),
            "{body}"
        );
        let (status, export) = api
            .get(&format!("/api/v1/export/hourly.json?from={from}&to={to}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{export}");
        assert_eq!(export["rows"].as_array().map(Vec::len), Some(3), "{export}");
        let first = &export["rows"][0];
        assert_eq!(export["time_zone"], "Asia/Ho_Chi_Minh", "{export}");
        assert_eq!(
            (first["hour_start"].as_str(), first["hour_start_local"].as_str()),
            (Some(from.as_str()), Some(vietnam_time(start).as_str())),
            "{first}"
        );
        assert_eq!(
            (&first["name"], &first["district"]),
            (&json!("Vị Thanh"), &json!("Vị Thanh"))
        );
        let (status, content_type, csv) = api
            .get_text(&format!("/api/v1/export/hourly.csv?from={from}&to={to}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{csv}");
        assert_eq!(content_type, "text/csv; charset=utf-8");
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        assert_eq!(header[6..8], ["hour_start_utc", "hour_start_local"], "{header:?}");
        let row: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        assert_eq!(
            row[..8],
            [
                "HG-VT-A01",
                "Vị Thanh",
                "Vị Thanh",
                "air",
                "105.47",
                "9.78",
                &from,
                &vietnam_time(start)
            ],
            "{csv}"
        );
        // A frame in the next hour, so the hourly view ends at the same hour after the restart.
        api.message(101, 1, 4_000_000_000, start + 3 * HOUR_MS + MINUTE, pm(30.0), now);
        api.state.save_history();
        pm_hours(&api).await
    };
    let api = Api::with_store(common::config(), Store::open(&path).expect("db"));
    api.message(
        101,
        1,
        4_000_000_001,
        start + 3 * HOUR_MS + 2 * MINUTE,
        pm(30.0),
        now,
    );
    let after = pm_hours(&api).await;
    assert_eq!(
        before[..before.len() - 1],
        after[..after.len() - 1],
        "complete hours before and after the restart"
    );
    assert!(before.iter().filter(|v| v.is_number()).count() >= 3, "{before:?}");
}
