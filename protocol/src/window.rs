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

use std::collections::HashMap;

use crc::{CRC_32_ISO_HDLC, Crc};

use crate::tag::TAG_LEN;
use crate::{Body, Frame, StatusKind};

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

/// One of a node's recent frames: seq, the low byte of its boot (enough: only the [`BOOTS`]
/// newest boots are looked up), and its digest, in one word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Recent(u64);

impl Recent {
    fn new(key: FrameKey, digest: Digest) -> Self {
        Recent(u64::from(key.seq) << 32 | u64::from(key.boot & 0xFF) << 24 | u64::from(digest.0))
    }

    fn is(self, key: FrameKey) -> bool {
        self.0 >> 24 == u64::from(key.seq) << 8 | u64::from(key.boot & 0xFF)
    }

    fn digest(self) -> Digest {
        Digest(self.0 as u32 & DIGEST_MASK)
    }
}

/// A node's last [`RECENT`] new frames, a ring in an allocation of its own (72 bytes): one
/// pointer in the node's window, nothing for a node that has sent no frame with a digest.
#[derive(Debug, Clone, Default)]
struct Recents {
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
    fn push(&mut self, recent: Recent) {
        self.slots[usize::from(self.next)] = recent;
        self.next = ((usize::from(self.next) + 1) % RECENT) as u8;
        self.len = (usize::from(self.len) + 1).min(RECENT) as u8;
    }

    fn find(&self, key: FrameKey) -> Option<Recent> {
        self.slots[..usize::from(self.len)]
            .iter()
            .copied()
            .find(|r| r.is(key))
    }

    /// Oldest first.
    fn iter(&self) -> impl Iterator<Item = Recent> + '_ {
        let len = usize::from(self.len);
        let start = if len < RECENT { 0 } else { usize::from(self.next) };
        (0..len).map(move |i| self.slots[(start + i) % RECENT])
    }
}

/// The seqs seen in one boot.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BootSeqs {
    boot: u32,
    /// Seqs below this were forgotten (their run was dropped for [`RUNS`]): too old.
    floor: u32,
    /// Inclusive, sorted and disjoint (`a.1 < b.0`), all at or above `floor`. Each run's end is
    /// the newest frame of the stream that made it.
    runs: Vec<(u32, u32)>,
}

impl BootSeqs {
    fn new(boot: u32) -> Self {
        BootSeqs {
            boot,
            floor: 0,
            runs: Vec::new(),
        }
    }

    /// Index of the first run that ends at or after `seq`.
    fn run_at_or_after(&self, seq: u32) -> usize {
        self.runs.partition_point(|&(_, end)| end < seq)
    }

    /// Whether `seq` was seen; `Err` with the reason when it is below what this boot forgot.
    fn seen(&self, key: FrameKey) -> Result<bool, String> {
        if key.seq < self.floor {
            return Err(format!(
                "seq {} of boot {} is below {}, the oldest seq the window still remembers of that boot",
                key.seq, key.boot, self.floor
            ));
        }
        let run = self.runs.get(self.run_at_or_after(key.seq));
        Ok(run.is_some_and(|&(start, _)| start <= key.seq))
    }

    /// Records `seq`. A run only grows forwards, the way a stream of frames arrives, so its end
    /// stays the newest frame of that stream even when it comes to touch the next run (a backlog
    /// that caught up with the live frames).
    /// Returns whether `seq` was new.
    fn mark(&mut self, seq: u32) -> bool {
        if seq < self.floor {
            return false;
        }
        let i = self.run_at_or_after(seq);
        if self.runs.get(i).is_some_and(|&(start, _)| start <= seq) {
            return false;
        }
        match i.checked_sub(1).and_then(|p| self.runs.get_mut(p)) {
            Some(previous) if previous.1.checked_add(1) == Some(seq) => previous.1 = seq,
            _ => self.runs.insert(i, (seq, seq)),
        }
        true
    }

