//! Threshold rules: list, one, create, replace, delete. Writes need the admin role, are
//! validated (422 naming the field) and audited.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use time::OffsetDateTime;

use super::ApiError;
use super::alerts::evaluating;
use super::extract::{Admin, ApiJson, Reader, path_id};
use crate::alerts::{Threshold, ThresholdSpec};
use crate::auth::Caller;
use crate::state::AppState;
use crate::time_fmt::rfc3339;

/// Every rule.
#[utoipa::path(get, path = "/api/v1/thresholds", tag = "thresholds",
    responses((status = 200, body = [Threshold])))]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    _: Reader,
) -> Result<Json<Vec<Threshold>>, ApiError> {
    Ok(Json(state.store.thresholds()?))
}

/// One rule.
#[utoipa::path(get, path = "/api/v1/thresholds/{id}", tag = "thresholds",
    params(("id" = i64, Path, description = "Rule id")),
    responses((status = 200, body = Threshold), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn one(
    State(state): State<Arc<AppState>>,
    _: Reader,
    Path(id): Path<String>,
) -> Result<Json<Threshold>, ApiError> {
    let id = path_id("id", &id)?;
    state
        .store
        .threshold(id)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no threshold with id {id}")))
}

fn validate(state: &AppState, spec: &ThresholdSpec) -> Result<(), ApiError> {
    spec.validate()
        .map_err(|e| ApiError::invalid_field(e.field, e.message))?;
    let Some(target) = &spec.target else {
        return Ok(());
    };
    let stations = state.stations();
    match spec.scope {
        crate::alerts::ScopeKind::Station if stations.by_station(target).is_none() => Err(
            ApiError::invalid_field("target", format!("no station with id {target:?}")),
        ),
        crate::alerts::ScopeKind::District if !stations.iter().any(|s| s.info.district == *target) => {
            let mut districts: Vec<&str> = stations.iter().map(|s| s.info.district.as_str()).collect();
            districts.sort_unstable();
            districts.dedup();
            Err(ApiError::invalid_field(
                "target",
                format!(
                    "no district named {target:?}; the registry has {}",
                    districts.join(", ")
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Reloads the engine's rules and resolves alerts whose rule is gone.
fn reload(state: &AppState, now: OffsetDateTime) -> Result<(), ApiError> {
    let rules = state.store.thresholds()?;
    let districts: HashMap<String, String> = state
        .stations()
        .iter()
        .map(|s| (s.info.station.clone(), s.info.district.clone()))
        .collect();
    let changes = state.engine().set_rules(&state.store, rules, &districts, now)?;
    state.announce(changes);
    Ok(())
}

fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    id: i64,
    detail: &impl serde::Serialize,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let detail = serde_json::to_string(detail).unwrap_or_default();
    state.store.audit(
        &rfc3339(now),
        &caller.name,
        caller.role_name(),
        action,
        &format!("threshold/{id}"),
        &detail,
    )?;
    Ok(())
}

/// Adds a rule (admin).
#[utoipa::path(post, path = "/api/v1/thresholds", tag = "thresholds", request_body = ThresholdSpec,
    security(("bearer" = [])),
    responses((status = 201, body = Threshold), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    ApiJson(spec): ApiJson<ThresholdSpec>,
) -> Result<(StatusCode, Json<Threshold>), ApiError> {
    evaluating(&state)?;
    validate(&state, &spec)?;
    let now = OffsetDateTime::now_utc();
    let stored = state.store.insert_threshold(&spec, &rfc3339(now), &caller.name)?;
    audit(&state, &caller, "threshold.create", stored.id, &spec, now)?;
    reload(&state, now)?;
    state.hub.publish("threshold", &stored);
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Replaces a rule (admin).
#[utoipa::path(put, path = "/api/v1/thresholds/{id}", tag = "thresholds", request_body = ThresholdSpec,
    params(("id" = i64, Path, description = "Rule id")), security(("bearer" = [])),
    responses((status = 200, body = Threshold), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError),
        (status = 422, body = ApiError)))]
pub(crate) async fn replace(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path(id): Path<String>,
    ApiJson(spec): ApiJson<ThresholdSpec>,
) -> Result<Json<Threshold>, ApiError> {
    evaluating(&state)?;
    let id = path_id("id", &id)?;
    validate(&state, &spec)?;
    let now = OffsetDateTime::now_utc();
    let stored = state
        .store
        .update_threshold(id, &spec, &rfc3339(now), &caller.name)?
        .ok_or_else(|| ApiError::not_found(format!("no threshold with id {id}")))?;
    audit(&state, &caller, "threshold.update", id, &spec, now)?;
    reload(&state, now)?;
    state.hub.publish("threshold", &stored);
    Ok(Json(stored))
}

/// Deletes a rule (admin); its open alerts resolve as `rule_removed` unless another rule
/// covers their slot.
#[utoipa::path(delete, path = "/api/v1/thresholds/{id}", tag = "thresholds",
    params(("id" = i64, Path, description = "Rule id")), security(("bearer" = [])),
    responses((status = 204), (status = 400, body = ApiError), (status = 401, body = ApiError),
        (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    evaluating(&state)?;
    let id = path_id("id", &id)?;
    let old = state
        .store
        .threshold(id)?
        .ok_or_else(|| ApiError::not_found(format!("no threshold with id {id}")))?;
    let now = OffsetDateTime::now_utc();
    state.store.delete_threshold(id)?;
    audit(&state, &caller, "threshold.delete", id, &old.spec, now)?;
    reload(&state, now)?;
    Ok(StatusCode::NO_CONTENT)
}
