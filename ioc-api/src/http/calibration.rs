//! Co-location calibration of a station's PM2.5: an operator posts a reference monitor's hourly
//! means for a period the station stood beside it; the IOC pairs them with the station's own
//! hourly means of its raw PM2.5, fits a line or a piecewise line, and keeps the fit as
//! `proposed`. Applying it makes the station's PM2.5 go through it (in place of the config's
//! `quality.correction`); rolling back returns to what was applied before. Every step is audited.
//!
//! The station's side is its raw hourly means with QC-flagged values left out: from InfluxDB when
//! configured (which holds every raw value), else from the local history.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::ApiError;
use super::extract::{Admin, ApiJson, Reader};
use crate::history::{quote, without_flagged};
use crate::live::{HOUR_MS, RAW_PM2_5};
use crate::quality::calibration::{BreakpointChoice, Method, fit_linear, fit_piecewise, pair_by_time};
use crate::state::AppState;
use crate::store::{NewCalibration, StoredCalibration};
use crate::time_fmt::rfc3339;

/// Most reference hours one fit takes: a year.
const MAX_REFERENCE_HOURS: usize = 366 * 24;

/// A reference monitor's hourly mean.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReferenceHour {
    /// The hour's start (RFC 3339, on the hour).
    hour: String,
    /// The reference's PM2.5 over that hour, µg/m³.
    value: f64,
}

/// What to fit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FitRequest {
    /// `linear` (default) or `piecewise`.
    #[serde(default = "linear")]
    method: Method,
    /// Piecewise: the raw values (µg/m³) where the slope changes, increasing.
    #[serde(default)]
    breakpoints: Option<Vec<f64>>,
    /// Piecewise without `breakpoints`: this many, at quantiles of the station's values
    /// (default 1).
    #[serde(default)]
    quantiles: Option<usize>,
    /// The reference monitor's hourly PM2.5 means.
    reference: Vec<ReferenceHour>,
    /// Which reference monitor, where (kept with the fit).
    #[serde(default)]
    note: String,
}

fn linear() -> Method {
    Method::Linear
}

/// A station's calibrations.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CalibrationList {
    /// Station id.
    station: String,
    /// What the station's PM2.5 goes through now: `raw`, `us_epa_rh` or `co_location`.
    pm2_5_basis: &'static str,
    /// The applied calibration's number, if any.
    applied: Option<i64>,
    /// Every fit, newest first.
    calibrations: Vec<StoredCalibration>,
}

/// What a rollback did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RollBack {
    /// The calibration taken off.
    rolled_back: StoredCalibration,
    /// The calibration applied again, if the one rolled back had replaced one.
    applied: Option<StoredCalibration>,
    /// What the station's PM2.5 goes through now.
    pm2_5_basis: &'static str,
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The air station `id`, or a 404 / 422.
fn air_station(state: &AppState, id: &str) -> Result<(), ApiError> {
    match state.stations().by_station(id).map(|s| s.is_water()) {
        None => Err(ApiError::not_found(format!("no station with id {id:?}"))),
        Some(true) => Err(ApiError::invalid_field(
            "reference",
            format!("{id} is a water station; co-location calibration is of PM2.5 at air stations"),
        )),
        Some(false) => Ok(()),
    }
}

/// The reference hours as (hour start ms, value), checked.
fn reference_hours(reference: &[ReferenceHour]) -> Result<Vec<(u64, f64)>, ApiError> {
    if reference.is_empty() {
        return Err(ApiError::invalid_field(
            "reference",
            "must hold the reference's hourly means",
        ));
    }
    if reference.len() > MAX_REFERENCE_HOURS {
        return Err(ApiError::invalid_field(
            "reference",
            format!("at most {MAX_REFERENCE_HOURS} hours (a year) per fit"),
        ));
    }
    reference
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let at = OffsetDateTime::parse(&r.hour, &Rfc3339)
                .ok()
                .and_then(|t| u64::try_from(ms(t)).ok())
                .filter(|t| t % HOUR_MS == 0)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        format!("reference[{i}].hour"),
                        "must be an RFC 3339 time on the hour",
                    )
                })?;
            if !r.value.is_finite() || r.value < 0.0 {
                return Err(ApiError::invalid_field(
                    format!("reference[{i}].value"),
                    "must be a finite number, 0 or more",
                ));
            }
            Ok((at, r.value))
        })
        .collect()
}

