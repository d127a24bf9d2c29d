//! The outbox: every file the relay wrote, on disk, with which receiver has taken it.
//!
//! Layout under the outbox folder:
//! - `files/<folder>/<name>`: the files, laid out as on the receivers;
//! - `written.log`: one line per file in the order written,
//!   `<interval ms>\t<bytes>\t<station>\t<folder>\t<name>`;
//! - `sent/<receiver>.log`: one line per file that receiver has taken, `<folder>\t<name>`.
//!
//! A file is written to a temporary name, synced, renamed and its folder synced before its line
//! is appended and synced; only then are the messages it covers dropped from the journal. Files
//! go to each receiver in the order written. Sent files are kept `keep_days` (the data logger's
//! 60 days, Circular 10/2021), then removed oldest first; when the outbox reaches `max_bytes`
//! the oldest files every receiver has taken go first, and if none has, the outbox is full and
//! the relay stops taking messages (the broker keeps them) until a receiver takes files again.

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::journal::sync_dir;

/// One file in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its interval, ms since the Unix epoch (for age and order).
    pub interval_ms: u64,
    /// Its size.
    pub bytes: u64,
    /// The station's registry id.
    pub station: String,
    /// Folder, relative to a receiver's root, `/`-separated (may be empty).
    pub folder: String,
    /// File name.
    pub name: String,
}

impl Stored {
    /// Its line in `written.log`.
    fn log_line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\n",
            self.interval_ms, self.bytes, self.station, self.folder, self.name
        )
    }

    fn key(&self) -> String {
        key(&self.folder, &self.name)
    }
}

fn key(folder: &str, name: &str) -> String {
    format!("{folder}\t{name}")
}

#[derive(Debug)]
struct ReceiverLog {
    name: String,
    sent: HashSet<String>,
    /// Every file before this index is taken: a worker takes files in order, so the files it
    /// has not taken are a short tail, and neither the next file nor the count of those waiting
    /// looks through the 60 days of files already sent.
    first_unsent: usize,
    log: File,
}

impl ReceiverLog {
    /// Moves `first_unsent` past the files taken.
    fn advance(&mut self, files: &VecDeque<Stored>) {
        while files
            .get(self.first_unsent)
            .is_some_and(|f| self.sent.contains(&f.key()))
        {
            self.first_unsent += 1;
        }
    }

    /// The files not taken, oldest first.
    fn waiting<'f>(&'f self, files: &'f VecDeque<Stored>) -> impl Iterator<Item = &'f Stored> {
        files
            .iter()
            .skip(self.first_unsent)
            .filter(|f| !self.sent.contains(&f.key()))
    }
}

/// The outbox.
#[derive(Debug)]
pub struct Outbox {
    root: PathBuf,
    max_bytes: u64,
    keep_ms: u64,
    files: VecDeque<Stored>,
    names: HashSet<String>,
    bytes: u64,
    written_log: File,
    receivers: Vec<ReceiverLog>,
}

impl Outbox {
    /// Opens the outbox at `root` for `receivers` (by name), creating it when new, and drops
    /// what its logs name but a crash left unfinished.
    ///
    /// # Errors
    ///
    /// A folder or log cannot be read or written.
    pub fn open(root: &Path, receivers: &[String], max_bytes: u64, keep_days: u64) -> io::Result<Outbox> {
        fs::create_dir_all(root.join("files"))?;
        fs::create_dir_all(root.join("sent"))?;
        let mut files = VecDeque::new();
        let mut names = HashSet::new();
        let mut bytes = 0;
        for line in read_lines(&root.join("written.log"))? {
            let parts: Vec<&str> = line.split('\t').collect();
            let [ms, size, station, folder, name] = parts[..] else {
                continue;
            };
            let (Ok(interval_ms), Ok(size)) = (ms.parse(), size.parse()) else {
                continue;
            };
            let stored = Stored {
                interval_ms,
                bytes: size,
                station: station.to_owned(),
                folder: folder.to_owned(),
                name: name.to_owned(),
            };
            // A line whose file is gone (removed by hand) names nothing to send.
            if root
                .join("files")
                .join(&stored.folder)
                .join(&stored.name)
                .is_file()
                && names.insert(stored.key())
            {
                bytes += stored.bytes;
                files.push_back(stored);
            }
        }
        let mut logs = Vec::new();
        for name in receivers {
            let path = root.join("sent").join(format!("{name}.log"));
            let sent = read_lines(&path)?
                .into_iter()
                .filter(|k| names.contains(k))
                .collect();
            let mut log = ReceiverLog {
                name: name.clone(),
                sent,
                first_unsent: 0,
                log: OpenOptions::new().create(true).append(true).open(&path)?,
            };
            log.advance(&files);
            logs.push(log);
        }
        let mut outbox = Outbox {
            root: root.to_owned(),
            max_bytes,
            keep_ms: keep_days * 86_400_000,
            files,
            names,
            bytes,
            written_log: OpenOptions::new()
                .create(true)
                .append(true)
                .open(root.join("written.log"))?,
            receivers: logs,
        };
        outbox.compact_logs()?;
        Ok(outbox)
    }

