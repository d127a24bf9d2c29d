//! The durable spool: batches that could not be written to InfluxDB, kept on disk until they can.
//!
//! Append-only segment files (`<id>.seg`) in the spool directory. Each record is
//! `[len: u32 LE][crc32: u32 LE][payload: len bytes]`; the payload is a [`SpooledBatch`]. An
//! append is fsynced before it returns, and only then are the batch's messages acknowledged.
//! A drainer reads records oldest first from a cursor (`cursor` file) and deletes a segment once
//! every record in it is written.
//!
//! Crash safety: appends only ever go to the last segment, and a failed append is cut off again,
//! so a crash can only leave a torn record at its end. [`Spool::open`] checks the last segment
//! record by record and cuts it at the first record that is short, fails its checksum or is not a
//! batch ("torn tail"); that record's batch was never acked, so the broker redelivers it. A damaged record in an older segment (disk corruption) is found
//! when it is drained: it is counted and logged, and the rest of that segment is skipped.
//!
//! The cursor is saved after every drained record without fsync; a cursor lost to a power cut
//! makes the drainer write some records again, which InfluxDB's point identity makes harmless
//! (the spooled lines carry their timestamps).

mod record;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use record::{SpooledBatch, SpooledPoint};

const HEADER: u64 = 8;
/// No record is larger than this; a bigger length field is damage, not data.
const MAX_RECORD: u32 = 256 << 20;

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The spool holds `max_bytes`; nothing is appended until the drainer frees a segment.
    #[error("spool is full ({used} of {max} bytes)")]
    Full {
        /// Bytes held.
        used: u64,
        /// The bound.
        max: u64,
    },
    /// The disk refused.
    #[error("spool I/O error: {0}")]
    Io(#[from] io::Error),
}

/// What [`Spool::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Segments present.
    pub segments: usize,
    /// Bytes held (undrained and drained-but-not-yet-deleted).
    pub bytes: u64,
    /// Bytes cut off the end of the last segment (a torn record from a crash).
    pub torn_bytes: u64,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    len: u64,
}

/// The spool. Synchronous file I/O: callers on an async runtime use `spawn_blocking`.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    /// The last segment, open for appending.
    active: Option<File>,
    /// Where the next record to drain starts: (segment id, offset).
    cursor: (u64, u64),
    /// Length of the record [`Spool::peek_oldest`] last returned, until it is committed.
    pending: Option<u64>,
    /// Time the oldest undrained record was spooled, when known.
    oldest_ms: Option<u64>,
    /// Records found damaged while draining.
    corrupt_records: u64,
    /// Id of the next segment. Ids only grow (also across restarts and full drains), so a
    /// saved cursor can never point into a newer segment than the one it was saved for.
    next_id: u64,
    /// Test hook: the next append writes this many bytes of its record, then fails like a full
    /// disk.
    #[cfg(test)]
    fail_next_append_after: Option<usize>,
}

impl Spool {
    /// Opens (creating) the spool in `dir`, cutting a torn record off the last segment.
    ///
    /// # Errors
    ///
    /// The directory cannot be created or read, or a segment cannot be opened or cut.
    pub fn open(dir: &Path, max_bytes: u64, segment_bytes: u64) -> io::Result<(Self, OpenReport)> {
        fs::create_dir_all(dir)?;
        let ids = segment_ids(dir)?;
        let mut report = OpenReport::default();
        let mut segments = VecDeque::new();
        for (i, id) in ids.iter().enumerate() {
            let path = segment_path(dir, *id);
            let mut len = fs::metadata(&path)?.len();
            if i + 1 == ids.len() {
                let valid = valid_prefix(&path)?;
                if valid < len {
                    report.torn_bytes = len - valid;
                    tracing::warn!(segment = %path.display(), torn_bytes = len - valid,
                        "Spool: cut a torn record off the last segment (a crash mid-append; that batch was never acknowledged and comes back from the broker).");
                    OpenOptions::new().write(true).open(&path)?.set_len(valid)?;
                    len = valid;
                }
            }
            segments.push_back(Segment { id: *id, len });
        }
        let saved_cursor = read_cursor(dir).unwrap_or((0, 0));
        let next_id = ids.last().copied().unwrap_or(0).max(saved_cursor.0) + 1;
        let mut cursor = saved_cursor;
        // A cursor in a segment that is gone (drained and deleted) starts at the oldest left.
        match segments.front() {
            Some(first) if cursor.0 < first.id => cursor = (first.id, 0),
            Some(_) => {
                if let Some(seg) = segments.iter().find(|s| s.id == cursor.0) {
                    cursor.1 = cursor.1.min(seg.len);
                } else {
                    cursor = (segments.front().map_or(0, |s| s.id), 0);
                }
            }
            None => cursor = (next_id, 0),
        }
        report.segments = segments.len();
        report.bytes = segments.iter().map(|s| s.len).sum();
        let active = match segments.back() {
            Some(last) => Some(OpenOptions::new().append(true).open(segment_path(dir, last.id))?),
            None => None,
        };
        let mut spool = Spool {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes,
            segments,
            active,
            cursor,
            pending: None,
            oldest_ms: None,
            corrupt_records: 0,
            next_id,
            #[cfg(test)]
            fail_next_append_after: None,
        };
        spool.drop_drained()?;
        if !spool.is_empty() {
            spool.oldest_ms = spool.peek_time();
        }
        Ok((spool, report))
    }

