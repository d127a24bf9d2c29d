//! API tokens: only their SHA-256 is stored.

use rusqlite::params;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreError};

/// A token as stored (never the token itself).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TokenRecord {
    /// Unique name, shown in the audit log.
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// SHA-256 of the token, hex. Not serialised.
    #[serde(skip)]
    pub hash: String,
    /// When it was created.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

impl Store {
    /// Stores a new token; false when the name is taken.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn insert_token(&self, record: &TokenRecord) -> Result<bool, StoreError> {
        self.with(|c| {
            let inserted = c.execute(
                "INSERT INTO tokens(name, role, hash, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(name) DO NOTHING",
                params![
                    record.name,
                    record.role,
                    record.hash,
                    record.created_at,
                    record.created_by
                ],
            )?;
            Ok(inserted > 0)
        })
    }

    /// Revokes a token by name; false when there is no live token of that name.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn revoke_token(&self, name: &str, at: &str) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE tokens SET revoked_at = ?1 WHERE name = ?2 AND revoked_at IS NULL",
                params![at, name],
            )? > 0)
        })
    }

    /// Every token, revoked ones included.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT name, role, hash, created_at, created_by, revoked_at FROM tokens ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(TokenRecord {
                    name: r.get(0)?,
                    role: r.get(1)?,
                    hash: r.get(2)?,
                    created_at: r.get(3)?,
                    created_by: r.get(4)?,
                    revoked_at: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
