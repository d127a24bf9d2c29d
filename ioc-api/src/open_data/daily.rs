//! Daily CSV files for portals that pull files: shortly after each local midnight
//! (`stations.time_zone`) the previous day's hourly means, the CSV of
//! `/api/v1/export/hourly.csv`, go to `<daily_dir>/<kind>/<yyyy>/<yyyy-mm-dd>.csv`.
//!
//! Design: each pass, at start and after every midnight, looks at the last
//! `open_data.daily_backfill_days` days and writes the files missing among them, rather than
//! writing "yesterday" on a timer. A restart, an InfluxDB outage or a host asleep at midnight then
//! leaves no hole, and the files themselves are the only state. A file once written is kept (a
//! portal may have pulled it already); a day without any hourly mean gets no file yet, so data
//! that arrives late (a node's store-and-forward after an outage) still gets one while the day
//! is in the window.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use protocol::registry::StationKind;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::http::{Selection, csv_text, hourly_rows};
use crate::state::AppState;

/// How long after midnight a pass runs: long enough for the last hour's frames to land (the
/// collector's batches, a node's retries over a slow link) and for the tick to save them.
const AFTER_MIDNIGHT: Duration = Duration::from_secs(5 * 60);
/// How soon a pass that could not write a file tries again.
const RETRY: Duration = Duration::from_secs(10 * 60);

/// What one pass did.
#[derive(Debug, Default)]
pub struct DailyPass {
    /// The files written, oldest day first.
    pub written: Vec<PathBuf>,
    /// Files that could not be written (logged); the next pass tries them again.
    pub failed: usize,
}

/// Why one day's file was not written.
#[derive(Debug, thiserror::Error)]
enum DailyError {
    /// The hourly means could not be read (the read logged why).
    #[error("the hourly means could not be read ({0})")]
    Source(StatusCode),
    /// The day's bounds do not exist in the calendar (only near the years ±9999).
    #[error("the day's bounds: {0}")]
    Calendar(#[from] jiff::Error),
    /// The folder or the file could not be written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn to_time(at: jiff::Timestamp) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(at.as_nanosecond()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Writes, for each station kind in the registry and each of the `days` local days before the
/// one `now` falls in, that day's hourly CSV when its file is missing and the day has data.
/// Existing files are never rewritten.
pub async fn write_missing_days(state: &AppState, dir: &Path, days: u32, now: OffsetDateTime) -> DailyPass {
    let mut pass = DailyPass::default();
    let zone = &state.settings.zone;
    let Ok(now) = jiff::Timestamp::from_nanosecond(now.unix_timestamp_nanos()) else {
        return pass;
    };
    let mut day = now.to_zoned_datetime(zone.clone()).date();
    let mut window = Vec::new();
    for _ in 0..days {
        let Ok(before) = day.yesterday() else { break };
        day = before;
        window.push(day);
    }
    let kinds: Vec<StationKind> = [StationKind::Air, StationKind::Water]
        .into_iter()
        .filter(|k| state.registry.nodes().any(|n| n.kind == *k))
        .collect();
    for day in window.into_iter().rev() {
        for &kind in &kinds {
            match write_day(state, dir, day, kind).await {
                Ok(Some(path)) => pass.written.push(path),
                Ok(None) => {}
                Err(e) => {
                    pass.failed += 1;
                    warn!(day = %day, kind = kind.as_str(), error = %e, "Daily open-data file not written; the next pass tries again.");
                }
            }
        }
    }
    pass
}

/// The file of `day` and `kind`: `None` when it exists already or the day has no data.
async fn write_day(
    state: &AppState,
    dir: &Path,
    day: Date,
    kind: StationKind,
) -> Result<Option<PathBuf>, DailyError> {
    let path = dir
        .join(kind.as_str())
        .join(format!("{:04}", day.year()))
        .join(format!("{day}.csv"));
    if tokio::fs::try_exists(&path).await? {
        return Ok(None);
    }
    let zone = state.settings.zone.clone();
    let start = day.to_zoned_datetime(zone.clone())?.timestamp();
    let end = day.tomorrow()?.to_zoned_datetime(zone)?.timestamp();
    let selection = Selection {
        kinds: &[kind == StationKind::Water],
        station: None,
        district: None,
    };
    let rows = hourly_rows(state, (to_time(start), to_time(end)), &selection)
        .await
        .map_err(|e| DailyError::Source(e.status()))?;
    if rows.is_empty() {
        return Ok(None);
    }
    let text = csv_text(&rows);
    let target = path.clone();
    tokio::task::spawn_blocking(move || write_atomically(&target, &text))
        .await
        .map_err(std::io::Error::other)??;
    info!(path = %path.display(), rows = rows.len(), "Wrote a daily open-data file.");
    Ok(Some(path))
}

/// Writes `text` to a temporary file beside `path`, syncs it, renames it into place and syncs
/// the folder: a portal never sees half a file, and a power cut loses no file it was told of.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let folder = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the daily file has no folder"))?;
    std::fs::create_dir_all(folder)?;
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    // A dot name, so a portal listing the folder does not take it for a day's file.
    let temp = folder.join(format!(".{name}.tmp"));
    let mut file = File::create(&temp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    File::open(folder)?.sync_all()
}

/// From `now` to the next pass: [`AFTER_MIDNIGHT`] past the next local midnight in `zone`.
fn until_next_pass(now: OffsetDateTime, zone: &TimeZone) -> Duration {
    let next = || -> Result<(jiff::Timestamp, jiff::Timestamp), jiff::Error> {
        let now = jiff::Timestamp::from_nanosecond(now.unix_timestamp_nanos())?;
        let local = now.to_zoned_datetime(zone.clone());
        let delay = jiff::SignedDuration::try_from(AFTER_MIDNIGHT)?;
        let today = local.start_of_day()?.timestamp().checked_add(delay)?;
        if today > now {
            return Ok((now, today));
        }
        Ok((
            now,
            local.tomorrow()?.start_of_day()?.timestamp().checked_add(delay)?,
        ))
    };
    match next() {
        Ok((now, next)) => {
            Duration::from_millis(u64::try_from(next.as_millisecond() - now.as_millisecond()).unwrap_or(0))
        }
        Err(_) => RETRY,
    }
}

/// Writes the missing daily files now, then after every local midnight, until `cancel`; after
/// a pass with failures, again within [`RETRY`].
pub(crate) async fn run_daily(state: Arc<AppState>, dir: PathBuf, days: u32, cancel: CancellationToken) {
    loop {
        let now = OffsetDateTime::now_utc();
        let pass = write_missing_days(&state, &dir, days, now).await;
        let mut wait = until_next_pass(now, &state.settings.zone);
        if pass.failed > 0 {
            wait = wait.min(RETRY);
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_pass_is_five_minutes_after_the_next_local_midnight() {
        let zone = TimeZone::get("Asia/Ho_Chi_Minh").expect("bundled zone");
        // 2025-11-28T16:00:00Z is 23:00 in Vietnam (UTC+7).
        let evening = OffsetDateTime::from_unix_timestamp(1_764_345_600).expect("time");
        assert_eq!(until_next_pass(evening, &zone), Duration::from_secs(3_900));
        let just_after_midnight = evening + time::Duration::minutes(62);
        assert_eq!(
            until_next_pass(just_after_midnight, &zone),
            Duration::from_secs(180)
        );
        let at_the_pass = evening + time::Duration::minutes(65);
        assert_eq!(until_next_pass(at_the_pass, &zone), Duration::from_secs(86_400));
    }
}
