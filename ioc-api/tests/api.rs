//! The HTTP API over state fed directly with verified frames (no broker): JSON shapes, the
//! PM2.5 rule end to end, and JSON errors for bad requests.

use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use ioc_api::AppState;
use ioc_api::alerts::Pm25Rule;
use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::{AirSample, Body, Frame};
use serde_json::Value;
use time::OffsetDateTime;
use tower::ServiceExt;

const T0: u64 = 1_764_201_600_000; // 2025-11-27T00:00:00Z: the limit is 50 µg/m³ before 2026
const MINUTE: u64 = 60_000;

fn registry() -> Registry {
    Registry::from_nodes([NodeInfo {
        id: 101,
        station: "HG-VT-A01".into(),
        name: "Vi Thanh".into(),
        kind: StationKind::Air,
        district: "Vi Thanh".into(),
        location: Some((105.47, 9.78)),
        key: None,
    }])
    .expect("valid registry")
}

fn feed(state: &AppState, registry: &Registry, minute: u64, pm2_5_deci: u16) {
    let frame = Frame {
        node_id: 101,
        boot: 1,
        seq: minute as u32,
        time_ms: T0 + minute * MINUTE,
        body: Body::Air(AirSample {
            samples: 6,
            pm2_5: Some(pm2_5_deci),
            ..AirSample::default()
        }),
    };
    state.ingest(
        &frame,
        registry.get(101).expect("registered"),
        OffsetDateTime::now_utc(),
    );
}

async fn get(state: &Arc<AppState>, uri: &str) -> (StatusCode, Value) {
    let app = ioc_api::http::router(Arc::clone(state));
    let response = app
        .oneshot(Request::get(uri).body(HttpBody::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

#[tokio::test]
async fn an_hour_above_the_limit_fires_and_a_clean_hour_resolves() {
    let registry = registry();
    let state = AppState::new(&registry, Pm25Rule::default(), time::Duration::minutes(5));
    for minute in 0..=60 {
        feed(&state, &registry, minute, 300); // 30 µg/m³
    }
    let (_, alerts) = get(&state, "/api/v1/alerts").await;
    assert_eq!(alerts, Value::Array(vec![]), "30 µg/m³ is below the limit");

    for minute in 61..=120 {
        feed(&state, &registry, minute, 900); // 90 µg/m³
    }
    let (status, firing) = get(&state, "/api/v1/alerts?state=firing").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(firing.as_array().map(Vec::len), Some(1), "{firing}");
    assert_eq!(firing[0]["station"], "HG-VT-A01");
    assert_eq!(firing[0]["threshold"], 50.0);

    for minute in 121..=200 {
        feed(&state, &registry, minute, 100); // 10 µg/m³
    }
    let (_, resolved) = get(&state, "/api/v1/alerts?state=resolved").await;
    assert_eq!(resolved.as_array().map(Vec::len), Some(1), "{resolved}");
    assert!(resolved[0]["resolved_at"].is_string());

    let (_, stations) = get(&state, "/api/v1/stations").await;
    assert_eq!(stations[0]["reading"]["pm2_5"], 10.0);
    assert_eq!(stations[0]["pm2_5_1h_mean"], 10.0);
    assert_eq!(stations[0]["online"], true);
    assert_eq!(stations[0]["location"], serde_json::json!([105.47, 9.78]));
}

#[tokio::test]
async fn bad_requests_get_json_errors_naming_the_field() {
    let registry = registry();
    let state = AppState::new(&registry, Pm25Rule::default(), time::Duration::minutes(5));
    let (status, body) = get(&state, "/api/v1/alerts?state=open").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["field"], "state");
    let (status, body) = get(&state, "/api/v1/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    let (status, _) = get(&state, "/api/v1/stations/NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get(&state, "/api/v1/stations/HG-VT-A01").await;
    assert_eq!((status, body["node_id"].as_u64()), (StatusCode::OK, Some(101)));
}
