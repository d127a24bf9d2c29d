//! The dead-letter store: every rejected frame, kept with its reason and raw bytes.
//!
//! One JSON object per line, so `jq` and `grep` can inspect it and nothing is lost on a crash
//! but the line being written. Rotation and bounds come with the disk spool.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One rejected frame.
#[derive(Debug, Serialize)]
pub struct DeadLetter<'a> {
    /// When the collector rejected it (RFC 3339, UTC).
    pub rejected_at: String,
    /// The MQTT topic it came on.
    pub topic: &'a str,
    /// Machine-readable reason (the counter's label).
    pub reason: &'static str,
    /// Human-readable detail.
    pub detail: String,
    /// The payload, hex-encoded.
    pub payload_hex: String,
}

impl<'a> DeadLetter<'a> {
    /// A record stamped now.
    pub fn new(topic: &'a str, reason: &'static str, detail: String, payload: &[u8]) -> Self {
        let rejected_at = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
        DeadLetter {
            rejected_at,
            topic,
            reason,
            detail,
            payload_hex: hex::encode(payload),
        }
    }
}

/// Appends records to the dead-letter file.
#[derive(Debug)]
pub struct DeadLetterStore {
    path: PathBuf,
    file: File,
}

impl DeadLetterStore {
    /// Opens (creating if needed) the dead-letter file for appending.
    ///
    /// # Errors
    ///
    /// The I/O error, for example a missing directory or no permission.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(DeadLetterStore {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends one record and syncs it to disk, so the frame can be acknowledged afterwards.
    ///
    /// # Errors
    ///
    /// The I/O error; the caller must not acknowledge the frame then.
    pub fn append(&mut self, record: &DeadLetter<'_>) -> io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
