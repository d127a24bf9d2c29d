//! `restore`: a backup put in place of the database, with the API stopped.
//!
//! The backup is checked before anything is touched: `PRAGMA integrity_check`, a schema
//! version this build reads (older ones are brought up to date by the migrations at the next
//! start, as any older database is), and the API's tables. Then, holding the lock a running API
//! holds (so it is refused while one runs, and none starts meanwhile), the file is copied beside
//! the database, checked again, fsynced, the old database's WAL and shared-memory files are
//! removed (SQLite would otherwise replay that log onto the restored file), and it is renamed
//! over the database: the database is the old one or the restored one, never a mix.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::online::{sync_file, sync_parent};
use super::{BackupError, DatabaseLock};
use crate::store::SCHEMA_VERSION;

/// Tables every version of the API's database has.
const TABLES: [&str; 6] = ["meta", "thresholds", "alerts", "transitions", "audit", "tokens"];

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// The database written.
    pub database: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The backup's schema version; below this build's, the next start migrates it.
    pub schema_version: i64,
    /// Whether a database was replaced (`--force`).
    pub replaced: bool,
}

/// Puts the backup `from` in place of `database`.
///
/// # Errors
///
/// A backup that fails its checks; an API running on `database`; a database already there
/// without `force`; an I/O error.
pub fn restore(from: &Path, database: &Path, force: bool) -> Result<RestoreReport, BackupError> {
    let wal = suffixed(from, "-wal");
    if wal.exists() {
        return Err(BackupError::LiveCopy {
            path: from.to_owned(),
            wal,
        });
    }
    let schema_version = check(from)?;
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(BackupError::io("create the directory", dir))?;
    }
    let _lock = DatabaseLock::exclusive(database)?;
    let replaced = database.exists();
    if replaced && !force {
        return Err(BackupError::Exists(database.to_owned()));
    }
    let partial = suffixed(database, ".restoring");
    let placed = std::fs::copy(from, &partial)
        .map_err(BackupError::io("copy the backup to", &partial))
        .and_then(|_| check(&partial))
        .and_then(|_| sync_file(&partial))
        .and_then(|()| {
            for stale in [suffixed(database, "-wal"), suffixed(database, "-shm")] {
                match std::fs::remove_file(&stale) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(BackupError::io("remove", &stale)(e)),
                }
            }
            std::fs::rename(&partial, database).map_err(BackupError::io("rename the backup to", database))?;
            sync_parent(database)
        });
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    let bytes = std::fs::metadata(database)
        .map_err(BackupError::io("read the size of", database))?
        .len();
    Ok(RestoreReport {
        database: database.to_owned(),
        bytes,
        schema_version,
        replaced,
    })
}

/// Checks that `path` is a whole database of the API that this build reads; returns its schema
/// version. Opens it read-only: the check changes nothing.
///
/// # Errors
///
/// A file SQLite cannot open, one that fails `PRAGMA integrity_check`, lacks a table of the
/// API's, or has a newer schema.
pub(crate) fn check(path: &Path) -> Result<i64, BackupError> {
    if !path.is_file() {
        return Err(BackupError::NoBackup(path.to_owned()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(BackupError::sqlite(format!("cannot open {}", path.display())))?;
    integrity(&conn, path, "the file is damaged; restore another backup")?;
    let version: i64 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(BackupError::sqlite(format!(
                "cannot read the schema version of {}",
                path.display()
            )))?;
    if version > SCHEMA_VERSION {
        return Err(BackupError::NewerSchema {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for table in TABLES {
        let present: bool = conn
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
                [table],
                |r| r.get(0),
            )
            .map_err(BackupError::sqlite(format!(
                "cannot list the tables of {}",
                path.display()
            )))?;
        if !present {
            return Err(BackupError::NotIocDatabase {
                path: path.to_owned(),
                table,
            });
        }
    }
    Ok(version)
}

/// `PRAGMA integrity_check` on `conn` (the database at `path`).
pub(super) fn integrity(conn: &Connection, path: &Path, advice: &'static str) -> Result<(), BackupError> {
    let failed = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => BackupError::NotADatabase(path.to_owned()),
        _ => BackupError::sqlite(format!("cannot check {}", path.display()))(e),
    };
    let mut stmt = conn.prepare("PRAGMA integrity_check(10)").map_err(failed)?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(failed)?;
    if problems == ["ok"] {
        return Ok(());
    }
    Err(BackupError::Damaged {
        path: path.to_owned(),
        problems: problems.join("; "),
        advice,
    })
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
