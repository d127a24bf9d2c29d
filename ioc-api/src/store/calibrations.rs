//! Co-location calibrations: each fit an operator asked for, kept whether applied or not, with
//! who applied it and which calibration it replaced, so a rollback goes back exactly one step and
//! the record says what the indices were computed on at any time.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreError};
use crate::quality::calibration::Calibration;

/// Where a calibration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationStatus {
    /// Fitted, never applied: to be inspected.
    Proposed,
    /// Applied now: the station's PM2.5 goes through it.
    Applied,
    /// Applied once, then replaced or rolled back.
    Retired,
}

impl CalibrationStatus {
    fn as_str(self) -> &'static str {
        match self {
            CalibrationStatus::Proposed => "proposed",
            CalibrationStatus::Applied => "applied",
            CalibrationStatus::Retired => "retired",
        }
    }

    fn parse(text: &str) -> CalibrationStatus {
        match text {
            "applied" => CalibrationStatus::Applied,
            "retired" => CalibrationStatus::Retired,
            _ => CalibrationStatus::Proposed,
        }
    }
}

/// A calibration as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StoredCalibration {
    /// Its number.
    pub id: i64,
    /// Station id.
    pub station: String,
    /// The parameter it corrects (`pm2_5`).
    pub param: String,
    /// The fit: method, breakpoints, segments and statistics.
    pub calibration: Calibration,
    /// The first hour of the co-location (RFC 3339).
    pub period_from: String,
    /// The end of the last hour of the co-location (RFC 3339).
    pub period_to: String,
    /// When it was fitted (RFC 3339).
    pub fitted_at: String,
    /// Who asked for the fit.
    pub fitted_by: String,
    /// The operator's note (reference monitor, site).
    pub note: String,
    /// `proposed`, `applied` or `retired`.
    pub status: CalibrationStatus,
    /// When it was last applied (RFC 3339).
    pub applied_at: Option<String>,
    /// Who last applied it.
    pub applied_by: Option<String>,
    /// The calibration that was applied before it, which a rollback applies again.
    pub replaced: Option<i64>,
}

const COLUMNS: &str = "id, station, param, calibration, period_from, period_to, fitted_at, fitted_by, note, status, applied_at, applied_by, replaced";

/// A stored calibration; one whose JSON no longer parses is an error, not a default.
fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredCalibration> {
    let text: String = r.get(3)?;
    let calibration: Calibration = serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(StoredCalibration {
        id: r.get(0)?,
        station: r.get(1)?,
        param: r.get(2)?,
        calibration,
        period_from: r.get(4)?,
        period_to: r.get(5)?,
        fitted_at: r.get(6)?,
        fitted_by: r.get(7)?,
        note: r.get(8)?,
        status: CalibrationStatus::parse(&r.get::<_, String>(9)?),
        applied_at: r.get(10)?,
        applied_by: r.get(11)?,
        replaced: r.get(12)?,
    })
}

/// A new fit, before it has a number.
#[derive(Debug, Clone)]
pub struct NewCalibration<'a> {
    /// Station id.
    pub station: &'a str,
    /// The parameter (`pm2_5`).
    pub param: &'a str,
    /// The fit.
    pub calibration: &'a Calibration,
    /// Co-location period, RFC 3339.
    pub period: (&'a str, &'a str),
    /// When, RFC 3339.
    pub fitted_at: &'a str,
    /// Who.
    pub fitted_by: &'a str,
    /// The operator's note.
    pub note: &'a str,
}

