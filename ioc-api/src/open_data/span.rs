//! When each station's hourly means start and end: the catalogue's `dct:temporal`.

use std::collections::BTreeMap;

use crate::history::InfluxError;
use crate::live::{HOUR_MS, Param};
use crate::state::AppState;
use crate::store::StoreError;

/// The hours a station has data for: from the start of its first hour to the end of its last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// Start of the first hour, ms since the epoch.
    pub(crate) start_ms: i64,
    /// End of the last hour, ms since the epoch.
    pub(crate) end_ms: i64,
}

impl Span {
    fn of_hours(first_ms: i64, last_ms: i64) -> Span {
        let hour = HOUR_MS as i64;
        Span {
            start_ms: first_ms.div_euclid(hour) * hour,
            end_ms: last_ms.div_euclid(hour) * hour + hour,
        }
    }

    /// The span covering both.
    pub(crate) fn union(self, other: Span) -> Span {
        Span {
            start_ms: self.start_ms.min(other.start_ms),
            end_ms: self.end_ms.max(other.end_ms),
        }
    }
}

/// Why the spans could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpanError {
    /// InfluxDB did not answer.
    #[error(transparent)]
    Influx(#[from] InfluxError),
    /// The local history did not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the first (`ASC`) or last (`DESC`) point of every station of a measurement.
fn edge_query(measurement: &str, order: &str) -> String {
    // Every point carries `quality` (docs/influxdb-schema.md), so it stands for the point; a
    // raw select with a per-series LIMIT 1 reads one point per station, where first()/last()
    // over the whole history would scan it.
    format!("SELECT \"quality\" FROM \"{measurement}\" GROUP BY \"station\" ORDER BY time {order} LIMIT 1")
}

/// Each station's span, from InfluxDB when configured (the source of the exports), else from
/// the local hourly history. Stations without data are left out.
pub(crate) async fn data_spans(state: &AppState) -> Result<BTreeMap<String, Span>, SpanError> {
    let Some(influx) = state.influx.as_ref() else {
        return Ok(state
            .store
            .hour_spans()?
            .into_iter()
            .map(|(station, first, last)| (station, Span::of_hours(first, last)))
            .collect());
    };
    let mut spans = BTreeMap::new();
    for water in [false, true] {
        let (measurement, _) = Param::measurement(water);
        let first = influx.query(&edge_query(measurement, "ASC")).await?;
        let last = influx.query(&edge_query(measurement, "DESC")).await?;
        let time_of = |series: Vec<crate::history::SeriesRows>| -> BTreeMap<String, i64> {
            series
                .into_iter()
                .filter_map(|s| Some((s.tags.get("station")?.clone(), s.points.first()?.time_ms)))
                .collect()
        };
        let last = time_of(last);
        for (station, first_ms) in time_of(first) {
            let last_ms = last.get(&station).copied().unwrap_or(first_ms);
            spans.insert(station, Span::of_hours(first_ms, last_ms));
        }
    }
    Ok(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_runs_from_the_first_hour_start_to_the_last_hour_end() {
        let span = Span::of_hours(3 * HOUR_MS as i64 + 17, 5 * HOUR_MS as i64 + 59_000);
        assert_eq!(
            span,
            Span {
                start_ms: 3 * HOUR_MS as i64,
                end_ms: 6 * HOUR_MS as i64
            }
        );
        assert_eq!(
            edge_query("air_quality", "DESC"),
            "SELECT \"quality\" FROM \"air_quality\" GROUP BY \"station\" ORDER BY time DESC LIMIT 1"
        );
    }
}
