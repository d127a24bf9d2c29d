use std::fs;

use super::*;

fn batch(n: usize, at: u64) -> SpooledBatch {
    SpooledBatch {
        spooled_at_ms: at,
        points: (0..n)
            .map(|i| SpooledPoint {
                topic: format!("p/node/{i}/telemetry"),
                payload: vec![i as u8; 40],
                line: format!("air_quality,node={i} pm2_5=1.5 {at}\n"),
            })
            .collect(),
    }
}

fn open(dir: &Path, max: u64, seg: u64) -> (Spool, OpenReport) {
    Spool::open(dir, max, seg).expect("open")
}

#[test]
fn drains_oldest_first_across_segments_and_deletes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = open(dir.path(), 1 << 20, 4096);
    for at in 1..=20 {
        spool.append(&batch(10, at)).expect("append");
    }
    assert!(
        fs::read_dir(dir.path()).expect("dir").count() > 3,
        "several segments"
    );
    assert_eq!(spool.oldest_ms(), Some(1));
    for at in 1..=20 {
        let b = spool.peek_oldest().expect("read").expect("a record");
        assert_eq!(b, batch(10, at));
        assert_eq!(
            spool.peek_oldest().expect("read").expect("same record"),
            b,
            "next repeats until commit"
        );
        spool.commit().expect("commit");
    }
    assert!(spool.peek_oldest().expect("read").is_none());
    assert!(spool.is_empty());
    assert_eq!(spool.bytes(), 0, "every segment deleted");
    spool.append(&batch(1, 99)).expect("append after a full drain");
    assert_eq!(spool.peek_oldest().expect("read"), Some(batch(1, 99)));
}

#[test]
fn a_restart_resumes_at_the_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = open(dir.path(), 1 << 20, 4096);
    for at in 1..=10 {
        spool.append(&batch(10, at)).expect("append");
    }
    for _ in 1..=4 {
        spool.peek_oldest().expect("read");
        spool.commit().expect("commit");
    }
    drop(spool);
    let (mut spool, report) = open(dir.path(), 1 << 20, 4096);
    assert_eq!(report.torn_bytes, 0);
    assert_eq!(
        spool.peek_oldest().expect("read"),
        Some(batch(10, 5)),
        "no record is sent twice"
    );
    assert_eq!(spool.oldest_ms(), Some(5));
}

#[test]
fn a_torn_last_record_is_cut_and_the_rest_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = open(dir.path(), 1 << 20, 1 << 20);
    spool.append(&batch(3, 1)).expect("append");
    spool.append(&batch(3, 2)).expect("append");
    drop(spool);
    let seg = fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .expect("segment");
    let full = fs::read(&seg).expect("read");
    // Every way a crash can cut the last record: mid-header, mid-payload, and garbage after it.
    for cut in [full.len() - 1, full.len() - 30, full.len() - 200] {
        let mut bytes = full.clone();
        bytes.truncate(cut);
        fs::write(&seg, &bytes).expect("write");
        let (mut spool, report) = open(dir.path(), 1 << 20, 1 << 20);
        assert!(report.torn_bytes > 0, "cut at {cut}");
        assert_eq!(spool.peek_oldest().expect("read"), Some(batch(3, 1)));
        spool.commit().expect("commit");
        assert_eq!(spool.peek_oldest().expect("read"), None);
        drop(spool);
        fs::write(&seg, &full).expect("restore");
        let _ = fs::remove_file(dir.path().join("cursor"));
    }
    let mut bytes = full.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&seg, &bytes).expect("write");
    let (_, report) = open(dir.path(), 1 << 20, 1 << 20);
    assert!(report.torn_bytes > 0, "a flipped byte fails the checksum");
}

#[test]
fn a_full_spool_refuses_and_frees_space_when_drained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = batch(10, 1).encode().len() as u64 + HEADER;
    let (mut spool, _) = open(dir.path(), 3 * record, record);
    for at in 1..=3 {
        spool.append(&batch(10, at)).expect("fits");
    }
    assert!(matches!(
        spool.append(&batch(10, 4)),
        Err(AppendError::Full { .. })
    ));
    spool.peek_oldest().expect("read");
    spool.commit().expect("commit");
    spool
        .append(&batch(10, 4))
        .expect("room again after a segment is drained");
}

#[test]
fn a_damaged_older_segment_is_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = open(dir.path(), 1 << 20, 100);
    for at in 1..=3 {
        spool.append(&batch(2, at)).expect("append");
    }
    drop(spool);
    let first = dir.path().join(format!("{:016}.seg", 1));
    let mut bytes = fs::read(&first).expect("read");
    bytes[20] ^= 0xff;
    fs::write(&first, bytes).expect("write");
    let (mut spool, _) = open(dir.path(), 1 << 20, 100);
    assert_eq!(spool.peek_oldest().expect("read"), Some(batch(2, 2)));
    assert_eq!(spool.corrupt_records(), 1);
}

fn segment_in(dir: &Path) -> PathBuf {
    fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .expect("segment")
}

/// Drains the spool, returning the batches and the damaged records met.
fn drain(spool: &mut Spool) -> (Vec<SpooledBatch>, u64) {
    let mut out = Vec::new();
    while let Some(b) = spool.peek_oldest().expect("read") {
        out.push(b);
        spool.commit().expect("commit");
    }
    (out, spool.corrupt_records())
}

#[test]
fn a_zero_filled_tail_is_cut_so_later_appends_are_drained() {
    // A power cut during an append can leave the file longer than what reached the disk, the
    // rest zeros; eight zero bytes read as an empty record whose checksum matches.
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = open(dir.path(), 1 << 20, 1 << 20);
    spool.append(&batch(3, 1)).expect("append");
    drop(spool);
    let seg = segment_in(dir.path());
    let mut bytes = fs::read(&seg).expect("read");
    bytes.extend_from_slice(&[0; 64]);
    fs::write(&seg, bytes).expect("write");
    let (mut spool, report) = open(dir.path(), 1 << 20, 1 << 20);
    assert_eq!(report.torn_bytes, 64, "the zeros are a torn tail");
    spool.append(&batch(3, 2)).expect("append after the restart");
    assert_eq!(
        drain(&mut spool),
        (vec![batch(3, 1), batch(3, 2)], 0),
        "the batch acked after the restart is drained, nothing reads as damaged"
    );
}

#[test]
fn a_failed_append_leaves_no_bytes_in_the_way_of_later_ones() {
    // The disk fills mid-record: that batch is not acked (the append returned an error), and
    // the next appends, which are acked, must be drained, in this run and after a restart.
    for restart in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut spool, _) = open(dir.path(), 1 << 20, 1 << 20);
        spool.append(&batch(3, 1)).expect("append");
        spool.fail_next_append_after = Some(30);
        assert!(matches!(spool.append(&batch(3, 2)), Err(AppendError::Io(_))));
        spool.append(&batch(3, 3)).expect("append after the failure");
        if restart {
            drop(spool);
            let (reopened, report) = open(dir.path(), 1 << 20, 1 << 20);
            assert_eq!(report.torn_bytes, 0, "restart {restart}");
            spool = reopened;
        }
        assert_eq!(
            drain(&mut spool),
            (vec![batch(3, 1), batch(3, 3)], 0),
            "restart {restart}"
        );
    }
}