    /// One run fewer: the oldest two touching runs become one (only the older one's end stops
    /// counting as recent), or, with none touching, the oldest run is forgotten.
    fn make_room(&mut self) {
        let touching = self
            .runs
            .windows(2)
            .position(|pair| pair[0].1.checked_add(1) == Some(pair[1].0));
        if let Some(j) = touching {
            self.runs[j].1 = self.runs[j + 1].1;
            self.runs.remove(j + 1);
        } else if !self.runs.is_empty() {
            let (_, end) = self.runs.remove(0);
            self.floor = end.saturating_add(1);
        }
        // The insert that went past the limit doubled the room; keep one spare, not RUNS.
        self.runs.shrink_to(RUNS + 1);
    }
}

/// One node's window: its newest boot, the seqs of the boots remembered, oldest boot first, and
/// its last new frames, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeWindow {
    newest: u32,
    boots: Vec<BootSeqs>,
    /// `None` until the node's first new frame with a digest.
    recent: Option<Box<Recents>>,
}

impl NodeWindow {
    /// Whether `boot` is [`BOOTS`] or more before the newest: forgotten, too old.
    fn forgotten(&self, boot: u32) -> bool {
        self.newest.saturating_sub(boot) >= BOOTS
    }

    fn boot(&self, boot: u32) -> Option<&BootSeqs> {
        let i = self.boots.binary_search_by_key(&boot, |b| b.boot).ok()?;
        self.boots.get(i)
    }

    /// The digest of `key` if it is one of the last frames.
    fn recent_digest(&self, key: FrameKey) -> Option<Digest> {
        self.recent.as_ref()?.find(key).map(Recent::digest)
    }

    fn mark(&mut self, key: FrameKey, digest: Option<Digest>) {
        if key.boot > self.newest {
            self.newest = key.boot;
            let newest = self.newest;
            self.boots.retain(|b| newest - b.boot < BOOTS);
        }
        if self.forgotten(key.boot) {
            return;
        }
        let i = match self.boots.binary_search_by_key(&key.boot, |b| b.boot) {
            Ok(i) => i,
            Err(i) => {
                self.boots.insert(i, BootSeqs::new(key.boot));
                i
            }
        };
        if !self.boots[i].mark(key.seq) {
            return;
        }
        if let Some(digest) = digest {
            self.recent.get_or_insert_default().push(Recent::new(key, digest));
        }
        if self.boots.iter().map(|b| b.runs.len()).sum::<usize>() > RUNS {
            // The oldest boot with runs gives one up: its frames are the least likely to come.
            if let Some(oldest) = self.boots.iter_mut().find(|b| !b.runs.is_empty()) {
                oldest.make_room();
            }
        }
    }
}

/// The windows of every node seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    nodes: HashMap<u32, NodeWindow>,
    /// Marks keep no digests (see [`ReplayWindow::without_digests`]).
    digestless: bool,
}

impl ReplayWindow {
    /// Classifies a frame without recording it: its key, the digest of its bytes, and whether the
    /// broker marked it as its own redelivery (DUP).
    pub fn check(&self, key: FrameKey, digest: Digest, redelivered: bool) -> Verdict {
        let Some(node) = self.nodes.get(&key.node) else {
            return Verdict::New;
        };
        if node.forgotten(key.boot) {
            return Verdict::Replay(format!(
                "frame from boot {}, {BOOTS} or more boots before the node's newest boot {}",
                key.boot, node.newest
            ));
        }
        let Some(seqs) = node.boot(key.boot) else {
            return Verdict::New;
        };
        match seqs.seen(key) {
            Err(detail) => return Verdict::Replay(detail),
            Ok(false) => return Verdict::New,
            Ok(true) => {}
        }
        match node.recent_digest(key) {
            Some(seen) if seen == digest => Verdict::Duplicate,
            Some(_) => Verdict::SeqReused(format!(
                "seq {} of boot {} was delivered before with other bytes: the node numbered two frames alike (re-flashed, or its boot counter lost), or an old frame of it is replayed",
                key.seq, key.boot
            )),
            None if redelivered => Verdict::Duplicate,
            None => Verdict::Replay(format!(
                "seq {} of boot {} was delivered before, longer ago than the node's last {RECENT} frames",
                key.seq, key.boot
            )),
        }
    }

