//! What one spool record holds: a batch's line protocol with, per point, the MQTT topic and raw
//! payload it came from, so a point InfluxDB refuses later can still be dead-lettered whole.
//!
//! Layout (little-endian): `spooled_at_ms: u64`, `count: u32`, then per point
//! `topic_len: u16, topic, payload_len: u32, payload, line_len: u32, line`.

/// One point of a spooled batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledPoint {
    /// The MQTT topic of its frame.
    pub topic: String,
    /// The frame's raw bytes.
    pub payload: Vec<u8>,
    /// Its line protocol (one line, with the newline).
    pub line: String,
}

/// A batch as the spool keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledBatch {
    /// When it was spooled (ms since the epoch), for the oldest-age gauge.
    pub spooled_at_ms: u64,
    /// Its points, in receive order.
    pub points: Vec<SpooledPoint>,
}

impl SpooledBatch {
    /// The record payload.
    pub fn encode(&self) -> Vec<u8> {
        let size: usize = self
            .points
            .iter()
            .map(|p| 10 + p.topic.len() + p.payload.len() + p.line.len())
            .sum();
        let mut out = Vec::with_capacity(12 + size);
        out.extend_from_slice(&self.spooled_at_ms.to_le_bytes());
        out.extend_from_slice(&(self.points.len() as u32).to_le_bytes());
        for p in &self.points {
            let topic = &p.topic.as_bytes()[..p.topic.len().min(u16::MAX as usize)];
            out.extend_from_slice(&(topic.len() as u16).to_le_bytes());
            out.extend_from_slice(topic);
            out.extend_from_slice(&(p.payload.len() as u32).to_le_bytes());
            out.extend_from_slice(&p.payload);
            out.extend_from_slice(&(p.line.len() as u32).to_le_bytes());
            out.extend_from_slice(p.line.as_bytes());
        }
        out
    }

    /// Parses a record payload; `None` if it is not one.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        let spooled_at_ms = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let count = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
        let mut points = Vec::with_capacity(count.min(1 << 20));
        for _ in 0..count {
            let topic_len = u16::from_le_bytes(r.take(2)?.try_into().ok()?) as usize;
            let topic = String::from_utf8(r.take(topic_len)?.to_vec()).ok()?;
            let payload_len = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
            let payload = r.take(payload_len)?.to_vec();
            let line_len = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
            let line = String::from_utf8(r.take(line_len)?.to_vec()).ok()?;
            points.push(SpooledPoint { topic, payload, line });
        }
        r.0.is_empty().then_some(SpooledBatch {
            spooled_at_ms,
            points,
        })
    }

    /// The spool time of a record payload, read without decoding the rest.
    pub fn spooled_at(bytes: &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
}
