//! API tokens: the in-memory set follows the database.

use time::OffsetDateTime;

use super::{AppState, write};
use crate::auth::TokenSet;
use crate::store::StoreError;

impl AppState {
    /// Reloads the token set from the database (after a change through the API, or one made by
    /// the `token` command while the API runs).
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn reload_tokens(&self) -> Result<(), StoreError> {
        let set = TokenSet::from_records(&self.store.tokens()?);
        *write(&self.tokens) = set;
        Ok(())
    }

    /// Creates a token now and makes it usable at once; `None` when the name is taken. The
    /// token is returned once; only its hash is stored.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn create_token(
        &self,
        name: &str,
        role: crate::auth::Role,
        by: &str,
    ) -> Result<Option<String>, StoreError> {
        let token = crate::http::create_token(&self.store, name, role, by, OffsetDateTime::now_utc())?;
        self.reload_tokens()?;
        Ok(token)
    }

    /// Revokes a token by name now; false when there is none of that name (or it was revoked).
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let revoked = self
            .store
            .revoke_token(name, &crate::time_fmt::rfc3339(OffsetDateTime::now_utc()))?;
        self.reload_tokens()?;
        Ok(revoked)
    }
}
