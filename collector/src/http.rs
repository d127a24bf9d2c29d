//! `/metrics` (Prometheus text), `/healthz` (the process answers) and `/readyz` (taking and
//! storing data: connected, subscribed, and InfluxDB or the spool takes writes).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

use crate::pipeline::now_ms;
use crate::stats::Stats;

#[derive(Clone)]
struct AppState {
    stats: Arc<Stats>,
    subscribed: watch::Receiver<bool>,
}

pub(crate) fn router(stats: Arc<Stats>, subscribed: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { stats, subscribed })
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.stats.render_prometheus(now_ms()),
    )
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(state.stats.snapshot())
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let subscribed = *state.subscribed.borrow();
    let ready = state.stats.ready(subscribed);
    let s = state.stats.snapshot();
    let body = serde_json::json!({
        "ready": ready,
        "subscribed": subscribed,
        "spool_full": s.spool_full,
        "spool_bytes": s.spool_bytes,
        "unacked": s.unacked,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}
