//! Node status: the node's own health, published on the status topic.

use serde::{Deserialize, Serialize};

use super::range::check;

/// Why the node sent this status frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusKind {
    /// Sent once after each MQTT connect.
    Birth,
    /// Sent on the status interval.
    Periodic,
    /// Registered as the MQTT will at connect; the broker publishes it if the node vanishes.
    Death,
}

/// Semantic version of the firmware image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FirmwareVersion {
    /// Incompatible changes.
    pub major: u8,
    /// Compatible additions.
    pub minor: u8,
    /// Fixes.
    pub patch: u8,
}

/// The node's health. Status frames are rare, so plain `Option`s are used here rather than a mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Why this frame was sent.
    pub kind: StatusKind,
    /// The running firmware.
    pub firmware: FirmwareVersion,
    /// Seconds since boot.
    pub uptime_s: u32,
    /// Battery voltage in mV; `None` on mains power. Range 0–20 000 mV.
    pub battery_mv: Option<u16>,
    /// Link quality (RSSI) in dBm, when the modem reports it. Range −150 to 0 dBm.
    pub rssi_dbm: Option<i16>,
    /// Frames dropped from the store-and-forward ring since boot because it was full.
    pub frames_dropped: u32,
    /// Frames waiting in the store-and-forward ring.
    pub frames_queued: u16,
}

impl NodeStatus {
    pub(crate) fn validate(&self) -> Result<(), (&'static str, i64)> {
        check("battery_mv", self.battery_mv, 0, 20_000)?;
        check("rssi_dbm", self.rssi_dbm, -150, 0)?;
        Ok(())
    }
}
