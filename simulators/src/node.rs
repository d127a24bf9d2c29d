//! The host-run node the fleet drives: the firmware's own `Node`, samplers, settings flash and
//! store-and-forward outbox over the byte-level sensor emulations in [`crate::devices`], with
//! simulated time supplied by the caller. A reboot goes through the firmware's boot path: the
//! boot counter from the node's flash, the queue kept, the sequence from 0.

use firmware::convert::gas::Gas;
use firmware::drivers::Ezo;
use firmware::node::{
    EzoProbes, ForwardPolicy, LinkStatus, Node, NodeConfig, NodeIdentity, Sampler, StoreAndForward,
    Transport, WaterSampler,
};
use firmware::storage::{FlashError, FrameQueue, RamFlash, Settings, StorageError};

use crate::file_flash::FileFlash;
use protocol::command::{Command, Probe};
use protocol::registry::{NodeInfo, StationKind};
use protocol::topic::NodeChannel;
use protocol::{Frame, MAX_FRAME_LEN, NodeKey, StatusKind};

use crate::devices::{EzoCircuit, EzoStationHandle, WaterLevels, ezo_station};
use crate::fit::{AirFit, AirSensors, SimAirSampler, air_sensors, restart_air};

/// What an air station's sensors see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AirConditions {
    /// PM1.0 in µg/m³.
    pub pm1_0: f32,
    /// PM2.5 in µg/m³.
    pub pm2_5: f32,
    /// PM10 in µg/m³.
    pub pm10: f32,
    /// Air temperature in °C.
    pub temperature_c: f32,
    /// Relative humidity in %RH.
    pub humidity_pct: f32,
    /// Station pressure in hPa.
    pub pressure_hpa: f32,
    /// Carbon monoxide, ppb.
    pub co_ppb: f32,
    /// Nitrogen dioxide, ppb.
    pub no2_ppb: f32,
    /// Sulphur dioxide, ppb.
    pub so2_ppb: f32,
    /// Ozone, ppb.
    pub o3_ppb: f32,
}

impl Default for AirConditions {
    /// A clean, humid Mekong Delta morning.
    fn default() -> Self {
        AirConditions {
            pm1_0: 8.0,
            pm2_5: 12.0,
            pm10: 20.0,
            temperature_c: 28.0,
            humidity_pct: 78.0,
            pressure_hpa: 1_009.0,
            co_ppb: 300.0,
            no2_ppb: 10.0,
            so2_ppb: 2.5,
            o3_ppb: 15.0,
        }
    }
}

/// What a water station's probes see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaterConditions {
    /// pH.
    pub ph: f32,
    /// Dissolved oxygen in mg/L.
    pub dissolved_oxygen_mg_l: f32,
    /// Electrical conductivity in µS/cm.
    pub conductivity_us_cm: f32,
    /// Water temperature in °C.
    pub temperature_c: f32,
}

impl Default for WaterConditions {
    /// A fresh-water canal in the dry season, before salt intrusion.
    fn default() -> Self {
        WaterConditions {
            ph: 7.2,
            dissolved_oxygen_mg_l: 6.0,
            conductivity_us_cm: 300.0,
            temperature_c: 29.0,
        }
    }
}

/// The conditions at one station.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Environment {
    /// At an air-quality station.
    Air(AirConditions),
    /// At a water-quality station.
    Water(WaterConditions),
}

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

type WaterProbes = EzoProbes<EzoCircuit, EzoCircuit, EzoCircuit>;
type WaterNode = Node<WaterSampler<WaterProbes>>;

