//! The MQTT source: a task that only polls rumqttc's event loop, and an acker task that sends
//! acknowledgements in receive order. Nothing else touches the event loop (rumqttc issues #263
//! and #1025: publishing or acking from the polling task deadlocks once a channel fills).

mod ack;
mod source;

pub use ack::Acker;
pub use source::{MqttSource, connect};
