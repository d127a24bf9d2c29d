//! Stations: the list with current readings, indices and status; one station; its history from
//! InfluxDB; its last 24 hourly means from memory (for the dashboard chart).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::extract::{ApiQuery, Reader};
use crate::history::{Point, SeriesRows, quote};
use crate::live::{HOUR_MS, Param, StationView};
use crate::state::AppState;
use crate::time_fmt::{rfc3339, rfc3339_ms};

/// Every registered station with its latest reading, indices and status.
#[utoipa::path(get, path = "/api/v1/stations", tag = "stations",
    responses((status = 200, body = [StationView]), (status = 401, body = ApiError)))]
pub(crate) async fn list(State(state): State<Arc<AppState>>, _: Reader) -> Json<Vec<StationView>> {
    Json(state.views(OffsetDateTime::now_utc()))
}

/// One station.
#[utoipa::path(get, path = "/api/v1/stations/{id}", tag = "stations",
    params(("id" = String, Path, description = "Station id", example = "HG-VT-A01")),
    responses((status = 200, body = StationView), (status = 404, body = ApiError)))]
pub(crate) async fn one(
    State(state): State<Arc<AppState>>,
    _: Reader,
    Path(id): Path<String>,
) -> Result<Json<StationView>, ApiError> {
    state
        .view(&id, OffsetDateTime::now_utc())
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no station with id {id:?}")))
}

/// History query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    /// Start, RFC 3339 (default: 24 hours before `to`).
    from: Option<String>,
    /// End, RFC 3339 (default: now).
    to: Option<String>,
    /// Bucket width: `1m`, `5m`, `15m`, `1h`, `6h` or `1d` (default `1h`).
    every: Option<String>,
}

/// One bucket of history: means of the station's fields.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoryPoint {
    /// Bucket start (RFC 3339).
    time: String,
    /// Mean of each field over the bucket (absent fields left out).
    #[schema(value_type = Object)]
    values: BTreeMap<String, f64>,
}

/// The history answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct History {
    station: String,
    from: String,
    to: String,
    every: String,
    points: Vec<HistoryPoint>,
}

/// Largest number of buckets one history request may ask for.
const MAX_BUCKETS: i64 = 10_000;
/// Longest range one request may cover.
const MAX_RANGE_DAYS: i64 = 366;

fn every_seconds(every: &str) -> Option<i64> {
    Some(match every {
        "1m" => 60,
        "5m" => 300,
        "15m" => 900,
        "1h" => 3_600,
        "6h" => 21_600,
        "1d" => 86_400,
        _ => return None,
    })
}

fn parse_time(field: &'static str, text: &str) -> Result<OffsetDateTime, ApiError> {
    let t = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        ApiError::bad_query(
            field,
            format!("must be an RFC 3339 time such as 2026-03-20T07:00:00Z, got {text:?}"),
        )
    })?;
    if !(1970..=9999).contains(&t.year()) {
        return Err(ApiError::bad_query(
            field,
            "must be between the years 1970 and 9999",
        ));
    }
    Ok(t)
}

