//! `backup`: a consistent copy of the live database, taken while the API writes to it.
//!
//! SQLite's online backup API copies the database page by page from a connection of its own:
//! [`PAGES_PER_STEP`] pages per step, each step a short read transaction (under WAL the API's
//! writes go on meanwhile), with a pause between steps so the API's own transactions and WAL
//! checkpoints get their turn. When the API writes between two steps, SQLite starts the copy
//! again, so what is written is always one consistent state. Into a temporary file beside the
//! target; checked with `PRAGMA integrity_check`; fsynced; renamed over the target, so the
//! target is a whole backup or the previous one, never half of one.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::BackupError;

/// Pages copied per step (1 MiB at SQLite's default page size).
const PAGES_PER_STEP: i32 = 256;

/// Pause between two steps.
const PAUSE: Duration = Duration::from_millis(5);

/// Steps without progress (the API wrote, so SQLite started over, or the source was busy)
/// before the rest is copied in one step.
const STALLS_BEFORE_ONE_STEP: u32 = 8;

/// Steps without progress after which the backup gives up.
const STALLS_BEFORE_GIVING_UP: u32 = 64;

/// What [`backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The backup file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its schema version (`PRAGMA user_version`).
    pub schema_version: i64,
    /// How often SQLite started the copy again because the API wrote meanwhile.
    pub restarts: u32,
}

/// Copies the database at `database` to `to` while the API may be running and writing.
///
/// # Errors
///
/// No database at `database`, `to` naming it, an I/O or SQLite error, a copy that fails its
/// integrity check, or one that made no progress.
pub fn backup(database: &Path, to: &Path) -> Result<BackupReport, BackupError> {
    if !database.is_file() {
        return Err(BackupError::NoDatabase(database.to_owned()));
    }
    if to.exists() && same_file(database, to)? {
        return Err(BackupError::SameFile(to.to_owned()));
    }
    // Read-write without CREATE: a read-only connection to a WAL database needs its shared
    // memory file to exist, which it does not when the API is stopped. This connection writes
    // nothing; it never runs the migrations either.
    let source = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(BackupError::sqlite(format!("cannot open {}", database.display())))?;
    source
        .busy_timeout(Duration::from_secs(5))
        .map_err(BackupError::sqlite("cannot set the busy timeout"))?;
    let partial = partial_path(to);
    let _ = std::fs::remove_file(&partial);
    let written = write_checked(&source, database, &partial).and_then(|restarts| {
        sync_file(&partial)?;
        std::fs::rename(&partial, to).map_err(BackupError::io("rename the backup into", to))?;
        sync_parent(to)?;
        Ok(restarts)
    });
    let restarts = match written {
        Ok(restarts) => restarts,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let bytes = std::fs::metadata(to)
        .map_err(BackupError::io("read the size of", to))?
        .len();
    let schema_version = super::restore::check(to)?;
    Ok(BackupReport {
        path: to.to_owned(),
        bytes,
        schema_version,
        restarts,
    })
}

/// Copies `source` into a new database at `partial` in steps, makes it a single file (rollback
/// journal, no WAL beside it) and checks its integrity; returns the restarts.
fn write_checked(source: &Connection, database: &Path, partial: &Path) -> Result<u32, BackupError> {
    let mut target = Connection::open(partial).map_err(BackupError::sqlite(format!(
        "cannot create {}",
        partial.display()
    )))?;
    let restarts = copy_in_steps(source, &mut target, database)?;
    // The copy carries the source's WAL flag in its header; a backup is one file to move.
    target
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get::<_, String>(0))
        .map_err(BackupError::sqlite("cannot make the backup a single file"))?;
    super::restore::integrity(
        &target,
        partial,
        "the backup was damaged while written (check the disk); run it again",
    )?;
    target
        .close()
        .map_err(|(_, e)| BackupError::sqlite("cannot close the backup")(e))?;
    Ok(restarts)
}

fn copy_in_steps(source: &Connection, target: &mut Connection, database: &Path) -> Result<u32, BackupError> {
    let backup = Backup::new(source, target).map_err(BackupError::sqlite("cannot start the backup"))?;
    let (mut copied_before, mut stalls, mut restarts) = (0, 0, 0);
    loop {
        // With an API writing faster than the steps go, a copy in steps could start over for
        // ever; the rest then goes in one step, one read transaction, which under WAL still
        // blocks no writer.
        let pages = if stalls >= STALLS_BEFORE_ONE_STEP {
            -1
        } else {
            PAGES_PER_STEP
        };
        let step = backup
            .step(pages)
            .map_err(BackupError::sqlite(format!("cannot copy {}", database.display())))?;
        if step == StepResult::Done {
            return Ok(restarts);
        }
        let progress = backup.progress();
        let copied = progress.pagecount - progress.remaining;
        if copied <= copied_before {
            stalls += 1;
            if step == StepResult::More {
                restarts += 1;
            }
            if stalls >= STALLS_BEFORE_GIVING_UP {
                return Err(BackupError::Busy(database.to_owned()));
            }
        }
        copied_before = copied;
        thread::sleep(PAUSE);
    }
}

/// `.<name>.partial` beside `to`.
fn partial_path(to: &Path) -> PathBuf {
    let name = to
        .file_name()
        .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
    to.with_file_name(format!(".{name}.partial"))
}

fn same_file(a: &Path, b: &Path) -> Result<bool, BackupError> {
    let a = a.canonicalize().map_err(BackupError::io("resolve", a))?;
    let b = b.canonicalize().map_err(BackupError::io("resolve", b))?;
    Ok(a == b)
}

pub(super) fn sync_file(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(BackupError::io("fsync", path))
}

/// Makes a rename in the file's directory durable.
pub(super) fn sync_parent(path: &Path) -> Result<(), BackupError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(BackupError::io("fsync the directory", dir))
}
