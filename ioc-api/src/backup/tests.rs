use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::Connection;

use super::*;
use crate::store::Store;

const AT: &str = "2026-01-01T00:00:00Z";

/// A database with the default rules and `rows` audit entries of 8 KiB each.
fn populated(path: &Path, rows: usize) -> Store {
    let store = Store::open(path).expect("open");
    crate::alerts::install_defaults(&store, 900, AT).expect("defaults");
    let detail = "x".repeat(8 * 1024);
    for i in 0..rows {
        store
            .audit(AT, "test", "admin", "fill", &format!("row/{i}"), &detail)
            .expect("audit");
    }
    store
}

fn audit_ids(path: &Path) -> Vec<i64> {
    let conn = Connection::open(path).expect("open");
    let mut stmt = conn.prepare("SELECT id FROM audit ORDER BY id").expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .expect("ids")
}

/// A backup taken while another connection commits a row every millisecond is one consistent
/// state (its audit ids have no gap, it passes the integrity check), SQLite started the copy
/// again at least once because of those commits, and it holds at least what was committed
/// before it began.
#[test]
fn a_backup_taken_while_the_database_is_written_is_consistent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ioc.sqlite");
    // About 2,000 pages of 8 KiB rows: several steps of 256 pages.
    let store = Arc::new(populated(&db, 1_000));
    let before = audit_ids(&db).len();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                store
                    .audit(AT, "test", "admin", "during", "backup", "{}")
                    .expect("audit");
                n += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            n
        })
    };
    let to = dir.path().join("backup.sqlite");
    let report = backup(&db, &to).expect("backup");
    stop.store(true, Ordering::Relaxed);
    let written_meanwhile = writer.join().expect("writer");
    assert!(written_meanwhile > 0, "the writer ran during the backup");
    assert!(
        report.restarts > 0,
        "SQLite restarted the copy after a commit: {report:?}"
    );
    assert_eq!(report.schema_version, crate::store::SCHEMA_VERSION);
    let ids = audit_ids(&to);
    assert!(
        ids.len() >= before,
        "{} rows in the backup, {before} before it",
        ids.len()
    );
    assert!(
        ids.iter().enumerate().all(|(i, id)| *id == i as i64 + 1),
        "the backup's rows are one committed state, without gaps"
    );
    assert!(
        !dir.path().join("backup.sqlite-wal").exists(),
        "a backup is a single file"
    );
    assert!(
        !dir.path().join(".backup.sqlite.partial").exists(),
        "the temporary file is renamed away"
    );
}

/// Restore refuses while an API holds the database and onto an existing database without
/// `force`; with it, the database afterwards is the backup's, not the old one.
#[test]
fn restore_refuses_a_running_api_and_an_existing_database_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ioc.sqlite");
    let store = populated(&db, 3);
    let to = dir.path().join("backup.sqlite");
    backup(&db, &to).expect("backup");
    store
        .audit(AT, "test", "admin", "after", "backup", "{}")
        .expect("audit");
    drop(store);

    let api = DatabaseLock::hold(&db).expect("the API's lock");
    let refused = restore(&to, &db, true).expect_err("the API runs");
    assert!(matches!(refused, BackupError::ApiRunning { .. }), "{refused}");
    drop(api);
    let refused = restore(&to, &db, false).expect_err("a database is there");
    assert!(matches!(refused, BackupError::Exists(_)), "{refused}");
    assert_eq!(
        audit_ids(&db).len(),
        4,
        "the refused restores left the database alone"
    );

    let report = restore(&to, &db, true).expect("restore");
    assert!(report.replaced);
    assert_eq!(
        audit_ids(&db).len(),
        3,
        "the backup's rows, not the old database's"
    );
    Store::open(&db).expect("the API opens the restored database");
}

/// A damaged backup, one from a newer schema and an SQLite file of something else are refused
/// before anything is touched, each with a message naming the problem.
#[test]
fn restore_checks_the_backup_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ioc.sqlite");
    drop(populated(&db, 200));
    let good = dir.path().join("good.sqlite");
    backup(&db, &good).expect("backup");
    let fresh = dir.path().join("fresh").join("ioc.sqlite");

    let damaged = dir.path().join("damaged.sqlite");
    let mut bytes = std::fs::read(&good).expect("read");
    let page = 4096;
    for b in &mut bytes[page * 3..page * 5] {
        *b = 0xA5;
    }
    std::fs::write(&damaged, bytes).expect("write");
    let refused = restore(&damaged, &fresh, false).expect_err("damaged");
    assert!(
        matches!(refused, BackupError::Damaged { .. } | BackupError::Sqlite { .. }),
        "{refused}"
    );

    let newer = dir.path().join("newer.sqlite");
    std::fs::copy(&good, &newer).expect("copy");
    Connection::open(&newer)
        .and_then(|c| c.pragma_update(None, "user_version", crate::store::SCHEMA_VERSION + 1))
        .expect("user_version");
    let refused = restore(&newer, &fresh, false).expect_err("newer");
    assert!(matches!(refused, BackupError::NewerSchema { .. }), "{refused}");

    let other = dir.path().join("other.sqlite");
    Connection::open(&other)
        .and_then(|c| c.execute_batch("CREATE TABLE meta (key TEXT, value TEXT);"))
        .expect("other");
    let refused = restore(&other, &fresh, false).expect_err("not ours");
    assert!(
        matches!(
            refused,
            BackupError::NotIocDatabase {
                table: "thresholds",
                ..
            }
        ),
        "{refused}"
    );
    assert!(!fresh.exists(), "nothing was put in place");
    restore(&good, &fresh, false).expect("the good backup restores onto a fresh machine");
}

/// A backup of a database of the first released schema (before the `hourly` table and the
/// `transmission_interrupted` rule) restores, and the next start brings it up to date keeping
/// its rules, tokens and audit log.
#[test]
fn a_backup_from_an_older_version_restores_and_migrates_at_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("old.sqlite");
    drop(populated(&db, 2));
    let conn = Connection::open(&db).expect("open");
    conn.execute_batch(
        "DROP TABLE hourly;
         DELETE FROM thresholds WHERE spec LIKE '%transmission_interrupted%';",
    )
    .expect("make it the older schema");
    let rules: i64 = conn
        .query_row("SELECT COUNT(*) FROM thresholds", [], |r| r.get(0))
        .expect("count");
    drop(conn);
    let to = dir.path().join("old-backup.sqlite");
    backup(&db, &to).expect("backup");

    let restored = dir.path().join("new").join("ioc.sqlite");
    restore(&to, &restored, false).expect("restore");
    let store = Store::open(&restored).expect("the migrations run");
    crate::alerts::install_defaults(&store, 900, AT).expect("defaults");
    let thresholds = store.thresholds().expect("thresholds");
    assert_eq!(
        thresholds.len() as i64,
        rules + 1,
        "the old rules and the one added since"
    );
    assert!(
        thresholds
            .iter()
            .any(|t| t.spec.parameter.as_str() == "transmission_interrupted")
    );
    assert_eq!(store.audit_log(10).expect("audit").len(), 2);
    store
        .hours(None, 0, i64::MAX)
        .expect("the hourly table exists again");
}