    /// [`ReplayWindow::check`] for a frame that arrived as an MQTT message (`payload`, with the
    /// message's DUP and retain flags), with the two exceptions every receiver makes:
    /// - a node registers its death frame as its MQTT will when it connects, so the broker
    ///   publishes it with the seq of that moment, however much later the node dies: a death
    ///   frame of the node's current boot is new, not a replay;
    /// - a retained status the broker hands out again on every subscribe is state already seen:
    ///   a duplicate, not an attack.
    pub fn check_message(
        &self,
        frame: &Frame,
        payload: &[u8],
        dup: bool,
        retain: bool,
    ) -> (FrameKey, Digest, Verdict) {
        let key = FrameKey {
            node: frame.node_id,
            boot: frame.boot,
            seq: frame.seq,
        };
        let digest = Digest::of(payload);
        let is_death = matches!(&frame.body, Body::Status(s) if s.kind == StatusKind::Death);
        let verdict = match self.check(key, digest, dup) {
            Verdict::Replay(_) if is_death && self.in_current_boot(key.node, key.boot) => Verdict::New,
            Verdict::Replay(_) if retain => Verdict::Duplicate,
            verdict => verdict,
        };
        (key, digest, verdict)
    }

    /// Whether `boot` is the node's newest boot (or a later one): a frame from it is no replay
    /// of an earlier life of the node, whatever its seq.
    pub fn in_current_boot(&self, node: u32, boot: u32) -> bool {
        self.nodes.get(&node).is_none_or(|w| boot >= w.newest)
    }

    /// Records a new frame as seen, with the digest of its bytes.
    pub fn mark(&mut self, key: FrameKey, digest: Digest) {
        self.mark_with(key, Some(digest));
    }

    /// Records a frame whose bytes are not known (from an older saved window).
    pub fn mark_without_digest(&mut self, key: FrameKey) {
        self.mark_with(key, None);
    }

    /// This window without the digests of recent frames, keeping none from now on: for a window
    /// that is saved but never asked, such as the collector's durable window, whose log keeps
    /// the digests for the next start. Half the memory of the digests at 10,000 nodes.
    #[must_use]
    pub fn without_digests(mut self) -> Self {
        for node in self.nodes.values_mut() {
            node.recent = None;
        }
        self.digestless = true;
        self
    }

    fn mark_with(&mut self, key: FrameKey, digest: Option<Digest>) {
        let digest = digest.filter(|_| !self.digestless);
        self.nodes
            .entry(key.node)
            .or_insert(NodeWindow {
                newest: key.boot,
                boots: Vec::new(),
                recent: None,
            })
            .mark(key, digest);
    }

    /// Number of nodes tracked.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no node is tracked.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// `MAGIC`, node count, then per node: id, newest boot, boot count, per boot: boot, floor,
    /// run count, runs (start, end); then the count of recent frames and each as two words (low,
    /// high); all u32 little-endian; a CRC-32 of all that last.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.nodes.len() * 32);
        let put = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
        out.extend_from_slice(MAGIC);
        put(&mut out, self.nodes.len() as u32);
        for (id, node) in &self.nodes {
            put(&mut out, *id);
            put(&mut out, node.newest);
            put(&mut out, node.boots.len() as u32);
            for b in &node.boots {
                put(&mut out, b.boot);
                put(&mut out, b.floor);
                put(&mut out, b.runs.len() as u32);
                for &(start, end) in &b.runs {
                    put(&mut out, start);
                    put(&mut out, end);
                }
            }
            let recent: Vec<Recent> = node.recent.iter().flat_map(|r| r.iter()).collect();
            put(&mut out, recent.len() as u32);
            for r in recent {
                put(&mut out, r.0 as u32);
                put(&mut out, (r.0 >> 32) as u32);
            }
        }
        let crc = CRC32.checksum(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// The window `encode` wrote, or the one the version before wrote (without recent frames:
    /// until the nodes send again, only the broker's redeliveries are duplicates), or `None` for
    /// anything else (damage, runs or boots out of order).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if CRC32.checksum(body).to_le_bytes() != crc {
            return None;
        }
        let (with_recent, rest) = match body.split_first_chunk::<8>()? {
            (magic, rest) if magic == MAGIC => (true, rest),
            (magic, rest) if magic == MAGIC_WITHOUT_RECENT => (false, rest),
            _ => return None,
        };
        let mut words = Words(rest);
        let count = words.next()?;
        let mut nodes = HashMap::new();
        for _ in 0..count {
            let id = words.next()?;
            let newest = words.next()?;
            let boot_count = words.next()?;
            let mut boots: Vec<BootSeqs> = Vec::new();
            let mut node_runs = 0usize;
            for _ in 0..boot_count {
                let (boot, floor, run_count) = (words.next()?, words.next()?, words.next()?);
                let fits =
                    boots.last().is_none_or(|b| b.boot < boot) && boot <= newest && newest - boot < BOOTS;
                node_runs += run_count as usize;
                if !fits || node_runs > RUNS {
                    return None;
                }
                let mut runs: Vec<(u32, u32)> = Vec::new();
                for _ in 0..run_count {
                    let (start, end) = (words.next()?, words.next()?);
                    let after = match runs.last() {
                        Some(&(_, e)) => e.checked_add(1)?,
                        None => floor,
                    };
                    if start < after || end < start {
                        return None;
                    }
                    runs.push((start, end));
                }
                boots.push(BootSeqs { boot, floor, runs });
            }
            let mut recent: Option<Box<Recents>> = None;
            if with_recent {
                let count = words.next()? as usize;
                if count > RECENT {
                    return None;
                }
                for _ in 0..count {
                    let (low, high) = (words.next()?, words.next()?);
                    recent
                        .get_or_insert_default()
                        .push(Recent(u64::from(high) << 32 | u64::from(low)));
                }
            }
            nodes.insert(
                id,
                NodeWindow {
                    newest,
                    boots,
                    recent,
                },
            );
        }
        words.0.is_empty().then_some(ReplayWindow {
            nodes,
            digestless: false,
        })
    }
}

