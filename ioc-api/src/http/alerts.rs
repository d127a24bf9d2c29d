//! Alerts: list and filter, one with its transitions, acknowledge, resolve by hand.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::extract::{ApiJson, ApiQuery, Operator, Reader, path_id};
use super::stations::time_range;
use crate::alerts::{Alert, AlertChange, AlertState, Engine, Level, LifecycleError, TransitionRecord};
use crate::auth::Caller;
use crate::state::AppState;
use crate::store::{AlertFilter, Store};
use crate::time_fmt::rfc3339;

/// Alert filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertQuery {
    /// `firing`, `acknowledged`, `resolved`, or `open` (firing or acknowledged).
    state: Option<String>,
    /// Only this station's.
    station: Option<String>,
    /// Only those on this parameter or station rule (`pm2_5`, `salinity`, `station_offline`, …).
    parameter: Option<String>,
    /// `warning` or `critical`.
    level: Option<String>,
    /// Only the alerts open at some time in [`from`, `to`) (RFC 3339); `to` defaults to now.
    from: Option<String>,
    /// The end of the period (RFC 3339); alone, the period is the day before it.
    to: Option<String>,
    /// At most this many, newest first (1–1000, default 200).
    limit: Option<usize>,
}

/// Alerts, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = [Alert]), (status = 400, body = ApiError)))]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    _: Reader,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    let level = q
        .level
        .as_deref()
        .map(|l| {
            Level::parse(l).ok_or_else(|| {
                ApiError::bad_query("level", format!("must be warning or critical; got {l:?}"))
            })
        })
        .transpose()?;
    let period = match (q.from.as_deref(), q.to.as_deref()) {
        (None, None) => None,
        (from, to) => {
            let (from, to) = time_range(from, to, time::Duration::days(1))?;
            Some((rfc3339(from), rfc3339(to)))
        }
    };
    let mut filter = AlertFilter {
        station: q.station,
        parameter: q.parameter,
        level,
        period,
        limit: q.limit.unwrap_or(200),
        ..AlertFilter::default()
    };
    if !(1..=1_000).contains(&filter.limit) {
        return Err(ApiError::bad_query("limit", "must be between 1 and 1000"));
    }
    match q.state.as_deref() {
        None => {}
        Some("open") => filter.open = true,
        Some(s) => {
            filter.state = Some(AlertState::parse(s).ok_or_else(|| {
                ApiError::bad_query(
                    "state",
                    format!("must be firing, acknowledged, resolved or open; got {s:?}"),
                )
            })?);
        }
    }
    let stored = state.store.alerts(&filter)?;
    let engine = state.engine();
    // Open alerts carry their last value in memory; it is written at transitions only.
    let alerts = stored
        .into_iter()
        .map(|a| engine.open_alert(a.id).cloned().unwrap_or(a))
        .collect();
    Ok(Json(alerts))
}

/// An alert with its history.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlertDetail {
    #[serde(flatten)]
    alert: Alert,
    /// Every transition, oldest first.
    transitions: Vec<TransitionRecord>,
}

/// One alert with every transition.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses((status = 200, body = AlertDetail), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn one(
    State(state): State<Arc<AppState>>,
    _: Reader,
    Path(id): Path<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    let id = path_id("id", &id)?;
    let open = state.engine().open_alert(id).cloned();
    let alert = match open {
        Some(a) => a,
        None => state
            .store
            .alert(id)?
            .ok_or_else(|| ApiError::not_found(format!("no alert with id {id}")))?,
    };
    Ok(Json(AlertDetail {
        transitions: state.store.transitions(id)?,
        alert,
    }))
}

/// An operator's note on an acknowledgement or a manual resolve.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Note {
    /// Free text, up to 1000 characters.
    #[serde(default)]
    comment: Option<String>,
}

fn lifecycle_error(e: LifecycleError) -> ApiError {
    match e {
        LifecycleError::NotFound(id) => ApiError::not_found(format!("no alert with id {id}")),
        LifecycleError::Conflict(message) => ApiError::conflict(message),
        LifecycleError::Store(e) => ApiError::from(e),
    }
}

fn check_note(note: &Note) -> Result<Option<&str>, ApiError> {
    let comment = note.comment.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > 1_000) {
        return Err(ApiError::invalid_field(
            "comment",
            "must be at most 1000 characters",
        ));
    }
    Ok(comment)
}

/// Acknowledges a firing alert (operator).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")), request_body = Note,
    security(("bearer" = [])),
    responses((status = 200, body = AlertChange), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn acknowledge(
    State(state): State<Arc<AppState>>,
    Operator(caller): Operator,
    Path(id): Path<String>,
    ApiJson(note): ApiJson<Note>,
) -> Result<Json<AlertChange>, ApiError> {
    by_hand(
        &state,
        &caller,
        &id,
        &note,
        "alert.acknowledge",
        Engine::acknowledge,
    )
}

/// Resolves a stale (or sensor-fault) alert by hand (operator).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")), request_body = Note,
    security(("bearer" = [])),
    responses((status = 200, body = AlertChange), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn resolve(
    State(state): State<Arc<AppState>>,
    Operator(caller): Operator,
    Path(id): Path<String>,
    ApiJson(note): ApiJson<Note>,
) -> Result<Json<AlertChange>, ApiError> {
    by_hand(&state, &caller, &id, &note, "alert.resolve", Engine::resolve)
}

/// Refuses a change to alerts or rules in a replica (`alerts.evaluate = false`): the instance
/// that evaluates would never see it.
pub(crate) fn evaluating(state: &AppState) -> Result<(), ApiError> {
    if state.evaluates_alerts {
        return Ok(());
    }
    Err(ApiError::conflict(
        "this IOC API is a replica that does not evaluate alerts (alerts.evaluate = false): send alert and threshold changes to the instance that does",
    ))
}

/// An engine method that changes one alert by hand: (store, alert id, actor, comment, now).
type ByHand =
    fn(&mut Engine, &Store, i64, &str, Option<&str>, OffsetDateTime) -> Result<AlertChange, LifecycleError>;

/// An operator's change to alert `id`: applied by `change`, audited as `action`, announced.
fn by_hand(
    state: &AppState,
    caller: &Caller,
    id: &str,
    note: &Note,
    action: &str,
    change: ByHand,
) -> Result<Json<AlertChange>, ApiError> {
    evaluating(state)?;
    let id = path_id("id", id)?;
    let comment = check_note(note)?;
    let now = OffsetDateTime::now_utc();
    let change =
        change(&mut state.engine(), &state.store, id, &caller.name, comment, now).map_err(lifecycle_error)?;
    state.store.audit(
        &rfc3339(now),
        &caller.name,
        caller.role_name(),
        action,
        &format!("alert/{id}"),
        &serde_json::json!({ "comment": comment }).to_string(),
    )?;
    state.announce(vec![change.clone()]);
    Ok(Json(change))
}
