//! `/healthz` (the process answers), `/readyz` (it can serve: broker subscribed, database
//! answering, history rebuilt) and `/metrics` (Prometheus text).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    status: &'static str,
    mqtt_connected: bool,
    mqtt_subscribed: bool,
    frames_rejected: u64,
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub(crate) async fn healthz(State(state): State<Arc<AppState>>) -> Json<Health> {
    Json(Health {
        status: "ok",
        mqtt_connected: state.mqtt_connected.load(Ordering::Relaxed),
        mqtt_subscribed: *state.subscribed.borrow(),
        frames_rejected: state.rejected(),
    })
}

/// Readiness, with each check.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ready {
    ready: bool,
    mqtt_subscribed: bool,
    database: bool,
    history_rebuilt: bool,
}

/// Ready to serve: 200 when every check passes, 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Ready), (status = 503, body = Ready)))]
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Ready>) {
    let mqtt_subscribed = *state.subscribed.borrow();
    let database = state.store.ping();
    let history_rebuilt = state.rebuilt.load(Ordering::Relaxed);
    let ready = mqtt_subscribed && database && history_rebuilt;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Ready {
            ready,
            mqtt_subscribed,
            database,
            history_rebuilt,
        }),
    )
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&state),
    )
}
