//! `backup`: a copy of the collector's state taken while it runs, without stopping or locking it.
//!
//! Why a copy taken while the collector appends is still consistent, file by file:
//!
//! - **Spool segments** are append-only, each record `[len][crc32][payload]`, and appends only
//!   ever go to the last segment. So every segment but the newest one copied is complete, and
//!   the newest one is a run of whole records possibly followed by part of the record being
//!   appended; the copy is cut after the last whole, checksummed record, exactly as
//!   [`crate::spool::Spool::open`] cuts a torn tail after a crash. That partial record's batch
//!   was not yet acknowledged when the copy was taken; batches spooled after the copy are simply
//!   not in it. A segment the drainer deletes before it is opened was fully written to InfluxDB
//!   and is left out; one deleted while it is read is read to its end (the open file stays).
//! - **The cursor** is replaced by rename, so a read sees one whole version. It is copied before
//!   the segments, so it may lag behind records drained while the segments were copied; the
//!   restored collector writes those again, as after a lost cursor: an overwrite in InfluxDB
//!   (the points carry their timestamps). Copied after them, it could point past what was
//!   copied.
//! - **The replay window**: the log is appended record by record (each with its checksum) and
//!   emptied after a new snapshot is renamed into place. The log is copied (cut after its last
//!   whole record) before the snapshot, so the snapshot is as new as the log or newer; marking
//!   the log's keys again on a newer snapshot changes nothing, which is what loading already
//!   relies on after a crash between the rename and the truncation. And the window is copied
//!   before the spool, so every frame it knows is in the spool copy or was written: the worst
//!   case, a batch spooled between the two copies and delivered again after a restore, is a
//!   duplicate write (an overwrite for a clock-synced frame), never a frame dropped as a
//!   duplicate.
//! - **Dead letters** are JSON lines appended; the copy of the current file is cut after its
//!   last newline. The store rotates by renaming the file to `<path>.1`; both files are opened
//!   before either is read, and opened again if a rotation came between the two opens, so the
//!   pair is two successive generations.
//!
//! Rejected: a lock the collector would honour (the copy would hold up acknowledgements for as
//! long as it takes to copy up to `spool.max_bytes`, 1 GiB by default, while nothing here needs
//! it: the files are built to survive a crash at any byte, and a copy is a crash seen from
//! outside).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::BackupError;
use super::manifest::{FORMAT, FileEntry, MANIFEST, Manifest, Role, VERSION, digest_file};
use crate::Config;
use crate::pipeline::window_file::whole_records_len;
use crate::spool::{segment_ids, valid_prefix};

/// Rotations of the dead-letter store met while opening its two files, before giving up.
const ROTATION_RETRIES: usize = 10;

/// Copies the state of the collector `config` configures into `to` (created; it must be absent
/// or empty) and writes the manifest last. The collector may be running.
///
/// # Errors
///
/// `to` not empty, or an I/O error.
pub fn backup(config: &Config, to: &Path) -> Result<Manifest, BackupError> {
    fs::create_dir_all(to).map_err(BackupError::io("create", to))?;
    let mut entries = fs::read_dir(to).map_err(BackupError::io("list", to))?;
    if entries.next().is_some() {
        return Err(BackupError::TargetNotEmpty(to.to_owned()));
    }
    for dir in ["spool", "dead-letter"] {
        let dir = to.join(dir);
        fs::create_dir(&dir).map_err(BackupError::io("create", &dir))?;
    }
    let created_at = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
    let mut copied = Vec::new();

    // The window (log, then snapshot), then the spool (cursor, then segments): see above.
    for role in [Role::WindowLog, Role::WindowSnapshot, Role::Cursor] {
        if copy(&role.live_path(config), &to.join(role.name()))? {
            copied.push(role);
        }
    }
    if let Some(Role::WindowLog) = copied.first() {
        let path = to.join(Role::WindowLog.name());
        let bytes = fs::read(&path).map_err(BackupError::io("read", &path))?;
        cut(&path, whole_records_len(&bytes) as u64)?;
    }
    let ids = match segment_ids(&config.spool.dir) {
        Ok(ids) => ids,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(BackupError::io("list", &config.spool.dir)(e)),
    };
    let mut newest = None;
    for id in ids {
        let role = Role::Segment(id);
        if copy(&role.live_path(config), &to.join(role.name()))? {
            copied.push(role);
            newest = Some(role);
        }
    }
    if let Some(role) = newest {
        let path = to.join(role.name());
        let valid = valid_prefix(&path).map_err(BackupError::io("read", &path))?;
        cut(&path, valid)?;
    }
    copied.extend(copy_dead_letters(config, to)?);

    let mut files = Vec::with_capacity(copied.len());
    for role in copied {
        let name = role.name();
        let path = to.join(&name);
        sync(&path)?;
        let (bytes, sha256) = digest_file(&path).map_err(BackupError::io("read", &path))?;
        files.push(FileEntry { name, bytes, sha256 });
    }
    for dir in ["spool", "dead-letter"] {
        sync(&to.join(dir))?;
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        created_at,
        collector_version: env!("CARGO_PKG_VERSION").into(),
        spool_dir: config.spool.dir.clone(),
        dead_letter_path: config.dead_letter.path.clone(),
        files,
    };
    write_manifest(&manifest, to)?;
    Ok(manifest)
}

