//! The replay window per node: which (boot, seq) a node has already delivered.
//!
//! A node numbers its frames (boot, seq): boot goes up at every start, seq from 0 within a boot.
//! The window keeps, per node, the current boot, the highest seq seen in it and a bitmap of the
//! [`WINDOW`] seqs below that. A frame is
//! - new: a later boot, a higher seq, or a seq inside the window not seen yet;
//! - a duplicate: a seq inside the window already seen (a redelivery, or a node's retry);
//! - a replay: an earlier boot, or a seq older than the window. Replays are dead-lettered: an
//!   attacker can replay a captured frame whose tag verifies, and a clock-unsynced frame written
//!   again would become a second point (it is stamped on arrival).
//!
//! Two windows exist (see `docs/collector.md`, "Replay window and restarts"): the pipeline's
//! live window also holds frames still in an unwritten batch, and the writer's durable window
//! only frames that are written, spooled or dead-lettered. Only the durable one is saved, after
//! every durable batch and before its acks, so a restart never mistakes a frame it lost for a
//! duplicate, and a frame written just before a crash is recognised when the broker redelivers it.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How many seqs below the highest one the window remembers.
pub const WINDOW: u32 = 128;

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
    /// Seen before, within the window.
    Duplicate,
    /// From an earlier boot or older than the window; the detail says which.
    Replay(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NodeWindow {
    boot: u32,
    top: u32,
    /// Bit i set: seq `top - i` was seen.
    bits: u128,
}

/// The windows of every node seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    nodes: HashMap<u32, NodeWindow>,
}

impl ReplayWindow {
    /// Classifies a frame without recording it.
    pub fn check(&self, key: FrameKey) -> Verdict {
        let Some(w) = self.nodes.get(&key.node) else {
            return Verdict::New;
        };
        if key.boot > w.boot {
            return Verdict::New;
        }
        if key.boot < w.boot {
            return Verdict::Replay(format!(
                "frame from boot {}, node {} is on boot {}",
                key.boot, key.node, w.boot
            ));
        }
        if key.seq > w.top {
            return Verdict::New;
        }
        let behind = w.top - key.seq;
        if behind >= WINDOW {
            return Verdict::Replay(format!(
                "seq {} is {behind} behind the newest seq {} of boot {} (window {WINDOW})",
                key.seq, w.top, key.boot
            ));
        }
        if w.bits & (1u128 << behind) != 0 {
            Verdict::Duplicate
        } else {
            Verdict::New
        }
    }

    /// Whether `boot` is the node's current boot (or a later one): a frame from it is no replay
    /// of an earlier life of the node, whatever its seq.
    pub fn in_current_boot(&self, node: u32, boot: u32) -> bool {
        self.nodes.get(&node).is_none_or(|w| boot >= w.boot)
    }

    /// Records a frame as seen.
    pub fn mark(&mut self, key: FrameKey) {
        let w = self.nodes.entry(key.node).or_insert(NodeWindow {
            boot: key.boot,
            top: key.seq,
            bits: 0,
        });
        if key.boot > w.boot {
            *w = NodeWindow {
                boot: key.boot,
                top: key.seq,
                bits: 1,
            };
            return;
        }
        if key.boot < w.boot {
            return;
        }
        if key.seq > w.top {
            let shift = key.seq - w.top;
            w.bits = if shift >= WINDOW { 0 } else { w.bits << shift };
            w.top = key.seq;
            w.bits |= 1;
        } else if w.top - key.seq < WINDOW {
            w.bits |= 1u128 << (w.top - key.seq);
        }
    }

