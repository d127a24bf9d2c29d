//! `/metrics` (Prometheus text), `/healthz` (the counters as JSON) and `/readyz` (subscribed, and
//! the outbox has room).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

use crate::outbox::Outbox;
use crate::stats::{Snapshot, Stats};
use crate::upload::worker::now_ms;

#[derive(Clone)]
struct AppState {
    stats: Arc<Stats>,
    outbox: Arc<Mutex<Outbox>>,
    subscribed: watch::Receiver<bool>,
}

pub(crate) fn router(
    stats: Arc<Stats>,
    outbox: Arc<Mutex<Outbox>>,
    subscribed: watch::Receiver<bool>,
) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState {
            stats,
            outbox,
            subscribed,
        })
}

/// The counters with the outbox's figures.
pub(crate) fn snapshot(stats: &Stats, outbox: &Mutex<Outbox>) -> Snapshot {
    let outbox = outbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let queues: Vec<_> = (0..stats.receivers.len()).map(|r| outbox.pending(r)).collect();
    stats.snapshot(outbox.usage(), &queues, now_ms())
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        snapshot(&state.stats, &state.outbox).render_prometheus(),
    )
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(snapshot(&state.stats, &state.outbox))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let subscribed = *state.subscribed.borrow();
    let s = snapshot(&state.stats, &state.outbox);
    let room = s.outbox_bytes < s.outbox_max_bytes;
    let ready = subscribed && s.mqtt_connected && room;
    let body = serde_json::json!({
        "ready": ready,
        "subscribed": subscribed,
        "outbox_has_room": room,
        "outbox_bytes": s.outbox_bytes,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}
