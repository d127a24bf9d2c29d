//! Errors in the user's terms: what is wrong and what the API takes, never serde's wording.

mod common;

use axum::http::StatusCode;
use common::Api;
use serde_json::json;

#[tokio::test]
async fn an_unknown_rule_parameter_is_named_with_the_ones_there_are() {
    let api = Api::new();
    let admin = api.token("lead", "admin");
    let (status, body) = api
        .post(
            "/api/v1/thresholds",
            Some(&admin),
            json!({"parameter": "pm25", "scope": "all", "window": "1h", "level": "warning",
                "direction": "above", "trigger": 50.0, "recovery": 40.0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`pm25` is not a parameter")
            && message.contains("pm2_5")
            && !message.contains("untagged"),
        "{body}"
    );
}

#[tokio::test]
async fn an_unknown_query_parameter_is_a_400_naming_it_on_every_endpoint() {
    let api = Api::new();
    api.feed_pm(101, 0, 300);
    for uri in [
        "/api/v1/stations?foo=1",
        "/api/v1/stations/HG-VT-A01?foo=1",
        "/api/v1/stations/HG-VT-A01/hourly?foo=1",
        "/api/v1/stations/HG-VT-A01/coverage?foo=1",
        "/api/v1/thresholds?foo=1",
        "/api/v1/thresholds/1?foo=1",
        "/api/v1/alerts/1?foo=1",
        "/api/v1/stations/HG-VT-A01/readings?foo=1",
        "/api/v1/stations/HG-VT-A01/flagged?foo=1",
        "/api/v1/alerts?foo=1",
        "/api/v1/indices/aqi?foo=1",
        "/api/v1/export/hourly.json?foo=1",
    ] {
        let (status, body) = api.get(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["field"], "foo", "{uri}: {body}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("unknown parameter `foo`") && !message.contains("field"),
            "{uri}: {body}"
        );
    }
    // Without one, the same endpoints answer.
    let (status, _) = api.get("/api/v1/stations/HG-VT-A01/coverage").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn numbers_out_of_place_are_explained_not_parsed() {
    let api = Api::new();
    let (status, body) = api.get("/api/v1/alerts?limit=-1").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit")),
        "{body}"
    );
    assert_eq!(body["message"], "must be a whole number of 0 or more", "{body}");
    let (status, body) = api.get("/api/v1/alerts?limit=99999999999999999999").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some("is too large")),
        "{body}"
    );
    for uri in [
        "/api/v1/indices/aqi?scheme=hot",
        "/api/v1/export/hourly.json?kind=hot",
    ] {
        let (status, body) = api.get(uri).await;
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            status == StatusCode::BAD_REQUEST && message.contains("hot") && !message.contains("variant"),
            "{uri}: {body}"
        );
    }
}

#[tokio::test]
async fn a_rule_for_a_district_or_station_that_does_not_exist_names_target() {
    let api = Api::new();
    let admin = api.token("lead", "admin");
    let rule = |scope: &str, target: &str| {
        json!({"parameter": "pm2_5", "scope": scope, "target": target, "window": "1h",
            "level": "warning", "direction": "above", "trigger": 50.0, "recovery": 40.0})
    };
    let (status, body) = api
        .post("/api/v1/thresholds", Some(&admin), rule("district", "Vi Thanh"))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("target")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap_or_default().contains("Vị Thanh"),
        "the districts there are, with their diacritics: {body}"
    );
    let (status, body) = api
        .post("/api/v1/thresholds", Some(&admin), rule("station", "HG-XX-A99"))
        .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("target")),
        "{body}"
    );
    let (status, body) = api
        .post("/api/v1/thresholds", Some(&admin), rule("district", "Vị Thanh"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn the_daily_index_is_for_a_date_even_without_enough_data() {
    let api = Api::new();
    for minute in 0..30 {
        api.feed_pm(101, minute, 300);
    }
    let (status, body) = api.get("/api/v1/indices/aqi?period=daily").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let station = &body["stations"][0];
    let at = station["at"].as_str().unwrap_or_default();
    assert!(
        at.len() == 10 && at.as_bytes()[4] == b'-' && at.as_bytes()[7] == b'-',
        "a YYYY-MM-DD date: {body}"
    );
    assert!(station["aqi"].is_null(), "half an hour makes no day: {body}");
}

#[tokio::test]
async fn the_stream_says_at_once_that_it_is_live() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let api = Api::new();
    let request = axum::http::Request::get("/api/v1/stream")
        .body(axum::body::Body::empty())
        .expect("request");
    let response = api.router().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    // No event has happened: the first bytes are the greeting comment, not a 15 s keep-alive.
    let first = tokio::time::timeout(std::time::Duration::from_secs(2), body.frame())
        .await
        .expect("a first chunk at once")
        .expect("a frame")
        .expect("no error");
    let text = String::from_utf8(first.into_data().expect("data").to_vec()).expect("UTF-8");
    assert!(text.starts_with(": citysense IOC event stream"), "{text:?}");
}

#[tokio::test]
async fn means_are_shown_at_the_sensors_resolution() {
    let api = Api::new();
    // 20.0 and 20.5 µg/m³ in turn: the hour's mean is 20.25, shown at the sensor's 0.1.
    for minute in 0..=60 {
        api.feed_pm(101, minute, if minute % 2 == 0 { 200 } else { 205 });
    }
    let (_, station) = api.get("/api/v1/stations/HG-VT-A01").await;
    let mean = station["means_1h"]["pm2_5"].as_f64().unwrap_or_default();
    assert!(
        (mean * 10.0 - (mean * 10.0).round()).abs() < 1e-9 && (mean - 20.25).abs() < 0.06,
        "{}",
        station["means_1h"]
    );
    assert_eq!(station["pm2_5_1h_mean"], station["means_1h"]["pm2_5"]);
}
