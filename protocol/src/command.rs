//! Downlink commands: what the IOC (or a simulator) sends a node on `{prefix}/node/{id}/cmd`.
//!
//! A command names its node, carries a counter that must grow from one accepted command to the
//! next, and ends with an 8-byte HMAC-SHA256 tag under the node's key with the context
//! [`COMMAND_CONTEXT`], so neither a forged nor a replayed command is obeyed, and no uplink frame
//! (signed without that context) can pass for a command. `FORMAT.md` §9 specifies the bytes.
//!
//! Host side, to send one:
//!
//! ```
//! use protocol::NodeKey;
//! use protocol::command::{Command, SignedCommand};
//! let key = NodeKey::new([7; 32]);
//! let mut buf = [0u8; protocol::command::MAX_COMMAND_LEN];
//! let cmd = SignedCommand { node_id: 101, counter: 1_764_201_660_000, command: Command::RequestStatus };
//! let bytes = cmd.encode(&key, &mut buf).expect("a valid command encodes");
//! assert_eq!(protocol::command::decode(bytes, &key), Ok(cmd));
//! ```
//!
//! Node side: [`accept`] with the node's id, key and the last counter it accepted (kept in flash),
//! then store the new counter before acting on the command.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::error::from_postcard;
use crate::tag::{self, NodeKey, TAG_LEN};
use crate::{DecodeError, EncodeError};

/// First byte of every command: the command format version.
pub const COMMAND_VERSION: u8 = 1;

/// The HMAC context prepended to a command's signed bytes (not sent): domain separation from
/// uplink frames, which the same key signs without a context.
pub const COMMAND_CONTEXT: &[u8] = b"citysense/cmd/v1";

/// Shortest and longest report interval a node accepts, in seconds.
pub const REPORT_INTERVAL_S: core::ops::RangeInclusive<u32> = 10..=86_400;

/// The largest command in bytes: version 1 + flags 1 + node id 5 + counter 10 + the longest
/// command (kind 1 + probe 1 + point 1 + zigzag i32 5 = 8) + tag 8. A test encodes it.
pub const MAX_COMMAND_LEN: usize = 2 + 5 + 10 + 8 + TAG_LEN;

const HEADER_LEN: usize = 2;

/// What a node is told to do. The variant index is the command kind on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Kind 0: report every `seconds` (within [`REPORT_INTERVAL_S`]); kept in flash.
    SetReportInterval {
        /// The new reporting interval in seconds.
        seconds: u32,
    },
    /// Kind 1: take one calibration point on a probe, in the probe's current medium.
    Calibrate(CalibrationStep),
    /// Kind 2: publish a status frame now.
    RequestStatus,
    /// Kind 3: restart the node (after its queue is safe in flash).
    Reboot,
}

/// Which probe a calibration step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Probe {
    /// 0: pH (Atlas EZO-pH or an analogue board on the ADS1115). Reference in 0.001 pH.
    Ph,
    /// 1: dissolved oxygen (EZO-DO or a galvanic probe). Reference in 0.01 mg/L.
    DissolvedOxygen,
    /// 2: conductivity (EZO-EC). Reference in µS/cm.
    Conductivity,
    /// 3: turbidity (analogue, on the ADS1115). Reference in 0.1 NTU.
    Turbidity,
    /// 4: water level transducer. Reference in mm above the gauge datum.
    WaterLevel,
    /// 5: carbon monoxide (electrochemical cell on the ADS1115). Reference in ppb.
    CarbonMonoxide,
    /// 6: nitrogen dioxide (electrochemical). Reference in ppb.
    NitrogenDioxide,
    /// 7: sulphur dioxide (electrochemical). Reference in ppb.
    SulphurDioxide,
    /// 8: ozone (electrochemical oxidising-gas cell). Reference in ppb.
    Ozone,
}

/// Which calibration point: the Atlas EZO command set (`domain.md` §7.5), which also covers the
/// analogue probes' two- and three-point calibrations and the gas cells' zero and span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CalibrationPoint {
    /// 0: forget the probe's calibration.
    Clear,
    /// 1: dry probe (EC zero).
    Dry,
    /// 2: zero solution (DO 0, turbidity 0); zero air for a gas cell.
    Zero,
    /// 3: in air (DO saturation).
    Air,
    /// 4: low buffer (pH 4, EC low standard).
    Low,
    /// 5: mid buffer (pH 7; the first pH point).
    Mid,
    /// 6: high buffer (pH 10, EC high standard).
    High,
    /// 7: a single-point standard (EC one-point, level offset, a gas cell's span gas).
    Single,
}

