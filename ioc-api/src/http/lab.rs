//! `POST /api/v1/stations/{id}/lab-results`: laboratory values for a water station (operator),
//! which VN_WQI uses alongside the probes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::ApiError;
use super::extract::{ApiJson, Operator};
use crate::indices::wqi::WqiParameter;
use crate::state::AppState;
use crate::store::LabResult;
use crate::time_fmt::rfc3339;

/// Lab values of one sample.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabSample {
    /// When the sample was taken (RFC 3339).
    sampled_at: String,
    /// Values by VN_WQI parameter (`bod5`, `cod`, `toc`, `n_nh4`, `n_no3`, `n_no2`, `p_po4`,
    /// `coliform`, `e_coli`, metals, pesticides) in the decision's units.
    #[schema(value_type = Object)]
    values: std::collections::BTreeMap<WqiParameter, f64>,
}

/// Stores a sample's lab values (operator).
#[utoipa::path(post, path = "/api/v1/stations/{id}/lab-results", tag = "indices", request_body = LabSample,
    params(("id" = String, Path, description = "Water station id", example = "HG-XN-W01")), security(("bearer" = [])),
    responses((status = 201), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn add(
    State(state): State<Arc<AppState>>,
    Operator(caller): Operator,
    Path(id): Path<String>,
    ApiJson(sample): ApiJson<LabSample>,
) -> Result<StatusCode, ApiError> {
    let water = state.stations().by_station(&id).map(|s| s.is_water());
    match water {
        None => return Err(ApiError::not_found(format!("no station with id {id:?}"))),
        Some(false) => {
            return Err(ApiError::invalid_field(
                "values",
                format!("{id} is an air station; lab results are for water stations"),
            ));
        }
        Some(true) => {}
    }
    let sampled = OffsetDateTime::parse(&sample.sampled_at, &Rfc3339)
        .map_err(|_| ApiError::invalid_field("sampled_at", "must be an RFC 3339 time"))?;
    let now = OffsetDateTime::now_utc();
    if sampled > now + time::Duration::minutes(5) || sampled.year() < 1970 {
        return Err(ApiError::invalid_field("sampled_at", "must not be in the future"));
    }
    if sample.values.is_empty() {
        return Err(ApiError::invalid_field("values", "must hold at least one value"));
    }
    if let Some((p, _)) = sample.values.iter().find(|(_, v)| !v.is_finite() || **v < 0.0) {
        let name = serde_json::to_value(p)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        return Err(ApiError::invalid_field(
            format!("values.{name}"),
            "must be a finite number, 0 or more",
        ));
    }
    let results: Vec<LabResult> = sample
        .values
        .iter()
        .map(|(p, v)| LabResult {
            station: id.clone(),
            sampled_at: rfc3339(sampled.to_offset(time::UtcOffset::UTC)),
            parameter: serde_json::to_value(p)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            value: *v,
            entered_by: caller.name.clone(),
        })
        .collect();
    state.store.insert_lab_results(&results)?;
    state.store.audit(
        &rfc3339(now),
        &caller.name,
        caller.role_name(),
        "lab.add",
        &format!("station/{id}"),
        &serde_json::json!({ "sampled_at": sample.sampled_at, "values": sample.values }).to_string(),
    )?;
    Ok(StatusCode::CREATED)
}
