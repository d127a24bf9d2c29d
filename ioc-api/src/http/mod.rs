//! The HTTP API: routes, and one file per resource.

mod alerts;
mod error;
mod health;
mod stations;
mod stream;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::state::AppState;

/// Request bodies larger than this are refused with 413; no endpoint needs more yet.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every route of the API.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/api/v1/stations", get(stations::list))
        .route("/api/v1/stations/{id}", get(stations::one))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/stream", get(stream::stream))
        .fallback(error::not_found)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
