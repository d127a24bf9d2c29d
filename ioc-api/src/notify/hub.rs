//! The event hub behind `/api/v1/stream`: every event gets an increasing id and is serialised
//! once; the last N are kept so a client reconnecting with `Last-Event-ID` gets what it missed.
//!
//! Ids start at the server's start time in ms × 1000, so they keep increasing across restarts:
//! a client that resumes with an id from before a restart is told it lagged instead of being
//! mistaken for one that is up to date.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

/// One event as sent: id, SSE type, JSON data.
#[derive(Debug)]
pub struct StoredEvent {
    /// Increasing id.
    pub id: u64,
    /// SSE event type: `reading`, `alert`, `threshold`.
    pub kind: &'static str,
    /// JSON text.
    pub data: String,
}

/// What a subscriber gets: the missed events to replay, then the live receiver.
pub struct Subscription {
    /// Events after the client's `Last-Event-ID`, oldest first.
    pub replay: Vec<Arc<StoredEvent>>,
    /// True when events the client missed are no longer kept.
    pub lagged: bool,
    /// Live events (may repeat the tail of `replay`; skip ids already sent).
    pub live: broadcast::Receiver<Arc<StoredEvent>>,
}

#[derive(Debug)]
struct Ring {
    next_id: u64,
    events: VecDeque<Arc<StoredEvent>>,
}

/// Fans events out to SSE clients and keeps the recent ones for resumption.
#[derive(Debug)]
pub struct Hub {
    ring: Mutex<Ring>,
    capacity: usize,
    sender: broadcast::Sender<Arc<StoredEvent>>,
}

impl Hub {
    /// A hub keeping `capacity` events, with ids starting at `first_id`.
    pub fn new(capacity: usize, first_id: u64) -> Hub {
        Hub {
            ring: Mutex::new(Ring {
                next_id: first_id.max(1),
                events: VecDeque::with_capacity(capacity.min(4_096)),
            }),
            capacity: capacity.max(1),
            // The live channel holds what a slow client may fall behind by before it lags.
            sender: broadcast::channel(1_024).0,
        }
    }

    /// Publishes an event.
    pub fn publish(&self, kind: &'static str, data: &impl Serialize) {
        let Ok(data) = serde_json::to_string(data) else {
            return;
        };
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let event = Arc::new(StoredEvent {
            id: ring.next_id,
            kind,
            data,
        });
        ring.next_id += 1;
        if ring.events.len() == self.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(Arc::clone(&event));
        // Sent under the lock, so a subscriber sees each event either in its replay or live.
        let _ = self.sender.send(event);
    }

    /// Subscribes, replaying what came after `last_event_id`.
    pub fn subscribe(&self, last_event_id: Option<u64>) -> Subscription {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.sender.subscribe();
        let Some(last) = last_event_id else {
            return Subscription {
                replay: Vec::new(),
                lagged: false,
                live,
            };
        };
        let oldest = ring.events.front().map_or(ring.next_id, |e| e.id);
        let lagged = last + 1 < oldest || last >= ring.next_id;
        let replay = ring.events.iter().filter(|e| e.id > last).cloned().collect();
        Subscription { replay, lagged, live }
    }

    /// Connected stream clients.
    pub fn clients(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_after_the_last_event_id_and_reports_lag() {
        let hub = Hub::new(3, 100);
        for i in 0..5 {
            hub.publish("reading", &i);
        }
        // Kept: 102, 103, 104.
        let s = hub.subscribe(Some(102));
        assert_eq!(s.replay.iter().map(|e| e.id).collect::<Vec<_>>(), [103, 104]);
        assert!(!s.lagged);
        let s = hub.subscribe(Some(100));
        assert!(s.lagged, "101 is gone");
        assert_eq!(s.replay.len(), 3);
        let s = hub.subscribe(Some(5_000));
        assert!(
            s.lagged,
            "an id from the future (another server run) cannot be trusted"
        );
        let s = hub.subscribe(None);
        assert!(s.replay.is_empty() && !s.lagged);
    }
}
