//! The advisory lock a running service holds on its state, by which an offline tool (a restore)
//! knows that it runs.
//!
//! Design: `flock(2)` on a file of its own beside the state. A running service holds it shared;
//! the tool takes it exclusively without waiting and holds it while it rewrites the state, so no
//! service starts on a half-written one. The kernel drops the lock when the process ends, kill -9
//! included, so it is never stale. Rejected: a pid file (a crash leaves it behind, and a reused
//! pid looks alive). The holder's pid is written into the file only as a hint for messages.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Someone holds it the other way: a service for an exclusive lock, a tool for a shared one.
    Busy {
        /// The lock file.
        lock: PathBuf,
        /// The pid its last shared holder wrote, if readable.
        holder: Option<u32>,
    },
    /// The lock file could not be opened or locked.
    Io {
        /// What was being done.
        what: &'static str,
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

/// A held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// A running service's lock on `path`: shared, with this process's id written for the tool's
    /// message.
    ///
    /// # Errors
    /// [`LockError::Busy`] while a tool holds it exclusively; [`LockError::Io`].
    pub fn shared(path: &Path) -> Result<StateLock, LockError> {
        let mut file = open(path)?;
        lock(&file, path, FlockOperation::NonBlockingLockShared)?;
        // Only a hint for the operator: a failure to write it changes nothing about the lock.
        let _ = file
            .set_len(0)
            .and_then(|()| write!(file, "{}", std::process::id()));
        Ok(StateLock { _file: file })
    }

    /// A tool's lock on `path`: exclusive, taken only if no service holds it.
    ///
    /// # Errors
    /// [`LockError::Busy`] (with the holder's pid when the file names it) while a service holds
    /// it; [`LockError::Io`].
    pub fn exclusive(path: &Path) -> Result<StateLock, LockError> {
        let mut file = open(path)?;
        match lock(&file, path, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(LockError::Busy { lock, .. }) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                Err(LockError::Busy {
                    lock,
                    holder: pid.trim().parse().ok(),
                })
            }
            Err(e) => Err(e),
        }
    }
}

fn lock(file: &File, path: &Path, operation: FlockOperation) -> Result<(), LockError> {
    match flock(file, operation) {
        Ok(()) => Ok(()),
        Err(Errno::WOULDBLOCK) => Err(LockError::Busy {
            lock: path.to_owned(),
            holder: None,
        }),
        Err(e) => Err(LockError::Io {
            what: "lock",
            path: path.to_owned(),
            source: e.into(),
        }),
    }
}

fn open(path: &Path) -> Result<File, LockError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| LockError::Io {
            what: "open the lock file",
            path: path.to_owned(),
            source,
        })
}
