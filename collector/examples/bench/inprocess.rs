//! The collector's per-frame work without I/O: what the pipeline does for each message
//! (acceptance rule: topic, registry, decode, HMAC; replay window; line protocol into the batch).

use std::time::Instant;

use collector::pipeline::window::{Digest, FrameKey, ReplayWindow, Verdict};
use collector::sink::line_protocol::TagCache;
use protocol::inbound::accept;

use crate::workload::Workload;

pub struct Cost {
    pub total_ns: f64,
    pub accept_ns: f64,
}

impl Cost {
    pub fn describe(&self) -> String {
        format!(
            "{:.0} ns/frame in all ({:.0} ns of it topic + registry + decode + HMAC verify)",
            self.total_ns, self.accept_ns
        )
    }
}

pub fn measure(frames: usize, nodes: u32) -> Cost {
    let per_node = frames.div_ceil(nodes as usize);
    let workload = Workload::new(nodes, nodes as usize * per_node);
    let prefix = protocol::topic::DEFAULT_PREFIX;
    let messages = workload.messages();

    // Warm up, then the acceptance rule alone.
    let mut accepted = 0usize;
    for (topic, payload) in messages.iter().take(10_000) {
        accepted += usize::from(accept(&workload.registry, prefix, topic, payload).is_ok());
    }
    let started = Instant::now();
    for (topic, payload) in &messages {
        accepted += usize::from(accept(&workload.registry, prefix, topic, payload).is_ok());
    }
    let accept_ns = started.elapsed().as_nanos() as f64 / messages.len() as f64;
    assert!(accepted >= messages.len(), "every bench frame is valid");

    // The whole per-frame path, batches of 5,000 as the default config.
    let mut window = ReplayWindow::default();
    let mut tags = TagCache::default();
    let mut lines = String::with_capacity(5_000 * 200);
    let mut held: Vec<(usize, std::ops::Range<usize>)> = Vec::with_capacity(5_000);
    let mut written = 0usize;
    let started = Instant::now();
    for (i, (topic, payload)) in messages.iter().enumerate() {
        let Ok((frame, node)) = accept(&workload.registry, prefix, topic, payload) else {
            continue;
        };
        let key = FrameKey {
            node: frame.node_id,
            boot: frame.boot,
            seq: frame.seq,
        };
        let digest = Digest::of(payload);
        if window.check(key, digest, false) != Verdict::New {
            continue;
        }
        window.mark(key, digest);
        let start = lines.len();
        tags.write_point(&mut lines, &frame, node, 0);
        held.push((i, start..lines.len()));
        if held.len() == 5_000 {
            written += held.len();
            held.clear();
            lines.clear();
        }
    }
    written += held.len();
    let total_ns = started.elapsed().as_nanos() as f64 / messages.len() as f64;
    assert_eq!(written, messages.len());
    Cost { total_ns, accept_ns }
}
