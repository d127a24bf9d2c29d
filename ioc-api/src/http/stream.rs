//! `GET /api/v1/stream`: server-sent events with types (`reading`, `alert`, `threshold`,
//! `lagged`) and ids; a client reconnecting with `Last-Event-ID` first gets what it missed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt, stream};
use tokio_stream::wrappers::BroadcastStream;

use super::extract::Reader;
use crate::notify::StoredEvent;
use crate::state::AppState;

fn to_sse(event: &StoredEvent) -> SseEvent {
    SseEvent::default()
        .id(event.id.to_string())
        .event(event.kind)
        .data(event.data.as_str())
}

fn lagged() -> SseEvent {
    SseEvent::default()
        .event("lagged")
        .data("{\"message\":\"events were dropped; refetch the lists\"}")
}

/// The event stream. Events: `reading` (a station view), `alert` (an alert change: the alert
/// with `transition`), `threshold` (a rule created or changed), `lagged` (events were missed).
#[utoipa::path(get, path = "/api/v1/stream", tag = "stream",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = String)))]
pub(crate) async fn stream(
    State(state): State<Arc<AppState>>,
    _: Reader,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let subscription = state.hub.subscribe(last);
    let mut sent_up_to = subscription.replay.last().map(|e| e.id).or(last).unwrap_or(0);
    // A comment first, at once: `curl -N` and proxies see the stream is live before any event.
    let hello = SseEvent::default().comment("citysense IOC event stream: reading, alert, threshold");
    let head: Vec<SseEvent> = std::iter::once(hello)
        .chain(subscription.lagged.then(lagged))
        .chain(subscription.replay.iter().map(|e| to_sse(e)))
        .collect();
    let live = BroadcastStream::new(subscription.live).filter_map(move |item| {
        let out = match item {
            Ok(event) if event.id > sent_up_to => {
                sent_up_to = event.id;
                Some(to_sse(&event))
            }
            Ok(_) => None,
            // A client too slow for the buffer misses events; tell it so it can refetch.
            Err(_) => Some(lagged()),
        };
        futures::future::ready(out)
    });
    let events = stream::iter(head)
        .chain(live)
        .map(Ok)
        .take_until(state.shutdown.clone().cancelled_owned());
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
