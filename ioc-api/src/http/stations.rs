//! `GET /api/v1/stations` and `GET /api/v1/stations/{id}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use time::OffsetDateTime;

use super::ApiError;
use crate::live::StationView;
use crate::state::AppState;

pub(crate) async fn list(State(state): State<Arc<AppState>>) -> Json<Vec<StationView>> {
    Json(
        state
            .stations()
            .views(OffsetDateTime::now_utc(), state.offline_after),
    )
}

pub(crate) async fn one(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<StationView>, ApiError> {
    state
        .stations()
        .view(&id, OffsetDateTime::now_utc(), state.offline_after)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no station with id {id:?}")))
}
