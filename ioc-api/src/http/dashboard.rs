//! The dashboard page at `/`: HTML, CSS and JavaScript compiled into the binary, so nothing is
//! fetched from a CDN at run time.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::alerts::{StationRule, Watch};
use crate::state::AppState;

const INDEX: &str = include_str!("../dashboard/index.html");
const SCRIPT: &str = include_str!("../dashboard/app.js");
const WORDS: &str = include_str!("../dashboard/i18n.js");
const MAP: &str = include_str!("../dashboard/map.js");
const HEALTH: &str = include_str!("../dashboard/health.js");
const CHART: &str = include_str!("../dashboard/chart.js");
const PAST: &str = include_str!("../dashboard/past.js");
const RULES: &str = include_str!("../dashboard/rules.js");
/// Leaflet 1.9.4 from npm (BSD-2-Clause, `dashboard/vendor/leaflet/LICENSE`), served from the
/// binary: the map needs no CDN.
const LEAFLET: &str = include_str!("../dashboard/vendor/leaflet/leaflet.js");
const LEAFLET_STYLE: &str = include_str!("../dashboard/vendor/leaflet/leaflet.css");
/// Where the page's settings go (map tiles, the legend's bands and classes, the rules editor's
/// parameters).
const SETTINGS_PLACEHOLDER: &str = "<script type=\"application/json\" id=\"page-settings\">{}</script>";
/// The page's time-zone attribute, replaced by the configured zone (`stations.time_zone`, whose
/// validation admits no quote).
const ZONE_ATTRIBUTE: &str = "data-time-zone=\"Asia/Ho_Chi_Minh\"";
const STYLE: &str = include_str!("../dashboard/style.css");

/// `/`, with the operations centre's time zone and the page's settings.
pub(crate) async fn index(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let zone = format!("data-time-zone=\"{}\"", state.settings.time_zone);
    let settings = page_settings(&state);
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX
            .replacen(ZONE_ATTRIBUTE, &zone, 1)
            .replacen(SETTINGS_PLACEHOLDER, &settings, 1),
    )
}

/// The settings the page reads at start: map tiles (or none), the VN_AQI bands (Decision 1459)
/// and the configured salinity classes, for the map's markers and legend. JSON in a script
/// element, with `</` escaped so no value can end the element.
fn page_settings(state: &AppState) -> String {
    let tiles = state
        .settings
        .map_tiles
        .as_ref()
        .map(|(url, attribution)| serde_json::json!({"url": url, "attribution": attribution}));
    let bands: Vec<serde_json::Value> = crate::indices::category::vn_aqi_bands()
        .into_iter()
        .map(|(upper, band)| serde_json::json!({"upper": upper, "band": band}))
        .collect();
    // The rules editor's choices: every parameter with its unit, then the station rules.
    let parameters: Vec<serde_json::Value> = crate::live::Param::ALL
        .into_iter()
        .map(|p| serde_json::json!({"name": p.as_str(), "unit": p.unit()}))
        .chain(
            [
                StationRule::StationOffline,
                StationRule::SensorFault,
                StationRule::SequenceReset,
                StationRule::TransmissionInterrupted,
            ]
            .map(|rule| serde_json::json!({"name": Watch::Station(rule).as_str(), "unit": ""})),
        )
        .collect();
    let json = serde_json::json!({
        "tiles": tiles,
        "parameters": parameters,
        "vn_aqi": bands,
        "salinity": state.settings.indices.salinity_classes,
    });
    format!(
        "<script type=\"application/json\" id=\"page-settings\">{}</script>",
        json.to_string().replace("</", "<\\/")
    )
}

/// `/assets/map.js`: the stations on a map.
pub(crate) async fn map() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], MAP)
}

/// `/assets/health.js`: the selected station's health panel.
pub(crate) async fn health() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], HEALTH)
}

/// `/assets/chart.js`: the history chart.
pub(crate) async fn chart() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], CHART)
}

/// `/assets/past.js`: the past alerts view.
pub(crate) async fn past() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], PAST)
}

/// `/assets/rules.js`: the rules editor.
pub(crate) async fn rules() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], RULES)
}

/// `/assets/leaflet.js`.
pub(crate) async fn leaflet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        LEAFLET,
    )
}

/// `/assets/leaflet.css`.
pub(crate) async fn leaflet_style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], LEAFLET_STYLE)
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
