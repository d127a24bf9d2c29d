//! A fleet of simulated nodes on a real broker: each node runs the firmware's own logic against
//! emulated sensors and the firmware's own MQTT client (`firmware::uplink`, minimq, MQTT 5) over a
//! TCP socket: a death frame as its will, a birth frame on connect, QoS 1 frames, and downlink
//! commands on its command topic, checked and obeyed as the board does.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use firmware::node::NodeConfig;
use firmware::uplink::{self, Downlink, Link, RX_BUFFER, TX_BUFFER, Topics, UplinkError};
use futures::FutureExt;
use minimq::Op;
use protocol::registry::{NodeInfo, Registry, StationKind};
use protocol::topic::NodeChannel;
use protocol::{Frame, StatusKind};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::clock::SimClock;
use crate::net::{IoError, TcpIo};
use crate::node::{Outgoing, SimNode};
use crate::signal::Scenario;

/// Simulated status frames go out this often (simulated time).
const STATUS_INTERVAL_MS: u64 = 3_600_000;
/// Nodes booted this long before the first sample.
const BOOT_LEAD_MS: u64 = 5_000;
/// Frames a simulated node keeps in flight (unacknowledged) at most; the board keeps one.
const FLEET_WINDOW: usize = 16;
/// MQTT TX buffer of a simulated node: the board's plus room for the window.
const FLEET_TX_BUFFER: usize = TX_BUFFER + FLEET_WINDOW * 160;
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
    let topics = Topics::new(&config.prefix, info.id).context("topic prefix too long for a node")?;
    let client_id = format!("{}-{}", config.client_prefix, info.id);

    // The firmware's own MQTT code: one session with the death frame as its will, over TCP.
    let death = node.status(StatusKind::Death, 0, boot_ms);
    // A host can afford more TX buffer than a board: room for FLEET_WINDOW frames in flight.
    let (mut rx, mut tx) = ([0u8; RX_BUFFER], vec![0u8; FLEET_TX_BUFFER]);
    let mut session = uplink::session(&mut rx, &mut tx, &client_id, &topics, &death.bytes, 30)
        .map_err(|e: UplinkError<IoError>| anyhow::anyhow!("node {}: {e}", info.id))?;
    let io = connect(&config.host, config.port, &cancel).await?;
    let birth = node.status(StatusKind::Birth, BOOT_LEAD_MS, start_ms);
    let mut link = Link::open(&mut session, io, &topics, &birth.bytes)
        .await
        .map_err(|e| anyhow::anyhow!("node {}: MQTT connect: {e}", info.id))?;
    let station = info.station.clone();
    let sent_frame = |out: &Outgoing| SentFrame {
        station: station.clone(),
        channel: out.channel,
        frame: out.frame,
    };
    let mut pending: VecDeque<(Op, SentFrame)> = VecDeque::new();
    pending.push_back((*link.birth(), sent_frame(&birth)));
    let mut sent = Vec::new();

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
        let (battery_mv, rssi_dbm) = power_and_link(info.kind, info.id, t);
        node.set_power_and_link(battery_mv, rssi_dbm);
        let mut out = node.poll(t - boot_ms, t);
        if t >= next_status {
            out.push(node.status(StatusKind::Periodic, t - boot_ms, t));
            next_status += STATUS_INTERVAL_MS;
        }
        for frame in out {
            if frame.channel == NodeChannel::Telemetry {
                telemetry += 1;
            }
            // QoS 1 holds each frame in the client's buffer until its PUBACK: wait for room.
            while pending.len() >= FLEET_WINDOW || !link.can_publish() {
                let command = link
                    .poll()
                    .await
                    .map_err(|e| anyhow::anyhow!("node {}: {e}", info.id))?;
                obey(
                    &mut node,
                    &mut link,
                    &mut pending,
                    command,
                    t - boot_ms,
                    t,
                    &sent_frame,
                )
                .await?;
                settle(&link, &mut pending, &mut sent);
            }
            let op = link
                .publish(frame.channel, &frame.bytes)
                .await
                .map_err(|e| anyhow::anyhow!("node {}: publish: {e}", info.id))?;
            pending.push_back((op, sent_frame(&frame)));
        }
        // Take in whatever the broker has sent meanwhile (PUBACKs, commands) without waiting.
        while let Some(result) = link.poll().now_or_never() {
            let command = result.map_err(|e| anyhow::anyhow!("node {}: {e}", info.id))?;
            obey(
                &mut node,
                &mut link,
                &mut pending,
                command,
                t - boot_ms,
                t,
                &sent_frame,
            )
            .await?;
        }
        settle(&link, &mut pending, &mut sent);
        t += step;
        tokio::task::yield_now().await;
    }

    let published = sent.len() + pending.len();
    let waited = tokio::time::timeout(ACK_DEADLINE, async {
        while !pending.is_empty() {
            link.poll().await?;
            settle(&link, &mut pending, &mut sent);
        }
        Ok::<_, UplinkError<IoError>>(())
    })
    .await;
    match waited {
        Ok(Ok(())) => {}
        Ok(Err(e)) => anyhow::bail!("node {}: waiting for acknowledgements: {e}", info.id),
        Err(_) => anyhow::bail!(
            "node {}: the broker acknowledged {} of {published} frames within {ACK_DEADLINE:?}",
            info.id,
            sent.len()
        ),
    }
    // A planned stop: DISCONNECT, so the broker does not publish the death frame.
    let _ = link.close().await;
    debug!(node = info.id, frames = published, "Node finished.");
    Ok(sent)
}

