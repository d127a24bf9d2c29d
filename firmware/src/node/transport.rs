//! The seam between the node and its uplink (MQTT client on the board, a Vec in the simulators).

use protocol::topic::NodeChannel;

/// Sends one encoded frame on one of the node's topics.
///
/// Design: the transport takes bytes, not a `Frame`, so the store-and-forward queue
/// ([`super::StoreAndForward`], itself a `Transport`) holds encoded frames without re-encoding them.
pub trait Transport {
    /// Why a publish failed.
    type Error;

    /// Publishes `frame` on the node's `channel` topic (QoS 1 on a real link).
    ///
    /// # Errors
    ///
    /// Whatever the link reports; the node counts the frame as dropped.
    fn publish(&mut self, channel: NodeChannel, frame: &[u8]) -> Result<(), Self::Error>;
}