impl Store {
    /// Stores a fit as `proposed`; returns it with its number.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn insert_calibration(&self, new: &NewCalibration<'_>) -> Result<StoredCalibration, StoreError> {
        let text = serde_json::to_string(new.calibration).unwrap_or_default();
        let id = self.with(|c| {
            c.execute(
                "INSERT INTO calibrations(station, param, calibration, period_from, period_to, fitted_at, fitted_by, note, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'proposed')",
                params![
                    new.station,
                    new.param,
                    text,
                    new.period.0,
                    new.period.1,
                    new.fitted_at,
                    new.fitted_by,
                    new.note
                ],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        self.calibration(new.station, id)?
            .ok_or_else(|| StoreError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
    }

    /// One of a station's calibrations.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn calibration(&self, station: &str, id: i64) -> Result<Option<StoredCalibration>, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM calibrations WHERE station = ?1 AND id = ?2"),
                params![station, id],
                row,
            )
            .optional()?)
        })
    }

    /// A station's calibrations, newest first (all stations' when `station` is `None`).
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn calibrations(&self, station: Option<&str>) -> Result<Vec<StoredCalibration>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM calibrations WHERE ?1 IS NULL OR station = ?1 ORDER BY id DESC"
            ))?;
            let rows = stmt.query_map(params![station], row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The calibrations applied now, one per station at most.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn applied_calibrations(&self) -> Result<Vec<StoredCalibration>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM calibrations WHERE status = 'applied' ORDER BY id"
            ))?;
            let rows = stmt.query_map([], row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Applies calibration `id` of `station` in one transaction: the one applied before is
    /// retired and remembered as replaced (unless it is `id` itself). Returns it, or `None` if
    /// the station has no such calibration.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn apply_calibration(
        &self,
        station: &str,
        id: i64,
        (at, by): (&str, &str),
    ) -> Result<Option<StoredCalibration>, StoreError> {
        let Some(target) = self.calibration(station, id)? else {
            return Ok(None);
        };
        if target.status == CalibrationStatus::Applied {
            return Ok(Some(target));
        }
        self.with(|c| {
            let tx = c.transaction()?;
            let before: Option<i64> = tx
                .query_row(
                    "SELECT id FROM calibrations WHERE station = ?1 AND status = 'applied'",
                    params![station],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "UPDATE calibrations SET status = 'retired' WHERE station = ?1 AND status = 'applied'",
                params![station],
            )?;
            tx.execute(
                "UPDATE calibrations SET status = ?1, applied_at = ?2, applied_by = ?3, replaced = ?4 WHERE id = ?5",
                params![CalibrationStatus::Applied.as_str(), at, by, before, id],
            )?;
            tx.commit()?;
            Ok(())
        })?;
        self.calibration(station, id)
    }

    /// Rolls `station` back one step: the applied calibration is retired and the one it
    /// replaced, if any, applied again. Returns (the one rolled back, the one applied now), or
    /// `None` if none was applied.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn roll_back_calibration(
        &self,
        station: &str,
        (at, by): (&str, &str),
    ) -> Result<Option<(StoredCalibration, Option<StoredCalibration>)>, StoreError> {
        let Some(current) = self
            .calibrations(Some(station))?
            .into_iter()
            .find(|c| c.status == CalibrationStatus::Applied)
        else {
            return Ok(None);
        };
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE calibrations SET status = 'retired' WHERE id = ?1",
                params![current.id],
            )?;
            if let Some(previous) = current.replaced {
                // Applied again as it was: what it replaced in its time stays recorded.
                tx.execute(
                    "UPDATE calibrations SET status = 'applied', applied_at = ?1, applied_by = ?2 WHERE id = ?3",
                    params![at, by, previous],
                )?;
            }
            tx.commit()?;
            Ok(())
        })?;
        let rolled_back = self.calibration(station, current.id)?.unwrap_or(current.clone());
        let now = match current.replaced {
            Some(previous) => self.calibration(station, previous)?,
            None => None,
        };
        Ok(Some((rolled_back, now)))
    }

    /// Records that `station`'s PM2.5 basis changed from `before` to `after` at `at_ms`.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn record_basis_change(
        &self,
        station: &str,
        at_ms: i64,
        (before, after): (&str, &str),
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO pm25_basis_changes(station, at_ms, before, after) VALUES (?1, ?2, ?3, ?4)",
                params![station, at_ms, before, after],
            )?;
            Ok(())
        })
    }

    /// Every recorded change of a PM2.5 basis, by station and time: (at ms, before, after).
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn basis_changes(&self) -> Result<BasisChanges, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT station, at_ms, before, after FROM pm25_basis_changes ORDER BY station, at_ms",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
            })?;
            let mut changes = BasisChanges::new();
            for row in rows {
                let (station, change) = row?;
                changes.entry(station).or_default().push(change);
            }
            Ok(changes)
        })
    }
}

/// Basis changes per station, oldest first: (at ms, before, after).
pub type BasisChanges = std::collections::BTreeMap<String, Vec<(i64, String, String)>>;

/// The basis of `station`'s hour starting at `hour_ms` given its `changes`: the one in effect
/// through the hour, `mixed` if it changed within it, `current` if it never changed.
pub fn basis_of_hour<'a>(
    changes: Option<&'a [(i64, String, String)]>,
    hour_ms: i64,
    current: &'a str,
) -> &'a str {
    let Some(changes) = changes.filter(|c| !c.is_empty()) else {
        return current;
    };
    let end = hour_ms + crate::live::HOUR_MS as i64;
    if changes.iter().any(|(at, _, _)| *at > hour_ms && *at < end) {
        return "mixed";
    }
    match changes.iter().rev().find(|(at, _, _)| *at <= hour_ms) {
        Some((_, _, after)) => after,
        None => &changes[0].1,
    }
}

#[cfg(test)]
mod tests {
    use super::basis_of_hour;

    #[test]
    fn an_hour_has_the_basis_in_effect_through_it_or_is_mixed() {
        const H: i64 = 3_600_000;
        let changes = vec![
            (10 * H + 5, "raw".to_owned(), "co_location".to_owned()),
            (20 * H, "co_location".to_owned(), "us_epa_rh".to_owned()),
        ];
        let of = |hour: i64| basis_of_hour(Some(&changes), hour * H, "us_epa_rh");
        assert_eq!(of(9), "raw", "before the first change: what it changed from");
        assert_eq!(of(10), "mixed", "changed within the hour");
        assert_eq!(of(11), "co_location");
        assert_eq!(of(20), "us_epa_rh", "a change at the hour's start counts for it");
        assert_eq!(
            basis_of_hour(None, 0, "raw"),
            "raw",
            "never changed: the current one"
        );
    }
}
