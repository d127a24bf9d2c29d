//! `GET /healthz`: the process answers, and whether it is connected to the broker.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::state::AppState;

pub(crate) async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "mqtt_connected": state.mqtt_connected.load(Ordering::Relaxed),
        "mqtt_subscribed": *state.subscribed.borrow(),
        "frames_rejected": state.rejected(),
    }))
}
