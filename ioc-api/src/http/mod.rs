//! The HTTP API: routes, and one file per resource.

mod admin;
mod alerts;
mod calibration;
mod commands;
mod dashboard;
mod error;
mod export;
mod extract;
mod health;
mod indices;
mod lab;
mod ngsi;
mod open_data;
mod openapi;
mod quality;
mod stations;
mod stream;
mod thresholds;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

pub use admin::{create_token, valid_token_name};
pub use error::ApiError;
pub(crate) use export::{DEFAULT_EXPORT_DAYS, MAX_EXPORT_DAYS, Selection, csv_text, hourly_rows};
pub use openapi::ApiDoc;

use crate::state::AppState;

/// Every route of the API. `cors_origins` are the browser origins allowed to call it from other
/// sites; `max_body_bytes` bounds request bodies (413 above).
pub fn router(state: Arc<AppState>, cors_origins: &[String], max_body_bytes: usize) -> Router {
    // Routes that take no query string: a parameter there is a mistake (a typo of another
    // endpoint's filter, say) and gets a 400 naming it rather than being ignored.
    let plain = Router::new()
        .route("/api/v1/stations", get(stations::list))
        .route("/api/v1/stations/{id}", get(stations::one))
        .route("/api/v1/stations/{id}/hourly", get(stations::hourly))
        .route("/api/v1/stations/{id}/coverage", get(quality::coverage))
        .route("/api/v1/stations/{id}/commands", post(commands::send))
        .route("/api/v1/stations/{id}/lab-results", post(lab::add))
        .route(
            "/api/v1/stations/{id}/calibrations",
            get(calibration::list).post(calibration::fit),
        )
        .route(
            "/api/v1/stations/{id}/calibrations/{calibration}/apply",
            post(calibration::apply),
        )
        .route(
            "/api/v1/stations/{id}/calibrations/rollback",
            post(calibration::roll_back),
        )
        .route("/api/v1/alerts/{id}", get(alerts::one))
        .route("/api/v1/alerts/{id}/ack", post(alerts::acknowledge))
        .route("/api/v1/alerts/{id}/resolve", post(alerts::resolve))
        .route(
            "/api/v1/thresholds",
            get(thresholds::list).post(thresholds::create),
        )
        .route(
            "/api/v1/thresholds/{id}",
            get(thresholds::one)
                .put(thresholds::replace)
                .delete(thresholds::delete),
        )
        .route("/api/v1/stream", get(stream::stream))
        .route("/api/v1/ngsi-ld/entities/{entity_id}", get(ngsi::entity_by_id))
        .route("/api/v1/tokens", get(admin::tokens).post(admin::create))
        .route("/api/v1/tokens/{name}", axum::routing::delete(admin::revoke))
        .route_layer(axum::middleware::from_fn(extract::no_query));
    // Routes whose handlers read their query with `ApiQuery` (which refuses unknown names),
    // probes, the catalogue (DCAT harvesters may add paging parameters) and the dashboard.
    let api = plain
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/v1/stations/{id}/readings", get(stations::readings))
        .route("/api/v1/stations/{id}/flagged", get(quality::flagged))
        .route("/api/v1/indices/aqi", get(indices::aqi))
        .route("/api/v1/indices/wqi", get(indices::wqi))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/export/hourly.json", get(export::json))
        .route("/api/v1/export/hourly.csv", get(export::csv))
        .route(crate::open_data::CATALOG_PATH, get(open_data::catalog_jsonld))
        .route("/api/v1/ngsi-ld/entities", get(ngsi::entities))
        .route("/api/v1/audit", get(admin::audit))
        .route("/api/v1/webhooks/deliveries", get(admin::deliveries))
        .route("/", get(dashboard::index))
        .route("/assets/app.js", get(dashboard::script))
        .route("/assets/i18n.js", get(dashboard::words))
        .route("/assets/map.js", get(dashboard::map))
        .route("/assets/health.js", get(dashboard::health))
        .route("/assets/chart.js", get(dashboard::chart))
        .route("/assets/past.js", get(dashboard::past))
        .route("/assets/rules.js", get(dashboard::rules))
        .route("/assets/leaflet.js", get(dashboard::leaflet))
        .route("/assets/leaflet.css", get(dashboard::leaflet_style))
        .route("/assets/style.css", get(dashboard::style))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state);
    let origins: Vec<HeaderValue> = cors_origins.iter().filter_map(|o| o.parse().ok()).collect();
    let api = if origins.is_empty() {
        api
    } else {
        api.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    HeaderName::from_static("last-event-id"),
                ]),
        )
    };
    api.layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(TraceLayer::new_for_http())
}
