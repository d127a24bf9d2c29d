//! A station as the API shows it, with its indices computed from the hourly history.

use std::collections::{BTreeMap, HashMap};

use protocol::registry::StationKind;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::param::Param;
use super::reading::Reading;
use super::series::HOUR_MS;
use super::stations::{NodeHealth, RefusedFrames, Station, Transmission};
use crate::config::IndicesConfig;
use crate::indices::salinity::{SalinityClass, classify};
use crate::indices::wqi::{self, Insufficient, WqiParameter, WqiResult};
use crate::indices::{AqiResult, Band, Pollutant, us_aqi, vn_aqi};
use crate::quality::{Correction, CorrectionConfig, CoverageCount, ReadingFlags};
use crate::time_fmt::{rfc3339, rfc3339_ms};

/// Settings the views need.
#[derive(Debug, Clone)]
pub struct ViewSettings {
    /// Index settings.
    pub indices: IndicesConfig,
    /// Offline after this long without a frame.
    pub offline_after: time::Duration,
    /// Local offset from UTC, hours.
    pub utc_offset_hours: i8,
    /// The operations centre's time zone (IANA name), for the dashboard.
    pub time_zone: String,
    /// The same zone resolved, for the exports' local columns.
    pub zone: jiff::tz::TimeZone,
    /// Map tiles and their attribution, for the dashboard.
    pub map_tiles: Option<(String, String)>,
    /// Which stations' PM2.5 is corrected before the indices use it.
    pub correction: CorrectionConfig,
}

/// An index value in brief, for lists and chips.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IndexBrief {
    /// The value.
    pub value: u16,
    /// Its band.
    pub band: Band,
    /// The deciding pollutant (AQI only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dominant: Option<Pollutant>,
}

impl From<&AqiResult> for IndexBrief {
    fn from(r: &AqiResult) -> Self {
        IndexBrief {
            value: r.aqi,
            band: r.band.clone(),
            dominant: Some(r.dominant),
        }
    }
}

/// Salinity and its class.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SalinityBrief {
    /// Salinity, ‰ (rolling 1-hour mean when available, else the latest reading).
    pub ppt: f64,
    /// The class it falls in.
    pub class: SalinityClass,
}

/// A station's coverage so far in the current hour and the current local day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct CoverageNow {
    /// The reporting interval coverage expects, seconds (`quality.report_interval_s`).
    pub interval_s: u32,
    /// The clock hour in progress.
    pub hour: Option<CoverageCount>,
    /// The local day in progress (`stations.time_zone`).
    pub today: Option<CoverageCount>,
}

/// The start of the local day that contains `at_ms`, ms.
pub(crate) fn local_day_start_ms(at_ms: u64, zone: &jiff::tz::TimeZone) -> Option<u64> {
    let at = jiff::Timestamp::from_millisecond(i64::try_from(at_ms).ok()?).ok()?;
    let start = at.to_zoned_datetime(zone.clone()).start_of_day().ok()?;
    u64::try_from(start.timestamp().as_millisecond()).ok()
}

impl Station {
    /// Coverage as of `now` (server clock).
    pub(crate) fn coverage_now(&self, now: OffsetDateTime, zone: &jiff::tz::TimeZone) -> CoverageNow {
        let now_ms = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        CoverageNow {
            interval_s: self.coverage.interval_s(),
            hour: self.coverage.hour(now_ms, now_ms),
            today: local_day_start_ms(now_ms, zone).and_then(|start| self.coverage.day(start, now_ms)),
        }
    }
}