/// Little-endian u32s read off the front of a byte slice.
struct Words<'a>(&'a [u8]);

impl Words<'_> {
    fn next(&mut self) -> Option<u32> {
        let (word, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_le_bytes(*word))
    }
}

const MAGIC: &[u8; 8] = b"CSWIN003";
/// The format before recent frames were kept.
const MAGIC_WITHOUT_RECENT: &[u8; 8] = b"CSWIN002";

#[cfg(test)]
mod tests {
    use super::*;

    fn key(boot: u32, seq: u32) -> FrameKey {
        FrameKey { node: 7, boot, seq }
    }

    /// The digest of the frame the node sent as (boot, seq): a made-up tag in a frame's place.
    fn bytes(boot: u32, seq: u32) -> Digest {
        Digest::of(&frame_with_tag(boot.wrapping_mul(1_000_003) ^ seq))
    }

    /// Another frame with the same key.
    fn other_bytes(boot: u32, seq: u32) -> Digest {
        Digest::of(&frame_with_tag(boot.wrapping_mul(1_000_003) ^ seq ^ 0x80_0000))
    }

    /// A header and a body, then `tag` where a frame's tag starts.
    fn frame_with_tag(tag: u32) -> Vec<u8> {
        [[1, 0, 7, 0], tag.to_le_bytes(), [0; 4]].concat()
    }

    /// A window without digests still knows what it saw, and tells no duplicate from a reused key
    /// unless the broker says it is its own resend.
    #[test]
    fn a_window_without_digests_keeps_the_seqs_only() {
        let mut w = ReplayWindow::default();
        w.mark_frame(1, 0);
        let mut w = w.without_digests();
        w.mark_frame(1, 1);
        assert!(w.nodes[&7].recent.is_none());
        assert!(is_replay(&w.check_frame(1, 1)));
        assert_eq!(w.check(key(1, 1), bytes(1, 1), true), Verdict::Duplicate);
        assert_eq!(w.check_frame(1, 2), Verdict::New);
    }

    #[test]
    fn the_digest_is_the_frames_tag() {
        let frame = [&[1u8, 0, 9, 9][..], &[0xAB, 0xCD, 0xEF, 0x12], &[0; 4]].concat();
        assert_eq!(
            Digest::of(&frame).bits(),
            0xEF_CDAB,
            "24 bits of the tag, little-endian"
        );
        assert_eq!(Digest::of(b"short"), Digest::from_bits(CRC32.checksum(b"short")));
    }

    trait Frames {
        fn mark_frame(&mut self, boot: u32, seq: u32);
        fn check_frame(&self, boot: u32, seq: u32) -> Verdict;
    }