enum Station {
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
const SETTINGS_FLASH: usize = 4096;
/// Size of each simulated node's frame queue: 32 pages; measured, 600 air or 714 water frames fit
/// before the oldest is dropped (ten hours at a frame a minute).
const QUEUE_FLASH: usize = 32 * 1024;

type SettingsFlash = FileFlash<SETTINGS_FLASH>;
/// The simulated node's queue flash.
pub type QueueFlash = RamFlash<QUEUE_FLASH>;
/// The simulated node's outbox: the firmware's store-and-forward on its queue flash.
pub type Outbox = StoreAndForward<QueueFlash>;

/// The EZO probes whose calibration records the node keeps in flash.
const EZO_PROBES: [Probe; 3] = [Probe::Ph, Probe::DissolvedOxygen, Probe::Conductivity];

/// A simulated sensor node running the firmware's node logic on emulated sensors. `Send`, so a fleet
/// can spread nodes over tasks.
pub struct SimNode {
    node_id: u32,
    key: Option<NodeKey>,
    /// The intervals it was built with; a reporting interval set by command overrides it from flash.
    config: NodeConfig,
    station: Station,
    /// The node's settings flash (boot counter, downlink counter, interval, calibrations).
    settings: Settings<SettingsFlash>,
    /// Every frame goes through it, as on the board.
    outbox: Outbox,
    battery_mv: Option<u16>,
    rssi_dbm: Option<i16>,
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

/// Queues what the node publishes in its outbox and keeps a copy for the caller.
struct Queued<'a> {
    outbox: &'a mut Outbox,
    copies: Vec<(NodeChannel, Vec<u8>)>,
}

impl Transport for Queued<'_> {
    type Error = StorageError<FlashError>;

    fn publish(&mut self, channel: NodeChannel, frame: &[u8]) -> Result<(), Self::Error> {
        self.outbox.publish(channel, frame)?;
        self.copies.push((channel, frame.to_vec()));
        Ok(())
    }
}

fn water_levels(c: &WaterConditions) -> WaterLevels {
    WaterLevels {
        ph: c.ph,
        dissolved_oxygen_mg_l: c.dissolved_oxygen_mg_l,
        conductivity_us_cm: c.conductivity_us_cm,
        temperature_c: c.temperature_c,
    }
}

/// °C to the frame's 0.01 °C.
fn centi(celsius: f32) -> i16 {
    (celsius * 100.0).round() as i16
}

/// A failure of the node's RAM flash: only a bug can cause one (the part cannot wear out or be
/// absent), so the simulation stops there rather than run a node the firmware would not run.
fn flash_bug<T>(what: &str, result: Result<T, StorageError<FlashError>>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => unreachable!("simulated flash failed ({what}): {e}"),
    }
}

/// Runs every sample and report due up to `uptime_ms`, in order, as a node running continuously would
/// have; `wall_ms` belongs to `uptime_ms` and earlier instants get the matching earlier wall time.
fn run_until<S: Sampler, T: Transport>(
    node: &mut Node<S>,
    node_id: u32,
    uptime_ms: u64,
    wall_ms: u64,
    out: &mut T,
) where
    T::Error: std::fmt::Debug,
{
    loop {
        let due = node.next_due_ms();
        if due > uptime_ms {
            break;
        }
        let wall = if wall_ms == 0 {
            0
        } else {
            wall_ms.saturating_sub(uptime_ms - due)
        };
        if let Err(e) = node.poll(due, wall, out) {
            tracing::warn!(node = node_id, error = %e, "Simulated node failed to send a frame.");
        }
        if node.next_due_ms() <= due {
            // Only at the end of u64 time, where the schedule saturates.
            break;
        }
    }
}

/// The parts of a station that survive a reset: the sensors (behind their buses) and their handles.
enum Devices {
    Air(Box<SimAirSampler>, AirSensors),
    Water(Box<WaterProbes>, EzoStationHandle),
}

impl SimNode {
    /// Builds the firmware node for a registered node with the default air fit (PMS5003 and
    /// SHT4x); see [`SimNode::with_fit`].
    pub fn new(info: &NodeInfo, boot: u32, config: NodeConfig) -> Self {
        Self::with_fit(info, boot, config, AirFit::default())
    }

    /// Builds the firmware node for a registered node (air -> the air sampler over the emulated
    /// sensors of `fit`; water -> the water sampler over EZO pH/DO/EC circuits), with the node's
    /// key from the registry, booting as boot number `boot` from a flash that has seen the boots
    /// before it. The sensors start in the `Default` conditions until [`SimNode::set_environment`].
    pub fn with_fit(info: &NodeInfo, boot: u32, config: NodeConfig, fit: AirFit) -> Self {
        Self::on_flash(info, boot, config, fit, FileFlash::in_memory(), false)
    }

