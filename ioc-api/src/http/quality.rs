//! A station's data quality: coverage per hour and per local day (expected, received, valid),
//! and the values quality control left out of indices and alerts, with their flags.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::extract::{ApiQuery, Reader};
use super::stations::time_range;
use crate::live::{HOUR_MS, local_day_start_ms};
use crate::quality::{COVERAGE_HOURS, CoverageCount, QcFlags};
use crate::state::AppState;
use crate::time_fmt::{local_ms, rfc3339_ms};

/// Coverage of one clock hour.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HourCoverage {
    /// Start of the hour (RFC 3339, UTC).
    start: String,
    /// The same instant in the operations centre's time zone.
    start_local: String,
    #[serde(flatten)]
    count: CoverageCount,
}

/// Coverage of one local day.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DayCoverage {
    /// The local date (`stations.time_zone`), `YYYY-MM-DD`.
    date: String,
    #[serde(flatten)]
    count: CoverageCount,
}

/// A station's coverage: readings the reporting interval promises, those that arrived, and
/// those no QC rule flagged.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StationCoverage {
    station: String,
    /// The reporting interval expected, seconds (`quality.report_interval_s`).
    interval_s: u32,
    /// The kept clock hours up to the current one, oldest first (the current one so far).
    hours: Vec<HourCoverage>,
    /// Yesterday and today, local days (today so far).
    days: Vec<DayCoverage>,
}

/// A station's hourly and daily coverage over the last two days.
#[utoipa::path(get, path = "/api/v1/stations/{id}/coverage", tag = "stations",
    params(("id" = String, Path, description = "Station id", example = "HG-VT-A01")),
    responses((status = 200, body = StationCoverage), (status = 404, body = ApiError)))]
pub(crate) async fn coverage(
    State(state): State<Arc<AppState>>,
    _: Reader,
    Path(id): Path<String>,
) -> Result<Json<StationCoverage>, ApiError> {
    let now = OffsetDateTime::now_utc();
    let now_ms = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let zone = &state.settings.zone;
    let stations = state.stations();
    let station = stations
        .by_station(&id)
        .ok_or_else(|| ApiError::not_found(format!("no station with id {id:?}")))?;
    let counts = &station.coverage;
    let current = now_ms - now_ms % HOUR_MS;
    let hours = (0..COVERAGE_HOURS as u64)
        .rev()
        .filter_map(|back| current.checked_sub(back * HOUR_MS))
        .filter_map(|start| {
            Some(HourCoverage {
                start: rfc3339_ms(i128::from(start)),
                start_local: local_ms(i64::try_from(start).ok()?, zone),
                count: counts.hour(start, now_ms)?,
            })
        })
        .collect();
    let days = local_day_start_ms(now_ms, zone)
        .map(|today| {
            [
                today
                    .checked_sub(HOUR_MS)
                    .and_then(|t| local_day_start_ms(t, zone)),
                Some(today),
            ]
            .into_iter()
            .flatten()
            .filter_map(|start| {
                Some(DayCoverage {
                    date: local_ms(i64::try_from(start).ok()?, zone).get(..10)?.to_owned(),
                    count: counts.day(start, now_ms)?,
                })
            })
            .collect()
        })
        .unwrap_or_default();
    Ok(Json(StationCoverage {
        station: id,
        interval_s: counts.interval_s(),
        hours,
        days,
    }))
}

/// The flagged-values query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlaggedQuery {
    /// Start, RFC 3339 (default: 24 hours before `to`).
    from: Option<String>,
    /// End, RFC 3339 (default: now).
    to: Option<String>,
    /// At most this many values, 1 to 10000 (default 1000), oldest first.
    limit: Option<u32>,
}

/// A value quality control left out of indices and alerts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FlaggedValue {
    /// The node's time of the reading (RFC 3339).
    time: String,
    /// Parameter (field name).
    param: String,
    /// The value as the node sent it.
    value: f64,
    /// Why it was left out (docs/ioc.md, "Quality control").
    #[schema(value_type = Vec<String>)]
    flags: QcFlags,
}

/// The values of a station that QC flagged, kept for the span of the history (56 hours).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StationFlagged {
    station: String,
    values: Vec<FlaggedValue>,
}

/// The station's flagged values: what indices and alerts left out, and why.
#[utoipa::path(get, path = "/api/v1/stations/{id}/flagged", tag = "stations",
    params(("id" = String, Path, description = "Station id", example = "HG-VT-A01"), FlaggedQuery),
    responses((status = 200, body = StationFlagged), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn flagged(
    State(state): State<Arc<AppState>>,
    _: Reader,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<FlaggedQuery>,
) -> Result<Json<StationFlagged>, ApiError> {
    if state.stations().by_station(&id).is_none() {
        return Err(ApiError::not_found(format!("no station with id {id:?}")));
    }
    let limit = query.limit.unwrap_or(1_000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::bad_query("limit", "must be between 1 and 10000"));
    }
    let (from, to) = time_range(
        query.from.as_deref(),
        query.to.as_deref(),
        time::Duration::hours(24),
    )?;
    let ms = |t: OffsetDateTime| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    // Values flagged since the last tick are not saved yet: take them from memory too.
    let pending: Vec<FlaggedValue> = state
        .stations()
        .by_station(&id)
        .map(|s| {
            s.flagged
                .iter()
                .filter(|f| (ms(from)..ms(to)).contains(&i64::try_from(f.at_ms).unwrap_or(i64::MAX)))
                .map(|f| FlaggedValue {
                    time: rfc3339_ms(i128::from(f.at_ms)),
                    param: f.param.as_str().to_owned(),
                    value: f.value,
                    flags: f.flags,
                })
                .collect()
        })
        .unwrap_or_default();
    let saved = state
        .store
        .flagged(Some(&id), ms(from), ms(to), limit as usize)
        .map_err(ApiError::from)?;
    let mut values: Vec<FlaggedValue> = saved
        .into_iter()
        .map(|f| FlaggedValue {
            time: rfc3339_ms(i128::from(f.at_ms)),
            param: f.param,
            value: f.value,
            flags: QcFlags::from_bits(f.flags).unwrap_or_default(),
        })
        .chain(pending)
        .collect();
    values.truncate(limit as usize);
    Ok(Json(StationFlagged { station: id, values }))
}