    impl Frames for ReplayWindow {
        fn mark_frame(&mut self, boot: u32, seq: u32) {
            self.mark(key(boot, seq), bytes(boot, seq));
        }

        /// The frame sent again by the node or an attacker, not by the broker.
        fn check_frame(&self, boot: u32, seq: u32) -> Verdict {
            self.check(key(boot, seq), bytes(boot, seq), false)
        }
    }

    fn is_replay(v: &Verdict) -> bool {
        matches!(v, Verdict::Replay(_))
    }

    #[test]
    fn new_duplicate_and_replay() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check_frame(2, 10), Verdict::New);
        w.mark_frame(2, 10);
        assert_eq!(w.check_frame(2, 10), Verdict::Duplicate, "the node's retry");
        assert_eq!(
            w.check_frame(2, 9),
            Verdict::New,
            "a gap below the top is still open"
        );
        w.mark_frame(2, 9);
        assert_eq!(w.check_frame(2, 9), Verdict::Duplicate);
        for seq in 11..=10 + RECENT as u32 {
            w.mark_frame(2, seq);
        }
        assert!(
            is_replay(&w.check_frame(2, 10)),
            "seen, longer ago than the last {RECENT}, sent again: a replay"
        );
        assert_eq!(
            w.check(key(2, 10), bytes(2, 10), true),
            Verdict::Duplicate,
            "the broker's own redelivery"
        );
        assert_eq!(
            w.check_frame(2, 11),
            Verdict::Duplicate,
            "among the last {RECENT}"
        );
        assert_eq!(w.check_frame(3, 0), Verdict::New, "a reboot starts again at 0");
        w.mark_frame(3, 0);
        assert_eq!(
            w.check_frame(2, 11 + RECENT as u32),
            Verdict::New,
            "the earlier boot's next frame"
        );
        w.mark_frame(2 + BOOTS, 0);
        assert!(is_replay(&w.check_frame(2, 500)), "{BOOTS} boots back: forgotten");
        assert!(
            is_replay(&w.check(key(2, 500), bytes(2, 500), true)),
            "forgotten even when redelivered"
        );
        assert_eq!(
            w.check_frame(3, 1),
            Verdict::New,
            "{} boots back: remembered",
            BOOTS - 1
        );
    }

    /// A re-flashed node counts from boot 1 and seq 0 again: its new frames carry keys the window
    /// holds, with other bytes. None is a duplicate; those whose first bytes are still known are
    /// reused keys, the others replays, and a broker redelivery of the first frame stays one.
    #[test]
    fn a_node_that_reuses_its_keys_is_no_duplicate() {
        let mut w = ReplayWindow::default();
        for seq in 0..40 {
            w.mark_frame(1, seq);
        }
        for seq in 0..40 {
            let verdict = w.check(key(1, seq), other_bytes(1, seq), false);
            if seq >= 40 - RECENT as u32 {
                assert!(matches!(verdict, Verdict::SeqReused(_)), "seq {seq}: {verdict:?}");
            } else {
                assert!(is_replay(&verdict), "seq {seq}: {verdict:?}");
            }
        }
        assert!(
            matches!(
                w.check(key(1, 39), other_bytes(1, 39), true),
                Verdict::SeqReused(_)
            ),
            "a reused key the broker hands out again is still reused"
        );
        assert_eq!(w.check_frame(1, 39), Verdict::Duplicate, "the first frame itself");
    }

    /// Store-and-forward after an outage: the live stream goes on while the backlog, hundreds of
    /// seqs behind it, drains oldest first. Every backlog frame is new once and a duplicate after.
    #[test]
    fn a_backlog_far_behind_the_live_stream_is_new() {
        let mut w = ReplayWindow::default();
        for seq in 0..100 {
            w.mark_frame(1, seq);
        }
        for live in 400..1_000 {
            w.mark_frame(1, live);
        }
        for backlog in 100..400 {
            assert_eq!(w.check_frame(1, backlog), Verdict::New, "seq {backlog}");
            w.mark_frame(1, backlog);
            assert_eq!(
                w.check_frame(1, backlog),
                Verdict::Duplicate,
                "seq {backlog} again"
            );
        }
        assert_eq!(
            w.nodes[&7].boots[0].runs,
            vec![(0, 399), (400, 999)],
            "the backlog's run ends where it caught up"
        );
    }

    /// A node reboots with frames of its last boot still queued on flash: they arrive after the
    /// new boot's first frames and are written.
    #[test]
    fn frames_of_an_earlier_boot_arrive_after_a_reboot() {
        let mut w = ReplayWindow::default();
        for seq in 0..50 {
            w.mark_frame(3, seq);
        }
        for seq in 0..10 {
            w.mark_frame(4, seq);
        }
        for seq in 50..300 {
            assert_eq!(w.check_frame(3, seq), Verdict::New, "queued seq {seq} of boot 3");
            w.mark_frame(3, seq);
        }
        assert_eq!(w.check_frame(3, 299), Verdict::Duplicate);
        assert!(is_replay(&w.check_frame(3, 5)), "delivered long ago");
        assert!(w.in_current_boot(7, 4) && !w.in_current_boot(7, 3));
    }

    #[test]
    fn too_many_gaps_forget_the_oldest_run() {
        let mut w = ReplayWindow::default();
        let runs = RUNS as u32 + 10;
        for i in 0..runs {
            w.mark_frame(1, 2 * i);
        }
        let boot = &w.nodes[&7].boots[0];
        assert_eq!(boot.runs.len(), RUNS);
        assert_eq!(
            boot.floor,
            2 * 9 + 1,
            "ten runs dropped, the floor above the last"
        );
        assert!(is_replay(&w.check_frame(1, 1)), "below the floor");
        assert!(is_replay(&w.check_frame(1, 18)), "below the floor, seen once");
        assert_eq!(w.check_frame(1, 19), Verdict::New, "the first gap still open");
        assert_eq!(w.check_frame(1, 2 * runs - 1), Verdict::New);
    }

    #[test]
    fn at_capacity_touching_runs_merge_before_any_is_forgotten() {
        let mut w = ReplayWindow::default();
        // Outages: each leaves a backlog run that drains up to the live run after it.
        for outage in 0..RUNS as u32 {
            for seq in (outage * 10 + 5..outage * 10 + 10).chain(outage * 10..outage * 10 + 5) {
                w.mark_frame(1, seq);
            }
        }
        let boot = &w.nodes[&7].boots[0];
        assert_eq!(boot.floor, 0, "nothing forgotten");
        assert!(boot.runs.len() <= RUNS);
        assert_eq!(
            boot.runs.last(),
            Some(&(RUNS as u32 * 10 - 5, RUNS as u32 * 10 - 1))
        );
    }

    #[test]
    fn the_oldest_boot_gives_up_runs_first_when_a_node_has_too_many() {
        let mut w = ReplayWindow::default();
        for i in 0..RUNS as u32 {
            w.mark_frame(1, 2 * i);
        }
        for i in 0..10 {
            w.mark_frame(2, 2 * i);
        }
        let node = &w.nodes[&7];
        let runs: Vec<usize> = node.boots.iter().map(|b| b.runs.len()).collect();
        assert_eq!(runs, vec![RUNS - 10, 10], "runs per boot");
        assert_eq!(
            node.boots[0].floor,
            2 * 9 + 1,
            "boot 1 forgot its ten oldest runs"
        );
        assert!(node.boots.iter().all(|b| b.runs.capacity() <= RUNS + 1));
        assert!(is_replay(&w.check_frame(1, 3)));
        assert_eq!(
            w.check_frame(1, 2 * RUNS as u32 + 1),
            Verdict::New,
            "boot 1's backlog"
        );
        assert_eq!(w.check_frame(2, 1), Verdict::New, "the live boot forgot nothing");
    }

    #[test]
    fn seqs_at_the_top_of_the_range_do_not_overflow() {
        let mut w = ReplayWindow::default();
        for seq in [u32::MAX, u32::MAX - 2, u32::MAX - 1, 0] {
            w.mark_frame(u32::MAX, seq);
        }
        assert_eq!(
            w.nodes[&7].boots[0].runs,
            vec![(0, 0), (u32::MAX - 2, u32::MAX - 1), (u32::MAX, u32::MAX)]
        );
        assert_eq!(w.check_frame(u32::MAX, u32::MAX), Verdict::Duplicate);
    }
}
