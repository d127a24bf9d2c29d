//! Laboratory results for water stations (BOD5, COD, nutrients, coliform, …), which the probes
//! do not measure but VN_WQI needs.

use rusqlite::params;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreError};

/// One lab value.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LabResult {
    /// Station id.
    pub station: String,
    /// When the sample was taken (RFC 3339).
    pub sampled_at: String,
    /// A VN_WQI parameter name (`bod5`, `cod`, `n_nh4`, …).
    pub parameter: String,
    /// The value in the parameter's unit.
    pub value: f64,
    /// Who entered it.
    pub entered_by: String,
}

impl Store {
    /// Stores lab values.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn insert_lab_results(&self, results: &[LabResult]) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            for r in results {
                tx.execute(
                    "INSERT INTO lab_results(station, sampled_at, parameter, value, entered_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![r.station, r.sampled_at, r.parameter, r.value, r.entered_by],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// The latest value of each parameter for a station, sampled at or after `since`
    /// (RFC 3339 text compares in time order for UTC timestamps of one format).
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn latest_lab_results(&self, station: &str, since: &str) -> Result<Vec<LabResult>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT station, max(sampled_at), parameter, value, entered_by FROM lab_results
                 WHERE station = ?1 AND sampled_at >= ?2 GROUP BY parameter ORDER BY parameter",
            )?;
            let rows = stmt.query_map(params![station, since], |r| {
                Ok(LabResult {
                    station: r.get(0)?,
                    sampled_at: r.get(1)?,
                    parameter: r.get(2)?,
                    value: r.get(3)?,
                    entered_by: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