    /// Whether a file `folder/name` was written.
    pub fn contains(&self, folder: &str, name: &str) -> bool {
        self.names.contains(&key(folder, name))
    }

    /// Writes a file durably and queues it for every receiver.
    ///
    /// # Errors
    ///
    /// A write, sync or rename failed; the file is then not queued.
    pub fn write(
        &mut self,
        interval_ms: u64,
        station: &str,
        (folder, name): (&str, &str),
        text: &[u8],
    ) -> io::Result<()> {
        let dir = self.root.join("files").join(folder);
        fs::create_dir_all(&dir)?;
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(text)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        sync_dir(&path)?;
        let stored = Stored {
            interval_ms,
            bytes: text.len() as u64,
            station: station.to_owned(),
            folder: folder.to_owned(),
            name: name.to_owned(),
        };
        self.written_log.write_all(stored.log_line().as_bytes())?;
        self.written_log.sync_data()?;
        self.names.insert(stored.key());
        self.bytes += stored.bytes;
        self.files.push_back(stored);
        Ok(())
    }

    /// The next file receiver `r` (its index) has not taken, oldest written first.
    pub fn next_for(&self, r: usize) -> Option<Stored> {
        self.receivers.get(r)?.waiting(&self.files).next().cloned()
    }

    /// The path of a stored file.
    pub fn path_of(&self, f: &Stored) -> PathBuf {
        self.root.join("files").join(&f.folder).join(&f.name)
    }

    /// Records that receiver `r` has taken `f`.
    ///
    /// # Errors
    ///
    /// The receiver's log cannot be written; the file is then sent again later.
    pub fn mark_sent(&mut self, r: usize, f: &Stored) -> io::Result<()> {
        let Some(log) = self.receivers.get_mut(r) else {
            return Ok(());
        };
        writeln!(log.log, "{}", f.key())?;
        log.log.sync_data()?;
        log.sent.insert(f.key());
        log.advance(&self.files);
        Ok(())
    }

    /// How many files receiver `r` has not taken, and the interval of the oldest.
    pub fn pending(&self, r: usize) -> (usize, Option<u64>) {
        let Some(log) = self.receivers.get(r) else {
            return (0, None);
        };
        let mut waiting = log.waiting(&self.files);
        let oldest = waiting.next().map(|f| f.interval_ms);
        (waiting.count() + usize::from(oldest.is_some()), oldest)
    }

    /// Bytes held, and the limit.
    pub fn usage(&self) -> (u64, u64) {
        (self.bytes, self.max_bytes)
    }

    /// Whether the outbox has no room for another file.
    pub fn is_full(&self) -> bool {
        self.bytes >= self.max_bytes
    }

