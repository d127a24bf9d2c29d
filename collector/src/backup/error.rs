//! Why a backup or a restore did not happen; every message says what to do next.

use std::io;
use std::path::{Path, PathBuf};

/// A backup or restore that did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The backup directory holds something already.
    #[error("{} is not empty: back up into a new directory (or an empty one)", .0.display())]
    TargetNotEmpty(PathBuf),
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
    /// No manifest: not a backup, or one that did not finish.
    #[error("{} has no readable {}: it is not a finished collector backup (one interrupted before its manifest was written?); use another, or take a new one", dir.display(), super::MANIFEST)]
    NoManifest {
        /// The backup directory.
        dir: PathBuf,
        /// Why it could not be read.
        #[source]
        source: io::Error,
    },
    /// The manifest is not one this build reads.
    #[error("{}: {problem}; take the backup again with this version of citysense-collector", path.display())]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A file differs from what the manifest says.
    #[error("{} in the backup {problem}: the backup is damaged or was changed; restore another copy", path.display())]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// How it differs.
        problem: String,
    },
    /// The collector runs on the state directory.
    #[error("the collector is running on {} (it holds {}{holder}): stop it first (`systemctl stop citysense-collector`), restore, then start it", dir.display(), lock.display())]
    CollectorRunning {
        /// The spool directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// `", pid N"` when the file names it.
        holder: String,
    },
    /// A restore holds the state directory (seen by a collector starting).
    #[error("a restore is writing the collector's state (it holds {}): start the collector once `citysense-collector restore` has finished", .0.display())]
    RestoreInProgress(PathBuf),
    /// State is there and `--force` was not given.
    #[error(
        "the collector's state is not empty ({}): restore onto a fresh state directory, or pass --force to delete it first (back it up before if it holds anything you need)",
        list(files)
    )]
    StateNotEmpty {
        /// The state files found.
        files: Vec<PathBuf>,
    },
    /// A file in the spool directory that is not the collector's.
    #[error("{} is not a file of the collector's: move it away, or give the collector a spool directory of its own", .0.display())]
    ForeignFile(PathBuf),
}

impl BackupError {
    pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackupError {
        let path = path.to_owned();
        move |source| BackupError::Io { what, path, source }
    }
}

fn list(files: &[PathBuf]) -> String {
    let mut text: Vec<String> = files.iter().take(5).map(|f| f.display().to_string()).collect();
    if files.len() > 5 {
        text.push(format!("and {} more", files.len() - 5));
    }
    text.join(", ")
}
