//! The rebuild at start: the stations' hourly history comes back from InfluxDB, so the AQI does
//! not go blank for 12 hours after a restart.
//!
//! Five-minute means and counts of the tracked fields over the kept history, per station, fill
//! the same buckets live frames do. Each station remembers the time of its last stored point;
//! frames at or before it (redelivered by the broker from the API's persistent session) are
//! already counted and do not enter the history again. Water salinity that the collector did
//! not store (probes without a salinity output) is recomputed per bucket from the mean
//! conductivity and temperature.
//!
//! InfluxDB holds every raw value, including those quality control left out of indices and
//! alerts; the IOC's database keeps those (`store/quality.rs`), and each is taken out of its
//! bucket's mean and count again, so the indices after a restart are the ones served before.

use std::collections::HashMap;

use tracing::{info, warn};

use super::client::{Influx, InfluxError};
use crate::indices::salinity::practical_salinity;
use crate::live::{HOUR_MS, HOURS_KEPT, Param, SLOT_MS, Stations};
use crate::quality::CorrectionConfig;
use crate::store::Store;

/// Flagged values per (station, param, bucket start): their sum and count.
type FlaggedSums = HashMap<(String, String, u64), (f64, u32)>;

/// The flagged values of the kept span, summed per five-minute bucket.
fn flagged_sums(store: &Store) -> FlaggedSums {
    let now_ms =
        i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let from_ms = now_ms - (HOURS_KEPT as u64 * HOUR_MS) as i64;
    let flagged = store
        .flagged(None, from_ms, i64::MAX, usize::MAX)
        .unwrap_or_else(|e| {
            warn!(error = %e, "Cannot read the flagged values; the rebuilt history includes them.");
            Vec::new()
        });
    let mut sums = FlaggedSums::new();
    for f in flagged {
        let at = f.at_ms.max(0) as u64;
        let entry = sums.entry((f.station, f.param, at - at % SLOT_MS)).or_default();
        entry.0 += f.value;
        entry.1 += 1;
    }
    sums
}

/// A bucket's mean and count without the flagged values it holds; `None` if nothing is left.
pub(crate) fn without_flagged(mean: f64, count: f64, flagged: Option<&(f64, u32)>) -> Option<(f64, f64)> {
    let Some(&(sum, n)) = flagged else {
        return Some((mean, count));
    };
    let left = count - f64::from(n);
    (left >= 1.0).then(|| ((mean * count - sum) / left, left))
}

/// Air fields read back; humidity is not kept as history but corrects PM2.5
/// (`quality.correction`) per bucket.
const AIR: [Param; 7] = [
    Param::Humidity,
    Param::Pm2_5,
    Param::Pm10,
    Param::O3,
    Param::No2,
    Param::So2,
    Param::Co,
];
const WATER: [Param; 6] = [
    Param::Ph,
    Param::DissolvedOxygen,
    Param::Conductivity,
    Param::Temperature,
    Param::Turbidity,
    Param::Salinity,
];

