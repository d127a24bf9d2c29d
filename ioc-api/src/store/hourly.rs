//! The local hourly history: each station's hourly sums per parameter, saved by the tick, for
//! deployments without InfluxDB (the demo). History and the hourly exports read it there, and a
//! restart puts the last hours back into memory, so the means served stay the same.

use rusqlite::params;

use super::{Store, StoreError};
use crate::live::HourRecord;

/// One saved hour of one station's parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedHour {
    /// Station id.
    pub station: String,
    /// Parameter (field name).
    pub param: String,
    /// The hour.
    pub record: HourRecord,
}

impl Store {
    /// Saves hours, each in place of what was saved for it before, in one transaction.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn save_hours(&self, hours: &[SavedHour]) -> Result<(), StoreError> {
        if hours.is_empty() {
            return Ok(());
        }
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO hourly(station, param, hour_ms, sum_steps, count, slots, per_unit)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT(station, param, hour_ms) DO UPDATE SET sum_steps = excluded.sum_steps,
                       count = excluded.count, slots = excluded.slots, per_unit = excluded.per_unit",
                )?;
                for h in hours {
                    let r = &h.record;
                    stmt.execute(params![
                        h.station,
                        h.param,
                        r.hour_ms as i64,
                        r.sum_steps,
                        r.count,
                        r.slots,
                        r.per_unit
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// The saved hours starting in `[from_ms, to_ms)`, of one station or all, by station and time.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn hours(
        &self,
        station: Option<&str>,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<SavedHour>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT station, param, hour_ms, sum_steps, count, slots, per_unit FROM hourly
                 WHERE hour_ms >= ?1 AND hour_ms < ?2 AND (?3 IS NULL OR station = ?3)
                 ORDER BY station, hour_ms",
            )?;
            let rows = stmt.query_map(params![from_ms, to_ms, station], |r| {
                Ok(SavedHour {
                    station: r.get(0)?,
                    param: r.get(1)?,
                    record: HourRecord {
                        hour_ms: r.get::<_, i64>(2)?.max(0) as u64,
                        sum_steps: r.get(3)?,
                        count: r.get(4)?,
                        slots: r.get(5)?,
                        per_unit: r.get(6)?,
                    },
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Per station, the start of its first and of its last saved hour (ms): the span the hourly
    /// exports can answer for, for the open-data catalogue.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn hour_spans(&self) -> Result<Vec<(String, i64, i64)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT station, MIN(hour_ms), MAX(hour_ms) FROM hourly WHERE count > 0 GROUP BY station",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
