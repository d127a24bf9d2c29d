//! Why a backup or a restore did not happen; every message says what to do next.

use std::io;
use std::path::PathBuf;

/// A backup or restore that did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// No database at the configured path.
    #[error("no database at {}: check `[storage] path` in the config, or pass --database", .0.display())]
    NoDatabase(PathBuf),
    /// No file where the backup should be.
    #[error("no backup at {}: check --from", .0.display())]
    NoBackup(PathBuf),
    /// The file is not an SQLite database at all.
    #[error("{} is not an SQLite database: pick a file written by `citysense-ioc-api backup`", .0.display())]
    NotADatabase(PathBuf),
    /// The backup would overwrite the live database.
    #[error("{} is the live database itself: write the backup to another file", .0.display())]
    SameFile(PathBuf),
    /// SQLite refused.
    #[error("{what}: {source}")]
    Sqlite {
        /// What was being done.
        what: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A file operation failed.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// `PRAGMA integrity_check` found problems.
    #[error("{} fails PRAGMA integrity_check ({problems}): {advice}", path.display())]
    Damaged {
        /// The file checked.
        path: PathBuf,
        /// The first problems SQLite reported.
        problems: String,
        /// What to do.
        advice: &'static str,
    },
    /// The file is an SQLite database, but not the API's.
    #[error("{} is not an IOC API database (it has no `{table}` table): pick a file written by `citysense-ioc-api backup`", path.display())]
    NotIocDatabase {
        /// The file.
        path: PathBuf,
        /// The first table missing.
        table: &'static str,
    },
    /// The file was written by a newer build.
    #[error("{} has schema version {found}, newer than this build reads ({supported}): restore it with the citysense-ioc-api version that wrote it, or a newer one", path.display())]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The newest this build reads.
        supported: i64,
    },
    /// A write-ahead log lies beside the file: a raw copy of a live database, whose last
    /// changes may be in that log.
    #[error("{} has a write-ahead log beside it ({}): it is a file copy of a live database and may lack its last changes; take a backup with `citysense-ioc-api backup` instead", path.display(), wal.display())]
    LiveCopy {
        /// The file.
        path: PathBuf,
        /// Its `-wal` file.
        wal: PathBuf,
    },
    /// The API runs on the database.
    #[error("the IOC API is running on {} (it holds {}{holder}): stop it first (`systemctl stop citysense-ioc`), restore, then start it", database.display(), lock.display())]
    ApiRunning {
        /// The database.
        database: PathBuf,
        /// The lock file it holds.
        lock: PathBuf,
        /// `", pid N"` when the file names it.
        holder: String,
    },
    /// A restore holds the database (seen by an API starting).
    #[error("a restore is replacing the database (it holds {}): start the API once `citysense-ioc-api restore` has finished", .0.display())]
    RestoreInProgress(PathBuf),
    /// A database exists where the restore would put the backup, and `--force` was not given.
    #[error("{} exists: restore onto a machine without a database, or pass --force to replace it (back it up first if it holds anything you need)", .0.display())]
    Exists(PathBuf),
    /// The copy made no progress.
    #[error("the backup of {} made no progress (the database stayed busy): run the backup again", .0.display())]
    Busy(PathBuf),
}

impl BackupError {
    pub(crate) fn sqlite(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> BackupError {
        let what = what.into();
        move |source| BackupError::Sqlite { what, source }
    }

    pub(crate) fn io(what: &'static str, path: &std::path::Path) -> impl FnOnce(io::Error) -> BackupError {
        let path = path.to_owned();
        move |source| BackupError::Io { what, path, source }
    }
}
