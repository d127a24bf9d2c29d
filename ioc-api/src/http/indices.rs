//! `/api/v1/indices/aqi?scheme=vn|us` and `/api/v1/indices/wqi`: every station's index with its
//! sub-indices.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::extract::{ApiQuery, Reader};
use crate::alerts::format_date;
use crate::indices::AqiResult;
use crate::indices::wqi::{Insufficient, WqiResult};
use crate::live::{SalinityBrief, last_complete_day, salinity_of, us_current, vn_daily, vn_hourly, wqi_of};
use crate::state::AppState;
use crate::time_fmt::rfc3339_ms;

/// Which AQI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Scheme {
    /// VN_AQI, Decision 1459/QĐ-TCMT.
    #[default]
    Vn,
    /// US EPA AQI (2024 PM2.5 breakpoints, NowCast).
    Us,
}

/// Which period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Period {
    /// The current hour (NowCast for PM).
    #[default]
    Hourly,
    /// The last complete local day (VN_AQI only).
    Daily,
}

/// AQI query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AqiQuery {
    /// `vn` (default) or `us`.
    scheme: Option<Scheme>,
    /// `hourly` (default) or `daily` (VN only).
    period: Option<Period>,
    /// Only this station.
    station: Option<String>,
}

/// One station's AQI.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StationAqi {
    station: String,
    name: String,
    district: String,
    /// The PM2.5 the index uses: `raw` or `us_epa_rh` (`quality.correction`).
    pm2_5_basis: &'static str,
    /// The hour (RFC 3339, start) or day (`YYYY-MM-DD`) the value is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    /// The AQI, or null when the data is not enough (at least PM2.5 or PM10 with 2 of the last 3
    /// hours, or for a day the configured number of hours).
    aqi: Option<AqiResult>,
}

/// The AQI answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AqiAnswer {
    /// `vn` or `us`.
    scheme: &'static str,
    /// `hourly` or `daily`.
    period: &'static str,
    /// The rule the numbers follow.
    reference: &'static str,
    stations: Vec<StationAqi>,
}

/// The AQI of every air station (or one), VN_AQI or US AQI.
#[utoipa::path(get, path = "/api/v1/indices/aqi", tag = "indices", params(AqiQuery),
    responses((status = 200, body = AqiAnswer), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn aqi(
    State(state): State<Arc<AppState>>,
    _: Reader,
    ApiQuery(q): ApiQuery<AqiQuery>,
) -> Result<Json<AqiAnswer>, ApiError> {
    let scheme = q.scheme.unwrap_or_default();
    let period = q.period.unwrap_or_default();
    if scheme == Scheme::Us && period == Period::Daily {
        return Err(ApiError::bad_query(
            "period",
            "the US scheme is served hourly (NowCast) only",
        ));
    }
    let stations = state.stations();
    if let Some(id) = &q.station
        && stations.by_station(id).is_none()
    {
        return Err(ApiError::not_found(format!("no station with id {id:?}")));
    }
    let s = &state.settings;
    let list = stations
        .iter()
        .filter(|st| !st.is_water())
        .filter(|st| q.station.as_ref().is_none_or(|id| *id == st.info.station))
        .map(|st| {
            let (at, aqi) = match (scheme, period) {
                // The day asked about is named even when its data is not enough.
                (Scheme::Vn, Period::Daily) => match vn_daily(st, s) {
                    Some((day, r)) => (Some(format_date(day)), Some(r)),
                    None => (last_complete_day(st, s).map(|(_, day)| format_date(day)), None),
                },
                (Scheme::Vn, Period::Hourly) => (None, vn_hourly(st, s)),
                (Scheme::Us, _) => (None, us_current(st, s)),
            };
            let at = at.or_else(|| {
                if period == Period::Daily {
                    return None;
                }
                st.observed_at_ms
                    .map(|t| rfc3339_ms(i128::from(t - t % crate::live::HOUR_MS)))
            });
            StationAqi {
                station: st.info.station.clone(),
                name: st.info.name.clone(),
                district: st.info.district.clone(),
                pm2_5_basis: s.correction.of(&st.info.station).basis(),
                at,
                aqi,
            }
        })
        .collect();
    Ok(Json(AqiAnswer {
        scheme: match scheme {
            Scheme::Vn => "vn",
            Scheme::Us => "us",
        },
        period: match period {
            Period::Hourly => "hourly",
            Period::Daily => "daily",
        },
        reference: match scheme {
            Scheme::Vn => "Decision 1459/QĐ-TCMT (VN_AQI)",
            Scheme::Us => "US EPA AQI, 40 CFR 58 App. G (PM2.5 breakpoints of 7 Feb 2024), NowCast",
        },
        stations: list,
    }))
}

/// WQI query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct WqiQuery {
    /// Only this station.
    station: Option<String>,
}

/// One station's VN_WQI.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StationWqi {
    station: String,
    name: String,
    district: String,
    /// The index, when the data-sufficiency rule is met.
    wqi: Option<WqiResult>,
    /// Why there is none.
    insufficient: Option<Insufficient>,
    /// Salinity and its class.
    salinity: Option<SalinityBrief>,
}

/// The WQI answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WqiAnswer {
    reference: &'static str,
    stations: Vec<StationWqi>,
}

/// VN_WQI of every water station (or one), from probe means and lab results.
#[utoipa::path(get, path = "/api/v1/indices/wqi", tag = "indices", params(WqiQuery),
    responses((status = 200, body = WqiAnswer), (status = 400, body = ApiError), (status = 404, body = ApiError)))]
pub(crate) async fn wqi(
    State(state): State<Arc<AppState>>,
    _: Reader,
    ApiQuery(q): ApiQuery<WqiQuery>,
) -> Result<Json<WqiAnswer>, ApiError> {
    let lab = state.lab_values(OffsetDateTime::now_utc());
    let stations = state.stations();
    if let Some(id) = &q.station
        && stations.by_station(id).is_none()
    {
        return Err(ApiError::not_found(format!("no station with id {id:?}")));
    }
    let none = Vec::new();
    let list = stations
        .iter()
        .filter(|st| st.is_water())
        .filter(|st| q.station.as_ref().is_none_or(|id| *id == st.info.station))
        .map(|st| {
            let result = wqi_of(st, &state.settings, lab.get(&st.info.station).unwrap_or(&none));
            let (wqi, insufficient) = match result {
                Some(Ok(r)) => (Some(r), None),
                Some(Err(i)) => (None, Some(i)),
                None => (None, None),
            };
            StationWqi {
                station: st.info.station.clone(),
                name: st.info.name.clone(),
                district: st.info.district.clone(),
                wqi,
                insufficient,
                salinity: salinity_of(st, &state.settings),
            }
        })
        .collect();
    Ok(Json(WqiAnswer {
        reference: "Decision 1460/QĐ-TCMT (VN_WQI)",
        stations: list,
    }))
}
