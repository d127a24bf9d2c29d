//! A simulated fleet survives a broker restart: each node sees its connection fail, goes on
//! sampling into its outbox, connects again with a new birth frame, and sends live frames first
//! and the backlog after, so the broker acknowledges every telemetry frame the nodes produced, each
//! once, and the fleet ends without an error.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Result, ensure};
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, parse_node_topic};
use protocol::{Body, StatusKind};
use rumqttc::QoS;
use simulators::fleet;
use support::{Mosquitto, MosquittoOptions, TestClient, paced_fleet};

/// Telemetry frames each node sends in all; the restart comes after about a sixth of them.
const FRAMES: u32 = 60;
const NODES: u32 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_reconnects_after_a_broker_restart_and_every_frame_is_acknowledged_once() -> Result<()> {
    let mut mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let registry = simulators::stations::hau_giang(NODES, 0);
    let mut watcher = TestClient::connect(mosquitto.port(), "reconnect-watcher", true).await?;
    watcher
        .subscribe(&format!("{DEFAULT_PREFIX}/node/+/telemetry"), QoS::AtLeastOnce)
        .await?;

    // A frame every 10 simulated seconds at 60×: six a second per node.
    let config = paced_fleet(&mosquitto, registry, "reconnect-test", FRAMES);
    let running = tokio::spawn(fleet::run(config, std::future::pending()));

    // Every node has sent some telemetry before the broker goes away.
    let mut before: BTreeMap<u32, usize> = BTreeMap::new();
    while before.len() < NODES as usize || before.values().any(|n| *n < 10) {
        let publish = watcher.next_publish(Duration::from_secs(10)).await?;
        if let Some((node, NodeChannel::Telemetry)) = parse_node_topic(DEFAULT_PREFIX, &publish.topic) {
            *before.entry(node).or_default() += 1;
        }
    }
    drop(watcher);
    mosquitto.restart().await?;

    let report = running.await??;
    let mut telemetry: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
    let mut births: BTreeMap<u32, usize> = BTreeMap::new();
    let mut repeated = Vec::new();
    for sent in &report.sent {
        let node = sent.frame.node_id;
        match sent.frame.body {
            Body::Status(s) if s.kind == StatusKind::Birth => *births.entry(node).or_default() += 1,
            Body::Air(_) | Body::Water(_) => {
                if !telemetry.entry(node).or_default().insert(sent.frame.seq) {
                    repeated.push((node, sent.frame.seq));
                }
            }
            Body::Status(_) => {}
        }
    }
    ensure!(repeated.is_empty(), "acknowledged twice: {repeated:?}");
    // Frames sampled while the broker was away were queued; after the reconnect live frames go
    // first, so each node's telemetry was acknowledged out of seq order at least once.
    for node in telemetry.keys() {
        let order: Vec<u32> = report
            .telemetry()
            .filter(|s| s.frame.node_id == *node)
            .map(|s| s.frame.seq)
            .collect();
        ensure!(
            order.windows(2).any(|pair| pair[1] < pair[0]),
            "node {node}: no backlog went out behind live frames, so nothing was queued offline: {order:?}"
        );
    }
    for (node, seqs) in &telemetry {
        ensure!(
            seqs.len() == FRAMES as usize,
            "node {node}: {} telemetry frames acknowledged, not {FRAMES}",
            seqs.len()
        );
    }
    ensure!(
        telemetry.len() == NODES as usize,
        "nodes that sent: {:?}",
        telemetry.keys()
    );
    ensure!(
        births.values().all(|n| *n >= 2),
        "a birth frame on the first connect and on the reconnect: {births:?}"
    );
    eprintln!(
        "broker restart: telemetry before it {before:?}; every node's {FRAMES} frames acknowledged once; births per node {births:?}"
    );
    Ok(())
}