    /// Builds the node as [`SimNode::with_fit`] does, with its settings flash kept in the file
    /// `settings`, as the board keeps its flash across power cycles: a node whose file exists
    /// boots with the next boot counter and the settings it had; a new file starts it as boot
    /// `boot`.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or is not a settings flash image.
    pub fn with_settings_file(
        info: &NodeInfo,
        boot: u32,
        config: NodeConfig,
        fit: AirFit,
        settings: &std::path::Path,
    ) -> std::io::Result<Self> {
        let (flash, booted_before) = FileFlash::open(settings)?;
        Ok(Self::on_flash(info, boot, config, fit, flash, booted_before))
    }

    fn on_flash(
        info: &NodeInfo,
        boot: u32,
        config: NodeConfig,
        fit: AirFit,
        flash: SettingsFlash,
        booted_before: bool,
    ) -> Self {
        let mut settings = Settings::open(flash, 0..SETTINGS_FLASH as u32);
        if !booted_before {
            flash_bug("boot counter", settings.set_boot_counter(boot.wrapping_sub(1)));
        }
        let devices = match info.kind {
            StationKind::Air => {
                let (sampler, sensors) = air_sensors(fit, &AirConditions::default(), info.id);
                Devices::Air(Box::new(sampler), sensors)
            }
            StationKind::Water => {
                let (probes, handle) = ezo_station(water_levels(&WaterConditions::default()));
                // The circuits leave the factory calibrated; the node keeps the records in flash.
                if !booted_before {
                    for probe in EZO_PROBES {
                        if let Some(record) = probes.calibration(probe) {
                            flash_bug("calibration", settings.set_calibration(probe, &record));
                        }
                    }
                }
                Devices::Water(Box::new(probes), handle)
            }
        };
        let mut node = Self::start(
            info.id,
            info.key.clone(),
            config,
            devices,
            settings,
            QueueFlash::new(),
        );
        node.set_environment(match info.kind {
            StationKind::Air => Environment::Air(AirConditions::default()),
            StationKind::Water => Environment::Water(WaterConditions::default()),
        });
        node
    }

    /// The firmware's start: the boot counter incremented in flash, the reporting interval and
    /// calibrations (EZO records, gas cells) read back, the queue reopened with what it held, a node with sequence 0.
    fn start(
        node_id: u32,
        key: Option<NodeKey>,
        config: NodeConfig,
        devices: Devices,
        settings: Settings<SettingsFlash>,
        queue_flash: QueueFlash,
    ) -> Self {
        let mut settings = settings;
        let boot = flash_bug("boot counter", settings.next_boot());
        let mut node_config = config;
        if let Some(seconds) = flash_bug("report interval", settings.report_interval_s()) {
            node_config.report_interval_ms = seconds.saturating_mul(1_000);
        }
        let (queue, _) = flash_bug(
            "frame queue",
            FrameQueue::open_or_format(queue_flash, 0..QUEUE_FLASH as u32),
        );
        let identity = NodeIdentity {
            node_id,
            boot,
            key: key.clone(),
        };
        let station = match devices {
            Devices::Air(mut sampler, sensors) => {
                if let Some(cells) = sampler.gas_mut() {
                    for gas in Gas::ALL {
                        let stored = flash_bug("gas calibration", settings.gas_calibration(gas.probe()));
                        if let Some(calibration) = stored {
                            cells.set_calibration(gas, calibration);
                        }
                    }
                }
                Station::Air {
                    node: Box::new(Node::new(identity, node_config, *sampler)),
                    sensors,
                }
            }
            Devices::Water(mut probes, probe) => {
                for p in EZO_PROBES {
                    if let Some(record) = flash_bug("calibration", settings.calibration(p)) {
                        probes.set_calibration(p, record);
                    }
                }
                Station::Water {
                    node: Box::new(Node::new(identity, node_config, WaterSampler::new(*probes))),
                    probe,
                }
            }
        };
        SimNode {
            node_id,
            key,
            config,
            station,
            settings,
            outbox: StoreAndForward::new(queue, ForwardPolicy::default()),
            battery_mv: None,
            rssi_dbm: None,
        }
    }