/// One station as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StationView {
    /// Station id.
    pub station: String,
    /// Station name.
    pub name: String,
    /// `air` or `water`.
    pub kind: &'static str,
    /// District.
    pub district: String,
    /// The node that reports for it.
    pub node_id: u32,
    /// Position, `[longitude, latitude]` (GeoJSON order), when known.
    pub location: Option<[f64; 2]>,
    /// True when a frame arrived within the offline timeout.
    pub online: bool,
    /// `online`, `offline` or `never_seen`.
    pub status: &'static str,
    /// When the last frame arrived (RFC 3339, server clock).
    pub last_seen: Option<String>,
    /// Seconds since the last frame.
    pub last_seen_age_s: Option<i64>,
    /// The node's timestamp of the latest reading (RFC 3339).
    pub observed_at: Option<String>,
    /// The latest reading, as the node sent it.
    pub reading: Option<Reading>,
    /// The QC flags of the latest reading's values that indices and alerts leave out, by
    /// parameter (`{"pm2_5": ["stuck"]}`); `{}` when every value passed (docs/ioc.md, "Quality
    /// control").
    #[schema(value_type = Object)]
    pub qc: ReadingFlags,
    /// Readings expected, received and valid (no QC flag) this hour and today (local day).
    pub coverage: CoverageNow,
    /// The PM2.5 the indices, alerts and means use: `raw` (the sensor's) or `us_epa_rh` (the US
    /// EPA correction with the reading's humidity; `quality.correction`).
    pub pm2_5_basis: &'static str,
    /// The latest reading's PM2.5 corrected, µg/m³, when the basis is not `raw`.
    pub pm2_5_corrected: Option<f64>,
    /// Rolling 1-hour mean of PM2.5 in µg/m³ (on `pm2_5_basis`), once the hour is sufficiently covered.
    pub pm2_5_1h_mean: Option<f64>,
    /// Rolling 1-hour means of the tracked parameters.
    pub means_1h: BTreeMap<&'static str, f64>,
    /// VN_AQI hourly (Decision 1459).
    pub vn_aqi: Option<IndexBrief>,
    /// US EPA AQI (NowCast).
    pub us_aqi: Option<IndexBrief>,
    /// VN_WQI (Decision 1460), when the data-sufficiency rule is met.
    pub wqi: Option<IndexBrief>,
    /// Salinity class (water stations).
    pub salinity: Option<SalinityBrief>,
    /// The node's last status frame.
    pub health: Option<NodeHealth>,
    /// Frames of the node refused by the replay window since the API started: a `seq_reused`
    /// count above 0 means the node reuses its frame keys (re-flashed, boot counter lost) and
    /// its new readings are not stored.
    pub frames_refused: RefusedFrames,
    /// The last file of the station each of the authority's receivers took (through the
    /// relay), oldest first; empty when no relay reports on it.
    pub transmission: Vec<Transmission>,
    /// Open alerts of the station.
    pub open_alerts: usize,
}

fn round(x: f64, decimals: i32) -> f64 {
    let s = 10f64.powi(decimals);
    (x * s).round() / s
}

/// The hour (start, ms) the indices treat as c1: the hour of the newest observation.
pub(crate) fn current_hour_ms(station: &Station) -> Option<u64> {
    station.observed_at_ms.map(|t| t - t % HOUR_MS)
}

/// Hourly means of the air pollutants, c1 first.
pub(crate) fn recent_pollutants(
    station: &Station,
    n: usize,
    coverage: f64,
) -> BTreeMap<Pollutant, Vec<Option<f64>>> {
    let mut recent = BTreeMap::new();
    let Some(c1) = current_hour_ms(station) else {
        return recent;
    };
    for pollutant in Pollutant::ALL {
        let param = pollutant_param(pollutant);
        if let Some(t) = station.series(param) {
            recent.insert(pollutant, t.series.recent_hours(c1, n, coverage));
        }
    }
    recent
}

/// The reading parameter of a pollutant.
pub fn pollutant_param(p: Pollutant) -> Param {
    match p {
        Pollutant::Pm25 => Param::Pm2_5,
        Pollutant::Pm10 => Param::Pm10,
        Pollutant::O3 => Param::O3,
        Pollutant::No2 => Param::No2,
        Pollutant::So2 => Param::So2,
        Pollutant::Co => Param::Co,
    }
}

