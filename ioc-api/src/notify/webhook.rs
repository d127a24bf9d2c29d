//! Webhook deliveries: every alert change is queued in SQLite per webhook, POSTed with an HMAC
//! signature, and retried with exponential backoff and jitter until delivered or out of
//! attempts. The queue is the database, so deliveries survive a restart.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use sha2::Sha256;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::WebhookConfig;
use crate::store::{Delivery, DeliveryStatus, Store};
use crate::time_fmt::rfc3339;

/// `sha256=<hex>` of HMAC-SHA256(secret, `<timestamp>.<body>`): the timestamp in the MAC lets a
/// receiver refuse replays of old deliveries.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; this arm is unreachable.
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The delay before attempt `attempt + 1`: initial × 2^(attempt−1), capped, ±20 % jitter.
pub fn backoff_ms(hook: &WebhookConfig, attempt: u32) -> u64 {
    let exp = hook
        .initial_backoff_ms
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(30))
        .min(hook.max_backoff_ms);
    let jitter = rand::rng().random_range(0.8..1.2);
    ((exp as f64) * jitter) as u64
}

fn now_ms() -> u64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).max(0) as u64
}

/// Sends due deliveries until `cancel`; `wake` is notified when new ones are queued.
pub async fn deliver(
    hooks: Vec<WebhookConfig>,
    store: Arc<Store>,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    if hooks.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder().no_proxy().build() {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "Cannot build the webhook HTTP client; webhooks are not delivered.");
            return;
        }
    };
    loop {
        let due = store.due_deliveries(now_ms(), 64).unwrap_or_else(|e| {
            warn!(error = %e, "Cannot read the webhook queue.");
            Vec::new()
        });
        for delivery in due {
            if let Some(hook) = hooks.iter().find(|h| h.name == delivery.webhook) {
                attempt(&client, hook, &store, delivery).await;
            } else {
                // A webhook removed from the config: its queued deliveries fail.
                let _ = store.record_attempt(
                    delivery.id,
                    DeliveryStatus::Failed,
                    delivery.attempts,
                    None,
                    Some("webhook no longer configured"),
                    0,
                    None,
                );
            }
        }
        let wait = match store.next_delivery_due() {
            Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms()).clamp(10, 60_000)),
            _ => Duration::from_secs(60),
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn attempt(client: &reqwest::Client, hook: &WebhookConfig, store: &Store, delivery: Delivery) {
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let attempts = delivery.attempts + 1;
    let result = client
        .post(&hook.url)
        .timeout(Duration::from_millis(hook.timeout_ms))
        .header("content-type", "application/json")
        .header("x-citysense-delivery", delivery.id.to_string())
        .header("x-citysense-timestamp", timestamp.to_string())
        .header(
            "x-citysense-signature",
            signature(hook.secret.expose(), timestamp, &delivery.payload),
        )
        .body(delivery.payload.clone())
        .send()
        .await;
    let (status, error) = match result {
        Ok(response) if response.status().is_success() => {
            let _ = store.record_attempt(
                delivery.id,
                DeliveryStatus::Delivered,
                attempts,
                Some(response.status().as_u16()),
                None,
                0,
                Some(&rfc3339(OffsetDateTime::now_utc())),
            );
            info!(webhook = %hook.name, delivery = delivery.id, attempts, "Webhook delivered.");
            return;
        }
        Ok(response) => (
            Some(response.status().as_u16()),
            format!("receiver answered {}", response.status()),
        ),
        Err(e) => (None, format!("request failed: {e}")),
    };
    let failed = attempts >= hook.max_attempts;
    let next = now_ms() + backoff_ms(hook, attempts);
    warn!(webhook = %hook.name, delivery = delivery.id, attempts, error = %error, gave_up = failed, "Webhook attempt failed.");
    let _ = store.record_attempt(
        delivery.id,
        if failed {
            DeliveryStatus::Failed
        } else {
            DeliveryStatus::Pending
        },
        attempts,
        status,
        Some(&error),
        next,
        None,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use service::Secret;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_and_body() {
        // Computed independently with Python's hmac module:
        // hmac.new(b"0123456789abcdef", b"1700000000.{}", "sha256").hexdigest()
        let sig = signature("0123456789abcdef", 1_700_000_000, "{}");
        assert_eq!(
            sig,
            "sha256=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e"
        );
        assert_ne!(sig, signature("0123456789abcdef", 1_700_000_001, "{}"));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let hook = WebhookConfig {
            name: "h".into(),
            url: "http://127.0.0.1:1".into(),
            secret: Secret::new("0123456789abcdef"),
            secret_file: None,
            max_attempts: 5,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 5_000,
            timeout_ms: 1_000,
        };
        assert!((800..=1_200).contains(&backoff_ms(&hook, 1)));
        assert!((1_600..=2_400).contains(&backoff_ms(&hook, 2)));
        assert!((4_000..=6_000).contains(&backoff_ms(&hook, 10)));
    }
}
