use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::*;
use crate::Config;
use crate::dead_letter::{DeadLetter, DeadLetterStore, read_all};
use crate::pipeline::window::{Digest, FrameKey, ReplayWindow, Verdict};
use crate::pipeline::window_file::WindowFile;
use crate::spool::{Spool, SpooledBatch, SpooledPoint};

/// The default config with the spool and dead letters in `dir`.
fn config_in(dir: &Path) -> Config {
    let mut config: Config =
        service::config::from_toml(crate::config::DEFAULT_CONFIG).expect("the example config");
    config.spool.dir = dir.join("spool");
    config.spool.segment_bytes = 4 * 1024;
    config.dead_letter.path = dir.join("dead-letter.jsonl");
    config.dead_letter.max_bytes = 8 * 1024;
    config
}

/// Batch `n`: one point whose line carries `n`.
fn batch(n: u32) -> SpooledBatch {
    SpooledBatch {
        spooled_at_ms: 1_700_000_000_000 + u64::from(n),
        points: vec![SpooledPoint {
            topic: "cs/node/101/telemetry".into(),
            payload: vec![n as u8; 40],
            line: format!("air_quality,node=101 seq={n}i {n}\n"),
        }],
    }
}

fn key(n: u32) -> (FrameKey, Digest) {
    (
        FrameKey {
            node: 101,
            boot: 1,
            seq: n,
        },
        Digest::from_bits(n.rotate_left(7) ^ 0x5a5a),
    )
}

/// Every batch left in the spool at `dir`, oldest first, by its number; and the bytes the open
/// cut as torn.
fn spooled(dir: &Path) -> (Vec<u32>, u64) {
    let (mut spool, report) = Spool::open(dir, u64::MAX, 4 * 1024).expect("open the spool");
    let mut numbers = Vec::new();
    while let Some(b) = spool.peek_oldest().expect("read") {
        let line = &b.points[0].line;
        let n = line
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .expect("a batch number");
        numbers.push(n);
        spool.commit().expect("commit");
    }
    (numbers, report.torn_bytes)
}

/// The collector's three stores, written by a thread as the collector writes them (spool
/// appends with small segments, a window record per batch, a dead letter per batch with
/// rotation) and drained from the front, while backups are taken one after the other. Each
/// backup restores onto a fresh state in which: the spool's batches are one unbroken run
/// (nothing torn, nothing skipped), every window key recorded before the backup began is known,
/// and the two dead-letter generations are successive (no record twice, none missing between
/// them).
#[test]
fn backups_taken_while_every_store_is_written_restore_consistent_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = config_in(&dir.path().join("live"));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU32::new(0));
    let writer = {
        let (live, stop, done) = (live.clone(), Arc::clone(&stop), Arc::clone(&done));
        std::thread::spawn(move || {
            let (mut spool, _) =
                Spool::open(&live.spool.dir, u64::MAX, live.spool.segment_bytes).expect("spool");
            let mut window_file = WindowFile::in_dir(&live.spool.dir);
            let mut window = ReplayWindow::default();
            let mut dead =
                DeadLetterStore::open(&live.dead_letter.path, live.dead_letter.max_bytes).expect("dl");
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                spool.append(&batch(n)).expect("append");
                let (k, d) = key(n);
                window.mark(k, d);
                window_file.record(&[(k, d)], &window).expect("record");
                dead.append(&DeadLetter::new("t", "bad_tag", n.to_string(), &[1; 30]))
                    .expect("dead letter");
                dead.sync().expect("sync");
                // The drainer keeps the spool short, deleting segments at the front.
                if n % 3 == 0 && spool.peek_oldest().expect("peek").is_some() {
                    spool.commit().expect("commit");
                }
                done.store(n + 1, Ordering::Release);
                n += 1;
            }
        })
    };
    let mut checked = 0;
    while checked < 8 {
        let before = done.load(Ordering::Acquire);
        if before < 50 {
            std::thread::yield_now();
            continue;
        }
        let backup_dir = dir.path().join(format!("backup-{checked}"));
        let manifest = backup(&live, &backup_dir).expect("backup");
        assert!(manifest.files.iter().any(|f| f.name.ends_with(".seg")));
        let fresh = config_in(&dir.path().join(format!("restored-{checked}")));
        restore(&fresh, &backup_dir, false).expect("restore onto a fresh state");

        let (numbers, torn) = spooled(&fresh.spool.dir);
        assert_eq!(torn, 0, "the backup cut the record being appended");
        assert!(!numbers.is_empty());
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "backup {checked}: the spool is one unbroken run: {numbers:?}"
        );
        assert!(
            *numbers.last().unwrap_or(&0) + 1 >= before,
            "backup {checked}: it holds what was spooled before it began ({before}): {numbers:?}"
        );

        let window = WindowFile::in_dir(&fresh.spool.dir).load();
        for n in 0..before {
            let (k, d) = key(n);
            assert_ne!(
                window.check(k, d, false),
                Verdict::New,
                "backup {checked}: key {n}"
            );
        }

        let (records, unreadable) = read_all(&fresh.dead_letter.path).expect("dead letters");
        assert_eq!(unreadable, 0, "the line being appended was cut");
        let details: Vec<u32> = records.iter().filter_map(|r| r.detail.parse().ok()).collect();
        assert!(
            details.windows(2).all(|w| w[1] == w[0] + 1),
            "backup {checked}: two successive generations: {details:?}"
        );
        checked += 1;
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
}

