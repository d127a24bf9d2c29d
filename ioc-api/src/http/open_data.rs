//! `GET /api/v1/open-data/catalog.jsonld`: the DCAT catalogue of the exports
//! (`open_data::catalog`), for the province's open-data portal.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use tracing::warn;

use super::ApiError;
use super::extract::Reader;
use crate::open_data::{catalog, data_spans};
use crate::state::AppState;

/// The DCAT catalogue (DCAT-AP style, JSON-LD with an inline `@context`): one `dcat:Dataset`
/// per station kind and district, each with its hourly CSV and JSON exports as distributions.
#[utoipa::path(get, path = "/api/v1/open-data/catalog.jsonld", tag = "open data",
    responses((status = 200, description = "DCAT catalogue", content_type = "application/ld+json", body = Object),
        (status = 401, body = ApiError)))]
pub(crate) async fn catalog_jsonld(State(state): State<Arc<AppState>>, _: Reader) -> Response {
    // Without the spans the catalogue is still true, only without `dct:temporal`: better for a
    // harvester than no catalogue while InfluxDB is away.
    let spans = data_spans(&state).await.unwrap_or_else(|e| {
        warn!(error = %e, "Cannot read when the data starts and ends; the catalogue goes without dct:temporal.");
        Default::default()
    });
    let document = catalog(
        &state.publication,
        &state.registry,
        &spans,
        OffsetDateTime::now_utc(),
    );
    (
        [(header::CONTENT_TYPE, "application/ld+json")],
        document.to_string(),
    )
        .into_response()
}
