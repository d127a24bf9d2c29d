//! Backup and restore of the collector's state while it runs (`citysense-collector backup` and
//! `restore`, `docs/operations.md`): the spool's segments and cursor, the replay window's
//! snapshot and log, and the dead-letter store, with a manifest of sizes and SHA-256 sums.
//!
//! # Layout
//!
//! - `take`: the backup, and why a copy taken while the collector appends is consistent.
//! - `restore`: the restore onto an empty state (or, with `--force`, in place of one), every
//!   file checked against the manifest.
//! - `manifest`: the manifest and the files a backup may hold.
//! - `lock`: the lock file a running collector holds, by which `restore` knows it runs.
//! - `error`: what can go wrong, each with what to do next.

mod error;
mod lock;
mod manifest;
mod restore;
mod take;

pub use error::BackupError;
pub use lock::StateLock;
pub use manifest::{FileEntry, MANIFEST, Manifest};
pub use restore::{RestoreReport, restore};
pub use take::backup;

#[cfg(test)]
mod tests;
