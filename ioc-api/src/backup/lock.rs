//! The lock a running API holds on its database, by which `restore` knows that it runs.
//!
//! Design: [`service::state_lock`] on `<database>.flock`. Every running API holds it shared, from
//! [`crate::IocApi::bind`] to the end of its run; `restore` holds it exclusively while it swaps
//! the file. Rejected besides a pid file: probing SQLite's own locks (in WAL mode an idle API
//! holds none between transactions, so the probe passes while it runs); `locking_mode =
//! EXCLUSIVE` in the API (it would shut out `backup` and the `token` command as well). A file of its own, not the database: SQLite takes
//! POSIX locks on the database, and some systems (NFS) implement `flock` with those.

use std::path::{Path, PathBuf};

use service::state_lock::{self, LockError};

use super::BackupError;

/// A held lock on a database; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DatabaseLock {
    _lock: state_lock::StateLock,
}

impl DatabaseLock {
    /// The lock file of `database`: `<database>.flock`.
    pub fn path(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push(".flock");
        PathBuf::from(name)
    }

    /// The running API's lock: shared (two APIs on one database do not lock each other out).
    ///
    /// # Errors
    ///
    /// [`BackupError::RestoreInProgress`] while a restore holds it; the I/O error.
    pub fn hold(database: &Path) -> Result<DatabaseLock, BackupError> {
        let lock = state_lock::StateLock::shared(&Self::path(database)).map_err(|e| match e {
            LockError::Busy { lock, .. } => BackupError::RestoreInProgress(lock),
            LockError::Io { what, path, source } => BackupError::io(what, &path)(source),
        })?;
        Ok(DatabaseLock { _lock: lock })
    }

    /// The restore's lock: exclusive, taken only if no API holds the database.
    ///
    /// # Errors
    ///
    /// [`BackupError::ApiRunning`] while an API holds it; the I/O error.
    pub(crate) fn exclusive(database: &Path) -> Result<DatabaseLock, BackupError> {
        let lock = state_lock::StateLock::exclusive(&Self::path(database)).map_err(|e| match e {
            LockError::Busy { lock, holder } => BackupError::ApiRunning {
                database: database.to_owned(),
                lock,
                holder: holder.map(|pid| format!(", pid {pid}")).unwrap_or_default(),
            },
            LockError::Io { what, path, source } => BackupError::io(what, &path)(source),
        })?;
        Ok(DatabaseLock { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A running API (shared holder) makes a restore's lock fail naming its pid, and a restore
    /// in progress keeps an API from starting; once released, each gets it.
    #[test]
    fn the_api_and_a_restore_exclude_each_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("ioc.sqlite");
        let api = DatabaseLock::hold(&db).expect("first API");
        let second = DatabaseLock::hold(&db).expect("a second API on the same database");
        let refused = DatabaseLock::exclusive(&db).expect_err("the API runs");
        let text = refused.to_string();
        assert!(
            matches!(refused, BackupError::ApiRunning { .. })
                && text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop((api, second));
        let restore = DatabaseLock::exclusive(&db).expect("no API any more");
        assert!(matches!(
            DatabaseLock::hold(&db),
            Err(BackupError::RestoreInProgress(_))
        ));
        drop(restore);
        DatabaseLock::hold(&db).expect("the restore finished");
    }
}
