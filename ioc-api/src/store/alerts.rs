//! Alerts and their transitions. Every change is one transaction: the alert row and the
//! transition that explains it are written together.

use rusqlite::params;

use super::{Store, StoreError};
use crate::alerts::{Alert, AlertState, Level, TransitionRecord};

/// Filters for listing alerts.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only alerts in this state.
    pub state: Option<AlertState>,
    /// Only open (firing or acknowledged) alerts.
    pub open: bool,
    /// Only this station's.
    pub station: Option<String>,
    /// Only those on this parameter (or station rule: `station_offline`, …).
    pub parameter: Option<String>,
    /// Only this level's.
    pub level: Option<Level>,
    /// Only those open at some time in [from, to): fired before `to`, and not resolved before
    /// `from`. RFC 3339 times, compared as instants (`julianday`), not as text, since a node's
    /// clock and the server's write different fractions of a second.
    pub period: Option<(String, String)>,
    /// At most this many, newest first.
    pub limit: usize,
}

impl Store {
    /// Stores a new alert with its `fired` transition; returns it with its id.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn insert_alert(&self, alert: &Alert, at: &str) -> Result<Alert, StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO alerts(station, rule_id, state, body) VALUES (?1, ?2, ?3, '{}')",
                params![alert.station, alert.rule_id, alert.state.as_str()],
            )?;
            let mut stored = alert.clone();
            stored.id = tx.last_insert_rowid();
            tx.execute(
                "UPDATE alerts SET body = ?1 WHERE id = ?2",
                params![serde_json::to_string(&stored)?, stored.id],
            )?;
            tx.execute(
                "INSERT INTO transitions(alert_id, kind, at, actor) VALUES (?1, 'fired', ?2, 'system')",
                params![stored.id, at],
            )?;
            tx.commit()?;
            Ok(stored)
        })
    }

    /// Stores an alert's new state with the transition that led to it.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn update_alert(
        &self,
        alert: &Alert,
        transition: Option<&TransitionRecord>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE alerts SET state = ?1, body = ?2 WHERE id = ?3",
                params![alert.state.as_str(), serde_json::to_string(alert)?, alert.id],
            )?;
            if let Some(t) = transition {
                tx.execute(
                    "INSERT INTO transitions(alert_id, kind, at, actor, comment) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![t.alert_id, t.kind, t.at, t.actor, t.comment],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Alerts, newest first.
    ///
    /// # Errors
    ///
    /// The database refused, or a stored alert does not parse.
    pub fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StoreError> {
        let mut sql = String::from("SELECT body FROM alerts WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        // One condition with one `?`, numbered as the value's place among the arguments.
        let mut bind = |condition: &str, value: String| {
            args.push(value);
            sql.push_str(" AND ");
            sql.push_str(&condition.replacen('?', &format!("?{}", args.len()), 1));
        };
        if let Some(state) = filter.state {
            bind("state = ?", state.as_str().into());
        }
        if let Some(station) = &filter.station {
            bind("station = ?", station.clone());
        }
        if let Some(parameter) = &filter.parameter {
            bind("json_extract(body, '$.parameter') = ?", parameter.clone());
        }
        if let Some(level) = filter.level {
            bind("json_extract(body, '$.level') = ?", level.as_str().into());
        }
        if let Some((from, to)) = &filter.period {
            bind(
                "julianday(json_extract(body, '$.fired_at')) < julianday(?)",
                to.clone(),
            );
            bind(
                "(json_extract(body, '$.resolved_at') IS NULL \
                 OR julianday(json_extract(body, '$.resolved_at')) >= julianday(?))",
                from.clone(),
            );
        }
        if filter.open {
            sql.push_str(" AND state != 'resolved'");
        }
        sql.push_str(" ORDER BY id DESC");
        if filter.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", filter.limit));
        }
        self.with(|c| {
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, String>(0))?;
            rows.map(|r| Ok(serde_json::from_str(&r?)?)).collect()
        })
    }

    /// One alert.
    ///
    /// # Errors
    ///
    /// The database refused, or the stored alert does not parse.
    pub fn alert(&self, id: i64) -> Result<Option<Alert>, StoreError> {
        self.with(|c| {
            let body: Option<String> = c
                .query_row("SELECT body FROM alerts WHERE id = ?1", [id], |r| r.get(0))
                .ok();
            body.map(|b| serde_json::from_str(&b).map_err(StoreError::from))
                .transpose()
        })
    }

    /// An alert's transitions, oldest first.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn transitions(&self, alert_id: i64) -> Result<Vec<TransitionRecord>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT kind, at, actor, comment FROM transitions WHERE alert_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([alert_id], |r| {
                Ok(TransitionRecord {
                    alert_id,
                    kind: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    comment: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
