//! The windows of every node, and the verdict on a frame.

use std::collections::HashMap;

use super::node_window::NodeWindow;
use super::{BOOTS, Digest, FrameKey, RECENT, Verdict};
use crate::{Body, Frame, StatusKind};

/// The windows of every node seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    pub(super) nodes: HashMap<u32, NodeWindow>,
    /// Marks keep no digests (see [`ReplayWindow::without_digests`]).
    pub(super) digestless: bool,
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
}
