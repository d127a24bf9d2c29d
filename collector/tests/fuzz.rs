//! Bounded fuzzing of what hostile bytes reach: the acceptance rule (decode, tag, registry), the
//! replay window, line protocol and the spool's record decoder. Runs for `FUZZ_SECONDS` (2 s by
//! default in the test suite; `scripts/test collector_fuzz` gives it longer) and prints the cases
//! it tried. Properties:
//! - no input panics;
//! - only a byte-exact valid frame is accepted: every bit flip and every truncation of one is
//!   refused;
//! - an accepted frame becomes exactly one line of line protocol;
//! - the replay window agrees with a plain model (per node the newest boot, the seqs seen per boot,
//!   and the last frames with their bytes).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use collector::pipeline::window::{BOOTS, Digest, FrameKey, RECENT, RUNS, ReplayWindow, Verdict};
use collector::sink::line_protocol::write_point;
use collector::spool::SpooledBatch;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use protocol::inbound::accept;
use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN, NodeKey};

const PREFIX: &str = "city/haugiang";

fn budget() -> Duration {
    let seconds = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(seconds)
}

fn registry() -> Registry {
    Registry::from_nodes([
        NodeInfo {
            id: 7,
            station: "S7".into(),
            name: String::new(),
            kind: StationKind::Air,
            district: "d".into(),
            location: None,
            key: Some(NodeKey::new([7; 32])),
        },
        NodeInfo {
            id: 8,
            station: "S8".into(),
            name: String::new(),
            kind: StationKind::Air,
            district: String::new(),
            location: None,
            key: None,
        },
    ])
    .expect("valid registry")
}

fn valid_frame(node: u32, seq: u32, pm: u16, keyed: bool) -> Vec<u8> {
    let frame = Frame {
        node_id: node,
        boot: 1,
        seq,
        time_ms: 1_764_201_600_000 + u64::from(seq),
        body: Body::Air(AirSample {
            samples: 3,
            pm2_5: Some(pm % 10_000),
            ..AirSample::default()
        }),
    };
    let key = NodeKey::new([7; 32]);
    let mut buf = [0u8; MAX_FRAME_LEN];
    frame
        .encode(keyed.then_some(&key), &mut buf)
        .expect("valid")
        .to_vec()
}

