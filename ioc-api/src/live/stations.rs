//! Every registered station's live state: latest reading, liveness, and recent history of the
//! tracked parameters.

use std::collections::BTreeMap;

use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::{NodeStatus, StatusKind};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::param::Param;
use super::reading::Reading;
use super::series::Series;
use crate::quality::{Coverage, QcFlags, ReadingFlags, StationQc};

#[derive(Debug)]
pub(crate) struct Tracked {
    pub(crate) param: Param,
    pub(crate) series: Series,
    /// When its last value arrived (server clock), for staleness.
    pub(crate) updated: OffsetDateTime,
}

/// The node's last status frame, as shown.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct NodeHealth {
    /// `birth`, `periodic` or `death`.
    pub kind: &'static str,
    /// Firmware version.
    pub firmware: String,
    /// Seconds since boot.
    pub uptime_s: u32,
    /// Battery, V.
    pub battery_v: Option<f64>,
    /// Link quality, dBm.
    pub rssi_dbm: Option<i16>,
    /// Frames the node dropped since boot.
    pub frames_dropped: u32,
    /// Frames waiting on the node.
    pub frames_queued: u16,
}

/// The last file of the station a receiver of the authority took, as the relay announced it
/// (`{prefix}/transmission/{station}/{receiver}`, retained).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Transmission {
    /// The receiver's name in the relay's config.
    pub receiver: String,
    /// The file's name.
    pub file: String,
    /// Start of the file's interval (RFC 3339).
    pub interval_start: String,
    /// When the receiver took it (RFC 3339).
    pub delivered_at: String,
    /// Seconds since then.
    pub age_s: i64,
}

/// Frames of the node the replay window refused since the API started (they are not readings:
/// the collector dead-letters them too).
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct RefusedFrames {
    /// Frames whose (boot, seq) the node used before with other bytes: re-flashed, or its boot
    /// counter lost.
    pub seq_reused: u64,
    /// When the last of them arrived (RFC 3339, server clock).
    pub last_seq_reused_at: Option<String>,
    /// Frames delivered before and sent again (a replay), or older than the window remembers.
    pub replays: u64,
}

#[derive(Debug)]
pub(crate) struct Station {
    pub(crate) info: NodeInfo,
    pub(crate) last_seen: Option<OffsetDateTime>,
    /// A death status (the MQTT will) arrived and no frame since.
    pub(crate) dead: bool,
    pub(crate) observed_at_ms: Option<u64>,
    pub(crate) reading: Option<Reading>,
    pub(crate) health: Option<NodeHealth>,
    pub(crate) tracked: Vec<Tracked>,
    /// Hourly means of the sensor's own PM2.5 (QC-valid values, before any correction): what a
    /// co-location calibration is fitted on without InfluxDB. Saved as [`RAW_PM2_5`].
    pub(crate) raw_pm2_5: Option<Series>,
    pub(crate) refused: RefusedFrames,
    /// The last delivery to each receiver, with its instant.
    pub(crate) transmissions: BTreeMap<String, (Transmission, OffsetDateTime)>,
    /// Values up to this node time came from the InfluxDB rebuild; frames at or before it are
    /// already counted.
    pub(crate) rebuilt_until_ms: u64,
    /// What the stuck and spike rules remember.
    pub(crate) qc: StationQc,
    /// The QC flags of the latest reading.
    pub(crate) flags: ReadingFlags,
    /// Readings expected, received and valid per hour.
    pub(crate) coverage: Coverage,
    /// Flagged values not yet saved (the tick saves them with `qc` and `coverage`).
    pub(crate) flagged: Vec<FlaggedValue>,
    /// Whether `qc` or `coverage` changed since they were saved.
    pub(crate) qc_changed: bool,
}

/// A value QC left out of indices and alerts: kept with its flags, so an operator can see what
/// was left out and a rebuild from InfluxDB (which holds every raw value) leaves it out again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FlaggedValue {
    pub(crate) param: Param,
    /// Node time, ms.
    pub(crate) at_ms: u64,
    pub(crate) value: f64,
    pub(crate) flags: QcFlags,
}

/// The local history's name for [`Station::raw_pm2_5`].
pub(crate) const RAW_PM2_5: &str = "pm2_5_raw";

/// Live state of every registered station, by node id.
#[derive(Debug)]
pub struct Stations {
    pub(crate) by_node: BTreeMap<u32, Station>,
}

impl Stations {
    /// One empty entry per registered node, each counting coverage as `coverage` does.
    pub fn new(registry: &Registry, coverage: &Coverage) -> Self {
        let by_node = registry
            .nodes()
            .map(|info| {
                let station = Station {
                    info: info.clone(),
                    last_seen: None,
                    dead: false,
                    observed_at_ms: None,
                    reading: None,
                    health: None,
                    tracked: Vec::new(),
                    raw_pm2_5: None,
                    refused: RefusedFrames::default(),
                    transmissions: BTreeMap::new(),
                    rebuilt_until_ms: 0,
                    qc: StationQc::new(),
                    flags: ReadingFlags::default(),
                    coverage: coverage.clone(),
                    flagged: Vec::new(),
                    qc_changed: false,
                };
                (info.id, station)
            })
            .collect();
        Stations { by_node }
    }

