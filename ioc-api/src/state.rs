//! The API's shared state and the ingest step that feeds it from verified frames.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use protocol::Frame;
use protocol::registry::{NodeInfo, Registry};
use time::OffsetDateTime;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::alerts::{AlertBook, Evaluation, Pm25Rule, Transition};
use crate::events::Event;
use crate::live::{Reading, Stations};

/// Capacity of the event fan-out; a dashboard that falls further behind skips ahead.
const EVENT_BUFFER: usize = 1_024;

/// Everything the handlers read, shared behind an `Arc`.
#[derive(Debug)]
pub struct AppState {
    pub(crate) stations: RwLock<Stations>,
    pub(crate) alerts: RwLock<AlertBook>,
    pub(crate) events: broadcast::Sender<(u64, Event)>,
    pub(crate) rule: Pm25Rule,
    pub(crate) offline_after: time::Duration,
    pub(crate) mqtt_connected: AtomicBool,
    /// True once the broker granted the subscriptions.
    pub(crate) subscribed: watch::Sender<bool>,
    /// Cancelled when the server stops, so open event streams end and shutdown can finish.
    pub(crate) shutdown: CancellationToken,
    next_event_id: AtomicU64,
    rejected: AtomicU64,
}

/// Locks recover from poisoning: a panicked handler must not take the whole API down.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    /// Fresh state for the registered stations.
    pub fn new(registry: &Registry, rule: Pm25Rule, offline_after: time::Duration) -> Arc<Self> {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Arc::new(AppState {
            stations: RwLock::new(Stations::new(registry, rule.window_ms())),
            alerts: RwLock::new(AlertBook::default()),
            events,
            rule,
            offline_after,
            mqtt_connected: AtomicBool::new(false),
            subscribed: watch::channel(false).0,
            shutdown: CancellationToken::new(),
            next_event_id: AtomicU64::new(1),
            rejected: AtomicU64::new(0),
        })
    }

    pub(crate) fn stations(&self) -> RwLockReadGuard<'_, Stations> {
        read(&self.stations)
    }

    pub(crate) fn alerts(&self) -> RwLockReadGuard<'_, AlertBook> {
        read(&self.alerts)
    }

    /// Turns true once the broker has granted the API's subscriptions.
    pub fn subscribed(&self) -> watch::Receiver<bool> {
        self.subscribed.subscribe()
    }

    /// Frames refused by the acceptance rule so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    pub(crate) fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    fn publish(&self, event: Event) {
        let id = self.next_event_id.fetch_add(1, Ordering::Relaxed);
        // No subscriber is fine: nobody is watching.
        let _ = self.events.send((id, event));
    }

    /// Takes a verified frame: updates the station, evaluates the PM2.5 rule, emits events.
    pub fn ingest(&self, frame: &Frame, node: &NodeInfo, now: OffsetDateTime) {
        let observed_ms = if frame.time_ms == 0 {
            (now.unix_timestamp_nanos() / 1_000_000) as u64
        } else {
            frame.time_ms
        };
        let mut alert_event = None;
        let view = {
            let mut stations = write(&self.stations);
            let Some(station) = stations.seen(node.id, now) else {
                return;
            };
            let Some(reading) = Reading::from_body(&frame.body) else {
                // Status frames only refresh last-seen.
                return;
            };
            if let Some(pm) = reading.pm2_5() {
                station.pm2_5_window.insert(observed_ms, pm);
                station.pm2_5_mean = station.pm2_5_window.mean(self.rule.min_span_ms());
                if let Some(mean) = station.pm2_5_mean {
                    let today = OffsetDateTime::from_unix_timestamp((observed_ms / 1_000) as i64)
                        .map_or(now.date(), |t| t.date());
                    let evaluation = Evaluation {
                        station: &station.info().station,
                        node_id: node.id,
                        parameter: "pm2_5_1h_mean",
                        threshold: self.rule.threshold_on(today),
                        value: mean,
                        at_ms: observed_ms,
                    };
                    alert_event = write(&self.alerts).evaluate(evaluation);
                }
            }
            if !station.update_reading(observed_ms, reading) {
                None
            } else {
                Some(station.view(now, self.offline_after))
            }
        };
        if let Some(view) = view {
            self.publish(Event::Reading(Box::new(view)));
        }
        if let Some((alert, transition)) = alert_event {
            let verb = if transition == Transition::Fired {
                "fired"
            } else {
                "resolved"
            };
            tracing::info!(station = %alert.station, value = alert.last_value, threshold = alert.threshold, "Alert {verb}.");
            self.publish(Event::Alert(Box::new(alert)));
        }
    }
}
