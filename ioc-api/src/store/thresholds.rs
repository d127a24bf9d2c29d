//! Threshold rules.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::alerts::{Threshold, ThresholdSpec};

fn row(id: i64, spec: &str, updated_at: String, updated_by: String) -> Result<Threshold, StoreError> {
    Ok(Threshold {
        id,
        spec: serde_json::from_str(spec)?,
        updated_at,
        updated_by,
    })
}

impl Store {
    /// Every rule, by id.
    ///
    /// # Errors
    ///
    /// The database refused, or a stored rule does not parse.
    pub fn thresholds(&self) -> Result<Vec<Threshold>, StoreError> {
        self.with(|c| {
            let mut stmt =
                c.prepare("SELECT id, spec, updated_at, updated_by FROM thresholds ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?))
            })?;
            rows.map(|r| {
                let (id, spec, at, by) = r?;
                row(id, &spec, at, by)
            })
            .collect()
        })
    }

    /// Stores the defaults when the table is empty (first start). Returns how many were added.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn seed_thresholds(&self, defaults: &[ThresholdSpec], now: &str) -> Result<usize, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let count: i64 = tx.query_row("SELECT count(*) FROM thresholds", [], |r| r.get(0))?;
            if count > 0 {
                return Ok(0);
            }
            for spec in defaults {
                tx.execute(
                    "INSERT INTO thresholds(spec, updated_at, updated_by) VALUES (?1, ?2, 'defaults')",
                    params![serde_json::to_string(spec)?, now],
                )?;
            }
            tx.commit()?;
            Ok(defaults.len())
        })
    }

    /// Rewrites the `source` of the rules no one has edited since they were seeded (still
    /// `updated_by = 'defaults'`) from an older default text to its current one; `renamed` pairs
    /// (old, new). Rules a person changed keep what they wrote. Returns how many were rewritten.
    ///
    /// # Errors
    ///
    /// The database refused, or a stored rule does not parse.
    pub fn rename_default_sources(&self, renamed: &[(&str, &str)]) -> Result<usize, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let seeded: Vec<(i64, String)> = {
                let mut stmt = tx.prepare("SELECT id, spec FROM thresholds WHERE updated_by = 'defaults'")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut count = 0;
            for (id, text) in seeded {
                let mut spec: ThresholdSpec = serde_json::from_str(&text)?;
                let Some((_, new)) = renamed.iter().find(|(old, _)| *old == spec.source) else {
                    continue;
                };
                spec.source = (*new).to_owned();
                tx.execute(
                    "UPDATE thresholds SET spec = ?1 WHERE id = ?2",
                    params![serde_json::to_string(&spec)?, id],
                )?;
                count += 1;
            }
            tx.commit()?;
            Ok(count)
        })
    }

    /// Adds a rule.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn insert_threshold(
        &self,
        spec: &ThresholdSpec,
        now: &str,
        by: &str,
    ) -> Result<Threshold, StoreError> {
        let text = serde_json::to_string(spec)?;
        self.with(|c| {
            c.execute(
                "INSERT INTO thresholds(spec, updated_at, updated_by) VALUES (?1, ?2, ?3)",
                params![text, now, by],
            )?;
            row(c.last_insert_rowid(), &text, now.into(), by.into())
        })
    }

    /// Replaces a rule; `None` when there is no such rule.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn update_threshold(
        &self,
        id: i64,
        spec: &ThresholdSpec,
        now: &str,
        by: &str,
    ) -> Result<Option<Threshold>, StoreError> {
        let text = serde_json::to_string(spec)?;
        self.with(|c| {
            let changed = c.execute(
                "UPDATE thresholds SET spec = ?1, updated_at = ?2, updated_by = ?3 WHERE id = ?4",
                params![text, now, by, id],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            row(id, &text, now.into(), by.into()).map(Some)
        })
    }

    /// Deletes a rule; false when there was none.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn delete_threshold(&self, id: i64) -> Result<bool, StoreError> {
        self.with(|c| Ok(c.execute("DELETE FROM thresholds WHERE id = ?1", [id])? > 0))
    }

    /// One rule.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn threshold(&self, id: i64) -> Result<Option<Threshold>, StoreError> {
        self.with(|c| {
            let found = c
                .query_row(
                    "SELECT spec, updated_at, updated_by FROM thresholds WHERE id = ?1",
                    [id],
                    |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            found.map(|(spec, at, by)| row(id, &spec, at, by)).transpose()
        })
    }
}
