//! Running a simulated node: polling it in simulated time, its status frames and downlink
//! commands, and the frames it hands back.

use firmware::node::{LinkStatus, Node, Sampler, Transport};
use firmware::storage::{FlashError, StorageError};
use protocol::command::Command;
use protocol::registry::StationKind;
use protocol::topic::NodeChannel;
use protocol::{MAX_FRAME_LEN, StatusKind};

use super::conditions::{Environment, centi, water_levels};
use super::sim_node::{Outbox, Outgoing, SimNode, Station};
use crate::devices::EzoStationHandle;
use crate::fit::AirSensors;

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

impl SimNode {
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
