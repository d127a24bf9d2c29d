//! Open-data export of hourly means with station metadata, for the province's open-data portal:
//! `/api/v1/export/hourly.csv` and `/api/v1/export/hourly.json`, from InfluxDB (or, without it,
//! the local hourly history). The daily CSV files (`open_data::daily`) are the same CSV.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use protocol::registry::NodeInfo;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::extract::{ApiQuery, Reader};
use super::stations::{bucket_means, time_range, values_of};
use crate::live::Param;
use crate::state::AppState;
use crate::store::basis_of_hour;
use crate::time_fmt::{local_ms, rfc3339, rfc3339_ms};

/// Export query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    /// Start, RFC 3339 (default: 7 days before `to`).
    from: Option<String>,
    /// End, RFC 3339 (default: now). At most 92 days after `from`.
    to: Option<String>,
    /// Only this station.
    station: Option<String>,
    /// Only `air` or `water` stations.
    kind: Option<String>,
    /// Only the stations of this district, named as in the registry (`Vị Thanh`, URL-encoded:
    /// `V%E1%BB%8B%20Thanh`).
    district: Option<String>,
}

/// One hourly mean row.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExportRow {
    station: String,
    name: String,
    district: String,
    kind: &'static str,
    lon: Option<f64>,
    lat: Option<f64>,
    /// Start of the hour, UTC (RFC 3339).
    hour_start: String,
    /// The same instant in the operations centre's zone (`stations.time_zone`), with its offset.
    hour_start_local: String,
    /// Hourly means by field (units in `units`).
    #[schema(value_type = Object)]
    values: BTreeMap<String, f64>,
    /// The PM2.5 the means are of: `raw` (the sensor's), `us_epa_rh` (corrected,
    /// `quality.correction`) or `co_location` (a calibration applied through the API), as it was
    /// in that hour; `mixed` for the hour in which an operator changed it. From InfluxDB, always
    /// `raw`.
    pm2_5_basis: String,
    /// Whether values quality control flagged are left out: true from the IOC's own hourly
    /// history, false from InfluxDB, which holds every raw value (docs/influxdb-schema.md).
    quality_controlled: bool,
}

/// The JSON export.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Export {
    generated_at: String,
    /// The zone of the rows' `hour_start_local` (IANA name).
    time_zone: String,
    from: String,
    to: String,
    /// Units of each field.
    #[schema(value_type = Object)]
    units: BTreeMap<&'static str, &'static str>,
    rows: Vec<ExportRow>,
}

/// The longest period one export covers.
pub(crate) const MAX_EXPORT_DAYS: i64 = 92;
/// The period an export covers without `from`.
pub(crate) const DEFAULT_EXPORT_DAYS: i64 = 7;

/// Which stations' rows an export holds: those of `kinds` (false: air, true: water), only
/// `station`'s and only `district`'s when given.
pub(crate) struct Selection<'a> {
    pub(crate) kinds: &'a [bool],
    pub(crate) station: Option<&'a str>,
    pub(crate) district: Option<&'a str>,
}

