//! The frames every run sends: `frames` signed air frames from `nodes` nodes (round-robin, seq
//! 0.. per node, a node clock three hours back plus a minute per frame), with the registry and
//! the equivalent JSON for peers that cannot read postcard.

use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, NodeTopic};
use protocol::{AirSample, Body, Frame, MAX_FRAME_LEN, NodeKey};

pub struct Workload {
    pub registry: Registry,
    pub frames: usize,
    pub base_ms: u64,
}

pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Workload {
    pub fn new(nodes: u32, frames: usize) -> Self {
        let registry = Registry::from_nodes((0..nodes).map(|i| NodeInfo {
            id: 100_000 + i,
            station: format!("B-{i:05}"),
            name: String::new(),
            kind: StationKind::Air,
            district: ["Vi Thanh", "Nga Bay", "Long My", "Vi Thuy", "Chau Thanh"][i as usize % 5].into(),
            location: None,
            key: Some(NodeKey::new(key_bytes(i))),
        }))
        .expect("unique ids");
        Workload {
            registry,
            frames,
            base_ms: wall_ms() - 3 * 3_600_000,
        }
    }

    fn nodes(&self) -> usize {
        self.registry.len()
    }

    /// The `i`-th frame: node, seq, time.
    pub fn frame(&self, i: usize) -> Frame {
        let n = self.nodes();
        let seq = (i / n) as u32;
        Frame {
            node_id: 100_000 + (i % n) as u32,
            boot: 1,
            seq,
            time_ms: self.base_ms + u64::from(seq) * 60_000,
            body: Body::Air(AirSample {
                samples: 6,
                pm1_0: Some((i % 900) as u16),
                pm2_5: Some((i % 1_500) as u16),
                pm10: Some((i % 2_500) as u16),
                temperature: Some(2_950),
                humidity: Some(7_500),
                ..AirSample::default()
            }),
        }
    }

    pub fn topic(node: u32) -> String {
        NodeTopic {
            prefix: DEFAULT_PREFIX,
            node_id: node,
            channel: NodeChannel::Telemetry,
        }
        .to_string()
    }

    /// Every frame as (topic, signed postcard bytes).
    pub fn messages(&self) -> Vec<(String, Vec<u8>)> {
        (0..self.frames)
            .map(|i| {
                let frame = self.frame(i);
                let key = self.registry.get(frame.node_id).and_then(|n| n.key.as_ref());
                let mut buf = [0u8; MAX_FRAME_LEN];
                let bytes = frame.encode(key, &mut buf).expect("valid").to_vec();
                (Self::topic(frame.node_id), bytes)
            })
            .collect()
    }

    /// Every frame as (topic, JSON) with the same content, for Node-RED.
    pub fn json_messages(&self) -> Vec<(String, Vec<u8>)> {
        (0..self.frames)
            .map(|i| {
                let f = self.frame(i);
                let Body::Air(s) = f.body else { unreachable!() };
                let node = self.registry.get(f.node_id).expect("registered");
                let json = serde_json::json!({
                    "node": f.node_id, "station": node.station, "district": node.district,
                    "boot": f.boot, "seq": f.seq, "time_ms": f.time_ms,
                    "pm1_0": s.pm1_0.map(|v| f64::from(v) / 10.0),
                    "pm2_5": s.pm2_5.map(|v| f64::from(v) / 10.0),
                    "pm10": s.pm10.map(|v| f64::from(v) / 10.0),
                    "temperature": s.temperature.map(|v| f64::from(v) / 100.0),
                    "humidity": s.humidity.map(|v| f64::from(v) / 100.0),
                    "samples": s.samples,
                });
                (
                    format!("{DEFAULT_PREFIX}/json/{}", f.node_id),
                    json.to_string().into_bytes(),
                )
            })
            .collect()
    }
}

pub fn key_bytes(i: u32) -> [u8; 32] {
    let mut key = [0u8; 32];
    for (j, b) in key.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(j as u8) ^ ((i >> 8) as u8);
    }
    key
}
