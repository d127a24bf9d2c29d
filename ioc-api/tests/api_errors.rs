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