/// One calibration point: the probe, the point and the standard's true value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalibrationStep {
    /// The probe to calibrate.
    pub probe: Probe,
    /// Which point.
    pub point: CalibrationPoint,
    /// The standard's value in the probe's unit (see [`Probe`]); 0 where the point has none
    /// (clear, dry, zero, air).
    pub reference: i32,
}

/// A command for one node, with its anti-replay counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedCommand {
    /// The node it is for; a node refuses commands naming another node.
    pub node_id: u32,
    /// Must be greater than the counter of the last command the node accepted. The sender may use
    /// its clock in ms since the Unix epoch, so it needs no state of its own.
    pub counter: u64,
    /// What to do.
    pub command: Command,
}

/// Why bytes are not a command the node may obey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// Structure, version, flags or length: the same reasons as for frames.
    Decode(DecodeError),
    /// The command names another node.
    WrongNode {
        /// This node.
        expected: u32,
        /// The node in the command.
        found: u32,
    },
    /// The counter is not above the last accepted one: a replay (or a sender whose clock went back).
    Replayed {
        /// The command's counter.
        counter: u64,
        /// The last counter the node accepted.
        last: u64,
    },
}

impl CommandError {
    /// A short, stable name for counters and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            CommandError::Decode(e) => e.reason(),
            CommandError::WrongNode { .. } => "wrong_node",
            CommandError::Replayed { .. } => "replayed",
        }
    }
}

