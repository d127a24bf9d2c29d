//! Tokens (admin), the audit log (admin), webhook deliveries (operator).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::extract::{Admin, ApiJson, ApiQuery, Operator};
use crate::auth::{self, Role};
use crate::state::AppState;
use crate::store::{AuditEntry, Delivery, TokenRecord};
use crate::time_fmt::rfc3339;

/// Every token (never the secret), revoked ones included.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "access", security(("bearer" = [])),
    responses((status = 200, body = [TokenRecord]), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn tokens(
    State(state): State<Arc<AppState>>,
    _: Admin,
) -> Result<Json<Vec<TokenRecord>>, ApiError> {
    Ok(Json(state.store.tokens()?))
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    /// Unique name (1–64 characters: letters, digits, `-`, `_`, `.`, `@`).
    name: String,
    /// `viewer`, `operator` or `admin`.
    role: Role,
}

/// The created token: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    name: String,
    role: Role,
    /// The bearer token. Only its hash is stored; it cannot be shown again.
    token: String,
}

/// Checks a token name.
pub fn valid_token_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

/// Creates a token and its hash record; `None` when the name is taken.
pub fn create_token(
    store: &crate::store::Store,
    name: &str,
    role: Role,
    by: &str,
    now: OffsetDateTime,
) -> Result<Option<String>, crate::store::StoreError> {
    let token = auth::generate();
    let record = TokenRecord {
        name: name.into(),
        role: role.as_str().into(),
        hash: auth::hash(&token),
        created_at: rfc3339(now),
        created_by: by.into(),
        revoked_at: None,
    };
    Ok(store.insert_token(&record)?.then_some(token))
}

/// Creates a token (admin).
#[utoipa::path(post, path = "/api/v1/tokens", tag = "access", request_body = NewToken, security(("bearer" = [])),
    responses((status = 201, body = CreatedToken), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    ApiJson(new): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    if !valid_token_name(&new.name) {
        return Err(ApiError::invalid_field(
            "name",
            "1 to 64 characters: letters, digits, - _ . @",
        ));
    }
    let now = OffsetDateTime::now_utc();
    let token = create_token(&state.store, &new.name, new.role, &caller.name, now)?
        .ok_or_else(|| ApiError::conflict(format!("a token named {:?} exists", new.name)))?;
    state.reload_tokens()?;
    state.store.audit(
        &rfc3339(now),
        &caller.name,
        caller.role_name(),
        "token.create",
        &format!("token/{}", new.name),
        &serde_json::json!({ "role": new.role }).to_string(),
    )?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            name: new.name,
            role: new.role,
            token,
        }),
    ))
}

/// Revokes a token (admin).
#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "access",
    params(("name" = String, Path, description = "Token name")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn revoke(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let now = OffsetDateTime::now_utc();
    if !state.store.revoke_token(&name, &rfc3339(now))? {
        return Err(ApiError::not_found(format!("no live token named {name:?}")));
    }
    state.reload_tokens()?;
    state.store.audit(
        &rfc3339(now),
        &caller.name,
        caller.role_name(),
        "token.revoke",
        &format!("token/{name}"),
        "{}",
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limit {
    /// At most this many, newest first (1–1000, default 100).
    limit: Option<usize>,
}

fn limit(q: &Limit) -> Result<usize, ApiError> {
    let n = q.limit.unwrap_or(100);
    if (1..=1_000).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::bad_query("limit", "must be between 1 and 1000"))
    }
}

/// The audit log, newest first (admin).
#[utoipa::path(get, path = "/api/v1/audit", tag = "access", params(Limit), security(("bearer" = [])),
    responses((status = 200, body = [AuditEntry]), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn audit(
    State(state): State<Arc<AppState>>,
    _: Admin,
    ApiQuery(q): ApiQuery<Limit>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    Ok(Json(state.store.audit_log(limit(&q)?)?))
}

/// Webhook deliveries and their status, newest first (operator).
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "alerts", params(Limit), security(("bearer" = [])),
    responses((status = 200, body = [Delivery]), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError)))]
pub(crate) async fn deliveries(
    State(state): State<Arc<AppState>>,
    _: Operator,
    ApiQuery(q): ApiQuery<Limit>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    Ok(Json(state.store.deliveries(limit(&q)?)?))
}
