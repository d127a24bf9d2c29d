//! Building a simulated node, and its reboot: the firmware's boot path on the node's flash.

use firmware::convert::gas::Gas;
use firmware::drivers::Ezo;
use firmware::node::{
    EzoProbes, ForwardPolicy, Node, NodeConfig, NodeIdentity, StoreAndForward, WaterSampler,
};
use firmware::storage::{FrameQueue, Settings};
use protocol::NodeKey;
use protocol::registry::{NodeInfo, StationKind};

use super::conditions::{AirConditions, Environment, WaterConditions, water_levels};
use super::sim_node::{
    Devices, EZO_PROBES, QUEUE_FLASH, QueueFlash, SETTINGS_FLASH, SettingsFlash, SimNode, Station, flash_bug,
};
use crate::devices::{EzoCircuit, ezo_station};
use crate::file_flash::FileFlash;
use crate::fit::{AirFit, air_sensors, restart_air};

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
}
