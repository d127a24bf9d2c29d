//! The HTTP API over state fed directly with verified frames (no broker, in-memory SQLite):
//! JSON shapes, the PM2.5 early-warning rule end to end, the alert lifecycle through the API,
//! access control (401 vs 403), threshold validation (422 naming the field), audit, and JSON
//! errors for bad requests.

mod common;

use axum::http::StatusCode;
use common::Api;
use serde_json::json;

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
    assert_eq!(
        firing[0]["pm2_5_basis"], "raw",
        "a PM2.5 alert says what it fired on"
    );
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
    // Without InfluxDB, history and exports answer from the local hourly history.
    let (status, body) = api.get("/api/v1/stations/HG-VT-A01/readings").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = api.get("/api/v1/stations/HG-VT-A01/readings?every=5m").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("every")),
        "five-minute buckets need InfluxDB: {body}"
    );
    let (status, _) = api.get("/api/v1/export/hourly.csv").await;
    assert_eq!(status, StatusCode::OK);
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
        "/api/v1/open-data/catalog.jsonld",
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
        json!({"type": "Property", "value": 25.0, "unitCode": "GQ", "observedAt": "2025-11-27T00:00:00Z",
            "basis": {"type": "Property", "value": "raw"}})
    );
    assert_eq!(e["dateObserved"]["value"], "2025-11-27T00:00:00Z");
    // Place names keep their Vietnamese diacritics, as UTF-8 rather than escapes.
    assert_eq!(e["name"]["value"], "Vị Thanh", "{e}");
    assert_eq!(e["areaServed"]["value"], "Vị Thanh", "{e}");
    let (_, content_type, text) = api
        .get_text("/api/v1/ngsi-ld/entities?type=WaterQualityObserved")
        .await;
    assert!(content_type.starts_with("application/ld+json"), "{content_type}");
    assert!(text.contains("\"Kênh Xà No\"") && !text.contains("\\u"), "{text}");
    assert!(e["@context"].as_array().is_some_and(|c| c.len() == 2));
    let (status, one) = api
        .get("/api/v1/ngsi-ld/entities/urn:ngsi-ld:AirQualityObserved:HG-VT-A01")
        .await;
    assert_eq!((status, &one["id"]), (StatusCode::OK, &e["id"]));
    let (_, water) = api
        .get("/api/v1/ngsi-ld/entities?type=WaterQualityObserved")
        .await;
    assert_eq!(water[0]["type"], "WaterQualityObserved");
}

#[tokio::test]
async fn water_station_wqi_from_probes_and_lab_results_with_salinity() {
    let api = Api::new();
    let operator = api.token("lab-tech", "operator");
    let now = time::OffsetDateTime::now_utc();
    // An hour of probe readings every minute: pH 7.0, DO 6.0 mg/L at 30 °C (80.67 % saturation),
    // conductivity 2250 µS/cm at 30 °C (1.04 ‰ by PSS-78; 2170 would be 0.999).
    for minute in 0..=60 {
        let sample = protocol::WaterSample {
            samples: 6,
            ph: Some(7_000),
            dissolved_oxygen: Some(600),
            conductivity: Some(2_250),
            temperature: Some(3_000),
            ..protocol::WaterSample::default()
        };
        api.feed_water(minute, sample, now);
    }
    let (_, wqi) = api.get("/api/v1/indices/wqi").await;
    let station = &wqi["stations"][0];
    assert!(
        station["wqi"].is_null(),
        "pH and DO alone do not meet the sufficiency rule: {station}"
    );
    assert_eq!(station["insufficient"]["groups_present"], json!([1, 4]));
    assert_eq!(station["salinity"]["class"]["code"], "crop_caution", "{station}");

    // Lab results count for `indices.lab_max_age_days` (31) before now.
    let sampled = (now - time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let lab = json!({"sampled_at": sampled, "values": {"bod5": 5.0, "cod": 12.5, "coliform": 3750.0}});
    let (status, body) = api
        .post("/api/v1/stations/HG-VT-W01/lab-results", Some(&operator), lab)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, wqi) = api.get("/api/v1/indices/wqi?station=HG-VT-W01").await;
    let result = &wqi["stations"][0]["wqi"];
    // pH 100; DO 80.67 % → 75 + 25/13·5.67 = 85.9; BOD5 87.5; COD 87.5; AM_IV = 86.97;
    // coliform 3750 → 87.5; √(86.97 × 87.5) = 87.23 → 87, Good.
    assert_eq!(result["wqi"], 87, "{wqi}");
    assert_eq!(result["band"]["code"], "good");
    // The station's own view carries the same index from the same lab results.
    let (_, station) = api.get("/api/v1/stations/HG-VT-W01").await;
    assert_eq!(station["wqi"]["value"], 87, "{station}");
    let (status, body) = api
        .post(
            "/api/v1/stations/HG-VT-W01/lab-results",
            Some(&operator),
            json!({"sampled_at": "2025-11-26T08:00:00Z", "values": {"bod6": 1.0}}),
        )
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("values.bod6")),
        "{body}"
    );
}

#[tokio::test]
async fn both_aqi_schemes_and_metrics() {
    let api = Api::new();
    for minute in 0..180 {
        api.feed_pm(101, minute, 400); // 40 µg/m³ for three hours
    }
    let (_, vn) = api.get("/api/v1/indices/aqi?scheme=vn").await;
    // NowCast of a steady 40 is 40: (100−50)/(50−25)·15 + 50 = 80.
    assert_eq!(vn["stations"][0]["aqi"]["aqi"], 80, "{vn}");
    let (_, us) = api.get("/api/v1/indices/aqi?scheme=us").await;
    // 40.0 µg/m³ on the 2024 table: (150−101)/(55.4−35.5)·4.5 + 101 = 112.1 → 112.
    assert_eq!(us["stations"][0]["aqi"]["aqi"], 112, "{us}");
    assert_eq!(
        us["stations"][0]["aqi"]["band"]["code"],
        "unhealthy_for_sensitive_groups"
    );
    let (status, body) = api.get("/api/v1/indices/aqi?scheme=us&period=daily").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("period"))
    );

    let response = tower::ServiceExt::oneshot(
        api.router(),
        axum::http::Request::get("/metrics")
            .body(axum::body::Body::empty())
            .expect("request"),
    )
    .await
    .expect("response");
    let text = http_body_util::BodyExt::collect(response.into_body())
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("citysense_ioc_frames_accepted_total 180"), "{text}");
    assert!(text.contains("citysense_ioc_stations 2"), "{text}");
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let api = Api::new();
    let router = ioc_api::http::router(
        api.state.clone(),
        &["https://data.haugiang.gov.vn".to_owned()],
        64 * 1024,
    );
    let preflight = |origin: &'static str| {
        axum::http::Request::builder()
            .method("OPTIONS")
            .uri("/api/v1/stations")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let ok = tower::ServiceExt::oneshot(router.clone(), preflight("https://data.haugiang.gov.vn"))
        .await
        .expect("response");
    assert_eq!(
        ok.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://data.haugiang.gov.vn")
    );
    let other = tower::ServiceExt::oneshot(router, preflight("https://evil.example"))
        .await
        .expect("response");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
