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
use simulators::clock::{SimClock, Speed, wall_ms};
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

/// A node whose frames were all sampled during an outage sends them as a backlog, paced one per
/// 500 ms, after it connects again: well over a minute for 170 frames. The broker acknowledges
/// them all and the fleet ends without an error (the wait for the last acknowledgements is
/// bounded by the time since the last one, not since the reconnect).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_longer_than_a_minute_to_send_is_sent_after_a_long_outage() -> Result<()> {
    const BACKLOG_FRAMES: u32 = 170;
    let mut mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let registry = simulators::stations::hau_giang(1, 0);
    let mut watcher = TestClient::connect(mosquitto.port(), "backlog-watcher", true).await?;
    watcher
        .subscribe(&format!("{DEFAULT_PREFIX}/node/+/telemetry"), QoS::AtLeastOnce)
        .await?;
    // 20 frames a second: the node samples everything it has left while the broker is away.
    let mut config = paced_fleet(&mosquitto, registry, "backlog-test", BACKLOG_FRAMES);
    config.clock = SimClock::new(wall_ms() - 2 * 3_600_000, Speed::Factor(200.0));
    let running = tokio::spawn(fleet::run(config, std::future::pending()));
    let mut before = 0;
    while before < 5 {
        let publish = watcher.next_publish(Duration::from_secs(10)).await?;
        if let Some((_, NodeChannel::Telemetry)) = parse_node_topic(DEFAULT_PREFIX, &publish.topic) {
            before += 1;
        }
    }
    drop(watcher);
    // Longer than the node's connect retries (10 s), so it samples offline in between.
    mosquitto.stop().await?;
    tokio::time::sleep(Duration::from_secs(12)).await;
    mosquitto.start_again().await?;
    let reconnected = std::time::Instant::now();

    let report = running.await??;
    let mut seqs = BTreeSet::new();
    for sent in report.telemetry() {
        ensure!(
            seqs.insert(sent.frame.seq),
            "seq {} acknowledged twice",
            sent.frame.seq
        );
    }
    ensure!(
        seqs.len() == BACKLOG_FRAMES as usize,
        "{} telemetry frames acknowledged, not {BACKLOG_FRAMES}",
        seqs.len()
    );
    eprintln!(
        "long outage: {BACKLOG_FRAMES} frames acknowledged once, the last {:?} after the broker came back",
        reconnected.elapsed()
    );
    Ok(())
}