fn select(fields: &[Param]) -> String {
    fields
        .iter()
        .map(|p| {
            format!(
                "mean(\"{0}\") AS \"mean_{0}\", count(\"{0}\") AS \"count_{0}\"",
                p.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rebuilds every station's history from InfluxDB; returns how many buckets were loaded.
///
/// # Errors
///
/// InfluxDB is unreachable or refuses the queries; the stations are left as they were.
pub async fn rebuild(
    influx: &Influx,
    stations: &std::sync::RwLock<Stations>,
    store: &Store,
    correction: &CorrectionConfig,
) -> Result<usize, InfluxError> {
    let hours = HOURS_KEPT;
    let flagged = flagged_sums(store);
    let mut loaded = 0;
    for (measurement, fields) in [("air_quality", &AIR[..]), ("water_quality", &WATER[..])] {
        let buckets = influx
            .query(&format!(
                "SELECT {} FROM \"{measurement}\" WHERE time > now() - {hours}h GROUP BY time(5m), \"station\"",
                select(fields)
            ))
            .await?;
        let last = influx
            .query(&format!(
                "SELECT last(\"seq\") FROM \"{measurement}\" WHERE time > now() - {hours}h GROUP BY \"station\""
            ))
            .await?;
        let last_by_station: HashMap<String, u64> = last
            .iter()
            .filter_map(|s| {
                Some((
                    s.tags.get("station")?.clone(),
                    s.points.first()?.time_ms.max(0) as u64,
                ))
            })
            .collect();
        let mut stations = stations.write().unwrap_or_else(|p| p.into_inner());
        let now = time::OffsetDateTime::now_utc();
        for series in buckets {
            let Some(station_id) = series.tags.get("station") else {
                continue;
            };
            let Some(station) = stations.by_station_mut(station_id) else {
                continue;
            };
            let water = station.is_water();
            let column = |name: &str| series.columns.iter().position(|c| c == name);
            for point in &series.points {
                let value = |name: String| column(&name).and_then(|i| point.values.get(i).copied().flatten());
                let t = point.time_ms.max(0) as u64;
                let mut means: HashMap<Param, (f64, u16)> = HashMap::new();
                for &param in fields {
                    let mean = value(format!("mean_{}", param.as_str()));
                    let count = value(format!("count_{}", param.as_str())).unwrap_or(0.0);
                    let key = (station_id.clone(), param.as_str().to_owned(), t);
                    if let Some(mean) = mean
                        && count >= 1.0
                        && let Some((mean, count)) = without_flagged(mean, count, flagged.get(&key))
                    {
                        means.insert(param, (mean, count.min(f64::from(u16::MAX)) as u16));
                    }
                }
                if water
                    && !means.contains_key(&Param::Salinity)
                    && let (Some(&(ec, n)), Some(&(temp, _))) =
                        (means.get(&Param::Conductivity), means.get(&Param::Temperature))
                    && let Some(s) = practical_salinity(ec, temp)
                {
                    means.insert(Param::Salinity, (s, n));
                }
                // Below 30 and from 50 to 210 µg/m³ the correction is linear in PM2.5 and
                // humidity, so there the bucket's mean corrected is the mean of its values
                // corrected; in the blends and above it, close to it.
                if !water && let Some(&(pm, n)) = means.get(&Param::Pm2_5) {
                    let rh = means.get(&Param::Humidity).map(|(rh, _)| *rh);
                    match correction.apply(station_id, pm, rh) {
                        Some(corrected) => means.insert(Param::Pm2_5, (corrected, n)),
                        None => means.remove(&Param::Pm2_5),
                    };
                }
                for (param, (mean, count)) in means {
                    if param.tracked(water) {
                        let tracked = station.series_mut(param, now);
                        tracked.series.insert_bucket(t, mean, count);
                        loaded += 1;
                    }
                }
            }
        }
        for (station_id, last_ms) in last_by_station {
            if let Some(station) = stations.by_station_mut(&station_id) {
                station.rebuilt_until_ms = station.rebuilt_until_ms.max(last_ms);
                if station.observed_at_ms.is_none_or(|t| t < last_ms) {
                    station.observed_at_ms = Some(last_ms);
                }
            }
        }
    }
    info!(
        buckets = loaded,
        hours, "Rebuilt the hourly history from InfluxDB."
    );
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flagged_values_come_out_of_their_bucket() {
        // Five values 10, 10, 10, 40, 40: the two 40s flagged.
        assert_eq!(without_flagged(22.0, 5.0, Some(&(80.0, 2))), Some((10.0, 3.0)));
        assert_eq!(without_flagged(22.0, 5.0, None), Some((22.0, 5.0)));
        assert_eq!(without_flagged(42.0, 3.0, Some(&(126.0, 3))), None);
    }
}
