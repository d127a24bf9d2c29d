//! Who the node is and how often it samples and reports.

use protocol::{FirmwareVersion, NodeKey};

/// This crate's version, as status frames report it.
pub const FIRMWARE_VERSION: FirmwareVersion = FirmwareVersion {
    major: parse_u8(env!("CARGO_PKG_VERSION_MAJOR")),
    minor: parse_u8(env!("CARGO_PKG_VERSION_MINOR")),
    patch: parse_u8(env!("CARGO_PKG_VERSION_PATCH")),
};

/// Parses a version component at compile time; a component above 255 saturates (it never is).
const fn parse_u8(text: &str) -> u8 {
    let bytes = text.as_bytes();
    let mut value: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        value = value * 10 + (bytes[i] - b'0') as u32;
        if value > u8::MAX as u32 {
            return u8::MAX;
        }
        i += 1;
    }
    value as u8
}

/// The node's identity, provisioned with the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    /// Node id, as registered (frames and MQTT topics).
    pub node_id: u32,
    /// Boot counter: incremented at every start and kept in flash, so (node, boot, seq) stays unique
    /// across restarts.
    pub boot: u32,
    /// The HMAC key; `None` for a keyless node, whose frames carry a CRC-32 instead.
    pub key: Option<NodeKey>,
}

/// How often the node samples and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeConfig {
    /// Time between sensor readings, in ms (0 is treated as 1).
    pub sample_interval_ms: u32,
    /// Time between telemetry frames, in ms (0 is treated as 1); each frame carries the means of the
    /// readings taken since the previous one.
    pub report_interval_ms: u32,
    /// The running firmware, reported in status frames.
    pub firmware: FirmwareVersion,
}

impl Default for NodeConfig {
    /// A reading every 5 s and a frame every minute: twelve readings per mean keep the PMS5003's
    /// whole-µg/m³ steps out of the averages, and a frame a minute is what the IOC's hourly NowCast needs
    /// with room to spare.
    fn default() -> Self {
        NodeConfig {
            sample_interval_ms: 5_000,
            report_interval_ms: 60_000,
            firmware: FIRMWARE_VERSION,
        }
    }
}
