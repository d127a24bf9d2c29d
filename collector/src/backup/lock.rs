//! The lock a running collector holds on its spool directory, by which `restore` knows that
//! it runs.
//!
//! Design: an advisory `flock(2)` on `<spool.dir>/collector.flock`, as the IOC API does on its
//! database (`ioc-api/src/backup/lock.rs`). A running collector holds it shared from
//! [`crate::Collector::new`] until its run ends; `restore` takes it exclusively without waiting
//! and holds it while it writes, so no collector starts on a half-restored state. The kernel
//! drops it when the process ends, kill -9 included, so it is never stale. Rejected: a pid file
//! (a crash leaves it behind, and a reused pid looks alive). `backup` takes no lock: it needs
//! none (see `take.rs`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use super::BackupError;

/// The lock file's name in the spool directory.
pub(crate) const LOCK_FILE: &str = "collector.flock";

/// A held lock on a spool directory; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// The running collector's lock (shared: collectors sharing a directory, against the docs,
    /// are not this lock's business), with this process's id in the file for `restore`'s
    /// message. Creates the directory if needed.
    ///
    /// # Errors
    ///
    /// [`BackupError::RestoreInProgress`] while a restore holds it; the I/O error.
    pub fn hold(dir: &Path) -> Result<StateLock, BackupError> {
        let (mut file, path) = open(dir)?;
        match flock(&file, FlockOperation::NonBlockingLockShared) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => return Err(BackupError::RestoreInProgress(path)),
            Err(e) => return Err(BackupError::io("lock", &path)(e.into())),
        }
        // Only a hint for the operator: a failure to write it changes nothing about the lock.
        let _ = file
            .set_len(0)
            .and_then(|()| write!(file, "{}", std::process::id()));
        Ok(StateLock { _file: file })
    }

    /// The restore's lock: exclusive, taken only if no collector holds the directory.
    ///
    /// # Errors
    ///
    /// [`BackupError::CollectorRunning`] while a collector holds it; the I/O error.
    pub(crate) fn exclusive(dir: &Path) -> Result<StateLock, BackupError> {
        let (mut file, path) = open(dir)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(Errno::WOULDBLOCK) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let holder = match pid.trim().parse::<u32>() {
                    Ok(pid) => format!(", pid {pid}"),
                    Err(_) => String::new(),
                };
                Err(BackupError::CollectorRunning {
                    dir: dir.to_owned(),
                    lock: path,
                    holder,
                })
            }
            Err(e) => Err(BackupError::io("lock", &path)(e.into())),
        }
    }
}

fn open(dir: &Path) -> Result<(File, PathBuf), BackupError> {
    std::fs::create_dir_all(dir).map_err(BackupError::io("create the directory", dir))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(BackupError::io("open the lock file", &path))?;
    Ok((file, path))
}
