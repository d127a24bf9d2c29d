//! Tables, created on first open; `user_version` numbers the schema for later migrations.

use rusqlite::Connection;

use super::StoreError;

/// The schema this build writes; a database with a higher `user_version` is refused.
pub(crate) const VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- The local hourly history (store/hourly.rs): sums in steps of the parameter's resolution.
CREATE TABLE IF NOT EXISTS hourly (
    station TEXT NOT NULL, param TEXT NOT NULL, hour_ms INTEGER NOT NULL,
    sum_steps INTEGER NOT NULL, count INTEGER NOT NULL, slots INTEGER NOT NULL, per_unit INTEGER NOT NULL,
    PRIMARY KEY (station, param, hour_ms)
) WITHOUT ROWID;
-- The rule as JSON (ThresholdSpec): validated by the same code on the way in and out.
CREATE TABLE IF NOT EXISTS thresholds (
    id INTEGER PRIMARY KEY,
    spec TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
-- The alert as JSON, with the columns the queries filter on.
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY,
    station TEXT NOT NULL,
    rule_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_open ON alerts(state) WHERE state != 'resolved';
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    comment TEXT
);
CREATE INDEX IF NOT EXISTS transitions_alert ON transitions(alert_id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook TEXT NOT NULL,
    alert_id INTEGER NOT NULL,
    transition TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    next_attempt_ms INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON webhook_deliveries(status, next_attempt_ms);
CREATE TABLE IF NOT EXISTS lab_results (
    id INTEGER PRIMARY KEY,
    station TEXT NOT NULL,
    sampled_at TEXT NOT NULL,
    parameter TEXT NOT NULL,
    value REAL NOT NULL,
    entered_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lab_station ON lab_results(station, parameter, sampled_at);
-- Quality control between runs (store/quality.rs): each station's QC memory and coverage as
-- JSON, and the values QC left out of indices and alerts.
CREATE TABLE IF NOT EXISTS qc_state (station TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS qc_flagged (
    station TEXT NOT NULL, param TEXT NOT NULL, at_ms INTEGER NOT NULL,
    value REAL NOT NULL, flags INTEGER NOT NULL,
    PRIMARY KEY (station, at_ms, param)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS qc_flagged_time ON qc_flagged(at_ms);
-- Co-location calibrations (store/calibrations.rs): every fit, which one is applied, and the
-- one each replaced, so a rollback knows what to go back to.
CREATE TABLE IF NOT EXISTS calibrations (
    id INTEGER PRIMARY KEY, station TEXT NOT NULL, param TEXT NOT NULL,
    calibration TEXT NOT NULL, period_from TEXT NOT NULL, period_to TEXT NOT NULL,
    fitted_at TEXT NOT NULL, fitted_by TEXT NOT NULL, note TEXT NOT NULL,
    status TEXT NOT NULL, applied_at TEXT, applied_by TEXT, replaced INTEGER
);
CREATE INDEX IF NOT EXISTS calibrations_station ON calibrations(station, id);
-- Each change of a station's PM2.5 basis through the API (apply, roll back), so an export says
-- for each hour which basis its mean was computed on.
CREATE TABLE IF NOT EXISTS pm25_basis_changes (
    station TEXT NOT NULL, at_ms INTEGER NOT NULL, before TEXT NOT NULL, after TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pm25_basis_station ON pm25_basis_changes(station, at_ms);
";

pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > VERSION {
        return Err(StoreError::Sqlite(rusqlite::Error::InvalidParameterName(
            format!("database schema version {version} is newer than this build ({VERSION})"),
        )));
    }
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "user_version", VERSION)?;
    Ok(())
}
