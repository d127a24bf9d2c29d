//! The window's saved form: what `window_file` holds between runs, and the format before it.

use std::collections::HashMap;

use super::digest::{Recent, Recents};
use super::node_window::{BootSeqs, NodeWindow};
use super::{BOOTS, CRC32, RECENT, RUNS, ReplayWindow};

impl ReplayWindow {
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