/// The station's raw PM2.5 hourly means in `[from_ms, to_ms)`, QC-flagged values left out.
async fn station_hours(
    state: &AppState,
    id: &str,
    (from_ms, to_ms): (i64, i64),
) -> Result<Vec<(u64, f64)>, ApiError> {
    let Some(influx) = state.influx.as_ref() else {
        // The hours since the last tick go to the database first, so the fit sees them.
        state.save_history();
        let hours = state.store.hours(Some(id), from_ms, to_ms)?;
        return Ok(hours
            .into_iter()
            .filter(|h| h.param == RAW_PM2_5 && h.record.count > 0)
            .map(|h| (h.record.hour_ms, h.record.mean()))
            .collect());
    };
    let query = format!(
        "SELECT mean(\"pm2_5\") AS \"mean\", count(\"pm2_5\") AS \"count\" FROM \"air_quality\" WHERE time >= {from_ms}ms AND time < {to_ms}ms AND \"station\" = {} GROUP BY time(1h) fill(none)",
        quote(id)
    );
    let series = influx.query(&query).await.map_err(|e| {
        tracing::warn!(error = %e, "InfluxDB query failed.");
        ApiError::unavailable("InfluxDB did not answer the calibration query")
    })?;
    let mut flagged: HashMap<u64, (f64, u32)> = HashMap::new();
    for f in state.store.flagged(Some(id), from_ms, to_ms, usize::MAX)? {
        if f.param == "pm2_5" {
            let at = f.at_ms.max(0) as u64;
            let sum = flagged.entry(at - at % HOUR_MS).or_default();
            sum.0 += f.value;
            sum.1 += 1;
        }
    }
    let mut out = Vec::new();
    for s in &series {
        for p in &s.points {
            let (Some(Some(mean)), Some(Some(count))) = (p.values.first(), p.values.get(1)) else {
                continue;
            };
            let hour = p.time_ms.max(0) as u64;
            if let Some((mean, _)) = without_flagged(*mean, *count, flagged.get(&hour)) {
                out.push((hour, mean));
            }
        }
    }
    Ok(out)
}

/// Fits a co-location calibration of the station's PM2.5 and keeps it as `proposed` (admin).
#[utoipa::path(post, path = "/api/v1/stations/{id}/calibrations", tag = "quality", request_body = FitRequest,
    params(("id" = String, Path, description = "Air station id", example = "HG-VT-A01")), security(("bearer" = [])),
    responses((status = 201, body = StoredCalibration), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 422, body = ApiError), (status = 503, body = ApiError)))]