/// VN_AQI hourly of a station.
pub(crate) fn vn_hourly(station: &Station, s: &ViewSettings) -> Option<AqiResult> {
    vn_aqi::hourly(&recent_pollutants(station, 12, s.indices.min_coverage))
}

/// US AQI of a station.
pub(crate) fn us_current(station: &Station, s: &ViewSettings) -> Option<AqiResult> {
    us_aqi::current(
        &recent_pollutants(station, 24, s.indices.min_coverage),
        s.indices.us_pm2_5_top_band,
        s.indices.min_hours_8h,
        s.indices.daily_min_hours,
    )
}

/// The daily VN_AQI of the last complete local day before the newest observation, with the
/// day's date.
/// The last complete local day before the station's newest reading: its start (UTC ms) and date.
pub(crate) fn last_complete_day(station: &Station, s: &ViewSettings) -> Option<(i64, time::Date)> {
    let newest = station.observed_at_ms?;
    let offset_ms = i64::from(s.utc_offset_hours) * HOUR_MS as i64;
    let local = newest as i64 + offset_ms;
    let day_ms = 24 * HOUR_MS as i64;
    let today_start_local = local - local.rem_euclid(day_ms);
    let day_start_utc = today_start_local - day_ms - offset_ms;
    let date = OffsetDateTime::from_unix_timestamp((day_start_utc + offset_ms) / 1_000)
        .ok()?
        .date();
    Some((day_start_utc, date))
}

pub(crate) fn vn_daily(station: &Station, s: &ViewSettings) -> Option<(time::Date, AqiResult)> {
    let (day_start_utc, date) = last_complete_day(station, s)?;
    let mut day = BTreeMap::new();
    for pollutant in Pollutant::ALL {
        let Some(t) = station.series(pollutant_param(pollutant)) else {
            continue;
        };
        let hours: Vec<Option<f64>> = (-7..24)
            .map(|h| {
                let start = day_start_utc + h * HOUR_MS as i64;
                u64::try_from(start)
                    .ok()
                    .and_then(|start| t.series.hourly_mean(start, s.indices.min_coverage))
            })
            .collect();
        day.insert(pollutant, hours);
    }
    let rules = vn_aqi::DailyRules {
        min_hours: s.indices.daily_min_hours,
        min_hours_8h: s.indices.min_hours_8h,
    };
    vn_aqi::daily(&day, rules).map(|r| (date, r))
}

/// VN_WQI of a water station from its probes (pH, DO as % saturation) and lab results.
pub(crate) fn wqi_of(
    station: &Station,
    s: &ViewSettings,
    lab: &[(WqiParameter, f64)],
) -> Option<Result<WqiResult, Insufficient>> {
    if station.info.kind != StationKind::Water {
        return None;
    }
    let mean = |p: Param| {
        station
            .series(p)
            .and_then(|t| t.series.rolling_hour_mean(s.indices.min_coverage))
    };
    let mut values: Vec<(WqiParameter, f64)> = Vec::new();
    if let Some(ph) = mean(Param::Ph) {
        values.push((WqiParameter::Ph, ph));
    }
    if let (Some(do_mg), Some(t)) = (mean(Param::DissolvedOxygen), mean(Param::Temperature)) {
        values.push((WqiParameter::DoPct, round(wqi::do_percent(do_mg, t), 1)));
    }
    for &(p, v) in lab {
        // A probe value wins over a lab value of the same parameter.
        if !values.iter().any(|(q, _)| *q == p) {
            values.push((p, v));
        }
    }
    Some(wqi::compute(&values, s.indices.wqi_aggregation))
}

