//! `GET /api/v1/alerts?state=firing|resolved`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};

use super::ApiError;
use crate::alerts::{Alert, AlertState};
use crate::state::AppState;

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    if let Some(unknown) = params.keys().find(|k| k.as_str() != "state") {
        return Err(ApiError::bad_query(
            "state",
            format!("unknown query parameter {unknown:?}; only `state` is accepted"),
        ));
    }
    let filter = match params.get("state").map(String::as_str) {
        None => None,
        Some("firing") => Some(AlertState::Firing),
        Some("resolved") => Some(AlertState::Resolved),
        Some(other) => {
            return Err(ApiError::bad_query(
                "state",
                format!("must be `firing` or `resolved`, got {other:?}"),
            ));
        }
    };
    Ok(Json(state.alerts().list(filter)))
}