    /// Restarts the node as the board's reset does: what it held in RAM is gone (the interval's
    /// readings, the sequence number, the drivers' state), its flash is kept (boot counter,
    /// settings, the frames still queued), the sensors keep running. The new boot takes the next
    /// boot counter; the caller reconnects (a new death will, a birth frame).
    #[must_use]
    pub fn reboot(self) -> SimNode {
        let devices = match self.station {
            Station::Air { node, sensors } => Devices::Air(Box::new(restart_air(node.destroy())), sensors),
            Station::Water { node, probe } => {
                let (ph, dissolved_oxygen, conductivity) = node.destroy().destroy().destroy();
                let restart = |circuit: Option<EzoCircuit>| {
                    circuit.map(|c| {
                        let kind = c.kind();
                        let (bus, delay) = c.destroy();
                        Ezo::new(bus, delay, kind)
                    })
                };
                let probes = EzoProbes::new(restart(ph), restart(dissolved_oxygen), restart(conductivity));
                Devices::Water(Box::new(probes), probe)
            }
        };
        let settings = Settings::open(self.settings.destroy(), 0..SETTINGS_FLASH as u32);
        let queue_flash = self.outbox.destroy().destroy();
        let mut node = Self::start(
            self.node_id,
            self.key,
            self.config,
            devices,
            settings,
            queue_flash,
        );
        node.set_power_and_link(self.battery_mv, self.rssi_dbm);
        node
    }

    /// The node id.
    pub fn node_id(&self) -> u32 {
        self.node_id
    }

    /// Air or water.
    pub fn kind(&self) -> StationKind {
        match self.station {
            Station::Air { .. } => StationKind::Air,
            Station::Water { .. } => StationKind::Water,
        }
    }

    /// The boot counter of this start.
    pub fn boot(&self) -> u32 {
        match &self.station {
            Station::Air { node, .. } => node.identity().boot,
            Station::Water { node, .. } => node.identity().boot,
        }
    }

    /// The sequence number of the next frame.
    pub fn seq(&self) -> u32 {
        match &self.station {
            Station::Air { node, .. } => node.seq(),
            Station::Water { node, .. } => node.seq(),
        }
    }