/// Copies `from` to `to`; false if `from` does not exist.
fn copy(from: &Path, to: &Path) -> Result<bool, BackupError> {
    match File::open(from) {
        Ok(mut source) => {
            copy_open(&mut source, from, to)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(BackupError::io("open", from)(e)),
    }
}

fn copy_open(source: &mut File, from: &Path, to: &Path) -> Result<(), BackupError> {
    let mut target = File::create(to).map_err(BackupError::io("create", to))?;
    io::copy(source, &mut target).map_err(BackupError::io("copy", from))?;
    Ok(())
}

/// The dead-letter store and its older generation, as two successive generations.
fn copy_dead_letters(config: &Config, to: &Path) -> Result<Vec<Role>, BackupError> {
    let current_path = Role::DeadLetters.live_path(config);
    let older_path = Role::OlderDeadLetters.live_path(config);
    for attempt in 1..=ROTATION_RETRIES {
        let current = open_if_there(&current_path)?;
        let older = open_if_there(&older_path)?;
        // Only the older generation: a rotation between its rename and the new file's creation
        // (or a crash there, which stays so: then the older one is the whole store).
        if current.is_none() && older.is_some() && attempt < ROTATION_RETRIES {
            std::thread::yield_now();
            continue;
        }
        // A rotation between the two opens: `current` is now the older generation too.
        let rotated = match &current {
            Some(file) => {
                let opened = file
                    .metadata()
                    .map_err(BackupError::io("inspect", &current_path))?;
                match fs::metadata(&current_path) {
                    Ok(now) => (now.dev(), now.ino()) != (opened.dev(), opened.ino()),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => true,
                    Err(e) => return Err(BackupError::io("inspect", &current_path)(e)),
                }
            }
            None => false,
        };
        if rotated {
            continue;
        }
        let mut roles = Vec::new();
        for (file, role, from) in [
            (older, Role::OlderDeadLetters, &older_path),
            (current, Role::DeadLetters, &current_path),
        ] {
            if let Some(mut file) = file {
                let target = to.join(role.name());
                copy_open(&mut file, from, &target)?;
                roles.push(role);
            }
        }
        if roles.last() == Some(&Role::DeadLetters) {
            let path = to.join(Role::DeadLetters.name());
            let bytes = fs::read(&path).map_err(BackupError::io("read", &path))?;
            let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            cut(&path, whole as u64)?;
        }
        return Ok(roles);
    }
    Err(BackupError::Io {
        what: "copy",
        path: current_path,
        source: io::Error::other(format!(
            "the store rotated {ROTATION_RETRIES} times while it was opened; run the backup again"
        )),
    })
}

fn open_if_there(path: &Path) -> Result<Option<File>, BackupError> {
    match File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BackupError::io("open", path)(e)),
    }
}

/// Cuts the copy at `path` to `len` bytes.
fn cut(path: &Path, len: u64) -> Result<(), BackupError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .map_err(BackupError::io("cut", path))
}

pub(super) fn sync(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(BackupError::io("fsync", path))
}

/// Writes the manifest (temporary name, fsync, rename, fsync of the directory): a backup
/// directory with a manifest is a finished backup.
fn write_manifest(manifest: &Manifest, to: &Path) -> Result<(), BackupError> {
    let path = to.join(MANIFEST);
    let partial = to.join(format!("{MANIFEST}.partial"));
    let text = serde_json::to_vec_pretty(manifest).map_err(|e| BackupError::io("encode", &path)(e.into()))?;
    let mut file = File::create(&partial).map_err(BackupError::io("create", &partial))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .map_err(BackupError::io("write", &partial))?;
    fs::rename(&partial, &path).map_err(BackupError::io("rename", &path))?;
    sync(to)
}