    /// Removes the files every receiver has taken that are older than `keep_days` at `now_ms`,
    /// then, while over `max_bytes`, the oldest taken files; returns how many went.
    ///
    /// # Errors
    ///
    /// A file or log could not be removed or rewritten.
    pub fn prune(&mut self, now_ms: u64) -> io::Result<usize> {
        let mut removed = 0;
        while let Some(front) = self.files.front() {
            let taken = self.receivers.iter().all(|r| r.sent.contains(&front.key()));
            let old = front.interval_ms + self.keep_ms < now_ms;
            if !taken || !(old || self.bytes > self.max_bytes) {
                break;
            }
            let Some(f) = self.files.pop_front() else { break };
            match fs::remove_file(self.path_of(&f)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.names.remove(&f.key());
            for r in &mut self.receivers {
                r.sent.remove(&f.key());
                // The file removed was taken by every receiver, so it was before each cursor.
                r.first_unsent = r.first_unsent.saturating_sub(1);
            }
            self.bytes -= f.bytes;
            removed += 1;
        }
        if removed > 0 {
            self.compact_logs()?;
        }
        Ok(removed)
    }

    /// Rewrites the logs with only the files still held.
    fn compact_logs(&mut self) -> io::Result<()> {
        let written: String = self.files.iter().map(Stored::log_line).collect();
        self.written_log = replace(&self.root.join("written.log"), &written)?;
        for r in &mut self.receivers {
            let sent: String = self
                .files
                .iter()
                .filter(|f| r.sent.contains(&f.key()))
                .map(|f| format!("{}\n", f.key()))
                .collect();
            r.log = replace(&self.root.join("sent").join(format!("{}.log", r.name)), &sent)?;
        }
        Ok(())
    }
}

/// Writes `text` to `path` through a synced temporary file and a rename; returns it open for
/// appending.
fn replace(path: &Path, text: &str) -> io::Result<File> {
    let tmp = path.with_extension("log.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    sync_dir(path)?;
    OpenOptions::new().append(true).open(path)
}

fn read_lines(path: &Path) -> io::Result<Vec<String>> {
    match fs::read_to_string(path) {
        // A line cut by a crash (no newline yet) was never synced as written: it is dropped.
        Ok(text) => Ok(text
            .split_inclusive('\n')
            .filter_map(|l| l.strip_suffix('\n'))
            .map(str::to_owned)
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    #[test]
    fn files_wait_for_each_receiver_in_order_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let receivers = ["a".to_owned(), "b".to_owned()];
        {
            let mut o = Outbox::open(dir.path(), &receivers, 1 << 20, 60).expect("open");
            o.write(1, "S", ("S/2026/12/07", "one.txt"), b"1\n")
                .expect("write");
            o.write(2, "S", ("S/2026/12/07", "two.txt"), b"22\n")
                .expect("write");
            let first = o.next_for(0).expect("pending");
            assert_eq!(first.name, "one.txt");
            assert_eq!(std::fs::read(o.path_of(&first)).expect("file"), b"1\n");
            o.mark_sent(0, &first).expect("sent");
            assert_eq!(o.pending(0), (1, Some(2)));
            assert_eq!(o.pending(1), (2, Some(1)));
        }
        let o = Outbox::open(dir.path(), &receivers, 1 << 20, 60).expect("reopen");
        assert_eq!(o.next_for(0).map(|f| f.name), Some("two.txt".into()));
        assert_eq!(o.next_for(1).map(|f| f.name), Some("one.txt".into()));
        assert!(o.contains("S/2026/12/07", "one.txt"));
        assert_eq!(o.usage().0, 5);
    }

    #[test]
    fn only_files_every_receiver_took_are_pruned_oldest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut o = Outbox::open(dir.path(), &["a".to_owned()], 10, 60).expect("open");
        o.write(DAY, "S", ("", "old.txt"), b"12345").expect("write");
        o.write(2 * DAY, "S", ("", "new.txt"), b"12345").expect("write");
        assert!(o.is_full());
        assert_eq!(o.prune(100 * DAY).expect("prune"), 0, "nothing taken yet");
        let old = o.next_for(0).expect("pending");
        o.mark_sent(0, &old).expect("sent");
        assert_eq!(
            o.prune(3 * DAY).expect("prune"),
            0,
            "young and not over the limit"
        );
        assert_eq!(o.prune(62 * DAY).expect("prune"), 1, "older than 60 days");
        assert!(!o.contains("", "old.txt") && o.contains("", "new.txt"));
        assert!(!o.is_full());
        let o = Outbox::open(dir.path(), &["a".to_owned()], 10, 60).expect("reopen");
        assert_eq!(o.pending(0), (1, Some(2 * DAY)));
    }
}
