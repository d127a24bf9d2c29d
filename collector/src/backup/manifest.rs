//! The manifest of a backup (`manifest.json`, written last) and the files a backup may hold.
//!
//! A backup directory holds `spool/` (the segments `<id>.seg`, `cursor`, `replay-window.bin`,
//! `replay-window.log`), `dead-letter/current.jsonl` and `dead-letter/older.jsonl` (the store
//! and its older generation, whatever `dead_letter.path` calls them), and `manifest.json`
//! naming each with its size and SHA-256.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Config;
use crate::pipeline::window_file::{LOG_FILE, SNAPSHOT_FILE};
use crate::spool::{CURSOR_FILE, segment_id, segment_path};

/// The manifest's file name in a backup directory.
pub const MANIFEST: &str = "manifest.json";

/// `format` of a collector backup's manifest.
pub(crate) const FORMAT: &str = "citysense-collector-backup";

/// The manifest version this build writes and reads.
pub(crate) const VERSION: u32 = 1;

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `citysense-collector-backup`.
    pub format: String,
    /// The manifest's version (1).
    pub version: u32,
    /// When the backup was taken (RFC 3339, UTC).
    pub created_at: String,
    /// The version of the collector that took it.
    pub collector_version: String,
    /// The spool directory it was taken from (for the record: restore writes to the config's).
    pub spool_dir: PathBuf,
    /// The dead-letter file it was taken from (for the record).
    pub dead_letter_path: PathBuf,
    /// Every file, in the order it was copied.
    pub files: Vec<FileEntry>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its path in the backup directory, e.g. `spool/0000000000000003.seg`.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

/// What a file of a backup is, and so where it is restored to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    /// A spool segment.
    Segment(u64),
    /// The spool's drain cursor.
    Cursor,
    /// The replay window's snapshot.
    WindowSnapshot,
    /// The replay window's log.
    WindowLog,
    /// The dead-letter store.
    DeadLetters,
    /// Its older generation.
    OlderDeadLetters,
}

impl Role {
    /// The file's path in a backup directory.
    pub(crate) fn name(self) -> String {
        match self {
            Role::Segment(id) => {
                let file = segment_path(Path::new(""), id);
                format!("spool/{}", file.display())
            }
            Role::Cursor => format!("spool/{CURSOR_FILE}"),
            Role::WindowSnapshot => format!("spool/{SNAPSHOT_FILE}"),
            Role::WindowLog => format!("spool/{LOG_FILE}"),
            Role::DeadLetters => "dead-letter/current.jsonl".into(),
            Role::OlderDeadLetters => "dead-letter/older.jsonl".into(),
        }
    }

    /// The role of the file a manifest names; `None` for anything else (so a manifest cannot
    /// make a restore write outside the state).
    pub(crate) fn parse(name: &str) -> Option<Role> {
        if let Some(file) = name.strip_prefix("spool/") {
            let role = match file {
                CURSOR_FILE => Role::Cursor,
                SNAPSHOT_FILE => Role::WindowSnapshot,
                LOG_FILE => Role::WindowLog,
                _ => Role::Segment(segment_id(file)?),
            };
            // One spelling per segment id: `7.seg` and `0000000000000007.seg` are one file.
            return (role.name() == name).then_some(role);
        }
        match name {
            "dead-letter/current.jsonl" => Some(Role::DeadLetters),
            "dead-letter/older.jsonl" => Some(Role::OlderDeadLetters),
            _ => None,
        }
    }

    /// Where the collector that `config` configures keeps this file.
    pub(crate) fn live_path(self, config: &Config) -> PathBuf {
        let spool = &config.spool.dir;
        match self {
            Role::Segment(id) => segment_path(spool, id),
            Role::Cursor => spool.join(CURSOR_FILE),
            Role::WindowSnapshot => spool.join(SNAPSHOT_FILE),
            Role::WindowLog => spool.join(LOG_FILE),
            Role::DeadLetters => config.dead_letter.path.clone(),
            Role::OlderDeadLetters => crate::dead_letter::older_generation(&config.dead_letter.path),
        }
    }
}

/// Reads `reader` to its end: its length and SHA-256 (hex).
pub(crate) fn digest(mut reader: impl Read) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hex::encode(hasher.finalize())))
}

/// The length and SHA-256 of the file at `path`.
pub(crate) fn digest_file(path: &Path) -> io::Result<(u64, String)> {
    digest(File::open(path)?)
}
