//! The durable replay window on disk: a snapshot, and a log of the frames marked since.
//!
//! After every durable batch the writer appends that batch's frame keys and digests to the log (a
//! few KiB),
//! instead of rewriting the whole window, whose size grows with the nodes and their gaps (up to
//! 512 bytes a node). When the log has grown past [`LOG_LIMIT`], the window is written whole to a
//! new snapshot (write, then rename) and the log is emptied. Loading reads the snapshot and marks
//! the log's keys on top, in order; marking a key twice changes nothing, so a crash between the
//! rename and the truncation is harmless.
//!
//! Design: no fsync. The rename is atomic, and after a process crash (kill -9) the page cache
//! still holds both files; only a power loss can lose the last records, and then the worst case
//! is that a clock-unsynced frame redelivered after the crash is written twice. An fsync per
//! batch would cost more than the write itself.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::window::{Digest, FrameKey, ReplayWindow};

/// Log size past which the window is written whole and the log emptied.
pub const LOG_LIMIT: u64 = 4 << 20;

/// A log record: key count (u32, with [`WITH_DIGESTS`] set), the keys (node, boot, seq, digest:
/// u32 each), CRC-32 of both; all little-endian. The version before wrote records without the
/// flag and the digest; they still load.
const KEY_BYTES: usize = 16;

/// Set in a record's count when its keys carry digests.
const WITH_DIGESTS: u32 = 1 << 31;

/// A key of the version before: node, boot, seq.
const OLD_KEY_BYTES: usize = 12;

/// The snapshot's file name in the spool directory.
pub(crate) const SNAPSHOT_FILE: &str = "replay-window.bin";

/// The log's file name in the spool directory.
pub(crate) const LOG_FILE: &str = "replay-window.log";

/// The durable window's files in the spool directory.
#[derive(Debug)]
pub struct WindowFile {
    snapshot: PathBuf,
    tmp: PathBuf,
    log_path: PathBuf,
    log: Option<File>,
    log_len: u64,
}

