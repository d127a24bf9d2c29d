//! Why a poll failed.

use core::fmt;

use protocol::EncodeError;

/// What went wrong while publishing a frame. The frame is lost either way and counted in
/// [`Node::frames_dropped`](super::Node::frames_dropped); the node's schedule has moved on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeError<E> {
    /// The transport refused the frame.
    Publish(E),
    /// The frame could not be encoded. The samplers keep every field within its range, so this is a
    /// bug, not a sensor problem.
    Encode(EncodeError),
}

impl<E: fmt::Debug> fmt::Display for NodeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Publish(e) => write!(f, "publishing a frame failed: {e:?}"),
            NodeError::Encode(e) => write!(f, "encoding a frame failed: {e}"),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for NodeError<E> {}