/// The station's salinity and class.
pub(crate) fn salinity_of(station: &Station, s: &ViewSettings) -> Option<SalinityBrief> {
    let ppt = station
        .series(Param::Salinity)
        .and_then(|t| t.series.rolling_hour_mean(s.indices.min_coverage))
        .or_else(|| station.reading.as_ref().and_then(|r| r.get(Param::Salinity)))?;
    let class = classify(&s.indices.salinity_classes, ppt)?.clone();
    Some(SalinityBrief {
        ppt: Param::Salinity.round(ppt),
        class,
    })
}

impl Station {
    /// The API view of the station at `now`.
    pub(crate) fn view(
        &self,
        now: OffsetDateTime,
        s: &ViewSettings,
        lab: &HashMap<String, Vec<(WqiParameter, f64)>>,
        open_alerts: usize,
    ) -> StationView {
        let online = self.last_seen.is_some_and(|t| now - t <= s.offline_after) && !self.dead;
        let status = match (self.last_seen, online) {
            (None, _) => "never_seen",
            (Some(_), true) => "online",
            (Some(_), false) => "offline",
        };
        let means_1h: BTreeMap<&'static str, f64> = self
            .tracked
            .iter()
            .filter_map(|t| {
                t.series
                    .rolling_hour_mean(s.indices.min_coverage)
                    .map(|m| (t.param.as_str(), t.param.round(m)))
            })
            .collect();
        let no_lab = Vec::new();
        let wqi = wqi_of(self, s, lab.get(&self.info.station).unwrap_or(&no_lab))
            .and_then(Result::ok)
            .map(|r| IndexBrief {
                value: r.wqi,
                band: r.band,
                dominant: None,
            });
        StationView {
            station: self.info.station.clone(),
            name: self.info.name.clone(),
            kind: self.info.kind.as_str(),
            district: self.info.district.clone(),
            node_id: self.info.id,
            location: self.info.location.map(|(lon, lat)| [lon, lat]),
            online,
            status,
            last_seen: self.last_seen.map(rfc3339),
            last_seen_age_s: self.last_seen.map(|t| (now - t).whole_seconds().max(0)),
            observed_at: self.observed_at_ms.map(|t| rfc3339_ms(i128::from(t))),
            reading: self.reading.clone(),
            qc: self.flags,
            pm2_5_basis: s.correction.of(&self.info.station).basis(),
            pm2_5_corrected: self.reading.as_ref().and_then(|r| {
                let raw = r.get(Param::Pm2_5)?;
                (s.correction.of(&self.info.station) != Correction::None)
                    .then(|| {
                        s.correction
                            .apply(&self.info.station, raw, r.get(Param::Humidity))
                    })
                    .flatten()
                    .map(|v| Param::Pm2_5.round(v))
            }),
            coverage: self.coverage_now(now, &s.zone),
            pm2_5_1h_mean: means_1h.get("pm2_5").copied(),
            means_1h,
            vn_aqi: vn_hourly(self, s).as_ref().map(IndexBrief::from),
            us_aqi: us_current(self, s).as_ref().map(IndexBrief::from),
            wqi,
            salinity: salinity_of(self, s),
            health: self.health.clone(),
            frames_refused: self.refused.clone(),
            transmission: self.transmission_view(now),
            open_alerts,
        }
    }
}

impl Station {
    /// The receivers' last deliveries, oldest first, with their age at `now`.
    fn transmission_view(&self, now: OffsetDateTime) -> Vec<Transmission> {
        let mut out: Vec<(OffsetDateTime, Transmission)> = self
            .transmissions
            .values()
            .map(|(t, at)| {
                let mut t = t.clone();
                t.age_s = (now - *at).whole_seconds().max(0);
                (*at, t)
            })
            .collect();
        out.sort_by_key(|(at, _)| *at);
        out.into_iter().map(|(_, t)| t).collect()
    }

    /// Seconds since the receiver that has waited longest took a file, if any relay reports.
    pub(crate) fn transmission_age_s(&self, now: OffsetDateTime) -> Option<f64> {
        self.transmissions
            .values()
            .map(|(_, at)| (now - *at).as_seconds_f64())
            .reduce(f64::max)
    }
}