impl WindowFile {
    /// The window's files in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        WindowFile {
            snapshot: dir.join(SNAPSHOT_FILE),
            tmp: dir.join(format!("{SNAPSHOT_FILE}.tmp")),
            log_path: dir.join(LOG_FILE),
            log: None,
            log_len: 0,
        }
    }

    /// Loads the saved window: the snapshot, then the log's records up to the first torn or
    /// damaged one. An absent snapshot is an empty window, and so is a damaged one (logged): the
    /// window only sharpens duplicate detection, InfluxDB's point identity still makes a rewrite
    /// of a clock-synced frame harmless.
    pub fn load(&self) -> ReplayWindow {
        let mut window = match fs::read(&self.snapshot) {
            Ok(bytes) => ReplayWindow::decode(&bytes).unwrap_or_else(|| {
                tracing::warn!(path = %self.snapshot.display(), "Replay-window state is damaged or from an older version; starting with an empty window.");
                ReplayWindow::default()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => ReplayWindow::default(),
            Err(e) => {
                tracing::warn!(path = %self.snapshot.display(), error = %e, "Cannot read the replay-window state; starting with an empty window.");
                ReplayWindow::default()
            }
        };
        match fs::read(&self.log_path) {
            Ok(bytes) => {
                let (keys, rest) = read_log(&bytes);
                if rest > 0 {
                    tracing::warn!(path = %self.log_path.display(), bytes = rest, "The replay-window log ends in a torn or damaged record; it is left out.");
                }
                for (key, digest) in keys {
                    match digest {
                        Some(digest) => window.mark(key, digest),
                        None => window.mark_without_digest(key),
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %self.log_path.display(), error = %e, "Cannot read the replay-window log; the window may miss the last frames.");
            }
        }
        window
    }

    /// Records a durable batch's `keys`, already marked in `window`: appended to the log, or,
    /// once the log is past [`LOG_LIMIT`], `window` written whole and the log emptied. A torn
    /// record a crash left at the end of the log is cut off before the first append, and so is
    /// part of a record a failed append left.
    ///
    /// # Errors
    ///
    /// The I/O error.
    pub fn record(&mut self, keys: &[(FrameKey, Digest)], window: &ReplayWindow) -> io::Result<()> {
        if self.log_len >= LOG_LIMIT {
            return self.save(window);
        }
        let log = match &mut self.log {
            Some(log) => log,
            None => {
                let log = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .read(true)
                    .open(&self.log_path)?;
                let bytes = fs::read(&self.log_path)?;
                let (_, torn) = read_log(&bytes);
                let valid = (bytes.len() - torn) as u64;
                log.set_len(valid)?;
                self.log_len = valid;
                self.log.insert(log)
            }
        };
        let record = encode_record(keys);
        if let Err(e) = log.write_all(&record) {
            // A failed write (a full disk) may leave part of the record, and every record
            // appended after it would be unreadable: cut it off now, or else before the next
            // append, which reopens the log and cuts a torn tail.
            if log.set_len(self.log_len).is_err() {
                self.log = None;
            }
            return Err(e);
        }
        self.log_len += record.len() as u64;
        Ok(())
    }

    /// Writes `window` whole as the new snapshot (write, then rename) and empties the log.
    ///
    /// # Errors
    ///
    /// The I/O error.
    pub fn save(&mut self, window: &ReplayWindow) -> io::Result<()> {
        let mut file = File::create(&self.tmp)?;
        file.write_all(&window.encode())?;
        drop(file);
        fs::rename(&self.tmp, &self.snapshot)?;
        match &self.log {
            Some(log) => log.set_len(0)?,
            None => match fs::remove_file(&self.log_path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            },
        }
        self.log_len = 0;
        Ok(())
    }
}

fn encode_record(keys: &[(FrameKey, Digest)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + keys.len() * KEY_BYTES);
    out.extend_from_slice(&(keys.len() as u32 | WITH_DIGESTS).to_le_bytes());
    for (key, digest) in keys {
        for word in [key.node, key.boot, key.seq, digest.bits()] {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// How many bytes at the start of a log are whole records (what [`WindowFile::load`] reads).
pub(crate) fn whole_records_len(bytes: &[u8]) -> usize {
    bytes.len() - read_log(bytes).1
}

/// The keys of the log's whole records, in order, with their digests where the record has them,
/// and how many bytes after them are torn or damaged.
fn read_log(mut bytes: &[u8]) -> (Vec<(FrameKey, Option<Digest>)>, usize) {
    let mut keys = Vec::new();
    while let Some((count, _)) = bytes.split_first_chunk::<4>() {
        let count = u32::from_le_bytes(*count);
        let key_bytes = if count & WITH_DIGESTS != 0 {
            KEY_BYTES
        } else {
            OLD_KEY_BYTES
        };
        let body_len = ((count & !WITH_DIGESTS) as usize)
            .checked_mul(key_bytes)
            .and_then(|n| n.checked_add(4));
        let Some((body, rest)) = body_len.and_then(|n| bytes.split_at_checked(n)) else {
            break;
        };
        let Some((crc, rest)) = rest.split_first_chunk::<4>() else {
            break;
        };
        if crc32fast::hash(body).to_le_bytes() != *crc {
            break;
        }
        for key in body[4..].chunks_exact(key_bytes) {
            let word = |i: usize| u32::from_le_bytes([key[i], key[i + 1], key[i + 2], key[i + 3]]);
            let frame = FrameKey {
                node: word(0),
                boot: word(4),
                seq: word(8),
            };
            let digest = (key_bytes == KEY_BYTES).then(|| Digest::from_bits(word(12)));
            keys.push((frame, digest));
        }
        bytes = rest;
    }
    (keys, bytes.len())
}

#[cfg(test)]
mod tests {
    use super::super::window::{RUNS, Verdict};
    use super::*;

    /// A frame of node 7 and the digest of its bytes.
    fn key(boot: u32, seq: u32) -> (FrameKey, Digest) {
        frame(7, boot, seq)
    }

    fn frame(node: u32, boot: u32, seq: u32) -> (FrameKey, Digest) {
        let key = FrameKey { node, boot, seq };
        (
            key,
            Digest::from_bits(node ^ boot.rotate_left(8) ^ seq.rotate_left(16)),
        )
    }

    fn marked(window: &mut ReplayWindow, keys: &[(FrameKey, Digest)]) {
        for &(k, digest) in keys {
            window.mark(k, digest);
        }
    }

    #[test]
    fn survives_a_save_and_load_and_refuses_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file = WindowFile::in_dir(dir.path());
        assert!(file.load().is_empty());
        let mut w = ReplayWindow::default();
        for seq in [0, 1, 5, 300] {
            marked(&mut w, &[frame(1, 1, seq)]);
        }
        marked(&mut w, &[key(4, 3), key(2, 8)]);
        for i in 0..RUNS as u32 + 1 {
            marked(&mut w, &[key(3, 2 * i)]);
        }
        file.save(&w).expect("save");
        assert_eq!(file.load(), w);
        let path = dir.path().join("replay-window.bin");
        let mut bytes = fs::read(&path).expect("read");
        bytes[12] ^= 1;
        fs::write(&path, &bytes).expect("write");
        assert!(file.load().is_empty(), "a checksum mismatch");
        bytes[12] ^= 1;
        bytes[..8].copy_from_slice(b"CSWIN001");
        let crc_at = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..crc_at]);
        bytes[crc_at..].copy_from_slice(&crc.to_le_bytes());
        fs::write(&path, &bytes).expect("write");
        assert!(file.load().is_empty(), "the first version's format");
    }

    /// Words little-endian, then their CRC-32, as both files end their parts.
    fn checksummed(prefix: &[u8], words: &[u32]) -> Vec<u8> {
        let mut out = prefix.to_vec();
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// The files of the version before (a snapshot without recent frames, log records without
    /// digests) load: what was seen stays seen, and with its bytes unknown only the broker's
    /// redeliveries count as duplicates.
    #[test]
    fn the_previous_versions_files_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Node 7, newest boot 1, one boot: boot 1, floor 0, one run 0..=9.
        let snapshot = checksummed(b"CSWIN002", &[1, 7, 1, 1, 1, 0, 1, 0, 9]);
        fs::write(dir.path().join("replay-window.bin"), snapshot).expect("write");
        // One record of one key: node 7, boot 1, seq 10.
        fs::write(
            dir.path().join("replay-window.log"),
            checksummed(&[], &[1, 7, 1, 10]),
        )
        .expect("write");
        let mut file = WindowFile::in_dir(dir.path());
        let mut w = file.load();
        for seq in [0, 9, 10] {
            let (k, digest) = key(1, seq);
            assert!(
                matches!(w.check(k, digest, false), Verdict::Replay(_)),
                "seq {seq}"
            );
            assert_eq!(
                w.check(k, digest, true),
                Verdict::Duplicate,
                "seq {seq} redelivered"
            );
        }
        let (next, digest) = key(1, 11);
        assert_eq!(w.check(next, digest, false), Verdict::New);
        marked(&mut w, &[key(1, 11)]);
        file.record(&[key(1, 11)], &w).expect("record");
        let loaded = file.load();
        assert_eq!(loaded, w, "a new record after the old one");
        assert_eq!(loaded.check(next, digest, false), Verdict::Duplicate);
    }

    #[test]
    fn the_log_replays_on_top_of_the_snapshot_and_a_torn_tail_is_left_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file = WindowFile::in_dir(dir.path());
        let mut w = ReplayWindow::default();
        marked(&mut w, &[key(1, 0), key(1, 1)]);
        file.save(&w).expect("save");
        let batches = [vec![key(1, 2), key(1, 3)], vec![key(2, 0)], vec![key(1, 500)]];
        for batch in &batches {
            marked(&mut w, batch);
            file.record(batch, &w).expect("record");
        }
        assert_eq!(file.load(), w, "snapshot and log together");

        // A crash in the middle of an append leaves part of a record.
        let log = dir.path().join("replay-window.log");
        let whole = fs::read(&log).expect("read");
        let mut torn = whole.clone();
        torn.extend_from_slice(&encode_record(&[key(3, 9), key(3, 10)])[..17]);
        fs::write(&log, &torn).expect("write");
        let mut restarted = WindowFile::in_dir(dir.path());
        assert_eq!(restarted.load(), w, "the torn record is left out");

        // The next append cuts the torn tail off first, so it stays readable.
        marked(&mut w, &[key(3, 0)]);
        restarted.record(&[key(3, 0)], &w).expect("record");
        assert_eq!(restarted.load(), w);
        assert_eq!(
            fs::read(&log).expect("read").len(),
            whole.len() + encode_record(&[key(3, 0)]).len()
        );
    }

    /// Set in the child process of [`a_failed_append_leaves_nothing_that_hides_the_next_records`]:
    /// the directory it works in.
    const CHILD_DIR: &str = "CITYSENSE_WINDOW_FILE_CHILD_DIR";

    /// A failed append (a full disk) can leave part of a record in the log; the records appended
    /// after it still load. The file-size limit gives a real short write. The limit is per
    /// process, so the test runs itself again as a child that ignores SIGXFSZ (the write then
    /// fails instead of killing it) and does the work there.
    #[test]
    fn a_failed_append_leaves_nothing_that_hides_the_next_records() {
        if let Some(dir) = std::env::var_os(CHILD_DIR) {
            appends_across_the_file_size_limit(Path::new(&dir));
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = std::env::current_exe().expect("the test binary");
        let status = std::process::Command::new("sh")
            .args(["-c", "trap '' XFSZ; exec \"$0\" \"$@\""])
            .arg(exe)
            .args([
                "--exact",
                "pipeline::window_file::tests::a_failed_append_leaves_nothing_that_hides_the_next_records",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .status()
            .expect("run the child");
        assert!(status.success(), "the child failed: {status}");
        assert!(dir.path().join("done").exists(), "the child ran");
    }

    /// The child's part: appends across the file-size limit in `dir`.
    fn appends_across_the_file_size_limit(dir: &Path) {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let batch =
            |i: u32| -> Vec<(FrameKey, Digest)> { (4 * i..4 * i + 4).map(|seq| key(1, seq)).collect() };
        let record_len = encode_record(&batch(0)).len() as u64;
        let hard = getrlimit(Resource::Fsize).maximum;
        let limit = |current| {
            setrlimit(
                Resource::Fsize,
                Rlimit {
                    current,
                    maximum: hard,
                },
            )
            .expect("setrlimit")
        };
        let mut file = WindowFile::in_dir(dir);
        let (mut w, mut expected) = (ReplayWindow::default(), ReplayWindow::default());
        // Two records fit; the third stops partway.
        limit(Some(2 * record_len + record_len / 2));
        for i in 0..3 {
            marked(&mut w, &batch(i));
            let recorded = file.record(&batch(i), &w);
            if i < 2 {
                recorded.expect("below the limit");
                marked(&mut expected, &batch(i));
            } else {
                assert!(recorded.is_err(), "the third record crosses the limit");
            }
        }
        limit(hard);
        for i in 3..6 {
            marked(&mut w, &batch(i));
            file.record(&batch(i), &w).expect("record");
            marked(&mut expected, &batch(i));
        }
        assert_eq!(
            WindowFile::in_dir(dir).load(),
            expected,
            "every record but the failed one"
        );
        fs::write(dir.join("done"), b"").expect("write");
    }

    #[test]
    fn a_log_past_the_limit_is_folded_into_a_new_snapshot() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file = WindowFile::in_dir(dir.path());
        let mut w = ReplayWindow::default();
        let per_batch = (LOG_LIMIT as usize / KEY_BYTES) / 2 + 1;
        for batch in 0..3u32 {
            let keys: Vec<(FrameKey, Digest)> = (0..per_batch as u32)
                .map(|i| frame(i % 1_000, 1, batch * per_batch as u32 + i / 1_000))
                .collect();
            marked(&mut w, &keys);
            file.record(&keys, &w).expect("record");
        }
        let log = fs::metadata(dir.path().join("replay-window.log"))
            .expect("log")
            .len();
        assert_eq!(
            log, 0,
            "the third batch found the log past the limit and folded it"
        );
        assert_eq!(file.load(), w);
    }
}