/// A running collector's lock makes restore refuse; state already there is refused without
/// `--force` and replaced with it; a file in the spool directory that is not the collector's
/// is refused even with it.
#[test]
fn restore_refuses_a_running_collector_and_existing_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = config_in(&dir.path().join("live"));
    {
        let (mut spool, _) = Spool::open(&live.spool.dir, u64::MAX, 4 * 1024).expect("spool");
        spool.append(&batch(1)).expect("append");
    }
    let backup_dir = dir.path().join("backup");
    backup(&live, &backup_dir).expect("backup");

    let target = config_in(&dir.path().join("target"));
    let running = StateLock::hold(&target.spool.dir).expect("a collector runs");
    let refused = restore(&target, &backup_dir, true).expect_err("running");
    assert!(
        matches!(refused, BackupError::CollectorRunning { .. }),
        "{refused}"
    );
    assert!(
        refused
            .to_string()
            .contains(&format!("pid {}", std::process::id())),
        "{refused}"
    );
    assert!(
        matches!(
            StateLock::exclusive(&target.spool.dir),
            Err(BackupError::CollectorRunning { .. })
        ),
        "and no restore while it runs"
    );
    drop(running);

    {
        let (mut spool, _) = Spool::open(&target.spool.dir, u64::MAX, 4 * 1024).expect("spool");
        spool.append(&batch(7)).expect("append");
        spool.append(&batch(8)).expect("append");
    }
    let segments = |config: &Config| -> Vec<Vec<u8>> {
        crate::spool::segment_ids(&config.spool.dir)
            .expect("list")
            .into_iter()
            .map(|id| std::fs::read(crate::spool::segment_path(&config.spool.dir, id)).expect("read"))
            .collect()
    };
    let before = segments(&target);
    let refused = restore(&target, &backup_dir, false).expect_err("state there");
    assert!(matches!(refused, BackupError::StateNotEmpty { .. }), "{refused}");
    assert_eq!(segments(&target), before, "a refused restore changes nothing");
    let report = restore(&target, &backup_dir, true).expect("forced");
    assert_eq!((report.segments, report.removed.len()), (1, 1));
    assert_eq!(
        spooled(&target.spool.dir).0,
        [1],
        "the backup's batch, not the old ones"
    );

    std::fs::write(target.spool.dir.join("notes.txt"), "mine").expect("write");
    let refused = restore(&target, &backup_dir, true).expect_err("a foreign file");
    assert!(matches!(refused, BackupError::ForeignFile(_)), "{refused}");
}