/// The hourly means of the selected stations over [`from`, `to`), by station and hour.
pub(crate) async fn hourly_rows(
    state: &AppState,
    (from, to): (OffsetDateTime, OffsetDateTime),
    selection: &Selection<'_>,
) -> Result<Vec<ExportRow>, ApiError> {
    let meta: BTreeMap<&str, &NodeInfo> = state
        .registry
        .nodes()
        .filter(|n| selection.district.is_none_or(|d| n.district == d))
        .map(|n| (n.station.as_str(), n))
        .collect();
    let changes = state.store.basis_changes()?;
    let mut out = Vec::new();
    for &water in selection.kinds {
        let series = bucket_means(state, water, selection.station, (from, to), 3_600, "export").await?;
        for s in series {
            // Stations outside the district are read and dropped here: the local history has no
            // district, and one filter keeps both sources alike.
            let Some(info) = s.tags.get("station").and_then(|id| meta.get(id.as_str())) else {
                continue;
            };
            for p in &s.points {
                out.push(ExportRow {
                    station: info.station.clone(),
                    name: info.name.clone(),
                    district: info.district.clone(),
                    kind: info.kind.as_str(),
                    lon: info.location.map(|l| l.0),
                    lat: info.location.map(|l| l.1),
                    hour_start: rfc3339_ms(i128::from(p.time_ms)),
                    hour_start_local: local_ms(p.time_ms, &state.settings.zone),
                    values: values_of(&s, p),
                    pm2_5_basis: if state.influx.is_some() {
                        "raw".to_owned()
                    } else {
                        basis_of_hour(
                            changes.get(&info.station).map(Vec::as_slice),
                            p.time_ms,
                            state.settings.correction.of(&info.station).basis(),
                        )
                        .to_owned()
                    },
                    quality_controlled: state.influx.is_none(),
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.station, &a.hour_start).cmp(&(&b.station, &b.hour_start)));
    Ok(out)
}

async fn rows(
    state: &AppState,
    q: &ExportQuery,
) -> Result<(OffsetDateTime, OffsetDateTime, Vec<ExportRow>), ApiError> {
    let (from, to) = time_range(
        q.from.as_deref(),
        q.to.as_deref(),
        time::Duration::days(DEFAULT_EXPORT_DAYS),
    )?;
    if to - from > time::Duration::days(MAX_EXPORT_DAYS) {
        return Err(ApiError::bad_query(
            "to",
            format!("an export may cover at most {MAX_EXPORT_DAYS} days"),
        ));
    }
    let kinds: &[bool] = match q.kind.as_deref() {
        None => &[false, true],
        Some("air") => &[false],
        Some("water") => &[true],
        Some(other) => {
            return Err(ApiError::bad_query(
                "kind",
                format!("must be air or water, got {other:?}"),
            ));
        }
    };
    if let Some(id) = &q.station
        && !state.registry.nodes().any(|n| n.station == *id)
    {
        return Err(ApiError::not_found(format!("no station with id {id:?}")));
    }
    if let Some(district) = &q.district
        && !state.registry.nodes().any(|n| n.district == *district)
    {
        let known: std::collections::BTreeSet<&str> =
            state.registry.nodes().map(|n| n.district.as_str()).collect();
        return Err(ApiError::bad_query(
            "district",
            format!("no station in district {district:?}; the districts are {known:?}"),
        ));
    }
    let selection = Selection {
        kinds,
        station: q.station.as_deref(),
        district: q.district.as_deref(),
    };
    let rows = hourly_rows(state, (from, to), &selection).await?;
    Ok((from, to, rows))
}

fn units() -> BTreeMap<&'static str, &'static str> {
    Param::AIR
        .iter()
        .chain(&Param::WATER)
        .map(|p| (p.as_str(), p.unit()))
        .collect()
}

/// Hourly means as JSON.
#[utoipa::path(get, path = "/api/v1/export/hourly.json", tag = "open data", params(ExportQuery),
    responses((status = 200, body = Export), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, body = ApiError)))]
pub(crate) async fn json(
    State(state): State<Arc<AppState>>,
    _: Reader,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Json<Export>, ApiError> {
    let (from, to, rows) = rows(&state, &q).await?;
    Ok(Json(Export {
        generated_at: rfc3339(OffsetDateTime::now_utc()),
        time_zone: state.settings.time_zone.clone(),
        from: rfc3339(from),
        to: rfc3339(to),
        units: units(),
        rows,
    }))
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The CSV of `rows`: a header with each field's unit, one line per station and hour, ending
/// with the PM2.5 basis and whether QC-flagged values were left out (as the JSON rows say).
pub(crate) fn csv_text(rows: &[ExportRow]) -> String {
    let units = units();
    let columns: Vec<&str> = units.keys().copied().collect();
    let mut out = String::from("station,name,district,kind,lon,lat,hour_start_utc,hour_start_local");
    for c in &columns {
        let _ = write!(out, ",{}", csv_field(&format!("{c} ({})", units[c])));
    }
    // Last, so that readers of the earlier columns by position are not disturbed.
    out.push_str(",pm2_5_basis,quality_controlled\n");
    for r in rows {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{}",
            csv_field(&r.station),
            csv_field(&r.name),
            csv_field(&r.district),
            r.kind,
            r.lon.map(|v| v.to_string()).unwrap_or_default(),
            r.lat.map(|v| v.to_string()).unwrap_or_default(),
            r.hour_start,
            r.hour_start_local
        );
        for c in &columns {
            let _ = write!(
                out,
                ",{}",
                r.values.get(*c).map(|v| v.to_string()).unwrap_or_default()
            );
        }
        let _ = writeln!(out, ",{},{}", r.pm2_5_basis, r.quality_controlled);
    }
    out
}

/// Hourly means as CSV (one row per station and hour; units in the header).
#[utoipa::path(get, path = "/api/v1/export/hourly.csv", tag = "open data", params(ExportQuery),
    responses((status = 200, description = "CSV", content_type = "text/csv", body = String),
        (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, body = ApiError)))]
pub(crate) async fn csv(
    State(state): State<Arc<AppState>>,
    _: Reader,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let (_, _, rows) = rows(&state, &q).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"citysense-hourly.csv\"",
            ),
        ],
        csv_text(&rows),
    )
        .into_response())
}
