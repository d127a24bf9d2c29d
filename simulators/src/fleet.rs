//! A fleet of simulated nodes on a real broker: each node runs the firmware's own logic against
//! emulated sensors, has its own MQTT connection with a death frame as its will, sends a birth
//! frame on connect, and publishes its frames with QoS 1.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use firmware::node::NodeConfig;
use protocol::registry::{NodeInfo, Registry};
use protocol::topic::{NodeChannel, NodeTopic};
use protocol::{Frame, StatusKind};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::clock::SimClock;
use crate::node::{Outgoing, SimNode};
use crate::signal::Scenario;

/// Simulated status frames go out this often (simulated time).
const STATUS_INTERVAL_MS: u64 = 3_600_000;
/// Nodes booted this long before the first sample.
const BOOT_LEAD_MS: u64 = 5_000;
/// How long to wait for the broker to acknowledge the last frames before giving up.
const ACK_DEADLINE: Duration = Duration::from_secs(60);

/// How to run a fleet.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Topic prefix.
    pub prefix: String,
    /// Client ids are `{client_prefix}-{node_id}`.
    pub client_prefix: String,
    /// The nodes to run (every node in the registry).
    pub registry: Registry,
    /// Sampling and reporting intervals, firmware version.
    pub node: NodeConfig,
    /// Simulated time.
    pub clock: SimClock,
    /// Stop each node after this many telemetry frames; `None` runs until shutdown.
    pub frames_per_node: Option<u32>,
    /// What the sensors see.
    pub scenario: Scenario,
    /// Boot counter the nodes report.
    pub boot: u32,
}

/// A frame the broker acknowledged.
#[derive(Debug, Clone)]
pub struct SentFrame {
    /// Station id of the node.
    pub station: String,
    /// The topic it went to.
    pub channel: NodeChannel,
    /// The frame as the node built it.
    pub frame: Frame,
}

/// What the fleet sent, every frame acknowledged by the broker.
#[derive(Debug, Default)]
pub struct FleetReport {
    /// Every frame published and acknowledged, per node in order.
    pub sent: Vec<SentFrame>,
}

impl FleetReport {
    /// Telemetry frames only.
    pub fn telemetry(&self) -> impl Iterator<Item = &SentFrame> {
        self.sent.iter().filter(|s| s.channel == NodeChannel::Telemetry)
    }
}

/// Runs every node until it has sent its frames or `shutdown` resolves, then waits for the
/// broker to acknowledge everything published and disconnects.
///
/// # Errors
///
/// A node whose frames were not all acknowledged by the broker within a minute.
pub async fn run(config: FleetConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<FleetReport> {
    let cancel = CancellationToken::new();
    let config = Arc::new(config);
    info!(nodes = config.registry.len(), broker = %format!("{}:{}", config.host, config.port), "Fleet starting.");
    let tasks: Vec<_> = config
        .registry
        .nodes()
        .map(|info| tokio::spawn(run_node(info.clone(), Arc::clone(&config), cancel.clone())))
        .collect();
    let all = futures::future::join_all(tasks);
    tokio::pin!(all);
    let results = tokio::select! {
        results = &mut all => results,
        () = shutdown => {
            cancel.cancel();
            all.await
        }
    };
    let mut report = FleetReport::default();
    for result in results {
        report.sent.extend(result.context("a node task panicked")??);
    }
    info!(frames = report.sent.len(), "Fleet stopped.");
    Ok(report)
}

async fn run_node(
    info: NodeInfo,
    config: Arc<FleetConfig>,
    cancel: CancellationToken,
) -> anyhow::Result<Vec<SentFrame>> {
    let start_ms = config.clock.start_ms();
    let boot_ms = start_ms - BOOT_LEAD_MS;
    let mut node = SimNode::new(&info, config.boot, config.node);
    let topic = |channel| {
        NodeTopic {
            prefix: &config.prefix,
            node_id: info.id,
            channel,
        }
        .to_string()
    };

    let death = node.status(StatusKind::Death, 0, boot_ms);
    let mut options = MqttOptions::new(
        format!("{}-{}", config.client_prefix, info.id),
        &config.host,
        config.port,
    );
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_last_will(LastWill::new(
            topic(NodeChannel::Status),
            death.bytes,
            QoS::AtLeastOnce,
            true,
        ));
    let (client, eventloop) = AsyncClient::new(options, 256);
    let acked = Arc::new(AtomicU64::new(0));
    let poller = tokio::spawn(poll(eventloop, Arc::clone(&acked), info.id));

    let mut sent = Vec::new();
    let mut publish = async |out: Outgoing, retain: bool| -> anyhow::Result<()> {
        client
            .publish(topic(out.channel), QoS::AtLeastOnce, retain, out.bytes)
            .await?;
        sent.push(SentFrame {
            station: info.station.clone(),
            channel: out.channel,
            frame: out.frame,
        });
        Ok(())
    };
    publish(node.status(StatusKind::Birth, BOOT_LEAD_MS, start_ms), true).await?;

    let step = u64::from(config.node.sample_interval_ms.max(1));
    let (mut t, mut telemetry, mut next_status) = (start_ms, 0u32, start_ms + STATUS_INTERVAL_MS);
    'run: while config.frames_per_node.is_none_or(|limit| telemetry < limit) {
        loop {
            let now = config.clock.now_ms();
            if now >= t {
                break;
            }
            tokio::select! {
                () = cancel.cancelled() => break 'run,
                () = tokio::time::sleep(config.clock.real_wait(t - now)) => {}
            }
        }
        if cancel.is_cancelled() {
            break;
        }
        node.set_environment(config.scenario.environment(info.kind, info.id, t));
        for out in node.poll(t - boot_ms, t) {
            if out.channel == NodeChannel::Telemetry {
                telemetry += 1;
            }
            publish(out, false).await?;
        }
        if t >= next_status {
            publish(node.status(StatusKind::Periodic, t - boot_ms, t), true).await?;
            next_status += STATUS_INTERVAL_MS;
        }
        t += step;
        // Publishing into rumqttc's channel does not yield to tokio; let other nodes run.
        tokio::task::yield_now().await;
    }

    let published = sent.len() as u64;
    let all_acked = async {
        while acked.load(Ordering::Relaxed) < published {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let waited = tokio::time::timeout(ACK_DEADLINE, all_acked).await;
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), poller).await;
    if waited.is_err() {
        anyhow::bail!(
            "node {}: the broker acknowledged {} of {published} frames within {ACK_DEADLINE:?}",
            info.id,
            acked.load(Ordering::Relaxed)
        );
    }
    debug!(node = info.id, frames = published, "Node finished.");
    Ok(sent)
}

/// Drives the node's MQTT connection and counts the broker's acknowledgements.
async fn poll(mut eventloop: rumqttc::EventLoop, acked: Arc<AtomicU64>, node_id: u32) {
    let mut failures = 0u32;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Incoming(Packet::ConnAck(_))) => failures = 0,
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                failures += 1;
                if failures > 3 {
                    warn!(node = node_id, error = %e, "Node lost the broker; reconnecting.");
                }
                tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.min(25)))).await;
            }
        }
    }
}
