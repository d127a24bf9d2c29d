//! Quality control between runs: each station's QC memory and coverage counts, and the values
//! QC left out, saved by the tick. A restart neither lets a stuck run back in nor forgets the
//! hours' coverage, and the rebuild from InfluxDB (which stores every raw value) leaves the
//! flagged values out again.

use rusqlite::params;

use super::{Store, StoreError};
use crate::quality::StationQc;

/// One station's QC memory and its counted coverage hours.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SavedQuality {
    /// Station id.
    #[serde(skip)]
    pub station: String,
    /// What the stuck and spike rules remember.
    pub qc: StationQc,
    /// `(hour start ms, received, valid)` per counted hour.
    pub coverage: Vec<(u64, u16, u16)>,
}

/// A value QC flagged.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedFlag {
    /// Station id.
    pub station: String,
    /// Parameter (field name).
    pub param: String,
    /// Node time, ms.
    pub at_ms: i64,
    /// The value as the node sent it.
    pub value: f64,
    /// The flags' stored byte (`QcFlags::bits`).
    pub flags: u8,
}

impl Store {
    /// Saves the stations' QC states (each in place of the last) and the newly flagged values,
    /// and forgets flagged values older than `keep_from_ms`, in one transaction.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn save_quality(
        &self,
        states: &[SavedQuality],
        flagged: &[SavedFlag],
        keep_from_ms: i64,
    ) -> Result<(), StoreError> {
        if states.is_empty() && flagged.is_empty() {
            return Ok(());
        }
        let encoded = states
            .iter()
            .map(|s| Ok((s.station.as_str(), serde_json::to_string(s)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()?;
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut state = tx.prepare_cached(
                    "INSERT INTO qc_state(station, state) VALUES (?1, ?2)
                     ON CONFLICT(station) DO UPDATE SET state = excluded.state",
                )?;
                for (station, json) in &encoded {
                    state.execute(params![station, json])?;
                }
                let mut flag = tx.prepare_cached(
                    "INSERT OR REPLACE INTO qc_flagged(station, param, at_ms, value, flags)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for f in flagged {
                    flag.execute(params![f.station, f.param, f.at_ms, f.value, f.flags])?;
                }
                tx.execute("DELETE FROM qc_flagged WHERE at_ms < ?1", [keep_from_ms])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Every saved QC state.
    ///
    /// # Errors
    ///
    /// The database refused, or a state does not parse.
    pub fn quality_states(&self) -> Result<Vec<SavedQuality>, StoreError> {
        let rows: Vec<(String, String)> = self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT station, state FROM qc_state ORDER BY station")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        rows.into_iter()
            .map(|(station, json)| {
                let mut saved: SavedQuality = serde_json::from_str(&json)?;
                saved.station = station;
                Ok(saved)
            })
            .collect()
    }

    /// The flagged values observed in `[from_ms, to_ms)`, of one station or all, by station,
    /// time and parameter; at most `limit`.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn flagged(
        &self,
        station: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<SavedFlag>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT station, param, at_ms, value, flags FROM qc_flagged
                 WHERE at_ms >= ?1 AND at_ms < ?2 AND (?3 IS NULL OR station = ?3)
                 ORDER BY station, at_ms, param LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![from_ms, to_ms, station, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok(SavedFlag {
                        station: r.get(0)?,
                        param: r.get(1)?,
                        at_ms: r.get(2)?,
                        value: r.get(3)?,
                        flags: r.get(4)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Param;
    use crate::quality::{QualityConfig, no_neighbours};

    #[test]
    fn states_and_flags_read_back_and_old_flags_are_forgotten() {
        let store = Store::in_memory().expect("opens");
        let mut qc = StationQc::new();
        for i in 0..30u64 {
            qc.check(
                &QualityConfig::default(),
                false,
                i * 60_000,
                [(Param::Pm2_5, 42.0)],
                no_neighbours,
            );
        }
        let state = SavedQuality {
            station: "HG-AIR-01".into(),
            qc,
            coverage: vec![(0, 30, 10)],
        };
        let flag = |at_ms| SavedFlag {
            station: "HG-AIR-01".into(),
            param: "pm2_5".into(),
            at_ms,
            value: 42.0,
            flags: 2,
        };
        store
            .save_quality(std::slice::from_ref(&state), &[flag(1_000), flag(5_000)], 0)
            .expect("saved");
        store
            .save_quality(&[state], &[flag(9_000)], 2_000)
            .expect("saved again");
        let states = store.quality_states().expect("read");
        assert_eq!(states.len(), 1);
        assert_eq!(states[0].station, "HG-AIR-01");
        assert_eq!(states[0].coverage, vec![(0, 30, 10)]);
        let flagged = store.flagged(Some("HG-AIR-01"), 0, i64::MAX, 100).expect("read");
        assert_eq!(flagged, vec![flag(5_000), flag(9_000)]);
        assert!(
            store
                .flagged(Some("HG-AIR-02"), 0, i64::MAX, 100)
                .expect("read")
                .is_empty()
        );
    }
}
