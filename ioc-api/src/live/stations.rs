//! Every registered station's live state.

use std::collections::BTreeMap;

use protocol::registry::{NodeInfo, Registry};
use serde::Serialize;
use time::OffsetDateTime;

use super::reading::Reading;
use super::window::RollingWindow;
use crate::time_fmt::{rfc3339, rfc3339_ms};

/// One station as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StationView {
    /// Station id.
    pub station: String,
    /// Station name.
    pub name: String,
    /// `air` or `water`.
    pub kind: &'static str,
    /// District.
    pub district: String,
    /// The node that reports for it.
    pub node_id: u32,
    /// Position, `[longitude, latitude]` (GeoJSON order), when known.
    pub location: Option<[f64; 2]>,
    /// True when a frame arrived within the offline timeout.
    pub online: bool,
    /// When the last frame arrived (RFC 3339).
    pub last_seen: Option<String>,
    /// The node's timestamp of the latest reading (RFC 3339).
    pub observed_at: Option<String>,
    /// The latest reading.
    pub reading: Option<Reading>,
    /// Rolling 1-hour mean of PM2.5 in µg/m³, once an hour is sufficiently covered.
    pub pm2_5_1h_mean: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct Station {
    info: NodeInfo,
    last_seen: Option<OffsetDateTime>,
    observed_at_ms: Option<u64>,
    reading: Option<Reading>,
    pub(crate) pm2_5_window: RollingWindow,
    pub(crate) pm2_5_mean: Option<f64>,
}

/// Live state of every registered station, by node id.
#[derive(Debug)]
pub struct Stations {
    by_node: BTreeMap<u32, Station>,
}

impl Stations {
    /// One empty entry per registered node; `window_ms` is the rolling-mean span.
    pub fn new(registry: &Registry, window_ms: u64) -> Self {
        let by_node = registry
            .nodes()
            .map(|info| {
                let station = Station {
                    info: info.clone(),
                    last_seen: None,
                    observed_at_ms: None,
                    reading: None,
                    pm2_5_window: RollingWindow::new(window_ms),
                    pm2_5_mean: None,
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
        Some(station)
    }

    /// Every station, in node-id order.
    pub fn views(&self, now: OffsetDateTime, offline_after: time::Duration) -> Vec<StationView> {
        self.by_node
            .values()
            .map(|s| s.view(now, offline_after))
            .collect()
    }

    /// One station by its station id.
    pub fn view(
        &self,
        station_id: &str,
        now: OffsetDateTime,
        offline_after: time::Duration,
    ) -> Option<StationView> {
        self.by_node
            .values()
            .find(|s| s.info.station == station_id)
            .map(|s| s.view(now, offline_after))
    }
}

impl Station {
    pub(crate) fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// Takes a newer reading; an older one (a late frame) only feeds the rolling window.
    pub(crate) fn update_reading(&mut self, observed_at_ms: u64, reading: Reading) -> bool {
        if self.observed_at_ms.is_some_and(|t| t > observed_at_ms) {
            return false;
        }
        self.observed_at_ms = Some(observed_at_ms);
        self.reading = Some(reading);
        true
    }

    pub(crate) fn view(&self, now: OffsetDateTime, offline_after: time::Duration) -> StationView {
        StationView {
            station: self.info.station.clone(),
            name: self.info.name.clone(),
            kind: self.info.kind.as_str(),
            district: self.info.district.clone(),
            node_id: self.info.id,
            location: self.info.location.map(|(lon, lat)| [lon, lat]),
            online: self.last_seen.is_some_and(|t| now - t <= offline_after),
            last_seen: self.last_seen.map(rfc3339),
            observed_at: self.observed_at_ms.map(|t| rfc3339_ms(t as i128)),
            reading: self.reading.clone(),
            pm2_5_1h_mean: self.pm2_5_mean.map(|m| (m * 10.0).round() / 10.0),
        }
    }
}
