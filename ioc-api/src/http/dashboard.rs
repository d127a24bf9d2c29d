//! The dashboard page at `/`: HTML, CSS and JavaScript compiled into the binary, so nothing is
//! fetched from a CDN at run time.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::state::AppState;

const INDEX: &str = include_str!("../dashboard/index.html");
const SCRIPT: &str = include_str!("../dashboard/app.js");
const WORDS: &str = include_str!("../dashboard/i18n.js");
/// The page's time-zone attribute, replaced by the configured zone (`stations.time_zone`, whose
/// validation admits no quote).
const ZONE_ATTRIBUTE: &str = "data-time-zone=\"Asia/Ho_Chi_Minh\"";
const STYLE: &str = include_str!("../dashboard/style.css");

/// `/`, with the operations centre's time zone.
pub(crate) async fn index(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let zone = format!("data-time-zone=\"{}\"", state.settings.time_zone);
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX.replacen(ZONE_ATTRIBUTE, &zone, 1),
    )
}

/// `/assets/i18n.js`: the dashboard's words in Vietnamese and English, and local time.
pub(crate) async fn words() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], WORDS)
}

/// `/assets/app.js`.
pub(crate) async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT)
}

/// `/assets/style.css`.
pub(crate) async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}
