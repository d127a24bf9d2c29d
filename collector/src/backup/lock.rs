//! The lock a running collector holds on its spool directory, by which `restore` knows that
//! it runs.
//!
//! Design: [`service::state_lock`] on `<spool.dir>/collector.flock`, as the IOC API does on its
//! database. A running collector holds it shared from [`crate::Collector::new`] until its run
//! ends; `restore` holds it exclusively while it writes. `backup` takes no lock: it needs none
//! (see `take.rs`).

use std::path::Path;

use service::state_lock::{self, LockError};

use super::BackupError;

/// The lock file's name in the spool directory.
pub(crate) const LOCK_FILE: &str = "collector.flock";

/// A held lock on a spool directory; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateLock {
    _lock: state_lock::StateLock,
}

impl StateLock {
    /// The running collector's lock (shared: collectors sharing a directory, against the docs,
    /// are not this lock's business). Creates the directory if needed.
    ///
    /// # Errors
    ///
    /// [`BackupError::RestoreInProgress`] while a restore holds it; the I/O error.
    pub fn hold(dir: &Path) -> Result<StateLock, BackupError> {
        let lock = state_lock::StateLock::shared(&lock_path(dir)?).map_err(|e| match e {
            LockError::Busy { lock, .. } => BackupError::RestoreInProgress(lock),
            LockError::Io { what, path, source } => BackupError::io(what, &path)(source),
        })?;
        Ok(StateLock { _lock: lock })
    }

    /// The restore's lock: exclusive, taken only if no collector holds the directory.
    ///
    /// # Errors
    ///
    /// [`BackupError::CollectorRunning`] while a collector holds it; the I/O error.
    pub(crate) fn exclusive(dir: &Path) -> Result<StateLock, BackupError> {
        let lock = state_lock::StateLock::exclusive(&lock_path(dir)?).map_err(|e| match e {
            LockError::Busy { lock, holder } => BackupError::CollectorRunning {
                dir: dir.to_owned(),
                lock,
                holder: holder.map(|pid| format!(", pid {pid}")).unwrap_or_default(),
            },
            LockError::Io { what, path, source } => BackupError::io(what, &path)(source),
        })?;
        Ok(StateLock { _lock: lock })
    }
}

fn lock_path(dir: &Path) -> Result<std::path::PathBuf, BackupError> {
    std::fs::create_dir_all(dir).map_err(BackupError::io("create the directory", dir))?;
    Ok(dir.join(LOCK_FILE))
}
