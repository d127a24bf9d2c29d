//! Co-location calibration over the API: an admin posts a reference monitor's hourly means,
//! the IOC fits them against the station's own raw hourly PM2.5, keeps the fit as proposed, and
//! applies or rolls it back on request; the applied calibration, and the raw history a fit
//! needs, survive a restart.

mod common;

use axum::http::StatusCode;
use common::{Api, MINUTE};
use ioc_api::store::Store;
use protocol::{AirSample, Body};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const HOUR: u64 = 60 * MINUTE;
const HOURS: u64 = 30;

/// The station's PM2.5 in hour `h` of the co-location, µg/m³.
fn raw(h: u64) -> f64 {
    10.0 + 2.0 * h as f64
}

/// The reference monitor beside it reads 0.6 · raw + 1.5.
fn reference(h: u64) -> f64 {
    0.6 * raw(h) + 1.5
}

fn air(pm2_5: f64) -> Body {
    Body::Air(AirSample {
        samples: 6,
        pm2_5: Some((pm2_5 * 10.0).round() as u16),
        humidity: Some(7_000),
        ..AirSample::default()
    })
}

/// Six readings an hour for `HOURS` whole hours ending before the current one; returns the
/// first hour's start.
fn co_locate(api: &Api, now: OffsetDateTime) -> u64 {
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as u64;
    let first = now_ms - now_ms % HOUR - (HOURS + 1) * HOUR;
    for h in 0..HOURS {
        for m in 0..6 {
            api.frame(101, first + h * HOUR + m * 10 * MINUTE, air(raw(h)), now);
        }
    }
    first
}

fn reference_body(first: u64) -> Vec<Value> {
    (0..HOURS)
        .map(|h| {
            let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(first + h * HOUR) * 1_000_000)
                .expect("time");
            json!({ "hour": at.format(&Rfc3339).expect("format"), "value": reference(h) })
        })
        .collect()
}

fn close(value: &Value, want: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - want).abs() < 1e-6)
}