    /// The node's outbox, for the uplink to forward from.
    pub fn outbox_mut(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// What the emulated sensors measure from now on. Conditions of the other station kind are
    /// ignored (with a warning): an air node has no pH probe.
    pub fn set_environment(&mut self, env: Environment) {
        match (&mut self.station, env) {
            (Station::Air { sensors, .. }, Environment::Air(c)) => sensors.set_conditions(&c),
            (Station::Water { probe, node }, Environment::Water(c)) => {
                probe.set_levels(water_levels(&c));
                // The board's own thermometer: pH and DO compensation, and PSS-78 salinity.
                node.sampler_mut()
                    .probe_mut()
                    .set_temperature(Some(centi(c.temperature_c)), 0);
            }
            _ => tracing::warn!(
                node = self.node_id,
                "Environment of the wrong station kind ignored."
            ),
        }
    }

    /// What the next status frames report about the node's power and radio: battery voltage (None
    /// on mains) and the modem's RSSI, as a board reads them from its ADC and modem.
    pub fn set_power_and_link(&mut self, battery_mv: Option<u16>, rssi_dbm: Option<i16>) {
        self.battery_mv = battery_mv;
        self.rssi_dbm = rssi_dbm;
        self.refresh_link_status();
    }

    /// Status frames report the power and radio as last set and the outbox as it is now.
    fn refresh_link_status(&mut self) {
        let link = LinkStatus {
            battery_mv: self.battery_mv,
            rssi_dbm: self.rssi_dbm,
            queue_dropped: self.outbox.dropped(),
            queued: self.outbox.queued(),
        };
        match &mut self.station {
            Station::Air { node, .. } => node.set_link_status(link),
            Station::Water { node, .. } => node.set_link_status(link),
        }
    }

    /// The emulated sensors of an air node, for fault injection.
    pub fn air_sensors(&self) -> Option<&AirSensors> {
        match &self.station {
            Station::Air { sensors, .. } => Some(sensors),
            Station::Water { .. } => None,
        }
    }

    /// The emulated EZO circuits of a water node, for fault injection.
    pub fn water_probe(&self) -> Option<&EzoStationHandle> {
        match &self.station {
            Station::Water { probe, .. } => Some(probe),
            Station::Air { .. } => None,
        }
    }

    /// Runs the firmware node logic up to this instant; the frames it produced go to its outbox
    /// and are returned (in order). Every sample due since the last call is taken, so a caller
    /// may step in large increments.
    pub fn poll(&mut self, uptime_ms: u64, wall_ms: u64) -> Vec<Outgoing> {
        self.refresh_link_status();
        let mut out = Queued {
            outbox: &mut self.outbox,
            copies: Vec::new(),
        };
        match &mut self.station {
            Station::Air { node, .. } => run_until(node, self.node_id, uptime_ms, wall_ms, &mut out),
            Station::Water { node, .. } => run_until(node, self.node_id, uptime_ms, wall_ms, &mut out),
        }
        let copies = out.copies;
        self.outgoing_all(copies)
    }

    /// A status frame (birth on connect; death registered as the MQTT will). It takes a sequence
    /// number but does not go through the outbox: the uplink sends it itself.
    pub fn status(&mut self, kind: StatusKind, uptime_ms: u64, wall_ms: u64) -> Outgoing {
        self.refresh_link_status();
        let mut buf = [0u8; MAX_FRAME_LEN];
        let encoded = match &mut self.station {
            Station::Air { node, .. } => node.status_frame(kind, uptime_ms, wall_ms, &mut buf),
            Station::Water { node, .. } => node.status_frame(kind, uptime_ms, wall_ms, &mut buf),
        };
        let bytes = match encoded {
            Ok(bytes) => bytes.to_vec(),
            // The node fills no status field that could be out of range and the buffer is the
            // largest frame: failing here is a bug in the firmware, not a simulation condition.
            Err(e) => unreachable!("status frames always encode: {e}"),
        };
        match self.outgoing(NodeChannel::Status, bytes) {
            Some(outgoing) => outgoing,
            None => unreachable!("a status frame the node just encoded decodes with its key"),
        }
    }

    /// A periodic status frame, queued in the outbox like telemetry (as the board sends them).
    pub fn publish_status(&mut self, uptime_ms: u64, wall_ms: u64) -> Vec<Outgoing> {
        self.refresh_link_status();
        let mut out = Queued {
            outbox: &mut self.outbox,
            copies: Vec::new(),
        };
        let result = match &mut self.station {
            Station::Air { node, .. } => {
                node.publish_status(StatusKind::Periodic, uptime_ms, wall_ms, &mut out)
            }
            Station::Water { node, .. } => {
                node.publish_status(StatusKind::Periodic, uptime_ms, wall_ms, &mut out)
            }
        };
        if let Err(e) = result {
            tracing::warn!(node = self.node_id, error = %e, "Simulated node failed to queue a status frame.");
        }
        let copies = out.copies;
        self.outgoing_all(copies)
    }

    /// Checks and carries out a downlink command as the firmware does (key, replay counter in the
    /// node's flash); returns the command and any frame it made the node queue (a status frame).
    /// A reboot is only acknowledged here: the caller closes the link and calls
    /// [`SimNode::reboot`], as the board's main loop does.
    ///
    /// # Errors
    ///
    /// Why the node refused it, as text.
    pub fn handle_command(
        &mut self,
        bytes: &[u8],
        uptime_ms: u64,
        wall_ms: u64,
    ) -> Result<(Command, Vec<Outgoing>), String> {
        self.refresh_link_status();
        let mut out = Queued {
            outbox: &mut self.outbox,
            copies: Vec::new(),
        };
        let settings = &mut self.settings;
        let result = match &mut self.station {
            Station::Air { node, .. } => node.handle_command(bytes, settings, uptime_ms, wall_ms, &mut out),
            Station::Water { node, .. } => node.handle_command(bytes, settings, uptime_ms, wall_ms, &mut out),
        };
        let copies = out.copies;
        let command = result.map_err(|e| e.to_string())?;
        Ok((command, self.outgoing_all(copies)))
    }

    fn outgoing_all(&self, frames: Vec<(NodeChannel, Vec<u8>)>) -> Vec<Outgoing> {
        frames
            .into_iter()
            .filter_map(|(channel, bytes)| self.outgoing(channel, bytes))
            .collect()
    }

    /// Pairs the bytes with their decoding. A frame the node encoded always decodes with its own key;
    /// if one ever does not, it is logged and left out rather than sent.
    pub fn outgoing(&self, channel: NodeChannel, bytes: Vec<u8>) -> Option<Outgoing> {
        match protocol::decode(&bytes, self.key.as_ref()) {
            Ok(frame) => Some(Outgoing {
                channel,
                bytes,
                frame,
            }),
            Err(e) => {
                tracing::error!(node = self.node_id, error = %e, "Simulated node produced an undecodable frame.");
                None
            }
        }
    }
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
