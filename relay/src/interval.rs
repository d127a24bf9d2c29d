//! Each station's frames gathered into fixed intervals (default 5 minutes) by the node's clock,
//! and the interval's means once it is over.
//!
//! An interval is closed once its end is `grace` in the past and no frame has joined it for
//! `grace`: a node's backlog after an outage, hours late, fills intervals that had no file, and
//! they close `grace` after the backlog stops. A frame seen twice in an interval (a redelivery)
//! counts once.

use std::collections::{BTreeMap, BTreeSet};

use protocol::Frame;

use crate::file::Status;
use crate::params::{self, ALL};

/// What [`Intervals::add`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Its values joined the interval.
    Joined,
    /// The interval already had this frame.
    Duplicate,
    /// A status frame, or a sample without values: nothing to send.
    NoValues,
}

/// One frame's contribution to an interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The frame's (node, boot, seq): a frame counts once per interval.
    pub key: (u32, u32, u32),
    /// The start of its interval (see [`Intervals::start_at`]).
    pub start_ms: u64,
    /// Its values by index in [`ALL`].
    pub values: Vec<(usize, f64)>,
    /// Its status.
    pub status: Status,
}

/// An open interval of one station.
#[derive(Debug, Clone)]
struct Bucket {
    sums: [f64; ALL.len()],
    counts: [u32; ALL.len()],
    status: [Status; ALL.len()],
    frames: BTreeSet<(u32, u32, u32)>,
    last_joined_ms: u64,
}

/// A finished interval: what its file says.
#[derive(Debug, Clone, PartialEq)]
pub struct Closed {
    /// The station's id.
    pub station: String,
    /// Start of the interval, ms since the Unix epoch.
    pub start_ms: u64,
    /// Each parameter's mean and status over the interval, by index in [`ALL`], in that order.
    pub means: Vec<(usize, f64, Status)>,
    /// How many frames it holds.
    pub frames: usize,
}

/// The open intervals of every station.
#[derive(Debug)]
pub struct Intervals {
    length_ms: u64,
    grace_ms: u64,
    open: BTreeMap<(String, u64), Bucket>,
}

impl Intervals {
    /// Intervals of `length_ms`, closed `grace_ms` after their end and their last frame.
    pub fn new(length_ms: u64, grace_ms: u64) -> Self {
        Intervals {
            length_ms: length_ms.max(1),
            grace_ms,
            open: BTreeMap::new(),
        }
    }

    /// The start of the interval `frame` belongs to: by the node's clock, or by `received_ms`
    /// when the node's clock was not set.
    pub fn start_of(&self, frame: &Frame, received_ms: u64) -> u64 {
        self.start_at(if frame.time_ms == 0 {
            received_ms
        } else {
            frame.time_ms
        })
    }

    /// The start of the interval holding `at_ms`.
    pub fn start_at(&self, at_ms: u64) -> u64 {
        at_ms - at_ms % self.length_ms
    }

    /// The interval's length.
    pub fn length_ms(&self) -> u64 {
        self.length_ms
    }

    /// Adds a frame of `station` received at `received_ms`.
    pub fn add(&mut self, station: &str, frame: &Frame, received_ms: u64) -> Added {
        let status = match &frame.body {
            protocol::Body::Air(s) => Status::of(s.quality),
            protocol::Body::Water(s) => Status::of(s.quality),
            protocol::Body::Status(_) => Status::Measuring,
        };
        let reading = Reading {
            key: (frame.node_id, frame.boot, frame.seq),
            start_ms: self.start_of(frame, received_ms),
            values: params::values(&frame.body),
            status,
        };
        self.add_reading(station, &reading, received_ms)
    }

    /// Adds a reading: a frame's values, or a point read back from InfluxDB.
    pub fn add_reading(&mut self, station: &str, reading: &Reading, received_ms: u64) -> Added {
        if reading.values.is_empty() {
            return Added::NoValues;
        }
        let bucket = self
            .open
            .entry((station.to_owned(), reading.start_ms))
            .or_insert_with(|| Bucket {
                sums: [0.0; ALL.len()],
                counts: [0; ALL.len()],
                status: [Status::Measuring; ALL.len()],
                frames: BTreeSet::new(),
                last_joined_ms: received_ms,
            });
        if !bucket.frames.insert(reading.key) {
            return Added::Duplicate;
        }
        bucket.last_joined_ms = bucket.last_joined_ms.max(received_ms);
        for &(i, v) in &reading.values {
            bucket.sums[i] += v;
            bucket.counts[i] += 1;
            bucket.status[i] = bucket.status[i].max(reading.status);
        }
        Added::Joined
    }

