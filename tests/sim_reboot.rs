//! A simulated node reboots on a signed command, through real mosquitto: it lets its frame in
//! flight be acknowledged, disconnects cleanly (no death frame), restarts from its flash with the
//! boot counter one higher and the sequence from 0, reconnects with a birth frame, and sends
//! what was still queued. A subscriber on the node's topics sees every frame of both boots once.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use protocol::command::Command;
use protocol::topic::{DEFAULT_PREFIX, NodeChannel, parse_node_topic};
use protocol::{Body, Frame, StatusKind};
use rumqttc::QoS;
use simulators::clock::wall_ms;
use simulators::fleet;
use support::{Mosquitto, MosquittoOptions, TestClient, paced_fleet};

/// Telemetry frames the node sends in all: about a third before the reboot.
const FRAMES: u32 = 36;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_command_restarts_the_node_with_the_next_boot_and_no_frame_lost_or_repeated() -> Result<()> {
    let mosquitto = Mosquitto::start(MosquittoOptions::default()).await?;
    let registry = simulators::stations::hau_giang(1, 0);
    let node = registry.nodes().next().context("one node")?.clone();
    let key = node.key.clone().context("a keyed node")?;
    let mut watcher = TestClient::connect(mosquitto.port(), "reboot-watcher", true).await?;
    watcher
        .subscribe(&format!("{DEFAULT_PREFIX}/node/{}/+", node.id), QoS::AtLeastOnce)
        .await?;

    // A frame every 10 simulated seconds at 60×: six a second, about six real seconds in all.
    let config = paced_fleet(&mosquitto, registry.clone(), "reboot-test", FRAMES);
    let running = tokio::spawn(fleet::run(config, std::future::pending()));

    // Every frame the broker delivers on the node's telemetry and status topics, decoded.
    let mut seen: Vec<(NodeChannel, Frame)> = Vec::new();
    let take = |seen: &mut Vec<(NodeChannel, Frame)>, publish: rumqttc::Publish| -> Result<()> {
        let (_, channel) = parse_node_topic(DEFAULT_PREFIX, &publish.topic).context("a node topic")?;
        if channel != NodeChannel::Command {
            seen.push((channel, protocol::decode(&publish.payload, Some(&key))?));
        }
        Ok(())
    };
    let telemetry_of = |seen: &[(NodeChannel, Frame)], boot: u32| {
        seen.iter()
            .filter(|(c, f)| *c == NodeChannel::Telemetry && f.boot == boot)
            .count()
    };
    while telemetry_of(&seen, 1) < 10 {
        take(&mut seen, watcher.next_publish(Duration::from_secs(10)).await?)?;
    }
    simulators::downlink::send(
        mosquitto.host(),
        mosquitto.port(),
        DEFAULT_PREFIX,
        &registry,
        node.id,
        wall_ms(),
        Command::Reboot,
    )
    .await?;
    let report = running.await??;
    let sent_telemetry = report.telemetry().count();
    ensure!(
        sent_telemetry == FRAMES as usize,
        "the fleet had {sent_telemetry} telemetry frames acknowledged, not {FRAMES}"
    );
    while seen.len() < report.sent.len() {
        take(&mut seen, watcher.next_publish(Duration::from_secs(10)).await?)?;
    }
    // Anything more (a duplicate, a death frame) would arrive within a moment.
    while let Ok(publish) = watcher.next_publish(Duration::from_millis(500)).await {
        take(&mut seen, publish)?;
    }

    // Boot counter one higher after the reboot, each boot's sequence from 0.
    let mut by_boot: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (_, frame) in &seen {
        by_boot.entry(frame.boot).or_default().push(frame.seq);
    }
    let boots: Vec<u32> = by_boot.keys().copied().collect();
    ensure!(boots == [1, 2], "boots seen: {boots:?}");
    // Seq 0 of each boot is its death frame, registered as the will and never published after
    // a clean disconnect; every other number arrives exactly once.
    for (boot, seqs) in &mut by_boot {
        seqs.sort_unstable();
        let expected: Vec<u32> = (1..=seqs.last().copied().unwrap_or(0)).collect();
        ensure!(
            *seqs == expected,
            "boot {boot}: seqs {seqs:?} have a gap or a repeat"
        );
    }
    let births: Vec<(u32, u32)> = seen
        .iter()
        .filter(|(_, f)| matches!(f.body, Body::Status(s) if s.kind == StatusKind::Birth))
        .map(|(_, f)| (f.boot, f.seq))
        .collect();
    ensure!(
        births == [(1, 1), (2, 1)],
        "a birth frame on each connect: {births:?}"
    );
    ensure!(
        !seen
            .iter()
            .any(|(_, f)| matches!(f.body, Body::Status(s) if s.kind == StatusKind::Death)),
        "a planned reboot publishes no death frame"
    );
    // What the broker delivered is exactly what the fleet had acknowledged.
    let mut delivered: Vec<(u32, u32)> = seen.iter().map(|(_, f)| (f.boot, f.seq)).collect();
    let mut acked: Vec<(u32, u32)> = report.sent.iter().map(|s| (s.frame.boot, s.frame.seq)).collect();
    delivered.sort_unstable();
    acked.sort_unstable();
    ensure!(
        delivered == acked,
        "delivered {delivered:?}, acknowledged {acked:?}"
    );
    eprintln!(
        "reboot: boot 1 sent {} telemetry frames, boot 2 {}; {} frames delivered once each",
        telemetry_of(&seen, 1),
        telemetry_of(&seen, 2),
        seen.len()
    );
    Ok(())
}
