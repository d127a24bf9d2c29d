//! A small simulated fleet in real time, for tests that watch what it does through the broker.

use firmware::node::NodeConfig;
use protocol::registry::Registry;
use protocol::topic::DEFAULT_PREFIX;
use simulators::clock::{SimClock, Speed, wall_ms};
use simulators::fleet::FleetConfig;
use simulators::signal::Scenario;

use super::mosquitto::Mosquitto;

/// A fleet of `registry`'s nodes on `mosquitto`, each sending `frames` telemetry frames: one every
/// 10 simulated seconds at 60×, so six a second per node.
pub fn paced_fleet(
    mosquitto: &Mosquitto,
    registry: Registry,
    client_prefix: &str,
    frames: u32,
) -> FleetConfig {
    FleetConfig {
        host: mosquitto.host().into(),
        port: mosquitto.port(),
        prefix: DEFAULT_PREFIX.into(),
        client_prefix: client_prefix.into(),
        registry,
        node: NodeConfig {
            sample_interval_ms: 2_000,
            report_interval_ms: 10_000,
            ..NodeConfig::default()
        },
        clock: SimClock::new(wall_ms() - 10 * 60_000, Speed::Factor(60.0)),
        frames_per_node: Some(frames),
        scenario: Scenario::default(),
        boot: 1,
    }
}
