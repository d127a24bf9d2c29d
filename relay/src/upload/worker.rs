//! One thread per receiver: takes the outbox's files in order, checks whether the server already
//! has each (a crash after the rename, before the bookkeeping), uploads it otherwise, and records
//! it as taken. A failure waits and tries the same file again, so the order holds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{info, warn};

use super::{Receiver, ReceiverConfig, receiver};
use crate::outbox::{Outbox, Stored};
use crate::stats::Stats;

/// How long an idle worker waits before it looks at the outbox again.
const IDLE: Duration = Duration::from_millis(250);
/// The first wait after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Told of each file a receiver has taken: the receiver's name, the file, and whether it was
/// found already there.
pub type Announce = Arc<dyn Fn(&str, &Stored, bool) + Send + Sync>;

/// Starts the worker of receiver `index`; it stops when `stop` is set, after the file at hand.
pub fn spawn(
    index: usize,
    config: &ReceiverConfig,
    (outbox, stats): (Arc<Mutex<Outbox>>, Arc<Stats>),
    announce: Announce,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    let name = config.name.clone();
    let receiver = receiver(config);
    std::thread::Builder::new()
        .name(format!("relay-{name}"))
        .spawn(move || run(index, &name, receiver, (&outbox, &stats), &announce, &stop))
}

fn run(
    index: usize,
    name: &str,
    mut receiver: Box<dyn Receiver>,
    (outbox, stats): (&Mutex<Outbox>, &Stats),
    announce: &Announce,
    stop: &AtomicBool,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        let next = lock(outbox).next_for(index);
        let Some(file) = next else {
            std::thread::sleep(IDLE);
            continue;
        };
        match deliver(index, receiver.as_mut(), outbox, &file) {
            Ok(already_there) => {
                stats.uploaded(index, already_there, now_ms());
                announce(name, &file, already_there);
                if failing {
                    info!(receiver = name, "The receiver takes files again.");
                    failing = false;
                }
                backoff = FIRST_BACKOFF;
            }
            Err(e) => {
                stats.failed(index, e.clone());
                if !failing {
                    warn!(receiver = name, file = %file.name, error = %e, "Upload failed; the file waits and is tried again, in order.");
                    failing = true;
                }
                wait(backoff, stop);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Sends one file unless the server has it; true when it was already there.
fn deliver(
    index: usize,
    receiver: &mut dyn Receiver,
    outbox: &Mutex<Outbox>,
    file: &Stored,
) -> Result<bool, String> {
    let path = lock(outbox).path_of(file);
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let there = receiver
        .size_of(&file.folder, &file.name)
        .map_err(|e| e.to_string())?;
    let already_there = there == Some(bytes.len() as u64);
    if !already_there {
        receiver
            .upload(&file.folder, &file.name, &bytes)
            .map_err(|e| e.to_string())?;
    }
    lock(outbox)
        .mark_sent(index, file)
        .map_err(|e| format!("uploaded, but the outbox could not record it (it is checked again): {e}"))?;
    Ok(already_there)
}

fn wait(total: Duration, stop: &AtomicBool) {
    let mut left = total;
    while !left.is_zero() && !stop.load(Ordering::Relaxed) {
        let step = left.min(IDLE);
        std::thread::sleep(step);
        left -= step;
    }
}

fn lock(outbox: &Mutex<Outbox>) -> std::sync::MutexGuard<'_, Outbox> {
    outbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::UploadError;

    /// A server that holds what it was given, by path.
    #[derive(Default)]
    struct Held {
        files: std::collections::BTreeMap<String, Vec<u8>>,
        uploads: usize,
    }

    impl Receiver for Held {
        fn upload(&mut self, dir: &str, name: &str, bytes: &[u8]) -> Result<(), UploadError> {
            self.uploads += 1;
            self.files.insert(format!("{dir}/{name}"), bytes.to_vec());
            Ok(())
        }

        fn size_of(&mut self, dir: &str, name: &str) -> Result<Option<u64>, UploadError> {
            Ok(self.files.get(&format!("{dir}/{name}")).map(|b| b.len() as u64))
        }
    }

    #[test]
    fn a_file_renamed_before_a_crash_is_recorded_not_sent_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = Mutex::new(Outbox::open(dir.path(), &["a".to_owned()], 1 << 20, 60).expect("outbox"));
        lock(&outbox)
            .write(
                1,
                "S",
                ("S", "one.txt"),
                b"PM2.5\t1.0\tug/m3\t20261207000500\t00\n",
            )
            .expect("write");
        let file = lock(&outbox).next_for(0).expect("pending");
        // The upload and rename happened; the crash came before the outbox recorded it.
        let mut server = Held::default();
        server
            .upload(
                "S",
                "one.txt",
                &std::fs::read(lock(&outbox).path_of(&file)).expect("read"),
            )
            .expect("upload");
        assert_eq!(deliver(0, &mut server, &outbox, &file), Ok(true));
        assert_eq!(server.uploads, 1, "not uploaded a second time");
        assert!(lock(&outbox).next_for(0).is_none());
        // A half file under the real name (a server that does not rename atomically) is replaced.
        lock(&outbox)
            .write(
                2,
                "S",
                ("S", "two.txt"),
                b"PM2.5\t2.0\tug/m3\t20261207001000\t00\n",
            )
            .expect("write");
        let file = lock(&outbox).next_for(0).expect("pending");
        server.files.insert("S/two.txt".into(), b"PM2".to_vec());
        assert_eq!(deliver(0, &mut server, &outbox, &file), Ok(false));
        assert_eq!(server.files["S/two.txt"].len(), 34);
    }
}
