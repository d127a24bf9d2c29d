//! `restore`: a backup written into the collector's state, with the collector stopped.
//!
//! Every file is checked against the manifest (size and SHA-256) before anything is written,
//! and again while it is copied. The restore holds the lock a running collector holds, so it
//! is refused while one runs and none starts meanwhile. Each file goes to a temporary name, is
//! fsynced and renamed into place. A restore that fails part-way leaves some files: run it
//! again with `--force`.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::lock::LOCK_FILE;
use super::manifest::{FORMAT, MANIFEST, Manifest, Role, VERSION, digest, digest_file};
use super::take::sync;
use super::{BackupError, StateLock};
use crate::Config;
use crate::pipeline::window_file::{LOG_FILE, SNAPSHOT_FILE};
use crate::spool::{CURSOR_FILE, segment_id};

/// Suffix of a file being restored.
const PARTIAL: &str = ".restoring";

/// What [`restore`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// When the backup was taken.
    pub created_at: String,
    /// Spool segments restored.
    pub segments: usize,
    /// Their bytes.
    pub spool_bytes: u64,
    /// Replay-window files restored (snapshot, log).
    pub window_files: usize,
    /// Dead-letter files restored (the store, its older generation).
    pub dead_letter_files: usize,
    /// State files deleted first (`--force`).
    pub removed: Vec<PathBuf>,
}

/// Writes the backup in `from` into the state of the collector `config` configures.
///
/// # Errors
///
/// A backup that does not match its manifest; a collector running on the state; state already
/// there without `force`; a file in the spool directory that is not the collector's; an I/O
/// error.
pub fn restore(config: &Config, from: &Path, force: bool) -> Result<RestoreReport, BackupError> {
    let (manifest, roles) = verified(from)?;
    let _lock = StateLock::exclusive(&config.spool.dir)?;
    let present = state_files(config)?;
    if !present.is_empty() && !force {
        return Err(BackupError::StateNotEmpty { files: present });
    }
    for path in &present {
        fs::remove_file(path).map_err(BackupError::io("delete", path))?;
    }
    if let Some(dir) = config
        .dead_letter
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        fs::create_dir_all(dir).map_err(BackupError::io("create", dir))?;
    }
    let mut report = RestoreReport {
        created_at: manifest.created_at.clone(),
        segments: 0,
        spool_bytes: 0,
        window_files: 0,
        dead_letter_files: 0,
        removed: present,
    };
    for (role, entry) in roles.iter().zip(&manifest.files) {
        put(
            &from.join(&entry.name),
            &role.live_path(config),
            entry.bytes,
            &entry.sha256,
        )?;
        match role {
            Role::Segment(_) => {
                report.segments += 1;
                report.spool_bytes += entry.bytes;
            }
            Role::WindowSnapshot | Role::WindowLog => report.window_files += 1,
            Role::DeadLetters | Role::OlderDeadLetters => report.dead_letter_files += 1,
            Role::Cursor => {}
        }
    }
    let mut dirs = vec![config.spool.dir.clone()];
    dirs.extend(config.dead_letter.path.parent().map(Path::to_owned));
    for dir in dirs.iter().filter(|d| !d.as_os_str().is_empty()) {
        sync(dir)?;
    }
    Ok(report)
}

/// Reads the manifest and checks every file it names; returns it and each file's role.
fn verified(from: &Path) -> Result<(Manifest, Vec<Role>), BackupError> {
    let path = from.join(MANIFEST);
    let text = fs::read(&path).map_err(|source| BackupError::NoManifest {
        dir: from.to_owned(),
        source,
    })?;
    let bad = |problem: String| BackupError::BadManifest {
        path: path.clone(),
        problem,
    };
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| bad(format!("it does not parse ({e})")))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(bad(format!(
            "it is format {:?} version {}, this build reads {FORMAT:?} version {VERSION}",
            manifest.format, manifest.version
        )));
    }
    let mut seen = BTreeSet::new();
    let mut roles = Vec::with_capacity(manifest.files.len());
    for entry in &manifest.files {
        let role = Role::parse(&entry.name).ok_or_else(|| {
            bad(format!(
                "it names {:?}, which is no file of a collector backup",
                entry.name
            ))
        })?;
        if !seen.insert(role) {
            return Err(bad(format!("it names {:?} twice", entry.name)));
        }
        let file = from.join(&entry.name);
        let (bytes, sha256) = match digest_file(&file) {
            Ok(found) => found,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BackupError::Mismatch {
                    path: file,
                    problem: "is missing".into(),
                });
            }
            Err(e) => return Err(BackupError::io("read", &file)(e)),
        };
        check(&file, (bytes, &sha256), entry.bytes, &entry.sha256)?;
        roles.push(role);
    }
    Ok((manifest, roles))
}

