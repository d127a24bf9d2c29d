//! Alert changes out to the event stream, MQTT and the webhook queue.

use std::sync::atomic::Ordering;

use time::OffsetDateTime;
use tracing::{info, warn};

use super::AppState;
use crate::alerts::{AlertChange, Transition};
use crate::notify::Outbound;
use crate::time_fmt::rfc3339;

impl AppState {
    /// Sends alert changes everywhere: the stream always; MQTT and webhooks unless the change
    /// only concerns a suppressed alert's staleness.
    pub(crate) fn announce(&self, changes: Vec<AlertChange>) {
        let now = OffsetDateTime::now_utc();
        for change in changes {
            let alert = &change.alert;
            info!(alert = alert.id, station = %alert.station, parameter = %alert.parameter, transition = change.transition.as_str(), value = alert.last_value, "Alert {}.", change.transition.as_str());
            self.metrics.alert_changes.fetch_add(1, Ordering::Relaxed);
            self.hub.publish("alert", &change);
            let quiet =
                alert.suppressed && matches!(change.transition, Transition::Stale | Transition::Fresh);
            if quiet {
                continue;
            }
            let Ok(payload) = serde_json::to_string(&change) else {
                continue;
            };
            if self.alerts_to_mqtt {
                self.publish_alert(&alert.station, &payload);
            }
            let now_ms = (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
            for hook in &self.webhooks {
                if let Err(e) = self.store.queue_delivery(
                    hook,
                    alert.id,
                    change.transition.as_str(),
                    &payload,
                    &rfc3339(now),
                    now_ms,
                ) {
                    warn!(webhook = %hook, error = %e, "Cannot queue a webhook delivery.");
                }
            }
            if !self.webhooks.is_empty() {
                self.webhook_wake.notify_one();
            }
        }
    }

    /// `{prefix}/alerts/{station}`: retained while the station has an open alert; when the last
    /// one resolves, the change goes out unretained and the retained message is cleared.
    fn publish_alert(&self, station: &str, payload: &str) {
        let topic = format!("{}/alerts/{station}", self.prefix);
        let open = !self.engine().open_for(station).is_empty();
        let mut messages = vec![Outbound {
            topic: topic.clone(),
            payload: payload.as_bytes().to_vec(),
            retain: open,
        }];
        if !open {
            messages.push(Outbound {
                topic,
                payload: Vec::new(),
                retain: true,
            });
        }
        for message in messages {
            if self.outbound.try_send(message).is_err() {
                self.metrics.mqtt_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