/// A file changed after the backup, a missing manifest (an interrupted backup) and a manifest
/// naming a path outside the state are refused before anything is written.
#[test]
fn restore_checks_the_backup_against_its_manifest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = config_in(&dir.path().join("live"));
    {
        let (mut spool, _) = Spool::open(&live.spool.dir, u64::MAX, 4 * 1024).expect("spool");
        spool.append(&batch(1)).expect("append");
    }
    let backup_dir = dir.path().join("backup");
    let manifest = backup(&live, &backup_dir).expect("backup");
    let target = config_in(&dir.path().join("target"));

    let segment = backup_dir.join(&manifest.files[0].name);
    let good = std::fs::read(&segment).expect("read");
    let mut changed = good.clone();
    changed[20] ^= 1;
    std::fs::write(&segment, &changed).expect("write");
    let refused = restore(&target, &backup_dir, false).expect_err("changed");
    assert!(
        matches!(&refused, BackupError::Mismatch { problem, .. } if problem.contains("SHA-256")),
        "{refused}"
    );
    std::fs::write(&segment, &good).expect("write");

    let text = std::fs::read_to_string(backup_dir.join(MANIFEST)).expect("manifest");
    let evil = text.replacen(&manifest.files[0].name, "spool/../../../etc/passwd", 1);
    std::fs::write(backup_dir.join(MANIFEST), evil).expect("write");
    let refused = restore(&target, &backup_dir, false).expect_err("outside");
    assert!(matches!(refused, BackupError::BadManifest { .. }), "{refused}");

    std::fs::remove_file(backup_dir.join(MANIFEST)).expect("remove");
    let refused = restore(&target, &backup_dir, false).expect_err("no manifest");
    assert!(matches!(refused, BackupError::NoManifest { .. }), "{refused}");
    assert!(
        !target.dead_letter.path.exists() && crate::spool::segment_ids(&target.spool.dir).is_err(),
        "nothing was written"
    );

    let again = dir.path().join("again");
    std::fs::create_dir_all(&again).expect("dir");
    std::fs::write(again.join("x"), "x").expect("write");
    assert!(matches!(
        backup(&live, &again),
        Err(BackupError::TargetNotEmpty(_))
    ));
}

/// A record being appended when the copy is taken (part of a spool record, of a window-log
/// record, of a dead-letter line) is left out of the copy and its manifest, as the restart
/// after a crash leaves it out; everything before it is in.
#[test]
fn a_record_being_appended_is_left_out_of_the_copy() {
    use std::io::Write;

    let dir = tempfile::tempdir().expect("tempdir");
    let live = config_in(&dir.path().join("live"));
    {
        let (mut spool, _) = Spool::open(&live.spool.dir, u64::MAX, 1 << 20).expect("spool");
        for n in 0..3 {
            spool.append(&batch(n)).expect("append");
        }
        let mut window_file = WindowFile::in_dir(&live.spool.dir);
        let mut window = ReplayWindow::default();
        for n in 0..3 {
            let (k, d) = key(n);
            window.mark(k, d);
            window_file.record(&[(k, d)], &window).expect("record");
        }
        let mut dead = DeadLetterStore::open(&live.dead_letter.path, 1 << 20).expect("dl");
        dead.append(&DeadLetter::new("t", "bad_tag", "0".into(), &[1]))
            .expect("append");
        dead.sync().expect("sync");
    }
    let append = |path: &Path, bytes: &[u8]| {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .expect("append part of a record");
    };
    let segment = crate::spool::segment_path(&live.spool.dir, 1);
    let whole = std::fs::metadata(&segment).expect("segment").len();
    append(&segment, &batch(3).encode()[..10]);
    append(&live.spool.dir.join("replay-window.log"), &[2, 0, 0, 0x80, 1, 2]);
    append(&live.dead_letter.path, b"{\"rejected_at\":\"2026");

    let backup_dir = dir.path().join("backup");
    let manifest = backup(&live, &backup_dir).expect("backup");
    let size = |name: &str| manifest.files.iter().find(|f| f.name == name).map(|f| f.bytes);
    assert_eq!(size("spool/0000000000000001.seg"), Some(whole));
    let fresh = config_in(&dir.path().join("fresh"));
    restore(&fresh, &backup_dir, false).expect("restore");
    assert_eq!(spooled(&fresh.spool.dir), (vec![0, 1, 2], 0));
    let window = WindowFile::in_dir(&fresh.spool.dir).load();
    for n in 0..3 {
        let (k, d) = key(n);
        assert_eq!(window.check(k, d, false), Verdict::Duplicate, "key {n}");
    }
    let log = std::fs::read(fresh.spool.dir.join("replay-window.log")).expect("log");
    assert_eq!(crate::pipeline::window_file::whole_records_len(&log), log.len());
    assert_eq!(read_all(&fresh.dead_letter.path).expect("dead letters").1, 0);
}
