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
//! - a duplicate: seen, at most [`WINDOW`] seqs below the newest seq of the run it belongs to. A
//!   redelivery (after a crash, a reconnect, a node's retry) is always one of the frames received
//!   last, near the front of the live stream or of the backlog it came with;
//! - a replay: seen and deeper than that in its run (a captured frame sent again), or older than
//!   anything the window remembers (a boot [`BOOTS`] or more before the newest, or a seq below
//!   what its boot forgot). Replays are dead-lettered: a clock-unsynced frame written again would
//!   become a second point (it is stamped on arrival).
//!
//! Two windows exist (see `docs/collector.md`, "Replay window and restarts"): the pipeline's
//! live window also holds frames still in an unwritten batch, and the writer's durable window
//! only frames that are written, spooled or dead-lettered. Only the durable one is saved
//! ([`super::window_file`]), after every durable batch that brought new frames and before its acks,
//! so a restart never mistakes a frame it lost for a duplicate, and a frame written just before a
//! crash is recognised when the broker redelivers it.

use std::collections::HashMap;

/// How many seqs below the newest of its run a seen frame is still a duplicate, not a replay.
pub const WINDOW: u32 = 128;

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
    /// Seen before, among the last frames of its run.
    Duplicate,
    /// Seen long ago, or older than the window remembers; the detail says which.
    Replay(String),
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

    fn check(&self, key: FrameKey) -> Verdict {
        if key.seq < self.floor {
            return Verdict::Replay(format!(
                "seq {} of boot {} is below {}, the oldest seq the window still remembers of that boot",
                key.seq, key.boot, self.floor
            ));
        }
        match self.runs.get(self.run_at_or_after(key.seq)) {
            Some(&(start, end)) if start <= key.seq => {
                let behind = end - key.seq;
                if behind < WINDOW {
                    Verdict::Duplicate
                } else {
                    Verdict::Replay(format!(
                        "seq {} of boot {} was delivered before, {behind} frames before seq {end} (window {WINDOW})",
                        key.seq, key.boot
                    ))
                }
            }
            _ => Verdict::New,
        }
    }

    /// Records `seq`. A run only grows forwards, the way a stream of frames arrives, so its end
    /// stays the newest frame of that stream even when it comes to touch the next run (a backlog
    /// that caught up with the live frames).
    fn mark(&mut self, seq: u32) {
        if seq < self.floor {
            return;
        }
        let i = self.run_at_or_after(seq);
        if self.runs.get(i).is_some_and(|&(start, _)| start <= seq) {
            return;
        }
        match i.checked_sub(1).and_then(|p| self.runs.get_mut(p)) {
            Some(previous) if previous.1.checked_add(1) == Some(seq) => previous.1 = seq,
            _ => self.runs.insert(i, (seq, seq)),
        }
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

/// One node's window: its newest boot and the seqs of the boots remembered, oldest boot first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeWindow {
    newest: u32,
    boots: Vec<BootSeqs>,
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

    fn mark(&mut self, key: FrameKey) {
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
        self.boots[i].mark(key.seq);
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
}

impl ReplayWindow {
    /// Classifies a frame without recording it.
    pub fn check(&self, key: FrameKey) -> Verdict {
        let Some(node) = self.nodes.get(&key.node) else {
            return Verdict::New;
        };
        if node.forgotten(key.boot) {
            return Verdict::Replay(format!(
                "frame from boot {}, {BOOTS} or more boots before the node's newest boot {}",
                key.boot, node.newest
            ));
        }
        node.boot(key.boot).map_or(Verdict::New, |seqs| seqs.check(key))
    }

    /// Whether `boot` is the node's newest boot (or a later one): a frame from it is no replay
    /// of an earlier life of the node, whatever its seq.
    pub fn in_current_boot(&self, node: u32, boot: u32) -> bool {
        self.nodes.get(&node).is_none_or(|w| boot >= w.newest)
    }

    /// Records a frame as seen.
    pub fn mark(&mut self, key: FrameKey) {
        self.nodes
            .entry(key.node)
            .or_insert(NodeWindow {
                newest: key.boot,
                boots: Vec::new(),
            })
            .mark(key);
    }

    /// Number of nodes tracked.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no node is tracked.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// `MAGIC`, node count, then per node: id, newest boot, boot count, and per boot: boot,
    /// floor, run count, runs (start, end); all u32 little-endian; a CRC-32 of all that last.
    pub(super) fn encode(&self) -> Vec<u8> {
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
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// The window `encode` wrote, or `None` for anything else (an older format, damage, runs or
    /// boots out of order).
    pub(super) fn decode(bytes: &[u8]) -> Option<Self> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32fast::hash(body).to_le_bytes() != crc {
            return None;
        }
        let mut words = Words(body.strip_prefix(MAGIC)?);
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
            nodes.insert(id, NodeWindow { newest, boots });
        }
        words.0.is_empty().then_some(ReplayWindow { nodes })
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

const MAGIC: &[u8; 8] = b"CSWIN002";

#[cfg(test)]
mod tests {
    use super::*;

    fn key(boot: u32, seq: u32) -> FrameKey {
        FrameKey { node: 7, boot, seq }
    }

    fn is_replay(v: &Verdict) -> bool {
        matches!(v, Verdict::Replay(_))
    }

    #[test]
    fn new_duplicate_and_replay() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.check(key(2, 10)), Verdict::New);
        w.mark(key(2, 10));
        assert_eq!(w.check(key(2, 10)), Verdict::Duplicate);
        assert_eq!(
            w.check(key(2, 9)),
            Verdict::New,
            "a gap below the top is still open"
        );
        w.mark(key(2, 9));
        assert_eq!(w.check(key(2, 9)), Verdict::Duplicate);
        for seq in 11..=10 + WINDOW {
            w.mark(key(2, seq));
        }
        assert!(
            is_replay(&w.check(key(2, 10))),
            "seen, and deep in its run: a replay"
        );
        assert_eq!(
            w.check(key(2, 9)),
            Verdict::Duplicate,
            "the newest of its own run"
        );
        assert_eq!(
            w.check(key(2, 11)),
            Verdict::Duplicate,
            "seen, among the last {WINDOW}"
        );
        assert_eq!(w.check(key(3, 0)), Verdict::New, "a reboot starts again at 0");
        w.mark(key(3, 0));
        assert_eq!(
            w.check(key(2, 11 + WINDOW)),
            Verdict::New,
            "the earlier boot's next frame"
        );
        w.mark(key(2 + BOOTS, 0));
        assert!(is_replay(&w.check(key(2, 500))), "{BOOTS} boots back: forgotten");
        assert_eq!(
            w.check(key(3, 1)),
            Verdict::New,
            "{} boots back: remembered",
            BOOTS - 1
        );
    }

    /// Store-and-forward after an outage: the live stream goes on while the backlog, hundreds of
    /// seqs behind it, drains oldest first. Every backlog frame is new once and a duplicate after.
    #[test]
    fn a_backlog_far_behind_the_live_stream_is_new() {
        let mut w = ReplayWindow::default();
        for seq in 0..100 {
            w.mark(key(1, seq));
        }
        for live in 400..1_000 {
            w.mark(key(1, live));
        }
        for backlog in 100..400 {
            assert_eq!(w.check(key(1, backlog)), Verdict::New, "seq {backlog}");
            w.mark(key(1, backlog));
            assert_eq!(
                w.check(key(1, backlog)),
                Verdict::Duplicate,
                "seq {backlog} again"
            );
        }
        assert_eq!(
            w.nodes[&7].boots[0].runs,
            vec![(0, 399), (400, 999)],
            "the backlog's run ends where it caught up; its end stays recent"
        );
    }

    /// A node reboots with frames of its last boot still queued on flash: they arrive after the
    /// new boot's first frames and are written.
    #[test]
    fn frames_of_an_earlier_boot_arrive_after_a_reboot() {
        let mut w = ReplayWindow::default();
        for seq in 0..50 {
            w.mark(key(3, seq));
        }
        for seq in 0..10 {
            w.mark(key(4, seq));
        }
        for seq in 50..300 {
            assert_eq!(w.check(key(3, seq)), Verdict::New, "queued seq {seq} of boot 3");
            w.mark(key(3, seq));
        }
        assert_eq!(w.check(key(3, 299)), Verdict::Duplicate);
        assert!(is_replay(&w.check(key(3, 5))), "delivered long ago");
        assert!(w.in_current_boot(7, 4) && !w.in_current_boot(7, 3));
    }

    #[test]
    fn too_many_gaps_forget_the_oldest_run() {
        let mut w = ReplayWindow::default();
        let runs = RUNS as u32 + 10;
        for i in 0..runs {
            w.mark(key(1, 2 * i));
        }
        let boot = &w.nodes[&7].boots[0];
        assert_eq!(boot.runs.len(), RUNS);
        assert_eq!(
            boot.floor,
            2 * 9 + 1,
            "ten runs dropped, the floor above the last"
        );
        assert!(is_replay(&w.check(key(1, 1))), "below the floor");
        assert!(is_replay(&w.check(key(1, 18))), "below the floor, seen once");
        assert_eq!(w.check(key(1, 19)), Verdict::New, "the first gap still open");
        assert_eq!(w.check(key(1, 2 * runs - 1)), Verdict::New);
    }

    #[test]
    fn at_capacity_touching_runs_merge_before_any_is_forgotten() {
        let mut w = ReplayWindow::default();
        // Outages: each leaves a backlog run that drains up to the live run after it.
        for outage in 0..RUNS as u32 {
            for seq in (outage * 10 + 5..outage * 10 + 10).chain(outage * 10..outage * 10 + 5) {
                w.mark(key(1, seq));
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
            w.mark(key(1, 2 * i));
        }
        for i in 0..10 {
            w.mark(key(2, 2 * i));
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
        assert!(is_replay(&w.check(key(1, 3))));
        assert_eq!(
            w.check(key(1, 2 * RUNS as u32 + 1)),
            Verdict::New,
            "boot 1's backlog"
        );
        assert_eq!(w.check(key(2, 1)), Verdict::New, "the live boot forgot nothing");
    }

    #[test]
    fn seqs_at_the_top_of_the_range_do_not_overflow() {
        let mut w = ReplayWindow::default();
        for seq in [u32::MAX, u32::MAX - 2, u32::MAX - 1, 0] {
            w.mark(key(u32::MAX, seq));
        }
        assert_eq!(
            w.nodes[&7].boots[0].runs,
            vec![(0, 0), (u32::MAX - 2, u32::MAX - 1), (u32::MAX, u32::MAX)]
        );
        assert_eq!(w.check(key(u32::MAX, u32::MAX)), Verdict::Duplicate);
    }
}
