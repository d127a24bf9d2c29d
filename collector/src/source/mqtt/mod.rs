//! The MQTT source: a task that polls rumqttc's event loop, forwards messages to the pipeline and
//! writes the acks the writer hands back, in receive order and in bulk. Nothing in it waits on a
//! channel that only it drains (rumqttc issues #263 and #1025: publishing or acking through the
//! request channel from the polling task deadlocks once that channel fills).

mod ack;
mod source;

pub use ack::{AckQueue, Acker};
pub use source::{MAX_INCOMING_PACKET, MqttSource, connect, start};