pub(crate) async fn fit(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<FitRequest>,
) -> Result<(StatusCode, Json<StoredCalibration>), ApiError> {
    air_station(&state, &id)?;
    let reference = reference_hours(&request.reference)?;
    let from = reference.iter().map(|r| r.0).min().unwrap_or(0);
    let to = reference.iter().map(|r| r.0).max().unwrap_or(0) + HOUR_MS;
    let (from_ms, to_ms) = (from as i64, to as i64);
    let station = station_hours(&state, &id, (from_ms, to_ms)).await?;
    let pairs = pair_by_time(&station, &reference);
    let config = &state.quality.calibration;
    let fitted = match request.method {
        Method::Linear => {
            if request.breakpoints.is_some() || request.quantiles.is_some() {
                return Err(ApiError::invalid_field(
                    "method",
                    "breakpoints and quantiles are for method piecewise",
                ));
            }
            fit_linear(&pairs, config)
        }
        Method::Piecewise => {
            let choice = match (request.breakpoints, request.quantiles) {
                (Some(_), Some(_)) => {
                    return Err(ApiError::invalid_field(
                        "breakpoints",
                        "give breakpoints or quantiles, not both",
                    ));
                }
                (Some(given), None) => BreakpointChoice::Given(given),
                (None, k) => BreakpointChoice::Quantiles(k.unwrap_or(1)),
            };
            fit_piecewise(&pairs, &choice, config)
        }
    };
    let calibration = fitted.map_err(|e| {
        ApiError::invalid_field(
            "reference",
            format!(
                "{e} (the station has {} hourly means of raw PM2.5 in that period, {} of them at a reference hour)",
                station.len(),
                pairs.len()
            ),
        )
    })?;
    let now = rfc3339(OffsetDateTime::now_utc());
    let period = (rfc3339_ms(from_ms), rfc3339_ms(to_ms));
    let stored = state.store.insert_calibration(&NewCalibration {
        station: &id,
        param: "pm2_5",
        calibration: &calibration,
        period: (&period.0, &period.1),
        fitted_at: &now,
        fitted_by: &caller.name,
        note: &request.note,
    })?;
    audit(&state, &caller, "calibration.fit", &id, &stored)?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Puts `calibration` (or none) on `station` for the next readings, and records the change of
/// basis, so exports label each hour with its own; applying what is applied already changes
/// nothing.
fn switch_to(
    state: &AppState,
    station: &str,
    calibration: Option<&StoredCalibration>,
) -> Result<(), ApiError> {
    let applied = &state.quality.correction.applied;
    let next = calibration.map(|c| c.calibration.clone());
    if applied.get(station) == next {
        return Ok(());
    }
    let before = state.quality.correction.of(station).basis();
    applied.set(station, next);
    let after = state.quality.correction.of(station).basis();
    state
        .store
        .record_basis_change(station, ms(OffsetDateTime::now_utc()), (before, after))?;
    Ok(())
}

fn rfc3339_ms(at_ms: i64) -> String {
    crate::time_fmt::rfc3339_ms(i128::from(at_ms))
}

fn audit(
    state: &AppState,
    caller: &crate::auth::Caller,
    action: &str,
    station: &str,
    c: &StoredCalibration,
) -> Result<(), ApiError> {
    state.store.audit(
        &rfc3339(OffsetDateTime::now_utc()),
        &caller.name,
        caller.role_name(),
        action,
        &format!("station/{station}"),
        &serde_json::json!({ "calibration": c.id, "status": c.status }).to_string(),
    )?;
    Ok(())
}

/// A station's calibrations and which is applied.
#[utoipa::path(get, path = "/api/v1/stations/{id}/calibrations", tag = "quality",
    params(("id" = String, Path, description = "Air station id", example = "HG-VT-A01")),
    responses((status = 200, body = CalibrationList), (status = 401, body = ApiError), (status = 404, body = ApiError),
        (status = 422, body = ApiError)))]
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    _: Reader,
    Path(id): Path<String>,
) -> Result<Json<CalibrationList>, ApiError> {
    air_station(&state, &id)?;
    let calibrations = state.store.calibrations(Some(&id))?;
    Ok(Json(CalibrationList {
        pm2_5_basis: state.quality.correction.of(&id).basis(),
        applied: calibrations
            .iter()
            .find(|c| c.status == crate::store::CalibrationStatus::Applied)
            .map(|c| c.id),
        station: id,
        calibrations,
    }))
}

/// Applies one of the station's calibrations (admin): its PM2.5 goes through it from the next
/// reading on; the one applied before is kept for a rollback.
#[utoipa::path(post, path = "/api/v1/stations/{id}/calibrations/{calibration}/apply", tag = "quality",
    params(("id" = String, Path, description = "Air station id", example = "HG-VT-A01"),
        ("calibration" = i64, Path, description = "The calibration's number")), security(("bearer" = [])),
    responses((status = 200, body = StoredCalibration), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn apply(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path((id, number)): Path<(String, i64)>,
) -> Result<Json<StoredCalibration>, ApiError> {
    air_station(&state, &id)?;
    let now = rfc3339(OffsetDateTime::now_utc());
    let applied = state
        .store
        .apply_calibration(&id, number, (&now, &caller.name))?
        .ok_or_else(|| ApiError::not_found(format!("station {id} has no calibration {number}")))?;
    switch_to(&state, &id, Some(&applied))?;
    audit(&state, &caller, "calibration.apply", &id, &applied)?;
    Ok(Json(applied))
}

/// Rolls the station back one step (admin): the applied calibration comes off, and the one it
/// replaced, if any, is applied again; with none, the config's `quality.correction` applies.
#[utoipa::path(post, path = "/api/v1/stations/{id}/calibrations/rollback", tag = "quality",
    params(("id" = String, Path, description = "Air station id", example = "HG-VT-A01")), security(("bearer" = [])),
    responses((status = 200, body = RollBack), (status = 401, body = ApiError), (status = 403, body = ApiError),
        (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
pub(crate) async fn roll_back(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> Result<Json<RollBack>, ApiError> {
    air_station(&state, &id)?;
    let now = rfc3339(OffsetDateTime::now_utc());
    let (rolled_back, applied) = state
        .store
        .roll_back_calibration(&id, (&now, &caller.name))?
        .ok_or_else(|| ApiError::conflict(format!("station {id} has no calibration applied")))?;
    switch_to(&state, &id, applied.as_ref())?;
    audit(&state, &caller, "calibration.roll_back", &id, &rolled_back)?;
    Ok(Json(RollBack {
        rolled_back,
        applied,
        pm2_5_basis: state.quality.correction.of(&id).basis(),
    }))
}
