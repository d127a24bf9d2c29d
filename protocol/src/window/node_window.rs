//! One node's window: the seqs seen per boot, as runs, and the node's recent frames.

use super::digest::{Digest, Recent, Recents};
use super::{BOOTS, FrameKey, RUNS};

/// The seqs seen in one boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BootSeqs {
    pub(super) boot: u32,
    /// Seqs below this were forgotten (their run was dropped for [`RUNS`]): too old.
    pub(super) floor: u32,
    /// Inclusive, sorted and disjoint (`a.1 < b.0`), all at or above `floor`. Each run's end is
    /// the newest frame of the stream that made it.
    pub(super) runs: Vec<(u32, u32)>,
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
    pub(super) fn seen(&self, key: FrameKey) -> Result<bool, String> {
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
pub(super) struct NodeWindow {
    pub(super) newest: u32,
    pub(super) boots: Vec<BootSeqs>,
    /// `None` until the node's first new frame with a digest.
    pub(super) recent: Option<Box<Recents>>,
}

impl NodeWindow {
    /// Whether `boot` is [`BOOTS`] or more before the newest: forgotten, too old.
    pub(super) fn forgotten(&self, boot: u32) -> bool {
        self.newest.saturating_sub(boot) >= BOOTS
    }

    pub(super) fn boot(&self, boot: u32) -> Option<&BootSeqs> {
        let i = self.boots.binary_search_by_key(&boot, |b| b.boot).ok()?;
        self.boots.get(i)
    }

    /// The digest of `key` if it is one of the last frames.
    pub(super) fn recent_digest(&self, key: FrameKey) -> Option<Digest> {
        self.recent.as_ref()?.find(key).map(Recent::digest)
    }

    pub(super) fn mark(&mut self, key: FrameKey, digest: Option<Digest>) {
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
