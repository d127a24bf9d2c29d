//! The replay window per node: which (boot, seq) a node has already delivered.
//!
//! A node numbers its frames (boot, seq): boot goes up at every start, seq from 0 within a boot.
//! Frames do not arrive in that order: the firmware's store-and-forward sends live frames first
//! and drains its flash backlog afterwards, oldest first, and keeps that backlog across a reboot.
//! So hours-old frames of this boot, and frames of earlier boots, arrive after newer ones and
//! must be written, not refused.
//!
//! Per node the window keeps the [`BOOTS`] newest boots, and per boot the seqs seen as sorted
//! runs of consecutive seqs (a live stream and a draining backlog are one run each; at most
//! [`RUNS`] runs per node, after which its oldest boot gives one up: two touching runs become one,
//! or the oldest is forgotten and everything up to it becomes too old). A frame is
//! - new: never seen, in a boot the window remembers and above what that boot forgot;
//! - a duplicate: seen, with the same bytes as one of the node's [`RECENT`] last frames (a node's
//!   retry after a lost acknowledgement), or handed out again by the broker itself (MQTT's DUP
//!   flag: a redelivery after a crash or a reconnect; the broker sets it on its own resend only,
//!   never from what a publisher sent);
//! - a reused sequence number: seen, and one of the node's last frames had that key with other
//!   bytes. Frames are authenticated, so only the node can have made both: it numbered two frames
//!   alike (re-flashed, its boot counter lost), or a frame of its earlier life is being replayed
//!   over a key it now reuses. Dead-lettered, never written: either could be the false one;
//! - a replay: seen and none of the above (a captured frame sent again; its bytes are no longer
//!   known, so it cannot be a known duplicate), or older than anything the window remembers (a
//!   boot [`BOOTS`] or more before the newest, or a seq below what its boot forgot). Replays are
//!   dead-lettered: a clock-unsynced frame written again would become a second point (it is
//!   stamped on arrival).
//!
//! Every receiver applies it after [`crate::inbound::accept`], so the collector and the IOC API
//! agree on which frames are readings. The collector keeps two (see `docs/collector.md`, "Replay
//! window and restarts"): the pipeline's live window also holds frames still in an unwritten
//! batch, and the writer's durable window only frames that are written, spooled or dead-lettered;
//! only the durable one is saved (its `window_file`), after every durable batch that brought new
//! frames and before its acks, so a restart never mistakes a frame it lost for a duplicate, and a
//! frame written just before a crash is recognised when the broker redelivers it.

mod digest;
mod node_window;
mod replay_window;
mod saved_form;
#[cfg(test)]
mod tests;

use crc::{CRC_32_ISO_HDLC, Crc};

pub use digest::Digest;
pub use replay_window::ReplayWindow;

/// CRC-32 as zlib computes it, for the digests and the saved form's checksum.
const CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// How many of a node's last new frames the window keeps a digest of (8 bytes each): enough for
/// the retries of a node, which has one frame in flight. Redeliveries by the broker carry the DUP
/// flag and need no digest. Two windows of 10,000 nodes hold 1.6 MB of these.
pub const RECENT: usize = 8;

/// How many boots per node the window remembers, counting back from the newest: a node that
/// reboots this often before its backlog drains has its oldest frames refused as replays.
pub const BOOTS: u32 = 16;

/// How many runs of consecutive seqs one node keeps, over all its boots: at most 512 bytes a node,
/// in memory and in the saved file. Gaps make runs: frames still in a node's backlog, frames the
/// node's full queue dropped, or frames a shared subscription gave to another collector (every
/// other seq, so such a collector remembers about 2 × `RUNS` seqs of a node).
pub const RUNS: usize = 64;

/// A frame's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameKey {
    /// Node id.
    pub node: u32,
    /// Boot counter.
    pub boot: u32,
    /// Sequence number within the boot.
    pub seq: u32,
}

/// What the window says about a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen before.
    New,
    /// Seen before: the same bytes as a recent frame, or the broker's own redelivery.
    Duplicate,
    /// Seen before with other bytes: the node reused a sequence number; the detail says where.
    SeqReused(String),
    /// Seen long ago, or older than the window remembers; the detail says which.
    Replay(String),
}
