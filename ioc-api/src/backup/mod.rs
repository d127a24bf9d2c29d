//! Backup and restore of the database while the API runs (`citysense-ioc-api backup` and
//! `restore`, `docs/operations.md`).
//!
//! # Layout
//!
//! - `online`: the backup: SQLite's online backup API in steps, to a temporary file, checked,
//!   fsynced and renamed into place.
//! - `restore`: the restore: refused while the API runs, the file checked (integrity, schema
//!   version, tables), put in place by rename.
//! - `lock`: the lock file the running API holds, by which `restore` knows it runs.
//! - `error`: what can go wrong, each with what to do next.

mod error;
mod lock;
mod online;
mod restore;

pub use error::BackupError;
pub use lock::DatabaseLock;
pub use online::{BackupReport, backup};
pub use restore::{RestoreReport, restore};

#[cfg(test)]
mod tests;
