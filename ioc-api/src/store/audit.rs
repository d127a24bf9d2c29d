//! The audit log: every write through the API, with the token's name.

use rusqlite::params;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreError};

/// One audited action.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Increasing id.
    pub id: i64,
    /// When (RFC 3339).
    pub at: String,
    /// The token's name (or `cli` for the command line).
    pub actor: String,
    /// The token's role.
    pub role: String,
    /// What was done, e.g. `threshold.update`, `alert.acknowledge`.
    pub action: String,
    /// What it was done to, e.g. `threshold/12`.
    pub target: String,
    /// Details as JSON text (the new rule, the comment, …).
    pub detail: String,
}

impl Store {
    /// Appends to the audit log.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn audit(
        &self,
        at: &str,
        actor: &str,
        role: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO audit(at, actor, role, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![at, actor, role, action, target, detail],
            )?;
            Ok(())
        })
    }

    /// The newest `limit` entries, newest first.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, at, actor, role, action, target, detail FROM audit ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    role: r.get(3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    detail: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
