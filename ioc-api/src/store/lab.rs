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
    /// Stores lab values; a value for a station, sampling time and parameter already stored is
    /// replaced (the laboratory corrected it, or sent the sample again).
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn insert_lab_results(&self, results: &[LabResult]) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            for r in results {
                tx.execute(
                    "DELETE FROM lab_results WHERE station = ?1 AND sampled_at = ?2 AND parameter = ?3",
                    params![r.station, r.sampled_at, r.parameter],
                )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_sent_again_replaces_its_values() {
        let store = Store::in_memory().expect("opens");
        let result = |value| LabResult {
            station: "HG-XN-W01".into(),
            sampled_at: "2026-12-07T01:00:00Z".into(),
            parameter: "bod5".into(),
            value,
            entered_by: "lab".into(),
        };
        store.insert_lab_results(&[result(5.0)]).expect("stored");
        store.insert_lab_results(&[result(5.5)]).expect("stored again");
        let latest = store
            .latest_lab_results("HG-XN-W01", "2026-01-01T00:00:00Z")
            .expect("read");
        assert_eq!(latest, vec![result(5.5)]);
        let count: i64 = store
            .with(|c| Ok(c.query_row("SELECT count(*) FROM lab_results", [], |r| r.get(0))?))
            .expect("counted");
        assert_eq!(count, 1);
    }
}
