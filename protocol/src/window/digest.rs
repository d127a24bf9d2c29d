//! What the window keeps of a frame's bytes: a short digest, and a node's last few of them in a
//! ring, to tell a retry of a frame from another frame with the same key.

use super::{CRC32, FrameKey, RECENT};
use crate::tag::TAG_LEN;

/// A short digest of a frame's bytes: tells a redelivery from another frame with the same key. A
/// collision, one in 16 million, makes a reused key a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest(u32);

impl Digest {
    /// The digest of a frame's payload: 24 bits of the tag that ends every frame (FORMAT.md §2),
    /// an HMAC or a CRC-32 over all the bytes before it, so it differs whenever they do and costs
    /// nothing to take (a frame that fails its tag never gets here). Anything too short to carry
    /// a tag gets the CRC-32 of its bytes.
    pub fn of(payload: &[u8]) -> Self {
        let tag = payload
            .len()
            .checked_sub(TAG_LEN)
            .and_then(|at| payload.get(at..at + 4))
            .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok());
        let bits = tag.map_or_else(|| CRC32.checksum(payload), u32::from_le_bytes);
        Digest(bits & DIGEST_MASK)
    }

    /// As saved.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// As saved; bits above the digest's are ignored.
    pub fn from_bits(bits: u32) -> Self {
        Digest(bits & DIGEST_MASK)
    }
}

const DIGEST_MASK: u32 = 0xFF_FFFF;

/// One of a node's recent frames: seq, the low byte of its boot (enough: only the [`BOOTS`](super::BOOTS)
/// newest boots are looked up), and its digest, in one word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Recent(pub(super) u64);

impl Recent {
    pub(super) fn new(key: FrameKey, digest: Digest) -> Self {
        Recent(u64::from(key.seq) << 32 | u64::from(key.boot & 0xFF) << 24 | u64::from(digest.0))
    }

    fn is(self, key: FrameKey) -> bool {
        self.0 >> 24 == u64::from(key.seq) << 8 | u64::from(key.boot & 0xFF)
    }

    pub(super) fn digest(self) -> Digest {
        Digest(self.0 as u32 & DIGEST_MASK)
    }
}

/// A node's last [`RECENT`] new frames, a ring in an allocation of its own (72 bytes): one
/// pointer in the node's window, nothing for a node that has sent no frame with a digest.
#[derive(Debug, Clone, Default)]
pub(super) struct Recents {
    slots: [Recent; RECENT],
    /// Slots filled, up to [`RECENT`].
    len: u8,
    /// The slot the next frame goes to: once full, the oldest.
    next: u8,
}

/// Equal when they hold the same frames in the same order, wherever the ring starts.
impl PartialEq for Recents {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Recents {}

impl Recents {
    pub(super) fn push(&mut self, recent: Recent) {
        self.slots[usize::from(self.next)] = recent;
        self.next = ((usize::from(self.next) + 1) % RECENT) as u8;
        self.len = (usize::from(self.len) + 1).min(RECENT) as u8;
    }

    pub(super) fn find(&self, key: FrameKey) -> Option<Recent> {
        self.slots[..usize::from(self.len)]
            .iter()
            .copied()
            .find(|r| r.is(key))
    }

    /// Oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = Recent> + '_ {
        let len = usize::from(self.len);
        let start = if len < RECENT { 0 } else { usize::from(self.next) };
        (0..len).map(move |i| self.slots[(start + i) % RECENT])
    }
}