fn check(
    path: &Path,
    (bytes, sha256): (u64, &str),
    want_bytes: u64,
    want_sha256: &str,
) -> Result<(), BackupError> {
    if bytes != want_bytes {
        return Err(BackupError::Mismatch {
            path: path.to_owned(),
            problem: format!("has {bytes} bytes, the manifest says {want_bytes}"),
        });
    }
    if sha256 != want_sha256 {
        return Err(BackupError::Mismatch {
            path: path.to_owned(),
            problem: format!("has SHA-256 {sha256}, the manifest says {want_sha256}"),
        });
    }
    Ok(())
}

/// The collector's files with something in them (empty ones, as a first start leaves, are
/// deleted now); a file in the spool directory that is not the collector's is an error.
fn state_files(config: &Config) -> Result<Vec<PathBuf>, BackupError> {
    let spool = &config.spool.dir;
    let dead_letters = [Role::DeadLetters, Role::OlderDeadLetters].map(|r| r.live_path(config));
    let mut found = Vec::new();
    for entry in fs::read_dir(spool).map_err(BackupError::io("list", spool))? {
        let entry = entry.map_err(BackupError::io("list", spool))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == LOCK_FILE {
            continue;
        }
        let temporary = [format!("{CURSOR_FILE}.tmp"), format!("{SNAPSHOT_FILE}.tmp")];
        let ours = segment_id(&name).is_some()
            || [CURSOR_FILE, SNAPSHOT_FILE, LOG_FILE].contains(&name.as_str())
            || temporary.contains(&name)
            || name.ends_with(PARTIAL)
            || dead_letters.contains(&path);
        let is_file = entry
            .file_type()
            .map_err(BackupError::io("inspect", &path))?
            .is_file();
        if !ours || !is_file {
            return Err(BackupError::ForeignFile(path));
        }
        if !dead_letters.contains(&path) {
            found.push(path);
        }
    }
    for path in dead_letters {
        if path.exists() {
            found.push(path);
        }
    }
    let mut with_data = Vec::new();
    for path in found {
        let len = fs::metadata(&path)
            .map_err(BackupError::io("inspect", &path))?
            .len();
        if len > 0 {
            with_data.push(path);
        } else {
            fs::remove_file(&path).map_err(BackupError::io("delete", &path))?;
        }
    }
    Ok(with_data)
}

/// Copies `from` to `to` by way of a temporary name, checking it against the manifest again as
/// it goes (the backup may have changed since it was verified), fsynced before the rename.
fn put(from: &Path, to: &Path, want_bytes: u64, want_sha256: &str) -> Result<(), BackupError> {
    let mut partial = to.as_os_str().to_owned();
    partial.push(PARTIAL);
    let partial = PathBuf::from(partial);
    let written = (|| {
        let mut source = File::open(from).map_err(BackupError::io("open", from))?;
        let mut target = File::create(&partial).map_err(BackupError::io("create", &partial))?;
        let mut tee = Tee {
            source: &mut source,
            target: &mut target,
        };
        let found = digest(&mut tee).map_err(BackupError::io("copy", from))?;
        check(from, (found.0, &found.1), want_bytes, want_sha256)?;
        target.sync_all().map_err(BackupError::io("fsync", &partial))?;
        fs::rename(&partial, to).map_err(BackupError::io("rename", to))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written
}

/// A reader that writes what it reads to `target`.
struct Tee<'a> {
    source: &'a mut File,
    target: &'a mut File,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.read(buf)?;
        self.target.write_all(&buf[..n])?;
        Ok(n)
    }
}
