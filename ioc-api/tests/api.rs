//! The HTTP API over state fed directly with verified frames (no broker, in-memory SQLite):
//! JSON shapes, the PM2.5 early-warning rule end to end, the alert lifecycle through the API,
//! access control (401 vs 403), threshold validation (422 naming the field), audit, and JSON
//! errors for bad requests.

mod common;

use axum::http::StatusCode;
use common::{Api, MINUTE, T0};
use serde_json::{Value, json};

#[tokio::test]
async fn an_hour_above_the_limit_fires_and_a_clean_hour_resolves() {
    let api = Api::new();
    for minute in 0..=60 {
        api.feed_pm(101, minute, 300); // 30 µg/m³
    }
    let (_, alerts) = api.get("/api/v1/alerts").await;
    assert_eq!(alerts, json!([]), "30 µg/m³ is below the limit");

    for minute in 61..=120 {
        api.feed_pm(101, minute, 900); // 90 µg/m³
    }
    let (status, firing) = api.get("/api/v1/alerts?state=firing").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(firing.as_array().map(Vec::len), Some(1), "{firing}");
    assert_eq!(firing[0]["station"], "HG-VT-A01");
    assert_eq!(firing[0]["parameter"], "pm2_5");
    assert_eq!(firing[0]["window"], "1h");
    assert_eq!(
        firing[0]["threshold"], 50.0,
        "the 2025 limit: the data is from November 2025"
    );

    for minute in 121..=200 {
        api.feed_pm(101, minute, 100); // 10 µg/m³
    }
    let (_, resolved) = api.get("/api/v1/alerts?state=resolved").await;
    assert_eq!(resolved.as_array().map(Vec::len), Some(1), "{resolved}");
    assert_eq!(resolved[0]["resolution"], "hysteresis");
    assert_eq!(resolved[0]["peak"], 90.0);

    let (_, stations) = api.get("/api/v1/stations").await;
    let s = &stations[0];
    assert_eq!(s["reading"]["pm2_5"], 10.0);
    assert_eq!(s["pm2_5_1h_mean"], 10.0);
    assert_eq!(s["online"], true);
    assert_eq!(s["location"], json!([105.47, 9.78]));
    // Hours 00–03 of 2025-11-27 UTC: c1 (03:00) holds minutes 180–200 only, under 75 % coverage;
    // c2 = 02:00 (10), c3 = 01:00 (90): NowCast over 02:00, 01:00, 00:00 (30) is valid.
    assert!(s["vn_aqi"]["value"].is_u64(), "{s}");
    assert_eq!(s["vn_aqi"]["dominant"], "pm2_5");
}

#[tokio::test]
async fn writes_need_the_right_role_and_are_audited() {
    let api = Api::new();
    let viewer = api.token("wall-screen", "viewer");
    let operator = api.token("duty-officer", "operator");
    let admin = api.token("lead", "admin");
    for minute in 0..=60 {
        api.feed_pm(101, minute, 900);
    }
    let (_, firing) = api.get("/api/v1/alerts?state=firing").await;
    let id = firing[0]["id"].as_i64().expect("alert id");
    let ack = format!("/api/v1/alerts/{id}/ack");

    let (status, body) = api.post(&ack, None, json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _) = api.post(&ack, Some("cs_not-a-token"), json!({})).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an unknown token is not authenticated"
    );
    let (status, body) = api.post(&ack, Some(&viewer), json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );

    let (status, body) = api
        .post(&ack, Some(&operator), json!({"comment": "crew sent"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "acknowledged");
    assert_eq!(body["acknowledged_by"], "duty-officer");
    assert_eq!(body["transition"], "acknowledged");
    let (status, _) = api.post(&ack, Some(&operator), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "already acknowledged");

    // A live alert cannot be resolved by hand: it resolves by hysteresis.
    let (status, body) = api
        .post(
            &format!("/api/v1/alerts/{id}/resolve"),
            Some(&operator),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Thresholds are for admins.
    let rule = json!({"parameter": "pm2_5", "scope": "station", "target": "HG-VT-A01", "window": "1h",
        "level": "warning", "direction": "above", "trigger": 35.0, "recovery": 30.0});
    let (status, _) = api
        .post("/api/v1/thresholds", Some(&operator), rule.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, created) = api.post("/api/v1/thresholds", Some(&admin), rule).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let (status, audit) = api.get_with("/api/v1/audit", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .expect("list")
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or(""),
                e["action"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("lead", "threshold.create"),
            ("duty-officer", "alert.acknowledge")
        ]
    );
    let (status, _) = api.get_with("/api/v1/audit", Some(&operator)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, detail) = api.get(&format!("/api/v1/alerts/{id}")).await;
    let kinds: Vec<&str> = detail["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .filter_map(|t| t["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["fired", "acknowledged"]);
    assert_eq!(detail["transitions"][1]["comment"], "crew sent");
}

#[tokio::test]
async fn threshold_validation_names_the_field() {
    let api = Api::new();
    let admin = api.token("lead", "admin");
    let wrong_side = json!({"parameter": "pm2_5", "scope": "all", "window": "1h", "level": "warning",
        "direction": "above", "trigger": 50.0, "recovery": 60.0});
    let (status, body) = api.post("/api/v1/thresholds", Some(&admin), wrong_side).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "recovery");
    let unknown = json!({"parameter": "pm2_5", "scope": "all", "window": "2h", "level": "warning",
        "direction": "above", "trigger": 50.0});
    let (status, body) = api.post("/api/v1/thresholds", Some(&admin), unknown).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("window"))
    );
    let missing = json!({"parameter": "pm2_5", "scope": "all", "window": "1h", "level": "warning"});
    let (status, body) = api.post("/api/v1/thresholds", Some(&admin), missing).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("direction"))
    );
    let no_target = json!({"parameter": "ph", "scope": "station", "window": "1h", "level": "warning",
        "direction": "below", "trigger": 6.0});
    let (status, body) = api.post("/api/v1/thresholds", Some(&admin), no_target).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("target"))
    );
    let (status, body) = api
        .raw_post(
            "/api/v1/thresholds",
            Some(&admin),
            "application/json",
            "{not json",
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_body"))
    );
    let (status, _) = api
        .raw_post("/api/v1/thresholds", Some(&admin), "text/plain", "{}")
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = format!("{{\"comment\": \"{}\"}}", "x".repeat(100_000));
    let (status, body) = api
        .raw_post("/api/v1/thresholds", Some(&admin), "application/json", &big)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
}

