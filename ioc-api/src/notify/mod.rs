//! Where changes go: the SSE hub, MQTT (alerts out, commands down) and webhooks.

pub mod hub;
pub mod outbound;
pub mod webhook;

pub use hub::{Hub, StoredEvent, Subscription};
pub use outbound::Outbound;