    /// Takes out every interval that is over at `now_ms`, oldest first.
    pub fn take_due(&mut self, now_ms: u64) -> Vec<Closed> {
        let (length, grace) = (self.length_ms, self.grace_ms);
        let due: Vec<(String, u64)> = self
            .open
            .iter()
            .filter(|((_, start), b)| start + length + grace <= now_ms && b.last_joined_ms + grace <= now_ms)
            .map(|(key, _)| key.clone())
            .collect();
        let mut closed: Vec<Closed> = due
            .into_iter()
            .filter_map(|key| self.open.remove(&key).map(|b| close(key, &b)))
            .collect();
        closed.sort_by(|a, b| (a.start_ms, &a.station).cmp(&(b.start_ms, &b.station)));
        closed
    }

    /// Whether `(station, start_ms)` is open.
    pub fn is_open(&self, station: &str, start_ms: u64) -> bool {
        self.open.contains_key(&(station.to_owned(), start_ms))
    }

    /// How many intervals are open.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }
}

fn close((station, start_ms): (String, u64), b: &Bucket) -> Closed {
    let means = (0..ALL.len())
        .filter(|&i| b.counts[i] > 0)
        .map(|i| (i, b.sums[i] / f64::from(b.counts[i]), b.status[i]))
        .collect();
    Closed {
        station,
        start_ms,
        means,
        frames: b.frames.len(),
    }
}

#[cfg(test)]
mod tests {
    use protocol::{AirSample, Body, QualityFlags};

    use super::*;

    const MIN: u64 = 60_000;
    const T0: u64 = 1_796_576_400_000;

    fn frame(seq: u32, time_ms: u64, pm: u16, quality: QualityFlags) -> Frame {
        Frame {
            node_id: 101,
            boot: 1,
            seq,
            time_ms,
            body: Body::Air(AirSample {
                quality,
                samples: 1,
                pm2_5: Some(pm),
                ..AirSample::default()
            }),
        }
    }

    #[test]
    fn an_interval_is_the_mean_of_its_frames_and_closes_after_the_grace() {
        let mut iv = Intervals::new(5 * MIN, MIN);
        for m in 0..5 {
            let f = frame(m as u32, T0 + m * MIN, 100 + 10 * m as u16, QualityFlags::empty());
            assert_eq!(iv.add("A", &f, T0 + m * MIN + 1_000), Added::Joined);
        }
        // Redelivered: counted once.
        assert_eq!(
            iv.add(
                "A",
                &frame(4, T0 + 4 * MIN, 140, QualityFlags::empty()),
                T0 + 5 * MIN
            ),
            Added::Duplicate
        );
        assert!(iv.take_due(T0 + 5 * MIN + MIN - 1).is_empty());
        let closed = iv.take_due(T0 + 6 * MIN);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].means, vec![(1, 12.0, Status::Measuring)]);
        assert_eq!((closed[0].start_ms, closed[0].frames), (T0, 5));
        assert_eq!(iv.open_count(), 0);
    }

    #[test]
    fn late_frames_keep_their_interval_open_and_the_worst_status_wins() {
        let mut iv = Intervals::new(5 * MIN, MIN);
        iv.add("A", &frame(0, T0, 100, QualityFlags::CALIBRATING), T0 + 60 * MIN);
        iv.add(
            "A",
            &frame(1, T0 + MIN, 100, QualityFlags::SENSOR_FAULT),
            T0 + 60 * MIN + 30_000,
        );
        assert!(iv.take_due(T0 + 61 * MIN).is_empty(), "a frame joined 30 s ago");
        let closed = iv.take_due(T0 + 62 * MIN);
        assert_eq!(closed[0].means, vec![(1, 10.0, Status::Fault)]);
    }

    #[test]
    fn an_unsynced_clock_uses_the_arrival_time() {
        let iv = Intervals::new(5 * MIN, MIN);
        assert_eq!(
            iv.start_of(&frame(0, 0, 1, QualityFlags::empty()), T0 + 7 * MIN),
            T0 + 5 * MIN
        );
    }
}