#[tokio::test]
async fn bad_requests_get_json_errors_naming_the_field() {
    let api = Api::new();
    let (status, body) = api.get("/api/v1/alerts?state=open2").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("state"))
    );
    let (status, body) = api.get("/api/v1/alerts?colour=red").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("colour"))
    );
    let (status, body) = api.get("/api/v1/alerts?limit=abc").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );
    let (status, body) = api.get("/api/v1/indices/aqi?scheme=uk").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("scheme"))
    );
    let (status, body) = api.get("/api/v1/alerts/abc").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("id"))
    );
    let (status, body) = api.get("/api/v1/nope").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = api.get("/api/v1/stations/NOPE").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api.get("/api/v1/stations/HG-VT-A01").await;
    assert_eq!((status, body["node_id"].as_u64()), (StatusCode::OK, Some(101)));
    // History needs InfluxDB: the range is checked first, then 503 without one.
    let (status, body) = api
        .get("/api/v1/stations/HG-VT-A01/readings?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z")
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("from"))
    );
    let (status, body) = api
        .get("/api/v1/stations/HG-VT-A01/readings?from=yesterday")
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("from"))
    );
    let (status, body) = api.get("/api/v1/stations/HG-VT-A01/readings?every=7m").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("every"))
    );
    let (status, body) = api.get("/api/v1/stations/HG-VT-A01/readings").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
    let (status, _) = api.get("/api/v1/export/hourly.csv").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let api = Api::new();
    let (status, doc) = api.get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/stations",
        "/api/v1/stations/{id}/readings",
        "/api/v1/indices/aqi",
        "/api/v1/indices/wqi",
        "/api/v1/thresholds/{id}",
        "/api/v1/alerts/{id}/ack",
        "/api/v1/stream",
        "/api/v1/stations/{id}/commands",
        "/api/v1/export/hourly.csv",
        "/api/v1/ngsi-ld/entities",
        "/metrics",
        "/readyz",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn ngsi_ld_entities_follow_the_smart_data_model_shape() {
    let api = Api::new();
    api.feed_pm(101, 0, 250);
    let (status, list) = api.get("/api/v1/ngsi-ld/entities?type=AirQualityObserved").await;
    assert_eq!(status, StatusCode::OK);
    let e = &list[0];
    assert_eq!(e["id"], "urn:ngsi-ld:AirQualityObserved:HG-VT-A01");
    assert_eq!(e["type"], "AirQualityObserved");
    assert_eq!(e["location"]["type"], "GeoProperty");
    assert_eq!(e["location"]["value"]["coordinates"], json!([105.47, 9.78]));
    assert_eq!(
        e["pm25"],
        json!({"type": "Property", "value": 25.0, "unitCode": "GQ", "observedAt": "2025-11-27T00:00:00Z"})
    );
    assert_eq!(e["dateObserved"]["value"], "2025-11-27T00:00:00Z");
    assert!(e["@context"].as_array().is_some_and(|c| c.len() == 2));
    let (status, one) = api
        .get("/api/v1/ngsi-ld/entities/urn:ngsi-ld:AirQualityObserved:HG-VT-A01")
        .await;
    assert_eq!((status, &one["id"]), (StatusCode::OK, &e["id"]));
    let (_, water) = api
        .get("/api/v1/ngsi-ld/entities?type=WaterQualityObserved")
        .await;
    assert_eq!(water[0]["type"], "WaterQualityObserved");
    let _ = (MINUTE, T0, Value::Null);
}
