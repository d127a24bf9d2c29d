//! `GET /api/v1/stream`: server-sent events, `reading` and `alert`, each with an increasing id.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use futures::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::state::AppState;

pub(crate) async fn stream(
    State(state): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let events = BroadcastStream::new(state.events.subscribe()).filter_map(|item| async move {
        match item {
            Ok((id, event)) => {
                let sse = SseEvent::default().id(id.to_string()).event(event.kind());
                // Serialising our own types cannot fail; skip rather than break the stream if it did.
                sse.json_data(&event).ok().map(Ok)
            }
            // A client too slow for the buffer misses events; tell it so it can refetch.
            Err(_lagged) => Some(Ok(SseEvent::default()
                .event("lagged")
                .data("events were dropped; refetch state"))),
        }
    });
    let events = events.take_until(state.shutdown.clone().cancelled_owned());
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