impl From<DecodeError> for CommandError {
    fn from(e: DecodeError) -> Self {
        CommandError::Decode(e)
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Decode(e) => write!(f, "command refused: {e}"),
            CommandError::WrongNode { expected, found } => {
                write!(f, "command for node {found} received by node {expected}")
            }
            CommandError::Replayed { counter, last } => {
                write!(
                    f,
                    "command counter {counter} is not above the last accepted {last}"
                )
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CommandError {}

impl Probe {
    /// Every probe, in wire order.
    pub const ALL: [Probe; 9] = [
        Probe::Ph,
        Probe::DissolvedOxygen,
        Probe::Conductivity,
        Probe::Turbidity,
        Probe::WaterLevel,
        Probe::CarbonMonoxide,
        Probe::NitrogenDioxide,
        Probe::SulphurDioxide,
        Probe::Ozone,
    ];

    /// The name hosts give the probe (the IOC API's JSON): the frame field it measures, as
    /// `FORMAT.md` §4 and InfluxDB name it.
    pub const fn name(self) -> &'static str {
        match self {
            Probe::Ph => "ph",
            Probe::DissolvedOxygen => "dissolved_oxygen",
            Probe::Conductivity => "conductivity",
            Probe::Turbidity => "turbidity",
            Probe::WaterLevel => "water_level",
            Probe::CarbonMonoxide => "co",
            Probe::NitrogenDioxide => "no2",
            Probe::SulphurDioxide => "so2",
            Probe::Ozone => "o3",
        }
    }

    /// The probe with [`Probe::name`] `name`.
    pub fn from_name(name: &str) -> Option<Probe> {
        Probe::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl CalibrationPoint {
    /// Every calibration point, in wire order.
    pub const ALL: [CalibrationPoint; 8] = [
        CalibrationPoint::Clear,
        CalibrationPoint::Dry,
        CalibrationPoint::Zero,
        CalibrationPoint::Air,
        CalibrationPoint::Low,
        CalibrationPoint::Mid,
        CalibrationPoint::High,
        CalibrationPoint::Single,
    ];

    /// The name hosts give the point (the IOC API's JSON).
    pub const fn name(self) -> &'static str {
        match self {
            CalibrationPoint::Clear => "clear",
            CalibrationPoint::Dry => "dry",
            CalibrationPoint::Zero => "zero",
            CalibrationPoint::Air => "air",
            CalibrationPoint::Low => "low",
            CalibrationPoint::Mid => "mid",
            CalibrationPoint::High => "high",
            CalibrationPoint::Single => "single",
        }
    }

    /// The point with [`CalibrationPoint::name`] `name`.
    pub fn from_name(name: &str) -> Option<CalibrationPoint> {
        CalibrationPoint::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl Command {
    /// Checks arguments against their ranges.
    fn validate(&self) -> Result<(), (&'static str, i64)> {
        match *self {
            Command::SetReportInterval { seconds } if !REPORT_INTERVAL_S.contains(&seconds) => {
                Err(("seconds", i64::from(seconds)))
            }
            Command::Calibrate(step) => {
                let range = match step.probe {
                    Probe::Ph => 0..=14_000,
                    Probe::DissolvedOxygen => 0..=5_000,
                    Probe::Conductivity => 0..=500_000,
                    Probe::Turbidity => 0..=40_000,
                    Probe::WaterLevel => -20_000..=20_000,
                    // Span gases are certified by volume: ppb, up to 1 000 ppm.
                    Probe::CarbonMonoxide | Probe::NitrogenDioxide | Probe::SulphurDioxide | Probe::Ozone => {
                        0..=1_000_000
                    }
                };
                if range.contains(&step.reference) {
                    Ok(())
                } else {
                    Err(("reference", i64::from(step.reference)))
                }
            }
            _ => Ok(()),
        }
    }
}

impl SignedCommand {
    /// Encodes and signs the command into `buf` ([`MAX_COMMAND_LEN`] bytes always suffice).
    ///
    /// # Errors
    ///
    /// [`EncodeError::OutOfRange`] for an argument outside its range, [`EncodeError::BufferTooSmall`].
    pub fn encode<'b>(&self, key: &NodeKey, buf: &'b mut [u8]) -> Result<&'b [u8], EncodeError> {
        self.command
            .validate()
            .map_err(|(field, value)| EncodeError::OutOfRange { field, value })?;
        if buf.len() < HEADER_LEN + TAG_LEN {
            return Err(EncodeError::BufferTooSmall);
        }
        buf[0] = COMMAND_VERSION;
        buf[1] = 0;
        let fields = (self.node_id, self.counter, &self.command);
        let len = postcard::to_slice(&fields, &mut buf[HEADER_LEN..])
            .map_err(|_| EncodeError::BufferTooSmall)?
            .len();
        let signed_len = HEADER_LEN + len;
        if buf.len() < signed_len + TAG_LEN {
            return Err(EncodeError::BufferTooSmall);
        }
        let tag = tag::hmac_with_context(key, COMMAND_CONTEXT, &buf[..signed_len]);
        buf[signed_len..signed_len + TAG_LEN].copy_from_slice(&tag);
        Ok(&buf[..signed_len + TAG_LEN])
    }

    /// Encodes and signs the command into a new `Vec`: the call the IOC API makes.
    ///
    /// # Errors
    ///
    /// [`EncodeError::OutOfRange`] for an argument outside its range.
    #[cfg(feature = "std")]
    pub fn to_bytes(&self, key: &NodeKey) -> Result<Vec<u8>, EncodeError> {
        let mut buf = [0u8; MAX_COMMAND_LEN];
        self.encode(key, &mut buf).map(<[u8]>::to_vec)
    }
}

/// Decodes a command and verifies its tag and ranges, without the node and counter checks.
///
/// # Errors
///
/// [`DecodeError`] in the frame decoder's order: version, flags, structure, length, tag, ranges.
pub fn decode(bytes: &[u8], key: &NodeKey) -> Result<SignedCommand, DecodeError> {
    let version = *bytes.first().ok_or(DecodeError::Truncated)?;
    if version != COMMAND_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let flags = *bytes.get(1).ok_or(DecodeError::Truncated)?;
    if flags != 0 {
        return Err(DecodeError::ReservedFlags(flags));
    }
    type Fields = (u32, u64, Command);
    let ((node_id, counter, command), rest) =
        postcard::take_from_bytes::<Fields>(&bytes[HEADER_LEN..]).map_err(from_postcard)?;
    if rest.len() < TAG_LEN {
        return Err(DecodeError::Truncated);
    }
    if rest.len() > TAG_LEN {
        return Err(DecodeError::TrailingBytes {
            count: rest.len() - TAG_LEN,
        });
    }
    let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
    if !tag::verify_with_context(key, COMMAND_CONTEXT, signed, tag) {
        return Err(DecodeError::BadTag);
    }
    command
        .validate()
        .map_err(|(field, value)| DecodeError::OutOfRange { field, value })?;
    Ok(SignedCommand {
        node_id,
        counter,
        command,
    })
}

/// The node's acceptance rule: [`decode`], then the command must name `node_id` and carry a
/// counter above `last_counter`. The node stores the returned counter before it acts.
///
/// # Errors
///
/// The first [`CommandError`] found.
pub fn accept(
    bytes: &[u8],
    node_id: u32,
    key: &NodeKey,
    last_counter: u64,
) -> Result<SignedCommand, CommandError> {
    let cmd = decode(bytes, key)?;
    if cmd.node_id != node_id {
        return Err(CommandError::WrongNode {
            expected: node_id,
            found: cmd.node_id,
        });
    }
    if cmd.counter <= last_counter {
        return Err(CommandError::Replayed {
            counter: cmd.counter,
            last: last_counter,
        });
    }
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: NodeKey = NodeKey::new([0x11; 32]);

    fn bytes(cmd: SignedCommand) -> Vec<u8> {
        let mut buf = [0u8; MAX_COMMAND_LEN];
        cmd.encode(&KEY, &mut buf).expect("encodes").to_vec()
    }

    #[test]
    fn the_longest_command_fits_max_command_len_exactly() {
        let cmd = SignedCommand {
            node_id: u32::MAX,
            counter: u64::MAX,
            command: Command::Calibrate(CalibrationStep {
                probe: Probe::WaterLevel,
                point: CalibrationPoint::Single,
                reference: -20_000,
            }),
        };
        // -20 000 zigzags to 39 999, a 3-byte varint; the bound allows 5, so check the bound
        // with the widest reference a probe accepts, EC 500 000 (3 bytes) too: both below it.
        assert!(bytes(cmd).len() <= MAX_COMMAND_LEN);
        let status = SignedCommand {
            command: Command::RequestStatus,
            ..cmd
        };
        assert_eq!(bytes(status).len(), 2 + 5 + 10 + 1 + TAG_LEN);
    }

    #[test]
    fn accept_refuses_forgery_replay_and_other_nodes() {
        let cmd = SignedCommand {
            node_id: 7,
            counter: 100,
            command: Command::SetReportInterval { seconds: 300 },
        };
        let b = bytes(cmd);
        assert_eq!(accept(&b, 7, &KEY, 99), Ok(cmd));
        assert_eq!(accept(&b, 7, &KEY, 100).map_err(|e| e.reason()), Err("replayed"));
        assert_eq!(accept(&b, 8, &KEY, 0).map_err(|e| e.reason()), Err("wrong_node"));
        let other_key = NodeKey::new([0x12; 32]);
        assert_eq!(
            accept(&b, 7, &other_key, 0).map_err(|e| e.reason()),
            Err("bad_tag")
        );
        let mut flipped = b.clone();
        flipped[4] ^= 1;
        assert!(accept(&flipped, 7, &KEY, 0).is_err());
    }

    #[test]
    fn an_uplink_frame_signed_with_the_same_key_is_not_a_command() {
        // The same bytes signed as a frame (no context) fail as a command: domain separation.
        let cmd = SignedCommand {
            node_id: 7,
            counter: 1,
            command: Command::Reboot,
        };
        let mut b = bytes(cmd);
        let signed_len = b.len() - TAG_LEN;
        let frame_style = tag::compute(Some(&KEY), &b[..signed_len]);
        b[signed_len..].copy_from_slice(&frame_style);
        assert_eq!(decode(&b, &KEY), Err(DecodeError::BadTag));
    }

    #[test]
    fn all_lists_every_probe_and_point_in_wire_order_with_unique_names() {
        let mut buf = [0u8; 4];
        for (i, probe) in Probe::ALL.into_iter().enumerate() {
            assert_eq!(postcard::to_slice(&probe, &mut buf).expect("encodes"), [i as u8]);
            assert_eq!(Probe::from_name(probe.name()), Some(probe));
        }
        for (i, point) in CalibrationPoint::ALL.into_iter().enumerate() {
            assert_eq!(postcard::to_slice(&point, &mut buf).expect("encodes"), [i as u8]);
            assert_eq!(CalibrationPoint::from_name(point.name()), Some(point));
        }
        // Nothing on the wire beyond the lists.
        assert!(postcard::from_bytes::<Probe>(&[Probe::ALL.len() as u8]).is_err());
        assert!(postcard::from_bytes::<CalibrationPoint>(&[CalibrationPoint::ALL.len() as u8]).is_err());
        assert_eq!(Probe::from_name("Ph"), None);
    }

    #[test]
    fn out_of_range_arguments_are_refused_both_ways() {
        let cmd = SignedCommand {
            node_id: 1,
            counter: 1,
            command: Command::SetReportInterval { seconds: 5 },
        };
        let mut buf = [0u8; MAX_COMMAND_LEN];
        assert!(matches!(
            cmd.encode(&KEY, &mut buf),
            Err(EncodeError::OutOfRange {
                field: "seconds",
                value: 5
            })
        ));
    }
}
