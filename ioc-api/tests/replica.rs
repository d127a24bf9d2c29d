//! A replica (`alerts.evaluate = false`) behind a load balancer: it serves the readings of the
//! frames it takes, raises no alert from them (the evaluating instance does, once), and refuses
//! alert and rule changes with a 409 that says where they belong.

mod common;

use axum::http::StatusCode;
use common::{Api, MINUTE, T0};
use protocol::{AirSample, Body};
use serde_json::json;
use time::OffsetDateTime;

/// Two hours of PM2.5 at 300 µg/m³, far over the default 1 h warning (45 µg/m³), then a tick.
fn smoke(api: &Api) {
    for minute in 0..120 {
        let now = OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0 + minute * MINUTE) * 1_000_000)
            .expect("time");
        let body = Body::Air(AirSample {
            samples: 1,
            pm2_5: Some(3_000),
            ..AirSample::default()
        });
        api.frame(101, T0 + minute * MINUTE, body, now);
        api.state.tick(now);
    }
}

async fn alert_count(api: &Api) -> usize {
    let (status, alerts) = api.get("/api/v1/alerts").await;
    assert_eq!(status, StatusCode::OK, "{alerts}");
    alerts.as_array().expect("a list").len()
}

#[tokio::test]
async fn a_replica_takes_readings_but_raises_and_accepts_no_alert_change() {
    let primary = Api::new();
    smoke(&primary);
    assert!(
        alert_count(&primary).await > 0,
        "the evaluating instance raises an alert on the same frames"
    );

    let mut config = common::config();
    config.alerts.evaluate = false;
    let replica = Api::with_config(config);
    smoke(&replica);
    assert_eq!(alert_count(&replica).await, 0, "a replica raises nothing");
    let (status, station) = replica.get("/api/v1/stations/HG-VT-A01").await;
    assert_eq!(status, StatusCode::OK, "{station}");
    assert_eq!(station["reading"]["pm2_5"], json!(300.0), "{station}");
    assert_eq!(
        station["vn_aqi"]["value"],
        json!(350),
        "indices are served: {station}"
    );

    let admin = replica.token("lead", "admin");
    let (status, body) = replica
        .post(
            "/api/v1/thresholds",
            Some(&admin),
            json!({"parameter": "pm2_5", "scope": "all", "window": "latest", "level": "warning",
                "direction": "above", "trigger": 100.0, "recovery": 80.0}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("alerts.evaluate = false"), "{body}");
    let (status, body) = replica
        .post("/api/v1/alerts/1/ack", Some(&admin), json!({"comment": "đã xem"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = replica.delete("/api/v1/thresholds/1", Some(&admin)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[test]
fn a_replica_with_webhooks_is_refused_naming_the_field() {
    let text = ioc_api::config::DEFAULT_CONFIG.replace("evaluate = true", "evaluate = false")
        + "\n[[webhooks]]\nname = \"sms\"\nurl = \"https://sms.example.vn/hook\"\nsecret = \"0123456789abcdef\"\n";
    let err = service::config::from_toml::<ioc_api::Config>(&text).expect_err("refused");
    assert!(err.to_string().contains("alerts.evaluate"), "{err}");
}