    /// Records a frame from `node_id` arriving now; returns the station if it is registered.
    pub(crate) fn seen(&mut self, node_id: u32, now: OffsetDateTime) -> Option<&mut Station> {
        let station = self.by_node.get_mut(&node_id)?;
        station.last_seen = Some(now);
        station.dead = false;
        Some(station)
    }

    /// A station by station id.
    pub(crate) fn by_station(&self, station_id: &str) -> Option<&Station> {
        self.by_node.values().find(|s| s.info.station == station_id)
    }

    /// A station by station id, mutable.
    pub(crate) fn by_station_mut(&mut self, station_id: &str) -> Option<&mut Station> {
        self.by_node.values_mut().find(|s| s.info.station == station_id)
    }

    /// For the neighbour check of a reading from `node`: each of `params` with its latest valid
    /// value at the other stations of the same kind and district that are online at `now`.
    pub(crate) fn neighbour_values(
        &self,
        node: &NodeInfo,
        params: &[Param],
        now: OffsetDateTime,
        offline_after: time::Duration,
    ) -> Vec<(Param, Vec<f64>)> {
        let neighbours: Vec<&Station> = self
            .by_node
            .values()
            .filter(|s| {
                s.info.id != node.id
                    && s.info.kind == node.kind
                    && s.info.district == node.district
                    && !s.dead
                    && s.last_seen.is_some_and(|t| now - t <= offline_after)
            })
            .collect();
        params
            .iter()
            .map(|&param| {
                (
                    param,
                    neighbours.iter().filter_map(|s| s.valid_latest(param)).collect(),
                )
            })
            .collect()
    }

    /// Every station in node-id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Station> {
        self.by_node.values()
    }

    /// Number of stations.
    pub fn len(&self) -> usize {
        self.by_node.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_node.is_empty()
    }
}

impl Station {
    /// Whether the station counts as water.
    pub(crate) fn is_water(&self) -> bool {
        self.info.kind == StationKind::Water
    }

    /// Takes a status frame.
    pub(crate) fn take_status(&mut self, status: &NodeStatus) {
        self.dead = status.kind == StatusKind::Death;
        self.health = Some(NodeHealth {
            kind: match status.kind {
                StatusKind::Birth => "birth",
                StatusKind::Periodic => "periodic",
                StatusKind::Death => "death",
            },
            firmware: format!(
                "{}.{}.{}",
                status.firmware.major, status.firmware.minor, status.firmware.patch
            ),
            uptime_s: status.uptime_s,
            battery_v: status.battery_mv.map(|mv| f64::from(mv) / 1_000.0),
            rssi_dbm: status.rssi_dbm,
            frames_dropped: status.frames_dropped,
            frames_queued: status.frames_queued,
        });
    }

    /// Takes a newer reading and its QC flags; an older one (a late frame) only feeds the
    /// history.
    pub(crate) fn update_reading(
        &mut self,
        observed_at_ms: u64,
        reading: Reading,
        flags: ReadingFlags,
    ) -> bool {
        if self.observed_at_ms.is_some_and(|t| t > observed_at_ms) {
            return false;
        }
        self.observed_at_ms = Some(observed_at_ms);
        self.reading = Some(reading);
        self.flags = flags;
        true
    }

    /// The latest reading's value of `param` if QC let it through, for the neighbour check of
    /// another station in the district.
    pub(crate) fn valid_latest(&self, param: Param) -> Option<f64> {
        self.flags
            .is_valid(param)
            .then(|| self.reading.as_ref()?.get(param))
            .flatten()
    }

    /// The history of `param`, created on first use.
    pub(crate) fn series_mut(&mut self, param: Param, now: OffsetDateTime) -> &mut Tracked {
        let index = match self.tracked.iter().position(|t| t.param == param) {
            Some(i) => i,
            None => {
                // Exact growth: a Vec doubling to 8 for 6 series would waste two ~570-byte slots
                // per station (docs/BENCHMARKS.md, memory per station).
                self.tracked.reserve_exact(1);
                self.tracked.push(Tracked {
                    param,
                    series: Series::new(param.step()),
                    updated: now,
                });
                self.tracked.len() - 1
            }
        };
        &mut self.tracked[index]
    }

    /// The history of `param`, if any value arrived.
    pub(crate) fn series(&self, param: Param) -> Option<&Tracked> {
        self.tracked.iter().find(|t| t.param == param)
    }
}
