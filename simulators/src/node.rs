//! The host-run node the fleet drives: the firmware's own `Node` and samplers over the byte-level
//! sensor emulations in [`crate::devices`], with simulated time supplied by the caller.

use std::convert::Infallible;

use firmware::drivers::{Pms5003, Sht4x};
use firmware::node::{
    AirSampler, EzoProbes, LinkStatus, Node, NodeConfig, NodeIdentity, Sampler, Transport, WaterSampler,
};
use firmware::storage::{RamFlash, Settings};
use protocol::command::Command;
use protocol::registry::{NodeInfo, StationKind};
use protocol::topic::NodeChannel;
use protocol::{Frame, MAX_FRAME_LEN, NodeKey, StatusKind};

use crate::devices::{
    Climate, EmulatedPms5003, EmulatedSht4x, EzoCircuit, EzoStationHandle, NoDelay, PmLevels, Pms5003Handle,
    Sht4xHandle, WaterLevels, ezo_station,
};

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

type AirNode = Node<AirSampler<EmulatedPms5003, EmulatedSht4x, NoDelay>>;
type WaterNode = Node<WaterSampler<EzoProbes<EzoCircuit, EzoCircuit, EzoCircuit>>>;

enum Station {
    Air {
        node: AirNode,
        pms: Pms5003Handle,
        sht: Sht4xHandle,
    },
    Water {
        node: WaterNode,
        probe: EzoStationHandle,
    },
}

/// A simulated sensor node running the firmware's node logic on emulated sensors. `Send`, so a fleet
/// can spread nodes over tasks.
pub struct SimNode {
    node_id: u32,
    key: Option<NodeKey>,
    station: Station,
    /// The node's settings flash (downlink counter, interval), as on the board.
    settings: Settings<RamFlash<SETTINGS_FLASH>>,
}

/// Size of each simulated node's settings flash: four 1 KiB pages.
const SETTINGS_FLASH: usize = 4096;

impl std::fmt::Debug for SimNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNode")
            .field("node_id", &self.node_id)
            .field("kind", &self.kind())
            .field("seq", &self.seq())
            .finish_non_exhaustive()
    }
}

/// Keeps what the node publishes during one call.
#[derive(Default)]
struct Collect(Vec<(NodeChannel, Vec<u8>)>);

impl Transport for Collect {
    type Error = Infallible;

    fn publish(&mut self, channel: NodeChannel, frame: &[u8]) -> Result<(), Infallible> {
        self.0.push((channel, frame.to_vec()));
        Ok(())
    }
}

fn pm_levels(c: &AirConditions) -> PmLevels {
    PmLevels {
        pm1_0: c.pm1_0,
        pm2_5: c.pm2_5,
        pm10: c.pm10,
    }
}

