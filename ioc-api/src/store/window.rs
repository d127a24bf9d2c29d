//! The API's replay window, saved so that after a restart it still refuses what the collector's
//! saved window refuses (a re-flashed node's reused keys) and the two keep counting the same
//! readings: one `meta` row, hex-encoded.

use super::{Store, StoreError};

impl Store {
    /// The saved window's bytes, if one was saved.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn replay_window(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|c| {
            let text: Option<String> = c
                .query_row("SELECT value FROM meta WHERE key = 'replay_window'", [], |r| {
                    r.get(0)
                })
                .ok();
            Ok(text.and_then(|t| hex::decode(t).ok()))
        })
    }

    /// Saves the window's bytes in place of the last.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn save_replay_window(&self, encoded: &[u8]) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta(key, value) VALUES ('replay_window', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [hex::encode(encoded)],
            )?;
            Ok(())
        })
    }
}
