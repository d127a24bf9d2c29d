//! Downlink end to end on real mosquitto: `citysense-sim command`'s code signs a command with the
//! node's key and publishes it; a simulated node running the firmware's MQTT client and command
//! handling receives it on its command topic, obeys it once (a status frame), and refuses the
//! replayed copy.

mod support;

use std::time::Duration;

use anyhow::{Result, ensure};
use firmware::node::NodeConfig;
use protocol::command::Command;
use protocol::topic::{DEFAULT_PREFIX, NodeChannel};
use protocol::{Body, StatusKind};
use rumqttc::QoS;
use simulators::clock::{SimClock, Speed, wall_ms};
use simulators::fleet::{self, FleetConfig};
use simulators::signal::Scenario;
use support::{Mosquitto, MosquittoOptions, TestClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_command_is_obeyed_once_and_its_replay_refused() -> Result<()> {
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let registry = simulators::stations::hau_giang(0, 1);
    let node_id = registry.nodes().next().map(|n| n.id).unwrap_or_default();
    // Ten simulated minutes at 60× from ten minutes ago: about ten real seconds.
    let config = FleetConfig {
        host: mosquitto.host().into(),
        port: mosquitto.port(),
        prefix: DEFAULT_PREFIX.into(),
        client_prefix: "downlink-test".into(),
        registry: registry.clone(),
        node: NodeConfig::default(),
        clock: SimClock::new(wall_ms() - 10 * 60_000, Speed::Factor(60.0)),
        frames_per_node: Some(8),
        scenario: Scenario::default(),
        boot: 1,
    };
    // The node subscribes to its command topic before it publishes its birth frame, so once the
    // birth frame is here the node hears its commands.
    let mut watcher = TestClient::connect(mosquitto.port(), "downlink-watcher", true).await?;
    watcher
        .subscribe(
            &format!("{DEFAULT_PREFIX}/node/{node_id}/status"),
            QoS::AtLeastOnce,
        )
        .await?;
    let running = tokio::spawn(fleet::run(config, std::future::pending()));
    watcher.next_publish(Duration::from_secs(30)).await?;
    drop(watcher);
    let (host, port) = (mosquitto.host(), mosquitto.port());
    let counter = wall_ms();
    for _ in 0..2 {
        // The second send is a replay: same counter.
        simulators::downlink::send(
            host,
            port,
            DEFAULT_PREFIX,
            &registry,
            node_id,
            counter,
            Command::RequestStatus,
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let report = running.await??;
    let periodic: Vec<_> = report
        .sent
        .iter()
        .filter(|s| s.channel == NodeChannel::Status)
        .filter(|s| matches!(s.frame.body, Body::Status(st) if st.kind == StatusKind::Periodic))
        .collect();
    ensure!(
        periodic.len() == 1,
        "one status frame for the command, none for its replay: {periodic:?}"
    );
    Ok(())
}