    /// Bytes held on disk (including drained records of a segment not yet deleted).
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// The bound.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// True when no record waits to be drained.
    pub fn is_empty(&self) -> bool {
        match self.segments.back() {
            None => true,
            Some(last) => self.cursor.0 == last.id && self.cursor.1 >= last.len,
        }
    }

    /// When the oldest undrained record was spooled (ms since the epoch).
    pub fn oldest_ms(&self) -> Option<u64> {
        if self.is_empty() { None } else { self.oldest_ms }
    }

    /// Records found damaged while draining, since open.
    pub fn corrupt_records(&self) -> u64 {
        self.corrupt_records
    }

    /// Appends one batch and fsyncs it.
    ///
    /// # Errors
    ///
    /// [`AppendError::Full`] when the record does not fit under `max_bytes`; the I/O error.
    pub fn append(&mut self, batch: &SpooledBatch) -> Result<(), AppendError> {
        let payload = batch.encode();
        let len = HEADER + payload.len() as u64;
        let used = self.bytes();
        if used + len > self.max_bytes {
            return Err(AppendError::Full {
                used,
                max: self.max_bytes,
            });
        }
        // A new segment when there is none to append to (all drained, or the last one could
        // not be cut back after a failed append) or the last one is full.
        let roll = match (self.segments.back(), &self.active) {
            (Some(last), Some(_)) => last.len > 0 && last.len + len > self.segment_bytes,
            _ => true,
        };
        if roll {
            let id = self.next_id;
            self.next_id += 1;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&self.dir, id))?;
            if let Ok(dir) = File::open(&self.dir) {
                // The new file's directory entry must survive a power cut too.
                let _ = dir.sync_all();
            }
            self.segments.push_back(Segment { id, len: 0 });
            self.active = Some(file);
            if self.segments.len() == 1 {
                self.cursor = (id, 0);
            }
        }
        let was_empty = self.is_empty();
        let mut record = Vec::with_capacity(len as usize);
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        record.extend_from_slice(&payload);
        let fault = self.injected_fault();
        let whole = self.segments.back().map_or(0, |s| s.len);
        let file = self
            .active
            .as_mut()
            .ok_or_else(|| io::Error::other("spool has no active segment"))?;
        if let Err(e) = write_synced(file, &record, fault) {
            // Cut what was written of the record: a partial record in front of later appends
            // would make the drainer skip them as damage, and the restart cut them off as a
            // torn tail, though they were acknowledged. If it cannot be cut, the next append
            // starts a new segment, and this one may end in a record counted as damaged.
            if let Err(cut) = file.set_len(whole) {
                tracing::error!(error = %cut, "Spool: cannot cut a failed append; starting a new segment.");
                self.active = None;
            }
            return Err(e.into());
        }
        if let Some(last) = self.segments.back_mut() {
            last.len += len;
        }
        if was_empty {
            self.oldest_ms = Some(batch.spooled_at_ms);
        }
        Ok(())
    }

    /// The oldest undrained batch, without removing it; call [`Spool::commit`] once it is
    /// written. Returns the same record again until then.
    ///
    /// # Errors
    ///
    /// The I/O error reading the segment.
    pub fn peek_oldest(&mut self) -> io::Result<Option<SpooledBatch>> {
        loop {
            if self.is_empty() {
                return Ok(None);
            }
            let (id, offset) = self.cursor;
            let Some(seg_len) = self.segments.iter().find(|s| s.id == id).map(|s| s.len) else {
                self.cursor = (self.segments.front().map_or(0, |s| s.id), 0);
                continue;
            };
            if offset >= seg_len {
                self.advance_segment()?;
                continue;
            }
            match read_record(&segment_path(&self.dir, id), offset, seg_len)? {
                Some((payload, len)) => match SpooledBatch::decode(&payload) {
                    Some(batch) => {
                        self.pending = Some(len);
                        return Ok(Some(batch));
                    }
                    None => self.skip_damaged(id, offset, seg_len)?,
                },
                None => self.skip_damaged(id, offset, seg_len)?,
            }
        }
    }

    /// Marks the record [`Spool::peek_oldest`] returned as written: moves the cursor past it and deletes
    /// segments that are fully drained.
    ///
    /// # Errors
    ///
    /// The I/O error saving the cursor or deleting a segment.
    pub fn commit(&mut self) -> io::Result<()> {
        let Some(len) = self.pending.take() else {
            return Ok(());
        };
        self.cursor.1 += len;
        self.drop_drained()?;
        write_cursor(&self.dir, self.cursor)?;
        self.oldest_ms = if self.is_empty() { None } else { self.peek_time() };
        Ok(())
    }

    /// The fault a test asked the next append to meet.
    fn injected_fault(&mut self) -> Option<usize> {
        #[cfg(test)]
        return self.fail_next_append_after.take();
        #[cfg(not(test))]
        None
    }

    fn skip_damaged(&mut self, id: u64, offset: u64, seg_len: u64) -> io::Result<()> {
        self.corrupt_records += 1;
        tracing::error!(segment = %segment_path(&self.dir, id).display(), offset, skipped_bytes = seg_len - offset,
            "Spool: a record fails its checksum (disk damage); skipping the rest of this segment. Those batches are lost.");
        self.cursor.1 = seg_len;
        self.drop_drained()?;
        write_cursor(&self.dir, self.cursor)
    }

    fn advance_segment(&mut self) -> io::Result<()> {
        self.drop_drained()?;
        if let Some(next) = self.segments.iter().find(|s| s.id > self.cursor.0) {
            self.cursor = (next.id, 0);
        }
        Ok(())
    }

    /// Deletes fully drained segments; when everything is drained, the active one too.
    fn drop_drained(&mut self) -> io::Result<()> {
        while let Some(first) = self.segments.front() {
            let drained =
                first.id < self.cursor.0 || (first.id == self.cursor.0 && self.cursor.1 >= first.len);
            let is_last = self.segments.len() == 1;
            if !drained {
                break;
            }
            if is_last {
                // Everything is written: start afresh with the next append.
                self.active = None;
            }
            let id = first.id;
            match fs::remove_file(segment_path(&self.dir, id)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.segments.pop_front();
            match self.segments.front() {
                Some(next) => self.cursor = (next.id, 0),
                None => self.cursor = (self.next_id, 0),
            }
        }
        Ok(())
    }

    fn peek_time(&self) -> Option<u64> {
        let (id, offset) = self.cursor;
        let seg = self.segments.iter().find(|s| s.id == id)?;
        let (payload, _) = read_record(&segment_path(&self.dir, id), offset, seg.len).ok()??;
        SpooledBatch::spooled_at(&payload)
    }
}