    /// Number of nodes tracked.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when no node is tracked.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.nodes.len() * 28);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.nodes.len() as u32).to_le_bytes());
        for (node, w) in &self.nodes {
            out.extend_from_slice(&node.to_le_bytes());
            out.extend_from_slice(&w.boot.to_le_bytes());
            out.extend_from_slice(&w.top.to_le_bytes());
            out.extend_from_slice(&w.bits.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32fast::hash(body).to_le_bytes() != crc {
            return None;
        }
        let rest = body.strip_prefix(MAGIC)?;
        let count = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let records = rest.get(4..)?;
        if records.len() != count * 28 {
            return None;
        }
        let mut nodes = HashMap::with_capacity(count);
        for r in records.chunks_exact(28) {
            let u = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
            let mut bits = [0u8; 16];
            bits.copy_from_slice(&r[12..28]);
            nodes.insert(
                u(0),
                NodeWindow {
                    boot: u(4),
                    top: u(8),
                    bits: u128::from_le_bytes(bits),
                },
            );
        }
        Some(ReplayWindow { nodes })
    }
}

const MAGIC: &[u8; 8] = b"CSWIN001";

/// The durable window's file: replaced whole (write, then rename) after every durable batch.
#[derive(Debug)]
pub struct WindowFile {
    path: PathBuf,
    tmp: PathBuf,
}

impl WindowFile {
    /// The window file in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        WindowFile {
            path: dir.join("replay-window.bin"),
            tmp: dir.join("replay-window.bin.tmp"),
        }
    }

    /// Loads the saved window; an absent file is an empty window, and so is a damaged one
    /// (logged): the window only sharpens duplicate detection, InfluxDB's point identity still
    /// makes a rewrite of a clock-synced frame harmless.
    pub fn load(&self) -> ReplayWindow {
        match fs::read(&self.path) {
            Ok(bytes) => ReplayWindow::decode(&bytes).unwrap_or_else(|| {
                tracing::warn!(path = %self.path.display(), "Replay-window state is damaged; starting with an empty window.");
                ReplayWindow::default()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => ReplayWindow::default(),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "Cannot read the replay-window state; starting with an empty window.");
                ReplayWindow::default()
            }
        }
    }

    /// Saves the window (write to a temporary file, then rename over the old one).
    ///
    /// Design: no fsync. The rename is atomic, and after a process crash (kill -9) the page
    /// cache still holds the file; only a power loss can lose the last saves, and then the
    /// worst case is that a clock-unsynced frame redelivered after the crash is written twice.
    /// An fsync per batch would cost more than the write itself.
    ///
    /// # Errors
    ///
    /// The I/O error.
    pub fn save(&self, window: &ReplayWindow) -> io::Result<()> {
        let mut file = fs::File::create(&self.tmp)?;
        file.write_all(&window.encode())?;
        drop(file);
        fs::rename(&self.tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(boot: u32, seq: u32) -> FrameKey {
        FrameKey { node: 7, boot, seq }
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
        w.mark(key(2, 10 + WINDOW));
        assert!(
            matches!(w.check(key(2, 10)), Verdict::Replay(_)),
            "fell out of the window"
        );
        assert_eq!(w.check(key(2, 11)), Verdict::New);
        assert!(matches!(w.check(key(1, 500)), Verdict::Replay(_)), "earlier boot");
        assert_eq!(w.check(key(3, 0)), Verdict::New, "a reboot starts again at 0");
        w.mark(key(3, 0));
        assert!(matches!(w.check(key(2, 200)), Verdict::Replay(_)));
    }

    #[test]
    fn survives_a_save_and_load_and_refuses_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = WindowFile::in_dir(dir.path());
        assert!(file.load().is_empty());
        let mut w = ReplayWindow::default();
        for seq in [0, 1, 5, 300] {
            w.mark(FrameKey {
                node: 1,
                boot: 1,
                seq,
            });
        }
        w.mark(key(4, 3));
        file.save(&w).expect("save");
        assert_eq!(file.load(), w);
        let path = dir.path().join("replay-window.bin");
        let mut bytes = fs::read(&path).expect("read");
        bytes[12] ^= 1;
        fs::write(&path, bytes).expect("write");
        assert!(file.load().is_empty());
    }
}