#[tokio::test]
async fn a_fit_is_inspected_applied_rolled_back_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ioc-api.sqlite");
    let config = common::config();
    let now = OffsetDateTime::now_utc();
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as u64;
    let uri = "/api/v1/stations/HG-VT-A01/calibrations";
    let (first, linear_id) = {
        let api = Api::with_store(config.clone(), Store::open(&path).expect("db"));
        let admin = api.token("calibrator", "admin");
        let operator = api.token("desk", "operator");
        let first = co_locate(&api, now);
        let body = json!({ "reference": reference_body(first), "note": "BAM-1020 at Vị Thanh" });

        let (status, _) = api.post(uri, None, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = api.post(uri, Some(&operator), body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "fitting is an admin's");

        let (status, fit) = api.post(uri, Some(&admin), body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{fit}");
        let segment = &fit["calibration"]["segments"][0];
        assert!(
            close(&segment["slope"], 0.6) && close(&segment["intercept"], 1.5),
            "the line the reference lies on: {fit}"
        );
        assert_eq!(fit["calibration"]["stats"]["n"], HOURS);
        assert!(close(&fit["calibration"]["stats"]["r2"], 1.0), "{fit}");
        assert_eq!(fit["status"], "proposed");
        assert_eq!(fit["note"], "BAM-1020 at Vị Thanh");
        let (_, station) = api.get("/api/v1/stations/HG-VT-A01").await;
        assert_eq!(station["pm2_5_basis"], "raw", "a proposed fit changes nothing");

        let id = fit["id"].as_i64().expect("id");
        let (status, applied) = api
            .post(&format!("{uri}/{id}/apply"), Some(&admin), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{applied}");
        assert_eq!(applied["status"], "applied");
        api.frame(101, now_ms - MINUTE, air(40.0), now);
        let (_, station) = api.get("/api/v1/stations/HG-VT-A01").await;
        assert_eq!(station["pm2_5_basis"], "co_location", "{station}");
        assert_eq!(
            station["reading"]["pm2_5"], 40.0,
            "the reading keeps the sensor's value"
        );
        assert!(
            close(&station["pm2_5_corrected"], 25.5),
            "0.6 · 40 + 1.5: {station}"
        );
        let (_, entity) = api
            .get("/api/v1/ngsi-ld/entities/urn:ngsi-ld:AirQualityObserved:HG-VT-A01")
            .await;
        assert_eq!(entity["pm25"]["value"], 40.0, "{entity}");
        assert_eq!(entity["pm25"]["basis"]["value"], "raw");
        assert!(close(&entity["pm25Corrected"]["value"], 25.5), "{entity}");
        assert_eq!(entity["pm25Corrected"]["basis"]["value"], "co_location");
        let (_, _, csv) = api.get_text("/api/v1/export/hourly.csv?station=HG-VT-A01").await;
        let mut lines = csv.lines();
        assert!(
            lines
                .next()
                .is_some_and(|h| h.ends_with(",pm2_5_basis,quality_controlled")),
            "{csv}"
        );
        // The co-location hours were computed raw; the hour of the change says so.
        let rows: Vec<&str> = lines.collect();
        assert!(
            rows.len() >= HOURS as usize && rows[..HOURS as usize].iter().all(|l| l.ends_with(",raw,true")),
            "{csv}"
        );
        assert!(
            rows[HOURS as usize..]
                .iter()
                .all(|l| l.ends_with(",raw,true") || l.ends_with(",mixed,true")),
            "{csv}"
        );

        // A second fit, applied over the first, then rolled back twice.
        let (status, piecewise) = api
            .post(
                uri,
                Some(&admin),
                json!({ "method": "piecewise", "quantiles": 1, "reference": reference_body(first) }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{piecewise}");
        assert_eq!(piecewise["calibration"]["method"], "piecewise");
        let second = piecewise["id"].as_i64().expect("id");
        let (_, applied) = api
            .post(&format!("{uri}/{second}/apply"), Some(&admin), json!({}))
            .await;
        assert_eq!(applied["replaced"], id, "{applied}");
        let rollback = format!("{uri}/rollback");
        let (status, back) = api.post(&rollback, Some(&admin), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{back}");
        assert_eq!(back["rolled_back"]["id"], second);
        assert_eq!(back["applied"]["id"], id, "the one it replaced is applied again");
        let (_, back) = api.post(&rollback, Some(&admin), json!({})).await;
        assert_eq!(back["applied"], Value::Null);
        assert_eq!(back["pm2_5_basis"], "raw");
        let (status, _) = api.post(&rollback, Some(&admin), json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "nothing left to roll back");

        let (_, listed) = api.get(uri).await;
        assert_eq!(
            listed["calibrations"].as_array().map(Vec::len),
            Some(2),
            "{listed}"
        );
        assert_eq!(listed["applied"], Value::Null);
        let (status, _) = api
            .post(&format!("{uri}/{id}/apply"), Some(&admin), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
        api.state.save_history();
        (first, id)
    };

    let api = Api::with_store(config, Store::open(&path).expect("db"));
    let admin = api.token("calibrator-2", "admin");
    let (_, listed) = api.get(uri).await;
    assert_eq!(listed["applied"], linear_id, "{listed}");
    api.frame(101, now_ms, air(20.0), now);
    let (_, station) = api.get("/api/v1/stations/HG-VT-A01").await;
    assert_eq!(station["pm2_5_basis"], "co_location", "{station}");
    assert!(
        close(&station["pm2_5_corrected"], 13.5),
        "0.6 · 20 + 1.5: {station}"
    );
    // The station's raw hours came back with the local history: the same fit again.
    let (status, again) = api
        .post(uri, Some(&admin), json!({ "reference": reference_body(first) }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["calibration"]["stats"]["n"], HOURS);
    assert!(
        close(&again["calibration"]["segments"][0]["slope"], 0.6),
        "{again}"
    );
}

#[tokio::test]
async fn a_fit_that_cannot_be_made_says_why() {
    let api = Api::with_config(common::config());
    let admin = api.token("calibrator", "admin");
    let now = OffsetDateTime::now_utc();
    let first = co_locate(&api, now);
    let uri = "/api/v1/stations/HG-VT-A01/calibrations";
    let short: Vec<Value> = reference_body(first).into_iter().take(5).collect();
    let (status, body) = api.post(uri, Some(&admin), json!({ "reference": short })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "reference");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("5 pairs") && m.contains("at least 24")),
        "{body}"
    );

    let off_hour = json!({ "reference": [{ "hour": "2026-12-01T10:30:00Z", "value": 5.0 }] });
    let (status, body) = api.post(uri, Some(&admin), off_hour).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["field"], "reference[0].hour", "{body}");

    let both = json!({ "method": "linear", "quantiles": 2, "reference": reference_body(first) });
    let (status, body) = api.post(uri, Some(&admin), both).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("method"))
    );

    let (status, body) = api
        .post(
            "/api/v1/stations/HG-VT-W01/calibrations",
            Some(&admin),
            json!({ "reference": reference_body(first) }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a water station: {body}"
    );
    let (status, _) = api
        .post(
            "/api/v1/stations/NOPE/calibrations",
            Some(&admin),
            json!({ "reference": reference_body(first) }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .post(&format!("{uri}/99/apply"), Some(&admin), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