/// The ids of the segments in `dir`, oldest first.
pub(crate) fn segment_ids(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|entry| segment_id(&entry.ok()?.file_name().into_string().ok()?))
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// The id of the segment file called `name`, if it is one.
pub(crate) fn segment_id(name: &str) -> Option<u64> {
    name.strip_suffix(".seg")?.parse().ok()
}

pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.seg"))
}

/// Appends `record` and syncs it; with `fail_after` (tests), writes that many bytes of it and
/// fails like a full disk.
fn write_synced(file: &mut File, record: &[u8], fail_after: Option<usize>) -> io::Result<()> {
    if let Some(n) = fail_after {
        file.write_all(&record[..n.min(record.len())])?;
        return Err(io::Error::other("no space left on device (injected)"));
    }
    file.write_all(record)?;
    file.sync_data()
}

/// Reads the record at `offset`; `None` if it is short or fails its checksum.
fn read_record(path: &Path, offset: u64, seg_len: u64) -> io::Result<Option<(Vec<u8>, u64)>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut header = [0u8; HEADER as usize];
    if seg_len - offset < HEADER {
        return Ok(None);
    }
    file.read_exact(&mut header)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_RECORD || offset + HEADER + u64::from(len) > seg_len {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    file.read_exact(&mut payload)?;
    if crc32fast::hash(&payload) != crc {
        return Ok(None);
    }
    Ok(Some((payload, HEADER + u64::from(len))))
}

/// Length of the longest prefix of whole, checksummed records that are batches. The last test
/// matters for a tail of zeros (a power cut can leave the file longer than what reached the
/// disk): eight zero bytes are an empty record whose checksum matches.
pub(crate) fn valid_prefix(path: &Path) -> io::Result<u64> {
    let bytes = fs::read(path)?;
    let mut at = 0usize;
    while bytes.len() - at >= HEADER as usize {
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let crc = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let start = at + HEADER as usize;
        let Some(payload) = bytes.get(start..start + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc || SpooledBatch::decode(payload).is_none() {
            break;
        }
        at = start + len;
    }
    Ok(at as u64)
}

/// The drain cursor's file in the spool directory.
pub(crate) const CURSOR_FILE: &str = "cursor";

fn read_cursor(dir: &Path) -> Option<(u64, u64)> {
    let bytes = fs::read(dir.join(CURSOR_FILE)).ok()?;
    if bytes.len() != 20 || crc32fast::hash(&bytes[..16]).to_le_bytes() != bytes[16..20] {
        return None;
    }
    let id = u64::from_le_bytes(bytes[0..8].try_into().ok()?);
    let offset = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
    Some((id, offset))
}

fn write_cursor(dir: &Path, cursor: (u64, u64)) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(20);
    bytes.extend_from_slice(&cursor.0.to_le_bytes());
    bytes.extend_from_slice(&cursor.1.to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let tmp = dir.join("cursor.tmp");
    fs::write(&tmp, bytes)?;
    fs::rename(tmp, dir.join(CURSOR_FILE))
}

#[cfg(test)]
mod tests;
