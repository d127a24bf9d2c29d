//! The journal of the messages in open intervals: each accepted message is appended and synced
//! before it is acknowledged to the broker, so the frames of an interval whose file is not yet
//! written survive a crash. Once intervals are closed and their files are in the outbox, the
//! journal is rewritten with only the messages of the intervals still open.
//!
//! A record is `len: u32 LE | crc32(body): u32 LE | body`, with body
//! `received_ms: u64 LE | topic_len: u16 LE | topic | payload`. A torn or damaged tail (a crash
//! during an append) is cut at the first record that does not check out.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// One journalled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When the relay received it, ms since the Unix epoch.
    pub received_ms: u64,
    /// Its topic.
    pub topic: String,
    /// Its payload (the frame).
    pub payload: Vec<u8>,
}

/// The journal file, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    unsynced: bool,
}

/// The largest record read back; no frame comes near it.
const MAX_RECORD: usize = 1 << 20;

impl Journal {
    /// Opens (or creates) the journal at `path` and returns what it holds, cutting a torn tail.
    ///
    /// # Errors
    ///
    /// The file cannot be read or written.
    pub fn open(path: &Path) -> io::Result<(Journal, Vec<Entry>)> {
        let mut bytes = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let (entries, good) = parse(&bytes);
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        if good < bytes.len() {
            file.set_len(good as u64)?;
            file.sync_all()?;
        }
        Ok((
            Journal {
                path: path.to_owned(),
                file,
                unsynced: false,
            },
            entries,
        ))
    }

    /// Appends a message (not yet synced: see [`Journal::sync`]).
    ///
    /// # Errors
    ///
    /// The write failed.
    pub fn append(&mut self, entry: &Entry) -> io::Result<()> {
        self.file.write_all(&record(entry))?;
        self.unsynced = true;
        Ok(())
    }

    /// Makes every appended message durable.
    ///
    /// # Errors
    ///
    /// The sync failed.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Replaces the journal's content with `entries`, atomically (a new file, synced, renamed
    /// over the old one).
    ///
    /// # Errors
    ///
    /// A write, sync or rename failed; the old journal is then still in place.
    pub fn rewrite<'e>(&mut self, entries: impl IntoIterator<Item = &'e Entry>) -> io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut out = File::create(&tmp)?;
        let mut bytes = Vec::new();
        for e in entries {
            bytes.extend_from_slice(&record(e));
        }
        out.write_all(&bytes)?;
        out.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        sync_dir(&self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.unsynced = false;
        Ok(())
    }
}

/// Syncs the folder holding `path`, so a rename or a new file in it is durable.
///
/// # Errors
///
/// The folder cannot be opened or synced.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

fn record(e: &Entry) -> Vec<u8> {
    let topic = e.topic.as_bytes();
    let topic_len = u16::try_from(topic.len()).unwrap_or(u16::MAX);
    let mut body = Vec::with_capacity(10 + topic.len() + e.payload.len());
    body.extend_from_slice(&e.received_ms.to_le_bytes());
    body.extend_from_slice(&topic_len.to_le_bytes());
    body.extend_from_slice(&topic[..usize::from(topic_len)]);
    body.extend_from_slice(&e.payload);
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The entries of `bytes` up to the first bad record, and where that is.
fn parse(bytes: &[u8]) -> (Vec<Entry>, usize) {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + 8) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let Some(body) = bytes.get(at + 8..at + 8 + len) else {
            break;
        };
        if !(10..=MAX_RECORD).contains(&len) || crc32fast::hash(body) != crc {
            break;
        }
        let received_ms = u64::from_le_bytes(body[..8].try_into().unwrap_or_default());
        let topic_len = usize::from(u16::from_le_bytes([body[8], body[9]]));
        let Some(topic) = body.get(10..10 + topic_len) else {
            break;
        };
        let Ok(topic) = std::str::from_utf8(topic) else {
            break;
        };
        entries.push(Entry {
            received_ms,
            topic: topic.to_owned(),
            payload: body[10 + topic_len..].to_vec(),
        });
        at += 8 + len;
    }
    (entries, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8) -> Entry {
        Entry {
            received_ms: 1_000 + u64::from(n),
            topic: format!("city/haugiang/node/{n}/telemetry"),
            payload: vec![n; 20],
        }
    }

    #[test]
    fn entries_survive_a_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal");
        {
            let (mut j, old) = Journal::open(&path).expect("open");
            assert!(old.is_empty());
            j.append(&entry(1)).expect("append");
            j.append(&entry(2)).expect("append");
            j.sync().expect("sync");
        }
        let full = fs::read(&path).expect("read");
        fs::write(&path, &full[..full.len() - 3]).expect("tear");
        let (mut j, got) = Journal::open(&path).expect("reopen");
        assert_eq!(got, vec![entry(1)], "the torn second record is cut");
        j.append(&entry(3)).expect("append after the cut");
        j.sync().expect("sync");
        drop(j);
        let (mut j, got) = Journal::open(&path).expect("reopen");
        assert_eq!(got, vec![entry(1), entry(3)]);
        j.rewrite([&entry(3)]).expect("rewrite");
        j.append(&entry(4)).expect("append");
        j.sync().expect("sync");
        drop(j);
        assert_eq!(Journal::open(&path).expect("reopen").1, vec![entry(3), entry(4)]);
    }
}
