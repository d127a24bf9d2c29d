//! Webhook deliveries: queued in the database so a restart loses none, retried with backoff,
//! with their status visible over the API.

use rusqlite::params;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreError};

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> DeliveryStatus {
        match s {
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        }
    }
}

/// One delivery of one alert change to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Delivery {
    /// Id.
    pub id: i64,
    /// The webhook's name from the config.
    pub webhook: String,
    /// The alert.
    pub alert_id: i64,
    /// The transition (`fired`, `resolved`, …).
    pub transition: String,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The receiver's last HTTP status.
    pub last_status: Option<u16>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: String,
    /// When it was delivered.
    pub delivered_at: Option<String>,
    /// The JSON body sent. Not in listings.
    #[serde(skip)]
    pub payload: String,
    /// When the next attempt is due, ms since the epoch.
    #[serde(skip)]
    pub next_attempt_ms: u64,
}

const COLUMNS: &str = "id, webhook, alert_id, transition, status, attempts, last_status, last_error, created_at, delivered_at, payload, next_attempt_ms";

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        webhook: r.get(1)?,
        alert_id: r.get(2)?,
        transition: r.get(3)?,
        status: DeliveryStatus::parse(&r.get::<_, String>(4)?),
        attempts: r.get(5)?,
        last_status: r.get(6)?,
        last_error: r.get(7)?,
        created_at: r.get(8)?,
        delivered_at: r.get(9)?,
        payload: r.get(10)?,
        next_attempt_ms: r.get::<_, i64>(11)?.max(0) as u64,
    })
}

impl Store {
    /// Queues a delivery, due now.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn queue_delivery(
        &self,
        webhook: &str,
        alert_id: i64,
        transition: &str,
        payload: &str,
        now: &str,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO webhook_deliveries(webhook, alert_id, transition, payload, status, next_attempt_ms, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6)",
                params![webhook, alert_id, transition, payload, now_ms as i64, now],
            )?;
            Ok(())
        })
    }

    /// Pending deliveries due at or before `now_ms`, oldest first.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn due_deliveries(&self, now_ms: u64, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_ms <= ?1
                 ORDER BY id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![now_ms as i64, limit as i64], read)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The earliest due time of a pending delivery.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn next_delivery_due(&self) -> Result<Option<u64>, StoreError> {
        self.with(|c| {
            let due: Option<i64> = c.query_row(
                "SELECT min(next_attempt_ms) FROM webhook_deliveries WHERE status = 'pending'",
                [],
                |r| r.get(0),
            )?;
            Ok(due.map(|d| d.max(0) as u64))
        })
    }

    /// Records an attempt's outcome.
    ///
    /// # Errors
    ///
    /// The database refused.
    #[allow(clippy::too_many_arguments)]
    pub fn record_attempt(
        &self,
        id: i64,
        status: DeliveryStatus,
        attempts: u32,
        http_status: Option<u16>,
        error: Option<&str>,
        next_attempt_ms: u64,
        delivered_at: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE webhook_deliveries SET status = ?1, attempts = ?2, last_status = ?3, last_error = ?4,
                 next_attempt_ms = ?5, delivered_at = ?6 WHERE id = ?7",
                params![
                    status.as_str(),
                    attempts,
                    http_status,
                    error,
                    next_attempt_ms as i64,
                    delivered_at,
                    id
                ],
            )?;
            Ok(())
        })
    }

    /// The newest deliveries, newest first.
    ///
    /// # Errors
    ///
    /// The database refused.
    pub fn deliveries(&self, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM webhook_deliveries ORDER BY id DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit as i64], read)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
