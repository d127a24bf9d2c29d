//! The lock a running API holds on its database, by which `restore` knows that it runs.
//!
//! Design: an advisory `flock(2)` on `<database>.flock`. Every running API holds it shared, from
//! [`crate::IocApi::bind`] to the end of its run; `restore` takes it exclusively without
//! waiting, and holds it while it swaps the file, so no API starts on a half-restored database.
//! The kernel drops the lock when the process ends, kill -9 included, so it is never stale.
//! Rejected: a pid file (a crash leaves it behind, and a pid reused by another process looks
//! alive); probing SQLite's own locks (in WAL mode an idle API holds none between transactions,
//! so the probe passes while it runs); `locking_mode = EXCLUSIVE` in the API (it would shut out
//! `backup` and the `token` command as well). A file of its own, not the database: SQLite takes
//! POSIX locks on the database, and some systems (NFS) implement `flock` with those.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use super::BackupError;

/// A held lock on a database; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DatabaseLock {
    _file: File,
}

impl DatabaseLock {
    /// The lock file of `database`: `<database>.flock`.
    pub fn path(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push(".flock");
        PathBuf::from(name)
    }

    /// The running API's lock: shared (two APIs on one database do not lock each other out),
    /// with this process's id written in the file for `restore`'s message.
    ///
    /// # Errors
    ///
    /// [`BackupError::RestoreInProgress`] while a restore holds it; the I/O error.
    pub fn hold(database: &Path) -> Result<DatabaseLock, BackupError> {
        let path = Self::path(database);
        let mut file = open(&path)?;
        match flock(&file, FlockOperation::NonBlockingLockShared) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => return Err(BackupError::RestoreInProgress(path)),
            Err(e) => return Err(BackupError::io("lock", &path)(e.into())),
        }
        // Only a hint for the operator: a failure to write it changes nothing about the lock.
        let _ = file
            .set_len(0)
            .and_then(|()| write!(file, "{}", std::process::id()));
        Ok(DatabaseLock { _file: file })
    }

    /// The restore's lock: exclusive, taken only if no API holds the database.
    ///
    /// # Errors
    ///
    /// [`BackupError::ApiRunning`] while an API holds it; the I/O error.
    pub(crate) fn exclusive(database: &Path) -> Result<DatabaseLock, BackupError> {
        let path = Self::path(database);
        let mut file = open(&path)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(DatabaseLock { _file: file }),
            Err(Errno::WOULDBLOCK) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let holder = match pid.trim().parse::<u32>() {
                    Ok(pid) => format!(", pid {pid}"),
                    Err(_) => String::new(),
                };
                Err(BackupError::ApiRunning {
                    database: database.to_owned(),
                    lock: path,
                    holder,
                })
            }
            Err(e) => Err(BackupError::io("lock", &path)(e.into())),
        }
    }
}

fn open(path: &Path) -> Result<File, BackupError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(BackupError::io("open the lock file", path))
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