fn climate(c: &AirConditions) -> Climate {
    Climate {
        temperature_c: c.temperature_c,
        humidity_pct: c.humidity_pct,
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

/// Runs every sample and report due up to `uptime_ms`, in order, as a node running continuously would
/// have; `wall_ms` belongs to `uptime_ms` and earlier instants get the matching earlier wall time.
fn run_until<S: Sampler>(node: &mut Node<S>, node_id: u32, uptime_ms: u64, wall_ms: u64) -> Collect {
    let mut out = Collect::default();
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
        if let Err(e) = node.poll(due, wall, &mut out) {
            tracing::warn!(node = node_id, error = %e, "Simulated node failed to send a frame.");
        }
        if node.next_due_ms() <= due {
            // Only at the end of u64 time, where the schedule saturates.
            break;
        }
    }
    out
}

impl SimNode {
    /// Builds the firmware node for a registered node (air -> AirSampler over EmulatedPms5003 +
    /// EmulatedSht4x; water -> WaterSampler over EZO pH/DO/EC circuits), with the node's key from the
    /// registry. The sensors start in the `Default` conditions until [`SimNode::set_environment`].
    pub fn new(info: &NodeInfo, boot: u32, config: NodeConfig) -> Self {
        let identity = NodeIdentity {
            node_id: info.id,
            boot,
            key: info.key.clone(),
        };
        let station = match info.kind {
            StationKind::Air => {
                let conditions = AirConditions::default();
                let pms = EmulatedPms5003::new(pm_levels(&conditions));
                let sht = EmulatedSht4x::new(climate(&conditions), info.id);
                let (pms_handle, sht_handle) = (pms.handle(), sht.handle());
                let sampler = AirSampler::new(Pms5003::new(pms), Sht4x::new(sht, NoDelay));
                Station::Air {
                    node: Node::new(identity, config, sampler),
                    pms: pms_handle,
                    sht: sht_handle,
                }
            }
            StationKind::Water => {
                let conditions = WaterConditions::default();
                let (mut probes, handle) = ezo_station(water_levels(&conditions));
                probes.set_temperature(Some(centi(conditions.temperature_c)), 0);
                Station::Water {
                    node: Node::new(identity, config, WaterSampler::new(probes)),
                    probe: handle,
                }
            }
        };
        SimNode {
            node_id: info.id,
            key: info.key.clone(),
            station,
            settings: Settings::open(RamFlash::new(), 0..SETTINGS_FLASH as u32),
        }
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

    /// The sequence number of the next frame.
    pub fn seq(&self) -> u32 {
        match &self.station {
            Station::Air { node, .. } => node.seq(),
            Station::Water { node, .. } => node.seq(),
        }
    }

    /// What the emulated sensors measure from now on. Conditions of the other station kind are
    /// ignored (with a warning): an air node has no pH probe.
    pub fn set_environment(&mut self, env: Environment) {
        match (&mut self.station, env) {
            (Station::Air { pms, sht, .. }, Environment::Air(c)) => {
                pms.set_levels(pm_levels(&c));
                sht.set_climate(climate(&c));
            }
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
        let link = LinkStatus {
            battery_mv,
            rssi_dbm,
            ..LinkStatus::default()
        };
        match &mut self.station {
            Station::Air { node, .. } => node.set_link_status(link),
            Station::Water { node, .. } => node.set_link_status(link),
        }
    }

    /// The emulated PMS5003 and SHT4x of an air node, for fault injection.
    pub fn air_sensors(&self) -> Option<(&Pms5003Handle, &Sht4xHandle)> {
        match &self.station {
            Station::Air { pms, sht, .. } => Some((pms, sht)),
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

    /// Runs the firmware node logic up to this instant; returns the frames it published (in order).
    /// Every sample due since the last call is taken, so a caller may step in large increments.
    pub fn poll(&mut self, uptime_ms: u64, wall_ms: u64) -> Vec<Outgoing> {
        let sent = match &mut self.station {
            Station::Air { node, .. } => run_until(node, self.node_id, uptime_ms, wall_ms),
            Station::Water { node, .. } => run_until(node, self.node_id, uptime_ms, wall_ms),
        };
        sent.0
            .into_iter()
            .filter_map(|(channel, bytes)| self.outgoing(channel, bytes))
            .collect()
    }

    /// A status frame (birth on connect; death registered as the MQTT will).
    pub fn status(&mut self, kind: StatusKind, uptime_ms: u64, wall_ms: u64) -> Outgoing {
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

    /// Checks and carries out a downlink command as the firmware does (key, replay counter in the
    /// node's flash); returns the command and any frame it made the node publish (a status frame).
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
        let mut out = Collect::default();
        let settings = &mut self.settings;
        let result = match &mut self.station {
            Station::Air { node, .. } => node.handle_command(bytes, settings, uptime_ms, wall_ms, &mut out),
            Station::Water { node, .. } => node.handle_command(bytes, settings, uptime_ms, wall_ms, &mut out),
        };
        let command = result.map_err(|e| e.to_string())?;
        let frames = out
            .0
            .into_iter()
            .filter_map(|(channel, bytes)| self.outgoing(channel, bytes))
            .collect();
        Ok((command, frames))
    }

    /// Pairs the bytes with their decoding. A frame the node encoded always decodes with its own key;
    /// if one ever does not, it is logged and left out rather than sent.
    fn outgoing(&self, channel: NodeChannel, bytes: Vec<u8>) -> Option<Outgoing> {
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
mod tests {
    use super::*;
    use protocol::{Body, QualityFlags};

    const WALL_START_MS: u64 = 1_764_201_600_000;

    fn info(id: u32, kind: StationKind, key: Option<NodeKey>) -> NodeInfo {
        NodeInfo {
            id,
            station: format!("HG-TEST-{id}"),
            name: String::new(),
            kind,
            district: "Vi Thanh".into(),
            location: None,
            key,
        }
    }

    fn config() -> NodeConfig {
        NodeConfig {
            sample_interval_ms: 1_000,
            report_interval_ms: 60_000,
            ..NodeConfig::default()
        }
    }

    fn hazy() -> AirConditions {
        AirConditions {
            pm1_0: 31.2,
            pm2_5: 47.6,
            pm10: 70.3,
            temperature_c: 31.5,
            humidity_pct: 64.0,
        }
    }

    #[test]
    fn sim_node_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<SimNode>();
    }

    #[test]
    fn an_hour_of_an_air_node_gives_60_frames_with_the_set_pm2_5() {
        let key = NodeKey::new([9; 32]);
        let mut node = SimNode::new(&info(101, StationKind::Air, Some(key.clone())), 4, config());
        node.set_environment(Environment::Air(hazy()));
        let mut frames = Vec::new();
        for s in 0..=3_600u64 {
            frames.extend(node.poll(s * 1_000, WALL_START_MS + s * 1_000));
        }
        assert_eq!(frames.len(), 60);
        for (i, out) in frames.iter().enumerate() {
            assert_eq!(out.channel, NodeChannel::Telemetry);
            assert_eq!(out.frame.seq, i as u32);
            assert_eq!((out.frame.node_id, out.frame.boot), (101, 4));
            assert_eq!(out.frame.time_ms, WALL_START_MS + (i as u64 + 1) * 60_000);
            assert_eq!(protocol::decode(&out.bytes, Some(&key)), Ok(out.frame));
            let Body::Air(sample) = out.frame.body else {
                panic!("air node sent {:?}", out.frame.body);
            };
            // The PMS reports whole µg/m³ (48 for 47.6); the mean is in 0.1 µg/m³.
            let pm2_5 = f32::from(sample.pm2_5.expect("PM2.5 present")) / 10.0;
            assert!((pm2_5 - 47.6).abs() <= 0.5, "PM2.5 {pm2_5}");
            let t = f32::from(sample.temperature.expect("T present")) / 100.0;
            assert!((t - 31.5).abs() <= 0.01, "T {t}");
            let rh = f32::from(sample.humidity.expect("RH present")) / 100.0;
            assert!((rh - 64.0).abs() <= 0.01, "RH {rh}");
            assert_eq!(sample.samples, 60);
        }
        let Body::Air(first) = frames[0].frame.body else {
            unreachable!("checked above")
        };
        assert!(first.quality.contains(QualityFlags::WARMING_UP));
    }

    #[test]
    fn coarse_polls_still_take_every_sample() {
        let mut node = SimNode::new(&info(7, StationKind::Air, None), 1, config());
        let mut frames = Vec::new();
        for minute in 0..=10u64 {
            frames.extend(node.poll(minute * 60_000, 0));
        }
        assert_eq!(frames.len(), 10);
        for out in &frames {
            assert_eq!(out.frame.time_ms, 0, "unsynced clock");
            let Body::Air(sample) = out.frame.body else {
                panic!("air node sent {:?}", out.frame.body);
            };
            assert_eq!(sample.samples, 60);
            assert_eq!(sample.pm2_5, Some(120), "default 12 µg/m³");
        }
    }

    #[test]
    fn a_water_node_reports_its_probes_and_its_faults() {
        let mut node = SimNode::new(&info(201, StationKind::Water, None), 1, config());
        node.set_environment(Environment::Water(WaterConditions {
            ph: 6.8,
            dissolved_oxygen_mg_l: 3.2,
            conductivity_us_cm: 2_400.0,
            temperature_c: 30.1,
        }));
        assert!(node.poll(59_999, 0).is_empty());
        // From the sample at 60 s on, which belongs to the second interval, the probes fail.
        node.water_probe().expect("water node").set_failing(true);
        let frames = node.poll(120_000, 0);
        let [first, second] = frames.as_slice() else {
            panic!("expected two frames, got {frames:?}");
        };
        let Body::Water(ok) = first.frame.body else {
            panic!("water node sent {:?}", first.frame.body);
        };
        let ph = f32::from(ok.ph.expect("pH")) / 1_000.0;
        assert!((ph - 6.8).abs() < 0.006, "pH {ph}");
        assert!(ok.conductivity.expect("EC").abs_diff(2_400) <= 5);
        let Body::Water(broken) = second.frame.body else {
            panic!("water node sent {:?}", second.frame.body);
        };
        assert_eq!(broken.ph, None);
        assert!(broken.quality.contains(QualityFlags::SENSOR_FAULT));
    }

    #[test]
    fn a_pms_fault_reaches_the_frame_as_absent_pm_and_a_fault_flag() {
        let mut node = SimNode::new(&info(8, StationKind::Air, None), 1, config());
        node.air_sensors().expect("air node").0.set_silent(true);
        let out = node.poll(60_000, 0);
        let Body::Air(sample) = out[0].frame.body else {
            panic!("air node sent {:?}", out[0].frame.body);
        };
        assert_eq!(sample.pm2_5, None);
        assert!(sample.temperature.is_some());
        assert!(sample.quality.contains(QualityFlags::SENSOR_FAULT));
    }

    #[test]
    fn a_steady_sensor_is_never_flagged_stuck_but_a_frozen_one_is_after_half_an_hour() {
        let mut node = SimNode::new(&info(11, StationKind::Air, None), 1, config());
        let mut flagged = Vec::new();
        let minute = |node: &mut SimNode, m: u64| {
            let frames = node.poll(m * 60_000, 0);
            frames.iter().any(
                |out| matches!(out.frame.body, Body::Air(s) if s.quality.contains(QualityFlags::STUCK_VALUE)),
            )
        };
        for m in 1..=120 {
            assert!(!minute(&mut node, m), "steady air flagged stuck at minute {m}");
        }
        node.air_sensors().expect("air node").0.set_stuck(true);
        for m in 121..=180 {
            flagged.push(minute(&mut node, m));
        }
        let first = flagged.iter().position(|&f| f).expect("flagged at some point");
        assert!((29..=31).contains(&first), "flagged after {first} minutes");
        assert!(flagged[first..].iter().all(|&f| f), "stays flagged while frozen");
    }

    #[test]
    fn a_saturated_sensor_gets_heater_pulses_within_the_duty_cycle_and_they_are_not_averaged() {
        let mut node = SimNode::new(&info(13, StationKind::Air, None), 1, config());
        node.set_environment(Environment::Air(AirConditions {
            humidity_pct: 99.5,
            ..AirConditions::default()
        }));
        let frames = node.poll(600_000, 0);
        let pulses = node.air_sensors().expect("air node").1.heater_pulses();
        // One reading a second for ten minutes; a 0.1 s pulse allows the next after 1 s.
        assert!((550..=601).contains(&pulses), "{pulses} pulses");
        for out in frames {
            let Body::Air(s) = out.frame.body else {
                panic!("air body expected");
            };
            let rh = f32::from(s.humidity.expect("RH")) / 100.0;
            assert!(
                (rh - 99.5).abs() < 0.05,
                "heated readings left out of the mean: {rh}"
            );
        }
    }

    #[test]
    fn status_frames_report_the_battery_and_the_link() {
        let mut node = SimNode::new(&info(12, StationKind::Water, None), 1, config());
        node.set_power_and_link(Some(3_870), Some(-83));
        let status = node.status(StatusKind::Periodic, 60_000, 0);
        let Body::Status(s) = status.frame.body else {
            panic!("status body expected");
        };
        assert_eq!((s.battery_mv, s.rssi_dbm), (Some(3_870), Some(-83)));
    }

    #[test]
    fn status_frames_share_the_sequence_and_verify_with_the_key() {
        let key = NodeKey::new([3; 32]);
        let mut node = SimNode::new(&info(9, StationKind::Water, Some(key.clone())), 2, config());
        let birth = node.status(StatusKind::Birth, 0, WALL_START_MS);
        assert_eq!(birth.channel, NodeChannel::Status);
        assert_eq!(birth.frame.seq, 0);
        assert!(matches!(birth.frame.body, Body::Status(s) if s.kind == StatusKind::Birth));
        let telemetry = node.poll(60_000, WALL_START_MS + 60_000);
        assert_eq!(telemetry[0].frame.seq, 1);
        let death = node.status(StatusKind::Death, 60_000, WALL_START_MS + 60_000);
        assert_eq!(death.frame.seq, 2);
        assert_eq!(protocol::decode(&death.bytes, Some(&key)), Ok(death.frame));
    }
}