/// What a node's status frames report: air stations run on mains (no battery); water stations on a
/// solar-charged battery that sags at night; RSSI differs by site. Plausible values, not a model.
fn power_and_link(kind: StationKind, node_id: u32, t_ms: u64) -> (Option<u16>, Option<i16>) {
    let rssi = -60 - i16::try_from(node_id % 35).unwrap_or(0);
    let battery = match kind {
        StationKind::Air => None,
        StationKind::Water => {
            // Local hour at UTC+7: charging from 07:00, discharging after 17:00.
            let hour = ((t_ms / 3_600_000 + 7) % 24) as u16;
            let charge = if (7..17).contains(&hour) { hour - 7 } else { 0 };
            Some(3_750 + 40 * charge)
        }
    };
    (battery, Some(rssi))
}

/// Moves acknowledged frames, in order, from `pending` to `sent`.
fn settle(link: &Link<'_, '_, TcpIo>, pending: &mut VecDeque<(Op, SentFrame)>, sent: &mut Vec<SentFrame>) {
    while let Some((op, _)) = pending.front() {
        if !link.is_acked(op) {
            break;
        }
        if let Some((_, frame)) = pending.pop_front() {
            sent.push(frame);
        }
    }
}

/// Carries out a downlink command the node received, as the firmware does; a status frame it
/// asks for is published like any other.
async fn obey(
    node: &mut SimNode,
    link: &mut Link<'_, '_, TcpIo>,
    pending: &mut VecDeque<(Op, SentFrame)>,
    command: Option<Downlink>,
    uptime_ms: u64,
    wall_ms: u64,
    sent_frame: &impl Fn(&Outgoing) -> SentFrame,
) -> anyhow::Result<()> {
    let Some(command) = command else {
        return Ok(());
    };
    match node.handle_command(command.bytes(), uptime_ms, wall_ms) {
        Ok((command, frames)) => {
            info!(
                node = node.node_id(),
                ?command,
                "Simulated node obeyed a command."
            );
            for frame in frames {
                let op = link
                    .publish(frame.channel, &frame.bytes)
                    .await
                    .map_err(|e| anyhow::anyhow!("node {}: publish: {e}", node.node_id()))?;
                pending.push_back((op, sent_frame(&frame)));
            }
        }
        Err(reason) => warn!(node = node.node_id(), %reason, "Simulated node refused a command."),
    }
    Ok(())
}

/// Connects to the broker, retrying for a while: a fleet may start while the broker does.
async fn connect(host: &str, port: u16, cancel: &CancellationToken) -> anyhow::Result<TcpIo> {
    let mut failures = 0u32;
    loop {
        match TcpIo::connect(host, port).await {
            Ok(io) => return Ok(io),
            Err(e) if failures < 50 => {
                failures += 1;
                if failures > 3 {
                    warn!(error = %e, "Cannot reach the broker yet; retrying.");
                }
                tokio::select! {
                    () = cancel.cancelled() => anyhow::bail!("stopped before the broker was reachable"),
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot connect to the broker at {host}:{port}"));
            }
        }
    }
}
