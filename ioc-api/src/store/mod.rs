//! Operational state in an embedded SQLite file: thresholds, alerts and their transitions, the
//! audit log, webhook deliveries, API tokens, lab results and the downlink counter.
//!
//! One connection behind a mutex: writes are a handful of rows per alert change or operator
//! action, far below what one SQLite connection takes. WAL journal with `synchronous=NORMAL`:
//! a committed transaction survives a crash of the process (kill -9), which is what "a restart
//! loses no alert" needs; only a power cut can lose the last commits, which FULL would cover at
//! the cost of an fsync per alert change.
//!
//! # Layout
//!
//! - `schema`: tables and migrations.
//! - `thresholds`, `alerts`, `audit`, `tokens`, `deliveries`, `lab`: one table group each.

mod alerts;
mod audit;
mod calibrations;
mod deliveries;
mod hourly;
mod lab;
mod quality;
mod schema;
mod thresholds;
mod tokens;
mod window;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::Connection;

pub use alerts::AlertFilter;
pub use audit::AuditEntry;
pub use calibrations::{BasisChanges, CalibrationStatus, NewCalibration, StoredCalibration, basis_of_hour};
pub use deliveries::{Delivery, DeliveryStatus};
pub use hourly::SavedHour;
pub use lab::LabResult;
pub use quality::{SavedFlag, SavedQuality};
pub(crate) use schema::VERSION as SCHEMA_VERSION;
pub use tokens::TokenRecord;

/// A database failure. Never shown to API clients (they get a generic 500).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON column did not parse (a database from a newer version?).
    #[error("stored record does not parse: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// The database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    ///
    /// # Errors
    ///
    /// The file cannot be opened or migrated.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn)
    }

    /// A database in memory, for tests and embedding.
    ///
    /// # Errors
    ///
    /// SQLite cannot allocate it.
    pub fn in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        schema::migrate(&conn)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    /// Runs `f` on the connection. A poisoned lock is recovered: the connection holds no
    /// half-done state between calls (every change is one transaction).
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    /// Whether the database answers (for `/readyz`).
    pub fn ping(&self) -> bool {
        self.with(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .is_ok()
    }

    /// The next downlink counter: above every counter sent before and at least `now_ms`, so a
    /// node that saw a command from an earlier run still accepts the next one (FORMAT.md §9).
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn next_command_counter(&self, now_ms: u64) -> Result<u64, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            let last: Option<String> = tx
                .query_row("SELECT value FROM meta WHERE key = 'command_counter'", [], |r| {
                    r.get(0)
                })
                .ok();
            let last = last.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            let next = now_ms.max(last + 1);
            tx.execute(
                "INSERT INTO meta(key, value) VALUES ('command_counter', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [next.to_string()],
            )?;
            tx.commit()?;
            Ok(next)
        })
    }
}
