//! The simulated node: the firmware node of its station kind, its flash, and what it publishes.

use firmware::node::{EzoProbes, Node, NodeConfig, StoreAndForward, WaterSampler};
use firmware::storage::{FlashError, RamFlash, Settings, StorageError};
use protocol::command::Probe;
use protocol::topic::NodeChannel;
use protocol::{Frame, NodeKey};

use crate::devices::{EzoCircuit, EzoStationHandle};
use crate::file_flash::FileFlash;
use crate::fit::{AirSensors, SimAirSampler};

/// One frame the node published.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Which of the node's topics it goes to.
    pub channel: NodeChannel,
    /// The payload, exactly as the firmware encoded it.
    pub bytes: Vec<u8>,
    /// The same frame decoded and verified with the node's key, for comparing with what lands.
    pub frame: Frame,
}

pub(super) type WaterProbes = EzoProbes<EzoCircuit, EzoCircuit, EzoCircuit>;
type WaterNode = Node<WaterSampler<WaterProbes>>;

pub(super) enum Station {
    // Boxed: the two kinds' drivers and buffers differ in size by hundreds of bytes.
    Air {
        node: Box<Node<SimAirSampler>>,
        sensors: AirSensors,
    },
    Water {
        node: Box<WaterNode>,
        probe: EzoStationHandle,
    },
}

/// Size of each simulated node's settings flash: four 1 KiB pages.
pub(super) const SETTINGS_FLASH: usize = 4096;
/// Size of each simulated node's frame queue: 32 pages; measured, 600 air or 714 water frames fit
/// before the oldest is dropped (ten hours at a frame a minute).
pub(super) const QUEUE_FLASH: usize = 32 * 1024;

pub(super) type SettingsFlash = FileFlash<SETTINGS_FLASH>;
/// The simulated node's queue flash.
pub type QueueFlash = RamFlash<QUEUE_FLASH>;
/// The simulated node's outbox: the firmware's store-and-forward on its queue flash.
pub type Outbox = StoreAndForward<QueueFlash>;

/// The EZO probes whose calibration records the node keeps in flash.
pub(super) const EZO_PROBES: [Probe; 3] = [Probe::Ph, Probe::DissolvedOxygen, Probe::Conductivity];

/// A simulated sensor node running the firmware's node logic on emulated sensors. `Send`, so a fleet
/// can spread nodes over tasks.
pub struct SimNode {
    pub(super) node_id: u32,
    pub(super) key: Option<NodeKey>,
    /// The intervals it was built with; a reporting interval set by command overrides it from flash.
    pub(super) config: NodeConfig,
    pub(super) station: Station,
    /// The node's settings flash (boot counter, downlink counter, interval, calibrations).
    pub(super) settings: Settings<SettingsFlash>,
    /// Every frame goes through it, as on the board.
    pub(super) outbox: Outbox,
    pub(super) battery_mv: Option<u16>,
    pub(super) rssi_dbm: Option<i16>,
}

impl std::fmt::Debug for SimNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNode")
            .field("node_id", &self.node_id)
            .field("kind", &self.kind())
            .field("boot", &self.boot())
            .field("seq", &self.seq())
            .finish_non_exhaustive()
    }
}

/// A failure of the node's RAM flash: only a bug can cause one (the part cannot wear out or be
/// absent), so the simulation stops there rather than run a node the firmware would not run.
pub(super) fn flash_bug<T>(what: &str, result: Result<T, StorageError<FlashError>>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => unreachable!("simulated flash failed ({what}): {e}"),
    }
}

/// The parts of a station that survive a reset: the sensors (behind their buses) and their handles.
pub(super) enum Devices {
    Air(Box<SimAirSampler>, AirSensors),
    Water(Box<WaterProbes>, EzoStationHandle),
}