/// Runs `test` on generated values until the time budget is spent; returns the cases run.
fn run_for<S: Strategy>(
    name: &str,
    strategy: S,
    budget: Duration,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> u64 {
    let started = Instant::now();
    let mut cases = 0u64;
    while started.elapsed() < budget {
        let mut runner = TestRunner::new(Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &test) {
            panic!("{name}: {e}");
        }
        cases += 256;
    }
    eprintln!(
        "fuzz {name}: {cases} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    cases
}

#[test]
fn hostile_bytes_never_panic_and_only_exact_frames_pass() {
    let budget = budget() / 4;
    let registry = registry();

    let mut total = run_for(
        "arbitrary payloads",
        (
            proptest::collection::vec(any::<u8>(), 0..200),
            0u32..10,
            any::<bool>(),
        ),
        budget,
        |(bytes, node, status)| {
            let channel = if status { "status" } else { "telemetry" };
            let topic = format!("{PREFIX}/node/{node}/{channel}");
            if let Ok((frame, info)) = accept(&registry, PREFIX, &topic, &bytes) {
                // Only a frame that encodes back to exactly these bytes is accepted.
                let mut buf = [0u8; MAX_FRAME_LEN];
                let again = frame
                    .encode(info.key.as_ref(), &mut buf)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(again, bytes.as_slice());
                let mut line = String::new();
                write_point(&mut line, &frame, info, 1);
                prop_assert!(
                    line.ends_with('\n') && line.matches('\n').count() == 1,
                    "{}",
                    line
                );
            }
            let _ = SpooledBatch::decode(&bytes);
            Ok(())
        },
    );

    total += run_for(
        "bit flips and truncations of valid frames",
        (any::<u32>(), any::<u16>(), any::<bool>(), any::<usize>(), 0u8..8),
        budget,
        |(seq, pm, keyed, at, bit)| {
            let node = if keyed { 7 } else { 8 };
            let topic = format!("{PREFIX}/node/{node}/telemetry");
            let good = valid_frame(node, seq, pm, keyed);
            prop_assert!(accept(&registry, PREFIX, &topic, &good).is_ok());
            let mut flipped = good.clone();
            let i = at % flipped.len();
            flipped[i] ^= 1 << bit;
            prop_assert!(
                accept(&registry, PREFIX, &topic, &flipped).is_err(),
                "flip at {} bit {}",
                i,
                bit
            );
            let cut = at % good.len();
            prop_assert!(
                accept(&registry, PREFIX, &topic, &good[..cut]).is_err(),
                "cut at {}",
                cut
            );
            Ok(())
        },
    );

    total += run_for(
        "replay window against a model",
        proptest::collection::vec((0u32..3, 0u32..20, 0u32..60, 0u8..2, any::<bool>()), 1..300),
        budget,
        |frames| {
            let mut window = ReplayWindow::default();
            let mut model = WindowModel::default();
            for (node, boot, seq, bytes, redelivered) in frames {
                let key = FrameKey { node, boot, seq };
                // A frame's digest is its tag, which differs with the frame's bytes.
                let tag = seq << 1 | u32::from(bytes);
                let digest = Digest::of(&[node, boot, tag, 0].map(u32::to_le_bytes).concat());
                let expected = model.check(key, bytes, redelivered);
                let got = window.check(key, digest, redelivered);
                let same = matches!(
                    (&got, &expected),
                    (Verdict::New, Verdict::New)
                        | (Verdict::Duplicate, Verdict::Duplicate)
                        | (Verdict::SeqReused(_), Verdict::SeqReused(_))
                        | (Verdict::Replay(_), Verdict::Replay(_))
                );
                prop_assert!(
                    same,
                    "{:?} bytes {} redelivered {}: window says {:?}, model {:?}",
                    key,
                    bytes,
                    redelivered,
                    got,
                    expected
                );
                if got == Verdict::New {
                    window.mark(key, digest);
                    if !model.mark(key, bytes) {
                        // The window starts forgetting runs here; the model does not.
                        break;
                    }
                }
            }
            Ok(())
        },
    );

    total += run_for(
        "spool records",
        proptest::collection::vec(any::<u8>(), 0..400),
        budget,
        |bytes| {
            let _ = SpooledBatch::decode(&bytes);
            Ok(())
        },
    );
    eprintln!("fuzz: {total} cases, no panic, no forged or damaged frame accepted");
}

/// The replay window's rule, written plainly: per node the newest boot, per boot the seqs seen, and
/// the node's last [`RECENT`] new frames with their bytes. A seen frame is a duplicate when it is
/// one of those with the same bytes, or redelivered by the broker; a reused key when one of those
/// has other bytes; a replay otherwise.
#[derive(Default)]
struct WindowModel {
    newest: HashMap<u32, u32>,
    seen: HashMap<(u32, u32), HashSet<u32>>,
    recent: HashMap<u32, VecDeque<(u32, u32, u8)>>,
}

impl WindowModel {
    fn check(&self, key: FrameKey, bytes: u8, redelivered: bool) -> Verdict {
        let Some(&newest) = self.newest.get(&key.node) else {
            return Verdict::New;
        };
        if key.boot < newest && newest - key.boot >= BOOTS {
            return Verdict::Replay(String::new());
        }
        let seen = self.seen.get(&(key.node, key.boot));
        if !seen.is_some_and(|seqs| seqs.contains(&key.seq)) {
            return Verdict::New;
        }
        let recent = self.recent.get(&key.node).into_iter().flatten();
        match recent
            .rev()
            .find(|&&(boot, seq, _)| (boot, seq) == (key.boot, key.seq))
        {
            Some(&(_, _, first)) if first == bytes => Verdict::Duplicate,
            Some(_) => Verdict::SeqReused(String::new()),
            None if redelivered => Verdict::Duplicate,
            None => Verdict::Replay(String::new()),
        }
    }

    /// Records a new frame; false once a node has `RUNS` seqs in its remembered boots, where the
    /// window may start to forget and the model no longer describes it.
    fn mark(&mut self, key: FrameKey, bytes: u8) -> bool {
        let newest = self.newest.entry(key.node).or_insert(key.boot);
        *newest = (*newest).max(key.boot);
        let newest = *newest;
        if newest - key.boot >= BOOTS {
            return true;
        }
        self.seen.entry((key.node, key.boot)).or_default().insert(key.seq);
        let recent = self.recent.entry(key.node).or_default();
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back((key.boot, key.seq, bytes));
        let remembered: usize = self
            .seen
            .iter()
            .filter(|((node, boot), _)| *node == key.node && newest - boot < BOOTS)
            .map(|(_, seqs)| seqs.len())
            .sum();
        remembered < RUNS
    }
}
