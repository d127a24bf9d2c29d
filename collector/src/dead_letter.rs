//! The dead-letter store: every rejected frame, kept with its reason and raw bytes.
//!
//! One JSON object per line, so `jq` and `grep` can read it too, and `citysense-collector
//! dead-letters` summarises or lists it. Records are appended as frames are rejected and synced
//! to disk ([`DeadLetterStore::sync`]) before the batch holding them is acknowledged.
//!
//! Bounded: when the file passes half of `max_bytes` it becomes `<path>.1` (replacing the older
//! generation, whose records are counted as dropped and logged), so the two together stay under
//! the bound and the newest records are always kept.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Payload bytes kept in a record; an oversized payload is kept up to here (its full length is
/// in `payload_len`), so a flood of huge messages cannot fill the disk.
pub const MAX_KEPT_PAYLOAD: usize = 1024;

/// One rejected frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// When the collector rejected it (RFC 3339, UTC).
    pub rejected_at: String,
    /// The MQTT topic it came on.
    pub topic: String,
    /// Machine-readable reason (the counter's label).
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
    /// The payload's length in bytes.
    #[serde(default)]
    pub payload_len: usize,
    /// The payload (the first [`MAX_KEPT_PAYLOAD`] bytes of it), hex-encoded.
    pub payload_hex: String,
}

impl DeadLetter {
    /// A record stamped now.
    pub fn new(topic: &str, reason: &str, detail: String, payload: &[u8]) -> Self {
        let rejected_at = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
        DeadLetter {
            rejected_at,
            topic: topic.to_owned(),
            reason: reason.to_owned(),
            detail,
            payload_len: payload.len(),
            payload_hex: hex::encode(&payload[..payload.len().min(MAX_KEPT_PAYLOAD)]),
        }
    }
}

/// Appends records to the dead-letter file.
#[derive(Debug)]
pub struct DeadLetterStore {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    unsynced: bool,
    dropped: u64,
}

impl DeadLetterStore {
    /// Opens (creating if needed) the dead-letter file for appending.
    ///
    /// # Errors
    ///
    /// The I/O error, for example a missing directory or no permission.
    pub fn open(path: &Path, max_bytes: u64) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(DeadLetterStore {
            path: path.to_owned(),
            file,
            size,
            max_bytes,
            unsynced: false,
            dropped: 0,
        })
    }

    /// Appends one record (not yet synced: call [`DeadLetterStore::sync`] before acking).
    ///
    /// # Errors
    ///
    /// The I/O error; the caller must not acknowledge the frame then.
    pub fn append(&mut self, record: &DeadLetter) -> io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        if self.size + line.len() as u64 > self.max_bytes / 2 && self.size > 0 {
            self.rotate()?;
        }
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    /// Makes every appended record durable.
    ///
    /// # Errors
    ///
    /// The I/O error.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Records dropped by rotation since open.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        let older = older_generation(&self.path);
        if let Ok(file) = File::open(&older) {
            let lost = BufReader::new(file).lines().count() as u64;
            if lost > 0 {
                self.dropped += lost;
                tracing::warn!(path = %older.display(), records = lost,
                    "Dead-letter store is at its bound; dropping its oldest records.");
            }
        }
        fs::rename(&self.path, &older)?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// The older generation's file: `<path>.1`.
pub(crate) fn older_generation(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Reads every record, oldest first (the older generation, then the current file). Lines that
/// are not records (a torn last line after a crash) are counted, not returned.
///
/// # Errors
///
/// The current file cannot be read.
pub fn read_all(path: &Path) -> io::Result<(Vec<DeadLetter>, usize)> {
    let mut records = Vec::new();
    let mut unreadable = 0;
    for file in [older_generation(path), path.to_owned()] {
        let reader = match File::open(&file) {
            Ok(f) => BufReader::new(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound && file != path => continue,
            Err(e) => return Err(e),
        };
        // Bytes, not text: a line torn by a crash can end inside a character.
        for line in reader.split(b'\n') {
            match serde_json::from_slice(&line?) {
                Ok(record) => records.push(record),
                Err(_) => unreadable += 1,
            }
        }
    }
    Ok((records, unreadable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_its_bound_keeping_the_newest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dl.jsonl");
        let mut store = DeadLetterStore::open(&path, 8 * 1024).expect("open");
        for i in 0..200 {
            let record = DeadLetter::new("p/node/1/telemetry", "bad_tag", format!("n{i}"), &[i as u8; 20]);
            store.append(&record).expect("append");
        }
        store.sync().expect("sync");
        let total = fs::metadata(&path).expect("file").len()
            + fs::metadata(older_generation(&path)).expect("older").len();
        assert!(total <= 8 * 1024, "{total}");
        let (records, unreadable) = read_all(&path).expect("read");
        assert_eq!(unreadable, 0);
        assert_eq!(records.last().expect("some").detail, "n199");
        assert_eq!(records.len() as u64 + store.dropped(), 200);
    }

    #[test]
    fn an_oversized_payload_is_kept_in_part() {
        let record = DeadLetter::new("t", "oversized", String::new(), &vec![7u8; 100_000]);
        assert_eq!(record.payload_len, 100_000);
        assert_eq!(record.payload_hex.len(), 2 * MAX_KEPT_PAYLOAD);
    }

    #[test]
    fn a_torn_last_line_is_counted_even_cut_inside_a_character() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dl.jsonl");
        let mut store = DeadLetterStore::open(&path, 1 << 20).expect("open");
        let record = DeadLetter::new("p/node/1/telemetry", "bad_tag", "trạm".into(), &[1, 2]);
        store.append(&record).expect("append");
        store.sync().expect("sync");
        // A crash mid-append: the next record cut inside the two bytes of "ạ".
        let mut line = serde_json::to_vec(&record).expect("json");
        let cut = line
            .iter()
            .position(|b| *b >= 0x80)
            .expect("a multi-byte character")
            + 1;
        line.truncate(cut);
        let mut bytes = fs::read(&path).expect("read");
        bytes.extend_from_slice(&line);
        fs::write(&path, bytes).expect("write");
        let (records, unreadable) = read_all(&path).expect("a torn line is no reason to fail");
        assert_eq!((records, unreadable), (vec![record], 1));
    }
}