/// Checks a `from`/`to` pair: both valid, `from` before `to`, at most a year apart.
pub(crate) fn time_range(
    from: Option<&str>,
    to: Option<&str>,
    default_span: time::Duration,
) -> Result<(OffsetDateTime, OffsetDateTime), ApiError> {
    let to = match to {
        Some(t) => parse_time("to", t)?,
        None => OffsetDateTime::now_utc(),
    };
    let from = match from {
        Some(f) => parse_time("from", f)?,
        None => to - default_span,
    };
    if from >= to {
        return Err(ApiError::bad_query("from", "must be before `to`"));
    }
    if to - from > time::Duration::days(MAX_RANGE_DAYS) {
        return Err(ApiError::bad_query(
            "to",
            format!("the range may cover at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok((from, to))
}

/// The means of a station kind's fields per `every` bucket (an InfluxQL duration) over
/// [`from`, `to`), one series per station (tag `station`), or only `station`'s. `purpose` names
/// the read in the error messages.
pub(crate) async fn bucket_means(
    state: &AppState,
    water: bool,
    station: Option<&str>,
    (from, to): (OffsetDateTime, OffsetDateTime),
    step_s: i64,
    purpose: &str,
) -> Result<Vec<SeriesRows>, ApiError> {
    let Some(influx) = state.influx.as_ref() else {
        return local_bucket_means(state, water, station, (from, to), step_s, purpose);
    };
    let (measurement, fields) = Param::measurement(water);
    let select = fields
        .iter()
        .map(|p| format!("mean(\"{0}\") AS \"{0}\"", p.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let station_filter = station
        .map(|s| format!(" AND \"station\" = {}", quote(s)))
        .unwrap_or_default();
    let query = format!(
        "SELECT {select} FROM \"{measurement}\" WHERE time >= {}ms AND time < {}ms{station_filter} GROUP BY time({step_s}s), \"station\" fill(none)",
        from.unix_timestamp_nanos() / 1_000_000,
        to.unix_timestamp_nanos() / 1_000_000
    );
    influx.query(&query).await.map_err(|e| {
        tracing::warn!(error = %e, purpose, "InfluxDB query failed.");
        ApiError::unavailable(format!("InfluxDB did not answer the {purpose} query"))
    })
}

/// A station's buckets by start (ms): per field, the sum of hourly means × counts, and the count.
type Buckets = BTreeMap<i64, Vec<(f64, u32)>>;

/// [`bucket_means`] without InfluxDB: from the local hourly history (`store/hourly.rs`), in
/// buckets of whole hours, each bucket's mean weighted by the values in its hours, in the shape
/// InfluxDB answers (one series per station, the kind's fields as columns).
fn local_bucket_means(
    state: &AppState,
    water: bool,
    station: Option<&str>,
    (from, to): (OffsetDateTime, OffsetDateTime),
    step_s: i64,
    purpose: &str,
) -> Result<Vec<SeriesRows>, ApiError> {
    if step_s % 3_600 != 0 {
        return Err(ApiError::bad_query(
            "every",
            "without InfluxDB the history holds hourly means: use 1h, 6h or 1d",
        ));
    }
    let step_ms = step_s * 1_000;
    let (from_ms, to_ms) = (
        (from.unix_timestamp_nanos() / 1_000_000) as i64,
        (to.unix_timestamp_nanos() / 1_000_000) as i64,
    );
    let hours = state.store.hours(station, from_ms, to_ms).map_err(|e| {
        tracing::warn!(error = %e, purpose, "Local history query failed.");
        ApiError::unavailable(format!("the local history did not answer the {purpose} query"))
    })?;
    let (_, fields) = Param::measurement(water);
    let kind_of: BTreeMap<&str, bool> = state
        .registry
        .nodes()
        .map(|n| {
            (
                n.station.as_str(),
                n.kind == protocol::registry::StationKind::Water,
            )
        })
        .collect();
    let mut sums: BTreeMap<&str, Buckets> = BTreeMap::new();
    for h in &hours {
        if kind_of.get(h.station.as_str()) != Some(&water) {
            continue;
        }
        let Some(column) = fields.iter().position(|p| p.as_str() == h.param) else {
            continue;
        };
        let bucket = (h.record.hour_ms as i64).div_euclid(step_ms) * step_ms;
        let cells = sums
            .entry(h.station.as_str())
            .or_default()
            .entry(bucket)
            .or_insert_with(|| vec![(0.0, 0); fields.len()]);
        let count = u32::from(h.record.count);
        cells[column].0 += h.record.mean() * f64::from(count);
        cells[column].1 += count;
    }
    Ok(sums
        .into_iter()
        .map(|(station, buckets)| SeriesRows {
            tags: BTreeMap::from([("station".to_owned(), station.to_owned())]),
            columns: fields.iter().map(|p| p.as_str().to_owned()).collect(),
            points: buckets
                .into_iter()
                .map(|(time_ms, cells)| Point {
                    time_ms,
                    values: cells
                        .into_iter()
                        .map(|(sum, n)| (n > 0).then(|| sum / f64::from(n)))
                        .collect(),
                })
                .collect(),
        })
        .collect())
}

/// A row's values by column, nulls left out.
pub(crate) fn values_of(series: &SeriesRows, point: &Point) -> BTreeMap<String, f64> {
    series
        .columns
        .iter()
        .zip(&point.values)
        .filter_map(|(c, v)| v.map(|v| (c.clone(), Param::parse(c).map_or(v, |p| p.round(v)))))
        .collect()
}

/// A station's history: means per bucket, from InfluxDB, or without it from the local hourly
/// history (`every` of whole hours).
#[utoipa::path(get, path = "/api/v1/stations/{id}/readings", tag = "stations",
    params(("id" = String, Path, description = "Station id", example = "HG-VT-A01"), HistoryQuery),
    responses((status = 200, body = History), (status = 400, body = ApiError), (status = 404, body = ApiError),
        (status = 503, body = ApiError, description = "InfluxDB (or, without one, the local hourly history) does not answer")))]
pub(crate) async fn readings(
    State(state): State<Arc<AppState>>,
    _: Reader,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    let every = q.every.as_deref().unwrap_or("1h");
    let step = every_seconds(every).ok_or_else(|| {
        ApiError::bad_query(
            "every",
            format!("must be one of 1m, 5m, 15m, 1h, 6h, 1d; got {every:?}"),
        )
    })?;
    let (from, to) = time_range(q.from.as_deref(), q.to.as_deref(), time::Duration::days(1))?;
    if (to - from).whole_seconds() / step > MAX_BUCKETS {
        return Err(ApiError::bad_query(
            "every",
            format!("the range holds more than {MAX_BUCKETS} buckets; use a wider `every`"),
        ));
    }
    let water = {
        let stations = state.stations();
        let station = stations
            .by_station(&id)
            .ok_or_else(|| ApiError::not_found(format!("no station with id {id:?}")))?;
        station.is_water()
    };
    let series = bucket_means(&state, water, Some(&id), (from, to), step, "history").await?;
    let points = series
        .iter()
        .flat_map(|s| {
            s.points.iter().map(|p| HistoryPoint {
                time: rfc3339_ms(i128::from(p.time_ms)),
                values: values_of(s, p),
            })
        })
        .collect();
    Ok(Json(History {
        station: id,
        from: rfc3339(from),
        to: rfc3339(to),
        every: every.into(),
        points,
    }))
}

/// The last 24 hourly means held in memory.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Hourly {
    station: String,
    /// Start of each hour (RFC 3339), oldest first.
    hours: Vec<String>,
    /// Per parameter, the mean of each hour (null when the hour is not covered).
    #[schema(value_type = Object)]
    series: BTreeMap<&'static str, Vec<Option<f64>>>,
}

/// A station's last 24 hourly means, from memory (no InfluxDB needed): the dashboard's chart.
#[utoipa::path(get, path = "/api/v1/stations/{id}/hourly", tag = "stations",
    params(("id" = String, Path, description = "Station id", example = "HG-VT-A01")),
    responses((status = 200, body = Hourly), (status = 404, body = ApiError)))]
pub(crate) async fn hourly(
    State(state): State<Arc<AppState>>,
    _: Reader,
    Path(id): Path<String>,
) -> Result<Json<Hourly>, ApiError> {
    let stations = state.stations();
    let station = stations
        .by_station(&id)
        .ok_or_else(|| ApiError::not_found(format!("no station with id {id:?}")))?;
    let coverage = state.settings.indices.min_coverage;
    let last = station.observed_at_ms.map(|t| t - t % HOUR_MS);
    let mut series = BTreeMap::new();
    let mut hours = Vec::new();
    if let Some(last) = last {
        hours = (0..24u64)
            .rev()
            .filter_map(|back| last.checked_sub(back * HOUR_MS))
            .map(|t| rfc3339_ms(i128::from(t)))
            .collect();
        for tracked in &station.tracked {
            let mut values = tracked.series.recent_hours(last, 24, coverage);
            values.truncate(hours.len());
            values.reverse();
            series.insert(
                tracked.param.as_str(),
                values
                    .into_iter()
                    .map(|v| v.map(|v| tracked.param.round(v)))
                    .collect(),
            );
        }
    }
    Ok(Json(Hourly {
        station: id,
        hours,
        series,
    }))
}
